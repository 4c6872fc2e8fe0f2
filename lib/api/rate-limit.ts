/**
 * Rate limits per client, answered 429 with `Retry-After` (seconds): every request takes one point of
 * the client's request allowance, a request that changes something (any method but GET, HEAD, OPTIONS)
 * one of its write allowance as well. Counted in memory per process (rate-limiter-flexible): `zapas
 * serve` is one process; each instance of the cloud function counts alone, so a gateway's own
 * throttling is what bounds the total there.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { BurstyRateLimiter, RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { Rate } from './limits';

/** Who a request counts against: the client's address now, the token's subject once there are tokens. */
export type KeyOf = (c: Context) => string;

export interface RateLimitOptions {
  requests: Rate;
  writes: Rate;
  keyOf: KeyOf;
}

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);
/** The window the burst allowance is counted over, in seconds. */
const BURST_WINDOW_SECONDS = 60;

function limiter(name: string, rate: Rate): BurstyRateLimiter {
  return new BurstyRateLimiter(
    new RateLimiterMemory({ keyPrefix: `${name}-rate`, points: rate.perSecond, duration: 1 }),
    new RateLimiterMemory({
      keyPrefix: `${name}-burst`,
      points: rate.burst,
      duration: BURST_WINDOW_SECONDS,
    }),
  );
}

export function rateLimit(opts: RateLimitOptions): MiddlewareHandler {
  const requests = limiter('requests', opts.requests);
  const writes = limiter('writes', opts.writes);
  return async (c, next) => {
    const key = opts.keyOf(c);
    try {
      await requests.consume(key);
      if (!READS.has(c.req.method)) await writes.consume(key);
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      const seconds = Math.max(1, Math.ceil(err.msBeforeNext / 1000));
      c.header('retry-after', String(seconds));
      return c.json({ error: `too many requests: try again in ${seconds} s` }, 429);
    }
    return next();
  };
}
