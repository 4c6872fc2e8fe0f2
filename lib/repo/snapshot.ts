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
