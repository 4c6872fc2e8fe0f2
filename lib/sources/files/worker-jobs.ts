import {
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  ftruncateSync,
  futimesSync,
  openSync,
  readFileSync,
  writeSync,
} from 'node:fs';
import { workerData } from 'node:worker_threads';
import { BlobBatchBuilder, batchUsedBytes } from '../../repo/blob-batch';
import { BlobDecoder } from '../../repo/blob-codec';
import { verifyPackBytes } from '../../repo/check';
import { Chunker, type ChunkerParams, fixedChunks, gearTable } from '../../repo/chunker';
import { blobIdOf } from '../../repo/crypto';
import type { BlobId, PackId } from '../../repo/ids';
import { decodeKeyring } from '../../repo/keyring';
import { KnownBlobs } from '../../repo/known-blobs';
import { GarbageBudget, releaseNow } from '../../repo/memory';
import { BlobType } from '../../repo/pack';
import { type JobContext, serveJobs, WithTransfer } from '../../repo/worker-host';
import type { WindowJobResult } from '../window-sealer';
import { ExcludeMatcher } from './excludes';
import { type ExpectedStat, type FileReadResult, type ReadRequest, readFileBlobs } from './file-reader';
import { type Creator, ownedAs } from './ownership';
import type { BatchFileResult } from './read-batcher';
import { type ScanEntry, type ScanJob, scanEntries } from './scan';
import { nonZeroRanges } from './sparse';

/** What a restore job tells a worker to do with one decoded blob. */
export interface RestoreTarget {
  path: Uint8Array;
  offset: number;
  /** Set on the job that writes the file's last blob: truncate to size and apply metadata. */
  finish?: FinishFile;
}

export interface FinishFile {
  size: number;
  mode: number;
  uid: number;
  gid: number;
  mtimeNs: string;
}

export interface RestoreRunJob {
  packName: string;
  start: number;
  bytes: Uint8Array;
  blobs: {
    id: string;
    offset: number;
    length: number;
    rawLength: number;
    compression: number;
    targets: RestoreTarget[];
  }[];
  asRoot: boolean;
  /** Owner of the files the restore creates, when known (see Restorer): no chown to the same. */
  createdAs?: Creator;
}

/** What a worker needs before its first job (WorkerPool's workerData or configure()). */
export interface WorkerSetup {
  keyring: Uint8Array;
  chunker: ChunkerParams;
}

/**
 * Entry point of a zapas worker thread: the keyring and chunker parameters come in workerData or, for a
 * pool started before the key was derived, in a later configure message; jobs come by message.
 */
export function startWorker(): void {
  let keyring!: ReturnType<typeof decodeKeyring>;
  let chunker!: Chunker;
  const configure = (setup: Record<string, unknown>) => {
    const s = setup as unknown as WorkerSetup;
    keyring = decodeKeyring(Buffer.from(s.keyring), 'worker keyring');
    chunker = new Chunker(gearTable(keyring.chunkerSeed), s.chunker);
  };
  serveJobs(
    {
      read: (job, ctx: JobContext) =>
        readBatch(
          job.files as ReadRequest[],
          job.known as SharedArrayBuffer | undefined,
          chunker,
          keyring,
          ctx,
        ),
      scan: (job, ctx: JobContext) =>
        scanFolder(
          job.job as ScanJob,
          job.excludes as string[],
          job.known as SharedArrayBuffer | undefined,
          chunker,
          keyring,
          ctx,
        ),
      seal: (job, ctx: JobContext) => sealChunks(job as unknown as SealJob, chunker, keyring, ctx),
      windows: (job, ctx: JobContext) => sealWindows(job as unknown as WindowJob, chunker, keyring, ctx),
      restore: async (job) => {
        const buffer = (job.bytes as Uint8Array).buffer as ArrayBuffer;
        let result: ReturnType<typeof restoreRun>;
        try {
          result = restoreRun(keyring, job as unknown as RestoreRunJob);
        } catch (err) {
          releaseNow(buffer);
          throw err;
        }
        // A read buffer the main thread reuses goes back to it; any other is freed now.
        if (job.recycle) return new WithTransfer({ ...result, buffer }, [buffer]);
        releaseNow(buffer);
        return result;
      },
      'verify-pack': async (job) => {
        garbage.spend((job.bytes as Uint8Array).length);
        try {
          return verifyPackBytes(
            keyring,
            job.packId as PackId,
            ownBytes(job.bytes as Uint8Array),
            new Map(job.indexed as [BlobId, { offset: number; length: number }][]),
            blobDecoder(keyring),
          );
        } finally {
          releaseNow((job.bytes as Uint8Array).buffer);
        }
      },
    },
    { setup: workerData.setup, configure, reclaim: (buffers) => builder?.reclaim(buffers) },
  );
}

/** Collect short-lived buffers every 8 MiB of chunks (see GarbageBudget): cipher output slices are garbage at once. */
const garbage = new GarbageBudget(8 * 1024 * 1024);

/** The job whose messages carry this thread's blob batches (read jobs run one at a time). */
let batchJob: JobContext | undefined;
let builder: BlobBatchBuilder | undefined;

function batchBuilder(keyring: ReturnType<typeof decodeKeyring>, chunker: Chunker): BlobBatchBuilder {
  builder ??= new BlobBatchBuilder(keyring, chunker.params.maxBytes, async (batch) => {
    if (!batchJob) throw new Error('a blob batch outside a read job');
    await batchJob.send(batch, [batch.buffer], batchUsedBytes(batch));
  });
  return builder;
}

/**
 * Runs `fn` with this thread's blob batch builder; the batches it fills reach the main thread as messages
 * of the job `ctx` (transferred buffers), the last once `fn` is done.
 */
async function withBatches<T>(
  keyring: ReturnType<typeof decodeKeyring>,
  chunker: Chunker,
  ctx: JobContext,
  fn: (batches: BlobBatchBuilder) => Promise<T>,
): Promise<T> {
  const batches = batchBuilder(keyring, chunker);
  batchJob = ctx;
  try {
    const result = await fn(batches);
    await batches.flush();
    return result;
  } finally {
    batchJob = undefined;
  }
}

/**
 * Runs a job that reads files: `fn` gets a reader of one file whose chunks are hashed, compressed and sealed
 * here and reach the main thread in batches of transferred buffers. Chunks the `known` filter (KnownBlobs)
 * holds are hashed only, unless the read is `unskipped`.
 */
function withFileReader<T>(
  keyring: ReturnType<typeof decodeKeyring>,
  chunker: Chunker,
  known: SharedArrayBuffer | undefined,
  ctx: JobContext,
  fn: (
    read: (path: Buffer, expect: ExpectedStat, unskipped?: boolean) => Promise<FileReadResult>,
  ) => Promise<T>,
): Promise<T> {
  const skip = known ? (id: BlobId) => KnownBlobs.mayHold(known, id) : undefined;
  return withBatches(keyring, chunker, ctx, (batches) => {
    const addChunk = (chunk: Buffer) => {
      garbage.spend(chunk.length);
      return batches.add(BlobType.Data, chunk, skip);
    };
    const addEvery = (chunk: Buffer) => {
      garbage.spend(chunk.length);
      return batches.add(BlobType.Data, chunk);
    };
    return fn((path, expect, unskipped) =>
      readFileBlobs(path, expect, chunker, unskipped ? addEvery : addChunk),
    );
  });
}

/** Reads a batch of files, each with its result or its error. */
function readBatch(
  files: ReadRequest[],
  known: SharedArrayBuffer | undefined,
  chunker: Chunker,
  keyring: ReturnType<typeof decodeKeyring>,
  ctx: JobContext,
): Promise<BatchFileResult[]> {
  return withFileReader(keyring, chunker, known, ctx, async (read) => {
    const results: BatchFileResult[] = [];
    for (const f of files) {
      try {
        results.push(await read(Buffer.from(f.path, 'latin1'), f.expect, f.unskipped));
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        results.push({ error: { code: e.code, message: e.message } });
      }
    }
    return results;
  });
}

/** Chunks cut and hashed elsewhere (a stream the main thread reads), to compress and seal here. */
export interface SealJob {
  /** The chunks, back to back, in shared memory the main thread leaves alone until the job ends. */
  shared: SharedArrayBuffer;
  length: number;
  lengths: number[];
  ids: BlobId[];
}

/** Seals the chunks of a job into blob batches for the main thread. */
function sealChunks(
  job: SealJob,
  chunker: Chunker,
  keyring: ReturnType<typeof decodeKeyring>,
  ctx: JobContext,
): Promise<void> {
  const bytes = Buffer.from(job.shared, 0, job.length);
  return withBatches(keyring, chunker, ctx, async (batches) => {
    let at = 0;
    for (let i = 0; i < job.lengths.length; i++) {
      const n = job.lengths[i]!;
      garbage.spend(n);
      await batches.add(BlobType.Data, bytes.subarray(at, at + n), undefined, job.ids[i]);
      at += n;
    }
  });
}

/** Windows of streamed files (WindowSealer), back to back in shared memory, to hash and seal here. */
export interface WindowJob {
  shared: SharedArrayBuffer;
  length: number;
  windows: number[];
  chunkBytes: number;
  known?: SharedArrayBuffer;
}

/** Cuts each window into fixed-size chunks; seals those the known-blob filter does not hold. */
function sealWindows(
  job: WindowJob,
  chunker: Chunker,
  keyring: ReturnType<typeof decodeKeyring>,
  ctx: JobContext,
): Promise<WindowJobResult> {
  const bytes = Buffer.from(job.shared, 0, job.length);
  const known = job.known;
  return withBatches(keyring, chunker, ctx, async (batches) => {
    const result: WindowJobResult = { ids: [], counts: [], skipped: [] };
    let at = 0;
    for (const length of job.windows) {
      let count = 0;
      for (const chunk of fixedChunks(bytes, at, at + length, job.chunkBytes)) {
        const id = blobIdOf(keyring, chunk);
        if (known && KnownBlobs.mayHold(known, id))
          result.skipped.push([result.ids.length, chunk.byteOffset - bytes.byteOffset, chunk.length]);
        else {
          garbage.spend(chunk.length);
          await batches.add(BlobType.Data, chunk, undefined, id);
        }
        result.ids.push(id);
        count++;
      }
      result.counts.push(count);
      at += length;
    }
    return result;
  });
}

/** Scans folder entries (scan.ts), reading the small files here. */
function scanFolder(
  job: ScanJob,
  excludes: string[],
  known: SharedArrayBuffer | undefined,
  chunker: Chunker,
  keyring: ReturnType<typeof decodeKeyring>,
  ctx: JobContext,
): Promise<ScanEntry[]> {
  return withFileReader(keyring, chunker, known, ctx, (read) =>
    scanEntries(job, { excludes: excludeMatcher(excludes), readFile: read }),
  );
}

/** The matcher of the last exclude list seen: one backup sends the same list with every job. */
let excludesCache: { key: string; matcher: ExcludeMatcher | undefined } | undefined;
function excludeMatcher(patterns: string[]): ExcludeMatcher | undefined {
  const key = JSON.stringify(patterns);
  if (excludesCache?.key !== key)
    excludesCache = { key, matcher: patterns.length > 0 ? new ExcludeMatcher(patterns) : undefined };
  return excludesCache.matcher;
}

let decoder: BlobDecoder | undefined;
/** This thread's blob decoder (one zstd context and output buffer for every job). */
function blobDecoder(keyring: ReturnType<typeof decodeKeyring>): BlobDecoder {
  decoder ??= new BlobDecoder(keyring);
  return decoder;
}

/** A Buffer over bytes a job brought (transferred or cloned: this thread owns them), without a copy. */
function ownBytes(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
}

/** Decodes the blobs of one ranged read of a pack (in place) and writes them into their files, with blocking calls. */
export function restoreRun(
  keyring: ReturnType<typeof decodeKeyring>,
  job: RestoreRunJob,
): { bytes: number; finished: number } {
  const bytes = ownBytes(job.bytes);
  const codec = blobDecoder(keyring);
  let written = 0;
  let finished = 0;
  // A file this run finishes is this run's alone: created here, with its final mode.
  const finishedHere = new Map<string, FinishFile>();
  for (const blob of job.blobs)
    for (const t of blob.targets)
      if (t.finish) finishedHere.set(Buffer.from(t.path).toString('binary'), t.finish);
  const files = new Map<string, { fd: number; end: number; modeSet: boolean }>();
  const fileOf = (path: Buffer) => {
    const key = path.toString('binary');
    let file = files.get(key);
    if (file === undefined) {
      // Never truncate: several jobs may fill one large file, each at its own offsets.
      const finish = finishedHere.get(key);
      file = finish ? createFinal(path, finish) : { fd: openForWrite(path), end: 0, modeSet: false };
      files.set(key, file);
    }
    return file;
  };
  try {
    for (const blob of job.blobs) {
      const sealed = bytes.subarray(blob.offset - job.start, blob.offset - job.start + blob.length);
      garbage.spend(blob.length);
      const data = codec.decode(blob.id as BlobId, sealed, blob, job.packName);
      for (const t of blob.targets) {
        const path = Buffer.from(t.path);
        const file = fileOf(path);
        file.end = Math.max(
          file.end,
          withPath(path, () => writeSparse(file.fd, data, t.offset)),
        );
        written += data.length;
        if (t.finish) {
          const f = t.finish;
          // The file is as long as its last non-zero byte; only a zero tail (sparse) needs the length set.
          if (file.end !== f.size) withPath(path, () => ftruncateSync(file.fd, f.size));
          files.delete(path.toString('binary'));
          const chown = job.asRoot && !ownedAs(f, job.createdAs);
          withPath(path, () => finishOpenFile(file.fd, f, chown, file.modeSet));
          finished++;
        }
      }
    }
  } finally {
    for (const file of files.values()) closeSync(file.fd);
  }
  return { bytes: written, finished };
}

/** Writes the non-zero ranges of `data` at `offset` (zeros stay holes); returns the end of the last one written. */
function writeSparse(fd: number, data: Buffer, offset: number): number {
  let end = 0;
  for (const [start, stop] of nonZeroRanges(data)) {
    writeAll(fd, data.subarray(start, stop), offset + start);
    end = offset + stop;
  }
  return end;
}

/** The umask, read once (process.umask() without an argument is deprecated: it writes the mask to read it). */
const UMASK = readUmask();

function readUmask(): number | undefined {
  try {
    const line = /^Umask:\s*([0-7]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return line ? Number.parseInt(line[1]!, 8) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Opens a file of the restore that several runs fill: the main thread created it (exclusively) before
 * handing out its runs. `path` names it through its folder's descriptor (target-dir.ts), and no open here
 * creates or follows a symlink: what is written is the file this restore made.
 */
function openForWrite(path: Buffer): number {
  return withPath(path, () => openSync(path, constants.O_WRONLY | constants.O_NOFOLLOW));
}

/** Creates a file this run fills alone, with its final mode: it must not exist (not even as a symlink). */
function createFinal(path: Buffer, f: FinishFile): { fd: number; end: number; modeSet: boolean } {
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
  const fd = withPath(path, () => openSync(path, flags, f.mode & 0o777));
  return { fd, end: 0, modeSet: modeNeedsNoChmod(f.mode) };
}

/** Whether a file created with `mode & 0o777` already has `mode`: no special bits, none masked by the umask. */
function modeNeedsNoChmod(mode: number): boolean {
  return UMASK !== undefined && (mode & 0o7000) === 0 && (mode & 0o777 & UMASK) === 0;
}

/** Owner (when `chown`), mode (unless the file was created with it) and mtime of a finished file, then close. */
function finishOpenFile(fd: number, f: FinishFile, chown: boolean, modeSet: boolean): void {
  try {
    if (chown) fchownSync(fd, f.uid, f.gid);
    // After the owner: chown clears set-user-ID and set-group-ID bits (a mode set at creation has none).
    if (!modeSet) fchmodSync(fd, f.mode);
    const ns = BigInt(f.mtimeNs);
    const seconds = Number(ns / 1_000_000_000n) + Number(ns % 1_000_000_000n) / 1e9;
    futimesSync(fd, seconds, seconds);
  } finally {
    closeSync(fd);
  }
}

function writeAll(fd: number, data: Buffer, position: number): void {
  for (let done = 0; done < data.length; )
    done += writeSync(fd, data, done, data.length - done, position + done);
}

/** Attaches the path to an fs error so the main thread can name the file. */
function withPath<T>(path: Buffer, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    (err as { path?: string }).path = path.toString('utf8');
    throw err;
  }
}
