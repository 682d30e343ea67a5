// `runa do --ip`: the command's address and the link's other end, from ADDRESS[/PREFIX]. Pure.
// runsc's do takes an address (default 192.168.10.2) on a /24 and gives the host's end the next
// one (calculatePeerIP: the last byte + 1, 255 wrapping to 1); runa takes a prefix too and keeps
// both ends inside the network, off its network and broadcast addresses.
import { RunaError } from '../errors.js';
import type { DoAddress } from '../do-net-records.js';

/** runsc's default address, on runsc's /24. */
export const DEFAULT_DO_IP = '192.168.10.2/24';

const bad = (value: string, why: string) => new RunaError('invalid_argument', `invalid --ip ${JSON.stringify(value)}: ${why}`);

/** A dotted IPv4 address as a number, or null. */
export function ipv4(s: string): number | null {
  const parts = s.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255)) return null;
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}
export const dotted = (n: number): string => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');

/** The first address and the size of a network. */
export function range(base: number, prefix: number): { first: number; size: number } {
  const size = 2 ** (32 - prefix);
  return { first: Math.floor(base / size) * size, size };
}

export function parseDoIp(value: string): DoAddress {
  const m = /^([^/]*)(?:\/(.*))?$/.exec(value)!;
  const ip = ipv4(m[1]);
  if (ip === null) throw bad(value, 'not an IPv4 address (ADDRESS or ADDRESS/PREFIX, e.g. 192.168.10.2/24)');
  if (m[2] !== undefined && !/^\d{1,2}$/.test(m[2])) throw bad(value, 'the prefix length must be a number from 8 to 31');
  const prefix = m[2] === undefined ? 24 : Number(m[2]);
  if (prefix === 32) throw bad(value, 'a /32 network leaves no address for the host\'s end of the link');
  // Shorter prefixes would give the host a route over much of the address space.
  if (prefix < 8 || prefix > 31) throw bad(value, 'the prefix length must be a number from 8 to 31');
  const first = ip >>> 24;
  if (first === 0 || first === 127 || first >= 224) throw bad(value, 'not a unicast address a host can be given (0/8, loopback, multicast or reserved)');
  const { first: net, size } = range(ip, prefix);
  let peer: number;
  if (size === 2) peer = ip === net ? net + 1 : net; // RFC 3021: both addresses of a /31 are the hosts'
  else {
    if (ip === net) throw bad(value, `${dotted(ip)} is the network's own address`);
    if (ip === net + size - 1) throw bad(value, `${dotted(ip)} is the network's broadcast address`);
    // The next host address, wrapping to the first one (runsc: the next address).
    peer = ip + 1 === net + size - 1 ? net + 1 : ip + 1;
  }
  return { ip: dotted(ip), prefix, peer: dotted(peer), network: `${dotted(net)}/${prefix}` };
}

/** Whether two networks (`a.b.c.d/n`, a bare address being /32) share an address. */
export function overlaps(a: string, b: string): boolean {
  const r = (s: string) => {
    const [addr, p] = s.split('/');
    return range(ipv4(addr) ?? 0, p === undefined ? 32 : Number(p));
  };
  const x = r(a);
  const y = r(b);
  return x.first < y.first + y.size && y.first < x.first + x.size;
}
