import { BlobWriter } from './blob-writer';
import type { BlobId, SnapshotId } from './ids';
import { Lock } from './lock';
import { BlobType } from './pack';
import type { Repository } from './repository';
import type { Snapshot, SnapshotRecord } from './snapshot';
import { encodeTree, type TreeNode } from './tree';

export interface CopyResult {
  copied: { from: SnapshotId; to: SnapshotId }[];
  skipped: SnapshotId[];
  blobsAdded: number;
  bytesAdded: number;
}

/**
 * Copies snapshots into another repository with its own key. Blob ids are keyed per repository, so a
 * blob is read from the source, re-identified with the destination's key and written only when the
 * destination lacks it: only missing blobs travel. When both repositories share the blob-id key and
 * chunker seed, ids are equal and present subtrees are skipped without reading them.
 */
export async function copySnapshots(
  src: Repository,
  dst: Repository,
  refs: readonly string[],
  onInfo: (line: string) => void = () => undefined,
): Promise<CopyResult> {
  const srcLock = await Lock.acquire(src, 'shared');
  const dstLock = await Lock.acquire(dst, 'backup');
  try {
    await src.loadIndex();
    await dst.loadIndex();
    const wanted: SnapshotRecord[] =
      refs.length === 0 ? await src.listSnapshots() : await Promise.all(refs.map((r) => src.findSnapshot(r)));
    const present = new Set(
      (await dst.listSnapshots()).map(
        (s) => (s.snapshot as Snapshot & { original?: string }).original ?? s.id,
      ),
    );
    const sameIds = src.keyring.macKey.equals(dst.keyring.macKey);
    const result: CopyResult = { copied: [], skipped: [], blobsAdded: 0, bytesAdded: 0 };
    const mapped = new Map<BlobId, BlobId>();
    for (const record of wanted) {
      if (present.has(record.id)) {
        result.skipped.push(record.id);
        continue;
      }
      const writer = new BlobWriter(dst, record.snapshot.dataClass);
      const copyTree = async (id: BlobId): Promise<BlobId> => {
        const known = mapped.get(id) ?? (sameIds && dst.index.has(id) ? id : undefined);
        if (known) return known;
        const tree = await src.loadTree(id);
        const nodes: TreeNode[] = [];
        for (const node of tree.nodes) {
          const copy: TreeNode = { ...node };
          if (node.content) {
            copy.content = [];
            for (const blob of node.content) copy.content.push(await copyData(blob));
          }
          if (node.subtree) copy.subtree = await copyTree(node.subtree);
          nodes.push(copy);
        }
        const out = await writer.save(BlobType.Tree, encodeTree({ nodes }));
        mapped.set(id, out);
        return out;
      };
      const copyData = async (id: BlobId): Promise<BlobId> => {
        const known = mapped.get(id) ?? (sameIds && dst.index.has(id) ? id : undefined);
        if (known) return known;
        const out = await writer.save(BlobType.Data, await src.loadBlob(id));
        mapped.set(id, out);
        return out;
      };
      let tree: BlobId;
      try {
        tree = await copyTree(record.snapshot.tree);
        await writer.flush();
      } catch (err) {
        await writer.abort();
        throw err;
      }
      const snapshot = { ...record.snapshot, tree, original: record.id } as Snapshot;
      delete (snapshot as Partial<Snapshot>).parent;
      const to = await dst.saveSnapshot(snapshot);
      result.copied.push({ from: record.id, to });
      result.blobsAdded += writer.stats.blobsAdded;
      result.bytesAdded += writer.stats.bytesAdded;
      onInfo(
        `copied snapshot ${record.id.slice(0, 8)} to ${to.slice(0, 8)} (${writer.stats.blobsAdded} new blobs)`,
      );
    }
    return result;
  } finally {
    await dstLock.release();
    await srcLock.release();
  }
}
