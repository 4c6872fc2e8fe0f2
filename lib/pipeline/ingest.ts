/**
 * The ingest stage (encrypt-chunks): exports that platform services drop in a landing bucket become
 * snapshots without passing through a machine of ours.
 * - `acceptLandingObject` (orchestrate): a new landing object under an export source's prefix is a job;
 * - `planIngest` (orchestrate, when the job starts): the object cut into byte ranges, one queue message
 *   each, so that many function instances share a large export;
 * - `ingestPart` (ingest function): one range read, chunked, deduplicated, compressed, encrypted, written
 *   as packs and index (durable before it returns), and its blob list recorded in the catalog;
 * - `commitIngest` (orchestrate, once every part is recorded): the snapshot, then the landing object's
 *   deletion — the plaintext is gone only after the backup of it is committed.
 * Each step is idempotent: a part stored twice stores nothing new (same chunks, same ids), a commit that
 * finds its snapshot already saved (a crash after the save) uses it.
 */
import type { Catalog, IngestPart } from '../catalog/catalog';
import { type Job, type LandingObject, StaleStateError, TERMINAL } from '../catalog/jobs';
import type { BlobId } from '../repo/ids';
import { PROGRAM } from '../repo/program';
import type { Repository } from '../repo/repository';
import type { Snapshot } from '../repo/snapshot';
import { bufferReader, ChunkSealer } from '../sources/chunk-sealer';
import { TreeBuilder } from '../sources/tree-builder';
import { withWriteSession } from '../sources/write-session';
import type { Storage } from '../storage/storage';
import type { SourceConfig, ZapasConfig } from './config/schema';
import { recordBackupSuccess, recordFailure, recordJobInTrail } from './job-outcome';
import { correlationIdOr } from './log-context';
import { LEASE_MS, releaseJob } from './orchestrate';
import type { AuditRecorder } from './service-security';

/** Bytes per part: what one function instance reads, holds and stores in one invocation. */
export const PART_BYTES = 32 * 1024 * 1024;

/** One part of work: a message on the ingest queue. */
export interface IngestWork {
  jobId: string;
  bucket: string;
  key: string;
  index: number;
  offset: number;
  length: number;
  parts: number;
  /** The job's (log-context.ts). */
  correlationId?: string;
}

/** The export source whose landing prefix holds `bucket/key`, if any. */
export function exportSourceOf(config: ZapasConfig, bucket: string, key: string): string | undefined {
  for (const [id, source] of Object.entries(config.sources)) {
    if (source.type !== 'export') continue;
    const m = /^s3:\/\/([^/]+)\/(.*)$/.exec(source.landing);
    if (m && m[1] === bucket && key.startsWith(m[2]!)) return id;
  }
  return undefined;
}

/** The job for a landing object (one per object version), or undefined when no export source owns it. */
export async function acceptLandingObject(
  config: ZapasConfig,
  catalog: Catalog,
  object: LandingObject,
  now: Date,
  source = exportSourceOf(config, object.bucket, object.key),
): Promise<{ job: Job; created: boolean } | undefined> {
  if (!source) return undefined;
  return catalog.createJob(
    {
      kind: 'backup',
      source,
      trigger: { kind: 'object', ref: `s3://${object.bucket}/${object.key}` },
      priority: config.sources[source]!.priority,
      idempotencyKey: `landing:${object.bucket}/${object.key}:${object.etag ?? object.size ?? ''}`,
      input: object,
      correlationId: correlationIdOr(),
    },
    now,
  );
}

/** Byte ranges of `size` bytes, `partBytes` each (the last one shorter); an empty object is one empty part. */
export function planParts(
  size: number,
  partBytes = PART_BYTES,
): { index: number; offset: number; length: number }[] {
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`bad object size ${size}`);
  if (!(partBytes > 0)) throw new RangeError(`bad part size ${partBytes}`);
  const n = Math.max(1, Math.ceil(size / partBytes));
  return Array.from({ length: n }, (_, index) => ({
    index,
    offset: index * partBytes,
    length: Math.min(partBytes, size - index * partBytes),
  }));
}

/**
 * The work of a started export job: its landing object's size looked up (the event may not carry it),
 * the parts not stored yet (a retried job does not redo the others).
 */
export async function planIngest(
  catalog: Catalog,
  job: Job,
  landing: Storage,
  partBytes = PART_BYTES,
): Promise<IngestWork[]> {
  const input = job.input;
  if (!input) throw new Error(`job ${job.id} has no landing object to ingest`);
  const info = await landing.head(input.key);
  if (!info)
    throw new Error(
      `landing object s3://${input.bucket}/${input.key} is not there (deleted before it was backed up?)`,
    );
  const done = new Set((await catalog.listParts(job.id)).map((p) => p.index));
  const parts = planParts(info.size, partBytes);
  return parts
    .filter((p) => !done.has(p.index))
    .map((p) => ({
      jobId: job.id,
      bucket: input.bucket,
      key: input.key,
      parts: parts.length,
      ...p,
      ...(job.correlationId ? { correlationId: job.correlationId } : {}),
    }));
}

export interface IngestDeps {
  config: ZapasConfig;
  catalog: Catalog;
  repo: Repository;
  /** The landing bucket `work.bucket`, as storage. */
  landing: Storage;
  worker: string;
  now?: () => Date;
}

/**
 * Stores one part; says whether the job now has all its parts (then the orchestrator should commit).
 * A part of a job that is not running any more (failed, requeued, done) is skipped.
 */
export async function ingestPart(
  deps: IngestDeps,
  work: IngestWork,
): Promise<{ stored: boolean; complete: boolean }> {
  const now = deps.now ?? (() => new Date());
  const job = await deps.catalog.getJob(work.jobId);
  if (job?.state !== 'running') return { stored: false, complete: false };
  const source = deps.config.sources[job.source];
  if (!source) throw new Error(`source "${job.source}" is no longer in the configuration`);
  // The job's lease lives as long as its parts keep coming.
  await deps.catalog.acquireLease(`source:${job.source}`, job.id, LEASE_MS, now());
  const data = await deps.landing.get(work.key, { offset: work.offset, length: work.length });
  if (data.length !== work.length)
    throw new Error(
      `landing object s3://${work.bucket}/${work.key} gave ${data.length} bytes at ${work.offset}, wanted ${work.length}`,
    );
  const blobs = await withWriteSession(
    deps.repo,
    { dataClass: source.dataClass },
    ({ writer }) =>
      new ChunkSealer(writer, deps.repo.chunker, deps.repo.keyring).store(bufferReader(data), data.length),
    async (ids) => ids,
  );
  const part: IngestPart = {
    jobId: job.id,
    index: work.index,
    of: work.parts,
    offset: work.offset,
    length: work.length,
    blobs,
    worker: deps.worker,
  };
  await deps.catalog.putPart(part);
  const stored = await deps.catalog.listParts(job.id);
  return { stored: true, complete: coveredParts(stored, work.parts) };
}

function coveredParts(parts: readonly IngestPart[], count: number): boolean {
  const seen = new Set(parts.map((p) => p.index));
  for (let i = 0; i < count; i++) if (!seen.has(i)) return false;
  return true;
}

export interface CommitDeps {
  config: ZapasConfig;
  catalog: Catalog;
  repo: Repository;
  landing: Storage;
  now?: () => Date;
  log?: (line: string) => void;
  /** The audit trail: the committed (or failed) backup is recorded. */
  record?: AuditRecorder;
}

/**
 * Commits an export job whose parts are all stored: the snapshot (its blobs checked against the live
 * index first: a part whose packs a purge condemned fails the job rather than commit a snapshot with
 * holes), then the job's success, then the landing object's deletion. Safe to call twice or at once:
 * the running → committing move lets one caller through.
 */
export async function commitIngest(deps: CommitDeps, jobId: string): Promise<Job | undefined> {
  const now = deps.now ?? (() => new Date());
  let job = await deps.catalog.getJob(jobId);
  if (!job || TERMINAL.has(job.state) || job.state === 'queued' || !job.input) return job;
  const source = deps.config.sources[job.source];
  if (!source) throw new Error(`source "${job.source}" is no longer in the configuration`);
  const input = job.input;
  const info = await deps.landing.head(input.key);
  const parts = await deps.catalog.listParts(job.id);
  const expected = parts[0]?.of;
  if (job.state === 'running') {
    if (!info) {
      const failed = await recordFailure(
        deps.catalog,
        job,
        'running',
        `landing object s3://${input.bucket}/${input.key} was deleted before its backup was committed`,
        now,
      );
      await releaseJob(deps.config, deps.catalog, job);
      await recordJobInTrail(deps.record, failed);
      return failed;
    }
    if (expected === undefined || !coveredParts(parts, expected)) return job;
    try {
      job = await deps.catalog.transition(job.id, 'running', 'committing', {}, now());
    } catch (err) {
      if (err instanceof StaleStateError) return deps.catalog.getJob(jobId);
      throw err;
    }
  }
  let done: Job;
  try {
    const snapshotId =
      (await existingSnapshot(deps.repo, job)) ?? (await saveSnapshot(deps, job, source, parts, now));
    done = await recordBackupSuccess(deps.catalog, job, 'committing', source, snapshotId, now);
  } catch (err) {
    done = await recordFailure(deps.catalog, job, 'committing', (err as Error).message, now);
  }
  await releaseJob(deps.config, deps.catalog, job);
  if (done.state === 'succeeded')
    try {
      await deps.landing.delete(input.key);
    } catch (err) {
      deps.log?.(
        `job ${job.id}: committed, but the landing object s3://${input.bucket}/${input.key} could not be deleted: ${(err as Error).message}`,
      );
    }
  // Last: a trail that cannot be written is thrown, the job done (its outcome is in the catalog).
  await recordJobInTrail(deps.record, done);
  return done;
}

/** The snapshot an earlier commit of this job saved before it stopped, if any. */
async function existingSnapshot(repo: Repository, job: Job): Promise<string | undefined> {
  const tag = `job:${job.id}`;
  const found = (await repo.listSnapshots()).find((s) => s.snapshot.tags.includes(tag));
  return found?.id;
}

async function saveSnapshot(
  deps: CommitDeps,
  job: Job,
  source: SourceConfig,
  parts: readonly IngestPart[],
  now: () => Date,
): Promise<string> {
  const input = job.input!;
  const started = Date.now();
  const content = parts.flatMap((p) => p.blobs) as BlobId[];
  const size = parts.reduce((n, p) => n + p.length, 0);
  return withWriteSession(
    deps.repo,
    { dataClass: source.dataClass },
    async ({ writer }) => {
      for (const p of parts)
        for (const id of p.blobs)
          if (!writer.has(id as BlobId))
            throw new Error(
              `part ${p.index} of s3://${input.bucket}/${input.key}: blob ${id.slice(0, 12)} is no longer in the repository (condemned by a purge while the export was ingested); the landing object is kept, back it up again`,
            );
      const tree = new TreeBuilder();
      const mtimeNs = `${BigInt(now().getTime()) * 1_000_000n}`;
      tree.add(
        input.key
          .split('/')
          .filter(Boolean)
          .map((s) => Buffer.from(s)),
        {
          type: 'file',
          mode: 0o600,
          uid: 0,
          gid: 0,
          mtimeNs,
          ctimeNs: mtimeNs,
          inode: '0',
          device: '0',
          links: 1,
          size,
          content,
        },
      );
      return { tree: await tree.save(writer), writer };
    },
    async ({ tree, writer }) => {
      const snapshot: Snapshot = {
        version: 1,
        time: now().toISOString(),
        source: job.source,
        hostname: 'zapas-ingest',
        username: source.type === 'export' ? source.service : 'zapas',
        paths: [`s3://${input.bucket}/${input.key}`],
        tags: [`job:${job.id}`],
        dataClass: source.dataClass,
        tree,
        excludes: [],
        summary: {
          filesNew: 1,
          filesChanged: 0,
          filesUnmodified: 0,
          dirs: 0,
          bytesProcessed: size,
          bytesAdded: writer.stats.bytesAdded,
          blobsAdded: writer.stats.blobsAdded,
          durationMs: Date.now() - started,
          errors: 0,
        },
        program: PROGRAM,
      };
      return deps.repo.saveSnapshot(snapshot);
    },
  );
}
