import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import type { Io } from '../../lib/cli/io';
import { main } from '../../lib/cli/main';
import { VERBS } from '../../lib/cli/verbs';
import type { PasswordKdf } from '../../lib/keys/password';
import { TEST_PASSWORD, WEAK_KDF_ENV } from './repo';

export const TEST_PASSWORD_FOR_CLI = TEST_PASSWORD;

/** The bundled command (built by the jest global setup). */
export const ZAPAS_BIN = join(__dirname, '..', '..', 'dist', 'zapas.cjs');
/** The self-contained executable (dist/zapas): what archive_command and restore_command run. */
export const ZAPAS_EXE = join(__dirname, '..', '..', 'dist', 'zapas');
/** The bundled worker-thread entry. */
export const ZAPAS_WORKER = join(__dirname, '..', '..', 'dist', 'zapas-worker.cjs');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Environment for a test run: the test password, cheap scrypt, no inherited repository settings. */
export function cliEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    ZAPAS_PASSWORD: TEST_PASSWORD,
    ...WEAK_KDF_ENV,
  };
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/** Runs the CLI in-process (fast): the same main() the command runs; `passwordKdf` replaces scrypt. */
export async function runCli(
  args: readonly string[],
  extraEnv: NodeJS.ProcessEnv = {},
  opts: { passwordKdf?: PasswordKdf } = {},
): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const stdin = new PassThrough();
  stdin.end();
  const io: Io = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s), isTTY: false },
    stdin,
    env: cliEnv(extraEnv),
    workerScript: ZAPAS_WORKER,
    ...(opts.passwordKdf ? { passwordKdf: opts.passwordKdf } : {}),
  };
  const code = await main(args, io, VERBS);
  return { code, stdout, stderr };
}

/** Runs the real bundled command as a child process (`niceness`: through nice -n). */
export function spawnCli(
  args: readonly string[],
  extraEnv: NodeJS.ProcessEnv = {},
  opts: { cwd?: string; niceness?: number } = {},
): Promise<CliResult> {
  const command = [process.execPath, ZAPAS_BIN, ...args];
  if (opts.niceness !== undefined) command.unshift('nice', '-n', String(opts.niceness));
  return runProcess(command[0]!, command.slice(1), cliEnv(extraEnv), opts.cwd);
}

/** Runs `file` with exactly `env`, collecting its output (a signal's death reads as exit 128). */
export function runProcess(
  file: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  cwd?: string,
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
  });
}

/** The last JSON line of a `--json` output. */
export function lastJson<T = Record<string, unknown>>(out: string): T {
  const lines = out.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as T;
}

/** Every JSON line of a `--json` output. */
export function jsonLines<T = Record<string, unknown>>(out: string): T[] {
  return out
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as T);
}
