/**
 * Where an address is, for the token-travel rule: the region of the first configured network (CIDR) that
 * holds it; without a match (or a map), its network — the IPv4 /16, the IPv6 /48 — stands for a region.
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';

export class RegionMap {
  private readonly nets: { list: BlockList; region: string }[];

  /** `regions`: CIDR → region name (checked by the configuration's schema). */
  constructor(regions: Readonly<Record<string, string>> = {}) {
    this.nets = Object.entries(regions).map(([cidr, region]) => {
      const [net, bits] = cidr.split('/') as [string, string];
      const list = new BlockList();
      list.addSubnet(net, Number(bits), isIPv6(net) ? 'ipv6' : 'ipv4');
      return { list, region };
    });
  }

  /** The region of `address`, or undefined when it is not an IP address. */
  regionOf(address: string): string | undefined {
    const ip = plainAddress(address);
    if (!ip) return undefined;
    const family = isIPv4(ip) ? 'ipv4' : 'ipv6';
    for (const n of this.nets) if (n.list.check(ip, family)) return n.region;
    return networkOf(ip);
  }
}

/** An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) as IPv4; undefined when not an address at all. */
function plainAddress(address: string): string | undefined {
  const a = address.trim();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a);
  if (mapped && isIPv4(mapped[1]!)) return mapped[1];
  return isIPv4(a) || isIPv6(a) ? a : undefined;
}

function networkOf(ip: string): string {
  if (isIPv4(ip)) {
    const [a, b] = ip.split('.');
    return `${a}.${b}.0.0/16`;
  }
  return `${expandIPv6(ip).slice(0, 3).join(':')}::/48`;
}

/** The eight groups of an IPv6 address, `::` expanded (a trailing dotted quad counts as two). */
function expandIPv6(ip: string): string[] {
  const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined];
  const groups = (s: string | undefined) =>
    s ? s.split(':').flatMap((g) => (g.includes('.') ? ['0', '0'] : [g])) : [];
  const h = groups(head);
  const t = groups(tail);
  const fill = tail === undefined ? [] : Array<string>(8 - h.length - t.length).fill('0');
  return [...h, ...fill, ...t].map((g) => Number.parseInt(g, 16).toString(16));
}
