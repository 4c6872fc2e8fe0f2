import { promisify } from 'node:util';
import { constants, zstdCompress, zstdDecompress, zstdDecompressSync } from 'node:zlib';
import { ZstdEncoder } from './zstd-native';

/** How a blob's payload is stored inside its envelope (a pack header field). */
export enum Compression {
  None = 0,
  Zstd = 1,
}

/**
 * zstd level used for blobs. Measured on the benchmark data in 1 MiB chunks: level 1 compresses logs
 * 40% faster than level 3 and even smaller (0.304 against 0.313), database pages 15% faster at 4% more
 * size. Compression is the largest share of a backup's CPU, so level 1 it is.
 */
export const ZSTD_LEVEL = 1;
/** Below this many bytes compression is not worth its framing. */
export const MIN_COMPRESS_BYTES = 64;
/** Sampled entropy above this (bits per byte) means already compressed or encrypted data: store raw. */
const INCOMPRESSIBLE_BITS_PER_BYTE = 7.9;
/** Keep the compressed form only if it saves at least this share. */
const MIN_SAVING_RATIO = 0.03;
const SAMPLE_STRIPE_BYTES = 256;
const SAMPLE_STRIPES = 64;
/** Blobs shorter than this skip the entropy test. */
const MIN_SAMPLED_BYTES = 64 * 1024;

const compressAsync = promisify(zstdCompress);
const decompressAsync = promisify(zstdDecompress);

/**
 * Blobs up to this size are (de)compressed on the calling thread: a trip through libuv's pool costs
 * more than the work itself for a small save file (measured: 34 µs sync against 180 µs to 1.6 ms async
 * for a 3 KB JSON). Larger blobs go to the pool, where they overlap with chunking and hashing.
 */
export const SYNC_CODEC_MAX_BYTES = 128 * 1024;

/** This thread's zstd context for small blobs (trees, save files) compressed here. */
let encoder: ZstdEncoder | undefined;

/**
 * Compresses a blob unless it looks incompressible or would save too little (compressBlobInto's rules).
 * Small blobs are done on this thread with one reused zstd context; larger ones run on libuv's thread
 * pool, so many calls in flight use every core while this thread chunks and hashes.
 */
export async function compressBlob(data: Buffer): Promise<{ payload: Buffer; compression: Compression }> {
  if (data.length <= SYNC_CODEC_MAX_BYTES) {
    encoder ??= new ZstdEncoder(ZSTD_LEVEL);
    return compressBlobInto(encoder, data, Buffer.allocUnsafe(ZstdEncoder.bound(data.length)));
  }
  if (looksIncompressible(data)) return { payload: data, compression: Compression.None };
  const packed = await compressAsync(data, {
    params: { [constants.ZSTD_c_compressionLevel]: ZSTD_LEVEL, [constants.ZSTD_c_checksumFlag]: 0 },
  });
  if (!savesEnough(packed.length, data.length)) return { payload: data, compression: Compression.None };
  return { payload: packed, compression: Compression.Zstd };
}

/**
 * Compresses a blob into `out` (ZstdEncoder.bound(data.length) bytes at least) with a reusable encoder,
 * for worker threads (which have a core of their own). The payload is a view into `out` or `data` itself,
 * valid until the next call; a frame that does not save MIN_SAVING_RATIO is not used.
 */
export function compressBlobInto(
  encoder: ZstdEncoder,
  data: Buffer,
  out: Buffer,
): { payload: Buffer; compression: Compression } {
  if (data.length < MIN_COMPRESS_BYTES || looksIncompressible(data))
    return { payload: data, compression: Compression.None };
  if (out.length < ZstdEncoder.bound(data.length))
    throw new RangeError(`${out.length} bytes of room for the frame of a ${data.length}-byte blob`);
  const n = encoder.compressInto(data, out);
  if (n < 0 || !savesEnough(n, data.length)) return { payload: data, compression: Compression.None };
  return { payload: out.subarray(0, n), compression: Compression.Zstd };
}

/** Whether a frame of `frameBytes` saves enough on `rawBytes` to be stored instead of the raw bytes. */
export function savesEnough(frameBytes: number, rawBytes: number): boolean {
  return frameBytes <= Math.floor(rawBytes * (1 - MIN_SAVING_RATIO));
}

/** decompressBlob on the calling thread. */
export function decompressBlobSync(payload: Buffer, compression: Compression, rawLength: number): Buffer {
  if (compression === Compression.None) return payload;
  if (compression !== Compression.Zstd) throw new Error(`unknown compression ${compression}`);
  return zstdDecompressSync(payload, { maxOutputLength: Math.max(rawLength, 1) });
}

/** Reverses compressBlob; `rawLength` bounds the output so a hostile payload cannot inflate without limit. */
export async function decompressBlob(
  payload: Buffer,
  compression: Compression,
  rawLength: number,
): Promise<Buffer> {
  if (compression === Compression.None) return payload;
  if (compression !== Compression.Zstd) throw new Error(`unknown compression ${compression}`);
  const options = { maxOutputLength: Math.max(rawLength, 1) };
  return rawLength <= SYNC_CODEC_MAX_BYTES
    ? zstdDecompressSync(payload, options)
    : decompressAsync(payload, options);
}

/**
 * Cheap test: Shannon entropy of bytes sampled in stripes across the blob. Random game assets and
 * already-compressed files score ~8 bits/byte; text, JSON and database pages score far lower.
 */
export function looksIncompressible(data: Uint8Array): boolean {
  // Small blobs are cheaper to try: a frame that saves too little is abandoned early anyway.
  if (data.length < MIN_SAMPLED_BYTES) return false;
  const counts = new Uint32Array(256);
  let total = 0;
  const step = Math.max(SAMPLE_STRIPE_BYTES, Math.floor(data.length / SAMPLE_STRIPES));
  for (let start = 0; start < data.length; start += step) {
    const end = Math.min(start + SAMPLE_STRIPE_BYTES, data.length);
    for (let i = start; i < end; i++) counts[data[i]!]!++;
    total += end - start;
  }
  // With few samples, even random data cannot show 8 bits: require enough bytes to judge.
  if (total < 4096) return false;
  let entropy = 0;
  for (const c of counts) {
    if (c === 0) continue;
    const p = c / total;
    entropy -= p * Math.log2(p);
  }
  return entropy > INCOMPRESSIBLE_BITS_PER_BYTE;
}
