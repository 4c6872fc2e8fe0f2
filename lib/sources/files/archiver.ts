import type { BigIntStats } from 'node:fs';
import { lstatSync } from 'node:fs';
import { open, readdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { BlobWriter } from '../../repo/blob-writer';
import { chunkStream } from '../../repo/chunk-stream';
import type { BlobId } from '../../repo/ids';
import { KnownBlobs } from '../../repo/known-blobs';
import { BlobType } from '../../repo/pack';
import type { Repository } from '../../repo/repository';
import { encodeTree, nodeNameBytes, type TreeNode } from '../../repo/tree';
import type { WorkerPool } from '../../repo/worker-pool';
import type { ExcludeMatcher } from './excludes';
import { isSourceFileError, nodeFromStats, readOutcome, sourceErrorMessage } from './file-node';
import type { ExpectedStat, FileReadResult } from './file-reader';
import { Limiter, mapOrdered } from './limiter';
import { ReadBatcher } from './read-batcher';
import { childPath, readFileEntry, type ScanEntry, type ScanJob, scanEntries } from './scan';

/** Entries of a folder per scan job: a job per file costs more in messages than scanning it. */
export const SCAN_BATCH_ENTRIES = 64;

/**
 * Files at least this large are not read inside their folder's scan job but each on its own, so that a
 * folder of large files spreads over every worker instead of keeping one busy while the other idles.
 */
export const LARGE_FILE_BYTES = 512 * 1024;

/** Subfolders of one folder walked at once (each walk queues its own scan jobs). */
export const SUBFOLDERS_IN_FLIGHT = 16;

/** Files read at once on this thread when there are no workers: overlaps reads and compression. */
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
 *
 * The entries of each folder are scanned in jobs of SCAN_BATCH_ENTRIES (scan.ts) on the worker threads
 * when there are any; this thread lists folders, packs what the workers send, checks that every blob a
 * file refers to is stored, and writes the trees.
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
    // Workers skip sealing what the repository holds: the writer keeps the filter up to date.
    if (opts.pool) writer.known ??= KnownBlobs.fromIndex(repo.index, writer.dataClass);
    this.batcher = opts.pool
      ? new ReadBatcher(
          opts.pool,
          (blob) => {
            this.progress.bytesRead += blob.rawLength;
            return this.writer.addPrepared(blob);
          },
          () => this.writer.settle(),
          opts.excludes?.patterns ?? [],
          () => this.writer.known?.buffer,
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
    // Source paths themselves are scanned like the entries of a folder; the components above them are not.
    const nodes = await this.archiveEntries(
      Buffer.from(dir),
      [...direct].map((name) => Buffer.from(name)),
      parent,
    );
    for (const [name, paths] of children) {
      if (direct.has(name)) continue;
      const full = dir === '/' ? `/${name}` : `${dir}/${name}`;
      const stats = this.statOrWarn(Buffer.from(full));
      if (!stats) continue;
      const node = nodeFromStats(Buffer.from(name), stats, 'dir');
      const prev = parent?.get(Buffer.from(name).toString('binary'));
      node.subtree = await this.archiveVirtual(full, paths, await this.loadParentTree(prev?.subtree));
      nodes.push(node);
    }
    return this.saveTree(nodes);
  }

  /** Backs up a folder whose stat is in `node`; undefined when it cannot be listed (named in a warning). */
  private async archiveDir(
    path: Buffer,
    node: TreeNode,
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
    node.subtree = await this.saveTree(await this.archiveEntries(path, entries, parent));
    this.result.dirs++;
    this.progress.dirs++;
    this.report();
    return node;
  }

  /** Scans the entries `names` of the folder `dir` and completes their nodes: files read, folders walked. */
  private async archiveEntries(
    dir: Buffer,
    names: readonly Buffer[],
    parent: Map<string, TreeNode> | undefined,
  ): Promise<TreeNode[]> {
    const jobs: ScanJob[] = [];
    for (let at = 0; at < names.length; at += SCAN_BATCH_ENTRIES) {
      const slice = names.slice(at, at + SCAN_BATCH_ENTRIES);
      jobs.push({
        dir: dir.toString('latin1'),
        names: slice.map((n) => n.toString('latin1')),
        parents: slice.map((n) => parent?.get(n.toString('binary')) ?? null),
        force: Boolean(this.opts.force),
        largeFileBytes: this.batcher ? LARGE_FILE_BYTES : Number.POSITIVE_INFINITY,
      });
    }
    const scanned = await Promise.all(jobs.map((job) => this.scan(job)));
    const nodes: TreeNode[] = [];
    const folders: { node: TreeNode; prev: TreeNode | undefined }[] = [];
    const reads: Promise<void>[] = [];
    this.progress.current = dir.toString('utf8');
    const parentOf = (node: TreeNode) => parent?.get(nodeNameBytes(node).toString('binary'));
    scanned.forEach((entries, j) => {
      const job = jobs[j]!;
      for (const entry of entries) {
        switch (entry.kind) {
          case 'same':
          case 'file': {
            const node = entry.kind === 'same' ? job.parents[entry.index]! : entry.node;
            const outcome = entry.kind === 'same' ? 'unmodified' : entry.outcome;
            // Every blob a node names must be stored: the parent's may have been pruned since, and a blob a
            // worker did not send because it looked stored may not be (a filter hit is not proof).
            if (this.allStored(node.content)) {
              nodes.push(node);
              this.countFile(outcome, node.size);
            } else reads.push(this.readApart(dir, { ...node }, parentOf(node), nodes, true));
            break;
          }
          case 'large':
            reads.push(this.readApart(dir, entry.node, parentOf(entry.node), nodes, false));
            break;
          case 'dir':
            folders.push({ node: entry.node, prev: parentOf(entry.node) });
            break;
          case 'link':
            nodes.push(entry.node);
            break;
          case 'warning':
            if (entry.error) this.result.errors++;
            this.opts.onWarning?.({ path: entry.path, message: entry.message });
            break;
        }
      }
    });
    this.report();
    const [walked] = await Promise.all([
      mapOrdered(folders, SUBFOLDERS_IN_FLIGHT, (f) =>
        this.archiveDir(childPath(dir, nodeNameBytes(f.node)), f.node, f.prev),
      ),
      Promise.all(reads),
    ]);
    for (const node of walked) if (node) nodes.push(node);
    return nodes;
  }

  /** Runs one scan job: on a worker, or here. */
  private scan(job: ScanJob): Promise<ScanEntry[]> {
    if (this.batcher) return this.batcher.scan(job);
    return scanEntries(job, {
      excludes: this.opts.excludes,
      readFile: (path, expect) => this.limiter.run(() => this.readHere(path, expect)),
      beforeRead: this.opts.beforeRead,
    });
  }

  /**
   * Reads one file on its own (a large file, or one whose stored content turned out incomplete) and adds
   * its node to `nodes`. `unskipped` sends every blob: a read that skipped a blob the repository turns
   * out not to hold (a filter hit is a hint) is made again so. `prev` is the parent snapshot's node.
   */
  private async readApart(
    dir: Buffer,
    node: TreeNode,
    prev: TreeNode | undefined,
    nodes: TreeNode[],
    unskipped: boolean,
  ): Promise<void> {
    const path = childPath(dir, nodeNameBytes(node));
    const read = await this.limiter.run(() =>
      readFileEntry(path, node, {
        read: (p, expect) =>
          this.batcher ? this.batcher.read(p, expect, unskipped) : this.readHere(p, expect),
        stat: (p) => lstatSync(p, { bigint: true }),
        beforeRead: this.opts.beforeRead,
      }),
    );
    if (read.node && !unskipped && !this.allStored(read.node.content))
      return this.readApart(dir, read.node, prev, nodes, true);
    if (read.warning) {
      if (read.warning.error) this.result.errors++;
      this.opts.onWarning?.({ path: read.warning.path, message: read.warning.message });
    }
    if (!read.node) return;
    nodes.push(read.node);
    this.countFile(readOutcome(prev, read.node), read.node.size);
  }

  /** Reads, chunks and stores a file on this thread (no workers). */
  private async readHere(path: Buffer, expect: ExpectedStat): Promise<FileReadResult> {
    const handle = await open(path, 'r');
    try {
      const content: BlobId[] = [];
      let size = 0;
      const reader = (buf: Buffer, offset: number, length: number) =>
        handle.read(buf, offset, length, null).then((r) => r.bytesRead);
      for await (const chunk of chunkStream(reader, this.repo.chunker, expect.size)) {
        size += chunk.length;
        this.progress.bytesRead += chunk.length;
        content.push(await this.writer.save(BlobType.Data, chunk));
      }
      const after = await handle.stat({ bigint: true });
      const changed =
        Number(after.size) !== expect.size ||
        after.mtimeNs.toString() !== expect.mtimeNs ||
        after.ctimeNs.toString() !== expect.ctimeNs ||
        size !== expect.size;
      return { content, size, changed };
    } finally {
      await handle.close();
    }
  }

  private allStored(content: readonly BlobId[] | undefined): boolean {
    if (!content) return true;
    for (const id of content) if (!this.writer.has(id)) return false;
    return true;
  }

  private countFile(outcome: 'new' | 'changed' | 'unmodified', size: number): void {
    if (outcome === 'new') this.result.filesNew++;
    else if (outcome === 'changed') this.result.filesChanged++;
    else this.result.filesUnmodified++;
    this.result.bytesProcessed += size;
    this.progress.files++;
    this.progress.bytesProcessed += size;
  }

  private async saveTree(nodes: TreeNode[]): Promise<BlobId> {
    // Sorted by name bytes, each name encoded once (not twice per comparison).
    const keyed = nodes.map((node) => ({ node, key: nodeNameBytes(node) }));
    keyed.sort((a, b) => Buffer.compare(a.key, b.key));
    return this.writer.save(BlobType.Tree, encodeTree({ nodes: keyed.map((k) => k.node) }));
  }

  /** Parent tree as a map keyed by the name's bytes (binary string). */
  private async loadParentTree(id: BlobId | undefined): Promise<Map<string, TreeNode> | undefined> {
    if (!id || !this.repo.index.has(id)) return undefined;
    const tree = await this.repo.loadTree(id);
    return new Map(tree.nodes.map((n) => [nodeNameBytes(n).toString('binary'), n]));
  }

  private statOrWarn(path: Buffer): BigIntStats | undefined {
    try {
      return lstatSync(path, { bigint: true });
    } catch (err) {
      this.warn(path.toString('utf8'), err);
      return undefined;
    }
  }

  private warn(path: string, err: unknown): void {
    if (!isSourceFileError(err)) throw err;
    this.result.errors++;
    this.opts.onWarning?.({ path, message: sourceErrorMessage(err) });
  }

  private report(): void {
    this.opts.onProgress?.(this.progress);
  }
}
