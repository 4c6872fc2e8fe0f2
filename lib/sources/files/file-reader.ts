import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { chunkBufferBytes, chunkStream } from '../../repo/chunk-stream';
import type { Chunker } from '../../repo/chunker';
import type { BlobId } from '../../repo/ids';

/** The result of reading one file: its content list, the bytes read, and whether it changed meanwhile. */
export interface FileReadResult {
  content: BlobId[];
  size: number;
  changed: boolean;
}

/** The metadata a file had when the walk saw it (strings: bigint does not cross threads in every Node). */
export interface ExpectedStat {
  size: number;
  mtimeNs: string;
  ctimeNs: string;
}

/** One file of a worker's read job; `unskipped` sends every blob, even those the known-blob filter holds. */
export interface ReadRequest {
  /** Path bytes as a latin1 string. */
  path: string;
  expect: ExpectedStat;
  unskipped?: boolean;
}

let scratchBuffer: Buffer | undefined;
/** One read buffer per thread, reused for every file (a fresh 16 MiB per file left GC far behind). */
function scratch(chunker: Chunker): Buffer {
  const size = chunkBufferBytes(chunker);
  if (!scratchBuffer || scratchBuffer.length < size) scratchBuffer = Buffer.allocUnsafeSlow(size);
  return scratchBuffer;
}

/**
 * Reads a file with blocking calls and cuts it into chunks: the body of a worker thread's `read` job
 * (blocking is right there: the thread has nothing else to do). `addChunk` gets every chunk in order (a
 * view valid until it resolves), stores it as a blob and returns its id; it may pause the reader.
 */
export async function readFileBlobs(
  path: Buffer,
  expect: ExpectedStat,
  chunker: Chunker,
  addChunk: (chunk: Buffer) => Promise<BlobId>,
): Promise<FileReadResult> {
  const fd = openSync(path, 'r');
  try {
    const content: BlobId[] = [];
    let size = 0;
    let position = 0;
    const read = async (buf: Buffer, offset: number, length: number) => {
      // Stop at the expected size (no extra read to find the end): the fstat below tells whether it grew.
      if (position >= expect.size) return 0;
      const n = readSync(fd, buf, offset, Math.min(length, expect.size - position), position);
      position += n;
      return n;
    };
    // Borrowed chunks: addChunk seals each before the next is cut.
    for await (const chunk of chunkStream(read, chunker, expect.size, scratch(chunker))) {
      size += chunk.length;
      content.push(await addChunk(chunk));
    }
    const after = fstatSync(fd, { bigint: true });
    const changed =
      Number(after.size) !== expect.size ||
      after.mtimeNs.toString() !== expect.mtimeNs ||
      after.ctimeNs.toString() !== expect.ctimeNs ||
      size !== expect.size;
    return { content, size, changed };
  } finally {
    closeSync(fd);
  }
}
