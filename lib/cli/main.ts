import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { RepositoryError } from '../repo/errors';
import { PROGRAM } from '../sources/files/backup';
import type { GlobalOptions, VerbContext } from './context';
import { EXIT, EXIT_TEXT, exitCodeOf, UsageError } from './errors';
import type { Io } from './io';
import type { Verb, VerbOptions } from './verb';
import { VERBS } from './verbs';

/** Every verb stops on SIGINT and SIGTERM with its locks released (signals.ts). */
const STOPPED_BY_SIGNAL = [EXIT.interrupted, EXIT.terminated] as const;

/** Parses argv, runs one verb, maps any error to its exit code and a one-line message on stderr. */
export async function main(argv: readonly string[], io: Io): Promise<number> {
  let exitCode: number = EXIT.ok;
  const program = new Command('zapas')
    .description(
      'Encrypted, deduplicating backups of file trees and PostgreSQL to a folder or S3-compatible storage.',
    )
    .version(PROGRAM, '-V, --version')
    .option(
      '-r, --repo <url>',
      'repository: a path, file:///path or s3://bucket/prefix (env ZAPAS_REPOSITORY)',
    )
    .option(
      '--password-file <file>',
      'read the repository password from a file (env ZAPAS_PASSWORD_FILE, ZAPAS_PASSWORD)',
    )
    .option(
      '--s3-endpoint <url>',
      'S3-compatible endpoint, e.g. http://127.0.0.1:9000 (env ZAPAS_S3_ENDPOINT)',
    )
    .option('-q, --quiet', 'print only errors and requested output')
    .option('--progress', 'draw progress even when stderr is not a terminal')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .showHelpAfterError('(run with --help for usage)');

  const ctxOf = (): VerbContext => ({ io, globals: program.opts<GlobalOptions>() });
  const add = (parent: Command, verb: Verb) => {
    const cmd = parent.command(verb.name).description(verb.summary).exitOverride();
    for (const a of verb.args ?? []) cmd.argument(a);
    verb.configure?.(cmd);
    cmd.addHelpText(
      'after',
      `\nEXIT STATUS\n${[...verb.exits, ...STOPPED_BY_SIGNAL].map((c) => `  ${c}  ${EXIT_TEXT[c]}`).join('\n')}\n`,
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
      exitCode = await verb.run(args, opts, ctxOf());
      void command;
    });
  };
  for (const verb of VERBS) add(program, verb);

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
