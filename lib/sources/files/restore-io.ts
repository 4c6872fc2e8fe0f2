import type { FileHandle } from 'node:fs/promises';
import { lchown, lutimes } from 'node:fs/promises';
import type { TreeNode } from '../../repo/tree';
import { type Creator, ownedAs } from './ownership';

/** A restore write failed (full disk, permissions, the target changed under it): names the file. */
export class RestoreWriteError extends Error {
  override readonly name = 'RestoreWriteError';
}

/** What setting an entry's metadata needs: whether to chown, who entries are created as, where to warn. */
export interface MetadataSettings {
  asRoot: boolean;
  createdAs?: Creator;
  onWarning?: (path: string, message: string) => void;
}

/** Why a write failed, in words (errno codes a restore meets; the system's message otherwise). */
export function writeFailure(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC') return 'no space left on device';
  if (code === 'EDQUOT') return 'disk quota exceeded';
  if (code === 'EEXIST')
    return 'something of that name exists already (the target changed during the restore)';
  if (code === 'ELOOP') return 'a symlink took the place of the file this restore made';
  return (err as Error).message;
}

/** Runs a write and turns an errno failure into a RestoreWriteError naming the entry (`display`). */
export async function writing<T>(display: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === undefined) throw err;
    throw new RestoreWriteError(`cannot write ${display}: ${writeFailure(err)}`, { cause: err });
  }
}

/** Owner (as root), mode and times of a file, set through its open descriptor; a failure is a warning. */
export async function applyFileMetadata(
  handle: FileHandle,
  node: TreeNode,
  display: string,
  settings: MetadataSettings,
): Promise<void> {
  try {
    // chown first: it clears set-user-ID and set-group-ID bits.
    if (settings.asRoot && !ownedAs(node, settings.createdAs)) await handle.chown(node.uid, node.gid);
    await handle.chmod(node.mode);
    const seconds = secondsOf(node.mtimeNs);
    await handle.utimes(seconds, seconds);
  } catch (err) {
    settings.onWarning?.(display, `cannot set metadata: ${(err as Error).message}`);
  }
}

/** Owner (as root) and times of a symlink itself (lchown, lutimes: never its target); a failure is a warning. */
export async function applyLinkMetadata(
  path: Buffer,
  node: TreeNode,
  display: string,
  settings: MetadataSettings,
): Promise<void> {
  try {
    if (settings.asRoot && !ownedAs(node, settings.createdAs)) await lchown(path, node.uid, node.gid);
    const seconds = secondsOf(node.mtimeNs);
    await lutimes(path, seconds, seconds);
  } catch (err) {
    settings.onWarning?.(display, `cannot set metadata: ${(err as Error).message}`);
  }
}

/** A node's mtime as the seconds (with a fraction) that utimes takes. */
export function secondsOf(mtimeNs: string): number {
  const ns = BigInt(mtimeNs);
  return Number(ns / 1_000_000_000n) + Number(ns % 1_000_000_000n) / 1e9;
}
