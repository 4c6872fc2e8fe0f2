import { Compression } from './compression';
import { AAD, ENVELOPE_OVERHEAD_BYTES, type Keyring, open, packIdOf, seal } from './crypto';
import { IntegrityError } from './errors';
import type { BlobId, PackId } from './ids';

/**
 * Pack layout (all integers little-endian):
 *
 *   blob envelope 1 | … | blob envelope n | header envelope | header envelope length (u32) | "ZPK1"
 *
 * The header envelope seals: "ZPH1" | data class length (u8) | data class (UTF-8) | entry count (u32) |
 * entries of 42 bytes: blob type (u8) | compression (u8) | raw length (u32) | stored length (u32) |
 * blob id (32 bytes). Blob offsets are implicit: entries are in file order starting at 0. The pack id
 * is the unkeyed BLAKE3-256 of the whole pack, so storage can be checked without the key.
 */
export const PACK_MAGIC = Buffer.from('ZPK1');
const HEADER_MAGIC = Buffer.from('ZPH1');
export const PACK_TRAILER_BYTES = 8;
const ENTRY_BYTES = 42;
const ID_BYTES = 32;
/** A header larger than this is not one we wrote (a 64 MiB pack of 512 KiB-min chunks has far fewer entries… but trees are small). */
export const MAX_HEADER_BYTES = 16 * 1024 * 1024;

export enum BlobType {
  Data = 0,
  Tree = 1,
}

/** One blob as listed in a pack header and in the index. */
export interface PackEntry {
  readonly id: BlobId;
  readonly type: BlobType;
  readonly compression: Compression;
  readonly offset: number;
  readonly length: number;
  readonly rawLength: number;
}

export interface ParsedPackHeader {
  readonly dataClass: string;
  readonly entries: PackEntry[];
}

/** Storage name of a pack: `data/<first two hex digits>/<id>`. */
export function packObjectName(id: PackId): string {
  return `data/${id.slice(0, 2)}/${id}`;
}

/** Accumulates sealed blobs and produces a finished pack. */
export class PackBuilder {
  private readonly entries: PackEntry[] = [];
  private bytes = 0;
  private body: Buffer;

  /**
   * Blobs are copied into `body` (grown when it fills), so a caller may reuse what it passed to add()
   * at once; a writer that keeps finished bodies and hands them to its next packs allocates none.
   */
  constructor(
    readonly dataClass: string,
    body?: Buffer,
  ) {
    this.body = body ?? Buffer.allocUnsafeSlow(64 * 1024);
  }

  get size(): number {
    return this.bytes;
  }

  get count(): number {
    return this.entries.length;
  }

  /** The buffer holding the blobs; reusable once the finished pack has been written. */
  get buffer(): Buffer {
    return this.body;
  }

  /** Appends a blob already compressed and sealed (copied: `sealed` is the caller's again at once). */
  add(id: BlobId, type: BlobType, compression: Compression, rawLength: number, sealed: Buffer): void {
    const end = this.bytes + sealed.length;
    if (end > this.body.length) {
      const bigger = Buffer.allocUnsafeSlow(Math.max(end, Math.ceil(this.body.length * 1.5)));
      this.body.copy(bigger, 0, 0, this.bytes);
      this.body = bigger;
    }
    sealed.copy(this.body, this.bytes);
    this.entries.push({ id, type, compression, offset: this.bytes, length: sealed.length, rawLength });
    this.bytes = end;
  }

  /** Seals the header and returns the pack's parts (written in order, never concatenated), id and entries. */
  finishParts(keyring: Keyring): { id: PackId; parts: Buffer[]; size: number; entries: PackEntry[] } {
    const [header, trailer] = packTail(keyring, this.dataClass, this.entries);
    const parts = [this.body.subarray(0, this.bytes), header, trailer];
    return {
      id: packIdOf(parts) as PackId,
      parts,
      size: this.bytes + header.length + trailer.length,
      entries: this.entries,
    };
  }

  /** finishParts, as one buffer (tests, fuzzing). */
  finish(keyring: Keyring): { id: PackId; bytes: Buffer; entries: PackEntry[] } {
    const { id, parts, entries } = this.finishParts(keyring);
    return { id, bytes: Buffer.concat(parts), entries };
  }
}

/** What follows a pack's blobs: the sealed header and the trailer that gives its length. */
export function packTail(
  keyring: Keyring,
  dataClass: string,
  entries: readonly PackEntry[],
): [Buffer, Buffer] {
  const header = sealHeader(keyring, dataClass, entries);
  const trailer = Buffer.alloc(PACK_TRAILER_BYTES);
  trailer.writeUInt32LE(header.length, 0);
  PACK_MAGIC.copy(trailer, 4);
  return [header, trailer];
}

function sealHeader(keyring: Keyring, dataClass: string, entries: readonly PackEntry[]): Buffer {
  const cls = Buffer.from(dataClass, 'utf8');
  if (cls.length > 255) throw new RangeError('data class name too long');
  const plain = Buffer.alloc(4 + 1 + cls.length + 4 + entries.length * ENTRY_BYTES);
  let pos = HEADER_MAGIC.copy(plain, 0);
  pos = plain.writeUInt8(cls.length, pos);
  pos += cls.copy(plain, pos);
  pos = plain.writeUInt32LE(entries.length, pos);
  for (const e of entries) {
    pos = plain.writeUInt8(e.type, pos);
    pos = plain.writeUInt8(e.compression, pos);
    pos = plain.writeUInt32LE(e.rawLength, pos);
    pos = plain.writeUInt32LE(e.length, pos);
    pos += plain.write(e.id, pos, ID_BYTES, 'hex');
  }
  return seal(keyring, plain, AAD.packHeader);
}

/** Length of the sealed header, read from a pack's last 8 bytes. */
export function headerLengthFromTrailer(trailer: Buffer, packSize: number, objectName: string): number {
  if (trailer.length !== PACK_TRAILER_BYTES || !trailer.subarray(4).equals(PACK_MAGIC)) {
    throw new IntegrityError(objectName, 'not a pack (bad trailer)');
  }
  const length = trailer.readUInt32LE(0);
  if (
    length < ENVELOPE_OVERHEAD_BYTES ||
    length > MAX_HEADER_BYTES ||
    length + PACK_TRAILER_BYTES > packSize
  ) {
    throw new IntegrityError(
      objectName,
      `pack header length ${length} is impossible for a pack of ${packSize} bytes`,
    );
  }
  return length;
}

/** Opens and parses a sealed header; checks that the listed blobs fit before the header. */
export function parsePackHeader(
  keyring: Keyring,
  sealed: Buffer,
  blobAreaBytes: number,
  objectName: string,
): ParsedPackHeader {
  const plain = open(keyring, sealed, AAD.packHeader, objectName);
  const bad = (why: string) => new IntegrityError(objectName, `pack header: ${why}`);
  if (plain.length < 9 || !plain.subarray(0, 4).equals(HEADER_MAGIC)) throw bad('bad magic');
  let pos = 4;
  const clsLength = plain.readUInt8(pos++);
  if (pos + clsLength + 4 > plain.length) throw bad('truncated');
  const dataClass = plain.toString('utf8', pos, pos + clsLength);
  pos += clsLength;
  const count = plain.readUInt32LE(pos);
  pos += 4;
  if (plain.length !== pos + count * ENTRY_BYTES) throw bad(`length does not match ${count} entries`);
  const entries: PackEntry[] = [];
  let offset = 0;
  for (let i = 0; i < count; i++) {
    const type = plain.readUInt8(pos);
    const compression = plain.readUInt8(pos + 1);
    const rawLength = plain.readUInt32LE(pos + 2);
    const length = plain.readUInt32LE(pos + 6);
    const id = plain.toString('hex', pos + 10, pos + 10 + ID_BYTES) as BlobId;
    pos += ENTRY_BYTES;
    if (type !== BlobType.Data && type !== BlobType.Tree) throw bad(`entry ${i} has unknown type ${type}`);
    if (compression !== Compression.None && compression !== Compression.Zstd)
      throw bad(`entry ${i} has unknown compression`);
    if (length < ENVELOPE_OVERHEAD_BYTES) throw bad(`entry ${i} is too short`);
    entries.push({ id, type, compression, offset, length, rawLength });
    offset += length;
  }
  if (offset !== blobAreaBytes) throw bad(`entries cover ${offset} bytes, the pack has ${blobAreaBytes}`);
  return { dataClass, entries };
}

/** Parses a whole pack held in memory (check --read-data, fuzz tests). */
export function parsePack(keyring: Keyring, pack: Buffer, objectName: string): ParsedPackHeader {
  if (pack.length < PACK_TRAILER_BYTES) throw new IntegrityError(objectName, 'pack too short');
  const headerLength = headerLengthFromTrailer(
    pack.subarray(pack.length - PACK_TRAILER_BYTES),
    pack.length,
    objectName,
  );
  const headerStart = pack.length - PACK_TRAILER_BYTES - headerLength;
  return parsePackHeader(
    keyring,
    pack.subarray(headerStart, headerStart + headerLength),
    headerStart,
    objectName,
  );
}
