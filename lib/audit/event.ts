/**
 * One entry of the audit trail: who did (or was refused) what to what, when, and why. Every action that
 * reads data, restores, deletes, changes policy or keys, or is refused appends one, from the CLI, `zapas
 * serve` and every stage function. How events are chained, sealed and stored: audit-log.ts, docs/format.md.
 */
import type { Action } from '../security/permissions';
import type { Role } from '../security/principal';

/** Actions beyond the permission table's that the trail records. */
export const AUDIT_ONLY_ACTIONS = [
  /** A request whose token was missing or invalid (no principal is known). */
  'authenticate',
  /** A one-time code checked for a critical operation. */
  'step-up',
  /** An intrusion rule fired. */
  'alert',
  /** A principal locked out (or let in again). */
  'lockout',
] as const;
export type AuditAction = Action | (typeof AUDIT_ONLY_ACTIONS)[number];

export type AuditOutcome = 'allowed' | 'denied' | 'succeeded' | 'failed';

/** What a caller hands the audit log; it adds the time (unless given), the sequence and the chain hash. */
export interface AuditEntry {
  /** ISO 8601, UTC. */
  time?: string;
  principal: {
    /**
     * `token` or `local` (the CLI's OS user); `system` for the service acting on its own policy (a
     * schedule, retention); `anonymous` when no principal could be established.
     */
    kind: 'token' | 'local' | 'system' | 'anonymous';
    subject: string;
    roles: readonly Role[];
    /** The token's `jti`, when it has one (one token seen from two places is a rule of intrusion detection). */
    tokenId?: string;
  };
  action: AuditAction;
  /** What it was done to: a source, a snapshot, a hold, a key slot, a route… (no secret, no data). */
  target: Readonly<Record<string, string>>;
  outcome: AuditOutcome;
  /** Why it was refused or failed, or what an alert saw. */
  reason?: string;
  /** Ties the events of one request or job together across queue hops. */
  correlationId: string;
  /** Where the request came from (an IP address), when it came over the network. */
  address?: string;
  /** Which face recorded it: `cli`, `serve`, or a stage function's name. */
  origin: string;
}

/** An event as stored: the entry with its place in the chain. */
export interface AuditEvent extends AuditEntry {
  time: string;
  /** 1 for the first event of the trail, then one more each time. */
  seq: number;
  /** Hex SHA-256 of the previous event's canonical encoding (64 zeros for the first). */
  prev: string;
}

/** Where events go. Appending is durable when the promise resolves. */
export interface AuditSink {
  append(entry: AuditEntry): Promise<AuditEvent>;
}
