import { type Compression, compressBlobSync, decompressBlobSync } from './compression';
import { AAD, blobIdOf, type Keyring, open, seal } from './crypto';
import { IntegrityError } from './errors';
import type { BlobId } from './ids';
import type { BlobType } from './pack';

/** A blob ready for a pack: id, how it was compressed, and its sealed bytes. */
export interface PreparedBlob {
  readonly id: BlobId;
  readonly type: BlobType;
  readonly compression: Compression;
  readonly rawLength: number;
  readonly sealed: Buffer;
}

/** Hashes, compresses and seals one blob on the calling thread (worker threads use it). */
export function prepareBlob(keyring: Keyring, type: BlobType, data: Buffer): PreparedBlob {
  const id = blobIdOf(keyring, data);
  const { payload, compression } = compressBlobSync(data);
  return { id, type, compression, rawLength: data.length, sealed: seal(keyring, payload, AAD.blob(id)) };
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
  if (sealed.length !== entry.length) throw new IntegrityError(packName, `blob ${id} is truncated`);
  const payload = open(keyring, sealed, AAD.blob(id), `${packName} (blob ${id})`);
  let plain: Buffer;
  try {
    plain = decompressBlobSync(payload, entry.compression as Compression, entry.rawLength);
  } catch (cause) {
    throw new IntegrityError(packName, `blob ${id} does not decompress`, { cause });
  }
  if (plain.length !== entry.rawLength || blobIdOf(keyring, plain) !== id) {
    throw new IntegrityError(packName, `blob ${id} does not match its id`);
  }
  return plain;
}
