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
import { authorize, stepUpNeeded } from '../security/permissions';
import type { Principal } from '../security/principal';
import { AuthenticationError, KeySetUnavailableError } from '../security/tokens';
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

/**
 * The guard of each route: with `required`, a refused token is answered here, and the principal must be
 * allowed the route's action on its target. Actions that need a second factor (stepUpNeeded) are
 * refused: no route takes one yet.
 */
export function guardRoutes(required: boolean, log: ApiLog): RouteGuard {
  return (r, deps) => async (c, next) => {
    if (r.action === 'public' || !required) return next();
    const refusal = refusals.get(c);
    if (refusal) return refuse(c, refusal, log);
    const principal = principals.get(c);
    if (!principal) return refuse(c, new AuthenticationError('missing'), log);
    const target = await r.targetOf(c, deps);
    const decision = authorize(principal, r.action, target, deps.svc.config.access);
    if (!decision.allowed) return c.json({ error: decision.reason }, 403);
    if (stepUpNeeded(r.action, target))
      return c.json({ error: `${r.action} needs a second factor, which this route does not take` }, 403);
    return next();
  };
}
