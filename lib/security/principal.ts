/**
 * Who asks: a principal proven by a bearer token (a person or a platform service), or the operator at
 * the CLI (the OS user: whoever can run `zapas` with the repository's password is trusted as that).
 */

/** Roles a token's `roles` claim may hold; anything else in the claim is ignored. */
export const ROLES = ['admin', 'operator', 'dba', 'auditor', 'service', 'player'] as const;
export type Role = (typeof ROLES)[number];

export interface Principal {
  /** `token`: proven by a verified JWT; `local`: the CLI's OS user. */
  kind: 'token' | 'local';
  /** The token's `sub`, or the OS user name. */
  subject: string;
  roles: readonly Role[];
  /** For role `service`: the sources its token lets it trigger (the `sources` claim). */
  sources?: readonly string[];
  /** The token's issuer (for the audit trail). */
  issuer?: string;
  /** The token's `jti` when it has one. */
  tokenId?: string;
  /** Seconds since the epoch at which the token expires. */
  expiresAt?: number;
}

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

/** The CLI's principal: the OS user, trusted with every role (the repository password is the lock). */
export function localUser(name: string): Principal {
  return { kind: 'local', subject: name, roles: ['admin'] };
}

/** How a principal is named in messages and the audit trail: `alice (operator, dba)`, `local user root`. */
export function describePrincipal(p: Principal): string {
  return p.kind === 'local' ? `local user ${p.subject}` : `${p.subject} (${p.roles.join(', ') || 'no role'})`;
}
