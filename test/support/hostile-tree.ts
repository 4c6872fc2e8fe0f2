import { BlobWriter } from '../../lib/repo/blob-writer';
import type { BlobId, SnapshotId } from '../../lib/repo/ids';
import { BlobType } from '../../lib/repo/pack';
import type { Repository } from '../../lib/repo/repository';
import { encodeName, encodeTree, type Tree, type TreeNode } from '../../lib/repo/tree';

/** One entry of a tree a malicious writer makes: names may repeat, nothing is sorted or checked. */
export interface CraftedNode {
  name: string | Buffer;
  type: 'file' | 'dir' | 'symlink';
  mode?: number;
  uid?: number;
  gid?: number;
  data?: Buffer;
  /** Content as several blobs (instead of `data`), shared with other files where they repeat. */
  chunks?: Buffer[];
  target?: string;
  children?: CraftedNode[];
  /** Hard links: nodes with links > 1 and the same inode are restored as one file. */
  links?: number;
  inode?: string;
}

/**
 * Writes a snapshot of the crafted tree with the repository's own key, as a writer holding the key (a
 * stolen key, a compromised backup host) could: the trees are sealed and indexed like any others.
 */
export async function craftSnapshot(
  repo: Repository,
  nodes: CraftedNode[],
  opts: { packTargetBytes?: number } = {},
): Promise<SnapshotId> {
  const writer = new BlobWriter(repo, 'default', opts.packTargetBytes);
  const tree = await saveTree(writer, nodes);
  await writer.flush();
  return repo.saveSnapshot({
    version: 1,
    time: new Date().toISOString(),
    source: 'hostile',
    hostname: 'attacker',
    username: 'attacker',
    paths: ['/'],
    tags: [],
    dataClass: 'default',
    tree,
    excludes: [],
    summary: {
      filesNew: 0,
      filesChanged: 0,
      filesUnmodified: 0,
      dirs: 0,
      bytesProcessed: 0,
      bytesAdded: 0,
      blobsAdded: 0,
      durationMs: 0,
      errors: 0,
    },
    program: 'attacker',
  });
}

async function saveTree(writer: BlobWriter, nodes: CraftedNode[]): Promise<BlobId> {
  const out: TreeNode[] = [];
  for (const n of nodes) {
    const node: TreeNode = {
      ...encodeName(Buffer.isBuffer(n.name) ? n.name : Buffer.from(n.name)),
      type: n.type,
      mode: n.mode ?? (n.type === 'dir' ? 0o755 : 0o644),
      uid: n.uid ?? 0,
      gid: n.gid ?? 0,
      mtimeNs: '1700000000000000000',
      ctimeNs: '1700000000000000000',
      inode: n.inode ?? '0',
      device: '1',
      links: n.links ?? 1,
      size: n.chunks ? Buffer.concat(n.chunks).length : (n.data?.length ?? 0),
    };
    const chunks = n.chunks ?? (n.data && n.data.length > 0 ? [n.data] : []);
    if (n.type === 'file' && chunks.length > 0) {
      node.content = [];
      for (const chunk of chunks) node.content.push(await writer.save(BlobType.Data, chunk));
    }
    if (n.type === 'dir') node.subtree = await saveTree(writer, n.children ?? []);
    if (n.type === 'symlink') node.linkTarget = n.target ?? '/';
    out.push(node);
  }
  const tree: Tree = { nodes: out };
  return writer.save(BlobType.Tree, encodeTree(tree));
}

/**
 * Makes `repo` hand trees over without decodeTree's checks, so that a test reaches the restore's own
 * filesystem layer with what the checks would refuse (defence in depth: each layer must hold alone).
 */
export function skipTreeChecks(repo: Repository): void {
  repo.loadTree = async (id: BlobId) => JSON.parse((await repo.loadBlob(id)).toString('utf8')) as Tree;
}
