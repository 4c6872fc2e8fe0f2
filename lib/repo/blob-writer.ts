import type { PreparedBlob } from './blob-codec';
import { compressBlob, SYNC_CODEC_MAX_BYTES } from './compression';
import { AAD, blobIdOf, seal } from './crypto';
import type { BlobId, IndexId } from './ids';
import { encodeIndex, INDEX_PREFIX, type IndexedPack } from './index-file';
import type { KnownBlobs } from './known-blobs';
import { releaseNow } from './memory';
import { BufferedPack, type OpenPack, StreamedPack } from './open-pack';
import type { BlobType } from './pack';
import type { Repository } from './repository';

/** A pack is finished once it holds this much: large enough that object stores charge few requests. */
export const PACK_TARGET_BYTES = 16 * 1024 * 1024;
/** A pack is also finished at this many blobs, so its header (42 bytes per blob) stays far below the 16 MiB readers accept. */
export const PACK_MAX_BLOBS = 100_000;
/** Large blobs compressed at once on libuv's pool: enough to keep the other core busy, few enough to bound memory. */
export const PARALLEL_COMPRESSIONS = 3;
/** Room past the target in a new pack's buffer, for the blob that crosses it (larger ones grow it). */
const PACK_BODY_SLACK_BYTES = 1024 * 1024;
/** Pack uploads at once, at most (the storage says how many it gains from). */
export const MAX_PARALLEL_PACK_UPLOADS = 4;
/** Write an index object after this many packs, so an interrupted backup keeps most of its work. */
export const INDEX_FLUSH_PACKS = 32;

/** What a BlobWriter added to the repository. */
export interface WriteStats {
  blobsAdded: number;
  /** Raw bytes of new blobs. */
  rawBytesAdded: number;
  /** Stored bytes: packs and index objects. */
  bytesAdded: number;
  packsWritten: number;
}

/**
 * Deduplicates, compresses, seals and packs blobs, then writes packs and, once they are durable,
 * index objects (invariant 1: nothing is referenced before it is durable). One pack stream per
 * (data class, blob type): data and trees never share a pack, nor do data classes.
 */
export class BlobWriter {
  readonly stats: WriteStats = { blobsAdded: 0, rawBytesAdded: 0, bytesAdded: 0, packsWritten: 0 };
  private readonly pending = new Set<BlobId>();
  private readonly packers = new Map<BlobType, OpenPack>();
  /** Packs taken out of `packers` to be written, until they are. */
  private readonly finishing = new Set<OpenPack>();
  private readonly tasks = new Set<Promise<void>>();
  private readonly waiters: (() => void)[] = [];
  private readonly uploadWaiters: (() => void)[] = [];
  private readonly unindexed: IndexedPack[] = [];
  /** Bodies of written packs, for the next packs to fill (see PackBuilder). */
  private readonly spareBodies: Buffer[] = [];
  private inflight = 0;
  private uploads = 0;
  private failure: Error | undefined;
  /** Index objects written by this writer. */
  readonly indexesWritten: IndexId[] = [];
  /** Blobs stored or pending, for worker threads to skip sealing (set by whoever hands the filter out). */
  known: KnownBlobs | undefined;

  constructor(
    private readonly repo: Repository,
    readonly dataClass = 'default',
    private readonly packTargetBytes = PACK_TARGET_BYTES,
  ) {
    this.bodyBytes = packTargetBytes + PACK_BODY_SLACK_BYTES;
  }

  /** Size of a pack's buffer: the target plus room for the blob that crosses it. */
  private readonly bodyBytes: number;

  /** True when the repository or this run already holds the blob. */
  has(id: BlobId): boolean {
    return this.repo.index.hasInClass(id, this.dataClass) || this.pending.has(id);
  }

  /**
   * Queues a blob and returns its id at once; the blob is durable after flush(). Waits while too many
   * bytes are in flight (back-pressure on the reader).
   */
  async save(type: BlobType, data: Buffer): Promise<BlobId> {
    this.throwIfFailed();
    const id = blobIdOf(this.repo.keyring, data);
    if (this.has(id)) return id;
    this.pending.add(id);
    if (data.length <= SYNC_CODEC_MAX_BYTES) {
      // Small blobs are compressed inline; only a full pack makes this wait (for its upload).
      await this.process(id, type, data);
      return id;
    }
    while (this.inflight >= PARALLEL_COMPRESSIONS) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
      this.throwIfFailed();
    }
    this.inflight++;
    const task = this.process(id, type, data)
      .catch((err: Error) => {
        this.failure ??= err;
      })
      .finally(() => {
        this.inflight--;
        this.tasks.delete(task);
        this.waiters.shift()?.();
      });
    this.tasks.add(task);
    return id;
  }

  /**
   * Packs a blob that a worker thread already hashed, compressed and sealed; drops it when the repository
   * or this run has it. Returns a promise only when the caller must wait (a pack to finish or to write
   * out first); most blobs are taken synchronously, which matters at 20,000 small files.
   */
  addPrepared(blob: PreparedBlob): Promise<void> | undefined {
    this.throwIfFailed();
    if (this.has(blob.id)) return undefined;
    this.pending.add(blob.id);
    this.known?.add(blob.id);
    return this.addSealed(blob);
  }

  /** Finishes every open pack and writes the index for everything written. */
  async flush(): Promise<void> {
    try {
      await this.settleTasks();
      for (const [type, packer] of this.packers) {
        this.packers.delete(type);
        if (packer.count > 0) await this.startPackWrite(packer);
      }
      await this.settleTasks();
      await this.writeIndex();
    } catch (err) {
      await Promise.all([...this.packers.values()].map((p) => p.abort()));
      this.packers.clear();
      throw err;
    }
  }

  /**
   * Gives up after a failure elsewhere: waits for writes under way, then drops every unfinished pack (a
   * streamed pack's temp file is removed and its file closed). Nothing written is referenced by an index.
   */
  async abort(): Promise<void> {
    this.failure ??= new Error('the blob writer was aborted');
    await Promise.allSettled([...this.tasks]);
    const open = [...this.packers.values(), ...this.finishing];
    this.packers.clear();
    await Promise.all(open.map((p) => p.abort()));
  }

  /**
   * Resolves once every blob added so far is written out of its caller's buffer (a streamed pack writes
   * views): a worker's batch buffer may then go back to it.
   */
  async settle(): Promise<void> {
    await Promise.all([...this.packers.values(), ...this.finishing].map((p) => p.settle()));
  }

  /** Waits for every compression and pack write under way; throws the first failure. */
  private async settleTasks(): Promise<void> {
    while (this.tasks.size > 0) await Promise.all([...this.tasks]);
    this.throwIfFailed();
  }

  private async process(id: BlobId, type: BlobType, data: Buffer): Promise<void> {
    const { payload, compression } = await compressBlob(data);
    const sealed = seal(this.repo.keyring, payload, AAD.blob(id));
    await this.addSealed({ id, type, compression, rawLength: data.length, sealed });
  }

  private addSealed(blob: PreparedBlob): Promise<void> | undefined {
    if (this.overflowing(blob)) return this.addAfterFinishing(blob);
    // No await from here to add()'s first step: the pack looked up is the pack the blob goes into.
    let packer = this.packers.get(blob.type);
    if (!packer) {
      packer = this.newPack();
      this.packers.set(blob.type, packer);
    }
    const adding = packer.add(blob);
    this.stats.blobsAdded++;
    this.stats.rawBytesAdded += blob.rawLength;
    if (packer.size < this.packTargetBytes && packer.count < PACK_MAX_BLOBS) return adding;
    // Out of `packers` and into `finishing` in the same step: settle() must always see a pack that may
    // still hold a caller's blob views (a pack in neither let a batch buffer go back too early).
    this.packers.delete(blob.type);
    this.finishing.add(packer);
    return this.finishFull(packer, adding);
  }

  /** The open pack of the blob's type when the blob would overflow its buffer. */
  private overflowing(blob: PreparedBlob): OpenPack | undefined {
    const open = this.packers.get(blob.type);
    return open && open.count > 0 && !open.fits(blob.sealed.length) ? open : undefined;
  }

  /**
   * Finishes the open pack when the blob would overflow its buffer (a little under target, rather than
   * growing the buffer), then adds it. Awaiting lets another producer open a pack meanwhile: look again.
   */
  private async addAfterFinishing(blob: PreparedBlob): Promise<void> {
    for (let open = this.overflowing(blob); open; open = this.overflowing(blob)) {
      this.packers.delete(blob.type);
      await this.startPackWrite(open);
    }
    await this.addSealed(blob);
  }

  /** Writes a pack that its last blob filled, once that blob's own write (if any) is over. */
  private async finishFull(packer: OpenPack, adding: Promise<void> | undefined): Promise<void> {
    try {
      await adding;
    } catch (err) {
      this.failure ??= err as Error;
      await packer.abort(); // waits for its writes: only then may settle() stop waiting for it
      this.finishing.delete(packer);
      throw err;
    }
    await this.startPackWrite(packer);
  }

  /** A pack streamed to the storage when it can take one piece by piece, else one filled in memory. */
  private newPack(): OpenPack {
    const { storage, keyring } = this.repo;
    if (storage.createWriter)
      return new StreamedPack(this.dataClass, storage as Required<typeof storage>, keyring, this.bodyBytes);
    const body = this.spareBodies.pop() ?? Buffer.allocUnsafeSlow(this.bodyBytes);
    return new BufferedPack(this.dataClass, storage, keyring, body, (b) => this.recycle(b));
  }

  /**
   * Starts writing a finished pack and returns once it is under way (waiting first while the storage's
   * parallelism is used up): the next pack fills while this one is written.
   */
  private async startPackWrite(packer: OpenPack): Promise<void> {
    this.finishing.add(packer);
    const parallel = Math.min(
      MAX_PARALLEL_PACK_UPLOADS,
      Math.max(1, this.repo.storage.writeParallelism ?? 1),
    );
    while (this.uploads >= parallel) await new Promise<void>((resolve) => this.uploadWaiters.push(resolve));
    if (this.failure) {
      await packer.abort(); // waits for its writes: only then may settle() stop waiting for it
      this.finishing.delete(packer);
      throw this.failure;
    }
    this.uploads++;
    const task = this.writePack(packer)
      .catch((err: Error) => {
        this.failure ??= err;
      })
      .finally(() => {
        this.uploads--;
        this.finishing.delete(packer);
        this.tasks.delete(task);
        this.uploadWaiters.shift()?.();
      });
    this.tasks.add(task);
  }

  private async writePack(packer: OpenPack): Promise<void> {
    const { id, size, entries } = await packer.finish();
    const pack: IndexedPack = { id, dataClass: packer.dataClass, entries };
    this.repo.index.addPack(pack);
    for (const e of entries) this.pending.delete(e.id);
    this.unindexed.push(pack);
    this.stats.bytesAdded += size;
    this.stats.packsWritten++;
    if (this.unindexed.length >= INDEX_FLUSH_PACKS) await this.writeIndex();
  }

  /** Keeps a written pack's buffer for the next pack, or frees it now when it is not the usual size. */
  private recycle(body: Buffer): void {
    if (body.length === this.bodyBytes && this.spareBodies.length < MAX_PARALLEL_PACK_UPLOADS)
      this.spareBodies.push(body);
    else releaseNow(body.buffer);
  }

  private async writeIndex(): Promise<void> {
    if (this.unindexed.length === 0) return;
    const packs = this.unindexed.splice(0);
    const { id, bytes } = await this.repo.saveJson(INDEX_PREFIX, encodeIndex(packs), AAD.index);
    this.indexesWritten.push(id as IndexId);
    this.stats.bytesAdded += bytes;
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }
}
