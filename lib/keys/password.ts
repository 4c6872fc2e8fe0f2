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
/**
 * Lowest cost of a new slot outside the test suite (2^15: 32 MiB, about 0.1 s): ZAPAS_KDF_LOG_N may raise
 * the cost, or lower it this far for a small machine, no further.
 */
export const SCRYPT_FLOOR_LOG_N = 15;
/** Set to 1 (the test suite does) to let ZAPAS_KDF_LOG_N go below the floor, down to SCRYPT_MIN_LOG_N. */
export const ALLOW_WEAK_KDF_ENV = 'ZAPAS_TEST_ALLOW_WEAK_KDF';
/** Most memory a slot's scrypt may take (128·N·r bytes): 16 times the default's. */
export const SCRYPT_MAX_MEMORY_BYTES = 2 ** 30;
/**
 * Most work a slot's scrypt may ask for, as 128·N·r·p bytes processed: p runs of the memory-hard step
 * one after another, so 4 GiB is some 15 s on one core (the default, 64 MiB, takes a quarter second).
 * A slot asking for more could not be opened in any reasonable time.
 */
export const SCRYPT_MAX_WORK_BYTES = 4 * 2 ** 30;
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
    const problem = scryptParamsProblem(params);
    if (problem)
      throw new IntegrityError(
        `keys/${slot.id}`,
        `key slot refused before deriving (damaged or planted): ${problem}`,
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

/**
 * What is wrong with a slot's scrypt parameters, or undefined when they are sane: whole numbers, a cost
 * from 2^SCRYPT_MIN_LOG_N to 2^SCRYPT_MAX_LOG_N, memory (128·N·r) at most SCRYPT_MAX_MEMORY_BYTES and
 * work (128·N·r·p) at most SCRYPT_MAX_WORK_BYTES, a salt. Checked before anything is derived.
 */
export function scryptParamsProblem(params: Partial<ScryptParams>): string | undefined {
  const { logN, r, p, salt } = params;
  const whole = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 1;
  if (!whole(logN) || !whole(r) || !whole(p)) return 'logN, r and p must be whole numbers of at least 1';
  if (logN < SCRYPT_MIN_LOG_N || logN > SCRYPT_MAX_LOG_N)
    return `cost 2^${logN} is outside 2^${SCRYPT_MIN_LOG_N}..2^${SCRYPT_MAX_LOG_N}`;
  const memory = 128 * 2 ** logN * r;
  if (memory > SCRYPT_MAX_MEMORY_BYTES)
    return `it asks for ${mib(memory)} of memory, more than the ${mib(SCRYPT_MAX_MEMORY_BYTES)} allowed`;
  if (memory * p > SCRYPT_MAX_WORK_BYTES)
    return `it asks for ${p} passes over ${mib(memory)} (p=${p}), more work than can be done in reasonable time`;
  if (typeof salt !== 'string' || salt.length === 0) return 'it has no salt';
  return undefined;
}

function mib(bytes: number): string {
  return `${bytes / 2 ** 20} MiB`;
}

/** ZAPAS_KDF_LOG_N that is not a cost this program may give a new slot. */
export class KdfSettingError extends Error {
  override readonly name = 'KdfSettingError';
}

/**
 * The scrypt cost of new slots from the environment: ZAPAS_KDF_LOG_N (default SCRYPT_DEFAULT_LOG_N), at
 * least SCRYPT_FLOOR_LOG_N unless ZAPAS_TEST_ALLOW_WEAK_KDF=1 (the test suite's explicit opt-in), and never
 * outside SCRYPT_MIN_LOG_N..SCRYPT_MAX_LOG_N.
 */
export function newSlotLogN(env: NodeJS.ProcessEnv): number {
  const text = env.ZAPAS_KDF_LOG_N;
  if (text === undefined || text === '') return SCRYPT_DEFAULT_LOG_N;
  const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  const weak = env[ALLOW_WEAK_KDF_ENV] === '1';
  const floor = weak ? SCRYPT_MIN_LOG_N : SCRYPT_FLOOR_LOG_N;
  if (!Number.isSafeInteger(n) || n < floor || n > SCRYPT_MAX_LOG_N)
    throw new KdfSettingError(
      `ZAPAS_KDF_LOG_N must be a whole number from ${floor} to ${SCRYPT_MAX_LOG_N}, not "${text}"` +
        (weak || !(n >= SCRYPT_MIN_LOG_N && n < SCRYPT_FLOOR_LOG_N)
          ? ''
          : ` (below ${SCRYPT_FLOOR_LOG_N} only for test suites, with ${ALLOW_WEAK_KDF_ENV}=1)`),
    );
  return n;
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
