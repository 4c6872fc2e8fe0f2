import type { BigIntStats } from 'node:fs';
import { lstatSync, readlinkSync } from 'node:fs';
import type { BlobId } from '../../repo/ids';
import { encodeName, nodeNameBytes, type TreeNode } from '../../repo/tree';
import type { ExcludeMatcher } from './excludes';
import {
  isSourceFileError,
  nodeFromStats,
  readOutcome,
  sameNodeAs,
  sourceErrorMessage,
  unchangedSince,
} from './file-node';
import type { ExpectedStat, FileReadResult } from './file-reader';

/**
 * Entries of one folder, scanned in one job: lstat, excludes, change detection against the parent
 * snapshot, symlinks, and the reading of small files. It runs on a worker thread (a backup of 20,000 save
 * files then costs the main thread a message per 64 files, not an lstat, a node and three promises per
 * file), or on the calling thread when there are no workers: the same code either way.
 */
export interface ScanJob {
  /** The folder's path bytes, as a latin1 string (crosses threads without copying a pooled buffer). */
  dir: string;
  /** Entry names' bytes, latin1 strings. */
  names: string[];
  /** The parent snapshot's node for each name, or null. */
  parents: (TreeNode | null)[];
  /** Read every file, even those the parent says are unchanged. */
  force: boolean;
  /** Files at least this large are returned as `large`, for the caller to spread over every worker. */
  largeFileBytes: number;
}

/** What the scan found for one entry (entries excluded by pattern yield nothing). */
export type ScanEntry =
  /** A regular file with its content: read now, or the parent's (outcome "unmodified"). */
  | { kind: 'file'; node: TreeNode; outcome: 'new' | 'changed' | 'unmodified' }
  /** An unchanged file whose parent node (names[index]'s) stands as it is, content list included. */
  | { kind: 'same'; index: number }
  /** A regular file left for the caller to read (its node holds the stat, no content yet). */
  | { kind: 'large'; node: TreeNode }
  /** A folder, for the caller to walk; a symlink, complete. */
  | { kind: 'dir' | 'link'; node: TreeNode }
  /** A path that was skipped or stored as read, and why; `error` counts it as not backed up faithfully. */
  | { kind: 'warning'; path: string; message: string; error: boolean };

/** What a scan needs from where it runs. */
export interface ScanDeps {
  excludes?: ExcludeMatcher | undefined;
  /** Reads and stores a file's content (worker: chunk, hash, seal, batch; no workers: the blob writer). */
  readFile(path: Buffer, expect: ExpectedStat): Promise<FileReadResult>;
  /** Fault-injection seam for tests: runs after a file is stat'ed and before it is opened. */
  beforeRead?: ((path: string) => Promise<void>) | undefined;
}

const SLASH = 0x2f;

/** The path bytes of `name` in the folder `dir`. */
export function childPath(dir: Buffer, name: Buffer): Buffer {
  if (dir.length === 1 && dir[0] === SLASH) return Buffer.concat([dir, name]);
  return Buffer.concat([dir, Buffer.of(SLASH), name]);
}

/** Scans the entries of a job, in its order. */
export async function scanEntries(job: ScanJob, deps: ScanDeps): Promise<ScanEntry[]> {
  const dir = Buffer.from(job.dir, 'latin1');
  const out: ScanEntry[] = [];
  for (let i = 0; i < job.names.length; i++) {
    const path = childPath(dir, Buffer.from(job.names[i]!, 'latin1'));
    const entry = await scanEntry(job, i, path, deps);
    if (Array.isArray(entry)) out.push(...entry);
    else if (entry) out.push(entry);
  }
  return out;
}

async function scanEntry(
  job: ScanJob,
  index: number,
  path: Buffer,
  deps: ScanDeps,
): Promise<ScanEntry | ScanEntry[] | undefined> {
  const display = path.toString('utf8');
  if (deps.excludes?.excludes(display)) return undefined;
  const name = Buffer.from(job.names[index]!, 'latin1');
  const prev = job.parents[index] ?? undefined;
  let stats: BigIntStats;
  try {
    stats = lstatSync(path, { bigint: true });
  } catch (err) {
    return warningOf(display, err);
  }
  if (stats.isDirectory()) return { kind: 'dir', node: nodeFromStats(name, stats, 'dir') };
  if (stats.isSymbolicLink()) {
    const node = nodeFromStats(name, stats, 'symlink');
    try {
      const encoded = encodeName(readlinkSync(path, { encoding: 'buffer' }));
      if ('name' in encoded) node.linkTarget = encoded.name;
      else node.rawLinkTarget = encoded.rawName;
    } catch (err) {
      return warningOf(display, err);
    }
    return { kind: 'link', node };
  }
  if (!stats.isFile())
    return {
      kind: 'warning',
      path: display,
      message: 'special file (device, FIFO or socket) skipped',
      error: false,
    };
  const node = nodeFromStats(name, stats, 'file');
  if (!job.force && prev && unchangedSince(prev, node)) {
    if (sameNodeAs(prev, node)) return { kind: 'same', index };
    node.content = prev.content ?? [];
    node.size = prev.size;
    return { kind: 'file', node, outcome: 'unmodified' };
  }
  if (node.size >= job.largeFileBytes) return { kind: 'large', node };
  const read = await readFileEntry(path, node, {
    read: deps.readFile,
    stat: (p) => lstatSync(p, { bigint: true }),
    beforeRead: deps.beforeRead,
  });
  if (!read.node) return read.warning;
  const file: ScanEntry = { kind: 'file', node: read.node, outcome: readOutcome(prev, read.node) };
  // A file stored as read though it changed meanwhile comes with its warning.
  return read.warning ? [file, read.warning] : file;
}

type Warning = Extract<ScanEntry, { kind: 'warning' }>;

function warningOf(path: string, err: unknown): Warning {
  if (!isSourceFileError(err)) throw err;
  return { kind: 'warning', path, message: sourceErrorMessage(err), error: true };
}

/** The outcome of reading one file: its node with content, and a warning when it was not read cleanly. */
export type FileEntryRead = { node: TreeNode; warning?: Warning } | { node?: undefined; warning: Warning };

/**
 * Reads a regular file whose stat is in `node` and fills in its content. A file that changes while it is
 * read is read once more; if it changes again, what was read is kept and a warning says so (exit code 3),
 * never a silent mix presented as consistent. A file that cannot be read comes back as a warning alone;
 * a repository or storage failure is thrown.
 */
export async function readFileEntry(
  path: Buffer,
  node: TreeNode,
  deps: {
    read(path: Buffer, expect: ExpectedStat): Promise<FileReadResult>;
    stat(path: Buffer): BigIntStats;
    beforeRead?: ((path: string) => Promise<void>) | undefined;
  },
): Promise<FileEntryRead> {
  const display = path.toString('utf8');
  for (let attempt = 1; ; attempt++) {
    let read: { content: BlobId[]; size: number; changed: boolean };
    try {
      await deps.beforeRead?.(display);
      read = await deps.read(path, { size: node.size, mtimeNs: node.mtimeNs, ctimeNs: node.ctimeNs });
    } catch (err) {
      return { warning: warningOf(display, err) };
    }
    if (!read.changed || attempt === 2) {
      node.content = read.content;
      node.size = read.size;
      if (!read.changed) return { node };
      const message = 'file changed while it was read; stored as read';
      return { node, warning: { kind: 'warning', path: display, message, error: true } };
    }
    let again: BigIntStats;
    try {
      again = deps.stat(path);
    } catch (err) {
      return { warning: warningOf(display, err) };
    }
    if (!again.isFile())
      return {
        warning: { kind: 'warning', path: display, message: 'is no longer a regular file', error: true },
      };
    Object.assign(node, nodeFromStats(nodeNameBytes(node), again, 'file'));
  }
}
