import { Compression, decompressBlobSync } from './compression';
import { AAD, blobIdOf, type Keyring, open, openInPlace } from './crypto';
import { IntegrityError } from './errors';
import type { BlobId } from './ids';
import type { BlobType } from './pack';
import { ZstdDecoder } from './zstd-native';

/** A blob ready for a pack: id, how it was compressed, and its sealed bytes. */
export interface PreparedBlob {
  readonly id: BlobId;
  readonly type: BlobType;
  readonly compression: Compression;
  readonly rawLength: number;
  readonly sealed: Buffer;
}

/** Where a sealed blob came from and what it must decode to. */
export interface BlobEntry {
  readonly compression: number;
  readonly rawLength: number;
  readonly length: number;
}

/**
 * Opens a sealed blob on the calling thread: GCM authentication with the blob id as AAD, bounded
 * decompression, and the keyed hash of the plaintext compared with the id (invariant 5).
 */
export function decodeBlob(
  keyring: Keyring,
  id: BlobId,
  sealed: Buffer,
  entry: BlobEntry,
  packName: string,
): Buffer {
  return decodeWith(keyring, id, sealed, entry, packName, open, (payload) =>
    decompressBlobSync(payload, entry.compression as Compression, entry.rawLength),
  );
}

/** The checks every decode makes, around the two steps that differ: opening and decompressing. */
function decodeWith(
  keyring: Keyring,
  id: BlobId,
  sealed: Buffer,
  entry: BlobEntry,
  packName: string,
  opener: (keyring: Keyring, envelope: Buffer, aad: Uint8Array, objectName: string) => Buffer,
  inflate: (payload: Buffer) => Buffer,
): Buffer {
  if (sealed.length !== entry.length) throw new IntegrityError(packName, `blob ${id} is truncated`);
  const payload = opener(keyring, sealed, AAD.blob(id), `${packName} (blob ${id})`);
  let plain: Buffer;
  try {
    plain = inflate(payload);
  } catch (cause) {
    throw new IntegrityError(packName, `blob ${id} does not decompress`, { cause });
  }
  if (plain.length !== entry.rawLength || blobIdOf(keyring, plain) !== id) {
    throw new IntegrityError(packName, `blob ${id} does not match its id`);
  }
  return plain;
}

/** No blob we write decodes to more than this (the chunker's largest chunk is 8 MiB; trees are smaller). */
export const MAX_BLOB_RAW_BYTES = 64 * 1024 * 1024;

/**
 * decodeBlob for a thread that decodes many blobs from buffers it owns (restore and check workers): it
 * decrypts in place and decompresses into one reused buffer with one reused zstd context, so decoding
 * allocates nothing per blob. The same checks as decodeBlob, the same errors.
 */
export class BlobDecoder {
  private readonly zstd = new ZstdDecoder();
  private out = Buffer.allocUnsafeSlow(0);

  constructor(private readonly keyring: Keyring) {}

  /** Decodes `sealed` (overwriting it); the result is valid until the next call. */
  decode(id: BlobId, sealed: Buffer, entry: BlobEntry, packName: string): Buffer {
    return decodeWith(this.keyring, id, sealed, entry, packName, openInPlace, (payload) =>
      this.inflate(payload, entry),
    );
  }

  private inflate(payload: Buffer, entry: BlobEntry): Buffer {
    if (entry.compression === Compression.None) return payload;
    if (entry.compression !== Compression.Zstd || entry.rawLength > MAX_BLOB_RAW_BYTES)
      throw new Error(`compression ${entry.compression} of ${entry.rawLength} bytes is not one zapas writes`);
    if (this.out.length < entry.rawLength) this.out = Buffer.allocUnsafeSlow(entry.rawLength);
    const plain = this.out.subarray(0, entry.rawLength);
    this.zstd.decompressInto(payload, plain);
    return plain;
  }
}
