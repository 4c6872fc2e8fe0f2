import type { Compression } from './compression';
import { IntegrityError } from './errors';
import type { BlobId, IndexId, PackId } from './ids';
import type { BlobType, PackEntry } from './pack';

/** Folder of index objects. */
export const INDEX_PREFIX = 'index/';

/** Where one blob is stored. */
export interface IndexEntry {
  readonly pack: PackId;
  readonly type: BlobType;
  readonly offset: number;
  readonly length: number;
  readonly rawLength: number;
  readonly compression: Compression;
}

/** What an index object lists for one pack. */
export interface IndexedPack {
  readonly id: PackId;
  readonly dataClass: string;
  readonly entries: readonly PackEntry[];
}

/** Stored form: blobs as compact tuples [id, type, offset, length, rawLength, compression]. */
export interface StoredIndex {
  version: 1;
  packs: { id: string; dataClass: string; blobs: [string, number, number, number, number, number][] }[];
  /** Index objects this one replaces (written by prune); readers ignore those once this one exists. */
  supersedes: string[];
}

/** Builds the stored form of an index object. */
export function encodeIndex(packs: readonly IndexedPack[], supersedes: readonly IndexId[] = []): StoredIndex {
  return {
    version: 1,
    packs: packs.map((p) => ({
      id: p.id,
      dataClass: p.dataClass,
      blobs: p.entries.map((e) => [e.id, e.type, e.offset, e.length, e.rawLength, e.compression]),
    })),
    supersedes: [...supersedes],
  };
}

/** Validates and converts a decoded index object. */
export function decodeIndex(
  stored: StoredIndex,
  objectName: string,
): { packs: IndexedPack[]; supersedes: IndexId[] } {
  if (stored?.version !== 1 || !Array.isArray(stored.packs))
    throw new IntegrityError(objectName, 'unknown index layout');
  const packs = stored.packs.map((p) => ({
    id: p.id as PackId,
    dataClass: p.dataClass,
    entries: p.blobs.map(([id, type, offset, length, rawLength, compression]) => ({
      id: id as BlobId,
      type: type as BlobType,
      offset,
      length,
      rawLength,
      compression: compression as Compression,
    })),
  }));
  return { packs, supersedes: (stored.supersedes ?? []) as IndexId[] };
}

/** Every blob of the repository by id, and every indexed pack: the in-memory union of index objects. */
export class MasterIndex {
  private readonly blobs = new Map<BlobId, IndexEntry>();
  /** Data classes other than the first location's that also hold a blob (dedup stays within a class). */
  private readonly alsoIn = new Map<BlobId, Set<string>>();
  readonly packs = new Map<PackId, { dataClass: string; blobs: number; bytes: number }>();
  /** Which index objects list which packs (prune rewrites index objects). */
  readonly packsByIndex = new Map<IndexId, PackId[]>();

  get size(): number {
    return this.blobs.size;
  }

  /** Adds the packs of one index object. */
  addIndex(indexId: IndexId | undefined, packs: readonly IndexedPack[]): void {
    for (const p of packs) this.addPack(p);
    if (indexId)
      this.packsByIndex.set(
        indexId,
        packs.map((p) => p.id),
      );
  }

  /** Adds one pack's blobs (a backup adds its own packs as soon as they are durable). */
  addPack(p: IndexedPack): void {
    let bytes = 0;
    for (const e of p.entries) {
      bytes += e.length;
      const first = this.blobs.get(e.id);
      if (first && this.packs.get(first.pack)?.dataClass !== p.dataClass) {
        const classes = this.alsoIn.get(e.id) ?? new Set<string>();
        classes.add(p.dataClass);
        this.alsoIn.set(e.id, classes);
      }
      if (!first) {
        this.blobs.set(e.id, {
          pack: p.id,
          type: e.type,
          offset: e.offset,
          length: e.length,
          rawLength: e.rawLength,
          compression: e.compression,
        });
      }
    }
    this.packs.set(p.id, { dataClass: p.dataClass, blobs: p.entries.length, bytes });
  }

  get(id: BlobId): IndexEntry | undefined {
    return this.blobs.get(id);
  }

  has(id: BlobId): boolean {
    return this.blobs.has(id);
  }

  /**
   * True when a pack of `dataClass` holds the blob. Deduplication stays inside a data class, so that
   * retention, residency, storage tier and per-tenant keys always apply to whole packs (DESIGN.md).
   */
  hasInClass(id: BlobId, dataClass: string): boolean {
    const e = this.blobs.get(id);
    if (!e) return false;
    return this.packs.get(e.pack)?.dataClass === dataClass || (this.alsoIn.get(id)?.has(dataClass) ?? false);
  }

  /** Every (blob id, entry) pair. */
  entries(): IterableIterator<[BlobId, IndexEntry]> {
    return this.blobs.entries();
  }

  /** Forgets a pack and every blob that points into it (prune: a condemned pack no longer serves dedup). */
  dropPack(id: PackId): void {
    this.packs.delete(id);
    for (const [blob, e] of this.blobs) if (e.pack === id) this.blobs.delete(blob);
  }
}
