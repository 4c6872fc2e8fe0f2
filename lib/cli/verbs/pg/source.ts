import { parseConninfo } from '../../../sources/postgres/conninfo';
import type { VerbContext } from '../../context';
import { UsageError } from '../../errors';
import type { VerbOptions } from '../../verb';

/** The PostgreSQL source a pg verb works on: --source, else ZAPAS_PG_SOURCE (archive_command and restore_command set it). */
export function pgSource(ctx: VerbContext, opts: VerbOptions): string {
  const source = (opts.source as string | undefined) ?? ctx.io.env.ZAPAS_PG_SOURCE;
  if (!source) throw new UsageError('no PostgreSQL source given: pass --source NAME or set ZAPAS_PG_SOURCE');
  return source;
}

/** The --source option every pg verb takes. */
export const SOURCE_OPTION = ['--source <name>', 'the PostgreSQL source (env ZAPAS_PG_SOURCE)'] as const;

/** The connection string of a pg verb: --pg, else ZAPAS_PG_CONNINFO (checked: no password in it). */
export function pgConninfo(ctx: VerbContext, opts: VerbOptions): string {
  const conninfo = (opts.pg as string | undefined) ?? ctx.io.env.ZAPAS_PG_CONNINFO;
  if (conninfo === undefined)
    throw new UsageError('no PostgreSQL connection given: pass --pg "CONNINFO" or set ZAPAS_PG_CONNINFO');
  try {
    parseConninfo(conninfo);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  return conninfo;
}

/** The --pg option: a libpq connection string. */
export const PG_OPTION = [
  '--pg <conninfo>',
  'libpq connection string, e.g. "host=/run/postgresql dbname=app" (env ZAPAS_PG_CONNINFO; passwords via ~/.pgpass or PGPASSWORD)',
] as const;

/** The --pg-bin option: where the PostgreSQL binaries are. */
export const PG_BIN_OPTION = [
  '--pg-bin <dir>',
  'folder of pg_basebackup and the other PostgreSQL binaries (env ZAPAS_PG_BIN)',
] as const;

/**
 * How wal-push and wal-fetch (and their daemons) open the repository: through the key cache, as PostgreSQL
 * runs them once per WAL segment and each would otherwise derive the key anew.
 */
export const WAL_KEY = { keyCache: true } as const;
