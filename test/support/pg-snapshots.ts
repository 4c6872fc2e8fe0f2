import type { SnapshotId } from '../../lib/repo/ids';
import type { Repository } from '../../lib/repo/repository';
import type { PgBaseBackupInfo, Snapshot } from '../../lib/repo/snapshot';
import { type CraftedNode, craftSnapshot } from './hostile-tree';

/** A base backup's record as pg backup writes it (PostgreSQL 15.10, timeline 1), with `over` changed. */
export function baseBackupInfo(over: Partial<PgBaseBackupInfo> = {}): PgBaseBackupInfo {
  return {
    kind: 'base',
    type: 'full',
    systemId: '7300000000000000001',
    serverVersion: 150010,
    timeline: 1,
    segmentBytes: 16 * 1024 * 1024,
    startLsn: '0/2000028',
    stopLsn: '0/2000100',
    startWal: '000000010000000000000002',
    stopWal: '000000010000000000000002',
    startTime: '2026-12-01T10:00:00.000Z',
    stopTime: '2026-12-01T10:00:01.000Z',
    label: 'crafted',
    tablespaces: [],
    walIncluded: false,
    ...over,
  };
}

/**
 * Saves a base backup of `source` whose tree is `nodes` (written as hostile-tree.ts writes trees: nothing
 * checked), with `info` and, when given, summary figures.
 */
export async function saveBaseBackup(
  repo: Repository,
  source: string,
  nodes: CraftedNode[],
  info: PgBaseBackupInfo,
  summary: Partial<Snapshot['summary']> = {},
): Promise<SnapshotId> {
  const plain = await repo.findSnapshot(await craftSnapshot(repo, nodes));
  return repo.saveSnapshot({
    ...plain.snapshot,
    source,
    time: info.stopTime,
    tags: ['pg-base'],
    summary: { ...plain.snapshot.summary, ...summary },
    postgres: info,
  });
}
