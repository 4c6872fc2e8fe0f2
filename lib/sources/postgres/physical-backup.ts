import { hostname } from 'node:os';
import type { Repository } from '../../repo/repository';
import type { PgBaseBackupInfo, Snapshot, SnapshotRecord } from '../../repo/snapshot';
import { PROGRAM, safeUser } from '../files/backup';
import { TreeBuilder } from '../tree-builder';
import { withWriteSession } from '../write-session';
import { manifestWalRange, parseBackupLabel } from './backup-label';
import { takeBaseBackup } from './base-backup-stream';
import { connect, serverFacts } from './server';
import { type IngestResult, ingestFile, ingestTar } from './tar-ingest';
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
      const common = {
        writer,
        chunker: repo.chunker,
        builder,
        onBytes: (n: number) => opts.onProgress?.((bytes += n)),
      };
      const ingests: Promise<{ name: string; tar?: IngestResult; manifest?: Buffer }>[] = [];
      // Without archiving, the backup carries its own WAL (fetched into base.tar at the end).
      const includeWal = facts.archiveMode === 'off';
      const stop = new AbortController();
      const taken = takeBaseBackup({
        conninfo: opts.conninfo,
        signal: stop.signal,
        label: `zapas ${opts.source} ${startTime.toISOString()}`,
        includeWal,
        onArchive: ({ name, stream }) => {
          const ingest = async () => {
            if (name === 'backup_manifest')
              return { name, manifest: await ingestFile(stream, ['base', name], common) };
            const prefix = name === 'base.tar' ? ['base'] : ['tablespaces', name.replace(/\.tar$/, '')];
            return { name, tar: await ingestTar(stream, { ...common, prefix, capture: CAPTURED }) };
          };
          const p = ingest();
          // A reader that fails stops the server's stream: it would wait for that reader forever.
          p.catch((err: Error) => stop.abort(err));
          ingests.push(p);
        },
      });
      const positions = await taken.catch(async (err: Error) => {
        // A reader's own error says more than the stream it stopped.
        const failed = (await Promise.allSettled(ingests)).find((o) => o.status === 'rejected');
        throw stop.signal.aborted && failed ? (failed as PromiseRejectedResult).reason : err;
      });
      const results = await Promise.all(ingests);
      const base = results.find((r) => r.name === 'base.tar')?.tar;
      const manifest = results.find((r) => r.name === 'backup_manifest')?.manifest;
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
      const files = results.reduce((n, r) => n + (r.tar?.files ?? 1), 0);
      return { parent, info, tree: await builder.save(writer), files, bytes, writer };
    },
    async ({ parent, info, tree, files, bytes, writer }) => {
      const snapshot: Snapshot = {
        version: 1,
        time: info.stopTime,
        source: opts.source,
        hostname: hostname(),
        username: safeUser(),
        paths: [],
        tags: [...new Set([PG_BASE_TAG, ...(opts.tags ?? [])])].sort(),
        dataClass: opts.dataClass ?? 'default',
        ...(parent ? { parent: parent.id } : {}),
        tree,
        excludes: [],
        summary: {
          filesNew: files,
          filesChanged: 0,
          filesUnmodified: 0,
          dirs: 0,
          bytesProcessed: bytes,
          bytesAdded: writer.stats.bytesAdded,
          blobsAdded: writer.stats.blobsAdded,
          durationMs: Date.now() - started,
          errors: 0,
        },
        program: PROGRAM,
        postgres: info,
      };
      const snapshotId = await repo.saveSnapshot(snapshot);
      return { snapshotId, snapshot, ...(parent ? { parent } : {}) };
    },
  );
}

/** Members of base.tar kept in memory on the way: the restore needs to read them. */
const CAPTURED = new Set(['backup_label', 'tablespace_map']);
