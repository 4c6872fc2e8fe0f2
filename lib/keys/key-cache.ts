import { createHash, randomBytes, scrypt } from 'node:crypto';
import type { KeySlotCodec, StoredKeySlot } from '../repo/keyslots';
import type { PasswordKeySlot } from './password';

/**
 * A cached password slot key, so that `wal-push` and `wal-fetch` (run by PostgreSQL once per WAL segment)
 * do not spend scrypt's 64 MiB and quarter second on every call. What is cached is the key-encryption key
 * (KEK) of the one slot that opened the repository, masked with a pad derived from the password:
 *
 *   masked = KEK xor scrypt(password, salt | "zapas/key-cache/v1/" repository id "/" slot id; N=2^10, r=8)
 *
 * - Never the master key, and nothing that opens without the password: the file alone is a 32-byte value
 *   that every password guess turns into a different, equally plausible KEK. There is no check value in
 *   it, so it cannot confirm a guess by itself.
 * - Bound to the slot: a KEK opens only that slot's wrapped master key (AES-GCM, the slot id in its AAD).
 *   Once the slot is removed (`key remove`, `key passwd`) the entry opens nothing, even with the old
 *   password; a changed password gives another pad, so the entry is not used (and is replaced after one
 *   full derivation). The slot's digest and the repository id are checked too.
 * - With the repository's key slot as well (storage is assumed readable by an attacker), the entry turns
 *   each password guess into one small scrypt (1 MiB, a few ms) instead of the slot's (64 MiB, ~0.25 s):
 *   that is the cost of the cache, and why it is for servers with generated passwords (docs/postgres.md).
 */
export interface KeyCacheEntry {
  readonly version: 1;
  /** The repository's id (its config's). */
  readonly repository: string;
  /** The slot whose KEK this is, and a digest of that slot as stored. */
  readonly slot: string;
  readonly slotDigest: string;
  /** base64: the pad's salt, and the masked KEK. */
  readonly salt: string;
  readonly masked: string;
}

/** The pad's scrypt cost: 1 MiB and a few milliseconds, so a stolen entry does not make guessing free. */
const PAD_LOG_N = 10;
const PAD_R = 8;
const PAD_P = 1;
const PAD_SALT_BYTES = 32;
const KEK_BYTES = 32;
const SLOT_DIGEST_HEX = 32;

/** Checks parsed JSON against the entry's shape (hand-written: zod's load time is what this file saves). */
export function asKeyCacheEntry(value: unknown): KeyCacheEntry | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const e = value as Record<string, unknown>;
  const text = (k: string, pattern: RegExp) => typeof e[k] === 'string' && pattern.test(e[k] as string);
  const ok =
    e.version === 1 &&
    text('repository', /^[0-9a-f]{1,64}$/) &&
    text('slot', /^[0-9a-f]{1,64}$/) &&
    text('slotDigest', /^[0-9a-f]{32}$/) &&
    text('salt', /^[A-Za-z0-9+/]{43}=$/) &&
    text('masked', /^[A-Za-z0-9+/]{43}=$/);
  return ok ? (e as unknown as KeyCacheEntry) : undefined;
}

/** A digest of a slot as stored (its id, KDF parameters and wrapped key): a replaced slot does not match. */
export function slotDigest(slot: StoredKeySlot): string {
  return createHash('sha256')
    .update(JSON.stringify([slot.id, slot.params, slot.wrapped]))
    .digest('hex')
    .slice(0, SLOT_DIGEST_HEX);
}

interface Opened {
  slot: StoredKeySlot;
  kek: Buffer;
  fromCache: boolean;
}

/**
 * A password codec that tries the cached KEK first: the cached slot comes first, and opens with the
 * masked KEK when the password is the one that wrote the entry; anything else falls back to the slot's
 * full derivation. After the repository opened, entryToStore() says what to write (if anything).
 */
export class CachedPasswordKeySlot implements KeySlotCodec {
  readonly kind = 'password';
  private opened: Opened | undefined;
  private accepted_: Opened | undefined;
  /** How the last unlock went: 'cache' (no slot derivation), 'derived', or undefined before one. */
  source: 'cache' | 'derived' | undefined;

  constructor(
    private readonly inner: PasswordKeySlot,
    private readonly password: string,
    private readonly entry: KeyCacheEntry | undefined,
  ) {}

  wrap(masterKey: Buffer, slotId: string) {
    return this.inner.wrap(masterKey, slotId);
  }

  order(slots: readonly StoredKeySlot[]): StoredKeySlot[] {
    const cached = this.entry?.slot;
    return [...slots.filter((s) => s.id === cached), ...slots.filter((s) => s.id !== cached)];
  }

  async unwrap(slot: StoredKeySlot): Promise<Buffer | undefined> {
    const entry = this.entry;
    if (entry && entry.slot === slot.id && entry.slotDigest === slotDigest(slot)) {
      const kek = xor(Buffer.from(entry.masked, 'base64'), await pad(this.password, entry));
      const master = this.inner.openWithKek(kek, slot);
      if (master) {
        this.opened = { slot, kek, fromCache: true };
        return master;
      }
    }
    const kek = await this.inner.deriveKek(slot);
    const master = kek && this.inner.openWithKek(kek, slot);
    if (master) this.opened = { slot, kek: kek!, fromCache: false };
    return master;
  }

  accepted(slot: StoredKeySlot): void {
    if (this.opened?.slot.id === slot.id) {
      this.accepted_ = this.opened;
      this.source = this.opened.fromCache ? 'cache' : 'derived';
    }
  }

  /** The entry to write now that `repositoryId` opened, or undefined when the stored one is current. */
  async entryToStore(repositoryId: string): Promise<KeyCacheEntry | undefined> {
    const used = this.accepted_;
    if (!used || (used.fromCache && this.entry?.repository === repositoryId)) return undefined;
    const base = {
      version: 1 as const,
      repository: repositoryId,
      slot: used.slot.id,
      slotDigest: slotDigest(used.slot),
      salt: randomBytes(PAD_SALT_BYTES).toString('base64'),
    };
    return { ...base, masked: xor(used.kek, await pad(this.password, base)).toString('base64') };
  }
}

function pad(password: string, entry: Pick<KeyCacheEntry, 'salt' | 'repository' | 'slot'>): Promise<Buffer> {
  const salt = Buffer.concat([
    Buffer.from(entry.salt, 'base64'),
    Buffer.from(`zapas/key-cache/v1/${entry.repository}/${entry.slot}`),
  ]);
  return new Promise((resolve, reject) =>
    scrypt(
      password.normalize('NFC'),
      salt,
      KEK_BYTES,
      { N: 2 ** PAD_LOG_N, r: PAD_R, p: PAD_P },
      (err, key) => (err ? reject(err) : resolve(key)),
    ),
  );
}

function xor(a: Buffer, b: Buffer): Buffer {
  if (a.length !== KEK_BYTES || b.length !== KEK_BYTES) throw new RangeError('key cache: bad key length');
  const out = Buffer.alloc(KEK_BYTES);
  for (let i = 0; i < KEK_BYTES; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}
