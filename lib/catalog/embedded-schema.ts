/**
 * The embedded catalog's tables. Jobs, source states, holds and parts are kept as their JSON records,
 * beside the columns that are looked up, ordered or compared (ids, source, state, times, lease owner and
 * expiry, the newest schedule slot). The file says what it is (application_id) and which layout it has
 * (user_version), so a foreign SQLite file or one a newer zapas wrote is refused, never written over.
 */
import type { DatabaseSync } from 'node:sqlite';
import { CatalogError } from './errors';

/** "zcat": marks a SQLite file as a zapas catalog. */
const APPLICATION_ID = 0x7a636174;
/** The layout this code reads and writes. */
export const SCHEMA_VERSION = 2;

/** Layout 2 added the security records (second factors, lockouts, the audit trail's head). */
const RECORDS = `
CREATE TABLE records (
  kind TEXT NOT NULL, key TEXT NOT NULL, revision INTEGER NOT NULL, record TEXT NOT NULL, PRIMARY KEY (kind, key)
) STRICT;
`;

const TABLES = `
CREATE TABLE jobs (
  id TEXT PRIMARY KEY,
  source TEXT NOT NULL,
  state TEXT NOT NULL,
  created_at TEXT NOT NULL,
  ended_at TEXT,
  record TEXT NOT NULL
) STRICT;
CREATE INDEX jobs_by_source ON jobs (source, created_at DESC, id DESC);
CREATE INDEX jobs_by_end ON jobs (ended_at) WHERE ended_at IS NOT NULL;
CREATE TABLE leases (name TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at INTEGER NOT NULL) STRICT;
CREATE TABLE sources (source TEXT PRIMARY KEY, record TEXT NOT NULL) STRICT;
CREATE TABLE slots (
  source TEXT NOT NULL, schedule TEXT NOT NULL, slot TEXT NOT NULL, PRIMARY KEY (source, schedule)
) STRICT;
CREATE TABLE holds (source TEXT NOT NULL, id TEXT NOT NULL, record TEXT NOT NULL, PRIMARY KEY (source, id)) STRICT;
CREATE TABLE parts (job_id TEXT NOT NULL, idx INTEGER NOT NULL, record TEXT NOT NULL, PRIMARY KEY (job_id, idx)) STRICT;
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
${RECORDS}`;

/**
 * Checks that `db` is empty or a catalog of a layout this code reads, without writing: run before the
 * file is switched to write-ahead logging, so a foreign file is left exactly as it was. True when empty.
 */
export function vetCatalog(db: DatabaseSync, where: string): boolean {
  const app = Number(db.prepare('PRAGMA application_id').get()?.application_id ?? 0);
  const version = Number(db.prepare('PRAGMA user_version').get()?.user_version ?? 0);
  if (app === 0 && version === 0) {
    const tables = db.prepare("SELECT count(*) AS n FROM sqlite_schema WHERE type = 'table'").get();
    if (Number(tables?.n ?? 0) === 0) return true;
  }
  if (app !== APPLICATION_ID)
    throw new CatalogError(`${where} is a SQLite database of something else, not a zapas catalog`);
  if (version > SCHEMA_VERSION)
    throw new CatalogError(
      `${where} has catalog layout ${version}, made by a newer zapas; this one reads layout ${SCHEMA_VERSION}`,
    );
  return false;
}

/**
 * Creates the tables in an empty database, or checks that `db` is a catalog of this layout. Runs inside
 * the caller's write transaction, so two processes opening a new file at once create it once.
 */
export function ensureSchema(db: DatabaseSync, where: string): void {
  if (!vetCatalog(db, where)) {
    const version = Number(db.prepare('PRAGMA user_version').get()?.user_version ?? 0);
    if (version < 2) {
      db.exec(RECORDS);
      db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
    }
    return;
  }
  db.exec(TABLES);
  db.exec(`PRAGMA application_id = ${APPLICATION_ID}`);
  db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
}
