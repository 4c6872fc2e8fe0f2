import { dumpPostgres } from '../../../sources/postgres/logical-dump';
import { findPgBin } from '../../../sources/postgres/pg-bin';
import { withRepoAndWorkers } from '../../context';
import { formatBytes, formatDuration } from '../../format';
import { printJson } from '../../io';
import { ProgressLine } from '../../progress';
import { collect, intOption, type Verb } from '../../verb';
import { PG_BIN_OPTION, PG_OPTION, pgConninfo, pgSource, SOURCE_OPTION } from './source';

export const pgDump: Verb = {
  name: 'dump',
  summary:
    "logical backup of one database (pg_dump's directory format, parallel), streamed into the repository",
  configure: (cmd) =>
    cmd
      .option(...SOURCE_OPTION)
      .option(...PG_OPTION)
      .option('--dbname <db>', 'the database to dump (default: the one the connection names)')
      .option('--exclude-table <pattern>', 'leave out tables matching the pattern (repeatable)', collect, [])
      .option(
        '--exclude-table-data <pattern>',
        'keep the definition but not the rows (repeatable)',
        collect,
        [],
      )
      .option('-j, --jobs <n>', 'pg_dump jobs in parallel', intOption('--jobs', { min: 1 }), 2)
      .option('--tag <tag>', 'tag the snapshot (repeatable)', collect, [])
      .option(...PG_BIN_OPTION)
      .option('--json', 'print the summary as JSON'),
  exits: [0, 1, 2, 10, 11, 12],
  async run(_args, opts, ctx) {
    const source = pgSource(ctx, opts);
    const conninfo = pgConninfo(ctx, opts);
    const bin = findPgBin(ctx.io.env, opts.pgBin as string | undefined);
    const progress = new ProgressLine(ctx, 'pg dump');
    const { snapshotId, snapshot } = await withRepoAndWorkers(ctx, (repo, pool) =>
      dumpPostgres(repo, {
        ...(pool ? { pool } : {}),
        source,
        conninfo,
        bin,
        ...(opts.dbname ? { dbname: opts.dbname as string } : {}),
        excludeTables: opts.excludeTable as string[],
        excludeTableData: opts.excludeTableData as string[],
        jobs: Math.max(1, opts.jobs as number),
        tags: opts.tag as string[],
        onProgress: (bytes) => progress.update(0, bytes),
      }),
    );
    progress.done();
    const s = snapshot.summary;
    if (opts.json)
      printJson(ctx.io, {
        messageType: 'summary',
        snapshotId,
        source,
        ...snapshot.postgres,
        files: s.filesNew,
        bytesProcessed: s.bytesProcessed,
        bytesAdded: s.bytesAdded,
        durationMs: s.durationMs,
      });
    else if (!ctx.globals.quiet && snapshot.postgres?.kind === 'dump')
      ctx.io.stdout.write(
        `dump of database "${snapshot.postgres.database}" (source "${source}"): ${s.filesNew} files, ${formatBytes(s.bytesProcessed)} in ${formatDuration(s.durationMs)}, added ${formatBytes(s.bytesAdded)}\nsnapshot ${snapshotId.slice(0, 8)} saved\n`,
      );
    return 0;
  },
};
