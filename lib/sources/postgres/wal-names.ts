/**
 * The names PostgreSQL gives the files it archives (archive_command's %f) and asks back (restore_command's
 * %f), and the positions they stand for. A segment is named TTTTTTTTXXXXXXXXYYYYYYYY: timeline, then the
 * high and low parts of its number (with 16 MiB segments the low part runs 00000000–000000FF).
 */

/** What kind of archived file a name is. */
export type WalFileKind = 'segment' | 'partial' | 'history' | 'backup';

const PATTERNS: [WalFileKind, RegExp][] = [
  ['segment', /^[0-9A-F]{24}$/],
  ['partial', /^[0-9A-F]{24}\.partial$/],
  ['history', /^[0-9A-F]{8}\.history$/],
  ['backup', /^[0-9A-F]{24}\.[0-9A-F]{8}\.backup$/],
];

/** The kind of a WAL file name, or undefined when PostgreSQL would never archive such a name. */
export function walFileKind(name: string): WalFileKind | undefined {
  for (const [kind, pattern] of PATTERNS) if (pattern.test(name)) return kind;
  return undefined;
}

/** The timeline of any WAL file name (its first 8 hex digits). */
export function timelineOf(name: string): number {
  return Number.parseInt(name.slice(0, 8), 16);
}

/** Bytes in a WAL segment by default (wal_segment_size); the archive works with any size. */
export const DEFAULT_SEGMENT_BYTES = 16 * 1024 * 1024;

/** Segments per "xlogid" (the high part) for a segment size: 2^32 / size. */
function segmentsPerId(segmentBytes: number): bigint {
  return 0x1_0000_0000n / BigInt(segmentBytes);
}

/** The sequence number of a segment name (without its timeline). */
export function segmentNumber(name: string, segmentBytes = DEFAULT_SEGMENT_BYTES): bigint {
  const high = BigInt(`0x${name.slice(8, 16)}`);
  const low = BigInt(`0x${name.slice(16, 24)}`);
  return high * segmentsPerId(segmentBytes) + low;
}

/** The name of segment `number` on `timeline`. */
export function segmentName(timeline: number, number: bigint, segmentBytes = DEFAULT_SEGMENT_BYTES): string {
  const per = segmentsPerId(segmentBytes);
  const hex = (n: bigint | number, width = 8) => n.toString(16).toUpperCase().padStart(width, '0');
  return `${hex(timeline)}${hex(number / per)}${hex(number % per)}`;
}

/** An LSN ("16/B374D848") as a number of bytes. */
export function parseLsn(text: string): bigint {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text.trim());
  if (!m) throw new RangeError(`not an LSN: "${text}" (expected two hex numbers, e.g. 0/16B3740)`);
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

/** An LSN as PostgreSQL writes it. */
export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffff_ffffn).toString(16).toUpperCase()}`;
}

/** The segment that holds `lsn` on `timeline`. */
export function segmentOfLsn(timeline: number, lsn: bigint, segmentBytes = DEFAULT_SEGMENT_BYTES): string {
  return segmentName(timeline, lsn / BigInt(segmentBytes), segmentBytes);
}
