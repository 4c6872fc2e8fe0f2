/**
 * Lockouts: a principal (a token's subject) or an address refused for a while — after too many wrong
 * one-time codes, or by an intrusion rule. Kept in the catalog (record kind `lockout`, key: the subject),
 * so every function instance and a restarted serve see the same.
 */

/** What refuses and locks out principals; implemented over the catalog's records. */
export interface LockoutStore {
  /** Epoch milliseconds until which `subject` is locked out, if it is now. */
  lockedUntil(subject: string, now?: Date): Promise<number | undefined>;
  /** Locks `subject` out until `untilMs` (a longer lockout already in place stays). */
  lock(subject: string, untilMs: number, reason: string): Promise<void>;
}

/**
 * The key a principal is locked out under. Subjects and addresses have a namespace each: a token whose
 * subject is written like an address never locks that address out, nor the other way round.
 */
export function subjectLockKey(subject: string): string {
  return `subject:${subject}`;
}

/** The key an address is locked out under (see subjectLockKey). */
export function addressLockKey(address: string): string {
  return `address:${address}`;
}
