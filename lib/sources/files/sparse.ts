/** Holes are made at this granularity: a run of zeros this long inside a chunk is skipped, not written. */
export const SPARSE_BLOCK_BYTES = 64 * 1024;
/** A block of zeros to compare against (memcmp speed). */
const ZERO_BLOCK = Buffer.alloc(SPARSE_BLOCK_BYTES);

/**
 * The [start, end) ranges of `data` to write: everything but whole zero blocks, which stay holes (the
 * file is truncated to its size at the end, so a trailing hole is kept too).
 */
export function* nonZeroRanges(data: Buffer): Generator<[number, number]> {
  let start = -1;
  for (let pos = 0; pos < data.length; pos += SPARSE_BLOCK_BYTES) {
    const block = data.subarray(pos, pos + SPARSE_BLOCK_BYTES);
    const zero = block.length === SPARSE_BLOCK_BYTES && block.equals(ZERO_BLOCK);
    if (!zero && start < 0) start = pos;
    if (zero && start >= 0) {
      yield [start, pos];
      start = -1;
    }
  }
  if (start >= 0) yield [start, data.length];
}
