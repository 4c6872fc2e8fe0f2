/**
 * The API's limits and their defaults, read from the configuration's optional `api:` section
 * (lib/pipeline/config/schema.ts holds only its shape; the defaults live here, next to what uses them).
 */
import type { ZapasConfig } from '../pipeline/config/schema';

/** The largest request body the API reads: 1 MiB. A larger one is answered 413 before it is read. */
export const MAX_BODY_BYTES = 1024 * 1024;

/**
 * A client's allowance: `perSecond` requests every second, plus `burst` more in any minute (a steady
 * rate with room for a short burst — rate-limiter-flexible's BurstyRateLimiter, a token bucket's habit).
 */
export interface Rate {
  perSecond: number;
  burst: number;
}

/** Every request, per client. */
export const DEFAULT_REQUEST_RATE: Rate = { perSecond: 20, burst: 200 };
/** Requests that change something (POST, PUT, PATCH, DELETE), per client, on top of the above. */
export const DEFAULT_WRITE_RATE: Rate = { perSecond: 1, burst: 30 };
/** Backups of one source queued or running at once; a request for one more is answered 409. */
export const DEFAULT_MAX_QUEUED_JOBS_PER_SOURCE = 3;

export interface ApiLimits {
  maxBodyBytes: number;
  requests: Rate;
  writes: Rate;
  maxQueuedJobsPerSource: number;
  /** Origins besides the server's own that browsers may call the API from (`https://console.example`). */
  allowedOrigins: readonly string[];
  /** Host names besides the address it listens on that `zapas serve` answers to (a reverse proxy's name). */
  allowedHosts: readonly string[];
}

/** The configuration's `api:` section with every default filled in. */
export function apiLimits(config: Pick<ZapasConfig, 'api'>): ApiLimits {
  const api = config.api ?? {};
  return {
    maxBodyBytes: api.maxBodyBytes ?? MAX_BODY_BYTES,
    requests: api.requests ?? DEFAULT_REQUEST_RATE,
    writes: api.writes ?? DEFAULT_WRITE_RATE,
    maxQueuedJobsPerSource: api.maxQueuedJobsPerSource ?? DEFAULT_MAX_QUEUED_JOBS_PER_SOURCE,
    allowedOrigins: (api.allowedOrigins ?? []).map((o) => new URL(o).origin),
    allowedHosts: (api.allowedHosts ?? []).map((h) => h.toLowerCase()),
  };
}
