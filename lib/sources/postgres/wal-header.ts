import { formatLsn, segmentNumber } from './wal-names';

/**
 * The first page header of a WAL segment, which PostgreSQL always writes in its long form
 * (XLogLongPageHeaderData, src/include/access/xlog_internal.h): the standard header (magic u16, info u16,
 * timeline u32, page address u64, remaining length u32, padded to 24 bytes), then the cluster's system
 * identifier (u64), the segment size (u32) and the WAL block size (u32), all little-endian on the
 * platforms PostgreSQL runs on here. wal-push reads who wrote a segment from it, without connecting.
 */

/** What a segment's first page says about it. */
export interface SegmentHeader {
  /** pg_control's system identifier, as a decimal string (it does not fit a double). */
  systemId: string;
  segmentBytes: number;
  blockBytes: number;
  /** Where the segment starts in the WAL. */
  pageAddress: bigint;
}

/** A file under a segment's name that is not that segment. */
export class WalHeaderError extends Error {
  override readonly name = 'WalHeaderError';
}

/** Bytes of XLogLongPageHeaderData. */
export const LONG_HEADER_BYTES = 40;
/** xlp_info flag of a long header. */
const XLP_LONG_HEADER = 0x0002;
/** wal_segment_size is a power of two from 1 MiB to 1 GiB (initdb --wal-segsize). */
const MIN_SEGMENT_BYTES = 1024 * 1024;
const MAX_SEGMENT_BYTES = 1024 * 1024 * 1024;
/** XLOG_BLCKSZ is a power of two from 1 to 64 KiB (configure --with-wal-blocksize). */
const MIN_BLOCK_BYTES = 1024;
const MAX_BLOCK_BYTES = 64 * 1024;

const isPowerOfTwoIn = (n: number, min: number, max: number) => n >= min && n <= max && (n & (n - 1)) === 0;

/**
 * Reads and checks the long header of the segment (or .partial segment) `name`: it must be one, give a
 * possible segment and block size, and start at the position the name stands for.
 */
export function readSegmentHeader(name: string, data: Buffer): SegmentHeader {
  const refuse = (why: string) => new WalHeaderError(`${name} is not a WAL segment: ${why}`);
  if (data.length < LONG_HEADER_BYTES) throw refuse(`${data.length} bytes, shorter than a page header`);
  const info = data.readUInt16LE(2);
  if ((info & XLP_LONG_HEADER) === 0) throw refuse('its first page has no long header');
  const segmentBytes = data.readUInt32LE(32);
  const blockBytes = data.readUInt32LE(36);
  if (!isPowerOfTwoIn(segmentBytes, MIN_SEGMENT_BYTES, MAX_SEGMENT_BYTES))
    throw refuse(`its header gives a segment size of ${segmentBytes} bytes`);
  if (!isPowerOfTwoIn(blockBytes, MIN_BLOCK_BYTES, MAX_BLOCK_BYTES))
    throw refuse(`its header gives a WAL block size of ${blockBytes} bytes`);
  const pageAddress = data.readBigUInt64LE(8);
  const expected = segmentNumber(name, segmentBytes) * BigInt(segmentBytes);
  if (pageAddress !== expected)
    throw refuse(`it starts at ${formatLsn(pageAddress)}, the name stands for ${formatLsn(expected)}`);
  return { systemId: data.readBigUInt64LE(24).toString(), segmentBytes, blockBytes, pageAddress };
}
