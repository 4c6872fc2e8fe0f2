import type { Chunker } from './chunker';

/** Reads up to `length` bytes into `buf` at `offset`; resolves 0 at the end of the data. */
export type ReadFn = (buf: Buffer, offset: number, length: number) => Promise<number>;

/**
 * Cuts a stream of bytes into content-defined chunks without holding more than two maximum-size
 * chunks in memory. Each yielded Buffer is a fresh copy, owned by the caller — unless `borrow` is
 * given: then chunks are views into that buffer (at least two maximum chunk sizes), valid only until
 * the consumer asks for the next one. Consumers that seal each chunk at once borrow, which saves a copy
 * of every byte and lets one buffer serve every file. `sizeHint` (the expected total, e.g. a file's
 * size) lets small inputs use a buffer of their own size.
 */
export async function* chunkStream(
  read: ReadFn,
  chunker: Chunker,
  sizeHint?: number,
  borrow?: Buffer,
): AsyncGenerator<Buffer> {
  const { maxBytes } = chunker.params;
  if (borrow && borrow.length < 2 * maxBytes)
    throw new RangeError('a borrowed chunk buffer must hold two maximum-size chunks');
  const capacity = sizeHint !== undefined && sizeHint < maxBytes ? sizeHint + 1 : 2 * maxBytes;
  let buf = borrow ?? Buffer.allocUnsafe(Math.max(capacity, 1));
  let start = 0;
  let filled = 0;
  let ended = false;
  for (;;) {
    // Keep at least maxBytes ahead of `start` (or everything up to the end) so every cut is final.
    if (!ended && filled - start < maxBytes) {
      if (start > 0) {
        buf.copyWithin(0, start, filled);
        filled -= start;
        start = 0;
      }
      while (!ended && filled < buf.length) {
        const n = await read(buf, filled, buf.length - filled);
        if (n === 0) ended = true;
        filled += n;
        if (!ended && filled === buf.length && buf.length < 2 * maxBytes && filled - start < maxBytes) {
          // The size hint was low (the input grew): switch to the full-size buffer.
          const bigger = Buffer.allocUnsafe(2 * maxBytes);
          buf.copy(bigger, 0, 0, filled);
          buf = bigger;
        }
      }
    }
    if (start === filled) return;
    const n = chunker.cut(buf, start, filled);
    yield borrow ? buf.subarray(start, start + n) : Buffer.from(buf.subarray(start, start + n));
    start += n;
  }
}
