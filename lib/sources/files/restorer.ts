import { createReadStream } from 'node:fs';
import {
  chmod,
  type FileHandle,
  lchown,
  link,
  lutimes,
  mkdir,
  open,
  readdir,
  stat,
  symlink,
  truncate,
  utimes,
} from 'node:fs/promises';
import { blobIdOf } from '../../repo/crypto';
import { IntegrityError } from '../../repo/errors';
import type { BlobId } from '../../repo/ids';
import { packObjectName } from '../../repo/pack';
import { ReadBuffers } from '../../repo/read-buffers';
import { mapLimit, type Repository } from '../../repo/repository';
import { linkTargetBytes, nodeNameBytes, type Tree, type TreeNode } from '../../repo/tree';
import { transferOf, WorkerJobError, type WorkerPool } from '../../repo/worker-pool';
import type { ExcludeMatcher } from './excludes';
import { Limiter } from './limiter';
import { ownedAs, SET_GROUP_ID } from './ownership';
import {
  type FileJob,
  type PackWork,
  READ_RUN_MAX_BLOBS,
  READ_RUN_MAX_BYTES,
  RestorePlan,
  readRuns,
} from './restore-plan';
import { nonZeroRanges } from './sparse';
import type { FinishFile, RestoreTarget } from './worker-jobs';

/** Packs fetched and unpacked at once. */
export const PACK_RESTORE_PARALLELISM = 4;

/** The restore target is not usable (not empty, not a directory). */
export class RestoreTargetError extends Error {
  override readonly name = 'RestoreTargetError';
}

/** A restore write failed (full disk, permissions): names the file. */
export class RestoreWriteError extends Error {
  override readonly name = 'RestoreWriteError';
}

export interface RestoreOptions {
  include?: ExcludeMatcher;
  exclude?: ExcludeMatcher;
  /** Re-read each restored file and check every chunk against its blob id. */
  verify?: boolean;
  onProgress?: (p: Readonly<RestoreProgress>) => void;
  onWarning?: (path: string, message: string) => void;
  /** Worker threads that decode blobs and write files (otherwise this thread does). */
  pool?: WorkerPool;
  /** Raw bytes of files planned before they are restored while the walk goes on (PLAN_BATCH_BYTES). */
  planBatchBytes?: number;
}

export interface RestoreProgress {
  files: number;
  dirs: number;
  bytes: number;
}

export interface RestoreResult extends RestoreProgress {
  verifiedFiles: number;
}

type Placed = { node: TreeNode; path: Buffer };

/**
 * Rebuilds a snapshot's tree under `target`: folders (empty ones too), symlinks, hard links, files
 * (sparse where blocks are zero), modes, times and, when run as root, owners. Files are filled pack by
 * pack (restore-plan.ts) and finished — truncated to size, metadata set — when their last blob lands.
 */
export class Restorer {
  private readonly progress: RestoreProgress = { files: 0, dirs: 0, bytes: 0 };
  private readonly finished: Placed[] = [];
  private readonly asRoot = process.getuid?.() === 0;
  /**
   * Who owns what this restore creates, when that is known for sure: this process's user and group,
   * unless the target folder is set-group-ID (then new entries take its group). An entry whose owner
   * is that already needs no chown (20,000 system calls fewer for the benchmark's saves).
   */
  private createdAs: { uid: number; gid: number } | undefined;

  /** Pack runs (with workers) or packs (without) being read and written at once, over all batches. */
  private readonly slots: Limiter;
  /** Buffers the runs are read into, back from the workers after each run. */
  private readonly readBuffers = new ReadBuffers(READ_BUFFER_BYTES, READ_BUFFERS_KEPT);

  constructor(
    private readonly repo: Repository,
    private readonly opts: RestoreOptions = {},
  ) {
    this.slots = new Limiter(opts.pool ? opts.pool.size * RUNS_QUEUED_PER_WORKER : PACK_RESTORE_PARALLELISM);
  }

  /** Restores the tree `root` into the empty (or absent) folder `target`. */
  async restore(root: BlobId, target: string): Promise<RestoreResult> {
    await ensureEmptyTarget(target);
    const targetMode = (await stat(target)).mode;
    this.createdAs =
      (targetMode & SET_GROUP_ID) === 0 && process.geteuid && process.getegid
        ? { uid: process.geteuid(), gid: process.getegid() }
        : undefined;
    const dirs: (Placed & { depth: number })[] = [];
    const inodes = new Map<string, FileJob | Buffer>();
    // Files are restored in batches while the rest of the tree is still being walked: the workers start
    // at once instead of waiting for every folder to be listed (0.6 s of 3.7 for the benchmark's 20,000).
    const filling = new Set<Promise<void>>();
    let failure: unknown;
    // The walk waits while BATCHES_AHEAD batches are unfinished: what is planned (every node of it)
    // stays in memory until restored, and a tree of millions of files must not be planned all at once.
    const submit = async (plan: RestorePlan) => {
      const work = plan.work();
      if (work.length > 0) {
        const task = (this.opts.pool ? this.restoreWithPool(work, this.opts.pool) : this.restorePacks(work))
          .catch((err: unknown) => {
            failure ??= err;
          })
          .finally(() => filling.delete(task));
        filling.add(task);
      }
      while (filling.size >= BATCHES_AHEAD && failure === undefined) await Promise.race(filling);
      if (failure !== undefined) throw failure;
    };
    const walk = { plan: new RestorePlan(this.repo.index), submit, dirs, inodes };
    try {
      await this.placeTree(root, this.repo.loadTree(root), Buffer.from(target), '', 0, walk);
      await submit(walk.plan);
    } finally {
      while (filling.size > 0) await Promise.all(filling);
    }
    if (failure !== undefined) throw failure;
    // Folder metadata last, deepest first: writing inside a folder changes its mtime, and a folder made
    // read-only must not stop its subfolders' metadata. Folders of one depth do not touch each other.
    const byDepth = Map.groupBy(dirs, (d) => d.depth);
    for (const depth of [...byDepth.keys()].sort((a, b) => b - a))
      await mapLimit(byDepth.get(depth)!, METADATA_PARALLELISM, (d) => this.applyMetadata(d.node, d.path));
    let verifiedFiles = 0;
    if (this.opts.verify) {
      for (const f of this.finished) {
        await this.verifyFile(f);
        verifiedFiles++;
      }
    }
    return { ...this.progress, verifiedFiles };
  }

  /**
   * Walks a tree: creates folders and symlinks, plans files, and hands the plan over to be restored each
   * time it holds PLAN_BATCH_BYTES or PLAN_BATCH_FILES. Resolves true when anything was placed.
   */
  private async placeTree(
    treeId: BlobId,
    loading: Promise<Tree>,
    dir: Buffer,
    logical: string,
    depth: number,
    walk: Walk,
  ): Promise<boolean> {
    const tree = await loading;
    // Subtrees are fetched ahead, a few at a time, while this folder's entries are placed; each is
    // taken in tree order (excluded folders too, so the order holds).
    const subtrees = new Prefetch(
      tree.nodes.flatMap((n) => (n.type === 'dir' && n.subtree ? [n.subtree] : [])),
      SUBTREES_AHEAD,
      (id) => this.repo.loadTree(id),
    );
    let any = false;
    for (const node of tree.nodes) {
      const subtree = node.type === 'dir' && node.subtree ? subtrees.take() : undefined;
      const name = nodeNameBytes(node);
      if (name.length === 0 || name.includes(0x2f) || name.equals(DOT) || name.equals(DOTDOT)) {
        throw new IntegrityError(`tree ${treeId}`, 'a node name would escape the target folder');
      }
      const path = Buffer.concat([dir, SLASH, name]);
      const logicalPath = `${logical}/${name.toString('utf8')}`;
      if (this.opts.exclude?.excludes(logicalPath)) continue;
      const included = !this.opts.include || this.opts.include.excludes(logicalPath);
      if (node.type === 'dir') {
        if (included) await this.mkdirOrFail(path);
        const inner =
          node.subtree && subtree
            ? await this.placeTree(node.subtree, subtree, path, logicalPath, depth + 1, walk)
            : false;
        if (!included && !inner) continue;
        if (!included) await this.mkdirOrFail(path);
        walk.dirs.push({ node, path, depth });
        this.progress.dirs++;
        any = true;
        continue;
      }
      if (!included) continue;
      // With --include, folders above a match are not created up front: make them now.
      if (this.opts.include) await this.mkdirOrFail(dir);
      any = true;
      if (node.type === 'symlink') {
        await this.wrap(path, () => symlink(linkTargetBytes(node), path));
        await this.applyMetadata(node, path);
        continue;
      }
      const key = node.links > 1 ? `${node.device}:${node.inode}` : undefined;
      const first = key ? walk.inodes.get(key) : undefined;
      if (first) {
        // A first name restored already (in an earlier batch) is linked now; otherwise once it is done.
        if (Buffer.isBuffer(first)) await this.wrap(path, () => link(first, path));
        else if (first.done) await this.wrap(path, () => link(first.path, path));
        else first.hardlinks.push(path);
        continue;
      }
      const job = walk.plan.addFile(node, path);
      if (key) walk.inodes.set(key, job ?? path);
      if (!job) {
        const handle = await this.wrap(path, () => open(path, 'wx', 0o600));
        await handle.close();
        await this.finishFile(node, path);
      } else if (
        walk.plan.bytes >= (this.opts.planBatchBytes ?? PLAN_BATCH_BYTES) ||
        walk.plan.jobs.length >= PLAN_BATCH_FILES
      ) {
        const full = walk.plan;
        walk.plan = new RestorePlan(this.repo.index);
        await walk.submit(full);
      }
    }
    return any;
  }

  /** Restores packs on this thread (no workers), a few at once. */
  private async restorePacks(work: PackWork[]): Promise<void> {
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
            await this.wrap(job.path, () => writeSparse(h, data, offset));
            this.progress.bytes += data.length;
            if (--job.remaining === 0) {
              await this.wrap(job.path, () => h.truncate(job.size));
              handles.delete(job);
              await h.close();
              await this.applyMetadata(job.node, job.path);
              await this.completed(job.node, job.path, job);
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
  private async restoreWithPool(work: PackWork[], pool: WorkerPool): Promise<void> {
    const runs = work.flatMap((w) =>
      readRuns(w.blobs, READ_RUN_MAX_BYTES, READ_RUN_MAX_BLOBS).map((blobs) => ({ pack: w.pack, blobs })),
    );
    const runsOf = new Map<FileJob, number>();
    for (const run of runs) {
      const seen = new Set<FileJob>();
      for (const b of run.blobs) for (const t of b.targets) seen.add(t.job);
      for (const job of seen) runsOf.set(job, (runsOf.get(job) ?? 0) + 1);
    }
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
            asRoot: this.asRoot,
            createdAs: this.createdAs,
            recycle,
          },
          recycle ? [into.buffer as ArrayBuffer] : transferOf(bytes),
        );
      } catch (err) {
        throw this.workerError(err);
      }
      if (result.buffer) this.readBuffers.give(result.buffer);
      this.progress.bytes += result.bytes;
      for (const job of lastTarget.keys()) await this.completed(job.node, job.path, job);
      const touched = new Set(run.blobs.flatMap((b) => b.targets.map((t) => t.job)));
      for (const job of touched) {
        if (lastTarget.has(job)) continue;
        const left = runsOf.get(job)! - 1;
        runsOf.set(job, left);
        if (left > 0) continue;
        await this.wrap(job.path, () => truncate(job.path, job.size));
        await this.applyMetadata(job.node, job.path);
        await this.completed(job.node, job.path, job);
      }
    });
  }

  /** Bookkeeping once a file is complete on disk: its hard links, the verify list, progress. */
  private async completed(node: TreeNode, path: Buffer, job?: FileJob): Promise<void> {
    // Names added while these links are made are picked up by the same loop (it reads the live list).
    for (const extra of job?.hardlinks ?? []) await this.wrap(extra, () => link(path, extra));
    if (job) job.done = true;
    if (this.opts.verify) this.finished.push({ node, path });
    this.progress.files++;
    this.opts.onProgress?.(this.progress);
  }

  private workerError(err: unknown): Error {
    if (err instanceof WorkerJobError && err.path) {
      const why =
        err.code === 'ENOSPC'
          ? 'no space left on device'
          : err.code === 'EDQUOT'
            ? 'disk quota exceeded'
            : err.message;
      return new RestoreWriteError(`cannot write ${err.path}: ${why}`, { cause: err });
    }
    if (err instanceof WorkerJobError && err.kind === 'IntegrityError')
      return new IntegrityError('pack', err.message, { cause: err });
    return err as Error;
  }

  /** Opens a file for writing: created here when one pack fills it, else created once and reopened. */
  private async openJob(job: FileJob): Promise<FileHandle> {
    if (job.singlePack) return this.wrap(job.path, () => open(job.path, 'wx', 0o600));
    job.created ??= this.wrap(job.path, () => open(job.path, 'wx', 0o600)).then((h) => h.close());
    await job.created;
    return this.wrap(job.path, () => open(job.path, 'r+'));
  }

  private async finishFile(node: TreeNode, path: Buffer): Promise<void> {
    await this.applyMetadata(node, path);
    await this.completed(node, path);
  }

  private async applyMetadata(node: TreeNode, path: Buffer): Promise<void> {
    const ns = BigInt(node.mtimeNs);
    const seconds = Number(ns / 1_000_000_000n) + Number(ns % 1_000_000_000n) / 1e9;
    try {
      if (this.asRoot && !ownedAs(node, this.createdAs)) await lchown(path, node.uid, node.gid);
      if (node.type === 'symlink') {
        await lutimes(path, seconds, seconds);
        return;
      }
      await chmod(path, node.mode);
      await utimes(path, seconds, seconds);
    } catch (err) {
      this.opts.onWarning?.(path.toString('utf8'), `cannot set metadata: ${(err as Error).message}`);
    }
  }

  private async verifyFile({ node, path }: Placed): Promise<void> {
    const content = node.content ?? [];
    let buffered: Buffer = Buffer.alloc(0);
    let i = 0;
    const check = () => {
      while (i < content.length) {
        const id = content[i]!;
        const length = this.repo.index.get(id)!.rawLength;
        if (buffered.length < length) return;
        if (blobIdOf(this.repo.keyring, buffered.subarray(0, length)) !== id) {
          throw new IntegrityError(
            path.toString('utf8'),
            `restored content differs from the snapshot at chunk ${i}`,
          );
        }
        buffered = buffered.subarray(length);
        i++;
      }
    };
    for await (const piece of createReadStream(path, { highWaterMark: 1024 * 1024 })) {
      buffered = buffered.length === 0 ? (piece as Buffer) : Buffer.concat([buffered, piece as Buffer]);
      check();
    }
    check();
    if (i !== content.length || buffered.length !== 0) {
      throw new IntegrityError(path.toString('utf8'), 'restored file length differs from the snapshot');
    }
  }

  private async mkdirOrFail(path: Buffer): Promise<void> {
    await this.wrap(path, () => mkdir(path, { recursive: true, mode: 0o700 }));
  }

  /** Runs a write and turns its failure into a RestoreWriteError naming the file. */
  private async wrap<T>(path: Buffer, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why =
        code === 'ENOSPC'
          ? 'no space left on device'
          : code === 'EDQUOT'
            ? 'disk quota exceeded'
            : (err as Error).message;
      throw new RestoreWriteError(`cannot write ${path.toString('utf8')}: ${why}`, { cause: err });
    }
  }
}

/** Pack runs queued per worker thread. */
export const RUNS_QUEUED_PER_WORKER = 6;

/** Size of the buffers pack runs are read into (a run is at most READ_RUN_MAX_BYTES unless one blob is larger). */
export const READ_BUFFER_BYTES = READ_RUN_MAX_BYTES;
/** Read buffers kept for reuse (half the runs in flight: each spare one is 4 MiB of resident memory). */
const READ_BUFFERS_KEPT = 6;

/** Raw bytes of files planned before they are handed over to be restored while the walk goes on. */
export const PLAN_BATCH_BYTES = 32 * 1024 * 1024;
/**
 * Files planned before they are handed over, whatever their size: planning 8,000 small saves took the walk
 * 0.26 s, long enough for the workers to run dry.
 */
export const PLAN_BATCH_FILES = 1000;
/** Planned batches restored or waiting at once: the walk stays this far ahead of the restore. */
export const BATCHES_AHEAD = 3;
/** Subtrees loaded ahead of the walk, per folder. */
export const SUBTREES_AHEAD = 4;
/** Folders whose metadata is set at once. */
export const METADATA_PARALLELISM = 16;

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

/** The state of a restore's tree walk. */
interface Walk {
  /** Files planned since the last hand-over. */
  plan: RestorePlan;
  /** Hands a plan over to be restored; resolves once the walk may go on. */
  submit(plan: RestorePlan): Promise<void>;
  dirs: (Placed & { depth: number })[];
  /** First name of each multiply-linked inode: its job, or its path once it exists. */
  inodes: Map<string, FileJob | Buffer>;
}

/** Loads keys in order, `ahead` of the one taken last; loads never taken are let go without a warning. */
class Prefetch<K, V> {
  private readonly started: Promise<V>[] = [];
  private taken = 0;

  constructor(
    private readonly keys: readonly K[],
    private readonly ahead: number,
    private readonly load: (key: K) => Promise<V>,
  ) {
    this.fill();
  }

  /** The next key's value. */
  take(): Promise<V> {
    const at = this.taken++;
    this.fill();
    const value = this.started[at];
    if (!value) throw new RangeError('took more than there are keys');
    return value;
  }

  private fill(): void {
    const until = Math.min(this.keys.length, this.taken + this.ahead + 1);
    while (this.started.length < until) {
      const p = this.load(this.keys[this.started.length]!);
      p.catch(() => undefined); // a failure is reported to whoever takes it
      this.started.push(p);
    }
  }
}

function finishOf(job: FileJob): FinishFile {
  const n = job.node;
  return { size: job.size, mode: n.mode, uid: n.uid, gid: n.gid, mtimeNs: n.mtimeNs };
}

const SLASH = Buffer.from('/');
const DOT = Buffer.from('.');
const DOTDOT = Buffer.from('..');

/** The target must be absent or an empty folder: restore never mixes with or overwrites existing data. */
async function ensureEmptyTarget(target: string): Promise<void> {
  try {
    const entries = await readdir(target);
    if (entries.length > 0) {
      throw new RestoreTargetError(
        `target folder ${target} is not empty (${entries.length} entries): restore into an empty or new folder`,
      );
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      await mkdir(target, { recursive: true });
      return;
    }
    if (code === 'ENOTDIR') throw new RestoreTargetError(`target ${target} is not a folder`);
    throw err;
  }
}

/** Writes `data` at `offset`, leaving whole zero blocks as holes. */
async function writeSparse(handle: FileHandle, data: Buffer, offset: number): Promise<void> {
  for (const [start, end] of nonZeroRanges(data))
    await handle.write(data, start, end - start, offset + start);
}
