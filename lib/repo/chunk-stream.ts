import type { Chunker } from './chunker';

/** Reads up to `length` bytes into `buf` at `offset`; resolves 0 at the end of the data. */
export type ReadFn = (buf: Buffer, offset: number, length: number) => Promise<number>;

/**
 * Size of a chunk stream's buffer: one maximum-size chunk plus a quarter of one, where reads land while
 * a chunk is still open. (Two maximum chunks, as before, cost each worker 6 MiB more for no speed.)
 */
export function chunkBufferBytes(chunker: Chunker): number {
  return chunker.params.maxBytes + Math.max(chunker.params.maxBytes >> 2, 1);
}

/**
 * Cuts a stream of bytes into content-defined chunks, holding at most chunkBufferBytes. Each yielded
 * Buffer is a fresh copy, owned by the caller — unless `borrow` is given (at least chunkBufferBytes
 * long): then chunks are views into it, valid only until the consumer asks for the next one. Consumers
 * that seal each chunk at once borrow, which saves a copy of every byte and lets one buffer serve every
 * file. `sizeHint` (the expected total, e.g. a file's size) lets small inputs use a buffer of their own size.
 *
 * A cut is taken once it is final: the chunker found a boundary before the end of what was read, or the
 * chunk reached its maximum size, or the data ended. It is tried only when a maximum chunk is buffered,
 * the buffer is full or the data ended, so a reader that returns small pieces costs no rescanning.
 */
export async function* chunkStream(
  read: ReadFn,
  chunker: Chunker,
  sizeHint?: number,
  borrow?: Buffer,
): AsyncGenerator<Buffer> {
  const { maxBytes } = chunker.params;
  const full = chunkBufferBytes(chunker);
  if (borrow && borrow.length < full)
    throw new RangeError(`a borrowed chunk buffer must hold ${full} bytes (chunkBufferBytes)`);
  let buf = borrow ?? Buffer.allocUnsafe(sizeHint !== undefined && sizeHint < maxBytes ? sizeHint + 1 : full);
  let start = 0;
  let filled = 0;
  let ended = false;
  for (;;) {
    const available = filled - start;
    if (available > 0 && (ended || available >= maxBytes || filled === buf.length)) {
      const n = chunker.cut(buf, start, filled);
      if (ended || n < available || n === maxBytes) {
        yield borrow ? buf.subarray(start, start + n) : Buffer.from(buf.subarray(start, start + n));
        start += n;
        continue;
      }
    } else if (available === 0 && ended) return;
    // The chunk that begins at `start` needs more data.
    if (filled === buf.length) {
      if (start > 0) {
        buf.copyWithin(0, start, filled);
        filled -= start;
        start = 0;
      } else {
        // The size hint was low (the input grew): switch to a full-size buffer.
        const bigger = Buffer.allocUnsafe(full);
        buf.copy(bigger, 0, 0, filled);
        buf = bigger;
      }
    }
    const n = await read(buf, filled, buf.length - filled);
    if (n === 0) ended = true;
    filled += n;
  }
}
