import { constants } from 'node:fs';
import { type FileHandle, lstat, mkdir, open } from 'node:fs/promises';
import { RestoreTargetError } from '../files/target-dir';

/**
 * The files pg restore writes into a data directory after the snapshot's own files are in place:
 * postgresql.auto.conf, recovery.signal, tablespace_map, pg_tblspc/. The snapshot decided what those names
 * are: a hostile one (a stolen key, a compromised backup host) can make any of them a symlink to a file
 * outside (postgresql.auto.conf -> /etc/…), and an ordinary open would write through it. So each is
 * opened with O_NOFOLLOW and must be a regular file, and a folder is checked with lstat before anything
 * is made in it: zapas acts on the entry itself, never on what a link points at.
 */

/** An entry of the restored data directory is not what a data directory holds there. */
export class DataDirEntryError extends RestoreTargetError {
  override readonly name = 'DataDirEntryError';
}

const { O_RDONLY, O_WRONLY, O_CREAT, O_APPEND, O_TRUNC, O_NOFOLLOW, O_NONBLOCK } = constants;

/**
 * Opens `file` without following a final symlink (O_NOFOLLOW: ELOOP) and without waiting on a FIFO
 * (O_NONBLOCK), and requires a regular file.
 */
async function openEntry(file: string, flags: number, mode = 0o600): Promise<FileHandle> {
  let handle: FileHandle;
  try {
    handle = await open(file, flags | O_NOFOLLOW | O_NONBLOCK, mode);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw refused(file, 'is a symlink');
    if (code === 'EISDIR') throw refused(file, 'is a folder');
    if (code === 'ENXIO') throw refused(file, 'is a FIFO or socket');
    throw err;
  }
  const info = await handle.stat();
  if (!info.isFile()) {
    await handle.close();
    throw refused(file, 'is not a regular file');
  }
  return handle;
}

function refused(entry: string, what: string): DataDirEntryError {
  return new DataDirEntryError(
    `${entry} ${what} in the restored snapshot: refused (pg restore writes only the entry itself, never through a link)`,
  );
}

/** Appends `text` to `file` (made 0600 when absent). */
export function appendToEntry(file: string, text: string): Promise<void> {
  return writeThrough(file, O_APPEND, text);
}

/** Replaces the content of `file` (made 0600 when absent). */
export function writeEntry(file: string, text: string): Promise<void> {
  return writeThrough(file, O_TRUNC, text);
}

async function writeThrough(file: string, how: number, text: string): Promise<void> {
  const handle = await openEntry(file, O_WRONLY | O_CREAT | how);
  try {
    await handle.writeFile(text);
  } finally {
    await handle.close();
  }
}

/** The content of `file`; undefined when there is none. */
export async function readEntry(file: string): Promise<string | undefined> {
  let handle: FileHandle;
  try {
    handle = await openEntry(file, O_RDONLY);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

/** Owner of the regular file `file` (lstat: a symlink is refused, not followed); undefined when absent. */
export async function entryOwner(file: string): Promise<{ uid: number; gid: number } | undefined> {
  const info = await lstat(file).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (!info) return undefined;
  if (!info.isFile()) throw refused(file, info.isSymbolicLink() ? 'is a symlink' : 'is not a regular file');
  return { uid: info.uid, gid: info.gid };
}

/** Makes the folder `dir` (0700) unless it is there; one that is a symlink or not a folder is refused. */
export async function folderEntry(dir: string): Promise<void> {
  const info = await lstat(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (!info) {
    await mkdir(dir, { mode: 0o700 });
    return;
  }
  if (!info.isDirectory()) throw refused(dir, info.isSymbolicLink() ? 'is a symlink' : 'is not a folder');
}
