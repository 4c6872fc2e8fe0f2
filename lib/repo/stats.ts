import { INDEX_PREFIX } from './index-file';
import type { Repository } from './repository';
import { SNAPSHOTS_PREFIX } from './snapshot';

export interface RepositoryStats {
  snapshots: number;
  packs: number;
  blobs: number;
  /** Bytes of every object in the repository. */
  storedBytes: number;
  /** Bytes of packs. */
  packBytes: number;
  /** Uncompressed bytes of all unique blobs. */
  uniqueRawBytes: number;
  /** Sum of the source sizes of all snapshots: what restoring all of them would write. */
  restoreBytes: number;
  /** restoreBytes / uniqueRawBytes. */
  dedupRatio: number;
  /** uniqueRawBytes / packBytes. */
  compressionRatio: number;
  byDataClass: Record<string, { packs: number; bytes: number }>;
}

/** Sizes and ratios of a repository, from its index and snapshot summaries. */
export async function repositoryStats(repo: Repository): Promise<RepositoryStats> {
  const index = await repo.loadIndex();
  const snapshots = await repo.listSnapshots();
  let storedBytes = 0;
  let packBytes = 0;
  for (const prefix of ['data/', INDEX_PREFIX, SNAPSHOTS_PREFIX, 'keys/', 'locks/', 'condemned/']) {
    for await (const o of repo.storage.list(prefix)) {
      storedBytes += o.size;
      if (prefix === 'data/') packBytes += o.size;
    }
  }
  const config = await repo.storage.head('config');
  storedBytes += config?.size ?? 0;
  let uniqueRawBytes = 0;
  for (const [, e] of index.entries()) uniqueRawBytes += e.rawLength;
  const byDataClass: RepositoryStats['byDataClass'] = {};
  for (const [, p] of index.packs) {
    const c = byDataClass[p.dataClass] ?? { packs: 0, bytes: 0 };
    c.packs++;
    c.bytes += p.bytes;
    byDataClass[p.dataClass] = c;
  }
  const restoreBytes = snapshots.reduce((n, s) => n + s.snapshot.summary.bytesProcessed, 0);
  return {
    snapshots: snapshots.length,
    packs: index.packs.size,
    blobs: index.size,
    storedBytes,
    packBytes,
    uniqueRawBytes,
    restoreBytes,
    dedupRatio: uniqueRawBytes > 0 ? restoreBytes / uniqueRawBytes : 0,
    compressionRatio: packBytes > 0 ? uniqueRawBytes / packBytes : 0,
    byDataClass,
  };
}
