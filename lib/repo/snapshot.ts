import type { BlobId, SnapshotId } from './ids';

/** Folder of snapshot manifests. */
export const SNAPSHOTS_PREFIX = 'snapshots/';

/** Totals of one backup run, kept in its snapshot. */
export interface SnapshotSummary {
  filesNew: number;
  filesChanged: number;
  filesUnmodified: number;
  dirs: number;
  bytesProcessed: number;
  /** Bytes written to storage (after compression and encryption), packs and metadata. */
  bytesAdded: number;
  blobsAdded: number;
  durationMs: number;
  /** Files that could not be read (the snapshot lacks or has partial copies of them). */
  errors: number;
}

/**
 * What a PostgreSQL base backup records beside its tree (docs/format.md §7): enough to choose the backup
 * for a recovery target, write recovery settings, and check WAL against the cluster it came from.
 */
export interface PgBaseBackupInfo {
  kind: 'base';
  /** full or incr, as asked (every base backup is complete in itself; incr names its parent). */
  type: 'full' | 'incr';
  systemId: string;
  serverVersion: number;
  timeline: number;
  segmentBytes: number;
  /** LSNs as PostgreSQL writes them ("0/2000028"), and the WAL files that hold them. */
  startLsn: string;
  stopLsn: string;
  startWal: string;
  stopWal: string;
  /** When the backup began (backup_label) and when zapas saw it end: the earliest restorable moment. */
  startTime: string;
  stopTime: string;
  label: string;
  tablespaces: { oid: number; name: string; location: string }[];
  /** The WAL from start to stop is inside the backup (pg_basebackup -X stream), under base/pg_wal. */
  walIncluded: boolean;
}

/** A logical backup (pg_dump directory format) of one database. */
export interface PgDumpInfo {
  kind: 'dump';
  database: string;
  serverVersion: number;
  excludedTables: string[];
  excludedTableData: string[];
}

/** A snapshot manifest: writing it is the commit point of a backup. */
export interface Snapshot {
  version: 1;
  time: string;
  source: string;
  hostname: string;
  username: string;
  paths: string[];
  tags: string[];
  dataClass: string;
  parent?: SnapshotId;
  tree: BlobId;
  excludes: string[];
  summary: SnapshotSummary;
  program: string;
  /** Set for PostgreSQL sources: what kind of backup the tree holds. */
  postgres?: PgBaseBackupInfo | PgDumpInfo;
}

/** A snapshot with its id (the SHA-256 of its stored bytes). */
export interface SnapshotRecord {
  readonly id: SnapshotId;
  readonly snapshot: Snapshot;
}

/** Storage name of a snapshot. */
export function snapshotObjectName(id: SnapshotId): string {
  return SNAPSHOTS_PREFIX + id;
}
