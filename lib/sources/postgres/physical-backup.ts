import type { Client } from 'pg';
import { KnownBlobs } from '../../repo/known-blobs';
import type { Repository } from '../../repo/repository';
import type { PgBaseBackupInfo, Snapshot, SnapshotRecord } from '../../repo/snapshot';
import type { WorkerPool } from '../../repo/worker-pool';
import { TreeBuilder } from '../tree-builder';
import { WindowSealer } from '../window-sealer';
import { withWriteSession } from '../write-session';
import { DEFAULT_ARCHIVE_TIMEOUT_MS, watchArchiveWait } from './archive-wait';
import { manifestWalRange, parseBackupLabel } from './backup-label';
import { takeBaseBackup } from './base-backup-stream';
import { pgSnapshot } from './pg-snapshot';
import { connect, type ServerFacts, serverFacts } from './server';
import { FileIngest, TarIngest } from './tar-ingest';
import { WalArchive } from './wal-archive';
import { parseLsn, segmentOfLsn } from './wal-names';

/** Tag every base backup carries (and `zapas snapshots --tag pg-base` finds). */
export const PG_BASE_TAG = 'pg-base';

export interface PgBackupOptions {
  source: string;
  conninfo: string;
  type?: 'full' | 'incr';
  tags?: string[];
  dataClass?: string;
  /** Warnings that do not stop the backup (archive_mode off, a damaged old snapshot). */
  onWarning?: (message: string) => void;
  onProgress?: (bytes: number) => void;
  now?: () => Date;
  /** Worker threads that compress and seal the stream's new chunks. */
  pool?: WorkerPool;
  /** Give up when the server has waited this long with no WAL archived (default 60 s). */
  archiveTimeoutMs?: number;
}

export interface PgBackupResult {
  snapshotId: string;
  snapshot: Snapshot;
  parent?: SnapshotRecord;
}

/** The base backups of a source, oldest first. */
export function baseBackupsOf(snapshots: readonly SnapshotRecord[], source: string): SnapshotRecord[] {
  return snapshots
    .filter((s) => s.snapshot.source === source && s.snapshot.postgres?.kind === 'base')
    .sort((a, b) => a.snapshot.time.localeCompare(b.snapshot.time));
}

/**
 * A physical base backup: the server streams its tar archives over the replication protocol
 * (base-backup-stream.ts, what pg_basebackup does) straight into the repository, member by member, as a
 * tree that is the data directory itself (`base/`), each tablespace under `tablespaces/<oid>/`. The WAL
 * the backup needs is in the WAL archive (the server waits until it is archived, and zapas gives up when
 * nothing is archived for `archiveTimeoutMs`, naming what the archiver reports), or, when the server
 * does not archive, inside the backup under `base/pg_wal`. Unchanged data files deduplicate against
 * earlier backups through the chunker: they cost hashing, not storage.
 */
export async function backupPostgres(repo: Repository, opts: PgBackupOptions): Promise<PgBackupResult> {
  const started = Date.now();
  const now = opts.now ?? (() => new Date());
  // This connection stays open to watch the backup wait for its WAL to be archived.
  const client = await connect(opts.conninfo);
  try {
    const facts = await serverFacts(client);
    // Before anything is read: a server of another cluster than the source's is refused (the first backup
    // or WAL file of a source records its cluster).
    await new WalArchive(repo, opts.source).identity.claim(facts.systemId, 'the server being backed up');
    return await backupFrom(repo, opts, facts, client, started, now);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The backup itself, once the server is known and is the source's cluster. */
async function backupFrom(
  repo: Repository,
  opts: PgBackupOptions,
  facts: ServerFacts,
  client: Client,
  started: number,
  now: () => Date,
): Promise<PgBackupResult> {
  if (facts.archiveMode === 'off')
    opts.onWarning?.(
      'archive_mode is off: the backup carries its own WAL (set wal_keep_size high enough for it) and restores to the moment it ended, but not to any later point in time',
    );
  return withWriteSession(
    repo,
    { dataClass: opts.dataClass, onDamage: (o, m) => opts.onWarning?.(`${o}: ${m}`) },
    async ({ writer, snapshots }) => {
      const parent = opts.type === 'incr' ? baseBackupsOf(snapshots, opts.source).at(-1) : undefined;
      const startTime = now();
      const builder = new TreeBuilder();
      let bytes = 0;
      // Workers skip sealing chunks the repository probably holds (most of an incremental's).
      if (opts.pool) writer.known ??= KnownBlobs.fromIndex(repo.index, writer.dataClass);
      const common = {
        sealer: new WindowSealer(writer, repo.chunker, opts.pool),
        builder,
        onBytes: (n: number) => {
          bytes += n;
          opts.onProgress?.(bytes);
        },
      };
      const tars: { name: string; ingest: TarIngest }[] = [];
      let manifestIngest: FileIngest | undefined;
      // Without archiving, the backup carries its own WAL (fetched into base.tar at the end).
      const includeWal = facts.archiveMode === 'off';
      const positions = await takeBaseBackupWatched(
        {
          conninfo: opts.conninfo,
          label: `zapas ${opts.source} ${startTime.toISOString()}`,
          includeWal,
          onNotice: passOn((m) => opts.onWarning?.(`the server says: ${m}`)),
          onArchive: (name) => {
            if (name === 'backup_manifest') {
              manifestIngest = new FileIngest(['base', name], common);
              return manifestIngest;
            }
            const prefix = name === 'base.tar' ? ['base'] : ['tablespaces', name.replace(/\.tar$/, '')];
            const ingest = new TarIngest(name, { ...common, prefix, capture: CAPTURED });
            tars.push({ name, ingest });
            return ingest;
          },
        },
        () => {
          // Members already complete wait in the sealer's current job until it is sent (a failure while
          // the server waits for its WAL comes after the last one). Mid-member, the job cannot be sent.
          if (!common.sealer.midFile) common.sealer.flush();
          return Promise.allSettled(tars.map((t) => t.ingest.done()));
        },
        {
          client,
          conninfo: opts.conninfo,
          timeoutMs: opts.archiveTimeoutMs ?? DEFAULT_ARCHIVE_TIMEOUT_MS,
          onWarning: opts.onWarning,
        },
      );
      const results = await Promise.all(
        tars.map(async (t) => ({ name: t.name, tar: await t.ingest.done() })),
      );
      const manifest = manifestIngest ? await manifestIngest.done() : undefined;
      const base = results.find((r) => r.name === 'base.tar')?.tar;
      const labelText = base?.captured.get('backup_label');
      if (!base || !labelText || !manifest)
        throw new Error('the base backup ended without a base archive, backup_label or backup_manifest');
      const label = parseBackupLabel(labelText.toString('utf8'));
      const wal = manifestWalRange(manifest);
      const stopTime = now();
      const info: PgBaseBackupInfo = {
        kind: 'base',
        type: opts.type ?? 'full',
        systemId: facts.systemId,
        serverVersion: facts.version,
        timeline: positions.timeline || wal.timeline,
        segmentBytes: facts.segmentBytes,
        startLsn: label.startLsn,
        stopLsn: positions.stopLsn || wal.endLsn,
        startWal: label.startWal,
        stopWal: segmentOfLsn(wal.timeline, parseLsn(positions.stopLsn || wal.endLsn), facts.segmentBytes),
        startTime: (label.startTime ?? startTime).toISOString(),
        stopTime: stopTime.toISOString(),
        label: label.label,
        tablespaces: facts.tablespaces,
        walIncluded: includeWal,
      };
      const files = results.reduce((n, r) => n + r.tar.files, 0) + 1;
      return { parent, info, tree: await builder.save(writer), files, bytes, writer };
    },
    async ({ parent, info, tree, files, bytes, writer }) => {
      const snapshot = pgSnapshot({
        source: opts.source,
        time: info.stopTime,
        kindTag: PG_BASE_TAG,
        ...(opts.tags ? { tags: opts.tags } : {}),
        ...(opts.dataClass ? { dataClass: opts.dataClass } : {}),
        ...(parent ? { parent: parent.id } : {}),
        tree,
        files,
        bytes,
        writer,
        startedMs: started,
        postgres: info,
      });
      const snapshotId = await repo.saveSnapshot(snapshot);
      return { snapshotId, snapshot, ...(parent ? { parent } : {}) };
    },
  );
}

/**
 * Which of the server's messages during a backup are worth saying: its warnings, and its notices once
 * it has said it is waiting for WAL to be archived (then "all required WAL segments have been archived"
 * tells the wait is over). Without a wait, that last notice comes at the end of every backup: not said.
 */
function passOn(say: (message: string) => void): (message: string, severity: string) => void {
  let waited = false;
  return (message, severity) => {
    if (/waiting/i.test(message)) waited = true;
    if (waited || severity !== 'NOTICE') say(message);
  };
}

/** Members of base.tar kept in memory on the way: the restore needs to read them. */
const CAPTURED = new Set(['backup_label', 'tablespace_map']);

/**
 * takeBaseBackup, watched from `watch.client` while the server waits for its WAL to be archived (ended with
 * an ArchiveTimeoutError when nothing is archived for the timeout); after a failure the stores already
 * under way end before the error is thrown.
 */
async function takeBaseBackupWatched(
  req: Parameters<typeof takeBaseBackup>[0],
  settle: () => Promise<unknown>,
  watch: {
    client: Client;
    conninfo: string;
    timeoutMs: number;
    onWarning: ((m: string) => void) | undefined;
  },
): Promise<Awaited<ReturnType<typeof takeBaseBackup>>> {
  const abort = new AbortController();
  let backendPid: number | undefined;
  const watcher = await watchArchiveWait({
    client: watch.client,
    reconnect: () => connect(watch.conninfo),
    backendPid: () => backendPid,
    timeoutMs: watch.timeoutMs,
    ...(watch.onWarning ? { onWaiting: watch.onWarning } : {}),
    onTimeout: (err) => abort.abort(err),
  });
  try {
    return await takeBaseBackup({
      ...req,
      signal: abort.signal,
      onConnected: (pid) => {
        backendPid = pid;
      },
    });
  } catch (err) {
    await settle();
    throw abort.signal.aborted ? abort.signal.reason : err;
  } finally {
    await watcher.stop();
  }
}
