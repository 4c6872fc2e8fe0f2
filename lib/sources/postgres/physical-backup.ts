import { KnownBlobs } from '../../repo/known-blobs';
import type { Repository } from '../../repo/repository';
import type { PgBaseBackupInfo, Snapshot, SnapshotRecord } from '../../repo/snapshot';
import type { WorkerPool } from '../../repo/worker-pool';
import { TreeBuilder } from '../tree-builder';
import { WindowSealer } from '../window-sealer';
import { withWriteSession } from '../write-session';
import { manifestWalRange, parseBackupLabel } from './backup-label';
import { takeBaseBackup } from './base-backup-stream';
import { pgSnapshot } from './pg-snapshot';
import { connect, serverFacts } from './server';
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
 * the backup needs is in the WAL archive (the server waits until it is archived), or, when the server
 * does not archive, inside the backup under `base/pg_wal`. Unchanged data files deduplicate against
 * earlier backups through the chunker: they cost hashing, not storage.
 */
export async function backupPostgres(repo: Repository, opts: PgBackupOptions): Promise<PgBackupResult> {
  const started = Date.now();
  const now = opts.now ?? (() => new Date());
  const client = await connect(opts.conninfo);
  let facts: Awaited<ReturnType<typeof serverFacts>>;
  try {
    facts = await serverFacts(client);
  } finally {
    await client.end().catch(() => undefined);
  }
  // Before anything is read: a server of another cluster than the source's is refused (the first backup
  // or WAL file of a source records its cluster).
  await new WalArchive(repo, opts.source).identity.claim(facts.systemId, `the server being backed up`);
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
      const positions = await takeBaseBackupSettled(
        {
          conninfo: opts.conninfo,
          label: `zapas ${opts.source} ${startTime.toISOString()}`,
          includeWal,
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
        () => Promise.allSettled(tars.map((t) => t.ingest.done())),
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

/** Members of base.tar kept in memory on the way: the restore needs to read them. */
const CAPTURED = new Set(['backup_label', 'tablespace_map']);

/** takeBaseBackup, but after a failure the stores already under way end before the error is thrown. */
async function takeBaseBackupSettled(
  req: Parameters<typeof takeBaseBackup>[0],
  settle: () => Promise<unknown>,
): Promise<Awaited<ReturnType<typeof takeBaseBackup>>> {
  try {
    return await takeBaseBackup(req);
  } catch (err) {
    await settle();
    throw err;
  }
}
