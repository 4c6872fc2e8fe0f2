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

/** Milliseconds per unit of a --*-timeout value. */
const TIMEOUT_UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A timeout option: "90", "90s", "2m", "1m30s", "500ms" (a bare number is seconds); more than zero. */
export function parseTimeout(text: string, option: string): number {
  const parts = [...text.trim().matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)?/gy)];
  const ms = parts.reduce((sum, p) => sum + Number(p[1]) * TIMEOUT_UNITS_MS[p[2] ?? 's']!, 0);
  if (parts.map((p) => p[0]).join('') !== text.trim() || parts.length === 0 || !(ms > 0))
    throw new UsageError(`${option} wants a time such as 60s, 2m or 1m30s, not "${text}"`);
  return ms;
}

/** The --archive-timeout option of pg backup and pg check. */
export const ARCHIVE_TIMEOUT_OPTION = [
  '--archive-timeout <time>',
  'give up when no WAL has been archived for this long while waiting for it (e.g. 60s, 5m)',
  '60s',
] as const;
