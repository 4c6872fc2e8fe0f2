import type { Repository } from '../../repo/repository';
import type { SnapshotRecord } from '../../repo/snapshot';
import { WalArchive } from './wal-archive';
import { segmentNumber, walFileKind } from './wal-names';

/** What WAL expiry does for one source: everything archived before `keepFrom` goes. */
export interface WalExpiry {
  source: string;
  /** The start segment of the oldest kept base backup. */
  keepFrom: string;
  remove: { name: string; size: number }[];
}

/**
 * Which archived WAL no kept base backup needs: per source, every segment (of any timeline) numbered
 * below the start of its oldest base backup, and the backup history files and partial segments from
 * before it. A kept backup restores to any point after its end, so everything from its start on stays;
 * timeline history files always stay. A source without base backups keeps all its WAL (its first backup
 * may be running).
 */
export async function planWalExpiry(
  repo: Repository,
  snapshots: readonly SnapshotRecord[],
): Promise<WalExpiry[]> {
  const oldest = new Map<string, { wal: string; bytes: number }>();
  for (const s of snapshots) {
    const pg = s.snapshot.postgres;
    if (pg?.kind !== 'base') continue;
    const seen = oldest.get(s.snapshot.source);
    if (!seen || segmentNumber(pg.startWal, pg.segmentBytes) < segmentNumber(seen.wal, seen.bytes))
      oldest.set(s.snapshot.source, { wal: pg.startWal, bytes: pg.segmentBytes });
  }
  const plans: WalExpiry[] = [];
  for (const [source, keep] of oldest) {
    const limit = segmentNumber(keep.wal, keep.bytes);
    const remove = (await new WalArchive(repo, source).list()).filter((e) => {
      const kind = walFileKind(e.name);
      return kind !== 'history' && kind !== undefined && segmentNumber(e.name, keep.bytes) < limit;
    });
    if (remove.length > 0) plans.push({ source, keepFrom: keep.wal, remove });
  }
  return plans;
}

/** Deletes what planWalExpiry found. */
export async function applyWalExpiry(repo: Repository, plans: readonly WalExpiry[]): Promise<number> {
  let removed = 0;
  for (const plan of plans) {
    const archive = new WalArchive(repo, plan.source);
    for (const e of plan.remove) {
      await archive.remove(e.name);
      removed++;
    }
  }
  return removed;
}
