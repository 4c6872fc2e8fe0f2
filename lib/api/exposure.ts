/**
 * Who can reach the API: whether the configuration sets up authentication, whether an address is on
 * loopback, and the host names `zapas serve` answers to.
 */
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { ZapasConfig } from '../pipeline/config/schema';

/** Whether requests must carry a bearer token: the configuration has an `auth:` section. The one place that decides it. */
export function authConfigured(config: Pick<ZapasConfig, 'auth'>): boolean {
  return config.auth !== undefined;
}

/** Whether `host` (a name or an address, IPv6 with or without brackets) is this machine's loopback. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || /^::ffff:127\./.test(h) || /^(0+:){7}0*1$/.test(h);
  return false;
}

/** Addresses that mean "every interface". */
function isWildcard(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1');
  return h === '0.0.0.0' || h === '::' || /^(0+:){7}0+$/.test(h);
}

/** As a URL's hostname shows an address: IPv6 in brackets, lower case. */
function asHostname(address: string): string {
  const a = address.toLowerCase();
  return isIP(a) === 6 ? `[${a}]` : a;
}

/**
 * The host names a server listening on `listen` answers to: that address (every interface's for a
 * wildcard), the loopback names when it is on loopback, and the configured `extra` names.
 */
export function servedHosts(listen: string, extra: readonly string[]): Set<string> {
  const hosts = new Set(extra.map((h) => h.toLowerCase()));
  const addresses = isWildcard(listen)
    ? Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address))
    : [listen.replace(/^\[(.*)\]$/, '$1')];
  for (const a of addresses) hosts.add(asHostname(a));
  if (isWildcard(listen) || isLoopback(listen))
    for (const name of ['localhost', '127.0.0.1', '[::1]']) hosts.add(name);
  return hosts;
}
