import { basename, dirname, resolve } from 'node:path';
import { WalArchive } from '../../../sources/postgres/wal-archive';
import {
  defaultSpool,
  pushThroughSpool,
  runDaemon,
  spawnDaemon,
} from '../../../sources/postgres/wal-push-async';
import { openRepo } from '../../context';
import { UsageError } from '../../errors';
import { selfCommand } from '../../self';
import type { Verb } from '../../verb';
import { pgSource, SOURCE_OPTION, WAL_KEY } from './source';

export const walPush: Verb = {
  name: 'wal-push',
  summary: "archive one WAL file (archive_command = 'zapas pg wal-push %p'); exits 0 only once it is durable",
  args: ['[path]'],
  configure: (cmd) =>
    cmd
      .option(...SOURCE_OPTION)
      .option(
        '--async',
        'hand the file to a daemon that archives ahead, several at once (answers in milliseconds)',
      )
      .option(
        '--spool <dir>',
        "with --async: the daemon's spool folder (default: one per source in the temporary folder)",
      )
      .option('--daemon', 'run as the archiving daemon (started by --async)')
      .option('--wal-dir <dir>', 'with --daemon: the pg_wal folder to archive from'),
  exits: [0, 1, 2, 10, 12],
  async run([path], opts, ctx) {
    const source = pgSource(ctx, opts);
    const spool = resolve((opts.spool as string | undefined) ?? defaultSpool(source));
    if (opts.daemon) {
      if (!opts.walDir) throw new UsageError('--daemon needs --wal-dir');
      await runDaemon(() => openRepo(ctx, WAL_KEY), source, resolve(opts.walDir as string), spool);
      return 0;
    }
    if (!path) throw new UsageError('give the path of the WAL file (%p)');
    if (opts.async) {
      // The daemon is this program again, with the same repository settings (from the environment or
      // the global options: the password stays out of its command line, as here).
      const argv = [
        ...selfCommand(),
        ...(ctx.globals.repo ? ['--repo', ctx.globals.repo] : []),
        ...(ctx.globals.passwordFile ? ['--password-file', ctx.globals.passwordFile] : []),
        ...(ctx.globals.s3Endpoint ? ['--s3-endpoint', ctx.globals.s3Endpoint] : []),
        'pg',
        'wal-push',
        '--daemon',
        '--source',
        source,
        '--spool',
        spool,
        '--wal-dir',
        resolve(dirname(path)),
      ];
      const outcome = await pushThroughSpool(path, spool, () => spawnDaemon(argv, ctx.io.env, spool));
      if (outcome.ok) return 0;
      ctx.io.stderr.write(`zapas: ${basename(path)} not archived: ${outcome.message}\n`);
      return 1;
    }
    const name = basename(path);
    const repo = await openRepo(ctx, WAL_KEY);
    const outcome = await new WalArchive(repo, source).pushFile(name, path);
    if (!ctx.globals.quiet && outcome === 'present')
      ctx.io.stderr.write(`zapas: ${name} was archived already with the same content\n`);
    return 0;
  },
};
