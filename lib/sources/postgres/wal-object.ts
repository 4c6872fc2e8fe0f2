import { createHash } from 'node:crypto';
import { type FileHandle, open as openFile } from 'node:fs/promises';
import {
  Compression,
  decompressBlobSync,
  MIN_COMPRESS_BYTES,
  savesEnough,
  ZSTD_LEVEL,
} from '../../repo/compression';
import { ENVELOPE_HEADER_BYTES, type Keyring, openInPlace, sealInto, TAG_BYTES } from '../../repo/crypto';
import { IntegrityError, RepositoryError } from '../../repo/errors';
import { ZstdDecoder, ZstdEncoder, ZstdFrameWriter } from '../../repo/zstd-native';

/**
 * The object of one archived WAL file (docs/format.md §7a): one envelope whose plaintext is a fixed
 * header (version, compression, raw length, archive time, SHA-256 of the file), then the file, compressed
 * as one zstd frame or not.
 *
 * PostgreSQL runs wal-push per 16 MiB segment, so the file is read through one reused buffer, hashed and
 * compressed as it is read, and the frame written straight into the envelope it is then sealed in, in
 * place: no buffer of the whole file, and no copy of the frame. Most of the former cost was the first
 * touches of fresh buffers of that size (bench/results.md, bench:wal).
 */

/** Version of the plaintext layout inside a WAL object's envelope. */
const WAL_OBJECT_VERSION = 1;
/** Bytes of the plaintext header: version, compression, raw length, archive time, SHA-256. */
export const WAL_HEADER_BYTES = 1 + 1 + 8 + 8 + 32;
/** WAL files are at most 1 GiB (the largest wal_segment_size); a header claiming more is damage. */
const MAX_WAL_FILE_BYTES = 1024 * 1024 * 1024;
/** Bytes read at a time: one buffer of this size is all the memory a file's content takes before its frame. */
export const WAL_READ_BYTES = 1024 * 1024;
/** Where the file (or its frame) starts in the envelope. */
const BODY_AT = ENVELOPE_HEADER_BYTES + WAL_HEADER_BYTES;

/** A WAL file's content as parts, read again from the start on each call of parts(). */
export interface WalContent {
  /** Its length when the push began; content read to another length is refused. */
  readonly size: number;
  /** Its first `bytes` bytes (fewer when it is shorter). */
  head(bytes: number): Promise<Buffer>;
  /** Its content from the start, in parts valid until the next one is asked for. */
  parts(): AsyncIterable<Buffer>;
}

/** The content of a WAL file in memory. */
export function contentOfBuffer(data: Buffer): WalContent {
  return {
    size: data.length,
    head: async (bytes) => data.subarray(0, bytes),
    async *parts() {
      for (let at = 0; at < data.length; at += WAL_READ_BYTES) yield data.subarray(at, at + WAL_READ_BYTES);
    },
  };
}

/** The content of a WAL file on disk through an open handle, read into one reused buffer. */
export async function contentOfFile(handle: FileHandle): Promise<WalContent> {
  const { size } = await handle.stat();
  let buffer: Buffer | undefined;
  return {
    size,
    async head(bytes) {
      const out = Buffer.alloc(Math.min(bytes, size));
      const { bytesRead } = await handle.read(out, 0, out.length, 0);
      return out.subarray(0, bytesRead);
    },
    async *parts() {
      buffer ??= Buffer.allocUnsafe(Math.max(1, Math.min(WAL_READ_BYTES, size)));
      // To the end of the file, not to `size`: a file that grew is told apart from one that did not.
      for (let at = 0; ; ) {
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, at);
        if (bytesRead === 0) return;
        at += bytesRead;
        yield buffer.subarray(0, bytesRead);
      }
    },
  };
}

/** Runs `use` with the content of the file at `path`, closing it after. */
export async function withFileContent<T>(path: string, use: (content: WalContent) => Promise<T>): Promise<T> {
  const handle = await openFile(path, 'r');
  try {
    return await use(await contentOfFile(handle));
  } finally {
    await handle.close();
  }
}

/** A WAL file changed while it was read: what was archived would not be what was hashed. */
export class WalChangedError extends RepositoryError {
  override readonly name = 'WalChangedError';
}

/** The SHA-256 of a WAL file's content (read once). */
export async function hashOf(name: string, content: WalContent): Promise<Buffer> {
  const hash = createHash('sha256');
  let read = 0;
  for await (const part of content.parts()) {
    hash.update(part);
    read += part.length;
  }
  requireSize(name, content, read);
  return hash.digest();
}

/** A sealed WAL object, and the SHA-256 of the file inside. */
export interface EncodedWal {
  sealed: Buffer;
  sha256: Buffer;
}

/**
 * Encodes a WAL file as its object: hashed and compressed in one read (zstd at ZSTD_LEVEL, kept when it
 * saves enough, as for blobs), then sealed in place. When the frame does not save enough the file is
 * read a second time, stored raw, and must hash the same.
 */
export async function encodeWal(
  keyring: Keyring,
  aad: Uint8Array,
  name: string,
  content: WalContent,
  now: Date,
): Promise<EncodedWal> {
  const { size } = content;
  if (size > MAX_WAL_FILE_BYTES)
    throw new RepositoryError(`${name} is ${size} bytes, larger than any WAL file: not archived`);
  // Room for the frame of any input (or the raw file); allocated, not touched: only what is written costs.
  const envelope = Buffer.allocUnsafe(BODY_AT + ZstdEncoder.bound(size) + TAG_BYTES);
  const room = envelope.subarray(BODY_AT, envelope.length - TAG_BYTES);
  const hash = createHash('sha256');
  const frame = new ZstdFrameWriter(ZSTD_LEVEL, room);
  let read = 0;
  let frameBytes: number;
  try {
    for await (const part of content.parts()) {
      hash.update(part);
      if (size >= MIN_COMPRESS_BYTES) frame.write(part);
      read += part.length;
    }
  } finally {
    frameBytes = frame.end();
  }
  requireSize(name, content, read);
  const sha256 = hash.digest();
  let compression = Compression.Zstd;
  let bodyBytes = frameBytes;
  if (size < MIN_COMPRESS_BYTES || frameBytes < 0 || !savesEnough(frameBytes, size)) {
    compression = Compression.None;
    bodyBytes = await copyRaw(name, content, room, sha256);
  }
  writeHeader(envelope.subarray(ENVELOPE_HEADER_BYTES, BODY_AT), compression, size, now, sha256);
  const sealed = envelope.subarray(0, BODY_AT + bodyBytes + TAG_BYTES);
  sealInto(keyring.current, sealed.subarray(ENVELOPE_HEADER_BYTES, BODY_AT + bodyBytes), aad, sealed);
  return { sealed, sha256 };
}

/** Copies the file into `room` as it is (a second read), checking it still hashes to `sha256`. */
async function copyRaw(name: string, content: WalContent, room: Buffer, sha256: Buffer): Promise<number> {
  const hash = createHash('sha256');
  let read = 0;
  for await (const part of content.parts()) {
    if (read + part.length <= content.size) part.copy(room, read);
    hash.update(part);
    read += part.length;
  }
  requireSize(name, content, read);
  if (!hash.digest().equals(sha256)) throw new WalChangedError(`${name} changed while it was archived`);
  return read;
}

function requireSize(name: string, content: WalContent, read: number): void {
  if (read !== content.size)
    throw new WalChangedError(`${name} changed while it was archived (${content.size} bytes, then ${read})`);
}

function writeHeader(header: Buffer, compression: Compression, rawLength: number, now: Date, sha256: Buffer) {
  header[0] = WAL_OBJECT_VERSION;
  header[1] = compression;
  header.writeBigUInt64LE(BigInt(rawLength), 2);
  header.writeBigUInt64LE(BigInt(now.getTime()), 10);
  sha256.copy(header, 18);
}

/** What a WAL object's header says. */
export interface WalHeader {
  compression: Compression;
  rawLength: number;
  archivedAt: Date;
  sha256: Buffer;
}

/**
 * Opens a WAL object where it lies (its envelope is overwritten) and reads its header; damage is an
 * IntegrityError naming `objectName`.
 */
export function openWal(
  keyring: Keyring,
  sealed: Buffer,
  aad: Uint8Array,
  objectName: string,
): { header: WalHeader; body: Buffer } {
  const plain = openInPlace(keyring, sealed, aad, objectName);
  return { header: parseHeader(plain, objectName), body: plain.subarray(WAL_HEADER_BYTES) };
}

/** The file inside an opened WAL object, decompressed into a buffer of its stated length and verified. */
export function decodeWal(header: WalHeader, body: Buffer, objectName: string): Buffer {
  let data: Buffer;
  try {
    if (header.compression === Compression.None) data = body;
    else if (header.rawLength === 0) data = decompressBlobSync(body, header.compression, 0);
    else {
      data = Buffer.allocUnsafe(header.rawLength);
      const decoder = new ZstdDecoder();
      try {
        decoder.decompressInto(body, data);
      } finally {
        decoder.close();
      }
    }
  } catch (cause) {
    throw undecodable(objectName, cause);
  }
  verifyDecoded(header, data.length, createHash('sha256').update(data).digest(), objectName);
  return data;
}

/**
 * Gives the file inside an opened WAL object to `write` in parts (views of one reused buffer, valid until
 * `write` resolves). Verified at the end: a length or SHA-256 other than the header's is an IntegrityError
 * after the last part, so what was written must not be used until this resolves.
 */
export async function writeDecodedWal(
  header: WalHeader,
  body: Buffer,
  objectName: string,
  write: (part: Buffer) => Promise<void>,
): Promise<void> {
  const hash = createHash('sha256');
  let total = 0;
  const take = async (part: Buffer) => {
    hash.update(part);
    total += part.length;
    await write(part);
  };
  if (header.compression === Compression.None) await take(body);
  else {
    const decoder = new ZstdDecoder();
    const room = Buffer.allocUnsafe(Math.max(1, Math.min(WAL_READ_BYTES, header.rawLength)));
    const parts = decoder.decompressParts(body, room, header.rawLength);
    try {
      for (;;) {
        let next: IteratorResult<Buffer>;
        try {
          next = parts.next();
        } catch (cause) {
          throw undecodable(objectName, cause);
        }
        if (next.done) break;
        await take(next.value);
      }
    } finally {
      parts.return(undefined);
      decoder.close();
    }
  }
  verifyDecoded(header, total, hash.digest(), objectName);
}

function undecodable(objectName: string, cause: unknown): IntegrityError {
  return new IntegrityError(objectName, `does not decompress (${(cause as Error).message})`, { cause });
}

function verifyDecoded(header: WalHeader, length: number, sha256: Buffer, objectName: string): void {
  if (length !== header.rawLength)
    throw new IntegrityError(objectName, `holds ${length} bytes, its header says ${header.rawLength}`);
  if (!sha256.equals(header.sha256))
    throw new IntegrityError(objectName, 'content does not match its SHA-256');
}

function parseHeader(plain: Buffer, objectName: string): WalHeader {
  if (plain.length < WAL_HEADER_BYTES || plain[0] !== WAL_OBJECT_VERSION)
    throw new IntegrityError(objectName, 'not a WAL object of a version this program reads');
  const compression = plain[1] as Compression;
  if (compression !== Compression.None && compression !== Compression.Zstd)
    throw new IntegrityError(objectName, `unknown compression ${compression}`);
  const rawLength = Number(plain.readBigUInt64LE(2));
  if (rawLength > MAX_WAL_FILE_BYTES) throw new IntegrityError(objectName, `claims ${rawLength} bytes`);
  return {
    compression,
    rawLength,
    archivedAt: new Date(Number(plain.readBigUInt64LE(10))),
    sha256: Buffer.from(plain.subarray(18, 50)),
  };
}
