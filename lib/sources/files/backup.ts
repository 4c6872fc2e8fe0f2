import { lstat } from 'node:fs/promises';
import { hostname, userInfo } from 'node:os';
import { resolve } from 'node:path';
import { PROGRAM } from '../../repo/program';
import type { Repository } from '../../repo/repository';
import type { Snapshot, SnapshotRecord } from '../../repo/snapshot';
import { withWriteSession } from '../write-session';
import { type ArchiveOptions, Archiver } from './archiver';
import { SourcePathError } from './errors';

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
  await assertSourcePaths(absolute);
  return withWriteSession(
    repo,
    { dataClass: opts.dataClass, onDamage: opts.onDamage },
    async ({ writer, snapshots }) => {
      const parent = snapshots
        .filter((s) => s.snapshot.source === source && sameList(s.snapshot.paths, absolute))
        .at(-1);
      const archiver = new Archiver(repo, writer, {
        ...opts,
        parentTree: parent?.snapshot.tree,
        ...(parent ? { expectedBytes: parent.snapshot.summary.bytesProcessed } : {}),
      });
      return { parent, result: await archiver.archive(absolute), writer };
    },
    async ({ parent, result, writer }) => {
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
    },
  );
}

/**
 * Refuses source paths that are not there, naming each: a mistyped path must not become an empty
 * snapshot that looks like a backup. lstat, not stat: a symlink given as a path is stored as the link.
 */
export async function assertSourcePaths(paths: readonly string[]): Promise<void> {
  const problems: { path: string; message: string }[] = [];
  for (const path of paths) {
    try {
      await lstat(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      problems.push({
        path,
        message:
          code === 'ENOENT' || code === 'ENOTDIR'
            ? 'does not exist'
            : `cannot be looked at (${code ?? (err as Error).message})`,
      });
    }
  }
  if (problems.length > 0) throw new SourcePathError(problems);
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The user running the backup, for the snapshot (unknown when the system has no name for it). */
export function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}
