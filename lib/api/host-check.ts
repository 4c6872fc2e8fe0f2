/**
 * Refuses a request whose `Host` is not a name the server answers to, with 421 (Misdirected Request):
 * a web page whose domain an attacker points at 127.0.0.1 (DNS rebinding) reaches a loopback server
 * with its own domain in `Host`, and is turned away here before anything runs.
 */
import type { MiddlewareHandler } from 'hono';

export interface HostOptions {
  /** Host names and addresses (lower case; IPv6 in brackets, as in a URL) the server answers to. */
  hosts: ReadonlySet<string>;
}

export function checkHost(opts: HostOptions): MiddlewareHandler {
  return async (c, next) => {
    // Node's server builds the request URL from the Host header (refusing a malformed one with 400).
    const host = new URL(c.req.url).hostname.toLowerCase();
    if (!opts.hosts.has(host))
      return c.json(
        { error: `this server does not answer to the host name ${JSON.stringify(host.slice(0, 100))}` },
        421,
      );
    return next();
  };
}
