import type { PreparedBlob } from './blob-codec';
import { type Compression, compressBlobInto, ZSTD_LEVEL } from './compression';
import {
  AAD,
  blobIdOf,
  ENVELOPE_HEADER_BYTES,
  ENVELOPE_OVERHEAD_BYTES,
  type Keyring,
  sealInto,
} from './crypto';
import type { BlobId } from './ids';
import { releaseNow } from './memory';
import type { BlobType } from './pack';
import { ZstdEncoder } from './zstd-native';

/** One blob of a batch: where in the batch's buffer its sealed bytes are. */
export interface BatchedBlob {
  id: BlobId;
  type: BlobType;
  compression: Compression;
  rawLength: number;
  offset: number;
  length: number;
}

/** Sealed blobs as a worker thread sends them: descriptors plus one buffer, transferred (never copied). */
export interface BlobBatch {
  blobs: BatchedBlob[];
  buffer: ArrayBuffer;
}

/** A batch is sent once it holds this much (or when the next blob does not fit). */
export const BATCH_SEND_BYTES = 1024 * 1024;
/** Send buffers per worker: one being filled, the other travelling or being packed. */
export const SEND_BUFFERS = 2;
/** Size of a send buffer; a blob larger than one travels in a buffer of its own, freed once packed. */
export const SEND_BUFFER_BYTES = 2 * 1024 * 1024;

/**
 * Hashes, compresses and seals blobs on a worker thread, straight into the buffer that travels to the
 * main thread (compressed in place, then encrypted in place: no scratch buffer, no intermediate copy). The main thread copies the blobs into a pack and hands the buffer back, so a worker
 * cycles through SEND_BUFFERS buffers for a whole backup: no fresh memory per blob (page faults were a
 * sixth of a backup's CPU), a fixed ceiling on what is in flight, and back-pressure for free — a worker
 * whose buffers are all out waits for one to return.
 */
export class BlobBatchBuilder {
  private readonly encoder = new ZstdEncoder(ZSTD_LEVEL);
  private readonly maxBlobBytes: number;
  private readonly bufferBytes: number;
  private readonly free: Buffer[] = [];
  private readonly waiters: (() => void)[] = [];
  private allocated = 0;
  private current: { buffer: Buffer; used: number; blobs: BatchedBlob[] } | undefined;

  constructor(
    private readonly keyring: Keyring,
    maxBlobBytes: number,
    private readonly send: (batch: BlobBatch) => Promise<void>,
  ) {
    this.maxBlobBytes = maxBlobBytes;
    this.bufferBytes = SEND_BUFFER_BYTES;
  }

  /**
   * Adds one blob and returns its id; `data` may be reused once this resolves. Sends the batch when it
   * is full, and waits when every buffer is out. A blob `skip` says is stored already is neither
   * compressed, sealed nor sent: only its id comes back. `hashed` is the id when the caller has computed
   * it already (with this keyring).
   */
  async add(type: BlobType, data: Buffer, skip?: (id: BlobId) => boolean, hashed?: BlobId): Promise<BlobId> {
    if (data.length > this.maxBlobBytes)
      throw new RangeError(`blob of ${data.length} bytes is over the maximum`);
    const id = hashed ?? blobIdOf(this.keyring, data);
    if (skip?.(id)) return id;
    // Room for the largest frame of the blob: it is compressed where its ciphertext goes, then sealed in place.
    const room = ZstdEncoder.bound(data.length) + ENVELOPE_OVERHEAD_BYTES;
    if (room > this.bufferBytes) {
      // Chunks over 2 MiB (a minority; they average 1 MiB) get a buffer of their own, sent at once and
      // freed when it comes back.
      const buffer = Buffer.allocUnsafeSlow(room);
      const blob = this.seal(id, type, data, buffer, 0);
      await this.send({ blobs: [blob], buffer: buffer.buffer as ArrayBuffer });
      return id;
    }
    if (this.current && this.current.used + room > this.bufferBytes) await this.flush();
    if (!this.current) this.current = { buffer: await this.acquire(), used: 0, blobs: [] };
    const batch = this.current;
    const blob = this.seal(id, type, data, batch.buffer, batch.used);
    batch.used += blob.length;
    batch.blobs.push(blob);
    if (batch.used >= BATCH_SEND_BYTES) await this.flush();
    return id;
  }

  /** Compresses and seals one blob into `buffer` at `offset` (room for its largest frame is there). */
  private seal(id: BlobId, type: BlobType, data: Buffer, buffer: Buffer, offset: number): BatchedBlob {
    const body = buffer.subarray(
      offset + ENVELOPE_HEADER_BYTES,
      offset + ENVELOPE_HEADER_BYTES + ZstdEncoder.bound(data.length),
    );
    const { payload, compression } = compressBlobInto(this.encoder, data, body);
    const length = payload.length + ENVELOPE_OVERHEAD_BYTES;
    sealInto(this.keyring.current, payload, AAD.blob(id), buffer.subarray(offset, offset + length));
    return { id, type, compression, rawLength: data.length, offset, length };
  }

  /** Sends what has been gathered. */
  async flush(): Promise<void> {
    const batch = this.current;
    if (!batch) return;
    this.current = undefined;
    await this.send({ blobs: batch.blobs, buffer: batch.buffer.buffer as ArrayBuffer });
  }

  /** Takes back buffers the main thread is done with. */
  reclaim(buffers: ArrayBuffer[]): void {
    for (const b of buffers) {
      if (b.byteLength !== this.bufferBytes) {
        releaseNow(b); // a large blob's own buffer
        continue;
      }
      this.free.push(Buffer.from(b));
      this.waiters.shift()?.();
    }
  }

  /** Frees the compression context. */
  close(): void {
    this.encoder.close();
  }

  private async acquire(): Promise<Buffer> {
    for (;;) {
      const buffer = this.free.pop();
      if (buffer) return buffer;
      if (this.allocated < SEND_BUFFERS) {
        this.allocated++;
        // allocUnsafeSlow: the buffer owns its whole ArrayBuffer, so transferring it moves nothing else.
        return Buffer.allocUnsafeSlow(this.bufferBytes);
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }
}

/** The prepared blobs of a batch that arrived from a worker thread (views into its buffer). */
export function unpackBlobBatch(batch: BlobBatch): PreparedBlob[] {
  return batch.blobs.map((b) => ({
    id: b.id,
    type: b.type,
    compression: b.compression,
    rawLength: b.rawLength,
    sealed: Buffer.from(batch.buffer, b.offset, b.length),
  }));
}

/** Bytes of a batch's buffer that hold blobs (what flow control counts on both sides). */
export function batchUsedBytes(batch: BlobBatch): number {
  const last = batch.blobs[batch.blobs.length - 1];
  return last ? last.offset + last.length : 0;
}
