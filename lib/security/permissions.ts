/**
 * Who may do what: one table of role × action × scope, from which every check is derived (docs/security.md
 * prints the same table). Deny by default: an action is allowed only when one of the principal's roles
 * grants it for the target, and — when the configuration has `access:` rules — a rule for the target's
 * source or data class also allows it for one of those roles. Critical operations also need a fresh
 * second factor (stepUpNeeded).
 */
import { describePrincipal, type Principal, type Role } from './principal';

export const ACTIONS = [
  /** Sources, their state, jobs: metadata, no backed-up data. */
  'read',
  /** Start a backup. */
  'backup',
  /** Restore or download backed-up data. */
  'restore',
  /** Forget or prune snapshots. */
  'delete',
  /** Place a legal hold. */
  'hold',
  /** Release a legal hold. */
  'release-hold',
  /** Change a retention policy. */
  'change-policy',
  /** Add or remove key slots, rotate keys. */
  'manage-keys',
  /** Read the audit trail. */
  'read-audit',
  /** Enrol one's own second factor. */
  'enrol',
] as const;
export type Action = (typeof ACTIONS)[number];

/**
 * How far a grant reaches: `any` target; `claimed` — only the sources the token's `sources` claim names
 * (platform services); `own` — only data of the player the token is for (the target's player is the
 * token's subject); `self` — the principal itself (its own second factor).
 */
export type Scope = 'any' | 'claimed' | 'own' | 'self';

/** The table. A role not listed for an action has no grant for it. */
export const PERMISSIONS: Readonly<Record<Action, Partial<Record<Role, Scope>>>> = {
  read: { admin: 'any', operator: 'any', dba: 'any', auditor: 'any', service: 'claimed', player: 'own' },
  backup: { admin: 'any', operator: 'any', dba: 'any', service: 'claimed' },
  restore: { admin: 'any', operator: 'any', dba: 'any', player: 'own' },
  delete: { admin: 'any', operator: 'any' },
  hold: { admin: 'any', operator: 'any', auditor: 'any' },
  'release-hold': { admin: 'any' },
  'change-policy': { admin: 'any' },
  'manage-keys': { admin: 'any' },
  'read-audit': { admin: 'any', auditor: 'any' },
  enrol: { admin: 'self', operator: 'self', dba: 'self', auditor: 'self', service: 'self' },
};

/** What an action is done to. Absent fields: the action has no such target (e.g. reading the audit trail). */
export interface Target {
  source?: string;
  /** The source's data class (`personal`, `payment`, …). */
  dataClass?: string;
  /** The player whose data it is (a save, a library). */
  player?: string;
  /** A legal hold's id (for `hold`, `release-hold`). */
  hold?: string;
  /** For `enrol`: whose second factor. */
  subject?: string;
  /** For `change-policy`: the change keeps data for less time than before. */
  shortens?: boolean;
  /** For `manage-keys`: the change removes a key slot. */
  removes?: boolean;
}

/** A rule of the configuration's `access:` list: for these sources or data classes, these roles may do these actions. */
export interface AccessRule {
  sources?: readonly string[];
  dataClasses?: readonly string[];
  roles: readonly Role[];
  allow: readonly Action[];
}

export type Decision = { allowed: true; role: Role } | { allowed: false; reason: string };

/** Roles whose grants the `access:` rules do not narrow (so a misconfigured list cannot lock every admin out). */
const NOT_NARROWED: ReadonlySet<Role> = new Set(['admin']);

/** Decides whether `principal` may do `action` to `target`. */
export function authorize(
  principal: Principal,
  action: Action,
  target: Target,
  access?: readonly AccessRule[],
): Decision {
  const who = describePrincipal(principal);
  // An action named from outside (a route, a message) that the table lacks — `name`, `constructor` — is
  // refused, not looked up on the table's prototype.
  const grants = Object.hasOwn(PERMISSIONS, action) ? PERMISSIONS[action] : undefined;
  if (!grants) return { allowed: false, reason: `${who} may not ${action}${describeTarget(target)}` };
  const granting = principal.roles.filter((role) => {
    const scope = Object.hasOwn(grants, role) ? grants[role] : undefined;
    return scope !== undefined && inScope(scope, principal, target);
  });
  if (granting.length === 0)
    return { allowed: false, reason: `${who} may not ${action}${describeTarget(target)}` };
  if (!access || target.source === undefined) return { allowed: true, role: granting[0]! };
  for (const role of granting) {
    if (NOT_NARROWED.has(role)) return { allowed: true, role };
    const rule = access.find(
      (r) => r.roles.includes(role) && r.allow.includes(action) && ruleCovers(r, target),
    );
    if (rule) return { allowed: true, role };
  }
  return {
    allowed: false,
    reason: `${who} may not ${action}${describeTarget(target)}: no access rule allows it`,
  };
}

function inScope(scope: Scope, principal: Principal, target: Target): boolean {
  switch (scope) {
    case 'any':
      return true;
    case 'claimed':
      return target.source !== undefined && (principal.sources ?? []).includes(target.source);
    case 'own':
      return target.player !== undefined && target.player === principal.subject;
    case 'self':
      return target.subject !== undefined && target.subject === principal.subject;
  }
}

function ruleCovers(rule: AccessRule, target: Target): boolean {
  if (rule.sources?.includes(target.source!)) return true;
  return target.dataClass !== undefined && (rule.dataClasses?.includes(target.dataClass) ?? false);
}

/** Data classes whose deletion needs a second factor. */
const GUARDED_DELETE = new Set(['personal', 'payment']);
/** Data classes whose restore needs a second factor. */
const GUARDED_RESTORE = new Set(['payment']);

/**
 * Whether the action is critical and needs a fresh one-time code as well (docs/security.md): releasing a
 * legal hold, shortening a retention policy, removing a key slot (`manage-keys` with `removes`),
 * forgetting or pruning personal or payment data, restoring payment data.
 */
export function stepUpNeeded(action: Action, target: Target): boolean {
  switch (action) {
    case 'release-hold':
      return true;
    case 'change-policy':
      return target.shortens === true;
    case 'manage-keys':
      return target.removes === true;
    case 'delete':
      return target.dataClass !== undefined && GUARDED_DELETE.has(target.dataClass);
    case 'restore':
      return target.dataClass !== undefined && GUARDED_RESTORE.has(target.dataClass);
    default:
      return false;
  }
}

function describeTarget(t: Target): string {
  if (t.player !== undefined) return ` the data of player ${t.player}`;
  if (t.source !== undefined) return ` source ${t.source}`;
  if (t.subject !== undefined) return ` for ${t.subject}`;
  return '';
}
