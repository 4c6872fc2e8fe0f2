import { randomBytes } from 'node:crypto';
import { LONG_HEADER_BYTES } from '../../lib/sources/postgres/wal-header';
import { DEFAULT_SEGMENT_BYTES, segmentNumber } from '../../lib/sources/postgres/wal-names';

/** XLP_LONG_HEADER in xlp_info. */
const XLP_LONG_HEADER = 0x0002;
/** PostgreSQL 15's XLOG_PAGE_MAGIC (zapas does not check it). */
const PG15_PAGE_MAGIC = 0xd110;

/**
 * A WAL segment as a cluster with `systemId` would write it under `name`: a long page header, then
 * `bytes` in all (random after the header unless `fill` is given).
 */
export function fakeSegment(
  name: string,
  systemId: string,
  opts: { bytes?: number; segmentBytes?: number; fill?: number } = {},
): Buffer {
  const segmentBytes = opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
  const bytes = opts.bytes ?? segmentBytes;
  const data = opts.fill === undefined ? randomBytes(bytes) : Buffer.alloc(bytes, opts.fill);
  data.fill(0, 0, LONG_HEADER_BYTES);
  data.writeUInt16LE(PG15_PAGE_MAGIC, 0);
  data.writeUInt16LE(XLP_LONG_HEADER, 2);
  data.writeUInt32LE(Number.parseInt(name.slice(0, 8), 16), 4);
  data.writeBigUInt64LE(segmentNumber(name, segmentBytes) * BigInt(segmentBytes), 8);
  data.writeBigUInt64LE(BigInt(systemId), 24);
  data.writeUInt32LE(segmentBytes, 32);
  data.writeUInt32LE(8192, 36);
  return data;
}
