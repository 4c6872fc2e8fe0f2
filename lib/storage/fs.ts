import { randomBytes } from 'node:crypto';
import type { Dir } from 'node:fs';
import {
  type FileHandle,
  link,
  mkdir,
  open,
  opendir,
  readFile,
  rename,
  stat,
  unlink,
} from 'node:fs/promises';
import path from 'node:path';
import {
  InvalidObjectNameError,
  NoSpaceError,
  ObjectExistsError,
  ObjectNotFoundError,
  ObjectTruncatedError,
  StorageError,
} from './errors';
import type {
  ByteRange,
  GetOptions,
  ObjectInfo,
  ObjectWriter,
  PutData,
  PutOptions,
  Storage,
} from './storage';

/**
 * Files whose name starts with this are writes in progress (or left by a crash): never objects.
 * The leading dot keeps them out of a casual `ls`; object names may not use the prefix.
 */
export const TEMP_FILE_PREFIX = '.tmp-';
/** Random bytes in a temp file's name: enough that concurrent writers never pick the same one. */
const TEMP_NAME_RANDOM_BYTES = 8;
/**
 * Modes of what the adapter creates (the umask can only take more away): key slots, the config and locks
 * are nobody else's business, so no object is readable by others, and no folder can be listed by them. A
 * folder that exists already (the root `init` is pointed at) keeps its mode.
 */
export const OBJECT_FILE_MODE = 0o600;
export const OBJECT_DIR_MODE = 0o700;

/** Error codes that mean "this path does not name a file" for reads. */
const ABSENT_CODES: ReadonlySet<string> = new Set(['ENOENT', 'ENOTDIR', 'EISDIR']);
/** Error codes that mean the disk (or the user's quota on it) is full. */
const NO_SPACE_CODES: ReadonlySet<string> = new Set(['ENOSPC', 'EDQUOT']);

/**
 * The Storage port on a local folder. Each object is a file at `<root>/<name>`; a put is atomic
 * (readers see the old object, or none, or the whole new one) and durable when it resolves.
 */
export class FsStorage implements Storage {
  /** Packs finishing at once (packs are streamed to disk as they fill, so this costs no memory): one fsyncs while the next is written. */
  readonly writeParallelism: number = 2;
  /** Absolute path of the repository folder. */
  readonly root: string;
  readonly location: string;

  /** Creates an adapter for the folder `root` (made absolute); folders inside are created on demand. */
  constructor(root: string) {
    this.root = path.resolve(root);
    this.location = this.root;
  }

  /**
   * Writes to a temp file beside the target, fsyncs it, then publishes it with link() (ifAbsent: the
   * kernel refuses atomically with EEXIST if the name is taken) or rename() (replace), and fsyncs the
   * folder so the new directory entry survives a crash.
   */
  async put(name: string, data: PutData, opts: PutOptions = {}): Promise<void> {
    const file = this.pathOf(name);
    if (path.basename(file).startsWith(TEMP_FILE_PREFIX)) {
      throw new InvalidObjectNameError(
        name,
        this.location,
        `names starting with ${TEMP_FILE_PREFIX} are reserved`,
      );
    }
    const dir = path.dirname(file);
    const temp = tempPath(dir);
    try {
      await this.makeDurableDirs(dir);
      await writeDurably(temp, data);
    } catch (error) {
      await removeTempAfterFailure(temp, error);
      throw mapFsError(error, 'write', name, dir);
    }
    await this.publish(temp, name, opts);
  }

  /**
   * A temp file in `folder`, appended to as blobs come and published under its name by commit() (the
   * same link-or-rename and fsyncs as put()): a pack never needs to sit whole in memory.
   */
  async createWriter(folder: string): Promise<ObjectWriter> {
    InvalidObjectNameError.assertPrefix(folder, this.location);
    const dir = path.join(this.root, ...folder.split('/').filter((p) => p !== ''));
    const temp = tempPath(dir);
    let handle: FileHandle;
    try {
      await this.makeDurableDirs(dir);
      handle = await open(temp, 'wx', OBJECT_FILE_MODE);
    } catch (error) {
      throw mapFsError(error, 'write', `a new object in ${folder}`, dir);
    }
    return new FsObjectWriter(handle, temp, dir, (name, opts) => this.publish(temp, name, opts));
  }

  /** Publishes a written and fsynced temp file under `name`; the temp file is gone afterwards either way. */
  private async publish(temp: string, name: string, opts: PutOptions = {}): Promise<void> {
    const file = this.pathOf(name);
    const dir = path.dirname(file);
    try {
      await this.makeDurableDirs(dir);
      if (opts.ifAbsent) {
        await link(temp, file);
        await unlink(temp);
      } else {
        await rename(temp, file);
      }
      await fsyncDir(dir);
    } catch (error) {
      await removeTempAfterFailure(temp, error);
      if (opts.ifAbsent && errnoCode(error) === 'EEXIST') {
        throw new ObjectExistsError(name, this.location, { cause: error });
      }
      throw mapFsError(error, 'write', name, dir);
    }
  }

  /** Reads the whole file, or `range` of it through a file handle so only that part is read. */
  async get(name: string, range?: ByteRange, opts: GetOptions = {}): Promise<Buffer> {
    const file = this.pathOf(name);
    if (range === undefined) {
      try {
        return await readFile(file);
      } catch (error) {
        throw this.readError(error, name);
      }
    }
    assertRange(range, name, this.location);
    let handle: FileHandle;
    try {
      handle = await open(file, 'r');
    } catch (error) {
      throw this.readError(error, name);
    }
    try {
      if (range.length === 0) return await this.emptyRead(handle, name, range.offset);
      // Every byte is read below, or we throw.
      const out =
        opts.into && opts.into.length >= range.length
          ? opts.into.subarray(0, range.length)
          : Buffer.allocUnsafe(range.length);
      let filled = 0;
      // read() may return fewer bytes than asked even inside the file; only 0 means end of file.
      while (filled < range.length) {
        const { bytesRead } = await handle.read(out, filled, range.length - filled, range.offset + filled);
        if (bytesRead === 0) {
          const { size } = await handle.stat();
          throw new ObjectTruncatedError(
            name,
            this.location,
            `wanted bytes ${range.offset}-${range.offset + range.length - 1} but it has ${size} bytes`,
          );
        }
        filled += bytesRead;
      }
      return out;
    } catch (error) {
      if (error instanceof StorageError) throw error;
      throw this.readError(error, name);
    } finally {
      await handle.close();
    }
  }

  /** Size of the file, or undefined if there is none (a folder is not an object). */
  async head(name: string): Promise<ObjectInfo | undefined> {
    const file = this.pathOf(name);
    try {
      const info = await stat(file);
      return info.isFile() ? { name, size: info.size } : undefined;
    } catch (error) {
      if (ABSENT_CODES.has(errnoCode(error) ?? '')) return undefined;
      throw mapFsError(error, 'stat', name, this.location);
    }
  }

  /**
   * Walks only the folders that can hold names starting with `prefix`, streaming entries with
   * opendir() so a listing of millions of packs never sits in memory. Temp files are skipped;
   * symbolic links and other non-regular files are not objects (this adapter never creates them).
   */
  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    InvalidObjectNameError.assertPrefix(prefix, this.location);
    const slash = prefix.lastIndexOf('/');
    const startRel = slash < 0 ? '' : prefix.slice(0, slash);
    yield* this.walk(startRel, prefix);
  }

  async sweepTemp(olderThan: Date): Promise<number> {
    let removed = 0;
    const visit = async (dir: string): Promise<void> => {
      let entries: Dir;
      try {
        entries = await opendir(dir);
      } catch (error) {
        if (ABSENT_CODES.has(errnoCode(error) ?? '')) return;
        throw mapFsError(error, 'list', path.relative(this.root, dir) || '.', this.location);
      }
      for await (const entry of entries) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) await visit(full);
        else if (entry.isFile() && entry.name.startsWith(TEMP_FILE_PREFIX)) {
          const info = await stat(full).catch(() => undefined);
          if (info && info.mtime < olderThan) {
            await unlink(full).catch((error) => {
              if (!ABSENT_CODES.has(errnoCode(error) ?? ''))
                throw mapFsError(error, 'delete', entry.name, dir);
            });
            removed++;
          }
        }
      }
    };
    await visit(this.root);
    return removed;
  }

  /**
   * Unlinks the file; an absent one is fine. The folder is not fsynced: a delete undone by a crash
   * leaves an unreferenced object, which prune removes again.
   */
  async delete(name: string): Promise<void> {
    const file = this.pathOf(name);
    try {
      await unlink(file);
    } catch (error) {
      if (ABSENT_CODES.has(errnoCode(error) ?? '')) return;
      throw mapFsError(error, 'delete', name, this.location);
    }
  }

  private async *walk(dirRel: string, prefix: string): AsyncGenerator<ObjectInfo> {
    let dir: Dir;
    try {
      dir = await opendir(dirRel === '' ? this.root : path.join(this.root, dirRel));
    } catch (error) {
      if (errnoCode(error) === 'ENOENT' || errnoCode(error) === 'ENOTDIR') return;
      throw mapFsError(error, 'list', `${dirRel}/`, this.location);
    }
    // for await closes the Dir when the loop ends, also when the consumer stops early.
    for await (const entry of dir) {
      const rel = dirRel === '' ? entry.name : `${dirRel}/${entry.name}`;
      if (entry.isDirectory()) {
        if (`${rel}/`.startsWith(prefix) || prefix.startsWith(`${rel}/`)) yield* this.walk(rel, prefix);
      } else if (entry.isFile() && !entry.name.startsWith(TEMP_FILE_PREFIX) && rel.startsWith(prefix)) {
        const size = await this.sizeOf(rel);
        // Undefined: deleted between readdir and stat (a concurrent prune); then it is not listed.
        if (size !== undefined) yield { name: rel, size };
      }
    }
  }

  /**
   * A zero-length read still has to prove the object exists and is long enough: a range starting past
   * the end is the caller's wrong idea of the size, as it would be for a longer read.
   */
  private async emptyRead(handle: FileHandle, name: string, offset: number): Promise<Buffer> {
    const info = await handle.stat();
    if (!info.isFile()) throw new ObjectNotFoundError(name, this.location);
    return ObjectTruncatedError.emptyReadAt(name, this.location, offset, info.size);
  }

  /** Size of a listed file; not validated as a name, so a stray file cannot break a listing. */
  private async sizeOf(rel: string): Promise<number | undefined> {
    try {
      return (await stat(path.join(this.root, rel))).size;
    } catch (error) {
      if (ABSENT_CODES.has(errnoCode(error) ?? '')) return undefined;
      throw mapFsError(error, 'stat', rel, this.location);
    }
  }

  private pathOf(name: string): string {
    InvalidObjectNameError.assertName(name, this.location);
    return path.join(this.root, ...name.split('/'));
  }

  /** mkdir -p, then fsync the parent of every folder it created so the new entries are durable. */
  private async makeDurableDirs(dir: string): Promise<void> {
    const firstCreated = await mkdir(dir, { recursive: true, mode: OBJECT_DIR_MODE });
    if (firstCreated === undefined) return;
    // The new folders are firstCreated … dir; each one's entry lives in its parent. `dir` itself is
    // fsynced after the object is published.
    let current = dir;
    const parents: string[] = [];
    while (current !== firstCreated) {
      current = path.dirname(current);
      parents.push(current);
    }
    parents.push(path.dirname(firstCreated));
    for (const parent of parents) await fsyncDir(parent);
  }

  private readError(error: unknown, name: string): Error {
    if (ABSENT_CODES.has(errnoCode(error) ?? '')) {
      return new ObjectNotFoundError(name, this.location, { cause: error });
    }
    return mapFsError(error, 'read', name, this.location);
  }
}

/**
 * Maps a Node fs error to the storage error hierarchy: ENOSPC / EDQUOT become NoSpaceError naming the
 * object and the folder (the operator's next step is to free space there), anything else a
 * StorageError naming the operation and the object. The original error is kept as `cause`.
 */
export function mapFsError(error: unknown, operation: string, name: string, folder: string): StorageError {
  if (error instanceof StorageError) return error;
  const code = errnoCode(error);
  if (code !== undefined && NO_SPACE_CODES.has(code)) {
    const what = code === 'EDQUOT' ? 'disk quota exceeded' : 'no space left on device';
    return new NoSpaceError(`cannot write ${name}: ${what} in ${folder} (${code})`, { cause: error });
  }
  const detail = error instanceof Error ? error.message : String(error);
  return new StorageError(`${operation} of ${name} in ${folder} failed: ${detail}`, { cause: error });
}

/** Validates a byte range before any I/O, so a bad offset is a clear error and not a short read. */
function assertRange(range: ByteRange, name: string, location: string): void {
  if (!Number.isSafeInteger(range.offset) || range.offset < 0) {
    throw new StorageError(`bad range for ${name} in ${location}: offset ${range.offset}`);
  }
  if (!Number.isSafeInteger(range.length) || range.length < 0) {
    throw new StorageError(`bad range for ${name} in ${location}: length ${range.length}`);
  }
}

/** Creates `file` exclusively, writes all of `data` and fsyncs it before closing. */
async function writeDurably(file: string, data: PutData): Promise<void> {
  const handle = await open(file, 'wx', OBJECT_FILE_MODE);
  try {
    if (Array.isArray(data)) await writeAll(handle, data as readonly Uint8Array[]);
    else await handle.writeFile(data as Uint8Array);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Appends every part at the file's position; writev may stop short, so go on from where it stopped. */
async function writeAll(handle: FileHandle, data: readonly Uint8Array[]): Promise<void> {
  let parts = data;
  while (parts.length > 0) {
    let { bytesWritten } = await handle.writev(parts as Uint8Array[]);
    while (parts.length > 0 && bytesWritten >= parts[0]!.length) {
      bytesWritten -= parts[0]!.length;
      parts = parts.slice(1);
    }
    if (bytesWritten > 0) parts = [parts[0]!.subarray(bytesWritten), ...parts.slice(1)];
  }
}

function tempPath(dir: string): string {
  return path.join(dir, `${TEMP_FILE_PREFIX}${randomBytes(TEMP_NAME_RANDOM_BYTES).toString('hex')}`);
}

/** FsStorage.createWriter's object: a temp file, published by commit(). */
class FsObjectWriter implements ObjectWriter {
  private open = true;
  private appended = 0;

  constructor(
    private readonly handle: FileHandle,
    private readonly temp: string,
    private readonly dir: string,
    private readonly publish: (name: string, opts?: PutOptions) => Promise<void>,
  ) {}

  async append(parts: readonly Uint8Array[]): Promise<void> {
    if (!this.open) throw new StorageError(`append to a finished object (${this.temp})`);
    try {
      await writeAll(this.handle, parts);
      for (const p of parts) this.appended += p.length;
    } catch (error) {
      throw mapFsError(error, 'write', `a new object (${path.basename(this.temp)})`, this.dir);
    }
  }

  async commit(name: string, opts: PutOptions & { readonly size?: number } = {}): Promise<void> {
    if (!this.open) throw new StorageError(`commit of a finished object (${this.temp})`);
    this.open = false;
    try {
      if (opts.size !== undefined && opts.size !== this.appended)
        throw new StorageError(`${name} would be ${this.appended} bytes, not ${opts.size}: not published`);
      await this.handle.sync();
      await this.handle.close();
    } catch (error) {
      await this.handle.close().catch(() => undefined);
      await removeTempAfterFailure(this.temp, error);
      throw mapFsError(error, 'write', name, this.dir);
    }
    await this.publish(name, opts);
  }

  async abort(): Promise<void> {
    if (this.open) {
      this.open = false;
      await this.handle.close().catch(() => undefined); // the file goes next; a close error changes nothing
    }
    await removeTempAfterFailure(this.temp, new StorageError('aborted'));
  }
}

/** fsync on a folder persists its entries (the names created, linked or renamed in it). */
async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Removes a temp file after a failed put (it may never have been created). If that fails too, both
 * errors are kept, so neither the write failure nor a leftover file goes unreported.
 */
async function removeTempAfterFailure(temp: string, original: unknown): Promise<void> {
  try {
    await unlink(temp);
  } catch (cleanupError) {
    // ENOENT / ENOTDIR: the temp file was never created (e.g. its folder could not be).
    const code = errnoCode(cleanupError);
    if (code === 'ENOENT' || code === 'ENOTDIR') return;
    throw new StorageError(`cannot remove temp file ${temp} after a failed write`, {
      cause: new AggregateError([original, cleanupError]),
    });
  }
}

function errnoCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  return typeof error.code === 'string' ? error.code : undefined;
}
