/**
 * A SQLite database file as zapas keeps one (node:sqlite, built into Node): created 0600 in a 0700 folder
 * before SQLite opens it, so that its -wal and -shm files, which SQLite gives the database file's mode, are
 * private too; write-ahead logging with the log synced at every commit (synchronous=FULL), so a change that
 * returned survives a crash of the process or of the machine; a bounded wait for another process's write.
 */
import { chmodSync, closeSync, fsyncSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { CatalogBusyError, CatalogError } from './errors';

export const PRIVATE_FILE_MODE = 0o600;
export const PRIVATE_DIR_MODE = 0o700;

/** SQLite's result codes (sqlite.org/rescode.html) this module tells apart. */
const SQLITE_BUSY = 5;
const SQLITE_LOCKED = 6;
const SQLITE_NOTADB = 26;

/**
 * Creates `file` empty and private (its folder too, 0700, when missing); true when it was created. An
 * existing one, and its -wal and -shm files, are made private if they are not.
 */
export function createPrivateFile(file: string): boolean {
  const dir = dirname(file);
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  try {
    closeSync(openSync(file, 'wx', PRIVATE_FILE_MODE));
    // The new name is durable once its folder is synced; SQLite syncs the files, not our directory entry.
    syncFolder(dir);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  for (const f of [file, `${file}-wal`, `${file}-shm`]) tighten(f);
  return false;
}

/**
 * Opens the database in `file` (created when missing) for durable commits, waiting up to `busyTimeoutMs`
 * for a lock; `vet` checks what the file is before anything is written to it.
 */
export function openDurable(
  file: string,
  busyTimeoutMs: number,
  vet: (db: DatabaseSync) => unknown = () => undefined,
): DatabaseSync {
  createPrivateFile(file);
  const db = new DatabaseSync(file);
  try {
    db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.trunc(busyTimeoutMs))}`);
    vet(db);
    const mode = db.prepare('PRAGMA journal_mode = WAL').get()?.journal_mode;
    if (mode !== 'wal')
      throw new CatalogError(
        `${file}: SQLite cannot keep a write-ahead log here (journal mode ${String(mode)}); the folder must be on a local file system`,
      );
    db.exec('PRAGMA synchronous = FULL');
  } catch (err) {
    db.close();
    throw sqliteFailure(err, file, busyTimeoutMs);
  }
  return db;
}

/** True for SQLite's answer that another connection holds the lock. */
export function isLockedBySomeoneElse(err: unknown): boolean {
  const code = sqliteCode(err);
  return code === SQLITE_BUSY || code === SQLITE_LOCKED;
}

/** An error of SQLite as the catalog's error, naming the file; any other error as it is. */
export function sqliteFailure(err: unknown, file: string, busyTimeoutMs: number): unknown {
  const code = sqliteCode(err);
  if (code === undefined) return err;
  const message = (err as Error).message;
  if (isLockedBySomeoneElse(err))
    return new CatalogBusyError(
      `the catalog ${file} stayed locked by another process for more than ${busyTimeoutMs} ms (${message})`,
      { cause: err },
    );
  if (code === SQLITE_NOTADB)
    return new CatalogError(`${file} is not a zapas catalog: ${message}`, { cause: err });
  return new CatalogError(`the catalog ${file} failed: ${message}`, { cause: err });
}

function sqliteCode(err: unknown): number | undefined {
  const code = (err as { errcode?: unknown } | null)?.errcode;
  return (err as { code?: unknown } | null)?.code === 'ERR_SQLITE_ERROR' && typeof code === 'number'
    ? code
    : undefined;
}

function tighten(file: string): void {
  let mode: number;
  try {
    mode = statSync(file).mode;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if ((mode & 0o077) !== 0) chmodSync(file, PRIVATE_FILE_MODE);
}

/**
 * Makes `dir` (created when missing) a folder only its owner can enter: for a folder zapas owns, such as a
 * state folder, which an earlier zapas made with the umask's mode. Never for a folder the user merely
 * named as the place of a file.
 */
export function privateFolder(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  if ((statSync(dir).mode & 0o077) !== 0) chmodSync(dir, PRIVATE_DIR_MODE);
}

/** Makes the names in `dir` durable (a created or renamed file survives a crash of the machine). */
export function syncFolder(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
