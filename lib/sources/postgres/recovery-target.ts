import type { PgBaseBackupInfo, SnapshotRecord } from '../../repo/snapshot';
import type { WalEntry } from './wal-archive';
import { parseLsn, segmentNumber, timelineOf, walFileKind } from './wal-names';

/** Where recovery should stop; none means the end of the archived WAL. */
export type RecoveryTarget =
  | { kind: 'time'; time: Date; text: string }
  | { kind: 'lsn'; lsn: bigint; text: string }
  | { kind: 'xid'; xid: string }
  | { kind: 'name'; name: string }
  /** As soon as the backup is consistent (verification). */
  | { kind: 'immediate' }
  | { kind: 'end' };

/** A target that no backup and WAL in the repository can reach: said before anything is written. */
export class RecoveryTargetError extends Error {
  override readonly name = 'RecoveryTargetError';
}

/** The newest archived WAL: its last segment and when it was archived (its records are older). */
export interface ArchiveEnd {
  lastSegment?: string;
  lastArchivedAt?: Date;
}

type BaseRecord = SnapshotRecord & { snapshot: { postgres: PgBaseBackupInfo } };

/**
 * Picks the base backup to restore for a target: the newest one that ended at or before it (a time or an
 * LSN), or the newest of all (xid, restore point, end of WAL); and refuses targets before the oldest
 * backup's end (the earliest consistent moment) or after the newest archived WAL.
 */
export function chooseBaseBackup(
  backups: readonly SnapshotRecord[],
  target: RecoveryTarget,
  archive: ArchiveEnd,
  segmentBytes?: number,
): BaseRecord {
  const bases = backups.filter((b): b is BaseRecord => b.snapshot.postgres?.kind === 'base');
  if (bases.length === 0) throw new RecoveryTargetError('no base backup of this source in the repository');
  const oldest = bases[0]!.snapshot.postgres;
  const newest = bases.at(-1)!;
  if (target.kind === 'time') {
    const eligible = bases.filter((b) => new Date(b.snapshot.postgres.stopTime) <= target.time);
    if (eligible.length === 0)
      throw new RecoveryTargetError(
        `recovery target ${target.text} is before the end of the oldest base backup (${oldest.stopTime}): no backup is consistent by then`,
      );
    const lastTime = archive.lastArchivedAt ?? new Date(newest.snapshot.postgres.stopTime);
    if (target.time > lastTime)
      throw new RecoveryTargetError(
        `recovery target ${target.text} is after the newest archived WAL (${archive.lastSegment ?? 'none'}, archived ${lastTime.toISOString()}): recovery could not reach it`,
      );
    return eligible.at(-1)!;
  }
  if (target.kind === 'lsn') {
    const eligible = bases.filter((b) => parseLsn(b.snapshot.postgres.stopLsn) <= target.lsn);
    if (eligible.length === 0)
      throw new RecoveryTargetError(
        `recovery target LSN ${target.text} is before the end of the oldest base backup (${oldest.stopLsn})`,
      );
    const chosen = eligible.at(-1)!;
    const size = BigInt(segmentBytes ?? chosen.snapshot.postgres.segmentBytes);
    const endLsn = archive.lastSegment
      ? (segmentNumber(archive.lastSegment, Number(size)) + 1n) * size
      : parseLsn(newest.snapshot.postgres.stopLsn);
    const backupEnd = parseLsn(newest.snapshot.postgres.stopLsn);
    if (target.lsn > (endLsn > backupEnd ? endLsn : backupEnd))
      throw new RecoveryTargetError(
        `recovery target LSN ${target.text} is after the newest archived WAL (${archive.lastSegment ?? 'none'})`,
      );
    return chosen;
  }
  return newest;
}

/** The last archived segment (of the highest timeline) and its archive time, from a listing. */
export function archiveEndOf(entries: readonly WalEntry[]): { lastSegment?: string } {
  const segments = entries.filter((e) => walFileKind(e.name) === 'segment').map((e) => e.name);
  if (segments.length === 0) return {};
  segments.sort((a, b) => timelineOf(a) - timelineOf(b) || (segmentNumber(a) < segmentNumber(b) ? -1 : 1));
  return { lastSegment: segments.at(-1)! };
}
