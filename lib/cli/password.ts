import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { UsageError } from './errors';
import type { Io } from './io';

/** Where a password may come from: never argv (it would show in `ps` and shell history). */
export interface PasswordSources {
  /** Environment variable with the password itself. */
  envVar: string;
  /** Environment variable naming a file that holds it. */
  fileEnvVar: string;
  /** `--password-file`-style option value. */
  file?: string;
  /** That option's name, for the hint when no password is given (`--new-password-file`, …). */
  option: string;
  /** What to ask on a terminal. */
  prompt: string;
  /** Ask twice on a terminal (new passwords). */
  confirm?: boolean;
}

/** Reads a password from a file option, the environment, or a terminal prompt, in that order. */
export async function readPassword(io: Io, src: PasswordSources): Promise<string> {
  const file = src.file ?? io.env[src.fileEnvVar];
  if (file) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (cause) {
      throw new UsageError(
        `cannot read password file ${file}: ${(cause as NodeJS.ErrnoException).code ?? 'error'}`,
        { cause },
      );
    }
    return nonEmpty(text.replace(/\r?\n$/, ''), `password file ${file}`);
  }
  const fromEnv = io.env[src.envVar];
  if (fromEnv !== undefined) return nonEmpty(fromEnv, src.envVar);
  if (!io.stdin.isTTY) {
    throw new UsageError(`no password given: set ${src.envVar} or ${src.fileEnvVar}, or pass ${src.option}`);
  }
  const first = await promptHidden(io, src.prompt);
  if (src.confirm && (await promptHidden(io, 'enter the password again: ')) !== first) {
    throw new UsageError('the passwords do not match');
  }
  return nonEmpty(first, 'the password');
}

function nonEmpty(text: string, what: string): string {
  if (text === '') throw new UsageError(`${what} is empty: an empty password is not allowed`);
  return text;
}

async function promptHidden(io: Io, question: string): Promise<string> {
  io.stderr.write(question);
  const rl = createInterface({ input: io.stdin, terminal: false });
  const stdin = io.stdin as NodeJS.ReadStream;
  const raw = typeof stdin.setRawMode === 'function';
  if (raw) stdin.setRawMode(true);
  try {
    let answer = '';
    for await (const chunk of io.stdin) {
      for (const ch of chunk.toString()) {
        if (ch === '\r' || ch === '\n') {
          io.stderr.write('\n');
          return answer;
        }
        if (ch === '\u0003') throw new UsageError('interrupted');
        if (ch === '\u007f') answer = answer.slice(0, -1);
        else answer += ch;
      }
    }
    return answer;
  } finally {
    if (raw) stdin.setRawMode(false);
    rl.close();
  }
}
