import { chmodSync, closeSync, openSync } from 'node:fs';

/**
 * An exclusive lock between the processes of this machine, on a file, that dies with its holder: the
 * kernel releases it when the process ends, however it ends (SIGKILL included), so a crashed holder never
 * leaves it taken, and no pid file can be stale or name a pid reused by another process.
 *
 * Node has no flock(2). SQLite's locking is POSIX fcntl() record locks on the database file; node:sqlite
 * (built into Node 22.5 and later) opens one, and `BEGIN EXCLUSIVE` takes SQLite's exclusive lock on it
 * and keeps it until the transaction ends or the process does. Nothing is ever written to the file.
 */

/** A lock this process holds. */
export interface HeldLock {
  /** Gives the lock up (the process ending does the same). */
  release(): void;
}

/** SQLite's "database is locked": another process (or connection) holds the lock. */
const SQLITE_BUSY = 5;

type Database = import('node:sqlite').DatabaseSync;

/**
 * Takes the lock on `file` (created 0600 if absent), waiting up to `waitMs` for another holder to let go;
 * undefined when it stays held. The wait blocks the thread (SQLite's busy timeout sleeps): keep it short,
 * or give it only where nothing else has to run meanwhile. Other failures (the folder is not writable, the
 * file is not a lock) throw.
 */
export async function tryLock(file: string, waitMs = 0): Promise<HeldLock | undefined> {
  // Loaded here, not at start-up: only the archiving verbs need it. Not by import(): the self-contained
  // executable has no dynamic import ("A dynamic import callback was not specified").
  const { DatabaseSync } = process.getBuiltinModule('node:sqlite') as typeof import('node:sqlite');
  closeSync(openSync(file, 'a', 0o600));
  chmodSync(file, 0o600);
  let db: Database | undefined;
  try {
    db = new DatabaseSync(file, { timeout: waitMs });
    db.exec('BEGIN EXCLUSIVE');
  } catch (err) {
    db?.close();
    if ((err as { errcode?: number }).errcode === SQLITE_BUSY) return undefined;
    throw new Error(`cannot lock ${file}: ${(err as Error).message}`, { cause: err });
  }
  const held = db;
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      held.close();
    },
  };
}

/** True when another process holds the lock on `file` (found by taking it for an instant). */
export async function lockHeld(file: string): Promise<boolean> {
  const lock = await tryLock(file);
  lock?.release();
  return lock === undefined;
}
