/**
 * One `zapas serve` per state folder. At start a serve takes every job an earlier process left running
 * for abandoned and queues it again; a second serve on the same folder would take the first one's live
 * jobs so. The lock is SQLite's exclusive lock on `serve.lock` in the folder, held while the process
 * lives: the kernel drops it when the process ends in any way (kill -9 included), so a restart never
 * waits for a stale lock to expire. The catalog itself stays open to other processes.
 */
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { CatalogError } from '../../catalog/errors';
import {
  createPrivateFile,
  isLockedBySomeoneElse,
  privateFolder,
  sqliteFailure,
} from '../../catalog/sqlite-file';

export const SERVE_LOCK_FILE = 'serve.lock';

/** Holds the state folder `dir` for this process until `release()`; refuses when another process holds it. */
export function lockStateFolder(dir: string): { release(): void } {
  const file = join(dir, SERVE_LOCK_FILE);
  privateFolder(dir);
  createPrivateFile(file);
  const db = new DatabaseSync(file);
  try {
    // Exclusive locking mode keeps the lock a write transaction takes until the connection closes.
    db.exec('PRAGMA locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE');
    db.exec('COMMIT');
  } catch (err) {
    db.close();
    if (!isLockedBySomeoneElse(err)) throw sqliteFailure(err, file, 0);
    throw new CatalogError(
      `another zapas serve is using the state folder ${dir} (it holds ${file}): stop it, or give this one its own --state`,
      { cause: err },
    );
  }
  return { release: () => db.close() };
}
