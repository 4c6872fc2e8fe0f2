/**
 * The catalog on one machine (`zapas serve`, tests): the DynamoDB adapter's semantics in a SQLite database
 * (node:sqlite). Every change is one transaction that takes the write lock first (BEGIN IMMEDIATE), reads,
 * checks and writes, and is durable when the call returns (sqlite-file.ts). So the conditional moves —
 * a job's state, idempotent creates, leases, schedule slots — hold between processes sharing the file as
 * they do between callers in one: a writer waits for another's transaction (a bounded time), never
 * overwrites it. Finished jobs are pruned after the retention period (retention.ts): when opened, and
 * then at most once per PRUNE_INTERVAL_MS, just before the first change after it.
 *
 * Without a file the database is in memory (tests, benchmarks).
 */
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import type { Duration } from '../policy/duration';
import { type Clock, systemClock } from '../repo/clock';
import type { Catalog, Hold, IngestPart, Lease, RecordKind, SourceState, StoredRecord } from './catalog';
import { ensureSchema, vetCatalog } from './embedded-schema';
import {
  type Job,
  type JobPatch,
  type JobState,
  movedJob,
  type NewJob,
  newJobRecord,
  StaleStateError,
} from './jobs';
import { DEFAULT_JOB_RETENTION, pruneBefore } from './retention';
import { openDurable, sqliteFailure } from './sqlite-file';

/** How long a change waits for another process's transaction before it fails. */
export const CATALOG_BUSY_TIMEOUT_MS = 5_000;
/** How often finished jobs past the retention period are deleted, at most. */
export const PRUNE_INTERVAL_MS = 3_600_000;

export interface EmbeddedCatalogOptions {
  clock?: Clock;
  /** How long finished jobs are kept (default DEFAULT_KEEP_FINISHED_JOBS). */
  keepFinishedJobs?: Duration;
  busyTimeoutMs?: number;
}

/** All a catalog holds, as records: what an earlier catalog's file is imported as. */
export interface CatalogRecords {
  jobs: Job[];
  leases: Lease[];
  sources: SourceState[];
  slots: { source: string; schedule: string; slot: string }[];
  holds: Hold[];
  parts: IngestPart[];
}

type Row = Record<string, unknown>;

export class EmbeddedCatalog implements Catalog {
  private readonly clock: Clock;
  private readonly keep: Duration;
  private readonly busyTimeoutMs: number;
  private readonly sql: ReturnType<typeof statements>;
  private lastPruneMs = Number.NEGATIVE_INFINITY;

  private constructor(
    private readonly db: DatabaseSync,
    /** The file, for messages. */
    readonly where: string,
    opts: EmbeddedCatalogOptions,
  ) {
    this.clock = opts.clock ?? systemClock;
    this.keep = opts.keepFinishedJobs ?? DEFAULT_JOB_RETENTION;
    this.busyTimeoutMs = opts.busyTimeoutMs ?? CATALOG_BUSY_TIMEOUT_MS;
    this.write(() => ensureSchema(db, where));
    this.sql = statements(db);
  }

  /** The catalog in `file` (created when missing), or in memory without one; finished jobs past retention are pruned. */
  static async open(file?: string, opts: EmbeddedCatalogOptions = {}): Promise<EmbeddedCatalog> {
    const busy = opts.busyTimeoutMs ?? CATALOG_BUSY_TIMEOUT_MS;
    const db = file ? openDurable(file, busy, (d) => vetCatalog(d, file)) : new DatabaseSync(':memory:');
    let catalog: EmbeddedCatalog;
    try {
      catalog = new EmbeddedCatalog(db, file ?? ':memory:', opts);
    } catch (err) {
      db.close();
      throw err;
    }
    catalog.prune();
    return catalog;
  }

  async createJob(spec: NewJob, now = this.clock.now()): Promise<{ job: Job; created: boolean }> {
    return this.change(() => {
      const job = newJobRecord(spec, now);
      const existing = this.sql.getJob.get(job.id);
      if (existing) return { job: jobOf(existing), created: false };
      this.putJob(job);
      return { job, created: true };
    });
  }

  async getJob(id: string): Promise<Job | undefined> {
    const row = this.read(() => this.sql.getJob.get(id));
    return row ? jobOf(row) : undefined;
  }

  async transition(
    id: string,
    from: JobState,
    to: JobState,
    patch: JobPatch = {},
    now = this.clock.now(),
  ): Promise<Job> {
    return this.change(() => {
      const row = this.sql.getJob.get(id);
      const current = row ? jobOf(row) : undefined;
      if (!current || current.state !== from) throw new StaleStateError(id, from, current?.state);
      const next = movedJob(current, to, patch, now);
      this.putJob(next);
      return next;
    });
  }

  async listJobs(source: string, opts: { limit?: number; state?: JobState } = {}): Promise<Job[]> {
    const rows = this.read(() => this.sql.listJobs.all(source, opts.state ?? null, opts.limit || -1));
    return rows.map(jobOf);
  }

  async acquireLease(
    name: string,
    owner: string,
    ttlMs: number,
    now = this.clock.now(),
  ): Promise<Lease | undefined> {
    const lease: Lease = { name, owner, expiresAt: now.getTime() + ttlMs };
    const taken = this.change(() =>
      changed(this.sql.takeLease.run(name, owner, lease.expiresAt, now.getTime())),
    );
    return taken ? lease : undefined;
  }

  async releaseLease(name: string, owner: string): Promise<void> {
    this.change(() => this.sql.releaseLease.run(name, owner));
  }

  async getSourceState(source: string): Promise<SourceState | undefined> {
    const row = this.read(() => this.sql.getSource.get(source));
    return row ? recordOf<SourceState>(row) : undefined;
  }

  async updateSourceState(source: string, patch: Omit<Partial<SourceState>, 'source'>): Promise<SourceState> {
    const defined = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined));
    return this.change(() => {
      const row = this.sql.getSource.get(source);
      const next: SourceState = { ...(row ? recordOf<SourceState>(row) : {}), ...defined, source };
      this.sql.putSource.run(source, JSON.stringify(next));
      return next;
    });
  }

  async claimScheduleSlot(source: string, schedule: string, slot: string): Promise<boolean> {
    return this.change(() => changed(this.sql.claimSlot.run(source, schedule, slot)));
  }

  async putPart(part: IngestPart): Promise<void> {
    this.change(() => this.sql.putPart.run(part.jobId, part.index, JSON.stringify(part)));
  }

  async listParts(jobId: string): Promise<IngestPart[]> {
    return this.read(() => this.sql.listParts.all(jobId)).map((r) => recordOf<IngestPart>(r));
  }

  async putHold(hold: Hold): Promise<void> {
    this.change(() => this.sql.putHold.run(hold.source, hold.id, JSON.stringify(hold)));
  }

  async listHolds(source: string): Promise<Hold[]> {
    return this.read(() => this.sql.listHolds.all(source)).map((r) => recordOf<Hold>(r));
  }

  async removeHold(source: string, id: string): Promise<boolean> {
    return this.change(() => changed(this.sql.removeHold.run(source, id)));
  }

  async getRecord(kind: RecordKind, key: string): Promise<StoredRecord | undefined> {
    const row = this.read(() => this.sql.getRecord.get(kind, key));
    return row ? { value: recordOf(row), revision: Number(row.revision) } : undefined;
  }

  async putRecord(
    kind: RecordKind,
    key: string,
    value: Record<string, unknown>,
    expected: number,
  ): Promise<boolean> {
    const record = JSON.stringify(value);
    return this.change(() =>
      changed(
        expected === 0
          ? this.sql.addRecord.run(kind, key, record)
          : this.sql.updateRecord.run(kind, key, record, expected),
      ),
    );
  }

  /** Deletes finished jobs (and their parts) that ended before the retention period; says how many. */
  prune(now = this.clock.now()): number {
    const before = pruneBefore(now, this.keep).toISOString();
    const pruned = this.write(() => {
      this.sql.prunePartsOf.run(before);
      return Number(this.sql.pruneJobs.run(before).changes);
    });
    this.lastPruneMs = now.getTime();
    return pruned;
  }

  /**
   * Loads an earlier catalog's records in one transaction and notes `mark` (what they came from), or
   * answers false without writing when the catalog already notes that mark.
   */
  importRecords(records: CatalogRecords, mark: string): boolean {
    return this.write(() => {
      if (this.sql.getMeta.get('imported')?.value === mark) return false;
      for (const job of records.jobs) this.putJob(job);
      for (const l of records.leases) this.sql.putLease.run(l.name, l.owner, l.expiresAt);
      for (const s of records.sources) this.sql.putSource.run(s.source, JSON.stringify(s));
      for (const s of records.slots) this.sql.claimSlot.run(s.source, s.schedule, s.slot);
      for (const h of records.holds) this.sql.putHold.run(h.source, h.id, JSON.stringify(h));
      for (const p of records.parts) this.sql.putPart.run(p.jobId, p.index, JSON.stringify(p));
      this.sql.putMeta.run('imported', mark);
      return true;
    });
  }

  /** The mark of the earlier catalog imported into this one, if any. */
  importedMark(): string | undefined {
    const value = this.read(() => this.sql.getMeta.get('imported'))?.value;
    return typeof value === 'string' ? value : undefined;
  }

  /** Closes the database (its write-ahead log is folded into the file). */
  close(): void {
    if (this.db.isOpen) this.db.close();
  }

  private putJob(job: Job): void {
    this.sql.putJob.run(
      job.id,
      job.source,
      job.state,
      job.createdAt,
      job.endedAt ?? null,
      JSON.stringify(job),
    );
  }

  /**
   * A change, after the periodic prune once its interval has passed. The prune goes first: should it
   * fail, the caller's change has not been made and its error says so truthfully.
   */
  private change<T>(fn: () => T): T {
    if (this.clock.now().getTime() - this.lastPruneMs >= PRUNE_INTERVAL_MS) this.prune();
    return this.write(fn);
  }

  /** `fn` in one transaction that holds the write lock from its start: read, check and write, atomically. */
  private write<T>(fn: () => T): T {
    try {
      this.db.exec('BEGIN IMMEDIATE');
    } catch (err) {
      throw sqliteFailure(err, this.where, this.busyTimeoutMs);
    }
    try {
      const result = fn();
      this.db.exec('COMMIT');
      return result;
    } catch (err) {
      if (this.db.isTransaction) this.db.exec('ROLLBACK');
      throw sqliteFailure(err, this.where, this.busyTimeoutMs);
    }
  }

  private read<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw sqliteFailure(err, this.where, this.busyTimeoutMs);
    }
  }
}

function statements(db: DatabaseSync) {
  const s = (sql: string): StatementSync => db.prepare(sql);
  return {
    getJob: s('SELECT record FROM jobs WHERE id = ?'),
    putJob: s(
      'INSERT OR REPLACE INTO jobs (id, source, state, created_at, ended_at, record) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    // Newest first; ?2 NULL: any state; ?3 -1: no limit (SQLite's LIMIT -1).
    listJobs: s(
      'SELECT record FROM jobs WHERE source = ?1 AND (?2 IS NULL OR state = ?2) ORDER BY created_at DESC, id DESC LIMIT ?3',
    ),
    pruneJobs: s('DELETE FROM jobs WHERE ended_at < ?'),
    prunePartsOf: s('DELETE FROM parts WHERE job_id IN (SELECT id FROM jobs WHERE ended_at < ?)'),
    // Taken when free, expired, or already the caller's (the DynamoDB adapter's condition).
    takeLease: s(
      `INSERT INTO leases (name, owner, expires_at) VALUES (?1, ?2, ?3)
       ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
       WHERE leases.owner = excluded.owner OR leases.expires_at < ?4`,
    ),
    putLease: s('INSERT OR REPLACE INTO leases (name, owner, expires_at) VALUES (?, ?, ?)'),
    releaseLease: s('DELETE FROM leases WHERE name = ? AND owner = ?'),
    getSource: s('SELECT record FROM sources WHERE source = ?'),
    putSource: s('INSERT OR REPLACE INTO sources (source, record) VALUES (?, ?)'),
    // Claimed when newer than the slot on record, once.
    claimSlot: s(
      `INSERT INTO slots (source, schedule, slot) VALUES (?1, ?2, ?3)
       ON CONFLICT (source, schedule) DO UPDATE SET slot = excluded.slot WHERE slots.slot < excluded.slot`,
    ),
    putPart: s('INSERT OR REPLACE INTO parts (job_id, idx, record) VALUES (?, ?, ?)'),
    listParts: s('SELECT record FROM parts WHERE job_id = ? ORDER BY idx'),
    putHold: s('INSERT OR REPLACE INTO holds (source, id, record) VALUES (?, ?, ?)'),
    listHolds: s('SELECT record FROM holds WHERE source = ? ORDER BY id'),
    removeHold: s('DELETE FROM holds WHERE source = ? AND id = ?'),
    getRecord: s('SELECT revision, record FROM records WHERE kind = ? AND key = ?'),
    addRecord: s(
      'INSERT INTO records (kind, key, revision, record) VALUES (?, ?, 1, ?) ON CONFLICT DO NOTHING',
    ),
    updateRecord: s(
      'UPDATE records SET revision = revision + 1, record = ?3 WHERE kind = ?1 AND key = ?2 AND revision = ?4',
    ),
    getMeta: s('SELECT value FROM meta WHERE key = ?'),
    putMeta: s('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)'),
  };
}

function changed(result: { changes: number | bigint }): boolean {
  return Number(result.changes) > 0;
}

function recordOf<T>(row: Row): T {
  return JSON.parse(row.record as string) as T;
}

function jobOf(row: Row): Job {
  return recordOf<Job>(row);
}
