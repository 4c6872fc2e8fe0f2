/**
 * Each request runs in a correlation scope (lib/pipeline/log-context.ts): the `X-Correlation-Id` it
 * brings when that is a valid id, else the enclosing scope's (the api function's invocation), else a
 * new one. The answer carries it back, and a 500's `id` is the same value.
 */
import type { MiddlewareHandler } from 'hono';
import { correlationIdOr, withCorrelation } from '../pipeline/log-context';

export const correlate: MiddlewareHandler = (c, next) => {
  const id = correlationIdOr(c.req.header('x-correlation-id'));
  c.header('x-correlation-id', id);
  return withCorrelation(id, next);
};
