import { findPgBin } from '../../../sources/postgres/pg-bin';
import { restoreDump } from '../../../sources/postgres/restore-dump';
import { withRepoAndWorkers } from '../../context';
import { printJson } from '../../io';
import { collect, intOption, type Verb } from '../../verb';
import { PG_BIN_OPTION, PG_OPTION, pgConninfo, pgSource, SOURCE_OPTION } from './source';

export const pgRestoreDump: Verb = {
  name: 'restore-dump',
  summary: 'restore a logical dump with pg_restore (all of it, or some tables or schemas), into any database',
  configure: (cmd) =>
    cmd
      .option(...SOURCE_OPTION)
      .option(...PG_OPTION)
      .option('--snapshot <id>', 'the dump to restore', 'latest')
      .option('--table <name>', 'restore only this table (repeatable)', collect, [])
      .option('--schema <name>', 'restore only this schema (repeatable)', collect, [])
      .option('--target-db <db>', 'restore into this database on the server (made if absent)')
      .option('-j, --jobs <n>', 'pg_restore jobs in parallel', intOption('--jobs', { min: 1 }), 2)
      .option(...PG_BIN_OPTION)
      .option('--json', 'print the summary as JSON'),
  exits: [0, 1, 2, 10, 11, 12],
  audit: {
    action: 'restore',
    target: (_args, opts) => ({
      source: opts.source,
      snapshot: opts.snapshot,
      database: opts.targetDb,
      tables: opts.table,
      schemas: opts.schema,
    }),
  },
  async run(_args, opts, ctx) {
    const source = pgSource(ctx, opts);
    const conninfo = pgConninfo(ctx, opts);
    const bin = findPgBin(ctx.io.env, opts.pgBin as string | undefined);
    const result = await withRepoAndWorkers(ctx, (repo, pool) =>
      restoreDump(repo, {
        source,
        conninfo,
        bin,
        snapshot: opts.snapshot as string,
        tables: opts.table as string[],
        schemas: opts.schema as string[],
        ...(opts.targetDb ? { targetDb: opts.targetDb as string } : {}),
        jobs: Math.max(1, opts.jobs as number),
        ...(pool ? { pool } : {}),
      }),
    );
    if (opts.json) printJson(ctx.io, { messageType: 'summary', ...result });
    else if (!ctx.globals.quiet)
      ctx.io.stdout.write(
        `restored dump ${result.snapshotId.slice(0, 8)} into database "${result.database}" (${result.files} files of the dump fetched)\n`,
      );
    return 0;
  },
};
