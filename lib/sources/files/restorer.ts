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
  symlink,
  utimes,
} from 'node:fs/promises';

import { blobIdOf } from '../../repo/crypto';
import { IntegrityError } from '../../repo/errors';
import type { BlobId } from '../../repo/ids';
import type { Repository } from '../../repo/repository';
import { linkTargetBytes, nodeNameBytes, type TreeNode } from '../../repo/tree';
import type { ExcludeMatcher } from './excludes';
import { Limiter } from './limiter';

/** Files restored at once. */
export const FILE_RESTORE_PARALLELISM = 8;
/** Blobs of one file fetched at once (positional writes let them land out of order). */
export const BLOB_FETCH_PARALLELISM = 4;

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
}

export interface RestoreProgress {
  files: number;
  dirs: number;
  bytes: number;
}

export interface RestoreResult extends RestoreProgress {
  verifiedFiles: number;
}

type Pending = { node: TreeNode; path: Buffer };

/**
 * Rebuilds a snapshot's tree under `target`: files (sparse where a chunk is all zeros), directories
 * (empty ones too), symlinks, hard links, modes, times and, when run as root, owners.
 */
export class Restorer {
  private readonly limiter = new Limiter(FILE_RESTORE_PARALLELISM);
  private readonly progress: RestoreProgress = { files: 0, dirs: 0, bytes: 0 };
  private readonly zeroBlobs = new Set<BlobId>();
  private readonly hardlinks = new Map<string, Promise<Buffer>>();
  private readonly restored: Pending[] = [];
  private readonly asRoot = process.getuid?.() === 0;

  constructor(
    private readonly repo: Repository,
    private readonly opts: RestoreOptions = {},
  ) {}

  /** Restores the tree `root` into the empty (or absent) folder `target`. */
  async restore(root: BlobId, target: string): Promise<RestoreResult> {
    await ensureEmptyTarget(target);
    const dirsToFinish: Pending[] = [];
    await this.restoreTree(root, Buffer.from(target), '', dirsToFinish);
    // Directory times last, deepest first: writing inside a directory changes its mtime.
    for (const d of dirsToFinish.reverse()) await this.applyMetadata(d.node, d.path);
    let verifiedFiles = 0;
    if (this.opts.verify) {
      for (const f of this.restored) {
        await this.verifyFile(f);
        verifiedFiles++;
      }
    }
    return { ...this.progress, verifiedFiles };
  }

  private async restoreTree(treeId: BlobId, dir: Buffer, logical: string, dirs: Pending[]): Promise<boolean> {
    const tree = await this.repo.loadTree(treeId);
    const tasks: Promise<boolean>[] = [];
    for (const node of tree.nodes) {
      const nameBytes = nodeNameBytes(node);
      if (
        nameBytes.includes(0x2f) ||
        nameBytes.length === 0 ||
        nameBytes.equals(Buffer.from('..')) ||
        nameBytes.equals(Buffer.from('.'))
      ) {
        throw new IntegrityError(`tree ${treeId}`, 'a node name would escape the target folder');
      }
      const path = Buffer.concat([dir, Buffer.from('/'), nameBytes]);
      const logicalPath = `${logical}/${nameBytes.toString('utf8')}`;
      if (this.opts.exclude?.excludes(logicalPath)) continue;
      tasks.push(this.restoreNode(node, path, logicalPath, dirs));
    }
    return (await Promise.all(tasks)).some(Boolean);
  }

  /** Restores one node; resolves true when something was written (include filters may skip all). */
  private async restoreNode(
    node: TreeNode,
    path: Buffer,
    logical: string,
    dirs: Pending[],
  ): Promise<boolean> {
    const included = !this.opts.include || this.opts.include.excludes(logical);
    if (node.type === 'dir') {
      if (included) await this.mkdirOrFail(path);
      const pending: Pending = { node, path };
      const inner: Pending[] = [];
      const any = node.subtree ? await this.restoreTree(node.subtree, path, logical, inner) : false;
      if (!included && !any) return false;
      if (!included) await this.mkdirOrFail(path);
      dirs.push(pending, ...inner);
      this.progress.dirs++;
      return true;
    }
    if (!included) return false;
    // With --include, folders above a match are not created up front: make them now.
    if (this.opts.include) await this.mkdirOrFail(path.subarray(0, path.lastIndexOf(0x2f)));
    if (node.type === 'symlink') {
      await this.wrap(path, () => symlink(linkTargetBytes(node), path));
      await this.applyMetadata(node, path);
      return true;
    }
    await this.limiter.run(() => this.restoreFile(node, path));
    return true;
  }

  private async restoreFile(node: TreeNode, path: Buffer): Promise<void> {
    if (node.links > 1) {
      const key = `${node.device}:${node.inode}`;
      const first = this.hardlinks.get(key);
      if (first) {
        const firstPath = await first;
        await this.wrap(path, () => link(firstPath, path));
        this.progress.files++;
        return;
      }
      this.hardlinks.set(
        key,
        this.writeFile(node, path).then(() => path),
      );
      await this.hardlinks.get(key);
      return;
    }
    await this.writeFile(node, path);
  }

  private async writeFile(node: TreeNode, path: Buffer): Promise<void> {
    const content = node.content ?? [];
    const offsets: number[] = [];
    let offset = 0;
    for (const id of content) {
      offsets.push(offset);
      const entry = this.repo.index.get(id);
      if (!entry)
        throw new IntegrityError(`blob ${id}`, `needed by ${path.toString('utf8')} but not in the index`);
      offset += entry.rawLength;
    }
    const handle = await this.wrap(path, () => open(path, 'wx', 0o600));
    try {
      let next = 0;
      const worker = async () => {
        while (next < content.length) {
          const i = next++;
          const id = content[i]!;
          if (this.zeroBlobs.has(id)) continue; // a hole: leave it sparse
          const data = await this.repo.loadBlob(id);
          if (isAllZero(data)) {
            this.zeroBlobs.add(id);
            continue;
          }
          await this.wrap(path, () => writeSparse(handle, data, offsets[i]!));
          this.progress.bytes += data.length;
        }
      };
      await Promise.all(Array.from({ length: Math.min(BLOB_FETCH_PARALLELISM, content.length) }, worker));
      await this.wrap(path, () => handle.truncate(offset));
    } finally {
      await handle.close();
    }
    await this.applyMetadata(node, path);
    this.restored.push({ node, path });
    this.progress.files++;
    this.opts.onProgress?.(this.progress);
  }

  private async applyMetadata(node: TreeNode, path: Buffer): Promise<void> {
    const ns = BigInt(node.mtimeNs);
    const seconds = Number(ns / 1_000_000_000n) + Number(ns % 1_000_000_000n) / 1e9;
    try {
      if (this.asRoot) await lchown(path, node.uid, node.gid);
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

  private async verifyFile({ node, path }: Pending): Promise<void> {
    const content = node.content ?? [];
    const stream = createReadStream(path, { highWaterMark: 1024 * 1024 });
    let buffered: Buffer = Buffer.alloc(0);
    let i = 0;
    const check = (upTo: number) => {
      while (i < content.length) {
        const id = content[i]!;
        const length = this.repo.index.get(id)!.rawLength;
        if (buffered.length < length || upTo < length) return;
        const chunk = buffered.subarray(0, length);
        if (blobIdOf(this.repo.keyring, chunk) !== id) {
          throw new IntegrityError(
            path.toString('utf8'),
            `restored content differs from the snapshot at chunk ${i}`,
          );
        }
        buffered = buffered.subarray(length);
        i++;
      }
    };
    for await (const piece of stream) {
      buffered = buffered.length === 0 ? (piece as Buffer) : Buffer.concat([buffered, piece as Buffer]);
      check(buffered.length);
    }
    check(buffered.length);
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

/** Holes are made at this granularity: a run of zeros this long inside a chunk is skipped, not written. */
const SPARSE_BLOCK_BYTES = 64 * 1024;

/** Writes `data` at `offset`, leaving whole zero blocks as holes (the file is truncated to size at the end). */
async function writeSparse(handle: FileHandle, data: Buffer, offset: number): Promise<void> {
  let start = -1;
  for (let pos = 0; pos < data.length; pos += SPARSE_BLOCK_BYTES) {
    const block = data.subarray(pos, pos + SPARSE_BLOCK_BYTES);
    const zero = block.length === SPARSE_BLOCK_BYTES && isAllZero(block);
    if (!zero && start < 0) start = pos;
    if (zero && start >= 0) {
      await handle.write(data, start, pos - start, offset + start);
      start = -1;
    }
  }
  if (start >= 0) await handle.write(data, start, data.length - start, offset + start);
}

const ZERO_BLOCK = Buffer.alloc(SPARSE_BLOCK_BYTES);

/** True when every byte is zero (memcmp against a zero block: fast enough for every restored byte). */
function isAllZero(buf: Buffer): boolean {
  for (let pos = 0; pos < buf.length; pos += SPARSE_BLOCK_BYTES) {
    const block = buf.subarray(pos, pos + SPARSE_BLOCK_BYTES);
    if (!block.equals(ZERO_BLOCK.subarray(0, block.length))) return false;
  }
  return true;
}
