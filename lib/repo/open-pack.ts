import type { ObjectWriter, Storage } from '../storage/storage';
import { blake3Hasher } from './blake3-addon';
import type { PreparedBlob } from './blob-codec';
import type { Keyring } from './crypto';
import type { PackId } from './ids';
import { PackBuilder, type PackEntry, packObjectName, packTail } from './pack';

/** Where new packs are written (named data/<2 hex>/<id> once their id is known). */
const PACK_FOLDER = 'data/';
/** Blob views gathered before one write: a worker batch's worth, one system call. */
const APPEND_BATCH_BYTES = 1024 * 1024;

/** A pack being filled, then written once: in memory (any storage) or streamed to a file (a local folder). */
export interface OpenPack {
  readonly dataClass: string;
  readonly size: number;
  readonly count: number;
  /** Whether `length` more bytes keep the pack within its memory (or size) bound. */
  fits(length: number): boolean;
  /**
   * Appends a sealed blob. The caller keeps `sealed` unchanged until this resolves and until settle()
   * resolves after it (a streamed pack writes views, not copies).
   */
  add(blob: PreparedBlob): Promise<void> | undefined;
  /** Resolves once every blob added so far is written (and its buffer free for reuse). */
  settle(): Promise<void>;
  /** Writes what is left and publishes the pack; resolves once it is durable. */
  finish(): Promise<{ id: PackId; size: number; entries: PackEntry[] }>;
  /** Drops an unfinished pack (after a failure). */
  abort(): Promise<void>;
}

/** A pack assembled in a buffer and written with one put() (object stores; the S3 adapter splits it). */
export class BufferedPack implements OpenPack {
  private readonly builder: PackBuilder;

  constructor(
    readonly dataClass: string,
    private readonly storage: Storage,
    private readonly keyring: Keyring,
    body: Buffer,
    /** Gets the body back once the pack is written, for the next pack. */
    private readonly recycle: (body: Buffer) => void,
  ) {
    this.builder = new PackBuilder(dataClass, body);
  }

  get size(): number {
    return this.builder.size;
  }

  get count(): number {
    return this.builder.count;
  }

  fits(length: number): boolean {
    return this.builder.size + length <= this.builder.buffer.length;
  }

  add(blob: PreparedBlob): undefined {
    // Copied: `blob.sealed` is free at once.
    this.builder.add(blob.id, blob.type, blob.compression, blob.rawLength, blob.sealed);
    return undefined;
  }

  async settle(): Promise<void> {
    // Nothing to wait for: add() copied every blob into the body.
  }

  async finish(): Promise<{ id: PackId; size: number; entries: PackEntry[] }> {
    const { id, parts, size, entries } = this.builder.finishParts(this.keyring);
    await this.storage.put(packObjectName(id), parts);
    this.recycle(this.builder.buffer);
    return { id, size, entries };
  }

  async abort(): Promise<void> {
    // Nothing was written: the body is simply not recycled.
  }
}

/**
 * A pack streamed into a storage object writer as blobs arrive: nothing of it is held in memory but
 * the views of the blobs not yet written, and its id (the BLAKE3 of its bytes) is hashed on the way.
 * Writes are chained, so they land in the order the blobs were added.
 */
export class StreamedPack implements OpenPack {
  private readonly entries: PackEntry[] = [];
  private readonly hasher = new (blake3Hasher())();
  private readonly writer: Promise<ObjectWriter>;
  private chain: Promise<unknown>;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private bytes = 0;

  constructor(
    readonly dataClass: string,
    storage: Storage & Required<Pick<Storage, 'createWriter'>>,
    private readonly keyring: Keyring,
    private readonly maxBytes: number,
  ) {
    this.writer = storage.createWriter(PACK_FOLDER);
    this.chain = this.writer;
    this.chain.catch(() => undefined); // reported by whoever awaits it next
  }

  get size(): number {
    return this.bytes;
  }

  get count(): number {
    return this.entries.length;
  }

  fits(length: number): boolean {
    return this.bytes + length <= this.maxBytes;
  }

  add({ id, type, compression, rawLength, sealed }: PreparedBlob): Promise<void> | undefined {
    this.entries.push({ id, type, compression, offset: this.bytes, length: sealed.length, rawLength });
    this.bytes += sealed.length;
    this.hasher.update(sealed);
    this.pending.push(sealed);
    this.pendingBytes += sealed.length;
    return this.pendingBytes >= APPEND_BATCH_BYTES ? this.settle() : undefined;
  }

  settle(): Promise<void> {
    if (this.pending.length > 0) {
      const parts = this.pending;
      this.pending = [];
      this.pendingBytes = 0;
      this.chain = this.chain.then(() => this.writer.then((w) => w.append(parts)));
    }
    return this.chain.then(() => undefined);
  }

  async finish(): Promise<{ id: PackId; size: number; entries: PackEntry[] }> {
    const tail = packTail(this.keyring, this.dataClass, this.entries);
    for (const part of tail) {
      this.hasher.update(part);
      this.pending.push(part);
    }
    const size = this.bytes + tail[0].length + tail[1].length;
    const id = this.hasher.digest('hex') as PackId;
    try {
      await this.settle();
      await (await this.writer).commit(packObjectName(id), { size });
    } catch (err) {
      await this.abort();
      throw err;
    }
    return { id, size, entries: this.entries };
  }

  async abort(): Promise<void> {
    this.pending = [];
    // Appends under way still read their callers' buffers: let them end before the file goes.
    await this.chain.catch(() => undefined);
    const writer = await this.writer.catch(() => undefined);
    await writer?.abort().catch(() => undefined); // best effort: a leftover temp file is never an object
  }
}
