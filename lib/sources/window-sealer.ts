import type { BlobWriter } from '../repo/blob-writer';
import { type Chunker, fixedChunks } from '../repo/chunker';
import type { BlobId } from '../repo/ids';
import { BlobType } from '../repo/pack';
import type { WorkerPool } from '../repo/worker-pool';
import { ReadBatcher } from './files/read-batcher';

/**
 * Streamed files travel to the workers in windows of this size at fixed offsets (0, 16 MiB, 32 MiB, … of
 * each file); a window is a whole number of chunks.
 */
export const WINDOW_BYTES = 16 * 1024 * 1024;
/** Window jobs (a job buffer each) out at once before the producer is asked to wait. */
export const WINDOW_JOBS_IN_FLIGHT = 4;

/** One streamed file: its bytes go in with add(), in order, exactly as many as announced. */
export interface StreamSeal {
  /** Takes bytes of the file (copied before this returns). */
  add(bytes: Uint8Array): void;
  /** The file's blob ids in order, once each is stored or known. */
  finish(): Promise<BlobId[]>;
}

/** What a worker returns for a window job (op 'windows' in files/worker-jobs.ts). */
export interface WindowJobResult {
  /** Every chunk's id, window after window. */
  ids: BlobId[];
  /** Chunks per window. */
  counts: number[];
  /** Chunks the worker did not seal because the known-blob filter probably holds them: [index in ids, offset, length]. */
  skipped: [number, number, number][];
}

interface Job {
  buffer: Buffer;
  used: number;
  windows: number[];
  result: Promise<BlobId[][]>;
  resolve(ids: BlobId[][]): void;
  reject(err: Error): void;
}

/**
 * Stores files that arrive as a stream only this thread can read (the members of a base backup's tar
 * archives) in fixed-size chunks: bytes [0, C), [C, 2C), … of each file, C the repository's average chunk
 * size (1 MiB by default). This thread only copies each file's bytes, window by window, into job buffers
 * of shared memory; the workers hash, compress and seal the chunks, any worker any window, so both work
 * at once even on one 1 GiB relation segment.
 *
 * Fixed chunks suit PostgreSQL's files, which change in place (pages are rewritten, never shifted): a
 * chunk holds the same bytes from one backup to the next unless a page in it changed, which is all that
 * content-defined chunking would find, without its scan over every byte (two fifths of a backup's CPU).
 * Their boundaries reveal no more than the file's size. (A file whose content shifts, a dump, goes
 * through ChunkSealer, which chunks it by content.)
 *
 * A worker skips sealing a chunk the known-blob filter probably holds; every such chunk is checked here
 * against the writer (exact) while its bytes are still in the job buffer, and stored from there when the
 * filter was wrong. Without workers, everything happens on this thread.
 */
export class WindowSealer {
  private readonly sender: ReadBatcher | undefined;
  private job: Job | undefined;
  private readonly spare: Buffer[] = [];
  private inFlight = 0;
  private readonly waiters: (() => void)[] = [];
  /** A window reserved and not yet filled (only one file streams at a time). */
  private open = false;

  /** Bytes per chunk (the last chunk of a file is shorter). */
  readonly chunkBytes: number;

  constructor(
    private readonly writer: BlobWriter,
    chunker: Chunker,
    pool?: WorkerPool,
  ) {
    this.chunkBytes = fixedChunkBytes(chunker);
    this.sender = pool
      ? new ReadBatcher(
          pool,
          (blob) => writer.addPrepared(blob),
          () => writer.settle(),
          [],
          () => writer.known?.buffer,
        )
      : undefined;
  }

  /** Resolves once fewer than WINDOW_JOBS_IN_FLIGHT jobs are out; undefined when there is room now. */
  pressure(): Promise<void> | undefined {
    if (this.inFlight < WINDOW_JOBS_IN_FLIGHT) return undefined;
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Starts a file of `size` bytes. */
  begin(size: number): StreamSeal {
    const windows: Promise<BlobId[]>[] = [];
    let received = 0;
    let window: { buffer: Buffer; at: number; length: number; filled: number } | undefined;
    return {
      add: (bytes) => {
        if (received + bytes.length > size)
          throw new Error(`a streamed file sent more than the ${size} bytes it announced`);
        let from = 0;
        while (from < bytes.length) {
          if (!window || window.filled === window.length) {
            const length = Math.min(WINDOW_BYTES, size - received);
            const reserved = this.reserve(length);
            windows.push(reserved.ids);
            window = { buffer: reserved.buffer, at: reserved.at, length, filled: 0 };
          }
          const n = Math.min(bytes.length - from, window.length - window.filled);
          window.buffer.set(bytes.subarray(from, from + n), window.at + window.filled);
          window.filled += n;
          received += n;
          from += n;
          if (window.filled === window.length) this.open = false;
        }
      },
      finish: async () => {
        if (received !== size)
          throw new Error(`a streamed file ended after ${received} of the ${size} bytes it announced`);
        return (await Promise.all(windows)).flat();
      },
    };
  }

  /** True while a file is begun and not finished (flush would throw). */
  get midFile(): boolean {
    return Boolean(this.open);
  }

  /** Sends what is gathered (the end of an archive): every file begun so far resolves once its jobs do. */
  flush(): void {
    if (this.open) throw new Error('the window sealer was flushed in the middle of a file');
    this.send();
  }

  /** Room for one window in the current job (a new job when it does not fit). */
  private reserve(length: number): { buffer: Buffer; at: number; ids: Promise<BlobId[]> } {
    if (this.open) throw new Error('two streamed files at once in one window sealer');
    if (this.job && this.job.used + length > this.job.buffer.length) this.send();
    this.job ??= this.newJob();
    const job = this.job;
    const index = job.windows.push(length) - 1;
    const at = job.used;
    job.used += length;
    this.open = true;
    const ids = job.result.then((all) => all[index]!);
    ids.catch(() => undefined); // seen by the file's finish(), when it gets that far
    return { buffer: job.buffer, at, ids };
  }

  private newJob(): Job {
    const buffer = this.spare.pop() ?? Buffer.from(new SharedArrayBuffer(WINDOW_BYTES));
    let resolve!: (ids: BlobId[][]) => void;
    let reject!: (err: Error) => void;
    const result = new Promise<BlobId[][]>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Awaited by the files' finish(); a failure also reaches the writer's caller through them.
    result.catch(() => undefined);
    return { buffer, used: 0, windows: [], result, resolve, reject };
  }

  private send(): void {
    const job = this.job;
    if (!job || job.windows.length === 0) return;
    this.job = undefined;
    this.inFlight++;
    const done = () => {
      this.inFlight--;
      this.spare.push(job.buffer);
      this.waiters.shift()?.();
    };
    this.run(job).then(
      (ids) => {
        done();
        job.resolve(ids);
      },
      (err: Error) => {
        done();
        job.reject(err);
      },
    );
  }

  private async run(job: Job): Promise<BlobId[][]> {
    const bytes = job.buffer.subarray(0, job.used);
    if (!this.sender) return this.cutHere(bytes, job.windows);
    const result = await this.sender.windows(bytes, job.windows, this.chunkBytes);
    for (const [index, offset, length] of result.skipped) {
      const id = result.ids[index]!;
      // The filter's hint was wrong (64 bits matched, or a slot was half written): store it from the job buffer.
      if (!this.writer.has(id))
        await this.writer.save(BlobType.Data, Buffer.from(bytes.subarray(offset, offset + length)));
    }
    const out: BlobId[][] = [];
    let at = 0;
    for (const count of result.counts) {
      out.push(result.ids.slice(at, at + count));
      at += count;
    }
    return out;
  }

  /** Without workers: the same chunks, and the writer compresses and seals (each copied, as it keeps it). */
  private async cutHere(bytes: Buffer, windows: number[]): Promise<BlobId[][]> {
    const out: BlobId[][] = [];
    let at = 0;
    for (const length of windows) {
      const ids: BlobId[] = [];
      for (const chunk of fixedChunks(bytes, at, at + length, this.chunkBytes))
        ids.push(await this.writer.save(BlobType.Data, Buffer.from(chunk)));
      out.push(ids);
      at += length;
    }
    return out;
  }
}

/** The fixed chunk size for a repository: its average chunk size, a divisor of WINDOW_BYTES (powers of two). */
export function fixedChunkBytes(chunker: Chunker): number {
  let bytes = 1 << Math.round(Math.log2(chunker.params.avgBytes));
  while (bytes > WINDOW_BYTES) bytes /= 2;
  return bytes;
}
