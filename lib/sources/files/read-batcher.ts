import { type BlobBatch, batchUsedBytes, unpackBlobBatch } from '../../repo/blob-batch';
import type { PreparedBlob } from '../../repo/blob-codec';
import type { BlobId } from '../../repo/ids';
import type { WorkerPool } from '../../repo/worker-pool';
import { WorkerJobError } from '../../repo/worker-pool';
import type { WindowJobResult } from '../window-sealer';
import type { ExpectedStat, FileReadResult, ReadRequest } from './file-reader';
import type { ScanEntry, ScanJob } from './scan';

/** Files per batch: a job per small file costs more in messages than reading it. */
export const BATCH_MAX_FILES = 64;
/** Bytes per batch: large files travel alone. */
export const BATCH_MAX_BYTES = 8 * 1024 * 1024;
/** Batches in flight per worker. */
export const BATCHES_PER_WORKER = 2;

/** One file's outcome in a batch: its result, or the error reading it raised. */
export type BatchFileResult = FileReadResult | { error: { code?: string; message: string } };

interface Request extends ReadRequest {
  resolve(r: FileReadResult): void;
  reject(err: Error): void;
}

/**
 * Sends file reads and folder scans to worker threads. Reads of single files are gathered into batches
 * (large files travel alone); each request resolves with that file's result. Blobs stream to `onBlob`
 * (the blob writer) as workers produce them, in buffers that go back to the worker once packed.
 */
export class ReadBatcher {
  private queue: Request[] = [];
  private queuedBytes = 0;
  private scheduled = false;
  private readonly receive: (
    msg: unknown,
    reply: (m: Record<string, unknown>, t?: ArrayBuffer[]) => void,
  ) => Promise<void>;

  constructor(
    private readonly pool: WorkerPool,
    /** Takes one blob; returns a promise only when the caller must wait before the next. */
    onBlob: (blob: PreparedBlob) => Promise<void> | undefined,
    /** Resolves once every blob passed to onBlob is out of the batch's buffer (see BlobWriter.settle). */
    settle: () => Promise<void>,
    /** Exclude patterns the workers apply while scanning folders. */
    private readonly excludes: readonly string[] = [],
    /** The known-blob filter's memory at the time of a job (KnownBlobs.buffer), if there is one. */
    private readonly known: () => SharedArrayBuffer | undefined = () => undefined,
  ) {
    this.receive = async (msg, reply) => {
      const batch = msg as BlobBatch;
      // Once every blob is in a pack (copied, or written to a streamed pack's file: settle), the buffer goes
      // back to the worker for its next batch, and the budget it counts returns to zero.
      for (const blob of unpackBlobBatch(batch)) {
        const waiting = onBlob(blob);
        if (waiting) await waiting;
      }
      await settle();
      reply({ op: 'ack', bytes: batchUsedBytes(batch), buffers: [batch.buffer] }, [batch.buffer]);
    };
  }

  /**
   * Seals chunks cut and hashed on this thread (`ids`), back to back in `bytes` (shared memory the worker
   * reads in place); their blobs stream to onBlob.
   */
  seal(bytes: Buffer, lengths: number[], ids: BlobId[]): Promise<void> {
    return this.pool.run<void>(
      { op: 'seal', shared: bytes.buffer, length: bytes.length, lengths, ids },
      [],
      this.receive,
    );
  }

  /**
   * Hashes and seals windows of streamed files, back to back in `bytes` (shared memory), in chunks of
   * `chunkBytes` (WindowSealer); chunks the known-blob filter probably holds are only hashed.
   */
  windows(bytes: Buffer, windows: number[], chunkBytes: number): Promise<WindowJobResult> {
    return this.pool.run<WindowJobResult>(
      { op: 'windows', shared: bytes.buffer, length: bytes.length, windows, chunkBytes, known: this.known() },
      [],
      this.receive,
    );
  }

  /** Scans entries of a folder on a worker (scan.ts); their blobs stream to onBlob. */
  scan(job: ScanJob): Promise<ScanEntry[]> {
    return this.pool.run<ScanEntry[]>(
      { op: 'scan', job, excludes: this.excludes, known: this.known() },
      [],
      this.receive,
    );
  }

  /** How many reads to keep queued: enough to fill every worker's batches. */
  get capacity(): number {
    return this.pool.size * BATCHES_PER_WORKER * BATCH_MAX_FILES;
  }

  /**
   * Reads one file (path bytes as a latin1 string cross threads without copying a pooled buffer);
   * `unskipped` sends every blob, even those the known-blob filter holds.
   */
  read(path: Buffer, expect: ExpectedStat, unskipped = false): Promise<FileReadResult> {
    return new Promise((resolve, reject) => {
      this.queue.push({ path: path.toString('latin1'), expect, unskipped, resolve, reject });
      this.queuedBytes += expect.size;
      if (this.queue.length >= BATCH_MAX_FILES || this.queuedBytes >= BATCH_MAX_BYTES) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          this.flush();
        });
      }
    });
  }

  private flush(): void {
    if (this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    this.queuedBytes = 0;
    // Runs on a timer: any failure, even a synchronous one, must reach the waiting requests.
    Promise.resolve()
      .then(() =>
        this.pool.run<BatchFileResult[]>(
          {
            op: 'read',
            files: batch.map(
              (r): ReadRequest => ({ path: r.path, expect: r.expect, unskipped: r.unskipped }),
            ),
            known: this.known(),
          },
          [],
          this.receive,
        ),
      )
      .then(
        (results) =>
          results.forEach((r, i) => {
            const req = batch[i]!;
            if ('error' in r)
              req.reject(new WorkerJobError('Error', r.error.message, r.error.code, req.path));
            else req.resolve(r);
          }),
        (err: Error) => {
          for (const req of batch) req.reject(err);
        },
      );
  }
}
