import type { Client } from 'pg';
import type { Repository } from '../../repo/repository';
import { archiverState, describeArchiver } from './archive-wait';
import { connect, PgServerError } from './server';
import { WalArchive } from './wal-archive';
import { readSegmentHeader } from './wal-header';

/**
 * `zapas pg check`, as `pgbackrest check`: proves that the server's archive_command delivers into this
 * repository's source now. It makes the server write a record and switch to a new segment, then waits
 * until that segment is in the repository (opened, verified, and of the server's cluster); otherwise it
 * names why, from the archiver's own statistics.
 */

/** Archiving does not work, and why. */
export class ArchiveCheckError extends PgServerError {
  override readonly name = 'ArchiveCheckError';
}

/** How often the repository is looked at while waiting for the segment. */
const CHECK_POLL_MS = 250;

export interface ArchiveCheckOptions {
  source: string;
  conninfo: string;
  timeoutMs: number;
  now?: () => number;
}

export interface ArchiveCheckResult {
  /** The segment the server switched away from, now in the repository. */
  segment: string;
  systemId: string;
  /** From the switch to the segment being in the repository. */
  ms: number;
}

/** Switches WAL on the server and waits for the segment to arrive in `source`; see the module comment. */
export async function checkArchiving(
  repo: Repository,
  opts: ArchiveCheckOptions,
): Promise<ArchiveCheckResult> {
  const now = opts.now ?? Date.now;
  const client = await connect(opts.conninfo);
  try {
    const one = async (sql: string) => (await client.query(sql)).rows[0];
    const mode = (await one('SHOW archive_mode')).archive_mode as string;
    if (mode === 'off')
      throw new ArchiveCheckError(
        'archive_mode is off on the server: it archives no WAL (set archive_mode = on)',
      );
    const systemId = (await one('SELECT system_identifier::text AS id FROM pg_control_system()'))
      .id as string;
    const archive = new WalArchive(repo, opts.source);
    await archive.identity.verify(systemId, 'the server checked');
    const before = await archiverState(client);
    const segment = await switchSegment(client);
    const switched = now();
    const deadline = switched + opts.timeoutMs;
    const objectName = archive.objectName(segment);
    while (!(await repo.storage.head(objectName))) {
      if (now() > deadline) throw notArrived(segment, opts, before, await archiverState(client));
      await new Promise((r) => setTimeout(r, CHECK_POLL_MS));
    }
    const arrived = now() - switched;
    const file = await archive.fetch(segment);
    const header = readSegmentHeader(segment, file!.data);
    if (header.systemId !== systemId)
      throw new ArchiveCheckError(
        `${segment} in source "${opts.source}" is of the cluster with system identifier ${header.systemId}, the server's is ${systemId}`,
      );
    return { segment, systemId, ms: arrived };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Makes the server close its current segment and returns that segment's name. A transaction id is
 * assigned first: with no WAL written since the last switch, pg_switch_wal would not switch, and the
 * segment named would be one archived long ago.
 */
async function switchSegment(client: Client): Promise<string> {
  try {
    await client.query('SELECT pg_current_xact_id()');
    return (await client.query('SELECT pg_walfile_name(pg_switch_wal()) AS name')).rows[0].name;
  } catch (err) {
    const message = (err as Error).message;
    throw new ArchiveCheckError(
      /permission denied/.test(message)
        ? `the role may not switch WAL (${message}): run pg check as a superuser or GRANT EXECUTE ON FUNCTION pg_switch_wal() TO the role`
        : `cannot switch WAL: ${message}`,
      { cause: err },
    );
  }
}

function notArrived(
  segment: string,
  opts: ArchiveCheckOptions,
  before: Awaited<ReturnType<typeof archiverState>>,
  after: Awaited<ReturnType<typeof archiverState>>,
): ArchiveCheckError {
  const within = `within ${Math.round(opts.timeoutMs / 1000)} s (--archive-timeout)`;
  // The server counts it archived, yet it is not here: archive_command writes somewhere else.
  if (
    after.lastArchivedWal !== null &&
    after.lastArchivedWal >= segment &&
    after.failedCount === before.failedCount
  )
    return new ArchiveCheckError(
      `the server archived ${segment} (pg_stat_archiver), but it is not in source "${opts.source}" of this ` +
        'repository: does archive_command use this repository and this --source?',
    );
  return new ArchiveCheckError(
    `${segment} did not reach source "${opts.source}" ${within}: ${describeArchiver(before, after)}`,
  );
}
