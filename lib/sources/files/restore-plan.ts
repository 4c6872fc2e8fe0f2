import { IntegrityError } from '../../repo/errors';
import type { BlobId, PackId } from '../../repo/ids';
import type { MasterIndex } from '../../repo/index-file';
import type { TreeNode } from '../../repo/tree';
import type { TargetDir } from './target-dir';

/** A name in a folder of the restore. */
export interface EntryName {
  readonly dir: TargetDir;
  readonly name: Buffer;
}

/** One regular file to write: where, how big, and how many blob writes it still waits for. */
export interface FileJob extends EntryName {
  readonly node: TreeNode;
  /** Where it is written: its name through its folder's descriptor (TargetDir.entry). */
  readonly path: Buffer;
  readonly size: number;
  remaining: number;
  /** True when all its blobs are in one pack: that pack creates, fills and closes it alone. */
  readonly singlePack: boolean;
  /** Creation of a file that several packs fill (shared so only one of them creates it). */
  created?: Promise<void>;
  /** Further names of the same inode, linked once the file is complete. */
  readonly hardlinks: EntryName[];
  /** Set once the file is complete and its hard links made. */
  done?: boolean;
}

/** Where one blob goes: a file and an offset in it. */
export interface BlobTarget {
  readonly job: FileJob;
  readonly offset: number;
}

/** What one pack contributes to the restore, blobs in pack order. */
export interface PackWork {
  readonly pack: PackId;
  readonly blobs: {
    id: BlobId;
    offset: number;
    length: number;
    rawLength: number;
    compression: number;
    targets: BlobTarget[];
  }[];
}

/**
 * Groups the blobs of every file by the pack that holds them, so each pack is read once, in as few
 * ranged reads as possible (restic's restorer does the same): far fewer requests on object storage,
 * and sequential reads on disk.
 */
export class RestorePlan {
  private readonly packs = new Map<PackId, Map<BlobId, PackWork['blobs'][number]>>();
  readonly jobs: FileJob[] = [];
  /** Raw bytes of the files planned. */
  bytes = 0;

  constructor(private readonly index: MasterIndex) {}

  /** Adds a file; returns its job, or undefined for an empty file (nothing to fetch). */
  addFile(node: TreeNode, dir: TargetDir, name: Buffer): FileJob | undefined {
    const content = node.content ?? [];
    if (content.length === 0) return undefined;
    const entries = content.map((id) => {
      const entry = this.index.get(id);
      if (!entry)
        throw new IntegrityError(`blob ${id}`, `needed by ${dir.displayOf(name)} but not in the index`);
      return entry;
    });
    const singlePack = entries.every((e) => e.pack === entries[0]!.pack);
    const path = dir.entry(name);
    const job: FileJob = {
      node,
      dir,
      name,
      path,
      size: 0,
      remaining: content.length,
      singlePack,
      hardlinks: [],
    };
    let offset = 0;
    content.forEach((id, i) => {
      const e = entries[i]!;
      let blobs = this.packs.get(e.pack);
      if (!blobs) {
        blobs = new Map();
        this.packs.set(e.pack, blobs);
      }
      let blob = blobs.get(id);
      if (!blob) {
        blob = {
          id,
          offset: e.offset,
          length: e.length,
          rawLength: e.rawLength,
          compression: e.compression,
          targets: [],
        };
        blobs.set(id, blob);
      }
      blob.targets.push({ job, offset });
      offset += e.rawLength;
    });
    (job as { size: number }).size = offset;
    this.bytes += offset;
    this.jobs.push(job);
    return job;
  }

  /** The work of every pack, blobs sorted by their place in the pack. */
  work(): PackWork[] {
    return [...this.packs].map(([pack, blobs]) => ({
      pack,
      blobs: [...blobs.values()].sort((a, b) => a.offset - b.offset),
    }));
  }
}

/** Reading through a gap smaller than this is cheaper than another request. */
export const READ_GAP_BYTES = 1024 * 1024;

/** A run holds at most this much, so the work of one pack spreads over every worker thread. */
export const READ_RUN_MAX_BYTES = 4 * 1024 * 1024;
/**
 * A run holds at most this many blobs: a run of 4 MiB of small save files is a thousand files to create,
 * too coarse a share of work to keep both workers busy (one idled 20-60 ms at a time while the other
 * worked through one).
 */
export const READ_RUN_MAX_BLOBS = 256;

/** Splits a pack's blobs into runs read with one ranged request each. */
export function readRuns<T extends { offset: number; length: number }>(
  blobs: readonly T[],
  maxBytes = Number.POSITIVE_INFINITY,
  maxBlobs = Number.POSITIVE_INFINITY,
): T[][] {
  const runs: T[][] = [];
  let current: T[] = [];
  let end = 0;
  for (const b of blobs) {
    const runStart = current[0]?.offset ?? b.offset;
    if (
      current.length > 0 &&
      (b.offset - end > READ_GAP_BYTES ||
        b.offset + b.length - runStart > maxBytes ||
        current.length >= maxBlobs)
    ) {
      runs.push(current);
      current = [];
    }
    current.push(b);
    end = b.offset + b.length;
  }
  if (current.length > 0) runs.push(current);
  return runs;
}
