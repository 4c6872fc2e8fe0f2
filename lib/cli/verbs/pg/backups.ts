import type { SnapshotRecord } from '../../../repo/snapshot';
import { baseBackupsOf } from '../../../sources/postgres/physical-backup';
import { type BackupWindow, backupWindows, timelineRanges } from '../../../sources/postgres/recovery-window';
import { WalArchive } from '../../../sources/postgres/wal-archive';
import { openRepo } from '../../context';
import { formatBytes, formatDuration, table } from '../../format';
import { printJson } from '../../io';
import type { Verb } from '../../verb';
import { pgSource, SOURCE_OPTION } from './source';

export const pgBackups: Verb = {
  name: 'backups',
  summary:
    'list base backups (size, duration, server version, WAL range) and the archived WAL with its gaps (the recovery window)',
  configure: (cmd) => cmd.option(...SOURCE_OPTION).option('--json', 'print JSON'),
  exits: [0, 1, 2, 10, 12],
  async run(_args, opts, ctx) {
    const source = pgSource(ctx, opts);
    const repo = await openRepo(ctx);
    const backups = baseBackupsOf(await repo.listSnapshots(), source);
    const archive = new WalArchive(repo, source);
    const segmentBytes =
      backups[0]?.snapshot.postgres?.kind === 'base' ? backups[0].snapshot.postgres.segmentBytes : undefined;
    const ranges = timelineRanges(await archive.list(), segmentBytes);
    const windows = backupWindows(backups, ranges);
    const summaryOf = (w: BackupWindow) => backups.find((b) => b.id === w.id)!.snapshot.summary;
    if (opts.json) {
      for (const w of windows) {
        const summary = summaryOf(w);
        printJson(ctx.io, {
          messageType: 'backup',
          snapshotId: w.id,
          ...w.info,
          bytes: summary.bytesProcessed,
          bytesAdded: summary.bytesAdded,
          durationMs: summary.durationMs,
          restorableTo: w.reachable ?? null,
          missingWal: w.missing ?? null,
        });
      }
      for (const r of ranges) printJson(ctx.io, { messageType: 'wal', ...r });
      return 0;
    }
    ctx.io.stdout.write(
      windows.length === 0 ? `no base backups of source "${source}"\n` : backupTable(windows, summaryOf),
    );
    for (const r of ranges)
      ctx.io.stdout.write(
        `WAL timeline ${r.timeline}: ${r.first} … ${r.last} (${r.segments} segments, ${formatBytes(r.storedBytes)} stored)${r.gaps.length ? `; GAPS at ${r.gaps.join(', ')}` : ''}\n`,
      );
    return 0;
  },
};

/** One line per base backup, under a header line; every line ends with a newline. */
function backupTable(
  windows: readonly BackupWindow[],
  summaryOf: (w: BackupWindow) => SnapshotRecord['snapshot']['summary'],
): string {
  const rows = windows.map((w) => {
    const summary = summaryOf(w);
    return [
      w.id.slice(0, 8),
      w.info.stopTime.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
      w.info.type,
      String(w.info.timeline),
      serverVersion(w.info.serverVersion),
      formatBytes(summary.bytesProcessed),
      formatBytes(summary.bytesAdded),
      formatDuration(summary.durationMs),
      `${w.info.startLsn}–${w.info.stopLsn}`,
      w.reachable ? `to ${w.reachable}` : `WAL MISSING: ${w.missing}`,
    ];
  });
  const header = [
    'id',
    'ended',
    'type',
    'timeline',
    'server',
    'size',
    'added',
    'took',
    'LSN range',
    'restorable',
  ];
  return `${table([header, ...rows])}\n`;
}

/** server_version_num as people write it: 150010 → 15.10. */
function serverVersion(num: number): string {
  return `${Math.floor(num / 10_000)}.${num % 10_000}`;
}
