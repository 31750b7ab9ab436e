/**
 * Which network addresses a URL source may reach. A host is resolved once (every address it has); when any
 * of them is loopback, private, link-local, CGNAT, unspecified, multicast, unique-local, or an IPv6 form
 * that embeds an IPv4 address (mapped, compatible, NAT64, 6to4, Teredo), the URL is refused with
 * PERMISSION_DENIED unless `allowUrlHosts` names the host or a CIDR holding the address. The caller then
 * connects to the address that was checked, never to a fresh lookup of the name.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { MediaError } from './media-error.js';

export interface ResolvedHost {
  /** The name as the URL gave it (brackets of an IPv6 literal removed). */
  readonly host: string;
  /** Every address it resolved to, all of them allowed; ffmpeg connects to the first. */
  readonly addresses: readonly { readonly address: string; readonly family: 4 | 6 }[];
}

export type HostLookup = (host: string) => Promise<{ address: string; family: number }[]>;

const defaultLookup: HostLookup = (host) => dnsLookup(host, { all: true, verbatim: true });

const FORBIDDEN_V4: readonly [string, number, string][] = [
  ['0.0.0.0', 8, 'unspecified'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'carrier-grade NAT'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local'],
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'reserved'],
  ['192.0.2.0', 24, 'documentation'],
  ['192.88.99.0', 24, 'reserved'],
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'benchmarking'],
  ['198.51.100.0', 24, 'documentation'],
  ['203.0.113.0', 24, 'documentation'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved'],
];

const FORBIDDEN_V6: readonly [string, number, string][] = [
  ['::', 128, 'unspecified'],
  ['::1', 128, 'loopback'],
  ['::', 96, 'IPv4-compatible'],
  ['::ffff:0:0', 96, 'IPv4-mapped'],
  ['::ffff:0:0:0', 96, 'IPv4-translated'],
  ['64:ff9b::', 96, 'NAT64'],
  ['64:ff9b:1::', 48, 'NAT64'],
  ['100::', 64, 'discard'],
  ['2001::', 32, 'Teredo'],
  ['2001:db8::', 32, 'documentation'],
  ['2002::', 16, '6to4'],
  ['fc00::', 7, 'unique-local'],
  ['fe80::', 10, 'link-local'],
  ['fec0::', 10, 'site-local'],
  ['ff00::', 8, 'multicast'],
];

/** Why an address may not be reached ("loopback", "private"...), or undefined when it is public. */
export function forbiddenAddressReason(address: string): string | undefined {
  const family = isIP(address);
  if (family === 0) return 'not an address';
  const table = family === 4 ? FORBIDDEN_V4 : FORBIDDEN_V6;
  const type = family === 4 ? 'ipv4' : 'ipv6';
  for (const [network, prefix, reason] of table) {
    const list = new BlockList();
    list.addSubnet(network, prefix, type);
    if (list.check(address, type)) return reason;
  }
  return undefined;
}

/** The IPv4 address inside an IPv4-mapped IPv6 address (`::ffff:7f00:1` -> `127.0.0.1`), else the address. */
function unmapped(address: string): string {
  if (isIP(address) !== 6) return address;
  const list = new BlockList();
  list.addSubnet('::ffff:0:0', 96, 'ipv6');
  if (!list.check(address, 'ipv6')) return address;
  const dotted = /::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (dotted?.[1] !== undefined) return dotted[1];
  const hex = /::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address);
  if (hex?.[1] === undefined || hex[2] === undefined) return address;
  const high = parseInt(hex[1], 16);
  const low = parseInt(hex[2], 16);
  return [high >> 8, high & 255, low >> 8, low & 255].join('.');
}

/** `allowUrlHosts`: host names (matched case-insensitively) and addresses or CIDRs (matched against addresses). */
export class UrlHostAllowList {
  readonly #names = new Set<string>();
  readonly #networks = new BlockList();

  constructor(entries: readonly string[]) {
    for (const entry of entries) {
      const [base = '', prefixText] = entry
        .trim()
        .replace(/^\[|\]$/g, '')
        .split('/');
      const family = isIP(base);
      if (family === 0) {
        this.#names.add(base.toLowerCase().replace(/\.$/, ''));
        continue;
      }
      const type = family === 4 ? 'ipv4' : 'ipv6';
      const prefix = prefixText === undefined ? (family === 4 ? 32 : 128) : Number(prefixText);
      this.#networks.addSubnet(base, prefix, type);
    }
  }

  allowsName(host: string): boolean {
    return this.#names.has(host.toLowerCase().replace(/\.$/, ''));
  }

  allowsAddress(address: string): boolean {
    const plain = unmapped(address);
    const family = isIP(plain);
    if (family === 0) return false;
    return this.#networks.check(plain, family === 4 ? 'ipv4' : 'ipv6');
  }
}

/** The host of a URL as a name or a bare address (`[::1]` -> `::1`). */
export function urlHost(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, '');
}

/**
 * Resolves `host` once and checks every address: PERMISSION_DENIED (a MediaError of kind `forbidden-host`)
 * when any is forbidden and not allowed; UNAVAILABLE when the name does not resolve.
 */
export async function resolveAllowedHost(
  host: string,
  allow: UrlHostAllowList,
  lookup: HostLookup = defaultLookup,
): Promise<ResolvedHost> {
  if (host === '') throw new MediaError('forbidden-host', 'the url has no host');
  let found: { address: string; family: number }[];
  if (isIP(host) !== 0) found = [{ address: host, family: isIP(host) }];
  else {
    try {
      found = await lookup(host);
    } catch (cause: unknown) {
      throw new MediaError('unreachable', `the url's host "${host}" could not be resolved`, { cause });
    }
  }
  if (found.length === 0) throw new MediaError('unreachable', `the url's host "${host}" has no address`);
  const nameAllowed = allow.allowsName(host);
  const addresses: { address: string; family: 4 | 6 }[] = [];
  for (const { address, family } of found) {
    const reason = forbiddenAddressReason(address);
    if (reason !== undefined && !nameAllowed && !allow.allowsAddress(address)) {
      throw new MediaError(
        'forbidden-host',
        `the url's host "${host}" resolves to a ${reason} address, which this server may not reach ` +
          '(an operator can allow it with --allow-url-hosts)',
      );
    }
    addresses.push({ address, family: family === 6 ? 6 : 4 });
  }
  return { host, addresses };
}
