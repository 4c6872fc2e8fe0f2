import type { BlobWriter } from '../repo/blob-writer';
import { chunkBufferBytes, chunkStream, type ReadFn } from '../repo/chunk-stream';
import type { Chunker } from '../repo/chunker';
import { blobIdOf, type Keyring } from '../repo/crypto';
import type { BlobId } from '../repo/ids';
import { BlobType } from '../repo/pack';
import type { WorkerPool } from '../repo/worker-pool';
import { ReadBatcher } from './files/read-batcher';

/** Bytes of chunks per sealing job. */
export const SEAL_JOB_BYTES = 4 * 1024 * 1024;
/** Sealing jobs (or, without workers, blob writes) in flight before producers are asked to wait. */
export const SEAL_JOBS_IN_FLIGHT = 4;

/** One file being stored chunk by chunk (FileSeal.add); its blob ids once finished. */
export interface FileSeal {
  /** Takes one chunk (a view: it is hashed, and copied if it must travel, before this returns). */
  add(chunk: Buffer): void;
  /** Everything added, as blob ids in order, once each is stored or known. */
  finish(): Promise<BlobId[]>;
}

/**
 * Stores streamed data (a tar member of a base backup, a file of a dump) that only this thread can read:
 * chunks are cut and hashed here, and the chunks the repository does not hold yet go, copied back to back
 * into a job buffer, to a worker thread to be compressed and sealed (the blob writer packs what comes
 * back; the buffer returns for the next job). Known chunks cost a hash. Without workers, the blob writer
 * does everything on this thread.
 */
export class ChunkSealer {
  private readonly sender: ReadBatcher | undefined;
  /** Ids sent to a worker and not yet in the writer: a chunk repeated in the stream (empty pages) goes once. */
  private readonly sent = new Set<BlobId>();
  private borrowed: Buffer | undefined;
  /**
   * Job buffers: shared memory the workers read in place, so nothing is transferred or copied per job
   * (transferring a fresh 12 MiB buffer each time made V8 collect garbage for a sixth of the backup).
   */
  private readonly spare: Buffer[] = [];
  private inFlight = 0;
  private readonly waiters: (() => void)[] = [];

  constructor(
    private readonly writer: BlobWriter,
    private readonly chunker: Chunker,
    private readonly keyring: Keyring,
    pool?: WorkerPool,
  ) {
    this.sender = pool
      ? new ReadBatcher(
          pool,
          (blob) => writer.addPrepared(blob),
          () => writer.settle(),
        )
      : undefined;
  }

  /** Resolves once fewer than SEAL_JOBS_IN_FLIGHT jobs are out; undefined when there is room now. */
  pressure(): Promise<void> | undefined {
    if (this.inFlight < SEAL_JOBS_IN_FLIGHT) return undefined;
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Starts storing one file. */
  beginFile(): FileSeal {
    const parts: (BlobId | Promise<BlobId | BlobId[]>)[] = [];
    let job: Buffer | undefined;
    let lengths: number[] = [];
    let ids: BlobId[] = [];
    let used = 0;
    const send = () => {
      if (!job || lengths.length === 0) return;
      const bytes = job.subarray(0, used);
      const sealed = ids;
      parts.push(this.track(this.seal(bytes, lengths, sealed)).then(() => sealed));
      job = undefined;
      lengths = [];
      ids = [];
      used = 0;
    };
    return {
      add: (chunk) => {
        if (!this.sender) {
          // The writer dedups, compresses (off this thread when large) and seals; it needs its own copy.
          parts.push(this.track(this.writer.save(BlobType.Data, Buffer.from(chunk))));
          return;
        }
        const id = blobIdOf(this.keyring, chunk);
        if (this.writer.has(id) || this.sent.has(id)) {
          send(); // ids stay in order: what was gathered goes first
          parts.push(id);
          return;
        }
        this.sent.add(id);
        if (job && used + chunk.length > job.length) send();
        job ??=
          this.spare.pop() ??
          Buffer.from(new SharedArrayBuffer(SEAL_JOB_BYTES + this.chunker.params.maxBytes));
        used += chunk.copy(job, used);
        lengths.push(chunk.length);
        ids.push(id);
        if (used >= SEAL_JOB_BYTES) send();
      },
      finish: async () => {
        send();
        const ids: BlobId[] = [];
        for (const p of parts) {
          const v = await p;
          if (typeof v === 'string') ids.push(v);
          else ids.push(...v);
        }
        return ids;
      },
    };
  }

  /** Stores everything `read` yields as one file's content (a pull producer); returns its blob ids. */
  async store(read: ReadFn, sizeHint?: number, onBytes?: (n: number) => void): Promise<BlobId[]> {
    this.borrowed ??= Buffer.allocUnsafeSlow(chunkBufferBytes(this.chunker));
    const file = this.beginFile();
    for await (const chunk of chunkStream(read, this.chunker, sizeHint, this.borrowed)) {
      onBytes?.(chunk.length);
      file.add(chunk);
      const wait = this.pressure();
      if (wait) await wait;
    }
    return file.finish();
  }

  /** Counts a job or write in flight until it settles. */
  private track<T>(p: Promise<T>): Promise<T> {
    this.inFlight++;
    const done = () => {
      this.inFlight--;
      this.waiters.shift()?.();
    };
    p.then(done, done);
    return p;
  }

  /** One job; its buffer is free again once the worker is done with it. */
  private async seal(bytes: Buffer, lengths: number[], ids: BlobId[]): Promise<void> {
    try {
      await this.sender!.seal(bytes, lengths, ids);
    } finally {
      this.spare.push(Buffer.from(bytes.buffer as SharedArrayBuffer));
    }
  }
}

/** A pull reader over a buffer held in memory. */
export function bufferReader(data: Buffer): ReadFn {
  let at = 0;
  return async (buf, offset, length) => {
    const n = Math.min(length, data.length - at);
    data.copy(buf, offset, at, at + n);
    at += n;
    return n;
  };
}
