import { chmod, chown, lchown, readdir, symlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { IntegrityError } from '../../repo/errors';
import type { BlobId } from '../../repo/ids';
import { Lock } from '../../repo/lock';
import type { Repository } from '../../repo/repository';
import type { PgBaseBackupInfo, SnapshotRecord } from '../../repo/snapshot';
import {
  describeFilter,
  isEmptyFilter,
  matchesFilter,
  type SnapshotFilter,
} from '../../repo/snapshot-filter';
import { nodeDisplayName, type TreeNode } from '../../repo/tree';
import type { WorkerPool } from '../../repo/worker-pool';
import { Restorer, RestoreTargetError } from '../files/restorer';
import { DataDirEntryError, entryOwner, folderEntry, readEntry, writeEntry } from './data-dir-files';
import { baseBackupsOf } from './physical-backup';
import {
  type ArchiveMode,
  recoveryLines,
  type TargetAction,
  writeRecoverySettings,
} from './recovery-settings';
import { archiveEndOf, chooseBaseBackup, type RecoveryTarget, RecoveryTargetError } from './recovery-target';
import { WalArchive } from './wal-archive';

export interface PgRestoreOptions {
  source: string;
  /** The new data directory: absent or empty. */
  target: string;
  /** A snapshot id (prefix) or "latest"; "latest" with a time or LSN target means the newest that fits. */
  snapshot?: string;
  /** Tags, host, paths: which of the source's base backups "latest" chooses among. */
  filter?: SnapshotFilter;
  recoveryTarget: RecoveryTarget;
  action: TargetAction;
  /** Whether the restored server archives (off: it does not push into the source; see ArchiveMode). */
  archiveMode: ArchiveMode;
  /** restore_command for the restored server (zapas pg wal-fetch with this repository). */
  restoreCommand: string;
  /** Tablespace OID (or old location) → new location; others go back where they were. */
  tablespaceMapping?: ReadonlyMap<string, string>;
  pool?: WorkerPool;
  onProgress?: (bytes: number) => void;
}

export interface PgRestoreResult {
  snapshotId: string;
  info: PgBaseBackupInfo;
  settings: string[];
  tablespaces: { oid: number; location: string }[];
  /** Bytes of file data written. */
  bytes: number;
}

/**
 * Restores a base backup into a new data directory (and its tablespaces into theirs) and writes the
 * recovery settings, so that starting postgres there replays WAL from the zapas archive up to the
 * target. Every check (the target is reachable, the folders are empty) comes before anything is written.
 */
export async function restorePostgres(repo: Repository, opts: PgRestoreOptions): Promise<PgRestoreResult> {
  const lock = await Lock.acquire(repo, 'shared');
  try {
    const snapshots = await repo.listSnapshots();
    const filter = opts.filter ?? {};
    const bases = baseBackupsOf(snapshots, opts.source).filter((s) => matchesFilter(s.snapshot, filter));
    if (bases.length === 0 && !isEmptyFilter(filter))
      throw new RecoveryTargetError(
        `no base backup of source "${opts.source}" matching ${describeFilter(filter)}`,
      );
    const archive = new WalArchive(repo, opts.source);
    const end = archiveEndOf(await archive.list());
    const lastArchivedAt = end.lastSegment ? (await archive.fetch(end.lastSegment))?.archivedAt : undefined;
    let candidates: SnapshotRecord[] = bases;
    if (opts.snapshot && opts.snapshot !== 'latest') {
      const chosen = await repo.findSnapshot(opts.snapshot, filter);
      if (chosen.snapshot.source !== opts.source || chosen.snapshot.postgres?.kind !== 'base')
        throw new RecoveryTargetError(
          `snapshot ${chosen.id.slice(0, 8)} is not a base backup of source "${opts.source}"`,
        );
      candidates = [chosen];
    }
    const chosen = chooseBaseBackup(candidates, opts.recoveryTarget, {
      ...end,
      ...(lastArchivedAt ? { lastArchivedAt } : {}),
    });
    const info = chosen.snapshot.postgres;
    const target = resolve(opts.target);
    const tablespaces = info.tablespaces.map((t) => ({
      oid: t.oid,
      from: t.location,
      location: resolve(
        opts.tablespaceMapping?.get(String(t.oid)) ?? opts.tablespaceMapping?.get(t.location) ?? t.location,
      ),
    }));
    for (const folder of [target, ...tablespaces.map((t) => t.location)]) await refuseNonEmpty(folder);

    await repo.loadIndex();
    const root = await repo.loadTree(chosen.snapshot.tree);
    const base = subtreeOf(root.nodes, 'base', chosen.id);
    const restorerOpts = { ...(opts.pool ? { pool: opts.pool } : {}) };
    let bytes = 0;
    const restorer = () =>
      new Restorer(repo, {
        ...restorerOpts,
        onProgress: (p) => opts.onProgress?.(bytes + p.bytes),
      });
    const restored = await restorer().restore(base, target);
    bytes += restored.bytes;
    if (tablespaces.length > 0) {
      const spaces = await repo.loadTree(subtreeOf(root.nodes, 'tablespaces', chosen.id));
      for (const t of tablespaces) {
        const r = await restorer().restore(subtreeOf(spaces.nodes, String(t.oid), chosen.id), t.location);
        bytes += r.bytes;
        await ownLikeDataDir(target, t.location);
      }
      await rewriteTablespaceMap(target, tablespaces);
      await linkTablespaces(target, tablespaces);
    }
    await ownLikeDataDir(target, target);
    const settings = recoveryLines(opts.restoreCommand, opts.recoveryTarget, opts.action, opts.archiveMode);
    await writeRecoverySettings(target, settings);
    return {
      snapshotId: chosen.id,
      info,
      settings,
      tablespaces: tablespaces.map(({ oid, location }) => ({ oid, location })),
      bytes,
    };
  } finally {
    await lock.release();
  }
}

function subtreeOf(nodes: readonly TreeNode[], name: string, snapshot: string): BlobId {
  const node = nodes.find((n) => nodeDisplayName(n) === name && n.type === 'dir');
  if (!node?.subtree)
    throw new IntegrityError(
      `snapshot ${snapshot.slice(0, 8)}`,
      `has no ${name}/ folder: not a base backup tree`,
    );
  return node.subtree;
}

async function refuseNonEmpty(folder: string): Promise<void> {
  try {
    const entries = await readdir(folder);
    if (entries.length > 0)
      throw new RestoreTargetError(
        `${folder} is not empty (${entries.length} entries): a data directory or tablespace is restored only into an empty or new folder`,
      );
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    if ((err as NodeJS.ErrnoException).code === 'ENOTDIR')
      throw new RestoreTargetError(`${folder} is not a folder`);
    throw err;
  }
}

/**
 * postgres starts only on a data directory that is its own and private (0700): the folder takes the owner
 * of the backup's PG_VERSION file (restored with its owner when run as root) and mode 0700.
 */
async function ownLikeDataDir(dataDir: string, folder: string): Promise<void> {
  const owner = await entryOwner(join(dataDir, 'PG_VERSION'));
  if (owner && process.getuid?.() === 0) await chown(folder, owner.uid, owner.gid);
  await chmod(folder, 0o700);
}

/**
 * pg_tblspc/<oid> links to each tablespace's folder, as in a plain-format base backup: tools that read the
 * data directory (pg_verifybackup) find the tablespaces, and postgres, which recreates the links from
 * tablespace_map when it starts, makes the same ones.
 */
async function linkTablespaces(
  dataDir: string,
  tablespaces: readonly { oid: number; location: string }[],
): Promise<void> {
  const dir = join(dataDir, 'pg_tblspc');
  // A pg_tblspc of the snapshot that links elsewhere would get the links there.
  await folderEntry(dir);
  const owner = await entryOwner(join(dataDir, 'PG_VERSION'));
  for (const t of tablespaces) {
    const link = join(dir, String(t.oid));
    // symlink(2) never follows an entry of that name: one the snapshot holds is EEXIST, not replaced.
    await symlink(t.location, link).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
      throw new DataDirEntryError(
        `${link} is in the restored snapshot already: refused (pg restore makes the tablespace links itself)`,
      );
    });
    if (owner && process.getuid?.() === 0) await lchown(link, owner.uid, owner.gid);
  }
}

/** tablespace_map names each tablespace's folder; moved ones get their new place. */
async function rewriteTablespaceMap(
  dataDir: string,
  tablespaces: readonly { oid: number; from: string; location: string }[],
): Promise<void> {
  const file = join(dataDir, 'tablespace_map');
  const text = await readEntry(file);
  if (text === undefined) return;
  const moved = new Map(tablespaces.map((t) => [String(t.oid), t.location]));
  const lines = text
    .split('\n')
    .map((line) => {
      const m = /^(\d+) (.*)$/.exec(line);
      return m && moved.has(m[1]!) ? `${m[1]} ${moved.get(m[1]!)}` : line;
    })
    .join('\n');
  await writeEntry(file, lines);
}
