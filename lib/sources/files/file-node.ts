import type { BigIntStats } from 'node:fs';
import { RepositoryError } from '../../repo/errors';
import { encodeName, type TreeNode } from '../../repo/tree';
import { StorageError } from '../../storage/errors';

/** A tree node from an lstat: the metadata every node keeps (the caller adds content, subtree or link). */
export function nodeFromStats(name: Buffer, s: BigIntStats, type: TreeNode['type']): TreeNode {
  return {
    ...encodeName(name),
    type,
    mode: Number(s.mode & 0o7777n),
    uid: Number(s.uid),
    gid: Number(s.gid),
    mtimeNs: s.mtimeNs.toString(),
    ctimeNs: s.ctimeNs.toString(),
    inode: s.ino.toString(),
    device: s.dev.toString(),
    links: Number(s.nlink),
    size: type === 'file' ? Number(s.size) : 0,
  };
}

/**
 * True when a file's metadata says its content is what the parent snapshot stored: same size, mtime,
 * ctime and inode (restic's rule). Whether the parent's blobs are still in the repository is the
 * caller's question.
 */
export function unchangedSince(prev: TreeNode, now: TreeNode): boolean {
  return (
    prev.type === 'file' &&
    prev.size === now.size &&
    prev.mtimeNs === now.mtimeNs &&
    prev.ctimeNs === now.ctimeNs &&
    prev.inode === now.inode
  );
}

/**
 * How a file that was read counts in a snapshot's summary: `new` without a parent node, `unmodified` when
 * its metadata and its content list are the parent's (a file --force re-read, or one whose stored blobs
 * had to be stored again), `changed` otherwise. What was read decides, not why it was read.
 */
export function readOutcome(prev: TreeNode | undefined, now: TreeNode): 'new' | 'changed' | 'unmodified' {
  if (!prev) return 'new';
  const same = unchangedSince(prev, now) && (prev.content ?? []).join() === (now.content ?? []).join();
  return same ? 'unmodified' : 'changed';
}

/**
 * True when every field of `now` (a node fresh from nodeFromStats) equals the parent's: the parent's node
 * can stand for it as it is, content list included.
 */
export function sameNodeAs(prev: TreeNode, now: TreeNode): boolean {
  return (
    unchangedSince(prev, now) &&
    prev.name === now.name &&
    prev.rawName === now.rawName &&
    prev.mode === now.mode &&
    prev.uid === now.uid &&
    prev.gid === now.gid &&
    prev.device === now.device &&
    prev.links === now.links
  );
}

/** True for errors of reading a source file (errno-coded, from this thread or a worker), not of the repository. */
export function isSourceFileError(err: unknown): boolean {
  if (err instanceof StorageError || err instanceof RepositoryError) return false;
  const code = (err as NodeJS.ErrnoException).code;
  return typeof code === 'string' && code.length > 0;
}

/** How a warning names what went wrong with a source path. */
export function sourceErrorMessage(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'vanished before it could be read';
  return code ? `${code}: ${(err as Error).message}` : String((err as Error).message ?? err);
}
