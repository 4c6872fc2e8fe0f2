import { randomBytes, scrypt } from 'node:crypto';
import { DATA_KEY_BYTES, openWith, sealWith } from '../repo/crypto';
import { IntegrityError } from '../repo/errors';
import type { KeyId } from '../repo/ids';
import type { KeySlotCodec, StoredKeySlot } from '../repo/keyslots';

/**
 * Password key slots: scrypt derives a key-encryption key from the password, which seals the master key
 * with AES-256-GCM. scrypt with N=2^16, r=8, p=1 costs 64 MiB and about a quarter second per try (the
 * cost restic calibrates to), which is what makes guessing expensive; 64 MiB keeps a backup's peak
 * memory low. Existing slots keep the cost they were made with.
 */
export const SCRYPT_DEFAULT_LOG_N = 16;
/** Highest cost a slot may ask for: a planted slot must not make opening use unbounded memory. */
export const SCRYPT_MAX_LOG_N = 22;
/** Lowest cost accepted: tests use it to keep runs fast; never for real repositories. */
export const SCRYPT_MIN_LOG_N = 10;
const SCRYPT_R = 8;
const SCRYPT_P = 1;
const SALT_BYTES = 32;
const SLOT_KEY_ID = '0000000000000000' as KeyId;

/** A password slot's KDF parameters, as stored in the slot. */
export interface ScryptParams {
  kdf: 'scrypt';
  logN: number;
  r: number;
  p: number;
  /** base64 */
  salt: string;
}

/** Derives a slot's key-encryption key from the password (scrypt; tests pass one that counts its calls). */
export type PasswordKdf = (password: string, params: ScryptParams) => Promise<Buffer>;

/** A codec for password slots. `logN` sets the cost of new slots only. */
export class PasswordKeySlot implements KeySlotCodec {
  readonly kind = 'password';
  constructor(
    private readonly password: string,
    private readonly logN = SCRYPT_DEFAULT_LOG_N,
    private readonly kdf: PasswordKdf = scryptKdf,
  ) {
    if (logN < SCRYPT_MIN_LOG_N || logN > SCRYPT_MAX_LOG_N)
      throw new RangeError(`scrypt cost 2^${logN} out of range`);
  }

  async wrap(masterKey: Buffer, slotId: string) {
    const params: ScryptParams = {
      kdf: 'scrypt',
      logN: this.logN,
      r: SCRYPT_R,
      p: SCRYPT_P,
      salt: randomBytes(SALT_BYTES).toString('base64'),
    };
    const kek = await this.kdf(this.password, params);
    return {
      params: { ...params },
      wrapped: sealWith({ id: SLOT_KEY_ID, key: kek }, masterKey, aadOf(slotId)),
    };
  }

  async unwrap(slot: StoredKeySlot): Promise<Buffer | undefined> {
    const kek = await this.deriveKek(slot);
    return kek && this.openWithKek(kek, slot);
  }

  /**
   * The slot's key-encryption key, derived from the password (the expensive step), or undefined for a
   * slot of another KDF. Parameters out of range are refused before any memory is spent on them.
   */
  async deriveKek(slot: StoredKeySlot): Promise<Buffer | undefined> {
    const params = slot.params as unknown as ScryptParams;
    if (params.kdf !== 'scrypt') return undefined;
    const sane =
      Number.isInteger(params.logN) &&
      params.logN >= SCRYPT_MIN_LOG_N &&
      params.logN <= SCRYPT_MAX_LOG_N &&
      Number.isInteger(params.r) &&
      params.r >= 1 &&
      params.r <= 32 &&
      Number.isInteger(params.p) &&
      params.p >= 1 &&
      params.p <= 16;
    if (!sane)
      throw new IntegrityError(
        `keys/${slot.id}`,
        'key slot asks for scrypt parameters out of range (damaged or planted)',
      );
    return this.kdf(this.password, params);
  }

  /** Opens the slot's wrapped master key with a key-encryption key; undefined when it is not this slot's. */
  openWithKek(kek: Buffer, slot: StoredKeySlot): Buffer | undefined {
    try {
      return openWith(kek, Buffer.from(slot.wrapped, 'base64'), aadOf(slot.id), `keys/${slot.id}`);
    } catch (err) {
      if (err instanceof IntegrityError) return undefined; // another password's slot
      throw err;
    }
  }
}

function aadOf(slotId: string): Buffer {
  return Buffer.from(`zapas/key-slot/v1/${slotId}`);
}

/** scrypt as password slots use it: the password in Unicode NFC, memory bounded by the parameters. */
export function scryptKdf(password: string, params: ScryptParams): Promise<Buffer> {
  const N = 2 ** params.logN;
  const maxmem = 2 * 128 * N * params.r + 1024 * 1024;
  return new Promise((resolve, reject) => {
    scrypt(
      password.normalize('NFC'),
      Buffer.from(params.salt, 'base64'),
      DATA_KEY_BYTES,
      { N, r: params.r, p: params.p, maxmem },
      (err, key) => (err ? reject(err) : resolve(key)),
    );
  });
}
