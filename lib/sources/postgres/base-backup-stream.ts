import { Client } from 'pg';
import { parseConninfo } from './conninfo';
import { PgServerError } from './server';

/** Takes one archive of a base backup as the server sends it. */
export interface ArchiveConsumer {
  /**
   * Bytes of the archive: a view into the connection's read buffer, valid only during the call (copy what
   * you keep). A promise returned means "too much is in flight": the socket pauses until it resolves.
   */
  data(bytes: Buffer): Promise<void> | undefined;
  /** The archive is complete. */
  end(): void;
}

/** What the server reported around the archives. */
export interface BaseBackupResult {
  startLsn: string;
  stopLsn: string;
  timeline: number;
}

export interface BaseBackupRequest {
  conninfo: string;
  label: string;
  /** Ask the server to add the WAL of the backup to the base archive (pg_basebackup -X fetch). */
  includeWal: boolean;
  /** Called for each archive in turn: base.tar, <oid>.tar (with its folder on the server), backup_manifest. */
  onArchive: (name: string, tablespacePath: string) => ArchiveConsumer;
  /** Ends the backup early (a reader failed: the server would otherwise wait for it forever). */
  signal?: AbortSignal;
  /** The backend pid of the replication connection, once it is open (to watch it from another one). */
  onConnected?: (backendPid: number) => void;
  /** The server's notices and warnings ("waiting for required WAL segments to be archived"). */
  onNotice?: (message: string, severity: string) => void;
}

/** Lowest server version whose BASE_BACKUP speaks the framing this client reads (one COPY, typed messages). */
export const MIN_SERVER_VERSION = 150000;

/**
 * Takes a base backup over the replication protocol, as pg_basebackup does, and hands each archive's bytes
 * to the caller as they arrive: nothing is written to local disk, and tablespaces come as archives of
 * their own. The server
 * runs the checkpoint, sends base.tar and the tablespaces' archives, then the manifest, and waits until
 * the WAL the backup needs is archived (WAIT true) unless that WAL is included.
 */
export async function takeBaseBackup(req: BaseBackupRequest): Promise<BaseBackupResult> {
  const c = parseConninfo(req.conninfo);
  const client = new Client({
    ...(c.host !== undefined ? { host: c.host } : {}),
    ...(c.port !== undefined ? { port: c.port } : {}),
    ...(c.user !== undefined ? { user: c.user } : {}),
    database: c.dbname ?? 'replication',
    replication: 'true',
    application_name: c.application_name ?? 'zapas',
    connectionTimeoutMillis: (c.connect_timeout ?? 10) * 1000,
  } as ConstructorParameters<typeof Client>[0]);
  client.on('notice', (msg) => req.onNotice?.(msg.message ?? String(msg), msg.severity ?? 'NOTICE'));
  try {
    await client.connect();
  } catch (err) {
    throw new PgServerError(`cannot open a replication connection: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const pid = (client as unknown as { processID?: number }).processID;
  if (pid !== undefined) req.onConnected?.(pid);
  const sql =
    `BASE_BACKUP (LABEL ${literal(req.label)}, CHECKPOINT 'fast', WAIT true, WAL ${req.includeWal}, ` +
    `MANIFEST 'yes', MANIFEST_CHECKSUMS 'CRC32C', TABLESPACE_MAP true, PROGRESS false)`;
  try {
    const query = new BaseBackupQuery(sql, req.onArchive);
    const abort = () => {
      const reason = req.signal?.reason instanceof Error ? req.signal.reason : new Error('aborted');
      query.abort(reason);
      (client as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
    };
    if (req.signal?.aborted) abort();
    req.signal?.addEventListener('abort', abort, { once: true });
    try {
      client.query(query as never);
      return await query.result;
    } finally {
      req.signal?.removeEventListener('abort', abort);
    }
  } catch (err) {
    throw err instanceof PgServerError
      ? err
      : new PgServerError(`base backup failed: ${(err as Error).message}`, { cause: err });
  } finally {
    await client.end().catch(() => undefined);
  }
}

function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/** The messages node-postgres hands a submittable query (the parts this one uses). */
interface Connection {
  query(text: string): void;
  stream: { pause(): void; resume(): void };
}

/**
 * A node-postgres "submittable": runs BASE_BACKUP with the simple query protocol and parses its COPY data.
 * PostgreSQL 15 sends one CopyOut whose messages start with a type byte: 'n' a new archive (name and
 * tablespace path, NUL-terminated), 'm' the manifest follows, 'd' data of the current archive, 'p' progress.
 * Result sets before and after give the start and end positions.
 */
class BaseBackupQuery {
  private readonly rows: (string | null)[][] = [];
  private current: ArchiveConsumer | undefined;
  private settle!: { resolve: (r: BaseBackupResult) => void; reject: (e: Error) => void };
  private failed: Error | undefined;
  readonly result = new Promise<BaseBackupResult>((resolve, reject) => {
    this.settle = { resolve, reject };
  });
  /** node-postgres calls back through `callback` when there is one; a promise otherwise. */
  callback?: (err: Error | null) => void;

  constructor(
    private readonly text: string,
    private readonly onArchive: (name: string, tablespacePath: string) => ArchiveConsumer,
  ) {
    this.result.catch(() => undefined);
  }

  submit(connection: Connection): void {
    connection.query(this.text);
  }

  handleRowDescription(): void {
    // BASE_BACKUP's result sets are read row by row (handleDataRow).
  }

  handleDataRow(msg: { fields: (string | null)[] }): void {
    this.rows.push(msg.fields);
  }

  handleCopyData(msg: { chunk: Buffer }, connection: Connection): void {
    const chunk = msg.chunk;
    const type = String.fromCharCode(chunk[0]!);
    if (type === 'n') {
      const [name, path] = cStrings(chunk.subarray(1), 2);
      this.open(name!, path!);
    } else if (type === 'm') {
      this.open('backup_manifest', '');
    } else if (type === 'd') {
      if (!this.current) {
        this.fail(new PgServerError('the server sent backup data before naming its archive'));
        return;
      }
      let wait: Promise<void> | undefined;
      try {
        wait = this.current.data(chunk.subarray(1));
      } catch (err) {
        this.fail(err as Error);
        return;
      }
      if (wait) {
        // Back-pressure: too much is in flight behind the consumer; stop reading the socket until it eases.
        connection.stream.pause();
        wait.then(
          () => connection.stream.resume(),
          (err: Error) => this.fail(err),
        );
      }
    } else if (type !== 'p') {
      this.fail(
        new PgServerError(`unexpected message "${type}" in the base backup stream (a server older than 15?)`),
      );
    }
  }

  handleCommandComplete(): void {
    this.close();
  }

  handleEmptyQuery(): void {
    // Not sent for BASE_BACKUP.
  }

  handlePortalSuspended(): void {
    // Not sent for BASE_BACKUP.
  }

  handleError(err: Error): void {
    this.fail(new PgServerError(`the server ended the base backup: ${err.message}`, { cause: err }));
    this.callback?.(err);
  }

  handleReadyForQuery(): void {
    this.close();
    if (this.failed) return;
    // Rows: the start position (LSN, timeline), tablespaces (oid, path, size)…, then the end position.
    const start = this.rows[0];
    const end = this.rows.at(-1);
    if (!start || !end || this.rows.length < 2) {
      this.fail(new PgServerError('the server sent no start or end position for the base backup'));
      return;
    }
    this.settle.resolve({
      startLsn: start[0] ?? '',
      stopLsn: end[0] ?? '',
      timeline: Number(end[1] ?? start[1]),
    });
    this.callback?.(null);
  }

  /** Fails the backup from outside (the caller then closes the connection). */
  abort(err: Error): void {
    this.fail(err);
  }

  private open(name: string, tablespacePath: string): void {
    this.close();
    this.current = this.onArchive(name, tablespacePath);
  }

  private close(): void {
    const current = this.current;
    this.current = undefined;
    try {
      current?.end();
    } catch (err) {
      this.fail(err as Error);
    }
  }

  private fail(err: Error): void {
    if (this.failed) return;
    this.failed = err;
    this.current = undefined;
    this.settle.reject(err);
  }
}

/** `count` NUL-terminated strings at the start of `buf`. */
function cStrings(buf: Buffer, count: number): string[] {
  const out: string[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    const end = buf.indexOf(0, at);
    out.push(buf.toString('utf8', at, end < 0 ? buf.length : end));
    at = end < 0 ? buf.length : end + 1;
  }
  return out;
}
