/**
 * The correlation id: one value that ties together every log line (and audit event) of one request or
 * job, across queue hops. It travels in the messages the stages send (their optional `correlationId`
 * field, lib/pipeline/messages.ts) and in the job record; within a process it is carried by an
 * AsyncLocalStorage scope, which the logger (log.ts) reads for every line.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';

/** What a correlation id may be: 1–128 printable characters, no spaces, quotes or control characters. */
export const CORRELATION_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,127}$/;

export interface LogContext {
  correlationId: string;
  /** The stage function (or `serve`) the line comes from. */
  stage?: string;
}

const scope = new AsyncLocalStorage<LogContext>();

export function newCorrelationId(): string {
  return randomUUID();
}

export function isCorrelationId(value: unknown): value is string {
  return typeof value === 'string' && CORRELATION_ID_PATTERN.test(value);
}

/** The correlation id of the scope this runs in, if any. */
export function currentCorrelationId(): string | undefined {
  return scope.getStore()?.correlationId;
}

/** What the logger adds to each line: the scope's correlation id and stage. */
export function currentLogContext(): LogContext | undefined {
  return scope.getStore();
}

/** `given` when it is a correlation id, else the scope's, else a new one. */
export function correlationIdOr(given?: string): string {
  return isCorrelationId(given) ? given : (currentCorrelationId() ?? newCorrelationId());
}

/** Runs `fn` with `correlationId` on every line it logs (the stage of the enclosing scope is kept). */
export function withCorrelation<T>(correlationId: string, fn: () => T, stage?: string): T {
  const outer = scope.getStore();
  const s = stage ?? outer?.stage;
  return scope.run({ correlationId, ...(s ? { stage: s } : {}) }, fn);
}

/**
 * The correlation id a queue message carries, when it carries a valid one; a new one otherwise (a message
 * without one, or one whose body is not JSON: the parse that follows says what is wrong with it).
 */
export function correlationIdOfBody(body: string): string {
  try {
    const id = (JSON.parse(body) as { correlationId?: unknown } | null)?.correlationId;
    return isCorrelationId(id) ? id : newCorrelationId();
  } catch {
    return newCorrelationId();
  }
}
