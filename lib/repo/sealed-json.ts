import { zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { type Keyring, open, seal, sha256Hex } from './crypto';
import { IntegrityError } from './errors';

/**
 * Repository metadata objects (config, index, snapshots, locks, prune marks) are JSON, zstd-compressed
 * and sealed. Plaintext layout: compression (u8: 0 none, 1 zstd) | payload. Their storage name is the
 * SHA-256 of the sealed bytes (except `config` and locks), so they are content-addressed and immutable.
 */
const PLAIN = 0;
const ZSTD = 1;
/** Metadata larger than this after decompression is refused (a damaged or hostile object). */
const MAX_METADATA_BYTES = 1024 * 1024 * 1024;

/** Serialises, compresses and seals a JSON value; returns the sealed bytes and their SHA-256. */
export function sealJson(keyring: Keyring, value: unknown, aad: Uint8Array): { bytes: Buffer; id: string } {
  const json = Buffer.from(JSON.stringify(value));
  const compressed = zstdCompressSync(json);
  const plain = Buffer.concat([Buffer.from([ZSTD]), compressed]);
  const bytes = seal(keyring, plain, aad);
  return { bytes, id: sha256Hex(bytes) };
}

/** Opens and parses a sealed JSON object; every failure is an IntegrityError naming `objectName`. */
export function openJson<T>(keyring: Keyring, bytes: Buffer, aad: Uint8Array, objectName: string): T {
  const plain = open(keyring, bytes, aad, objectName);
  let json: Buffer;
  try {
    if (plain[0] === PLAIN) json = plain.subarray(1);
    else if (plain[0] === ZSTD)
      json = zstdDecompressSync(plain.subarray(1), { maxOutputLength: MAX_METADATA_BYTES });
    else throw new Error(`unknown compression ${plain[0]}`);
    return JSON.parse(json.toString('utf8')) as T;
  } catch (cause) {
    throw new IntegrityError(objectName, 'metadata does not decode', { cause });
  }
}
