import { randomBytes } from 'node:crypto';
import { DATA_KEY_BYTES, KEY_ID_BYTES, type Keyring } from './crypto';
import { IntegrityError } from './errors';
import type { KeyId } from './ids';

/** Bytes of the blob-id MAC key and of the chunker seed. */
const MAC_KEY_BYTES = 32;
const CHUNKER_SEED_BYTES = 32;
const KEY_ID_PATTERN = /^[0-9a-f]{16}$/;

interface StoredKeyring {
  version: 1;
  current: string;
  dataKeys: { id: string; key: string }[];
  macKey: string;
  chunkerSeed: string;
}

/** A new random keyring: one data key, a MAC key and a chunker seed. */
export function generateKeyring(): Keyring {
  const id = randomBytes(KEY_ID_BYTES).toString('hex') as KeyId;
  const key = randomBytes(DATA_KEY_BYTES);
  return {
    current: { id, key },
    dataKeys: new Map([[id, key]]),
    macKey: randomBytes(MAC_KEY_BYTES),
    chunkerSeed: randomBytes(CHUNKER_SEED_BYTES),
  };
}

/** Serialises a keyring: this is the master key that key slots wrap. It is never stored unwrapped. */
export function encodeKeyring(keyring: Keyring): Buffer {
  const stored: StoredKeyring = {
    version: 1,
    current: keyring.current.id,
    dataKeys: [...keyring.dataKeys].map(([id, key]) => ({ id, key: key.toString('base64') })),
    macKey: keyring.macKey.toString('base64'),
    chunkerSeed: keyring.chunkerSeed.toString('base64'),
  };
  return Buffer.from(JSON.stringify(stored));
}

/** Parses an unwrapped master key. */
export function decodeKeyring(bytes: Buffer, objectName: string): Keyring {
  let stored: StoredKeyring;
  try {
    stored = JSON.parse(bytes.toString('utf8')) as StoredKeyring;
  } catch (cause) {
    throw new IntegrityError(objectName, 'master key is not valid JSON', { cause });
  }
  if (stored.version !== 1 || !Array.isArray(stored.dataKeys)) {
    throw new IntegrityError(objectName, 'master key has an unknown layout');
  }
  const dataKeys = new Map<KeyId, Buffer>();
  for (const { id, key } of stored.dataKeys) {
    if (!KEY_ID_PATTERN.test(id))
      throw new IntegrityError(objectName, `data key id "${id}" is not 16 hex digits`);
    const bytesOfKey = Buffer.from(key, 'base64');
    if (bytesOfKey.length !== DATA_KEY_BYTES)
      throw new IntegrityError(objectName, `data key ${id} has a bad length`);
    dataKeys.set(id as KeyId, bytesOfKey);
  }
  const current = dataKeys.get(stored.current as KeyId);
  if (!current) throw new IntegrityError(objectName, 'master key names no current data key');
  const macKey = Buffer.from(stored.macKey ?? '', 'base64');
  const chunkerSeed = Buffer.from(stored.chunkerSeed ?? '', 'base64');
  if (macKey.length !== MAC_KEY_BYTES || chunkerSeed.length !== CHUNKER_SEED_BYTES) {
    throw new IntegrityError(objectName, 'master key has a MAC key or chunker seed of the wrong length');
  }
  return { current: { id: stored.current as KeyId, key: current }, dataKeys, macKey, chunkerSeed };
}
