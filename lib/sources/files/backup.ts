import { hostname, userInfo } from 'node:os';
import { resolve } from 'node:path';
import { BlobWriter } from '../../repo/blob-writer';
import { Lock } from '../../repo/lock';
import { loadCondemned } from '../../repo/prune-marks';
import type { Repository } from '../../repo/repository';
import type { Snapshot, SnapshotRecord } from '../../repo/snapshot';
import { type ArchiveOptions, Archiver } from './archiver';

export const PROGRAM = 'zapas 0.1.0';

export interface FileBackupOptions extends Omit<ArchiveOptions, 'parentTree'> {
  /** Source name; snapshots of one source form one history (parent, retention). */
  source?: string;
  tags?: string[];
  dataClass?: string;
  excludePatterns?: string[];
  /** Damage found in the repository on the way (a snapshot that does not open); the backup goes on. */
  onDamage?: (object: string, message: string) => void;
  now?: () => Date;
}

export interface FileBackupResult {
  snapshotId: string;
  snapshot: Snapshot;
  parent?: SnapshotRecord;
}

/** Default source name: host and the absolute paths, so the same command finds its own parent. */
export function defaultSourceName(paths: readonly string[]): string {
  return `${hostname()}:${[...paths]
    .map((p) => resolve(p))
    .sort()
    .join(',')}`;
}

/**
 * One file backup, in the order of invariant 1: packs, then index objects (BlobWriter.flush), then the
 * snapshot, the commit point. A crash before the snapshot leaves only unreferenced packs and indexes.
 */
export async function backupFiles(
  repo: Repository,
  paths: readonly string[],
  opts: FileBackupOptions = {},
): Promise<FileBackupResult> {
  const started = Date.now();
  const now = opts.now ?? (() => new Date());
  const absolute = [...new Set(paths.map((p) => resolve(p)))].sort();
  const source = opts.source ?? defaultSourceName(absolute);
  // Lock first, then read prune marks, then announce which marks we saw: a prune that lists locks
  // between these steps sees a backup that has not seen its mark, and waits (docs/locking.md).
  const lock = await Lock.acquire(repo, 'backup');
  try {
    const condemned = await loadCondemned(repo);
    await lock.refresh({ sawMarks: condemned.markIds });
    await repo.loadIndex();
    // Packs condemned by prune no longer serve deduplication: their blobs are written again.
    for (const pack of condemned.packs) repo.index.dropPack(pack);
    // A damaged old snapshot must not stop new backups: it is named, and the parent is chosen among
    // the readable ones (`check` reports the damage).
    const readable = await repo.listSnapshots((name, err) => opts.onDamage?.(name, err.message));
    const parent = readable
      .filter((s) => s.snapshot.source === source && sameList(s.snapshot.paths, absolute))
      .at(-1);
    const writer = new BlobWriter(repo, opts.dataClass ?? 'default');
    const archiver = new Archiver(repo, writer, {
      ...opts,
      parentTree: parent?.snapshot.tree,
      ...(parent ? { expectedBytes: parent.snapshot.summary.bytesProcessed } : {}),
    });
    let result: Awaited<ReturnType<Archiver['archive']>>;
    try {
      result = await archiver.archive(absolute);
      await writer.flush();
    } catch (err) {
      await writer.abort();
      throw err;
    }
    const snapshot: Snapshot = {
      version: 1,
      time: now().toISOString(),
      source,
      hostname: hostname(),
      username: safeUser(),
      paths: absolute,
      tags: [...new Set(opts.tags ?? [])].sort(),
      dataClass: opts.dataClass ?? 'default',
      ...(parent ? { parent: parent.id } : {}),
      tree: result.tree,
      excludes: opts.excludePatterns ?? [],
      summary: {
        filesNew: result.filesNew,
        filesChanged: result.filesChanged,
        filesUnmodified: result.filesUnmodified,
        dirs: result.dirs,
        bytesProcessed: result.bytesProcessed,
        bytesAdded: writer.stats.bytesAdded,
        blobsAdded: writer.stats.blobsAdded,
        durationMs: Date.now() - started,
        errors: result.errors,
      },
      program: PROGRAM,
    };
    const snapshotId = await repo.saveSnapshot(snapshot);
    return { snapshotId, snapshot, parent };
  } finally {
    await lock.release();
  }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}
