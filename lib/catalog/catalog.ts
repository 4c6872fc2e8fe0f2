/**
 * The catalog port: job state, leases for mutual exclusion, per-source state (RPO, schedules), legal
 * holds. Two adapters keep the same semantics (test/catalog runs one contract against both): DynamoDB or
 * YDB's document API (dynamo-catalog.ts), and an embedded one for one machine (embedded-catalog.ts).
 * The catalog is an index and the home of job state; the repository stays the truth about backups.
 */
import type { Job, JobPatch, JobState, NewJob } from './jobs';

export interface Lease {
  name: string;
  owner: string;
  /** Epoch milliseconds after which another owner may take it. */
  expiresAt: number;
}

/** What is known per source: the recovery point and the schedule's progress. */
export interface SourceState {
  source: string;
  /** Time of the newest snapshot that succeeded (the recovery point). */
  lastSnapshotAt?: string;
  lastSnapshotId?: string;
  lastJobId?: string;
  lastFailureAt?: string;
  lastError?: string;
  lastVerifiedAt?: string;
  /** The newest verification's verdict and what it found. */
  lastVerifyOk?: boolean;
  lastVerifyDetail?: string;
}

export interface Hold {
  source: string;
  id: string;
  /** Snapshot ids held, or all of the source's when absent. */
  snapshots?: string[];
  reason: string;
  createdBy: string;
  createdAt: string;
}

/** One byte range of an export job's landing object, once its blobs are durable in the repository. */
export interface IngestPart {
  jobId: string;
  index: number;
  /** How many parts the job's object was cut into. */
  of: number;
  offset: number;
  length: number;
  /** The range's content as blob ids, in order. */
  blobs: string[];
  /** Who stored it (a function invocation). */
  worker: string;
}

/**
 * A small record a security feature keeps — a principal's second factor, a lockout, the audit trail's
 * head — with a revision for compare-and-set: 1 for the first write, then one more each time.
 */
export interface StoredRecord {
  value: Record<string, unknown>;
  revision: number;
}

/** The kinds of stored records (one namespace each). */
export const RECORD_KINDS = ['totp', 'lockout', 'audit-head', 'alert'] as const;
export type RecordKind = (typeof RECORD_KINDS)[number];

export interface Catalog {
  /** Creates the job for `spec` unless its idempotency key made one already; says which. */
  createJob(spec: NewJob, now?: Date): Promise<{ job: Job; created: boolean }>;
  getJob(id: string): Promise<Job | undefined>;
  /**
   * Moves a job from `from` to `to` (StaleStateError when it is not in `from` any more,
   * IllegalTransitionError when the machine forbids the move).
   */
  transition(id: string, from: JobState, to: JobState, patch?: JobPatch, now?: Date): Promise<Job>;
  /** A source's jobs, newest first. */
  listJobs(source: string, opts?: { limit?: number; state?: JobState }): Promise<Job[]>;

  /** Takes the lease `name` for `owner` unless someone else holds it unexpired; renews one's own. */
  acquireLease(name: string, owner: string, ttlMs: number, now?: Date): Promise<Lease | undefined>;
  /** Lets the lease go if `owner` still holds it. */
  releaseLease(name: string, owner: string): Promise<void>;

  getSourceState(source: string): Promise<SourceState | undefined>;
  /** Merges `patch` into the source's state. */
  updateSourceState(source: string, patch: Omit<Partial<SourceState>, 'source'>): Promise<SourceState>;
  /**
   * Records that `slot` of `schedule` has its job: true for the first caller only, so two timers firing
   * for the same slot create one job.
   */
  claimScheduleSlot(source: string, schedule: string, slot: string): Promise<boolean>;

  /** Records a stored part (the same part twice: the later record wins; its blobs are the same). */
  putPart(part: IngestPart): Promise<void>;
  /** The job's stored parts, by index. */
  listParts(jobId: string): Promise<IngestPart[]>;

  putHold(hold: Hold): Promise<void>;
  listHolds(source: string): Promise<Hold[]>;
  removeHold(source: string, id: string): Promise<boolean>;

  getRecord(kind: RecordKind, key: string): Promise<StoredRecord | undefined>;
  /**
   * Writes `value` as the record's next revision when its stored revision is `expected` (0: no record
   * yet); false, writing nothing, when another writer got there first.
   */
  putRecord(
    kind: RecordKind,
    key: string,
    value: Record<string, unknown>,
    expected: number,
  ): Promise<boolean>;
}
