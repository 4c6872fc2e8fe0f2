/** Holes are made at this granularity: a run of zeros this long inside a chunk is skipped, not written. */
export const SPARSE_BLOCK_BYTES = 64 * 1024;
/** A block of zeros to compare against (memcmp speed). */
export const ZERO_BLOCK = Buffer.alloc(SPARSE_BLOCK_BYTES);
