/**
 * The catalog of a state folder (`zapas serve --state`, default `.zapas-state`): the database
 * `catalog.db`, in a folder made 0700 (tightened when an earlier zapas left it open to others). A
 * folder an earlier zapas used holds `catalog.json` instead; the first open imports it
 * and keeps the old file aside as `catalog.json.imported`, so an upgrade keeps every job, lease, slot
 * and hold without a step by hand. The import is built in a separate file renamed into place when
 * complete, so a crash leaves either no database (the next open imports again) or a whole one.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { EmbeddedCatalog, type EmbeddedCatalogOptions } from './embedded-catalog';
import { CatalogError } from './errors';
import { parseLegacyCatalog } from './legacy-json';
import { privateFolder, syncFolder } from './sqlite-file';

export const CATALOG_FILE = 'catalog.db';
/** The file of the catalog before it was a database. */
export const LEGACY_CATALOG_FILE = 'catalog.json';
/** What the earlier file is renamed to once imported. */
export const IMPORTED_SUFFIX = '.imported';
const IMPORTING_SUFFIX = '.importing';

/** Opens (creating when missing) the catalog in `dir`, importing an earlier catalog.json once. */
export async function openCatalogFolder(
  dir: string,
  opts: EmbeddedCatalogOptions & { log?: (line: string) => void } = {},
): Promise<EmbeddedCatalog> {
  const file = join(dir, CATALOG_FILE);
  const legacy = join(dir, LEGACY_CATALOG_FILE);
  privateFolder(dir);
  if (!existsSync(legacy)) return EmbeddedCatalog.open(file, opts);
  const text = readFileSync(legacy, 'utf8');
  const mark = `${LEGACY_CATALOG_FILE} sha256:${createHash('sha256').update(text).digest('hex')}`;
  if (existsSync(file)) {
    const catalog = await EmbeddedCatalog.open(file, opts);
    // The import committed and the process stopped before the old file was moved aside: finish that.
    if (catalog.importedMark() === mark) {
      setAside(legacy);
      return catalog;
    }
    catalog.close();
    throw new CatalogError(
      `${dir} holds both ${CATALOG_FILE} and an earlier ${LEGACY_CATALOG_FILE} that was not imported into it ` +
        `(written by an older zapas after the upgrade?): move ${legacy} away to keep the database, or move ` +
        `${file} away to import the JSON file instead`,
    );
  }
  const records = parseLegacyCatalog(text, legacy);
  const building = `${file}${IMPORTING_SUFFIX}`;
  for (const leftover of [building, `${building}-wal`, `${building}-shm`]) rmSync(leftover, { force: true });
  const fresh = await EmbeddedCatalog.open(building, opts);
  try {
    fresh.importRecords(records, mark);
  } finally {
    // Closing folds the write-ahead log into the file, which can then be renamed alone.
    fresh.close();
  }
  renameSync(building, file);
  syncFolder(dir);
  setAside(legacy);
  opts.log?.(
    `catalog: imported ${records.jobs.length} jobs, ${records.holds.length} holds and ${records.slots.length} schedule slots ` +
      `from ${legacy} into ${file}; the old file is kept as ${legacy}${IMPORTED_SUFFIX}`,
  );
  return EmbeddedCatalog.open(file, opts);
}

function setAside(legacy: string): void {
  renameSync(legacy, `${legacy}${IMPORTED_SUFFIX}`);
  syncFolder(dirname(legacy));
}
