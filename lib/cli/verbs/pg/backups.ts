import { baseBackupsOf } from '../../../sources/postgres/physical-backup';
import { backupWindows, timelineRanges } from '../../../sources/postgres/recovery-window';
import { WalArchive } from '../../../sources/postgres/wal-archive';
import { openRepo } from '../../context';
import { formatBytes, table } from '../../format';
import { printJson } from '../../io';
import type { Verb } from '../../verb';
import { pgSource, SOURCE_OPTION } from './source';

export const pgBackups: Verb = {
  name: 'backups',
  summary: 'list base backups with their WAL range, and the archived WAL with its gaps (the recovery window)',
  configure: (cmd) => cmd.option(...SOURCE_OPTION).option('--json', 'print JSON'),
  exits: [0, 1, 2, 10, 12],
  async run(_args, opts, ctx) {
    const source = pgSource(ctx, opts);
    const repo = await openRepo(ctx);
    const backups = baseBackupsOf(await repo.listSnapshots(), source);
    const archive = new WalArchive(repo, source);
    const ranges = timelineRanges(
      await archive.list(),
      backups[0]?.snapshot.postgres?.kind === 'base' ? backups[0].snapshot.postgres.segmentBytes : undefined,
    );
    const windows = backupWindows(backups, ranges);
    if (opts.json) {
      for (const w of windows)
        printJson(ctx.io, {
          messageType: 'backup',
          snapshotId: w.id,
          ...w.info,
          restorableTo: w.reachable ?? null,
          missingWal: w.missing ?? null,
        });
      for (const r of ranges) printJson(ctx.io, { messageType: 'wal', ...r });
      return 0;
    }
    const rows = windows.map((w) => [
      w.id.slice(0, 8),
      w.info.stopTime.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
      w.info.type,
      String(w.info.timeline),
      `${w.info.startLsn}–${w.info.stopLsn}`,
      w.reachable ? `to ${w.reachable}` : `WAL MISSING: ${w.missing}`,
    ]);
    ctx.io.stdout.write(
      rows.length === 0
        ? `no base backups of source "${source}"\n`
        : table([['id', 'ended', 'type', 'timeline', 'LSN range', 'restorable'], ...rows]),
    );
    for (const r of ranges)
      ctx.io.stdout.write(
        `WAL timeline ${r.timeline}: ${r.first} … ${r.last} (${r.segments} segments, ${formatBytes(r.segments * 16 * 1024 * 1024)} before compression)${r.gaps.length ? `; GAPS at ${r.gaps.join(', ')}` : ''}\n`,
      );
    return 0;
  },
};
