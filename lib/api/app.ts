/**
 * The API with its protections, composed in one place for `zapas serve` and the api function: a
 * correlation id and errors that never leak, the Host check (serve), the Origin check, the bearer token
 * (with `auth:`), rate limits, CORS for the allowed origins, the body limit, then the routes — each refusing prototype names and
 * checking the principal's permission — with backups capped per source. docs/service.md describes each.
 */
import { type Context, Hono } from 'hono';
import { TokenVerifier } from '../security/tokens';
import { type Authenticator, guardRoutes, identify, principalOf } from './authenticate';
import { limitBody } from './body-limit';
import { correlate } from './correlation';
import { type ApiLog, handleErrors } from './errors';
import { authConfigured } from './exposure';
import { checkHost } from './host-check';
import { JobCap } from './job-cap';
import { apiLimits } from './limits';
import { allowCrossOrigin, checkOrigin } from './origin-check';
import { type KeyOf, rateLimit } from './rate-limit';
import { mount, type RouteDeps } from './route-table';
import { API_ROUTES } from './routes';
import type { ApiService } from './service';

export interface ApiProtections {
  /** The client's address, which rate limits count a request against when no token proves who sent it. */
  addressOf: KeyOf;
  /** Host names the server answers to; absent: no Host check (a gateway in front routes by host). */
  hosts?: ReadonlySet<string>;
  /** Verifies tokens; default: one for the configuration's `auth:`, its JWKS file taken from `baseDir`. */
  verifier?: Authenticator;
  /** The configuration file's folder (a relative `auth.jwks` is read from there); default: the working folder. */
  baseDir?: string;
  /** Fail closed without `auth:`: every request but GET /v1/health is answered 503 (the api function). */
  requireAuth?: boolean;
}

/** Paths whose GET is answered without counting against a rate limit (a liveness probe must get through a flood). */
const UNLIMITED = new Set(['/v1/health']);

export function apiApp(svc: ApiService, protections: ApiProtections): Hono {
  const limits = apiLimits(svc.config);
  const log: ApiLog = svc.log ?? ((line) => process.stderr.write(`${line}\n`));
  const app = new Hono();
  handleErrors(app, log);
  app.use(correlate);
  if (protections.hosts) app.use(checkHost({ hosts: protections.hosts }));
  app.use(checkOrigin({ allowedOrigins: limits.allowedOrigins }));
  const required = authConfigured(svc.config);
  if (protections.requireAuth && !required)
    app.use(async (c, next) => {
      if (c.req.method === 'GET' && c.req.path === '/v1/health') return next();
      return c.json({ error: 'the service has no auth configured' }, 503);
    });
  if (required) {
    const verifier =
      protections.verifier ??
      TokenVerifier.fromSettings(svc.config.auth!, protections.baseDir ?? process.cwd());
    app.use(identify(verifier, API_ROUTES));
  }
  // A principal is counted by its subject, anyone else by address.
  const keyOf: KeyOf = (c) => {
    const principal = principalOf(c);
    return principal ? `subject:${principal.subject}` : `address:${protections.addressOf(c)}`;
  };
  const limited = rateLimit({ requests: limits.requests, writes: limits.writes, keyOf });
  // Only the probe itself (GET, and HEAD which runs it): any other method on its path is limited.
  const unlimited = (c: Context) =>
    (c.req.method === 'GET' || c.req.method === 'HEAD') && UNLIMITED.has(c.req.path);
  app.use((c, next) => (unlimited(c) ? next() : limited(c, next)));
  if (limits.allowedOrigins.length > 0) app.use(allowCrossOrigin({ allowedOrigins: limits.allowedOrigins }));
  app.use(limitBody(limits.maxBodyBytes));
  const deps: RouteDeps = {
    svc,
    cap: new JobCap(svc.catalog, limits.maxQueuedJobsPerSource),
    addressOf: protections.addressOf,
  };
  mount(app, API_ROUTES, deps, guardRoutes(required, log));
  return app;
}
