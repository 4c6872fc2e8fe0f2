import { existsSync, readdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Where Debian and Ubuntu put each major version's binaries. */
const DEBIAN_ROOT = '/usr/lib/postgresql';

/**
 * The folder of the PostgreSQL client binaries (pg_basebackup, pg_dump, pg_restore, pg_verifybackup,
 * postgres): `explicit` (--pg-bin), else ZAPAS_PG_BIN, else the first PATH entry with pg_basebackup,
 * else the newest /usr/lib/postgresql/<major>/bin.
 */
export function findPgBin(env: NodeJS.ProcessEnv, explicit?: string): string {
  const chosen = explicit ?? env.ZAPAS_PG_BIN;
  if (chosen) {
    if (!existsSync(join(chosen, 'pg_basebackup')))
      throw new Error(`no pg_basebackup in ${chosen} (from ${explicit ? '--pg-bin' : 'ZAPAS_PG_BIN'})`);
    return chosen;
  }
  for (const dir of (env.PATH ?? '').split(delimiter))
    if (dir && existsSync(join(dir, 'pg_basebackup')) && existsSync(join(dir, 'pg_ctl'))) return dir;
  const majors = existsSync(DEBIAN_ROOT)
    ? readdirSync(DEBIAN_ROOT)
        .filter((v) => /^\d+$/.test(v) && existsSync(join(DEBIAN_ROOT, v, 'bin', 'pg_basebackup')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (majors[0]) return join(DEBIAN_ROOT, majors[0], 'bin');
  throw new Error(
    'PostgreSQL client binaries not found: install them (Debian: postgresql-client-15) or pass --pg-bin / set ZAPAS_PG_BIN',
  );
}
