import { IntegrityError } from './errors';
import { type BlobId, isId } from './ids';

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
const SLASH = 0x2f;
const NUL = 0x00;
/** Decimal nanoseconds (negative before 1970) and decimal inode/device numbers, as nodeFromStats writes them. */
const NS_PATTERN = /^-?\d{1,24}$/;
const NUMBER_PATTERN = /^\d{1,24}$/;
/** Highest uid and gid (uid_t is 32 bits). */
const MAX_OWNER_ID = 0xffff_ffff;

/**
 * Why `bytes` cannot be the name of an entry in a folder, or undefined when it can: a name that is empty,
 * `.` or `..`, or holds `/` or NUL would make a restore create something other than one entry of that
 * folder (above it, or deeper).
 */
export function badNameReason(bytes: Buffer): string | undefined {
  if (bytes.length === 0) return 'an empty name';
  if (bytes.length === 1 && bytes[0] === 0x2e) return 'the name "."';
  if (bytes.length === 2 && bytes[0] === 0x2e && bytes[1] === 0x2e) return 'the name ".."';
  if (bytes.includes(SLASH)) return `a name with "/" (${JSON.stringify(bytes.toString('utf8'))})`;
  if (bytes.includes(NUL)) return `a name with a NUL byte (${JSON.stringify(bytes.toString('utf8'))})`;
  return undefined;
}

/**
 * Parses a tree blob and checks every node, so that no reader (restore, ls, diff, copy, check) ever sees a
 * node it cannot trust: a known type, a name that is one entry of this folder (badNameReason), names that
 * do not repeat (a symlink `a` beside a folder `a` is how a restore is made to write through a link:
 * node-tar's CVE-2021-32803 class), and fields of the types the format gives them. A tree that fails is
 * an IntegrityError naming the blob and the node.
 */
export function decodeTree(bytes: Buffer, objectName: string): Tree {
  let tree: Tree;
  try {
    tree = JSON.parse(bytes.toString('utf8')) as Tree;
  } catch (cause) {
    throw new IntegrityError(objectName, 'tree is not valid JSON', { cause });
  }
  if (typeof tree !== 'object' || tree === null || !Array.isArray(tree.nodes))
    throw new IntegrityError(objectName, 'tree has no node list');
  const names = new Set<string>();
  for (const [i, n] of tree.nodes.entries()) {
    const problem = nodeProblem(n);
    if (problem) throw new IntegrityError(objectName, `node ${i} ${problem}`);
    const name = nodeNameBytes(n);
    const bad = badNameReason(name);
    if (bad) throw new IntegrityError(objectName, `node ${i} has ${bad}`);
    const key = name.toString('binary');
    if (names.has(key))
      throw new IntegrityError(objectName, `the name ${JSON.stringify(nodeDisplayName(n))} appears twice`);
    names.add(key);
  }
  return tree;
}

/** What is wrong with the shape of a node, or undefined. */
function nodeProblem(n: unknown): string | undefined {
  if (typeof n !== 'object' || n === null || Array.isArray(n)) return 'is not an object';
  const node = n as Record<string, unknown>;
  if (!NODE_TYPES.has(node.type as NodeType)) return 'has an unknown type';
  const named = (node.name !== undefined ? 1 : 0) + (node.rawName !== undefined ? 1 : 0);
  if (named !== 1) return 'needs exactly one of name and rawName';
  if (node.name !== undefined && typeof node.name !== 'string') return 'has a name that is not text';
  if (node.rawName !== undefined && typeof node.rawName !== 'string') return 'has a rawName that is not text';
  if (!isIntIn(node.mode, 0, 0o7777)) return 'has a mode outside 0..07777';
  if (!isIntIn(node.uid, 0, MAX_OWNER_ID) || !isIntIn(node.gid, 0, MAX_OWNER_ID))
    return 'has an owner that is not a uid/gid';
  if (!isIntIn(node.links, 0, Number.MAX_SAFE_INTEGER) || !isIntIn(node.size, 0, Number.MAX_SAFE_INTEGER))
    return 'has a link count or size that is not a count';
  if (!matches(node.mtimeNs, NS_PATTERN) || !matches(node.ctimeNs, NS_PATTERN))
    return 'has a time that is not decimal nanoseconds';
  if (!matches(node.inode, NUMBER_PATTERN) || !matches(node.device, NUMBER_PATTERN))
    return 'has an inode or device that is not a decimal number';
  if (node.content !== undefined) {
    if (node.type !== 'file') return 'has content but is not a file';
    if (!Array.isArray(node.content) || !node.content.every((id) => typeof id === 'string' && isId(id)))
      return 'has content that is not a list of blob ids';
  }
  if (node.subtree !== undefined) {
    if (node.type !== 'dir') return 'has a subtree but is not a folder';
    if (typeof node.subtree !== 'string' || !isId(node.subtree)) return 'has a subtree that is not a blob id';
  }
  const targets = (node.linkTarget !== undefined ? 1 : 0) + (node.rawLinkTarget !== undefined ? 1 : 0);
  if (node.type === 'symlink') {
    if (targets !== 1) return 'is a symlink without exactly one target';
    const target = node.linkTarget ?? node.rawLinkTarget;
    if (typeof target !== 'string' || target.length === 0) return 'is a symlink with an empty target';
  } else if (targets !== 0) return 'has a link target but is not a symlink';
  return undefined;
}

function isIntIn(value: unknown, min: number, max: number): boolean {
  return Number.isInteger(value) && (value as number) >= min && (value as number) <= max;
}

function matches(value: unknown, pattern: RegExp): boolean {
  return typeof value === 'string' && pattern.test(value);
}
