/**
 * Refuses what a browser sends on behalf of another site (cross-site request forgery, and reading the
 * API from a page it did not serve): a request whose `Origin` is neither the server's own origin nor one
 * of the allowed ones is answered 403, whatever its method; without an `Origin`, a request the browser
 * marks `Sec-Fetch-Site: cross-site` or `same-site` (another port or subdomain) is refused too. A
 * client that is not a browser (curl, a service) sends neither header and is not affected.
 */
import type { MiddlewareHandler } from 'hono';
import { cors } from 'hono/cors';

export interface OriginOptions {
  /** Origins (`scheme://host[:port]`) besides the server's own that may call. */
  allowedOrigins: readonly string[];
}

/** `Sec-Fetch-Site` values that say the request comes from a page of another origin. */
const FOREIGN_FETCH_SITES = new Set(['cross-site', 'same-site']);

export function checkOrigin(opts: OriginOptions): MiddlewareHandler {
  const allowed = new Set(opts.allowedOrigins);
  return async (c, next) => {
    const origin = c.req.header('origin');
    if (origin !== undefined) {
      const own = new URL(c.req.url).origin;
      if (origin !== own && !allowed.has(origin))
        return c.json(
          { error: `requests from origin ${JSON.stringify(origin.slice(0, 100))} are refused` },
          403,
        );
      return next();
    }
    const site = c.req.header('sec-fetch-site')?.toLowerCase();
    if (site !== undefined && FOREIGN_FETCH_SITES.has(site))
      return c.json({ error: `a ${site} request from a browser is refused` }, 403);
    return next();
  };
}

/** Request headers a page of an allowed origin may send (a CORS preflight is answered with these). */
const CORS_REQUEST_HEADERS = [
  'authorization',
  'content-type',
  'idempotency-key',
  'x-correlation-id',
  'x-zapas-otp',
];
/** Answer headers such a page may read. */
const CORS_EXPOSED_HEADERS = ['retry-after', 'www-authenticate', 'x-correlation-id'];

/**
 * CORS for the allowed origins only, so that a page they serve can read the answers: the preflight
 * (OPTIONS) is answered 204 with what it may send; no cookies are involved (`credentials` off).
 */
export function allowCrossOrigin(opts: OriginOptions): MiddlewareHandler {
  return cors({
    origin: [...opts.allowedOrigins],
    allowMethods: ['GET', 'HEAD', 'POST', 'DELETE'],
    allowHeaders: CORS_REQUEST_HEADERS,
    exposeHeaders: CORS_EXPOSED_HEADERS,
    maxAge: 600,
  });
}
