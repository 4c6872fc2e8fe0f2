import type { BlobWriter } from '../repo/blob-writer';
import type { BlobId } from '../repo/ids';
import { BlobType } from '../repo/pack';
import { badNameReason, encodeName, encodeTree, nodeNameBytes, type TreeNode } from '../repo/tree';

/** Metadata of a folder that only appears in the paths of its entries. */
const IMPLIED_FOLDER = { mode: 0o700, uid: 0, gid: 0, mtimeNs: '0' } as const;

interface Folder {
  node?: TreeNode;
  children: Map<string, Folder | TreeNode>;
}

/**
 * Builds a snapshot's trees from entries named by path, in any order (a tar stream, an object listing),
 * and saves them bottom-up, each folder sorted by name bytes as the file walk does.
 */
export class TreeBuilder {
  private readonly root: Folder = { children: new Map() };

  /** Adds a file or symlink node (its name is the last component) under the folders of `path`. */
  add(path: readonly Buffer[], node: Omit<TreeNode, 'name' | 'rawName'>): void {
    const name = path.at(-1);
    if (!name) throw new RangeError('an entry needs a path');
    const bad = badNameReason(name);
    if (bad) throw new RangeError(`an entry path has ${bad}: not one name of a folder`);
    const parent = this.folder(path.slice(0, -1));
    parent.children.set(name.toString('binary'), { ...encodeName(name), ...node } as TreeNode);
  }

  /** Gives a folder (made on the way if need be) its own metadata. */
  addFolder(path: readonly Buffer[], node: Omit<TreeNode, 'name' | 'rawName' | 'type' | 'subtree'>): void {
    const folder = this.folder(path);
    const name = path.at(-1);
    if (name) folder.node = { ...encodeName(name), ...node, type: 'dir' } as TreeNode;
  }

  /** Saves every folder's tree; returns the root's. */
  save(writer: BlobWriter): Promise<BlobId> {
    return this.saveFolder(this.root, writer);
  }

  private folder(path: readonly Buffer[]): Folder {
    let at = this.root;
    for (const part of path) {
      const bad = badNameReason(part);
      if (bad) throw new RangeError(`an entry path has ${bad}: not one name of a folder`);
      const key = part.toString('binary');
      const next = at.children.get(key);
      if (next && 'children' in next) {
        at = next;
        continue;
      }
      if (next) throw new RangeError(`${part.toString('utf8')} is both a file and a folder`);
      const made: Folder = { children: new Map() };
      at.children.set(key, made);
      at = made;
    }
    return at;
  }

  private async saveFolder(folder: Folder, writer: BlobWriter): Promise<BlobId> {
    const nodes: TreeNode[] = [];
    for (const [key, child] of folder.children) {
      if (!('children' in child)) {
        nodes.push(child);
        continue;
      }
      const subtree = await this.saveFolder(child, writer);
      const meta = child.node ?? {
        ...encodeName(Buffer.from(key, 'binary')),
        type: 'dir' as const,
        ...IMPLIED_FOLDER,
        ctimeNs: IMPLIED_FOLDER.mtimeNs,
        inode: '0',
        device: '0',
        links: 1,
        size: 0,
      };
      nodes.push({ ...meta, subtree });
    }
    const keyed = nodes.map((node) => ({ node, key: nodeNameBytes(node) }));
    keyed.sort((a, b) => Buffer.compare(a.key, b.key));
    return writer.save(BlobType.Tree, encodeTree({ nodes: keyed.map((k) => k.node) }));
  }
}
