import type { BigIntStats } from 'node:fs';
import { lstatSync } from 'node:fs';
import { open, readdir, readlink } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { BlobWriter } from '../../repo/blob-writer';
import { chunkStream } from '../../repo/chunk-stream';
import { RepositoryError } from '../../repo/errors';
import type { BlobId } from '../../repo/ids';
import { BlobType } from '../../repo/pack';
import type { Repository } from '../../repo/repository';
import { encodeName, encodeTree, nodeNameBytes, type Tree, type TreeNode } from '../../repo/tree';
import type { WorkerPool } from '../../repo/worker-pool';
import { StorageError } from '../../storage/errors';
import type { ExcludeMatcher } from './excludes';
import type { FileReadResult } from './file-reader';
import { Limiter, mapOrdered } from './limiter';
import { ReadBatcher } from './read-batcher';

/** True for errors of reading a source file (errno-coded, from this thread or a worker), not of the repository. */
function isSourceFileError(err: unknown): boolean {
  if (err instanceof StorageError || err instanceof RepositoryError) return false;
  const code = (err as NodeJS.ErrnoException).code;
  return typeof code === 'string' && code.length > 0;
}

/** Entries of one folder in progress at once (files wait for the reader; folders recurse). */
export const ENTRIES_IN_FLIGHT_PER_FOLDER = 64;

/** Files read at once on this thread: overlaps reads, chunking and compression across cores. */
export const FILE_READ_PARALLELISM = 4;

/** Progress of a running backup. */
export interface BackupProgress {
  files: number;
  dirs: number;
  bytesRead: number;
  bytesProcessed: number;
  current?: string;
  /** Size of the parent snapshot, when there is one: the estimate behind the ETA. */
  expectedBytes?: number;
}

/** What happened to one source path that could not be backed up faithfully. */
export interface SourceWarning {
  path: string;
  message: string;
}

export interface ArchiveOptions {
  excludes?: ExcludeMatcher;
  /** Root tree of the parent snapshot: unchanged files reuse its content list without being read. */
  parentTree?: BlobId;
  /** The parent snapshot's size, reported with progress as the expected total. */
  expectedBytes?: number;
  /** Re-read every file even when the parent says it is unchanged. */
  force?: boolean;
  onProgress?: (p: Readonly<BackupProgress>) => void;
  /** Called for each unreadable, vanished or changing file; the snapshot is still written. */
  onWarning?: (w: SourceWarning) => void;
  /** Worker threads that read, chunk, hash, compress and seal files (otherwise this thread does). */
  pool?: WorkerPool;
  /** Fault-injection seam for tests: runs after a file is stat'ed and before it is opened. */
  beforeRead?: (path: string) => Promise<void>;
}

export interface ArchiveResult {
  tree: BlobId;
  filesNew: number;
  filesChanged: number;
  filesUnmodified: number;
  dirs: number;
  bytesProcessed: number;
  errors: number;
}

/**
 * Walks source paths and stores their files, directories and links: file content through the blob
 * writer, then one tree blob per directory, bottom-up. Absolute paths are kept, as restic does: the
 * root tree holds `/`'s path components down to each source path.
 */
export class Archiver {
  private readonly limiter: Limiter;
  private readonly batcher: ReadBatcher | undefined;
  private readonly progress: BackupProgress = { files: 0, dirs: 0, bytesRead: 0, bytesProcessed: 0 };
  private readonly result = {
    filesNew: 0,
    filesChanged: 0,
    filesUnmodified: 0,
    dirs: 0,
    bytesProcessed: 0,
    errors: 0,
  };

  constructor(
    private readonly repo: Repository,
    private readonly writer: BlobWriter,
    private readonly opts: ArchiveOptions = {},
  ) {
    this.batcher = opts.pool
      ? new ReadBatcher(
          opts.pool,
          (blob) => {
            this.progress.bytesRead += blob.rawLength;
            return this.writer.addPrepared(blob);
          },
          () => this.writer.settle(),
        )
      : undefined;
    this.limiter = new Limiter(this.batcher ? this.batcher.capacity : FILE_READ_PARALLELISM);
    if (opts.expectedBytes !== undefined) this.progress.expectedBytes = opts.expectedBytes;
  }

  /** Backs up `paths` (absolute or relative to the working directory) and returns the root tree. */
  async archive(paths: readonly string[]): Promise<ArchiveResult> {
    const absolute = [...new Set(paths.map((p) => resolve(p)))].sort();
    const rootParent = await this.loadParentTree(this.opts.parentTree);
    const tree = await this.archiveVirtual('/', absolute, rootParent);
    return { tree, ...this.result };
  }

  /** A directory on the way to the source paths: holds only the components that lead to them. */
  private async archiveVirtual(
    dir: string,
    targets: readonly string[],
    parent: Map<string, TreeNode> | undefined,
  ): Promise<BlobId> {
    const children = new Map<string, string[]>();
    const direct = new Set<string>();
    for (const t of targets) {
      const rest = t.slice(dir.length).replace(/^\/+/, '');
      const [head, ...tail] = rest.split('/');
      if (!head) continue;
      if (tail.length === 0) direct.add(head);
      else children.set(head, [...(children.get(head) ?? []), t]);
    }
    const nodes: TreeNode[] = [];
    for (const name of [...new Set([...direct, ...children.keys()])]) {
      const full = dir === '/' ? `/${name}` : `${dir}/${name}`;
      const prev = parent?.get(Buffer.from(name).toString('binary'));
      if (direct.has(name)) {
        const node = await this.archiveEntry(Buffer.from(full), Buffer.from(name), prev);
        if (node) nodes.push(node);
      } else {
        const stats = await this.statOrWarn(Buffer.from(full));
        if (!stats) continue;
        const node = this.nodeFromStats(Buffer.from(name), stats, 'dir');
        node.subtree = await this.archiveVirtual(
          full,
          children.get(name)!,
          await this.loadParentTree(prev?.subtree),
        );
        nodes.push(node);
      }
    }
    return this.saveTree(nodes);
  }

  private async archiveEntry(
    path: Buffer,
    name: Buffer,
    prev: TreeNode | undefined,
  ): Promise<TreeNode | undefined> {
    const display = path.toString('utf8');
    if (this.opts.excludes?.excludes(display)) return undefined;
    const stats = await this.statOrWarn(path);
    if (!stats) return undefined;
    if (stats.isDirectory()) return this.archiveDir(path, name, stats, prev);
    if (stats.isSymbolicLink()) {
      const node = this.nodeFromStats(name, stats, 'symlink');
      try {
        const target = (await readlink(path, { encoding: 'buffer' })) as Buffer;
        const encoded = encodeName(target);
        if ('name' in encoded) node.linkTarget = encoded.name;
        else node.rawLinkTarget = encoded.rawName;
      } catch (err) {
        this.warn(display, err);
        return undefined;
      }
      return node;
    }
    if (stats.isFile()) return this.limiter.run(() => this.archiveFile(path, name, stats, prev));
    this.opts.onWarning?.({ path: display, message: 'special file (device, FIFO or socket) skipped' });
    return undefined;
  }

  private async archiveDir(
    path: Buffer,
    name: Buffer,
    stats: BigIntStats,
    prev: TreeNode | undefined,
  ): Promise<TreeNode | undefined> {
    let entries: Buffer[];
    try {
      entries = (await readdir(path, { encoding: 'buffer' })) as Buffer[];
    } catch (err) {
      this.warn(path.toString('utf8'), err);
      return undefined;
    }
    const parent = prev?.type === 'dir' ? await this.loadParentTree(prev.subtree) : undefined;
    const slash = Buffer.from('/');
    // Entries of one folder are walked a bounded number at a time: all of a large tree at once held
    // tens of thousands of pending stats in memory for no gain.
    const results = await mapOrdered(entries, ENTRIES_IN_FLIGHT_PER_FOLDER, (entry) => {
      const child =
        path.length === 1 && path[0] === 0x2f
          ? Buffer.concat([slash, entry])
          : Buffer.concat([path, slash, entry]);
      return this.archiveEntry(child, entry, parent?.get(entry.toString('binary')));
    });
    const node = this.nodeFromStats(name, stats, 'dir');
    node.subtree = await this.saveTree(results.filter((n): n is TreeNode => n !== undefined));
    this.result.dirs++;
    this.progress.dirs++;
    this.report();
    return node;
  }

  private async archiveFile(
    path: Buffer,
    name: Buffer,
    stats: BigIntStats,
    prev: TreeNode | undefined,
  ): Promise<TreeNode | undefined> {
    const display = path.toString('utf8');
    const node = this.nodeFromStats(name, stats, 'file');
    if (!this.opts.force && prev && this.unchanged(prev, node)) {
      node.content = prev.content ?? [];
      node.size = prev.size;
      this.result.filesUnmodified++;
      this.count(node.size, display);
      return node;
    }
    // A file that changes while it is read is read once more; if it changes again we keep what we
    // read and say so (exit code 3), never a silent mix presented as consistent.
    for (let attempt = 1; ; attempt++) {
      let read: { content: BlobId[]; size: number; changed: boolean };
      try {
        await this.opts.beforeRead?.(display);
        read = await this.readFile(path, stats, node);
      } catch (err) {
        // A file we cannot read is named and left out; a repository or storage failure ends the backup.
        if (!isSourceFileError(err)) throw err;
        this.warn(display, err);
        return undefined;
      }
      if (!read.changed || attempt === 2) {
        if (read.changed) this.warn(display, new Error('file changed while it was read; stored as read'));
        node.content = read.content;
        node.size = read.size;
        break;
      }
      const again = await this.statOrWarn(path);
      if (!again?.isFile()) return undefined;
      stats = again;
      Object.assign(node, this.nodeFromStats(name, stats, 'file'));
    }
    if (prev) this.result.filesChanged++;
    else this.result.filesNew++;
    this.count(node.size, display);
    return node;
  }

  private async readFile(path: Buffer, before: BigIntStats, node: TreeNode): Promise<FileReadResult> {
    // The node holds the stat fields as strings already: the worker's expectation reuses them.
    if (this.batcher)
      return this.batcher.read(path, {
        size: node.size ?? 0,
        mtimeNs: node.mtimeNs!,
        ctimeNs: node.ctimeNs!,
      });
    const handle = await open(path, 'r');
    try {
      const content: BlobId[] = [];
      let size = 0;
      const reader = (buf: Buffer, offset: number, length: number) =>
        handle.read(buf, offset, length, null).then((r) => r.bytesRead);
      for await (const chunk of chunkStream(reader, this.repo.chunker, Number(before.size))) {
        size += chunk.length;
        this.progress.bytesRead += chunk.length;
        content.push(await this.writer.save(BlobType.Data, chunk));
      }
      const after = await handle.stat({ bigint: true });
      const changed =
        after.size !== before.size ||
        after.mtimeNs !== before.mtimeNs ||
        after.ctimeNs !== before.ctimeNs ||
        BigInt(size) !== before.size;
      return { content, size, changed };
    } finally {
      await handle.close();
    }
  }

  private unchanged(prev: TreeNode, now: TreeNode): boolean {
    return (
      prev.type === 'file' &&
      prev.size === now.size &&
      prev.mtimeNs === now.mtimeNs &&
      prev.ctimeNs === now.ctimeNs &&
      prev.inode === now.inode &&
      (prev.content ?? []).every((id) => this.writer.has(id))
    );
  }

  private nodeFromStats(name: Buffer, s: BigIntStats, type: TreeNode['type']): TreeNode {
    return {
      ...encodeName(name),
      type,
      mode: Number(s.mode & 0o7777n),
      uid: Number(s.uid),
      gid: Number(s.gid),
      mtimeNs: s.mtimeNs.toString(),
      ctimeNs: s.ctimeNs.toString(),
      inode: s.ino.toString(),
      device: s.dev.toString(),
      links: Number(s.nlink),
      size: type === 'file' ? Number(s.size) : 0,
    };
  }

  private async saveTree(nodes: TreeNode[]): Promise<BlobId> {
    nodes.sort((a, b) => Buffer.compare(nodeNameBytes(a), nodeNameBytes(b)));
    const tree: Tree = { nodes };
    return this.writer.save(BlobType.Tree, encodeTree(tree));
  }

  /** Parent tree as a map keyed by the name's bytes (binary string). */
  private async loadParentTree(id: BlobId | undefined): Promise<Map<string, TreeNode> | undefined> {
    if (!id || !this.repo.index.has(id)) return undefined;
    const tree = await this.repo.loadTree(id);
    return new Map(tree.nodes.map((n) => [nodeNameBytes(n).toString('binary'), n]));
  }

  private async statOrWarn(path: Buffer): Promise<BigIntStats | undefined> {
    try {
      // Blocking, on purpose: an lstat of a cached inode takes microseconds, while the asynchronous call
      // costs 20 µs of this thread in promises and a thread-pool hop — 0.4 s for a folder of 20,000 saves,
      // on the thread that feeds the workers.
      return lstatSync(path, { bigint: true });
    } catch (err) {
      this.warn(path.toString('utf8'), err);
      return undefined;
    }
  }

  private warn(path: string, err: unknown): void {
    this.result.errors++;
    const code = (err as NodeJS.ErrnoException).code;
    const message =
      code === 'ENOENT'
        ? 'vanished before it could be read'
        : code
          ? `${code}: ${(err as Error).message}`
          : String((err as Error).message ?? err);
    this.opts.onWarning?.({ path, message });
  }

  private count(processed: number, current: string): void {
    this.result.bytesProcessed += processed;
    this.progress.files++;
    this.progress.bytesProcessed += processed;
    this.progress.current = current;
    this.report();
  }

  private report(): void {
    this.opts.onProgress?.(this.progress);
  }
}
