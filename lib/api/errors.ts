/**
 * What the API answers when no route matches or something fails: a 500 never carries the internal
 * message (it could name a path, a table, a host); it says "internal error" with a correlation id, and
 * the detail goes to the log under the same id (the request's correlation id).
 */
import type { Context, Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { correlationIdOr } from '../pipeline/log-context';

export type ApiLog = (line: string) => void;

/** Longest part of a request (a path, a name) echoed back in an error. */
const ECHO_CHARS = 100;

/** `text` cut for an error message: what a client sent, never more than ECHO_CHARS characters. */
export function echo(text: string): string {
  return text.length > ECHO_CHARS ? `${text.slice(0, ECHO_CHARS)}…` : text;
}

export function notFound(c: Context, what: string): Response {
  return c.json({ error: what }, 404);
}

export function handleErrors(app: Hono, log: ApiLog): void {
  app.notFound((c) => notFound(c, `no route ${c.req.method} ${echo(c.req.path)}`));
  app.onError((err, c) => {
    if (err instanceof HTTPException) return err.getResponse();
    // The request's correlation id (correlation.ts), so the answer and the log line find each other.
    const id = correlationIdOr();
    log(`api: ${c.req.method} ${echo(c.req.path)} failed (error ${id}): ${err.stack ?? err.message}`);
    return c.json({ error: 'internal error', id }, 500);
  });
}
