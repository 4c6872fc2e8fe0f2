import { createHmac } from 'node:crypto';

/**
 * Content-defined chunking, FastCDC with normalised chunking (level 2) over a 32-bit gear hash.
 * The gear table is derived from the repository's secret chunker seed, so chunk boundaries of a known
 * file differ between repositories and reveal nothing about content. An insertion moves only the
 * boundaries near it: the hash looks at the last 32 bytes only.
 */
export const CHUNK_MIN_BYTES = 512 * 1024;
export const CHUNK_AVG_BYTES = 1024 * 1024;
export const CHUNK_MAX_BYTES = 8 * 1024 * 1024;

export interface ChunkerParams {
  readonly minBytes: number;
  readonly avgBytes: number;
  readonly maxBytes: number;
}

export const DEFAULT_CHUNKER_PARAMS: ChunkerParams = {
  minBytes: CHUNK_MIN_BYTES,
  avgBytes: CHUNK_AVG_BYTES,
  maxBytes: CHUNK_MAX_BYTES,
};

/** Normalisation level: the mask is 2 bits harder before the average size and 2 bits easier after it. */
const NORMALISATION_BITS = 2;
const HASH_BITS = 32;

/** Builds the 256-entry gear table from a secret seed (HMAC-SHA-256 in counter mode). */
export function gearTable(seed: Uint8Array): Uint32Array {
  const table = new Uint32Array(256);
  for (let block = 0; block < 32; block++) {
    const digest = createHmac('sha256', seed).update(`zapas-gear-${block}`).digest();
    for (let j = 0; j < 8; j++) table[block * 8 + j] = digest.readUInt32LE(j * 4);
  }
  return table;
}

/** A mask of `bits` ones in the high end of a 32-bit word: high bits mix the most bytes of the window. */
function highMask(bits: number): number {
  return bits >= HASH_BITS ? -1 : ~((1 << (HASH_BITS - bits)) - 1) | 0;
}

/** Finds chunk boundaries in buffers; stateless between calls, so one instance serves many files. */
export class Chunker {
  private readonly maskSmall: number;
  private readonly maskLarge: number;
  /**
   * The gear table as signed 32-bit words (the same bits): V8 keeps int32 values unboxed, while a
   * Uint32Array entry of 2^31 or more is read as a double — the loop ran at half speed on them.
   */
  private readonly gear: Int32Array;
  /** The rolling hash between the two scans of one cut (cut() is synchronous: no call sees another's). */
  private hash = 0;

  constructor(
    gear: Uint32Array,
    readonly params: ChunkerParams = DEFAULT_CHUNKER_PARAMS,
  ) {
    this.gear = new Int32Array(gear.buffer.slice(gear.byteOffset, gear.byteOffset + gear.byteLength));
    const { minBytes, avgBytes, maxBytes } = params;
    if (!(minBytes > 0 && minBytes < avgBytes && avgBytes < maxBytes)) {
      throw new RangeError(`bad chunker sizes ${minBytes}/${avgBytes}/${maxBytes}`);
    }
    const avgBits = Math.round(Math.log2(avgBytes));
    this.maskSmall = highMask(avgBits + NORMALISATION_BITS);
    this.maskLarge = highMask(avgBits - NORMALISATION_BITS);
  }

  /**
   * Length of the next chunk of `buf[start, end)`. The caller passes at least `maxBytes` bytes unless
   * the data ends at `end`; a chunk never exceeds `maxBytes` and is shorter than `minBytes` only at the end.
   */
  cut(buf: Uint8Array, start: number, end: number): number {
    const { minBytes, avgBytes, maxBytes } = this.params;
    const length = end - start;
    if (length <= minBytes) return length;
    const normalEnd = start + Math.min(avgBytes, length);
    const hardEnd = start + Math.min(maxBytes, length);
    this.hash = 0;
    const normal = this.scan(buf, start + minBytes, normalEnd, this.maskSmall);
    if (normal >= 0) return normal - start;
    const large = this.scan(buf, normalEnd, hardEnd, this.maskLarge);
    return (large >= 0 ? large : hardEnd) - start;
  }

  /**
   * Rolls the gear hash (carried in `hash` from one call to the next within a cut) over buf[from, to):
   * the index just past the first byte where the hash has `mask`'s bits clear, else -1. Four bytes per
   * iteration (measured: 1.9x the speed of one), with the same hash and test byte by byte.
   */
  private scan(buf: Uint8Array, from: number, to: number, mask: number): number {
    const gear = this.gear;
    let h = this.hash;
    let i = from;
    for (; i + 3 < to; i += 4) {
      h = ((h << 1) + gear[buf[i]!]!) | 0;
      if ((h & mask) === 0) return i + 1;
      h = ((h << 1) + gear[buf[i + 1]!]!) | 0;
      if ((h & mask) === 0) return i + 2;
      h = ((h << 1) + gear[buf[i + 2]!]!) | 0;
      if ((h & mask) === 0) return i + 3;
      h = ((h << 1) + gear[buf[i + 3]!]!) | 0;
      if ((h & mask) === 0) return i + 4;
    }
    for (; i < to; i++) {
      h = ((h << 1) + gear[buf[i]!]!) | 0;
      if ((h & mask) === 0) return i + 1;
    }
    this.hash = h;
    return -1;
  }

  /** Splits a whole buffer into chunk lengths (tests and small inputs). */
  split(buf: Uint8Array): number[] {
    const out: number[] = [];
    for (let pos = 0; pos < buf.length; ) {
      const n = this.cut(buf, pos, buf.length);
      out.push(n);
      pos += n;
    }
    return out;
  }
}

/**
 * bytes[from, to) in chunks of `size` at fixed offsets (the last one shorter), as views: for files that
 * change in place, where content-defined cuts would find nothing more (see WindowSealer).
 */
export function* fixedChunks(bytes: Buffer, from: number, to: number, size: number): Generator<Buffer> {
  for (let start = from; start < to; start += size) yield bytes.subarray(start, Math.min(start + size, to));
}
