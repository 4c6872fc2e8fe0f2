import type { PgBaseBackupInfo, SnapshotRecord } from '../../repo/snapshot';
import type { WalEntry } from './wal-archive';
import { segmentName, segmentNumber, timelineOf, walFileKind } from './wal-names';

/** What the archive holds of one timeline: its first and last segment, and where segments are missing. */
export interface TimelineRange {
  timeline: number;
  first: string;
  last: string;
  segments: number;
  /** What the segments take in the repository (compressed and sealed). */
  storedBytes: number;
  /** The first missing segment of each hole between first and last. */
  gaps: string[];
}

/** Per timeline, the segments archived and the holes between them. */
export function timelineRanges(entries: readonly WalEntry[], segmentBytes?: number): TimelineRange[] {
  const byTimeline = new Map<number, bigint[]>();
  const stored = new Map<number, number>();
  for (const e of entries) {
    if (walFileKind(e.name) !== 'segment') continue;
    const timeline = timelineOf(e.name);
    const list = byTimeline.get(timeline) ?? [];
    list.push(segmentNumber(e.name, segmentBytes));
    byTimeline.set(timeline, list);
    stored.set(timeline, (stored.get(timeline) ?? 0) + e.size);
  }
  return [...byTimeline]
    .sort(([a], [b]) => a - b)
    .map(([timeline, numbers]) => {
      numbers.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      const gaps: string[] = [];
      for (let i = 1; i < numbers.length; i++)
        if (numbers[i]! !== numbers[i - 1]! + 1n)
          gaps.push(segmentName(timeline, numbers[i - 1]! + 1n, segmentBytes));
      return {
        timeline,
        first: segmentName(timeline, numbers[0]!, segmentBytes),
        last: segmentName(timeline, numbers.at(-1)!, segmentBytes),
        segments: numbers.length,
        storedBytes: stored.get(timeline) ?? 0,
        gaps,
      };
    });
}

/** How far a base backup restores with the archive as it is: to the end of its WAL, or further. */
export interface BackupWindow {
  id: string;
  info: PgBaseBackupInfo;
  /** The last segment recovery can reach from the backup without a hole (its own timeline). */
  reachable?: string;
  /** The backup cannot even become consistent: its own WAL is missing from the archive. */
  missing?: string;
}

/** The recovery window of each base backup: from its end to the last segment reachable without a hole. */
export function backupWindows(
  backups: readonly SnapshotRecord[],
  ranges: readonly TimelineRange[],
): BackupWindow[] {
  return backups.flatMap((b): BackupWindow[] => {
    const info = b.snapshot.postgres;
    if (info?.kind !== 'base') return [];
    const size = info.segmentBytes;
    const range = ranges.find((r) => r.timeline === info.timeline);
    const start = segmentNumber(info.startWal, size);
    const stop = segmentNumber(info.stopWal, size);
    if (info.walIncluded && (!range || segmentNumber(range.first, size) > stop + 1n))
      return [{ id: b.id, info, reachable: info.stopWal }];
    if (!range || segmentNumber(range.first, size) > start)
      return [{ id: b.id, info, missing: info.startWal }];
    const hole = range.gaps.map((g) => segmentNumber(g, size)).find((g) => g >= start);
    const end = hole !== undefined ? hole - 1n : segmentNumber(range.last, size);
    if (end < stop && !info.walIncluded)
      return [{ id: b.id, info, missing: segmentName(info.timeline, end + 1n, size) }];
    return [{ id: b.id, info, reachable: segmentName(info.timeline, end, size) }];
  });
}
