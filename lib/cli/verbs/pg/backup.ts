import { backupPostgres } from '../../../sources/postgres/physical-backup';
import { withRepoAndWorkers } from '../../context';
import { UsageError } from '../../errors';
import { formatBytes, formatDuration } from '../../format';
import { printJson } from '../../io';
import { ProgressLine } from '../../progress';
import { collect, type Verb } from '../../verb';
import {
  ARCHIVE_TIMEOUT_OPTION,
  PG_OPTION,
  parseTimeout,
  pgConninfo,
  pgSource,
  SOURCE_OPTION,
} from './source';

export const pgBackup: Verb = {
  name: 'backup',
  summary: 'physical base backup over the replication protocol, streamed into the repository',
  configure: (cmd) =>
    cmd
      .option(...SOURCE_OPTION)
      .option(...PG_OPTION)
      .option('--type <type>', 'full or incr (incr names the last base backup as its parent)', 'full')
      .option('--tag <tag>', 'tag the snapshot (repeatable)', collect, [])
      .option(...ARCHIVE_TIMEOUT_OPTION)
      .option('--json', 'print the summary as JSON'),
  exits: [0, 1, 2, 10, 11, 12],
  async run(_args, opts, ctx) {
    const type = opts.type as string;
    if (type !== 'full' && type !== 'incr')
      throw new UsageError(`--type must be full or incr, not "${type}"`);
    const source = pgSource(ctx, opts);
    const conninfo = pgConninfo(ctx, opts);
    const archiveTimeoutMs = parseTimeout(opts.archiveTimeout as string, '--archive-timeout');
    const progress = new ProgressLine(ctx, 'pg backup');
    const result = await withRepoAndWorkers(ctx, (repo, pool) =>
      backupPostgres(repo, {
        ...(pool ? { pool } : {}),
        source,
        conninfo,
        type,
        archiveTimeoutMs,
        tags: opts.tag as string[],
        onWarning: (m) => {
          progress.done();
          ctx.io.stderr.write(`warning: ${m}\n`);
        },
        onProgress: (bytes) => progress.update(0, bytes),
      }),
    );
    progress.done();
    const pg = result.snapshot.postgres!;
    const s = result.snapshot.summary;
    if (opts.json)
      printJson(ctx.io, {
        messageType: 'summary',
        snapshotId: result.snapshotId,
        parent: result.parent?.id ?? null,
        source,
        ...pg,
        files: s.filesNew,
        bytesProcessed: s.bytesProcessed,
        bytesAdded: s.bytesAdded,
        durationMs: s.durationMs,
      });
    else if (!ctx.globals.quiet && pg.kind === 'base')
      ctx.io.stdout.write(
        `base backup of "${source}" (timeline ${pg.timeline}, ${pg.startLsn} to ${pg.stopLsn}): ${s.filesNew} files, ` +
          `${formatBytes(s.bytesProcessed)} in ${formatDuration(s.durationMs)}, added ${formatBytes(s.bytesAdded)}\n` +
          `snapshot ${result.snapshotId.slice(0, 8)} saved\n`,
      );
    return 0;
  },
};
