import { createHash, randomBytes } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { lstat, mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { asKeyCacheEntry, type KeyCacheEntry } from './key-cache';

/** The cache folder: this user's alone. */
export const KEY_CACHE_DIR_MODE = 0o700;
/** An entry: readable and writable by this user alone. */
export const KEY_CACHE_FILE_MODE = 0o600;
/** Bits that must be clear on the folder and on an entry (group and others: nothing). */
const SHARED_BITS = 0o077;
/** An entry is a few hundred bytes; anything larger is not one. */
const MAX_ENTRY_BYTES = 4096;

/** The cache is not private to this user (folder or file mode, owner, or a link): it is not used. */
export class KeyCacheUnsafeError extends Error {
  override readonly name = 'KeyCacheUnsafeError';
}

/**
 * Where the cached key of one repository lives: `<dir>/key-<hash of the repository's location>.json`. The
 * folder must be a real folder (no link) owned by this user with mode 0700; it is made so when absent.
 * Entries are opened without following links and must be regular files of this user with mode 0600;
 * they are written to a new file (O_EXCL, 0600) and renamed into place, so a reader never sees half of
 * one and nothing planted under the temporary name is written through.
 */
export class KeyCacheFile {
  readonly path: string;

  constructor(
    private readonly dir: string,
    location: string,
  ) {
    const name = createHash('sha256').update(location).digest('hex').slice(0, 32);
    this.path = join(dir, `key-${name}.json`);
  }

  /** The stored entry, or undefined when there is none (or it is not one). KeyCacheUnsafeError when not private. */
  async read(): Promise<KeyCacheEntry | undefined> {
    if (!(await this.folderChecked(false))) return undefined;
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      handle = await open(this.path, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return undefined;
      if (code === 'ELOOP') throw new KeyCacheUnsafeError(`${this.path} is a symbolic link`);
      throw err;
    }
    try {
      checkPrivate(this.path, await handle.stat(), 'file');
      const text = (await handle.readFile('utf8')).slice(0, MAX_ENTRY_BYTES);
      try {
        return asKeyCacheEntry(JSON.parse(text));
      } catch {
        return undefined; // damaged: the next unlock replaces it
      }
    } finally {
      await handle.close();
    }
  }

  /** Stores an entry (making the folder, 0700, when absent). */
  async write(entry: KeyCacheEntry): Promise<void> {
    await this.folderChecked(true);
    const temp = join(this.dir, `.key-${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
    const handle = await open(temp, flags, KEY_CACHE_FILE_MODE);
    try {
      await handle.writeFile(`${JSON.stringify(entry)}\n`);
    } finally {
      await handle.close();
    }
    try {
      await rename(temp, this.path);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
  }

  /** Removes the entry (a wrong password or a removed slot leaves nothing to try next time). */
  async remove(): Promise<void> {
    if (await this.folderChecked(false)) await rm(this.path, { force: true });
  }

  /** True when the folder exists and is private; with `create`, makes it first. */
  private async folderChecked(create: boolean): Promise<boolean> {
    if (create) await mkdir(this.dir, { recursive: true, mode: KEY_CACHE_DIR_MODE });
    let stats: Stats;
    try {
      stats = await lstat(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
    checkPrivate(this.dir, stats, 'folder');
    return true;
  }
}

function checkPrivate(path: string, stats: Stats, kind: 'file' | 'folder'): void {
  const uid = process.getuid?.();
  const mode = (stats.mode & 0o7777).toString(8).padStart(4, '0');
  if (kind === 'folder' ? !stats.isDirectory() : !stats.isFile())
    throw new KeyCacheUnsafeError(`${path} is not a ${kind} (a link or something else)`);
  if (uid !== undefined && stats.uid !== uid)
    throw new KeyCacheUnsafeError(`${path} belongs to uid ${stats.uid}, not to this user (${uid})`);
  if ((stats.mode & SHARED_BITS) !== 0)
    throw new KeyCacheUnsafeError(
      `${path} has mode ${mode}: others may use it (${kind === 'folder' ? '0700' : '0600'} needed)`,
    );
}
