/**
 * Step-up with a time-based one-time code (TOTP, RFC 6238) for the critical operations
 * (permissions.ts stepUpNeeded): the principal proves a second factor — an authenticator app holding a
 * secret shared at enrolment — by sending the current code in the X-Zapas-OTP header.
 *
 * A code is 6 digits for a 30-second time step, accepted for the step before and after the current one
 * as well (clock drift). Each accepted step is remembered in the principal's record, and a code of that
 * step or an earlier one is refused afterwards: a code works once, and two requests carrying one code at
 * the same moment have exactly one winner (compare-and-set on the record's revision). Wrong codes count:
 * STEP_UP_MAX_FAILURES of them within STEP_UP_FAILURE_WINDOW_MS lock the principal out for
 * STEP_UP_LOCKOUT_MS, during which even the right code is refused. An attempt is counted before its code
 * is judged, so concurrent guesses get no more than STEP_UP_MAX_FAILURES judged.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { HOTP, Secret, TOTP } from 'otpauth';
import type { Catalog } from '../catalog/catalog';
import type { DataKey, Keyring } from '../repo/crypto';
import { subjectLockKey } from './lockout';
import { CatalogLockoutStore, type FailurePolicy } from './lockout-store';
import { openTotp, sealTotp, TotpRecordError, type TotpSecret, totpSealKey } from './totp-seal';

/** The HTTP request header carrying the one-time code. */
export const OTP_HEADER = 'X-Zapas-OTP';
export const TOTP_DIGITS = 6;
export const TOTP_PERIOD_SECONDS = 30;
/** Steps accepted on either side of the current one (±30 s of clock drift). */
export const TOTP_WINDOW_STEPS = 1;
/** RFC 6238's default, the one every authenticator app supports. */
export const TOTP_ALGORITHM = 'SHA1';
/** Bytes of a new shared secret (160 bits, RFC 4226's recommendation). */
export const TOTP_SECRET_BYTES = 20;
/** Wrong codes within STEP_UP_FAILURE_WINDOW_MS that lock a principal out. */
export const STEP_UP_MAX_FAILURES = 5;
export const STEP_UP_FAILURE_WINDOW_MS = 15 * 60_000;
/** How long a principal stays locked out after too many wrong codes. */
export const STEP_UP_LOCKOUT_MS = 15 * 60_000;
/** The issuer an authenticator app shows beside the subject. */
export const DEFAULT_TOTP_ISSUER = 'zapas';

/**
 * Attempts are counted before they are judged (checkStepUp): the one after STEP_UP_MAX_FAILURES counted
 * ones locks, and the STEP_UP_MAX_FAILURES-th that turns out wrong locks as well.
 */
const GUESSES: FailurePolicy = {
  maxFailures: STEP_UP_MAX_FAILURES + 1,
  windowMs: STEP_UP_FAILURE_WINDOW_MS,
  lockoutMs: STEP_UP_LOCKOUT_MS,
};
const TOO_MANY = 'too many wrong one-time codes';
const CODE_PATTERN = new RegExp(`^\\d{${TOTP_DIGITS}}$`);
/** Compare-and-set attempts on one record before giving up. */
const MAX_ATTEMPTS = 32;

export type StepUpReason =
  | 'missing-code'
  | 'not-enrolled'
  | 'already-enrolled'
  | 'wrong-code'
  | 'replayed'
  | 'locked-out'
  /** The stored second factor does not open (damaged, tampered with, another key's): enrol again. */
  | 'unreadable';

/** A refused step-up. Its message names the subject and why, never the code or the secret. */
export class StepUpError extends Error {
  override readonly name = 'StepUpError';
  constructor(
    readonly reason: StepUpReason,
    message: string,
    /** For `locked-out`: until when. */
    readonly lockedUntil?: Date,
  ) {
    super(message);
  }
}

/** What enrolment hands out, once: the secret for an authenticator app. */
export interface Enrolment {
  subject: string;
  /** The otpauth:// URI (a QR code of it is what apps scan). */
  uri: string;
  /** The secret in base32, for typing into an app. */
  secret: string;
  issuer: string;
  algorithm: typeof TOTP_ALGORITHM;
  digits: number;
  period: number;
}

export interface StepUpOptions {
  catalog: Catalog;
  /** The key repository's keyring: the records are sealed under a key derived from it. */
  keyring: Keyring;
  /** Shown by authenticator apps (default DEFAULT_TOTP_ISSUER). */
  issuer?: string;
  /** Where failures and lockouts are kept (default: over the same catalog). */
  lockouts?: CatalogLockoutStore;
  now?: () => Date;
}

export class TotpStepUp {
  private readonly catalog: Catalog;
  private readonly key: DataKey;
  private readonly issuer: string;
  readonly lockouts: CatalogLockoutStore;
  private readonly now: () => Date;

  constructor(opts: StepUpOptions) {
    this.catalog = opts.catalog;
    this.key = totpSealKey(opts.keyring);
    this.issuer = opts.issuer ?? DEFAULT_TOTP_ISSUER;
    this.now = opts.now ?? (() => new Date());
    this.lockouts = opts.lockouts ?? new CatalogLockoutStore(opts.catalog, { now: this.now });
  }

  /**
   * Enrols `subject`: a new random secret, stored sealed, returned once. A subject already enrolled is
   * refused unless `replace` (an administrator, the CLI) or its `currentCode` passes a step-up.
   */
  async enrol(subject: string, opts: { replace?: boolean; currentCode?: string } = {}): Promise<Enrolment> {
    if (opts.currentCode !== undefined) await this.checkStepUp(subject, opts.currentCode);
    const secret = randomBytes(TOTP_SECRET_BYTES);
    const enrolledAt = this.now().toISOString();
    try {
      await this.write(subject, (current) => {
        if (current !== undefined && !opts.replace && opts.currentCode === undefined)
          throw new StepUpError(
            'already-enrolled',
            `${subject} already has a second factor: remove it first, or replace it with a current code`,
          );
        return { secret, lastStep: 0, enrolledAt };
      });
      const totp = new TOTP({
        issuer: this.issuer,
        label: subject,
        secret: new Secret({ buffer: new Uint8Array(secret).buffer }),
        algorithm: TOTP_ALGORITHM,
        digits: TOTP_DIGITS,
        period: TOTP_PERIOD_SECONDS,
      });
      return {
        subject,
        uri: totp.toString(),
        secret: totp.secret.base32,
        issuer: this.issuer,
        algorithm: TOTP_ALGORITHM,
        digits: TOTP_DIGITS,
        period: TOTP_PERIOD_SECONDS,
      };
    } finally {
      secret.fill(0);
    }
  }

  /** Removes the second factor of `subject`; false when it had none. */
  async remove(subject: string): Promise<boolean> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const record = await this.catalog.getRecord('totp', subject);
      if (!record || isRemoved(record.value)) return false;
      const tombstone = { removed: this.now().toISOString() };
      if (await this.catalog.putRecord('totp', subject, tombstone, record.revision)) return true;
    }
    throw contention(subject);
  }

  /** Whether `subject` has a second factor (a damaged one counts: it needs replacing, not enrolling). */
  async enrolled(subject: string): Promise<boolean> {
    const record = await this.catalog.getRecord('totp', subject);
    return record !== undefined && !isRemoved(record.value);
  }

  /**
   * Passes when `code` is a current one-time code of `subject` not used before; otherwise throws a
   * StepUpError saying why (a wrong code counts towards the lockout; a missing or replayed one does not).
   */
  async checkStepUp(subject: string, code: string | undefined): Promise<void> {
    const now = this.now();
    const given = (code ?? '').trim();
    if (given === '')
      throw new StepUpError(
        'missing-code',
        `this operation needs a one-time code of ${subject}'s second factor (header ${OTP_HEADER})`,
      );
    const until = await this.lockouts.lockedUntil(subjectLockKey(subject), now);
    if (until !== undefined) throw lockedOut(subject, until);
    // The attempt is counted before its code is judged: of concurrent guesses, each takes a place in the
    // count, and one past STEP_UP_MAX_FAILURES is refused unjudged (the lockout stands for it already).
    const counted = await this.lockouts.recordFailure(subjectLockKey(subject), GUESSES, TOO_MANY, now);
    if (counted.lockedUntil !== undefined) throw lockedOut(subject, counted.lockedUntil);
    let outcome: 'written' | 'wrong';
    try {
      outcome = await this.write(subject, (current) => {
        if (current === undefined)
          throw new StepUpError('not-enrolled', `${subject} has no second factor enrolled`);
        if (current instanceof TotpRecordError)
          throw new StepUpError('unreadable', `${current.message}: enrol it again`);
        const step = matchingStep(current.secret, given, now);
        if (step === undefined) return 'wrong';
        if (step <= current.lastStep)
          throw new StepUpError(
            'replayed',
            `this one-time code of ${subject} was used already: wait for the next`,
          );
        return { ...current, lastStep: step };
      });
    } catch (err) {
      // Not a wrong code (no factor, a replay, a failure): the attempt does not count.
      await this.lockouts.forgetFailure(subjectLockKey(subject), now.getTime());
      throw err;
    }
    if (outcome === 'written') {
      await this.lockouts.clearFailures(subjectLockKey(subject));
      return;
    }
    if (counted.failures >= STEP_UP_MAX_FAILURES) {
      const lockedUntil = now.getTime() + STEP_UP_LOCKOUT_MS;
      await this.lockouts.lock(subjectLockKey(subject), lockedUntil, TOO_MANY);
      throw lockedOut(subject, lockedUntil, `wrong one-time code for ${subject}: `);
    }
    throw new StepUpError(
      'wrong-code',
      `wrong one-time code for ${subject} (${counted.failures} of ${STEP_UP_MAX_FAILURES} within ${STEP_UP_FAILURE_WINDOW_MS / 60_000} minutes lock it out)`,
    );
  }

  /**
   * Reads the record of `subject`, opens it (a TotpRecordError when it does not open), and writes what
   * `next` makes of it as the record's next revision — again from a fresh read when another writer got
   * there first. `next` answering 'wrong' writes nothing.
   */
  private async write(
    subject: string,
    next: (current: TotpSecret | TotpRecordError | undefined) => TotpSecret | 'wrong',
  ): Promise<'written' | 'wrong'> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const record = await this.catalog.getRecord('totp', subject);
      const revision = record?.revision ?? 0;
      let current: TotpSecret | TotpRecordError | undefined;
      if (record && !isRemoved(record.value)) {
        try {
          current = openTotp(this.key, subject, revision, record.value);
        } catch (err) {
          if (!(err instanceof TotpRecordError)) throw err;
          current = err;
        }
      }
      let sealed: Record<string, unknown>;
      try {
        const value = next(current);
        if (value === 'wrong') return 'wrong';
        sealed = sealTotp(this.key, subject, revision + 1, value);
      } finally {
        if (current && !(current instanceof TotpRecordError)) current.secret.fill(0);
      }
      if (await this.catalog.putRecord('totp', subject, sealed, revision)) return 'written';
    }
    throw contention(subject);
  }
}

/** The time step within the window whose code `code` is, preferring the current one; undefined: none. */
function matchingStep(secret: Buffer, code: string, now: Date): number | undefined {
  if (!CODE_PATTERN.test(code)) return undefined;
  const current = Math.floor(now.getTime() / 1000 / TOTP_PERIOD_SECONDS);
  const given = Buffer.from(code);
  const key = new Secret({ buffer: new Uint8Array(secret).buffer });
  const steps = [current];
  for (let d = 1; d <= TOTP_WINDOW_STEPS; d++) steps.push(current - d, current + d);
  let found: number | undefined;
  for (const step of steps) {
    const expected = Buffer.from(
      HOTP.generate({ secret: key, algorithm: TOTP_ALGORITHM, digits: TOTP_DIGITS, counter: step }),
    );
    // Every step is compared (no early exit), each in constant time.
    if (timingSafeEqual(expected, given) && found === undefined) found = step;
  }
  return found;
}

function isRemoved(value: Record<string, unknown>): boolean {
  return typeof value.removed === 'string';
}

function lockedOut(subject: string, untilMs: number, prefix = ''): StepUpError {
  const until = new Date(untilMs);
  return new StepUpError(
    'locked-out',
    `${prefix}${subject} is locked out of step-up until ${until.toISOString()} (too many wrong one-time codes)`,
    until,
  );
}

function contention(subject: string): Error {
  return new Error(
    `the second factor record of ${subject} changed under ${MAX_ATTEMPTS} attempts in a row: try again`,
  );
}
