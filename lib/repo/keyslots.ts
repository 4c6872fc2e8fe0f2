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

/** A slot object that could not be used, and why (it is skipped; the others still open). */
export interface DamagedKeySlot {
  /** The object, `keys/<id>`. */
  readonly object: string;
  readonly message: string;
}

/** Told of each damaged slot skipped while others are tried. */
export type OnDamagedSlot = (slot: DamagedKeySlot) => void;

/** Every intact slot's metadata; damaged ones are told to `onDamaged` and left out. */
export async function listKeySlots(storage: Storage, onDamaged?: OnDamagedSlot): Promise<KeySlotInfo[]> {
  const { slots, damaged } = await readSlots(storage);
  for (const d of damaged) onDamaged?.(d);
  return slots.map(({ wrapped: _wrapped, ...info }) => info);
}

/**
 * Finds the slot that `codec` opens and whose keyring `accept` takes (the repository checks that it
 * opens its config: a slot left by an interrupted `init` wraps a key that opens nothing). A damaged slot
 * (unreadable JSON, KDF parameters refused before deriving) is skipped and told to `onDamaged`, so one
 * bad slot does not lock out the passwords of the others. WrongKeyError when no intact slot opens;
 * IntegrityError naming the damaged slots when there was no intact slot to try.
 */
export async function unlockKeyring(
  storage: Storage,
  codec: KeySlotCodec,
  accept: (keyring: Keyring) => boolean = () => true,
  onDamaged?: OnDamagedSlot,
): Promise<{ keyring: Keyring; slotId: string }> {
  const read = await readSlots(storage);
  const damaged = [...read.damaged];
  const mine = read.slots.filter((s) => s.kind === codec.kind);
  const slots = codec.order?.(mine) ?? mine;
  const skip = (d: DamagedKeySlot) => {
    damaged.push(d);
    onDamaged?.(d);
  };
  for (const d of read.damaged) onDamaged?.(d);
  let tried = 0;
  for (const slot of slots) {
    let master: Buffer | undefined;
    try {
      master = await codec.unwrap(slot);
    } catch (err) {
      if (!(err instanceof IntegrityError)) throw err;
      skip(damageOf(KEYS_PREFIX + slot.id, err));
      continue;
    }
    tried++;
    if (!master) continue;
    let keyring: Keyring;
    try {
      keyring = decodeKeyring(master, KEYS_PREFIX + slot.id);
    } catch (err) {
      if (!(err instanceof IntegrityError)) throw err;
      skip(damageOf(KEYS_PREFIX + slot.id, err));
      continue;
    }
    if (accept(keyring)) {
      codec.accepted?.(slot);
      return { keyring, slotId: slot.id };
    }
  }
  const names = damaged.map((d) => d.object).join(', ');
  if (tried === 0 && damaged.length > 0) {
    const none = `no intact ${codec.kind} key slot in ${storage.location}`;
    throw damaged.length === 1
      ? new IntegrityError(damaged[0]!.object, `${damaged[0]!.message} (${none})`)
      : new IntegrityError(
          KEYS_PREFIX,
          `${none}: ${damaged.map((d) => `${d.object}: ${d.message}`).join('; ')}`,
        );
  }
  throw new WrongKeyError(
    slots.length === 0
      ? `no ${codec.kind} key slot in ${storage.location}`
      : `wrong password or key: none of the ${tried} ${codec.kind} key slot(s) in ${storage.location} opens with it` +
          (damaged.length > 0 ? ` (damaged, skipped: ${names})` : ''),
  );
}

/**
 * Removes a slot, damaged ones too; refuses to remove the last intact one (the repository would become
 * unreadable forever).
 */
export async function removeKeySlot(storage: Storage, slotId: string): Promise<void> {
  const { slots, damaged } = await readSlots(storage);
  const ids = [...slots.map((s) => s.id), ...damaged.map((d) => d.object.slice(KEYS_PREFIX.length))];
  const match = ids.filter((id) => id === slotId || id.startsWith(slotId));
  if (match.length === 0) throw new RepositoryError(`no key slot ${slotId}`);
  if (match.length > 1) throw new RepositoryError(`key slot prefix ${slotId} is ambiguous`);
  if (slots.length === 1 && slots[0]!.id === match[0])
    throw new RepositoryError('refusing to remove the last key slot: the data would be lost');
  await storage.delete(KEYS_PREFIX + match[0]!);
}

async function readSlots(storage: Storage): Promise<{ slots: StoredKeySlot[]; damaged: DamagedKeySlot[] }> {
  const out: StoredKeySlot[] = [];
  const damaged: DamagedKeySlot[] = [];
  for await (const info of storage.list(KEYS_PREFIX)) {
    let raw: Buffer;
    try {
      raw = await storage.get(info.name);
    } catch (err) {
      if (err instanceof ObjectNotFoundError) continue; // removed while listing
      throw err;
    }
    const problem = slotProblem(raw, info.name.slice(KEYS_PREFIX.length));
    if (typeof problem === 'string')
      damaged.push({ object: info.name, message: `key slot is damaged: ${problem}` });
    else out.push(problem);
  }
  return {
    slots: out.sort((a, b) => a.created.localeCompare(b.created) || a.id.localeCompare(b.id)),
    damaged,
  };
}

function damageOf(object: string, err: IntegrityError): DamagedKeySlot {
  const prefix = `${err.objectName}: `;
  return { object, message: err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message };
}

/** The slot stored in `raw`, or what is wrong with it. */
function slotProblem(raw: Buffer, name: string): StoredKeySlot | string {
  let slot: StoredKeySlot;
  try {
    slot = JSON.parse(raw.toString('utf8')) as StoredKeySlot;
  } catch {
    return 'not JSON';
  }
  if (typeof slot !== 'object' || slot === null || slot.version !== 1) return 'unknown layout';
  if (slot.id !== name) return `it names itself ${JSON.stringify(String(slot.id)).slice(0, 80)}`;
  if (typeof slot.wrapped !== 'string' || typeof slot.kind !== 'string') return 'no wrapped key';
  if (typeof slot.params !== 'object' || slot.params === null) return 'no parameters';
  if (typeof slot.created !== 'string') return 'no creation time';
  return slot;
}

function safeUsername(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}
