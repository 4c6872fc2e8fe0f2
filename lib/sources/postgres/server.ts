import { Client } from 'pg';
import { parseConninfo } from './conninfo';

/** PostgreSQL could not be reached, refused us, or lacks what a backup needs. */
export class PgServerError extends Error {
  override readonly name: string = 'PgServerError';
}

/** What a backup records about the server it came from. */
export interface ServerFacts {
  /** server_version_num, e.g. 150010. */
  version: number;
  /** The cluster's system identifier (pg_control): a restore refuses WAL of another cluster. */
  systemId: string;
  timeline: number;
  segmentBytes: number;
  /** Tablespaces other than pg_default and pg_global. */
  tablespaces: { oid: number; name: string; location: string }[];
  archiveMode: string;
}

/** Seconds to wait for a connection before naming the server unreachable. */
const CONNECT_TIMEOUT_SECONDS = 10;

/** Connects with the node-postgres client (password from PGPASSWORD or the pgpass file, as libpq does). */
export async function connect(conninfo: string): Promise<Client> {
  const c = parseConninfo(conninfo);
  const client = new Client({
    ...(c.host !== undefined ? { host: c.host } : {}),
    ...(c.port !== undefined ? { port: c.port } : {}),
    ...(c.user !== undefined ? { user: c.user } : {}),
    ...(c.dbname !== undefined ? { database: c.dbname } : {}),
    application_name: c.application_name ?? 'zapas',
    connectionTimeoutMillis: (c.connect_timeout ?? CONNECT_TIMEOUT_SECONDS) * 1000,
  });
  try {
    await client.connect();
  } catch (err) {
    throw new PgServerError(`cannot connect to PostgreSQL (${where(c)}): ${messageOf(err)}`, { cause: err });
  }
  // A connection lost while idle (the server restarted under a backup that watches from this one) is an
  // 'error' event, which would end the process with no listener; the next query on it fails instead.
  client.on('error', () => undefined);
  return client;
}

/** Reads the facts a base backup needs, and checks the role may take one. */
export async function serverFacts(client: Client): Promise<ServerFacts> {
  const one = async <T>(sql: string): Promise<T> => (await client.query(sql)).rows[0] as T;
  const role = await one<{ ok: boolean; name: string }>(
    'SELECT rolsuper OR rolreplication AS ok, rolname AS name FROM pg_roles WHERE rolname = current_user',
  );
  if (!role?.ok)
    throw new PgServerError(
      `role "${role?.name}" may not take base backups: it needs the REPLICATION attribute (ALTER ROLE ${role?.name} REPLICATION) or superuser`,
    );
  const version = Number((await one<{ v: string }>('SHOW server_version_num')).v);
  const control = await one<{ system_identifier: string }>(
    'SELECT system_identifier::text AS system_identifier FROM pg_control_system()',
  );
  const checkpoint = await one<{ timeline_id: number }>('SELECT timeline_id FROM pg_control_checkpoint()');
  const segment = await one<{ bytes: string }>(
    "SELECT setting::bigint * (CASE unit WHEN 'B' THEN 1 WHEN 'kB' THEN 1024 WHEN 'MB' THEN 1048576 ELSE 1 END) AS bytes FROM pg_settings WHERE name = 'wal_segment_size'",
  );
  const archive = await one<{ archive_mode: string }>('SHOW archive_mode');
  const tablespaces = (
    await client.query(
      "SELECT oid::int AS oid, spcname AS name, pg_tablespace_location(oid) AS location FROM pg_tablespace WHERE spcname NOT IN ('pg_default', 'pg_global') ORDER BY oid",
    )
  ).rows as ServerFacts['tablespaces'];
  return {
    version,
    systemId: control.system_identifier,
    timeline: checkpoint.timeline_id,
    segmentBytes: Number(segment.bytes),
    tablespaces,
    archiveMode: archive.archive_mode,
  };
}

function where(c: ReturnType<typeof parseConninfo>): string {
  const host = c.host ?? process.env.PGHOST ?? 'the default socket';
  const port = c.port ?? process.env.PGPORT ?? 5432;
  return `${host}, port ${port}`;
}

function messageOf(err: unknown): string {
  const e = err as { message?: string; code?: string };
  return e.message || e.code || String(err);
}
