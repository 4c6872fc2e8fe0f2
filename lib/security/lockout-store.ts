/**
 * The LockoutStore over the catalog's records (kind `lockout`, key: the subject or address): one record
 * per subject holding how long it is locked out, why, and its recent failures. Every change is a
 * compare-and-set on the record's revision, retried on a lost race, so function instances and a serve
 * counting failures of one subject at once lose none and lock it once.
 */
import type { Catalog } from '../catalog/catalog';
import type { LockoutStore } from './lockout';

/** When failures lock a subject out: `maxFailures` within `windowMs` lock it for `lockoutMs`. */
export interface FailurePolicy {
  maxFailures: number;
  windowMs: number;
  lockoutMs: number;
}

/** What one failure led to. */
export interface FailureOutcome {
  /** Failures within the window, this one included (0 once they locked the subject out). */
  failures: number;
  /** Epoch milliseconds until which the subject is now locked out, when this failure (or an earlier lock) did it. */
  lockedUntil?: number;
}

/** The stored value. */
interface LockoutValue {
  /** Epoch milliseconds until which the subject is refused. */
  until?: number;
  reason?: string;
  /** Epoch milliseconds of the failures not yet old enough to forget, oldest first. */
  failures: number[];
}

/** Compare-and-set attempts before giving up (each lost one means another writer changed the record). */
const MAX_ATTEMPTS = 32;

export class LockoutContentionError extends Error {
  override readonly name = 'LockoutContentionError';
}

export class CatalogLockoutStore implements LockoutStore {
  private readonly now: () => Date;

  constructor(
    private readonly catalog: Catalog,
    opts: { now?: () => Date } = {},
  ) {
    this.now = opts.now ?? (() => new Date());
  }

  async lockedUntil(subject: string, now: Date = this.now()): Promise<number | undefined> {
    const record = await this.catalog.getRecord('lockout', subject);
    const until = record ? lockoutOf(record.value).until : undefined;
    return until !== undefined && until > now.getTime() ? until : undefined;
  }

  /** Lets `subject` in again at once (an operator after a false alarm): its lockout and failures gone. */
  async release(subject: string): Promise<boolean> {
    let released = false;
    await this.change(subject, (v) => {
      if (v.until === undefined && v.failures.length === 0) return undefined;
      released = true;
      return { failures: [] };
    });
    return released;
  }

  async lock(subject: string, untilMs: number, reason: string): Promise<void> {
    await this.change(subject, (v) =>
      (v.until ?? 0) >= untilMs ? undefined : { ...v, until: untilMs, reason },
    );
  }

  /**
   * Counts a failure of `subject` at `now`: failures older than the policy's window are forgotten; the
   * one that makes `maxFailures` locks the subject out for `lockoutMs` (unless a longer lockout is
   * already in place) and clears the count.
   */
  async recordFailure(
    subject: string,
    policy: FailurePolicy,
    reason: string,
    now: Date = this.now(),
  ): Promise<FailureOutcome> {
    const at = now.getTime();
    let outcome: FailureOutcome = { failures: 0 };
    await this.change(subject, (v) => {
      // A failure counted by a concurrent attempt whose clock read later stays: dropping it would lose it.
      const failures = [...v.failures.filter((t) => t > at - policy.windowMs), at];
      const locked = v.until !== undefined && v.until > at ? v.until : undefined;
      if (failures.length < policy.maxFailures) {
        outcome = { failures: failures.length, ...(locked !== undefined ? { lockedUntil: locked } : {}) };
        return { ...v, failures };
      }
      const until = Math.max(locked ?? 0, at + policy.lockoutMs);
      outcome = { failures: 0, lockedUntil: until };
      return { until, reason: until === locked && v.reason !== undefined ? v.reason : reason, failures: [] };
    });
    return outcome;
  }

  /** Takes back one failure counted at `atMs` (an attempt counted before it was judged, then not a failure). */
  async forgetFailure(subject: string, atMs: number): Promise<void> {
    await this.change(subject, (v) => {
      const at = v.failures.indexOf(atMs);
      return at < 0 ? undefined : { ...v, failures: v.failures.filter((_, i) => i !== at) };
    });
  }

  /** Forgets the failures of `subject` (after a success); a lockout in place stays. */
  async clearFailures(subject: string): Promise<void> {
    await this.change(subject, (v) => (v.failures.length === 0 ? undefined : { ...v, failures: [] }));
  }

  /** Applies `next` to the record until a compare-and-set wins; `next` answering undefined: no change. */
  private async change(subject: string, next: (v: LockoutValue) => LockoutValue | undefined): Promise<void> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const record = await this.catalog.getRecord('lockout', subject);
      const value = next(lockoutOf(record?.value));
      if (!value) return;
      const stored: Record<string, unknown> = { failures: value.failures };
      if (value.until !== undefined) stored.until = value.until;
      if (value.reason !== undefined) stored.reason = value.reason;
      if (await this.catalog.putRecord('lockout', subject, stored, record?.revision ?? 0)) return;
    }
    throw new LockoutContentionError(
      `the lockout record of ${subject} changed under ${MAX_ATTEMPTS} attempts in a row: try again`,
    );
  }
}

/** A stored value read defensively: whatever is not of the expected shape counts as absent. */
function lockoutOf(raw: Record<string, unknown> | undefined): LockoutValue {
  const until = raw?.until;
  const reason = raw?.reason;
  const failures = Array.isArray(raw?.failures)
    ? (raw.failures as unknown[]).filter((t): t is number => Number.isFinite(t))
    : [];
  return {
    ...(typeof until === 'number' && Number.isFinite(until) ? { until } : {}),
    ...(typeof reason === 'string' ? { reason } : {}),
    failures,
  };
}
