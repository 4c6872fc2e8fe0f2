/**
 * One audit event as a stored object: `audit/<seq, 16 digits>`, the event's canonical encoding sealed
 * with the repository key, with the sequence number in the associated data so that an event renamed to
 * another place no longer opens there (docs/format.md, "Audit trail").
 */
import { z } from 'zod';
import { type Keyring, seal } from '../repo/crypto';
import { IntegrityError } from '../repo/errors';
import { openJson } from '../repo/sealed-json';
import { ACTIONS } from '../security/permissions';
import { ROLES } from '../security/principal';
import { canonicalJson } from './canonical';
import { AUDIT_ONLY_ACTIONS, type AuditEvent } from './event';

/** Folder of audit events. */
export const AUDIT_PREFIX = 'audit/';
/** Digits of the sequence number in an object name (every safe integer fits). */
export const SEQ_DIGITS = 16;
/** Plaintext prefix byte of sealed JSON: uncompressed (lib/repo/sealed-json.ts). */
const PLAIN = 0;

const NAME_PATTERN = new RegExp(`^${AUDIT_PREFIX}(\\d{${SEQ_DIGITS}})$`);

/** Storage name of the event with sequence number `seq`. */
export function auditObjectName(seq: number): string {
  if (!Number.isSafeInteger(seq) || seq < 1)
    throw new RangeError(`no audit event has sequence number ${seq}`);
  return AUDIT_PREFIX + String(seq).padStart(SEQ_DIGITS, '0');
}

/** The sequence number an object name holds, or undefined when it is not an audit event's name. */
export function seqOfName(name: string): number | undefined {
  const m = NAME_PATTERN.exec(name);
  if (!m) return undefined;
  const seq = Number(m[1]);
  return Number.isSafeInteger(seq) && seq >= 1 ? seq : undefined;
}

/** Associated data of event `seq`: binds the sealed bytes to their place in the trail. */
export function auditAad(seq: number): Buffer {
  return Buffer.from(`zapas/audit/v1/${seq}`);
}

const text = z.string().max(4096);
const EVENT = z.looseObject({
  time: z.iso.datetime({ offset: true }),
  seq: z.number().int().min(1),
  prev: z.string().regex(/^[0-9a-f]{64}$/),
  principal: z.looseObject({
    kind: z.enum(['token', 'local', 'system', 'anonymous']),
    subject: text,
    roles: z.array(z.enum(ROLES)),
    tokenId: z.string().max(256).optional(),
  }),
  action: z.enum([...ACTIONS, ...AUDIT_ONLY_ACTIONS]),
  target: z.record(z.string().max(256), text),
  outcome: z.enum(['allowed', 'denied', 'succeeded', 'failed']),
  reason: text.optional(),
  correlationId: z.string().min(1).max(256),
  address: z.string().max(256).optional(),
  origin: z.string().min(1).max(256),
});

/**
 * The sealed bytes of an event: its canonical encoding, uncompressed, in the repository's envelope. An
 * event that would not read back as one (a field too long, an unknown action) is refused here, before
 * anything is written, rather than found "altered" later.
 */
export function sealEvent(keyring: Keyring, event: AuditEvent): Buffer {
  const checked = EVENT.safeParse(event);
  if (!checked.success)
    throw new TypeError(
      `not a valid audit event: ${checked.error.issues[0]?.path.join('.')}: ${checked.error.issues[0]?.message}`,
    );
  const plain = Buffer.concat([Buffer.from([PLAIN]), Buffer.from(canonicalJson(event), 'utf8')]);
  return seal(keyring, plain, auditAad(event.seq));
}

/**
 * Opens the object `name` as event `seq` (IntegrityError naming it when it does not authenticate there,
 * does not decode, or is not an event of that number). Fields a later version adds are kept, and hashed.
 */
export function openEvent(keyring: Keyring, bytes: Buffer, seq: number, name: string): AuditEvent {
  const value = openJson<unknown>(keyring, bytes, auditAad(seq), name);
  const parsed = EVENT.safeParse(value);
  if (!parsed.success)
    throw new IntegrityError(name, `not an audit event (${parsed.error.issues[0]?.message ?? 'bad shape'})`);
  if (parsed.data.seq !== seq) throw new IntegrityError(name, `holds event ${parsed.data.seq}, not ${seq}`);
  return value as AuditEvent;
}
