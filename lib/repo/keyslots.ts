import { randomBytes } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import { ObjectNotFoundError } from '../storage/errors';
import type { Storage } from '../storage/storage';
import type { Keyring } from './crypto';
import { IntegrityError, RepositoryError, WrongKeyError } from './errors';
import { decodeKeyring, encodeKeyring } from './keyring';

/** Folder of key slots: each wraps the same master key under a different secret. */
export const KEYS_PREFIX = 'keys/';
const SLOT_ID_BYTES = 16;

/** A key slot as stored (JSON, plaintext: it holds only the wrapped master key and KDF parameters). */
export interface StoredKeySlot {
  version: 1;
  id: string;
  kind: string;
  created: string;
  hostname: string;
  username: string;
  params: Record<string, unknown>;
  /** The master key sealed under the slot's key-encryption key, base64. */
  wrapped: string;
}

/**
 * Wraps and unwraps the master key for one kind of slot (a password via a KDF, a KMS key, …).
 * Implementations live in lib/keys; the repository only stores what they produce.
 */
export interface KeySlotCodec {
  readonly kind: string;
  /** Seals the master key; returns the slot's parameters and the wrapped bytes. */
  wrap(masterKey: Buffer, slotId: string): Promise<{ params: Record<string, unknown>; wrapped: Buffer }>;
  /** Unwraps, or returns undefined when this secret does not open the slot. */
  unwrap(slot: StoredKeySlot): Promise<Buffer | undefined>;
  /** The order to try slots in (one that remembers which slot opened last tries that one first). */
  order?(slots: readonly StoredKeySlot[]): StoredKeySlot[];
  /** Told which slot opened the repository: its keyring was accepted. */
  accepted?(slot: StoredKeySlot): void;
}

/** A slot without its wrapped bytes, for `key list`. */
export type KeySlotInfo = Omit<StoredKeySlot, 'wrapped'>;

/** Writes a new slot that wraps `keyring` with `codec`; returns its id. */
export async function addKeySlot(storage: Storage, keyring: Keyring, codec: KeySlotCodec): Promise<string> {
  const id = randomBytes(SLOT_ID_BYTES).toString('hex');
  const { params, wrapped } = await codec.wrap(encodeKeyring(keyring), id);
  const slot: StoredKeySlot = {
    version: 1,
    id,
    kind: codec.kind,
    created: new Date().toISOString(),
    hostname: hostname(),
    username: safeUsername(),
    params,
    wrapped: wrapped.toString('base64'),
  };
  await storage.put(KEYS_PREFIX + id, Buffer.from(JSON.stringify(slot, null, 1)), { ifAbsent: true });
  return id;
}

/** Every slot's metadata. */
export async function listKeySlots(storage: Storage): Promise<KeySlotInfo[]> {
  const slots = await readSlots(storage);
  return slots.map(({ wrapped: _wrapped, ...info }) => info);
}

/**
 * Finds the slot that `codec` opens and whose keyring `accept` takes (the repository checks that it
 * opens its config: a slot left by an interrupted `init` wraps a key that opens nothing).
 * WrongKeyError when none does.
 */
export async function unlockKeyring(
  storage: Storage,
  codec: KeySlotCodec,
  accept: (keyring: Keyring) => boolean = () => true,
): Promise<{ keyring: Keyring; slotId: string }> {
  const mine = (await readSlots(storage)).filter((s) => s.kind === codec.kind);
  const slots = codec.order?.(mine) ?? mine;
  for (const slot of slots) {
    const master = await codec.unwrap(slot);
    if (!master) continue;
    const keyring = decodeKeyring(master, KEYS_PREFIX + slot.id);
    if (accept(keyring)) {
      codec.accepted?.(slot);
      return { keyring, slotId: slot.id };
    }
  }
  throw new WrongKeyError(
    slots.length === 0
      ? `no ${codec.kind} key slot in ${storage.location}`
      : `wrong password or key: none of the ${slots.length} ${codec.kind} key slot(s) in ${storage.location} opens with it`,
  );
}

/** Removes a slot; refuses to remove the last one (the repository would become unreadable forever). */
export async function removeKeySlot(storage: Storage, slotId: string): Promise<void> {
  const slots = await readSlots(storage);
  const match = slots.filter((s) => s.id === slotId || s.id.startsWith(slotId));
  if (match.length === 0) throw new RepositoryError(`no key slot ${slotId}`);
  if (match.length > 1) throw new RepositoryError(`key slot prefix ${slotId} is ambiguous`);
  if (slots.length === 1)
    throw new RepositoryError('refusing to remove the last key slot: the data would be lost');
  await storage.delete(KEYS_PREFIX + match[0]!.id);
}

async function readSlots(storage: Storage): Promise<StoredKeySlot[]> {
  const out: StoredKeySlot[] = [];
  for await (const info of storage.list(KEYS_PREFIX)) {
    let raw: Buffer;
    try {
      raw = await storage.get(info.name);
    } catch (err) {
      if (err instanceof ObjectNotFoundError) continue; // removed while listing
      throw err;
    }
    try {
      const slot = JSON.parse(raw.toString('utf8')) as StoredKeySlot;
      if (slot.version !== 1 || typeof slot.wrapped !== 'string') throw new Error('unknown layout');
      out.push(slot);
    } catch (cause) {
      throw new IntegrityError(info.name, 'key slot is damaged', { cause });
    }
  }
  return out.sort((a, b) => a.created.localeCompare(b.created) || a.id.localeCompare(b.id));
}

function safeUsername(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}
