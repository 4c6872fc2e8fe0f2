import { IntegrityError } from './errors';
import type { BlobId } from './ids';

/** Kinds of tree nodes. Devices, FIFOs and sockets are reported and skipped by the file source. */
export type NodeType = 'file' | 'dir' | 'symlink';

/**
 * One entry of a directory. Names and link targets are bytes on disk: valid UTF-8 goes in `name`
 * (`linkTarget`), anything else in `rawName` (`rawLinkTarget`) as base64, so every name survives.
 * Times are integer nanoseconds since the epoch, as decimal strings (beyond 2^53).
 */
export interface TreeNode {
  name?: string;
  rawName?: string;
  type: NodeType;
  /** Permission bits, including setuid, setgid and sticky (st_mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  mtimeNs: string;
  /** Change detection only (restore cannot set ctime). */
  ctimeNs: string;
  inode: string;
  device: string;
  /** Hard link count; nodes with links > 1 and the same (device, inode) are restored as one file. */
  links: number;
  size: number;
  /** Data blobs of a file, in order. */
  content?: BlobId[];
  /** Tree blob of a directory. */
  subtree?: BlobId;
  linkTarget?: string;
  rawLinkTarget?: string;
}

/** A directory listing, sorted by the raw bytes of names. */
export interface Tree {
  nodes: TreeNode[];
}

/** Stores `bytes` as `name` or `rawName` so that they survive a JSON round trip exactly. */
export function encodeName(bytes: Buffer): { name: string } | { rawName: string } {
  // Most names are ASCII: they are text as they are, with no round trip to check.
  let ascii = true;
  for (let i = 0; i < bytes.length; i++) if (bytes[i]! >= 0x80) ascii = false;
  if (ascii) return { name: bytes.toString('latin1') };
  const text = bytes.toString('utf8');
  return Buffer.from(text, 'utf8').equals(bytes) ? { name: text } : { rawName: bytes.toString('base64') };
}

/** The bytes of a node's name. */
export function nodeNameBytes(node: Pick<TreeNode, 'name' | 'rawName'>): Buffer {
  if (node.name !== undefined) return Buffer.from(node.name, 'utf8');
  if (node.rawName !== undefined) return Buffer.from(node.rawName, 'base64');
  throw new IntegrityError('tree', 'node without a name');
}

/** A printable form of a node's name (invalid UTF-8 shown with replacement characters). */
export function nodeDisplayName(node: Pick<TreeNode, 'name' | 'rawName'>): string {
  return node.name ?? Buffer.from(node.rawName ?? '', 'base64').toString('utf8');
}

/** The bytes of a symlink's target. */
export function linkTargetBytes(node: TreeNode): Buffer {
  if (node.linkTarget !== undefined) return Buffer.from(node.linkTarget, 'utf8');
  return Buffer.from(node.rawLinkTarget ?? '', 'base64');
}

/** Serialises a tree deterministically (same tree, same bytes, same blob id). */
export function encodeTree(tree: Tree): Buffer {
  return Buffer.from(JSON.stringify({ nodes: tree.nodes }));
}

const NODE_TYPES = new Set<NodeType>(['file', 'dir', 'symlink']);

/** Parses a tree blob; a malformed tree is an IntegrityError naming the blob. */
export function decodeTree(bytes: Buffer, objectName: string): Tree {
  let tree: Tree;
  try {
    tree = JSON.parse(bytes.toString('utf8')) as Tree;
  } catch (cause) {
    throw new IntegrityError(objectName, 'tree is not valid JSON', { cause });
  }
  if (!Array.isArray(tree?.nodes)) throw new IntegrityError(objectName, 'tree has no node list');
  for (const n of tree.nodes) {
    if (!NODE_TYPES.has(n.type) || (n.name === undefined && n.rawName === undefined)) {
      throw new IntegrityError(objectName, 'tree has a malformed node');
    }
  }
  return tree;
}
