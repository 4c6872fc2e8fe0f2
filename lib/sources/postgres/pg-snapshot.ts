import { hostname } from 'node:os';
import type { BlobId, SnapshotId } from '../../repo/ids';
import { PROGRAM } from '../../repo/program';
import type { PgBaseBackupInfo, PgDumpInfo, Snapshot } from '../../repo/snapshot';
import { safeUser } from '../files/backup';

/** What a PostgreSQL backup (base or dump) knows when it commits. */
export interface PgSnapshotParts {
  source: string;
  time: string;
  /** The tag naming the kind (pg-base, pg-dump); `tags` are added to it. */
  kindTag: string;
  tags?: readonly string[];
  dataClass?: string;
  parent?: SnapshotId;
  tree: BlobId;
  files: number;
  bytes: number;
  writer: { stats: { bytesAdded: number; blobsAdded: number } };
  startedMs: number;
  postgres: PgBaseBackupInfo | PgDumpInfo;
}

/** The snapshot record of a PostgreSQL backup: one tree, every file new, the server's facts in `postgres`. */
export function pgSnapshot(p: PgSnapshotParts): Snapshot {
  return {
    version: 1,
    time: p.time,
    source: p.source,
    hostname: hostname(),
    username: safeUser(),
    paths: [],
    tags: [...new Set([p.kindTag, ...(p.tags ?? [])])].sort(),
    dataClass: p.dataClass ?? 'default',
    ...(p.parent ? { parent: p.parent } : {}),
    tree: p.tree,
    excludes: [],
    summary: {
      filesNew: p.files,
      filesChanged: 0,
      filesUnmodified: 0,
      dirs: 0,
      bytesProcessed: p.bytes,
      bytesAdded: p.writer.stats.bytesAdded,
      blobsAdded: p.writer.stats.blobsAdded,
      durationMs: Date.now() - p.startedMs,
      errors: 0,
    },
    program: PROGRAM,
    postgres: p.postgres,
  };
}
