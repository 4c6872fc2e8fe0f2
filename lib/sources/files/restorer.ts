import { link, lstat, mkdir, open, stat, symlink } from 'node:fs/promises';
import { blobIdOf } from '../../repo/crypto';
import { IntegrityError } from '../../repo/errors';
import type { BlobId } from '../../repo/ids';
import type { Repository } from '../../repo/repository';
import { linkTargetBytes, nodeNameBytes, type Tree, type TreeNode } from '../../repo/tree';
import type { WorkerPool } from '../../repo/worker-pool';
import type { ExcludeMatcher } from './excludes';
import { SET_GROUP_ID } from './ownership';
import { PackFiller } from './pack-filler';
import {
  applyFileMetadata,
  applyLinkMetadata,
  type MetadataSettings,
  RestoreWriteError,
  writing,
} from './restore-io';
import { type EntryName, type FileJob, RestorePlan } from './restore-plan';
import {
  CREATE_FLAGS,
  MAX_OPEN_DIRS,
  READ_FLAGS,
  RestoreTargetError,
  type TargetDir,
  TargetTree,
  UnsafeTargetError,
} from './target-dir';

export { RestoreTargetError, RestoreWriteError, UnsafeTargetError };

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
  /** What is restored, for messages about a damaged tree (e.g. `snapshot 1a2b3c4d`). */
  label?: string;
}

export interface RestoreProgress {
  files: number;
  dirs: number;
  bytes: number;
}

export interface RestoreResult extends RestoreProgress {
  verifiedFiles: number;
}

/**
 * Rebuilds a snapshot's tree under `target`: folders (empty ones too), symlinks, hard links, files
 * (sparse where blocks are zero), modes, times and, when run as root, owners. Files are filled pack by
 * pack (restore-plan.ts) and finished — truncated to size, metadata set — when their last blob lands.
 *
 * Nothing is written outside `target`, whatever the snapshot holds: every entry is created through the
 * descriptor of a folder this restore made (target-dir.ts), files exclusively and without following
 * links, metadata is set on the entry itself (through its descriptor, or lchown/lutimes for a symlink),
 * and hard links point only at files this restore created. Trees whose names repeat or could leave their
 * folder are refused when they are read (decodeTree).
 */
export class Restorer {
  private readonly progress: RestoreProgress = { files: 0, dirs: 0, bytes: 0 };
  private verifiedFiles = 0;
  private settings: MetadataSettings = { asRoot: process.getuid?.() === 0 };
  private folders: TargetTree | undefined;

  constructor(
    private readonly repo: Repository,
    private readonly opts: RestoreOptions = {},
  ) {}

  /** Restores the tree `root` into the empty (or absent) folder `target`. */
  async restore(root: BlobId, target: string): Promise<RestoreResult> {
    await makeTargetFolder(target);
    const targetMode = (await stat(target)).mode;
    // Who owns what this restore creates, when that is known for sure: this process's user and group,
    // unless the target folder is set-group-ID (then new entries take its group). An entry whose owner
    // is that already needs no chown (20,000 system calls fewer for the benchmark's saves).
    const createdAs =
      (targetMode & SET_GROUP_ID) === 0 && process.geteuid && process.getegid
        ? { uid: process.geteuid(), gid: process.getegid() }
        : undefined;
    this.settings = {
      ...this.settings,
      ...(createdAs ? { createdAs } : {}),
      ...(this.opts.onWarning ? { onWarning: this.opts.onWarning } : {}),
    };
    const folders = new TargetTree(target, this.settings);
    this.folders = folders;
    const filler = new PackFiller(this.repo, {
      ...(this.opts.pool ? { pool: this.opts.pool } : {}),
      settings: this.settings,
      folders,
      completed: (job) => this.completed(job.node, job, job),
    });
    const inodes = new Map<string, FileJob | EntryName>();
    const keptForLinks: TargetDir[] = [];
    // Files are restored in batches while the rest of the tree is still being walked: the workers start
    // at once instead of waiting for every folder to be listed (0.6 s of 3.7 for the benchmark's 20,000).
    const filling = new Set<Promise<void>>();
    let failure: unknown;
    // The walk waits while BATCHES_AHEAD batches are unfinished: what is planned (every node of it)
    // stays in memory until restored, and a tree of millions of files must not be planned all at once.
    // It also waits while too many folders are open (each holds a descriptor until its files are done).
    const submit = async (plan: RestorePlan) => {
      const work = plan.work();
      if (work.length > 0) {
        const task = filler
          .fill(work)
          .catch((err: unknown) => {
            failure ??= err;
          })
          .finally(() => filling.delete(task));
        filling.add(task);
      }
      while (
        (filling.size >= BATCHES_AHEAD || (folders.openCount > MAX_OPEN_DIRS && filling.size > 0)) &&
        failure === undefined
      )
        await Promise.race(filling);
      if (failure !== undefined) throw failure;
    };
    const walk: Walk = { plan: new RestorePlan(this.repo.index), submit, inodes, keptForLinks };
    try {
      try {
        await this.placeTree(this.repo.loadTree(root), folders.root, '', walk);
        await submit(walk.plan);
      } finally {
        while (filling.size > 0) await Promise.all(filling);
      }
      if (failure !== undefined) throw failure;
      // Folders holding the first name of a multiply-linked file stayed open for later names: done now.
      for (const dir of keptForLinks) dir.release();
      folders.root.seal();
    } finally {
      folders.closeAll();
    }
    return { ...this.progress, bytes: filler.bytes, verifiedFiles: this.verifiedFiles };
  }

  /**
   * Walks a tree: creates folders and symlinks, plans files, and hands the plan over to be restored each
   * time it holds PLAN_BATCH_BYTES or PLAN_BATCH_FILES. Resolves true when anything was placed.
   */
  private async placeTree(
    loading: Promise<Tree>,
    dir: TargetDir,
    logical: string,
    walk: Walk,
  ): Promise<boolean> {
    const tree = await loading.catch((err: unknown) => {
      throw this.damagedTree(err, logical);
    });
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
      // decodeTree refused names that repeat or are not one entry of this folder.
      const name = nodeNameBytes(node);
      const logicalPath = `${logical}/${name.toString('utf8')}`;
      if (this.opts.exclude?.excludes(logicalPath)) continue;
      const included = !this.opts.include || this.opts.include.excludes(logicalPath);
      if (node.type === 'dir') {
        const child = dir.child(name, node);
        if (included) child.materialize();
        if (node.subtree && subtree) await this.placeTree(subtree, child, logicalPath, walk);
        if (!child.exists) continue; // left out, and nothing inside it was included
        child.seal();
        this.progress.dirs++;
        any = true;
        continue;
      }
      if (!included) continue;
      // With --include, folders above a match are not created up front: made now.
      dir.materialize();
      any = true;
      if (node.type === 'symlink') {
        const path = dir.entry(name);
        await writing(dir.displayOf(name), () => symlink(linkTargetBytes(node), path));
        await applyLinkMetadata(path, node, dir.displayOf(name), this.settings);
        continue;
      }
      await this.placeFile(node, dir, name, walk);
    }
    return any;
  }

  /** Plans a regular file (or links it to an earlier name of its inode, or creates it when empty). */
  private async placeFile(node: TreeNode, dir: TargetDir, name: Buffer, walk: Walk): Promise<void> {
    const key = node.links > 1 ? `${node.device}:${node.inode}` : undefined;
    const first = key ? walk.inodes.get(key) : undefined;
    if (first) {
      // A first name restored already is linked now; otherwise once it is done.
      if (!isJob(first) || first.done) await this.link(first, { dir, name });
      else {
        dir.hold();
        first.hardlinks.push({ dir, name });
      }
      return;
    }
    const job = walk.plan.addFile(node, dir, name);
    if (key) {
      // Later names link to this one, through its folder: that folder stays open until the restore ends.
      dir.hold();
      walk.keptForLinks.push(dir);
      walk.inodes.set(key, job ?? { dir, name });
    }
    if (!job) {
      const display = dir.displayOf(name);
      const handle = await writing(display, () => open(dir.entry(name), CREATE_FLAGS, 0o600));
      try {
        await applyFileMetadata(handle, node, display, this.settings);
      } finally {
        await handle.close();
      }
      await this.completed(node, { dir, name });
      return;
    }
    dir.hold();
    if (
      walk.plan.bytes >= (this.opts.planBatchBytes ?? PLAN_BATCH_BYTES) ||
      walk.plan.jobs.length >= PLAN_BATCH_FILES ||
      this.folders!.openCount > MAX_OPEN_DIRS
    ) {
      const full = walk.plan;
      walk.plan = new RestorePlan(this.repo.index);
      await walk.submit(full);
    }
  }

  /** A tree that cannot be read, named with what is restored and the folder it is. */
  private damagedTree(err: unknown, logical: string): unknown {
    if (!(err instanceof IntegrityError)) return err;
    const what = this.opts.label ? `${this.opts.label}, ` : '';
    return new IntegrityError(`${what}folder ${logical || '/'}`, err.message, { cause: err });
  }

  /**
   * Bookkeeping once a file is complete on disk: its hard links, verification, progress; then its folder
   * may finish.
   */
  private async completed(node: TreeNode, at: EntryName, job?: FileJob): Promise<void> {
    // Names added while these links are made are picked up by the same loop (it reads the live list).
    for (const extra of job?.hardlinks ?? []) {
      await this.link(at, extra);
      extra.dir.release();
    }
    if (job) job.done = true;
    if (this.opts.verify) {
      await this.verifyFile(node, at);
      this.verifiedFiles++;
    }
    this.progress.files++;
    this.opts.onProgress?.(this.progress);
    if (job) at.dir.release();
  }

  /**
   * Links `to` to the file `from`, which this restore created: checked to be a regular file before, so a
   * link is never made to anything else.
   */
  private async link(from: EntryName, to: EntryName): Promise<void> {
    const source = from.dir.entry(from.name);
    const display = to.dir.displayOf(to.name);
    const found = await writing(display, () => lstat(source));
    if (!found.isFile())
      throw new UnsafeTargetError(
        `cannot link ${display} to ${from.dir.displayOf(from.name)}: that is no longer the file this restore made`,
      );
    await writing(display, () => link(source, to.dir.entry(to.name)));
  }

  private async verifyFile(node: TreeNode, at: EntryName): Promise<void> {
    const display = at.dir.displayOf(at.name);
    const content = node.content ?? [];
    let buffered: Buffer = Buffer.alloc(0);
    let i = 0;
    const check = () => {
      while (i < content.length) {
        const id = content[i]!;
        const length = this.repo.index.get(id)!.rawLength;
        if (buffered.length < length) return;
        if (blobIdOf(this.repo.keyring, buffered.subarray(0, length)) !== id) {
          throw new IntegrityError(display, `restored content differs from the snapshot at chunk ${i}`);
        }
        buffered = buffered.subarray(length);
        i++;
      }
    };
    const handle = await open(at.dir.entry(at.name), READ_FLAGS);
    try {
      for await (const piece of handle.createReadStream({ highWaterMark: 1024 * 1024, autoClose: false })) {
        buffered = buffered.length === 0 ? (piece as Buffer) : Buffer.concat([buffered, piece as Buffer]);
        check();
      }
    } finally {
      await handle.close();
    }
    check();
    if (i !== content.length || buffered.length !== 0) {
      throw new IntegrityError(display, 'restored file length differs from the snapshot');
    }
  }
}

function isJob(entry: FileJob | EntryName): entry is FileJob {
  return 'remaining' in entry;
}

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

/** The state of a restore's tree walk. */
interface Walk {
  /** Files planned since the last hand-over. */
  plan: RestorePlan;
  /** Hands a plan over to be restored; resolves once the walk may go on. */
  submit(plan: RestorePlan): Promise<void>;
  /** First name of each multiply-linked inode: its job, or its name once it exists. */
  inodes: Map<string, FileJob | EntryName>;
  /** Folders of such first names: open until the restore ends. */
  keptForLinks: TargetDir[];
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

/** The target must be absent or a folder (TargetTree checks it is empty); an absent one is made. */
async function makeTargetFolder(target: string): Promise<void> {
  try {
    if (!(await stat(target)).isDirectory()) throw new RestoreTargetError(`target ${target} is not a folder`);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') throw new RestoreTargetError(`target ${target} is not a folder`);
    if (code !== 'ENOENT') throw err;
    await mkdir(target, { recursive: true, mode: 0o700 });
  }
}
