/**
 * Refuses a request body larger than the limit with 413, before it is read into memory: a declared
 * Content-Length over the limit is answered at once; a chunked body is counted as it streams and
 * refused at the first chunk past the limit (hono's bodyLimit). What the client sends after the answer
 * is read and dropped, never kept (Node's server, @hono/node-server: at most 64 MiB or 500 ms, then the
 * connection is closed) — closing at once would reset the connection under a client still sending,
 * and with it the 413 it has not read yet.
 */
import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { MAX_BODY_BYTES } from './limits';

export function limitBody(maxBytes: number = MAX_BODY_BYTES): MiddlewareHandler {
  return bodyLimit({
    maxSize: maxBytes,
    onError: (c) => c.json({ error: `the request body is larger than ${maxBytes} bytes` }, 413),
  });
}
