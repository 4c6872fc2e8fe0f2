import type { Client } from 'pg';
import { PgServerError } from './server';

/**
 * A base backup ends only once the server has archived the WAL it needs (BASE_BACKUP ... WAIT true): with
 * a broken archive_command the server waits forever and says so only in its log. This watch looks, over
 * an ordinary connection, at the backup's phase (pg_stat_progress_basebackup) and at the archiver
 * (pg_stat_archiver), and gives up when the server has been waiting with no WAL archived for the
 * timeout, naming what the archiver reports.
 */

/** --archive-timeout's default: no WAL archived for this long while the backup waits for it. */
export const DEFAULT_ARCHIVE_TIMEOUT_MS = 60_000;
/** How often the watch looks at the server. */
const WATCH_INTERVAL_MS = 1_000;
/** pg_stat_progress_basebackup's phase while the server waits for the archiver. */
const WAITING_PHASE = 'waiting for wal archiving to finish';

/** The WAL a base backup needs was not archived in time. */
export class ArchiveTimeoutError extends PgServerError {
  override readonly name = 'ArchiveTimeoutError';
}

/** What the archiver reports (pg_stat_archiver). */
export interface ArchiverState {
  archivedCount: number;
  failedCount: number;
  lastArchivedWal: string | null;
  lastFailedWal: string | null;
  lastFailedTime: Date | null;
}

/** Reads pg_stat_archiver. */
export async function archiverState(client: Client): Promise<ArchiverState> {
  const row = (
    await client.query(
      'SELECT archived_count::int AS a, failed_count::int AS f, last_archived_wal AS aw, last_failed_wal AS fw, last_failed_time AS ft FROM pg_stat_archiver',
    )
  ).rows[0];
  return {
    archivedCount: row.a,
    failedCount: row.f,
    lastArchivedWal: row.aw,
    lastFailedWal: row.fw,
    lastFailedTime: row.ft,
  };
}

/** What the archiver did since `before`, in words: the cause to name when WAL does not arrive. */
export function describeArchiver(before: ArchiverState, now: ArchiverState): string {
  const failures = now.failedCount - before.failedCount;
  if (failures > 0)
    return (
      `archive_command failed ${failures} time(s) meanwhile, last for ${now.lastFailedWal} at ` +
      `${now.lastFailedTime?.toISOString() ?? 'an unknown time'} (the server log says why)`
    );
  if (now.archivedCount > before.archivedCount)
    return `the archiver is behind (last archived: ${now.lastArchivedWal})`;
  return 'archive_command neither failed nor succeeded meanwhile: is it hanging?';
}

export interface ArchiveWatchOptions {
  /** The connection to watch from (not the replication connection). */
  client: Client;
  /** A new connection, when that one is lost (closed by the watch when it stops). */
  reconnect: () => Promise<Client>;
  /** The walsender running the backup (its backend pid). */
  backendPid: () => number | undefined;
  timeoutMs: number;
  /** Said once, when the server starts waiting and archive_command has failed since the backup began. */
  onWaiting?: (message: string) => void;
  /** Called with the error when the timeout passes: the caller ends the backup. */
  onTimeout: (err: ArchiveTimeoutError) => void;
  now?: () => number;
}

/** Watches a running base backup until `stop()`; see the module comment. */
export async function watchArchiveWait(opts: ArchiveWatchOptions): Promise<{ stop(): Promise<void> }> {
  const now = opts.now ?? Date.now;
  const start = await archiverState(opts.client);
  let waitingSince: number | undefined;
  let progressAt = 0;
  let archived = start.archivedCount;
  let said = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  // Undefined after a failed look: the next one connects again (a connection ended by the server, or by
  // an administrator's pg_terminate_backend, must not leave the wait unwatched).
  let client: Client | undefined = opts.client;
  const drop = async () => {
    const lost = client;
    client = undefined;
    if (lost && lost !== opts.client) await lost.end().catch(() => undefined);
  };

  const look = async () => {
    const pid = opts.backendPid();
    if (pid === undefined) return;
    client ??= await opts.reconnect();
    const phase = (await client.query('SELECT phase FROM pg_stat_progress_basebackup WHERE pid = $1', [pid]))
      .rows[0]?.phase as string | undefined;
    if (phase !== WAITING_PHASE) return;
    const state = await archiverState(client);
    const t = now();
    if (waitingSince === undefined) {
      waitingSince = t;
      progressAt = t;
    }
    if (state.archivedCount > archived) {
      archived = state.archivedCount;
      progressAt = t;
    }
    if (!said && state.failedCount > start.failedCount) {
      said = true;
      opts.onWaiting?.(
        `the server is waiting for the backup's WAL to be archived: ${describeArchiver(start, state)}`,
      );
    }
    if (t - progressAt < opts.timeoutMs) return;
    stopped = true;
    // The server would go on waiting (and keep a WAL sender) after we close the connection.
    await client.query('SELECT pg_terminate_backend($1)', [pid]).catch(() => undefined);
    opts.onTimeout(
      new ArchiveTimeoutError(
        `the server waited ${Math.round((t - waitingSince) / 1000)} s for the WAL this backup needs to be archived, ` +
          `none was archived for ${Math.round(opts.timeoutMs / 1000)} s (--archive-timeout): ${describeArchiver(start, state)}. ` +
          'The backup was cancelled; nothing was saved.',
      ),
    );
  };
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      // A failed look is tried again on a new connection; the backup itself reports a server gone.
      running = look().catch(drop).finally(schedule);
    }, WATCH_INTERVAL_MS);
  };
  schedule();
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
      if (client !== opts.client) await drop();
    },
  };
}
