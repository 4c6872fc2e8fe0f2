import { dirname, resolve } from 'node:path';
import { fetchForRecovery } from '../../../sources/postgres/wal-fetch';
import { walFileKind } from '../../../sources/postgres/wal-names';
import {
  prefetchSpool,
  requestAhead,
  runPrefetcher,
  spawnPrefetcher,
  takePrefetched,
} from '../../../sources/postgres/wal-prefetch';
import { openRepo, type VerbContext } from '../../context';
import { EXIT, UsageError } from '../../errors';
import { selfCommand } from '../../self';
import type { Verb } from '../../verb';
import { pgSource, SOURCE_OPTION, WAL_KEY } from './source';

export const walFetch: Verb = {
  name: 'wal-fetch',
  summary:
    "restore one WAL file (restore_command = 'zapas pg wal-fetch %f %p'); 1 when the archive ends before it",
  args: ['[name]', '[path]'],
  configure: (cmd) =>
    cmd
      .option(...SOURCE_OPTION)
      .option('--no-prefetch', 'fetch only the file asked for (no daemon fetching the next segments ahead)')
      .option('--prefetch-daemon', 'run as the prefetch daemon (started by wal-fetch)')
      .option('--spool <dir>', 'with --prefetch-daemon: its spool folder'),
  exits: [0, 1, 2, EXIT.walAbort],
  async run([name, path], opts, ctx) {
    const source = pgSource(ctx, opts);
    if (opts.prefetchDaemon) {
      if (!opts.spool) throw new UsageError('--prefetch-daemon needs --spool');
      await runPrefetcher(await openRepo(ctx, WAL_KEY), source, resolve(opts.spool as string));
      return EXIT.ok;
    }
    if (!name || !path) throw new UsageError('give the file name (%f) and the path to write it to (%p)');
    const spool = opts.prefetch === false ? undefined : prefetchSpool(dirname(resolve(path)));
    const segment = walFileKind(name) === 'segment';
    const ahead = () =>
      spool && segment
        ? requestAhead(spool, name, () => spawnPrefetcher(daemonArgv(ctx, source, spool), ctx.io.env))
        : undefined;
    try {
      // Fetched ahead already (and verified by the daemon): no key to derive.
      if (spool && segment && (await takePrefetched(spool, name, path))) {
        await ahead();
        return EXIT.ok;
      }
      const repo = await openRepo(ctx, WAL_KEY);
      const outcome = await fetchForRecovery(repo, source, name, path);
      if (outcome.kind === 'absent') return EXIT.failure;
      if (outcome.kind === 'gap') {
        ctx.io.stderr.write(
          `zapas: ${name} is missing from the archive of source "${source}", but ${outcome.later} is there: ` +
            'a gap in the WAL; recovery stops here instead of ending early\n',
        );
        return EXIT.walAbort;
      }
      await ahead();
      return EXIT.ok;
    } catch (err) {
      // Anything but "not archived" must stop recovery: exit 1 would let PostgreSQL end it here.
      ctx.io.stderr.write(`zapas: cannot fetch ${name}: ${(err as Error).message}\n`);
      return EXIT.walAbort;
    }
  },
};

/** The prefetch daemon is this program again, with the same repository settings (no password on its command line). */
function daemonArgv(ctx: VerbContext, source: string, spool: string): string[] {
  return [
    ...selfCommand(),
    ...(ctx.globals.repo ? ['--repo', ctx.globals.repo] : []),
    ...(ctx.globals.passwordFile ? ['--password-file', ctx.globals.passwordFile] : []),
    ...(ctx.globals.s3Endpoint ? ['--s3-endpoint', ctx.globals.s3Endpoint] : []),
    'pg',
    'wal-fetch',
    '--prefetch-daemon',
    '--source',
    source,
    '--spool',
    spool,
  ];
}
