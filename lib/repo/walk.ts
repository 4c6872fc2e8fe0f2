import type { BlobId } from './ids';
import type { Repository } from './repository';
import { nodeNameBytes, type TreeNode } from './tree';

/** A node with its path inside the snapshot (`/home/a/file`). */
export interface WalkedNode {
  readonly path: string;
  readonly node: TreeNode;
}

/** Walks a snapshot tree depth-first in name order; `under` limits it to one path and what is below. */
export async function* walkTree(repo: Repository, root: BlobId, under = '/'): AsyncGenerator<WalkedNode> {
  const prefix = under === '/' ? '/' : under.replace(/\/+$/, '');
  async function* visit(treeId: BlobId, dir: string): AsyncGenerator<WalkedNode> {
    const tree = await repo.loadTree(treeId);
    for (const node of tree.nodes) {
      const path = `${dir === '/' ? '' : dir}/${nodeNameBytes(node).toString('utf8')}`;
      const inside = prefix === '/' || path === prefix || path.startsWith(`${prefix}/`);
      const above = prefix.startsWith(`${path}/`);
      if (inside) yield { path, node };
      if (node.type === 'dir' && node.subtree && (inside || above)) yield* visit(node.subtree, path);
    }
  }
  yield* visit(root, '/');
}
