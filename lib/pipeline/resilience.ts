/**
 * Calls to a dependency (a repository's storage, the catalog, a queue) go through a guard: a few retries
 * with exponential backoff and jitter for what fails now and then, and a circuit breaker for what is
 * down, so that jobs fail at once with a clear status instead of each waiting out its own timeouts, and
 * work resumes by itself once a trial call succeeds again. (cockatiel provides the mechanics.)
 */
import {
  BrokenCircuitError,
  ConsecutiveBreaker,
  circuitBreaker,
  ExponentialBackoff,
  handleWhen,
  retry,
  wrap,
} from 'cockatiel';
import { StorageUnreachableError } from '../storage/errors';

export interface GuardOptions {
  /** Which failures are the dependency's (retried, counted by the breaker); others pass straight through. */
  isTransient?: (err: Error) => boolean;
  /** Tries per call, the first included. */
  attempts?: number;
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Consecutive failed calls (after their retries) that open the circuit. */
  breakAfter?: number;
  /** How long the circuit stays open before one trial call is let through. */
  halfOpenAfterMs?: number;
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
]);

/** Unreachable storage (after the adapter's own retries) or a network failure: not a wrong key or a missing object. */
export function isUnreachable(err: Error): boolean {
  if (err instanceof StorageUnreachableError) return true;
  for (let e: unknown = err; e instanceof Error; e = e.cause)
    if (NETWORK_CODES.has(String((e as NodeJS.ErrnoException).code))) return true;
  return false;
}

/** The dependency is down: the circuit is open, nothing was tried. */
export class DependencyUnavailableError extends Error {
  override readonly name = 'DependencyUnavailableError';
}

export class DependencyGuard {
  private readonly policy;
  private lastError = '';

  constructor(
    readonly name: string,
    private readonly opts: GuardOptions = {},
  ) {
    const transient = handleWhen(opts.isTransient ?? isUnreachable);
    const retries = retry(transient, {
      maxAttempts: Math.max(0, (opts.attempts ?? 3) - 1),
      backoff: new ExponentialBackoff({
        initialDelay: opts.initialDelayMs ?? 200,
        maxDelay: opts.maxDelayMs ?? 5000,
      }),
    });
    const breaker = circuitBreaker(transient, {
      halfOpenAfter: opts.halfOpenAfterMs ?? 30_000,
      breaker: new ConsecutiveBreaker(opts.breakAfter ?? 3),
    });
    this.policy = wrap(breaker, retries);
  }

  /** Runs `fn` under the guard; DependencyUnavailableError when the circuit is open. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await this.policy.execute(async () => {
        try {
          return await fn();
        } catch (err) {
          this.lastError = (err as Error).message;
          throw err;
        }
      });
    } catch (err) {
      if (err instanceof BrokenCircuitError)
        throw new DependencyUnavailableError(
          `${this.name} is unavailable: ${this.opts.breakAfter ?? 3} calls in a row failed (last: ${this.lastError}); the next try is let through after ${Math.round((this.opts.halfOpenAfterMs ?? 30_000) / 1000)} s`,
        );
      throw err;
    }
  }
}
