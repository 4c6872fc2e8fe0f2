import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { IntegrityError } from '../../repo/errors';
import { packObjectName } from '../../repo/pack';
import { ReadBuffers } from '../../repo/read-buffers';
import type { Repository } from '../../repo/repository';
import { transferOf, WorkerJobError, type WorkerPool } from '../../repo/worker-pool';
import { Limiter } from './limiter';
import {
  applyFileMetadata,
  type MetadataSettings,
  RestoreWriteError,
  writeFailure,
  writing,
} from './restore-io';
import {
  type FileJob,
  type PackWork,
  READ_RUN_MAX_BLOBS,
  READ_RUN_MAX_BYTES,
  readRuns,
} from './restore-plan';
import { nonZeroRanges } from './sparse';
import { CREATE_FLAGS, REOPEN_FLAGS, type TargetTree } from './target-dir';
import type { FinishFile, RestoreTarget } from './worker-jobs';

/** Packs fetched and unpacked at once. */
export const PACK_RESTORE_PARALLELISM = 4;

export interface PackFillerOptions {
  /** Worker threads that decode blobs and write files (otherwise this thread does). */
  pool?: WorkerPool;
  settings: MetadataSettings;
  /** The restore's folders: entry paths in workers' errors are named by them. */
  folders: TargetTree;
  /** Called once a file is complete on disk (written, truncated, metadata set, closed). */
  completed(job: FileJob): Promise<void>;
}

/**
 * Fills planned files from packs: each pack read in as few ranged requests as the plan allows, blobs
 * decoded and written at their offsets (on this thread, or by worker threads), each file finished once
 * its last blob is in. Files are opened only through their folders' descriptors, never following links.
 */
export class PackFiller {
  /** Raw bytes written. */
  bytes = 0;
  /** Pack runs (with workers) or packs (without) being read and written at once, over all batches. */
  private readonly slots: Limiter;
  /** Buffers the runs are read into, back from the workers after each run. */
  private readonly readBuffers = new ReadBuffers(READ_BUFFER_BYTES, READ_BUFFERS_KEPT);

  constructor(
    private readonly repo: Repository,
    private readonly opts: PackFillerOptions,
  ) {
    this.slots = new Limiter(opts.pool ? opts.pool.size * RUNS_QUEUED_PER_WORKER : PACK_RESTORE_PARALLELISM);
  }

  private get settings(): MetadataSettings {
    return this.opts.settings;
  }

  /** Fills the files of one planned batch. */
  fill(work: PackWork[]): Promise<void> {
    return this.opts.pool ? this.fillWithPool(work, this.opts.pool) : this.fillHere(work);
  }

  /** Restores packs on this thread (no workers), a few at once. */
  private async fillHere(work: PackWork[]): Promise<void> {
    await forEachLimited(this.slots, work, (w) => this.restorePack(w));
  }

  private async restorePack(work: PackWork): Promise<void> {
    const packName = packObjectName(work.pack);
    // Open files live for the whole pack, not one run: a file's blobs may sit in two runs of it (blobs of
    // files restored in another batch, or not at all, lie between them), and a file this pack alone fills
    // is created exclusively, once.
    const handles = new Map<FileJob, Promise<FileHandle>>();
    try {
      for (const run of readRuns(work.blobs)) {
        const start = run[0]!.offset;
        const last = run[run.length - 1]!;
        const bytes = await this.repo.storage.get(packName, {
          offset: start,
          length: last.offset + last.length - start,
        });
        for (const blob of run) {
          const sealed = bytes.subarray(blob.offset - start, blob.offset - start + blob.length);
          const data = await this.repo.openBlob(blob.id, sealed, blob, packName);
          for (const { job, offset } of blob.targets) {
            let handle = handles.get(job);
            if (!handle) {
              handle = this.openJob(job);
              handles.set(job, handle);
            }
            const h = await handle;
            await writing(displayOf(job), () => writeSparse(h, data, offset));
            this.bytes += data.length;
            if (--job.remaining === 0) {
              handles.delete(job);
              try {
                await writing(displayOf(job), () => h.truncate(job.size));
                await applyFileMetadata(h, job.node, displayOf(job), this.settings);
              } finally {
                await h.close();
              }
              await this.opts.completed(job);
            }
          }
        }
      }
    } finally {
      for (const h of handles.values()) await (await h).close();
    }
  }

  /**
   * Restores with worker threads: this thread reads each run of a pack and hands it to a worker that
   * decodes and writes. A file whose blobs all sit in one run is finished by that worker; a larger file
   * is finished here once every run that fills it is done.
   */
  private async fillWithPool(work: PackWork[], pool: WorkerPool): Promise<void> {
    const runs = work.flatMap((w) =>
      readRuns(w.blobs, READ_RUN_MAX_BYTES, READ_RUN_MAX_BLOBS).map((blobs) => ({ pack: w.pack, blobs })),
    );
    // How many runs fill each file, fixed before any starts (whether one run alone fills it must not
    // change as runs finish: a later run of a file would take it for its own and create it again), and
    // how many of them are still to finish.
    const runsOf = new Map<FileJob, number>();
    for (const run of runs) {
      const seen = new Set<FileJob>();
      for (const b of run.blobs) for (const t of b.targets) seen.add(t.job);
      for (const job of seen) runsOf.set(job, (runsOf.get(job) ?? 0) + 1);
    }
    const runsLeft = new Map(runsOf);
    // One limit for every batch: batches planned while earlier ones are restored queue behind them.
    await forEachLimited(this.slots, runs, async (run) => {
      const packName = packObjectName(run.pack);
      const start = run.blobs[0]!.offset;
      const last = run.blobs[run.blobs.length - 1]!;
      const length = last.offset + last.length - start;
      const into = this.readBuffers.take(length);
      const bytes = await this.repo.storage.get(packName, { offset: start, length }, { into });
      const recycle = into !== undefined && bytes.buffer === into.buffer;
      // A storage that read into memory of its own (S3) left the buffer untouched: keep it for the next run.
      if (into && !recycle) this.readBuffers.give(into.buffer as ArrayBuffer);
      const lastTarget = new Map<FileJob, RestoreTarget>();
      const blobs = run.blobs.map((b) => ({
        id: b.id,
        offset: b.offset,
        length: b.length,
        rawLength: b.rawLength,
        compression: b.compression,
        targets: b.targets.map(({ job, offset }) => {
          const target: RestoreTarget = { path: job.path, offset };
          if (runsOf.get(job) === 1) lastTarget.set(job, target);
          return target;
        }),
      }));
      for (const [job, target] of lastTarget) target.finish = finishOf(job);
      // A file of several runs is made here before its first run is written (workers only open it).
      for (const b of run.blobs)
        for (const { job } of b.targets) if (!lastTarget.has(job)) await this.created(job);
      let result: { bytes: number; buffer?: ArrayBuffer };
      try {
        // Transferred when the read owns its memory (the worker decodes it in place), else cloned; a
        // reused read buffer comes back with the result.
        result = await pool.run<{ bytes: number; buffer?: ArrayBuffer }>(
          {
            op: 'restore',
            packName,
            start,
            bytes,
            blobs,
            asRoot: this.settings.asRoot,
            createdAs: this.settings.createdAs,
            recycle,
          },
          recycle ? [into.buffer as ArrayBuffer] : transferOf(bytes),
        );
      } catch (err) {
        throw this.workerError(err);
      }
      if (result.buffer) this.readBuffers.give(result.buffer);
      this.bytes += result.bytes;
      for (const job of lastTarget.keys()) await this.opts.completed(job);
      const touched = new Set(run.blobs.flatMap((b) => b.targets.map((t) => t.job)));
      for (const job of touched) {
        if (lastTarget.has(job)) continue;
        const left = runsLeft.get(job)! - 1;
        runsLeft.set(job, left);
        if (left > 0) continue;
        const handle = await writing(displayOf(job), () => open(job.path, REOPEN_FLAGS));
        try {
          await writing(displayOf(job), () => handle.truncate(job.size));
          await applyFileMetadata(handle, job.node, displayOf(job), this.settings);
        } finally {
          await handle.close();
        }
        await this.opts.completed(job);
      }
    });
  }

  private workerError(err: unknown): Error {
    if (err instanceof WorkerJobError && err.path) {
      const why = err.code ? writeFailure(err) : err.message;
      const path = this.opts.folders.displayOf(err.path);
      return new RestoreWriteError(`cannot write ${path}: ${why}`, { cause: err });
    }
    if (err instanceof WorkerJobError && err.kind === 'IntegrityError')
      return new IntegrityError('pack', err.message, { cause: err });
    return err as Error;
  }

  /** Opens a file for writing: created here when one pack fills it, else created once and reopened. */
  private async openJob(job: FileJob): Promise<FileHandle> {
    const display = displayOf(job);
    if (job.singlePack) return writing(display, () => open(job.path, CREATE_FLAGS, 0o600));
    await this.created(job);
    return writing(display, () => open(job.path, REOPEN_FLAGS));
  }

  /** Creates a file that several packs or runs fill, exclusively and once, before any of them writes. */
  private created(job: FileJob): Promise<void> {
    job.created ??= writing(displayOf(job), () => open(job.path, CREATE_FLAGS, 0o600)).then((h) => h.close());
    return job.created;
  }
}

function displayOf(job: FileJob): string {
  return job.dir.displayOf(job.name);
}

/** Pack runs queued per worker thread. */
export const RUNS_QUEUED_PER_WORKER = 6;

/** Size of the buffers pack runs are read into (a run is at most READ_RUN_MAX_BYTES unless one blob is larger). */
export const READ_BUFFER_BYTES = READ_RUN_MAX_BYTES;
/** Read buffers kept for reuse (half the runs in flight: each spare one is 4 MiB of resident memory). */
const READ_BUFFERS_KEPT = 6;

/** Runs `fn` on every item, as many at once as `slots` allows; the first failure is thrown once all end. */
async function forEachLimited<T>(
  slots: Limiter,
  items: readonly T[],
  fn: (item: T) => Promise<void>,
): Promise<void> {
  const outcomes = await Promise.allSettled(items.map((item) => slots.run(() => fn(item))));
  const failed = outcomes.find((o) => o.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
}

function finishOf(job: FileJob): FinishFile {
  const n = job.node;
  return { size: job.size, mode: n.mode, uid: n.uid, gid: n.gid, mtimeNs: n.mtimeNs };
}

/** Writes `data` at `offset`, leaving whole zero blocks as holes. */
async function writeSparse(handle: FileHandle, data: Buffer, offset: number): Promise<void> {
  for (const [start, end] of nonZeroRanges(data))
    await handle.write(data, start, end - start, offset + start);
}
