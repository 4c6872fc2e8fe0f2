import { BlobWriter } from '../repo/blob-writer';
import { Lock } from '../repo/lock';
import { loadCondemned } from '../repo/prune-marks';
import type { Repository } from '../repo/repository';
import type { SnapshotRecord } from '../repo/snapshot';

/** What a backup's body gets: the writer for its blobs and the snapshots that were readable. */
export interface WriteSession {
  readonly writer: BlobWriter;
  readonly snapshots: readonly SnapshotRecord[];
}

/**
 * One backup's write session, in the order of invariant 1 and docs/locking.md: lock, read the prune
 * marks, announce them, load the index (condemned packs no longer serve deduplication), run `body`,
 * then write its packs and index objects (BlobWriter.flush), then `commit` what `body` returned (the
 * snapshot: the commit point), still under the lock. A failure drops every
 * unfinished pack; what was written is garbage a later prune collects.
 */
export async function withWriteSession<T, R>(
  repo: Repository,
  opts: {
    dataClass?: string | undefined;
    onDamage?: ((object: string, message: string) => void) | undefined;
  },
  body: (session: WriteSession) => Promise<T>,
  commit: (result: T) => Promise<R>,
): Promise<R> {
  // Lock first, then read prune marks, then announce which marks we saw: a prune that lists locks
  // between these steps sees a backup that has not seen its mark, and waits (docs/locking.md).
  const lock = await Lock.acquire(repo, 'backup');
  try {
    const condemned = await loadCondemned(repo);
    await lock.refresh({ sawMarks: condemned.markIds });
    await repo.loadIndex();
    for (const pack of condemned.packs) repo.index.dropPack(pack);
    // A damaged old snapshot must not stop new backups: it is named (`check` reports the damage).
    const snapshots = await repo.listSnapshots((name, err) => opts.onDamage?.(name, err.message));
    const writer = new BlobWriter(repo, opts.dataClass ?? 'default');
    let result: T;
    try {
      result = await body({ writer, snapshots });
      await writer.flush();
    } catch (err) {
      await writer.abort();
      throw err;
    }
    return await commit(result);
  } finally {
    await lock.release();
  }
}
