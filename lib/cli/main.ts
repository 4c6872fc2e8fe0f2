import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { RepositoryError } from '../repo/errors';
import { PROGRAM } from '../repo/program';
import { runVerb } from './cli-audit';
import type { GlobalOptions, VerbContext } from './context';
import { EXIT, EXIT_TEXT, exitCodeOf, UsageError } from './errors';
import { GLOBAL_OPTIONS } from './global-options';
import type { Io } from './io';
import type { Verb, VerbOptions } from './verb';

/** Exit codes of a command stopped by SIGINT or SIGTERM with its locks released (signals.ts). */
const STOPPED_BY_SIGNAL = [EXIT.interrupted, EXIT.terminated] as const;

/**
 * Parses argv, runs one verb of the command table `verbs`, maps any error to its exit code and a one-line
 * message on stderr. `stopsOnSignals`: the caller installed exitOnSignals, so every verb's help lists 130
 * and 143 (not wal-push and wal-fetch: PostgreSQL must see those killed by its signal, see signals.ts).
 */
export async function main(
  argv: readonly string[],
  io: Io,
  verbs: readonly Verb[],
  { stopsOnSignals = false }: { stopsOnSignals?: boolean } = {},
): Promise<number> {
  let exitCode: number = EXIT.ok;
  const program = new Command('zapas')
    .description(
      'Encrypted, deduplicating backups of file trees and PostgreSQL to a folder or S3-compatible storage.',
    )
    .version(PROGRAM, '-V, --version')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .showHelpAfterError('(run with --help for usage)');

  for (const option of GLOBAL_OPTIONS) program.option(option.flags, option.description);

  const ctxOf = (): VerbContext => ({ io, globals: program.opts<GlobalOptions>() });
  const add = (parent: Command, verb: Verb) => {
    const cmd = parent.command(verb.name).description(verb.summary).exitOverride();
    for (const a of verb.args ?? []) cmd.argument(a);
    verb.configure?.(cmd);
    cmd.addHelpText(
      'after',
      `\nEXIT STATUS\n${[...verb.exits, ...(stopsOnSignals ? STOPPED_BY_SIGNAL : [])].map((c) => `  ${c}  ${EXIT_TEXT[c]}`).join('\n')}\n`,
    );
    if (verb.subverbs) {
      for (const sub of verb.subverbs) add(cmd, sub);
      return;
    }
    cmd.action(async (...params: unknown[]) => {
      const command = params.at(-1) as Command;
      const opts = params.at(-2) as VerbOptions;
      const args = params
        .slice(0, -2)
        .flatMap((p) => (Array.isArray(p) ? p.map(String) : p === undefined ? [] : [String(p)]));
      const words: string[] = [];
      for (let c: Command | null = command; c?.parent; c = c.parent) words.unshift(c.name());
      exitCode = await runVerb(verb, words.join(' '), args, opts, ctxOf());
    });
  };
  for (const verb of verbs) add(program, verb);

  try {
    if (argv.length === 0) {
      program.outputHelp();
      return EXIT.usage;
    }
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (
        err.code === 'commander.helpDisplayed' ||
        err.code === 'commander.version' ||
        err.code === 'commander.help'
      )
        return EXIT.ok;
      return EXIT.usage;
    }
    if (err instanceof InvalidArgumentError) return EXIT.usage;
    io.stderr.write(`zapas: ${describe(err)}\n`);
    if (io.env.ZAPAS_DEBUG && err instanceof Error && err.stack) io.stderr.write(`${err.stack}\n`);
    return exitCodeOf(err);
  }
}

function describe(err: unknown): string {
  if (err instanceof UsageError || err instanceof RepositoryError) return err.message;
  if (err instanceof Error) {
    const cause =
      err.cause instanceof Error && !err.message.includes(err.cause.message) ? ` (${err.cause.message})` : '';
    return `${err.message}${cause}`;
  }
  return String(err);
}
