import {
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  fstatSync,
  futimesSync,
  mkdirSync,
  openSync,
  readdirSync,
} from 'node:fs';
import { badNameReason, type TreeNode } from '../../repo/tree';
import { ownedAs } from './ownership';
import { type MetadataSettings, secondsOf } from './restore-io';

/**
 * A folder's descriptor as a path: the kernel resolves `/proc/self/fd/N/name` as `name` inside the very
 * folder N was opened on (the magic link jumps to it), which is what openat(N, name) does. Node has no
 * openat, mkdirat or linkat, and every thread of the process (worker threads too) shares the descriptors,
 * so these paths give the whole restore, workers included, "relative to a folder I opened myself".
 */
const FD_PATHS = '/proc/self/fd';

/** Opening a folder this restore made: a folder (not a symlink to one), never following a link. */
const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
/** Creating a file: it must not exist (not even as a dangling symlink) and is never reached through a link. */
export const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
/** Reopening a file this restore created (to fill, truncate or verify it): never through a link. */
export const REOPEN_FLAGS = constants.O_WRONLY | constants.O_NOFOLLOW;
export const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW;

/** Folders kept open at once before the walk waits for restored batches to let theirs go. */
export const MAX_OPEN_DIRS = 256;

/** The restore target is not usable (not empty, not a folder). */
export class RestoreTargetError extends Error {
  override readonly name: string = 'RestoreTargetError';
}

/** The restore cannot place an entry safely: the target changed under it, or the tree asks for a path twice. */
export class UnsafeTargetError extends RestoreTargetError {
  override readonly name = 'UnsafeTargetError';
}

/**
 * The folders of one restore, each created by the restore itself (mkdir fails on anything that exists)
 * and then opened without following links. Every entry is made through its folder's descriptor
 * (`entry()`), so no path the restore uses passes through a symlink, whatever the snapshot holds: a
 * symlink `a` and a folder `a` (refused when the tree is read) or a target changed while the restore runs
 * can at worst make a creation fail, never write outside the target.
 */
export class TargetTree {
  private readonly open = new Map<number, TargetDir>();
  readonly root: TargetDir;

  /** Opens `target` (an empty folder: checked on the opened folder itself, not its path). */
  constructor(
    target: string,
    readonly settings: MetadataSettings,
  ) {
    let fd: number;
    try {
      fd = openSync(target, constants.O_RDONLY | constants.O_DIRECTORY);
    } catch (err) {
      throw new UnsafeTargetError(`cannot open the target folder ${target}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    this.root = new TargetDir(this, undefined, undefined, undefined, target);
    this.root.adopt(fd);
    let entries: string[];
    try {
      entries = readdirSync(`${FD_PATHS}/${fd}`);
    } catch (err) {
      this.closeAll();
      throw new UnsafeTargetError(
        `cannot list ${target} through ${FD_PATHS} (restore needs Linux's /proc): ${(err as Error).message}`,
        { cause: err },
      );
    }
    if (entries.length > 0) {
      this.closeAll();
      throw new RestoreTargetError(
        `target folder ${target} is not empty (${entries.length} entries): restore into an empty or new folder`,
      );
    }
  }

  /** Folders open now. */
  get openCount(): number {
    return this.open.size;
  }

  /** The folder path a worker's error names for an entry path (`/proc/self/fd/N/name`), for people to read. */
  displayOf(path: string): string {
    const m = /^\/proc\/self\/fd\/(\d+)\/(.*)$/s.exec(path);
    const dir = m ? this.open.get(Number(m[1])) : undefined;
    return dir && m ? `${dir.display}/${m[2]}` : path;
  }

  /** Closes every folder still open, setting no metadata (after a failure). */
  closeAll(): void {
    for (const [fd] of this.open) closeSync(fd);
    this.open.clear();
  }

  /** @internal */
  opened(dir: TargetDir, fd: number): void {
    this.open.set(fd, dir);
  }

  /** @internal */
  closed(fd: number): void {
    this.open.delete(fd);
    closeSync(fd);
  }
}

/**
 * One folder of a restore: made when something is first placed in it (`materialize`), kept open while
 * anything in it is unfinished (`hold`/`release`), and given its own mode, owner and times through its
 * descriptor once its walk is over (`seal`) and nothing in it is pending; then closed. A folder so
 * finished has every entry it will get: deepest folders finish first, as they must (a read-only folder
 * must not stop its own entries, and writing in a folder changes its times).
 */
export class TargetDir {
  private fd: number | undefined;
  private holds = 0;
  private sealed = false;
  private finished = false;

  /** @internal */
  constructor(
    private readonly tree: TargetTree,
    private readonly parent: TargetDir | undefined,
    private readonly name: Buffer | undefined,
    private readonly node: TreeNode | undefined,
    /** The folder's path, for messages. */
    readonly display: string,
  ) {}

  /** A subfolder, not made yet. */
  child(name: Buffer, node: TreeNode): TargetDir {
    return new TargetDir(this.tree, this, name, node, `${this.display}/${name.toString('utf8')}`);
  }

  /** Whether the folder exists (this restore made it). */
  get exists(): boolean {
    return this.fd !== undefined || this.finished;
  }

  /** @internal */
  adopt(fd: number): void {
    this.fd = fd;
    this.tree.opened(this, fd);
  }

  /** Makes the folder (and the folders above it) if it is not made yet. */
  materialize(): void {
    if (this.fd !== undefined) return;
    if (this.finished || !this.parent || !this.name)
      throw new UnsafeTargetError(`${this.display}: placed into after it was finished`);
    this.parent.materialize();
    const path = this.parent.entry(this.name);
    try {
      // Exclusive by nature (EEXIST for anything there, a symlink included); 0700 until finished, so no
      // other user can put anything in it meanwhile.
      mkdirSync(path, 0o700);
    } catch (err) {
      throw this.failure('cannot create folder', err);
    }
    let fd: number;
    try {
      fd = openSync(path, DIR_FLAGS);
    } catch (err) {
      throw this.failure('cannot open the folder just created', err);
    }
    this.adopt(fd);
    this.parent.hold();
  }

  /** The path of `name` inside this (open) folder, resolved by the kernel through the folder's descriptor. */
  entry(name: Buffer): Buffer {
    if (this.fd === undefined) throw new UnsafeTargetError(`${this.display}: used while not open`);
    // Trees are checked when read; this is the last line: only the final component is never followed,
    // so a name with a "/" (or "..") would reach past this folder.
    const bad = badNameReason(name);
    if (bad) throw new UnsafeTargetError(`${this.display}: refused to create an entry with ${bad}`);
    return Buffer.concat([Buffer.from(`${FD_PATHS}/${this.fd}/`), name]);
  }

  /** The path of `name` for messages. */
  displayOf(name: Buffer): string {
    return `${this.display}/${name.toString('utf8')}`;
  }

  /** Something in this folder is unfinished: the folder stays open and unfinished until it is released. */
  hold(): void {
    this.holds++;
  }

  /** Undoes one hold; finishes the folder when it is sealed and nothing else holds it. */
  release(): void {
    if (--this.holds === 0 && this.sealed) this.finish();
  }

  /** The walk placed everything in this folder: it finishes once every hold is released. */
  seal(): void {
    this.sealed = true;
    if (this.holds === 0) this.finish();
  }

  private finish(): void {
    const fd = this.fd;
    if (fd === undefined || this.finished) return;
    this.finished = true;
    if (this.node) this.applyMetadata(fd, this.node);
    this.fd = undefined;
    this.tree.closed(fd);
    this.parent?.release();
  }

  private applyMetadata(fd: number, node: TreeNode): void {
    const { asRoot, createdAs, onWarning } = this.tree.settings;
    try {
      if (!fstatSync(fd).isDirectory()) throw new UnsafeTargetError('no longer a folder');
      if (asRoot && !ownedAs(node, createdAs)) fchownSync(fd, node.uid, node.gid);
      fchmodSync(fd, node.mode);
      const seconds = secondsOf(node.mtimeNs);
      futimesSync(fd, seconds, seconds);
    } catch (err) {
      onWarning?.(this.display, `cannot set metadata: ${(err as Error).message}`);
    }
  }

  private failure(what: string, err: unknown): Error {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'EEXIST'
        ? 'something of that name exists already (the tree names it twice, or the target changed during the restore)'
        : code === 'ELOOP' || code === 'ENOTDIR'
          ? 'it is not a folder this restore made (a symlink or file took its place)'
          : (err as Error).message;
    return new UnsafeTargetError(`${what} ${this.display}: ${why}`, { cause: err });
  }
}
