/**
 * How a principal's TOTP secret is kept in the catalog (record kind `totp`, key: the subject): sealed in
 * the repository's envelope (AES-256-GCM, lib/repo/crypto.ts) under a key derived with HKDF-SHA256 from
 * the key repository's master key. The associated data binds the envelope to the subject and to the
 * record's revision, so a record copied to another subject does not open, and neither does an older
 * revision of the same record put back (which would undo the replay guard kept inside). The secret is
 * never stored or logged unwrapped.
 */
import { hkdfSync } from 'node:crypto';
import {
  type DataKey,
  ENVELOPE_OVERHEAD_BYTES,
  envelopeKeyId,
  type Keyring,
  openWith,
  sealWith,
} from '../repo/crypto';
import type { KeyId } from '../repo/ids';

/** HKDF info of the sealing key: changing it would make every enrolment unreadable. */
export const TOTP_KEY_INFO = 'zapas/totp-seal/v1';
/** HKDF info of the id the envelopes carry (tells "another repository's key" from damage). */
const TOTP_KEY_ID_INFO = 'zapas/totp-seal-id/v1';
const SEALED_LAYOUT = 1;

/** What the sealed envelope holds. */
export interface TotpSecret {
  /** The shared secret (20 random bytes). */
  secret: Buffer;
  /** The newest time step a code was accepted for (0: none yet): a code of this step or an earlier one is refused. */
  lastStep: number;
  enrolledAt: string;
}

/** A record that does not open: damaged, tampered with, moved, rolled back, or sealed under another key. */
export class TotpRecordError extends Error {
  override readonly name = 'TotpRecordError';
}

/**
 * The sealing key of a keyring. Derived from its MAC key, which a repository keeps for its whole life
 * (data keys may be added and rotated; enrolments must outlive that).
 */
export function totpSealKey(keyring: Keyring): DataKey {
  const derive = (info: string, bytes: number) =>
    Buffer.from(hkdfSync('sha256', keyring.macKey, Buffer.alloc(0), info, bytes));
  return { id: derive(TOTP_KEY_ID_INFO, 8).toString('hex') as KeyId, key: derive(TOTP_KEY_INFO, 32) };
}

function aadOf(subject: string, revision: number): Buffer {
  return Buffer.from(JSON.stringify(['zapas/totp/v1', subject, revision]));
}

/** The record value holding `payload` sealed for `subject` as the record's revision `revision`. */
export function sealTotp(
  key: DataKey,
  subject: string,
  revision: number,
  payload: TotpSecret,
): Record<string, unknown> {
  const plain = Buffer.from(
    JSON.stringify({
      secret: payload.secret.toString('base64'),
      lastStep: payload.lastStep,
      enrolledAt: payload.enrolledAt,
    }),
  );
  try {
    return {
      layout: SEALED_LAYOUT,
      sealed: sealWith(key, plain, aadOf(subject, revision)).toString('base64'),
    };
  } finally {
    plain.fill(0);
  }
}

/** Opens the record value stored for `subject` at `revision`; TotpRecordError when it does not open. */
export function openTotp(
  key: DataKey,
  subject: string,
  revision: number,
  value: Record<string, unknown>,
): TotpSecret {
  const what = `the second factor of ${subject}`;
  if (value.layout !== SEALED_LAYOUT || typeof value.sealed !== 'string')
    throw new TotpRecordError(`${what} is not a sealed record of a known layout`);
  const envelope = Buffer.from(value.sealed, 'base64');
  if (envelope.length < ENVELOPE_OVERHEAD_BYTES)
    throw new TotpRecordError(`${what} does not open (its envelope is too short)`);
  if (envelopeKeyId(envelope) !== key.id)
    throw new TotpRecordError(`${what} was sealed under another repository's key`);
  let plain: Buffer;
  try {
    plain = openWith(key.key, envelope, aadOf(subject, revision), what);
  } catch (cause) {
    throw new TotpRecordError(`${what} does not open (damaged, tampered with, or another subject's)`, {
      cause,
    });
  }
  try {
    const parsed = JSON.parse(plain.toString('utf8')) as Record<string, unknown>;
    const secret = typeof parsed.secret === 'string' ? Buffer.from(parsed.secret, 'base64') : Buffer.alloc(0);
    if (secret.length < 16 || !Number.isSafeInteger(parsed.lastStep) || typeof parsed.enrolledAt !== 'string')
      throw new TotpRecordError(`${what} holds an unknown layout`);
    return { secret, lastStep: parsed.lastStep as number, enrolledAt: parsed.enrolledAt };
  } catch (err) {
    if (err instanceof TotpRecordError) throw err;
    throw new TotpRecordError(`${what} holds an unknown layout`);
  } finally {
    plain.fill(0);
  }
}
