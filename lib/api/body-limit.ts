/**
 * Refuses a request body larger than the limit with 413, before it is read into memory: a declared
 * Content-Length over the limit is answered at once; a chunked body is counted as it streams and
 * refused at the first byte past the limit (hono's bodyLimit). The connection is closed after the
 * answer, so the rest of the body is not read either.
 */
import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { MAX_BODY_BYTES } from './limits';

export function limitBody(maxBytes: number = MAX_BODY_BYTES): MiddlewareHandler {
  return bodyLimit({
    maxSize: maxBytes,
    onError: (c) => {
      c.header('connection', 'close');
      return c.json({ error: `the request body is larger than ${maxBytes} bytes` }, 413);
    },
  });
}
