/**
 * Who is asking, and may they: when the configuration has `auth:`, every request but the public routes'
 * (health) must carry a bearer token the issuer's keys verify (401 with `WWW-Authenticate: Bearer` and
 * the reason, never the token), and the principal it proves must be allowed the route's action on the
 * route's target by the permission table and the `access:` rules (403 with the reason). Without `auth:`
 * nothing is asked (serve then listens on loopback only, lib/api/exposure.ts).
 *
 * The token is read before the rate limits, so that they count a principal by its subject and anyone
 * else by address; the answer to a refused token comes at the route, after them.
 */
import type { Context, MiddlewareHandler } from 'hono';
import type { RecordedEntry } from '../pipeline/service-security';
import { addressLockKey, subjectLockKey } from '../security/lockout';
import { ACTIONS, authorize, stepUpNeeded, type Target } from '../security/permissions';
import type { Principal } from '../security/principal';
import { AuthenticationError, KeySetUnavailableError } from '../security/tokens';
import { OTP_HEADER, StepUpError, type TotpStepUp } from '../security/totp';
import type { ApiLog } from './errors';
import type { ApiRoute, RouteGuard } from './route-table';

/** What verifies a request's `Authorization` header (lib/security/tokens.ts TokenVerifier). */
export interface Authenticator {
  verify(authorization: string | undefined): Promise<Principal>;
}

/** How long a client is told to wait while the issuer's keys cannot be had. */
const KEYS_RETRY_SECONDS = 30;

const principals = new WeakMap<Context, Principal>();
const refusals = new WeakMap<Context, AuthenticationError | KeySetUnavailableError>();

/** The principal the request's token proved, once `identify` has run. */
export function principalOf(c: Context): Principal | undefined {
  return principals.get(c);
}

/** Whether `route` answers this request's method and path without a token. */
function isPublic(routes: readonly ApiRoute[], c: Context): boolean {
  const method = c.req.method === 'HEAD' ? 'GET' : c.req.method;
  return routes.some((r) => r.action === 'public' && r.method === method && r.path === c.req.path);
}

/** Verifies the request's token (all but the public routes), keeping the principal or the refusal. */
export function identify(verifier: Authenticator, routes: readonly ApiRoute[]): MiddlewareHandler {
  return async (c, next) => {
    if (!isPublic(routes, c)) {
      try {
        principals.set(c, await verifier.verify(c.req.header('authorization')));
      } catch (err) {
        if (!(err instanceof AuthenticationError || err instanceof KeySetUnavailableError)) throw err;
        refusals.set(c, err);
      }
    }
    return next();
  };
}

/** A header's quoted-string from zapas's own words. */
const quoted = (text: string) => `"${text.replace(/["\\\r\n]/g, ' ')}"`;

function refuse(c: Context, err: AuthenticationError | KeySetUnavailableError, log: ApiLog): Response {
  if (err instanceof KeySetUnavailableError) {
    // The server's fault, not the caller's: what is wrong (a path, a URL) goes to the log only.
    log(`api: the token issuer's keys cannot be had: ${err.message}`);
    c.header('retry-after', String(KEYS_RETRY_SECONDS));
    return c.json({ error: "the token issuer's keys cannot be had now: try again later" }, 503);
  }
  c.header(
    'www-authenticate',
    err.problem === 'missing'
      ? 'Bearer realm="zapas"'
      : `Bearer realm="zapas", error="invalid_token", error_description=${quoted(err.message)}`,
  );
  return c.json({ error: err.message }, 401);
}

/** Who a request without `auth:` configured is, in the audit trail: a client of a loopback-only serve. */
const LOOPBACK_CLIENT: Principal = { kind: 'local', subject: 'loopback client', roles: [] };

/**
 * The guard of each route: with `required`, a refused token is answered here (and recorded), a locked-out
 * principal or address is refused, and the principal must be allowed the route's action on its target.
 * An action that needs a second factor (stepUpNeeded) needs a fresh one-time code in OTP_HEADER, which
 * only a principal proven by a token can give. Refusals are recorded in the audit trail, and so is the
 * outcome of every action that is not a metadata read.
 */
export function guardRoutes(required: boolean, log: ApiLog): RouteGuard {
  return (r, deps) => async (c, next) => {
    if (r.action === 'public') return next();
    const security = deps.svc.security;
    const address = deps.addressOf(c);
    const routeName = `${r.method} ${r.path}`;
    // What must be in the trail before it happens is recorded with `record` (a failure refuses the
    // request); refusals and outcomes with `note` (a failure is logged: the answer stands).
    const record = async (entry: Omit<RecordedEntry, 'address'>) =>
      security?.record({
        ...entry,
        ...(entry.reason !== undefined ? { reason: auditText(entry.reason, MAX_AUDIT_REASON) } : {}),
        ...(address ? { address } : {}),
      });
    const note = (entry: Omit<RecordedEntry, 'address'>) =>
      record(entry).catch((err: unknown) =>
        log(
          `api: ${entry.action} ${entry.outcome} could not be recorded in the audit trail: ${(err as Error).message}`,
        ),
      );
    let principal: Principal = LOOPBACK_CLIENT;
    if (required) {
      const refusal = refusals.get(c);
      const proven = principals.get(c);
      if (refusal || !proven) {
        const err = refusal ?? new AuthenticationError('missing');
        // An address locked out for failed authentications gets no further answer about its tokens.
        // Only requests without a proven principal are refused for their address: garbage sent from a
        // shared address (a NAT, a proxy) must not lock out the valid users behind it.
        const addressUntil =
          security && address ? await security.lockouts.lockedUntil(addressLockKey(address)) : undefined;
        if (addressUntil !== undefined) {
          c.header('retry-after', String(Math.max(1, Math.ceil((addressUntil - Date.now()) / 1000))));
          return c.json(
            {
              error: `too many failed authentications from this address: refused until ${new Date(addressUntil).toISOString()}`,
            },
            429,
          );
        }
        // Keys that cannot be had are the server's trouble, not an attempt (the log has it).
        if (err instanceof AuthenticationError)
          await note({
            principal: ANONYMOUS,
            action: 'authenticate',
            target: { route: routeName },
            outcome: 'denied',
            reason: err.message,
          });
        return refuse(c, err, log);
      }
      principal = proven;
    }
    const target = await r.targetOf(c, deps);
    const audited = {
      principal: auditPrincipal(principal),
      action: r.action,
      target: auditTarget(target, routeName),
    };
    const deny = async (reason: string) => {
      await note({ ...audited, outcome: 'denied', reason });
      return c.json({ error: reason }, 403);
    };
    if (required && security) {
      const until = await security.lockouts.lockedUntil(subjectLockKey(principal.subject));
      if (until !== undefined)
        return deny(`${principal.subject} is locked out until ${new Date(until).toISOString()}`);
    }
    if (required) {
      const decision = authorize(principal, r.action, target, deps.svc.config.access);
      if (!decision.allowed) return deny(decision.reason);
    }
    if (stepUpNeeded(r.action, target)) {
      if (!required || !security)
        return deny(`${r.action} needs a second factor: configure auth: for the API`);
      let stepUp: TotpStepUp;
      try {
        stepUp = await security.stepUp();
      } catch (err) {
        // The key repository cannot be opened (its storage is down): the server's trouble, said as such.
        log(`api: second factors cannot be checked: ${(err as Error).message}`);
        c.header('retry-after', String(KEYS_RETRY_SECONDS));
        return c.json(
          { error: `${r.action} needs a second factor, which cannot be checked now: try again later` },
          503,
        );
      }
      try {
        await stepUp.checkStepUp(principal.subject, c.req.header(OTP_HEADER));
      } catch (err) {
        if (!(err instanceof StepUpError)) throw err;
        // No code given, or no factor to check one against: no guess was made, so the refusal is the
        // action's, not a failed step-up (which the intrusion rules count towards a lockout).
        const guessed = err.reason !== 'missing-code' && err.reason !== 'not-enrolled';
        await note({
          ...audited,
          ...(guessed ? { action: 'step-up' } : {}),
          outcome: 'denied',
          reason: err.message,
        });
        return c.json({ error: err.message, header: OTP_HEADER }, 403);
      }
      await note({ ...audited, action: 'step-up', outcome: 'succeeded' });
    }
    if (RECORDED_FIRST.has(r.action)) {
      try {
        await record({ ...audited, outcome: 'allowed' });
      } catch (err) {
        log(`api: ${r.action} refused, the audit trail cannot be written: ${(err as Error).message}`);
        c.header('retry-after', String(KEYS_RETRY_SECONDS));
        return c.json({ error: `${r.action} is refused while the audit trail cannot be written` }, 503);
      }
    }
    await next();
    if (r.action !== 'read') {
      const ok = c.res.status < 400;
      await note({
        ...audited,
        outcome: ok ? 'succeeded' : 'failed',
        ...(ok ? {} : { reason: `answered ${c.res.status}` }),
      });
    }
  };
}

/**
 * Actions that are in the audit trail before they happen — every action but a metadata read and a
 * backup (reading backed-up data or the trail, deleting, holds, policy, keys, second factors): while the
 * trail cannot be written they are refused. A backup asked for is recorded after (refusing one because
 * the trail's storage is down would protect nothing).
 */
const RECORDED_FIRST: ReadonlySet<string> = new Set(ACTIONS.filter((a) => a !== 'read' && a !== 'backup'));

const ANONYMOUS = { kind: 'anonymous', subject: 'anonymous', roles: [] } as const;

function auditPrincipal(p: Principal): RecordedEntry['principal'] {
  return {
    kind: p.kind,
    subject: p.subject,
    roles: p.roles,
    ...(p.tokenId ? { tokenId: p.tokenId } : {}),
  };
}

/** Longest target value, and reason, the API puts in the audit trail (a path can be 16 KiB long). */
const MAX_AUDIT_VALUE = 200;
const MAX_AUDIT_REASON = 500;

/**
 * Text from a request (a path parameter, a reason naming it) as the trail keeps it: control and format
 * characters (a terminal escape, a newline, a bidi override) as \u escapes, cut to `max` characters.
 */
function auditText(text: string, max: number): string {
  const shown = text.replace(
    /[\p{Cc}\p{Cf}]/gu,
    (ch) => `\\u${ch.codePointAt(0)!.toString(16).padStart(4, '0')}`,
  );
  const chars = [...shown];
  return chars.length > max ? `${chars.slice(0, max).join('')}…` : shown;
}

/** A route's target as the audit trail keeps it: its fields that are set, and the route. */
function auditTarget(t: Target, route: string): Record<string, string> {
  const out: Record<string, string> = { route };
  for (const [k, v] of Object.entries(t)) if (v !== undefined) out[k] = auditText(String(v), MAX_AUDIT_VALUE);
  return out;
}
