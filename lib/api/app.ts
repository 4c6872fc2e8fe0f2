/**
 * The API with its protections, composed in one place for `zapas serve` and the api function:
 * errors that never leak, the Host check (serve), the Origin check, rate limits, the body limit, then
 * the routes (each refusing prototype names, capped backups per source). docs/service.md describes each.
 */
import { Hono } from 'hono';
import { limitBody } from './body-limit';
import { handleErrors } from './errors';
import { checkHost } from './host-check';
import { JobCap } from './job-cap';
import { apiLimits } from './limits';
import { checkOrigin } from './origin-check';
import { type KeyOf, rateLimit } from './rate-limit';
import { mount } from './route-table';
import { type ApiService, apiRoutes } from './routes';

export interface ApiProtections {
  /** Who a request counts against for rate limits. */
  keyOf: KeyOf;
  /** Host names the server answers to; absent: no Host check (a gateway in front routes by host). */
  hosts?: ReadonlySet<string>;
}

/** Paths answered without counting against a rate limit (a liveness probe must get through a flood). */
const UNLIMITED = new Set(['/v1/health']);

export function apiApp(svc: ApiService, protections: ApiProtections): Hono {
  const limits = apiLimits(svc.config);
  const app = new Hono();
  handleErrors(app, svc.log ?? ((line) => process.stderr.write(`${line}\n`)));
  if (protections.hosts) app.use(checkHost({ hosts: protections.hosts }));
  app.use(checkOrigin({ allowedOrigins: limits.allowedOrigins }));
  const limited = rateLimit({ requests: limits.requests, writes: limits.writes, keyOf: protections.keyOf });
  app.use((c, next) => (UNLIMITED.has(c.req.path) ? next() : limited(c, next)));
  app.use(limitBody(limits.maxBodyBytes));
  mount(app, apiRoutes(svc, new JobCap(svc.catalog, limits.maxQueuedJobsPerSource)));
  return app;
}
