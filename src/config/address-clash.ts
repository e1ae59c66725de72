// Which listening addresses cannot all be bound by one master: the same TCP address (a host name resolved,
// an IPv6 literal in its one form) or unix path twice, or a TCP address inside a wildcard's on the same port.
// The config loader words a clash in [socket:x] terms, `drover serve` in terms of its -b options.
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { DroverError } from '../errors.js';
import { resolveIPv4 } from '../os/native-net.js';
import type { SocketSpec } from './types.js';

/** Two binds that cannot both be bound: `later` (an index) clashes with `earlier`, an index before it. */
export interface AddressClash {
  readonly earlier: number;
  readonly later: number;
  /**
   * same: one address (a port of 0 never is: each gets its own); inside: `later` is an address that
   * `earlier`, a wildcard, binds too; around: `later` is a wildcard taking in `earlier`'s address
   */
  readonly how: 'same' | 'inside' | 'around';
  /** the hosts as compared (resolved, in one form); null for unix paths */
  readonly hosts: { readonly earlier: string; readonly later: string } | null;
}

/**
 * Each bind that clashes with one before it, at its first such clash, in order. `resolveHost` gives a host
 * name's IPv4 address as bind resolves it; it is asked only about a name whose port another bind shares.
 * `reusePort(i, j)`: both have SO_REUSEPORT, which lets an address inside a wildcard's be bound beside it;
 * the same address twice is a clash either way.
 */
export function addressClashes(binds: readonly SocketSpec['bind'][], resolveHost: (host: string) => string, reusePort: (earlier: number, later: number) => boolean = () => false): AddressClash[] {
  const canonical = new Map<number, string>();
  const hostOf = (i: number, host: string): string => {
    let h = canonical.get(i);
    if (h === undefined) canonical.set(i, (h = canonicalHost(host, resolveHost)));
    return h;
  };
  const out: AddressClash[] = [];
  for (let i = 0; i < binds.length; i++) {
    for (let j = 0; j < i; j++) {
      const [a, b] = [binds[j], binds[i]];
      if (a === undefined || b === undefined) continue;
      if (a.kind === 'unix' && b.kind === 'unix' && resolve(a.path) === resolve(b.path)) {
        out.push({ earlier: j, later: i, how: 'same', hosts: null });
        break;
      }
      if (a.kind !== 'tcp' || b.kind !== 'tcp' || a.port === 0 || a.port !== b.port) continue;
      const hosts = { earlier: hostOf(j, a.host), later: hostOf(i, b.host) };
      if (hosts.earlier === hosts.later) {
        out.push({ earlier: j, later: i, how: 'same', hosts });
        break;
      }
      if (reusePort(j, i)) continue;
      // one listening socket on a wildcard holds its port on every address it covers ([::] binds with
      // IPV6_V6ONLY off: IPv4 too), so the other's bind(2) fails with EADDRINUSE
      const how = covers(hosts.earlier, hosts.later) ? 'inside' : covers(hosts.later, hosts.earlier) ? 'around' : null;
      if (how !== null) {
        out.push({ earlier: j, later: i, how, hosts });
        break;
      }
    }
  }
  return out;
}

/** "every IPv4 address" for 0.0.0.0, "every IPv6 and IPv4 address" for [::]: what a wildcard host binds. */
export function everyAddress(host: string): string {
  return isAnyV6(host) ? 'every IPv6 and IPv4 address' : 'every IPv4 address';
}

/** HOST:PORT with an IPv6 host in brackets. */
export function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

// --- internal ---

/** An IPv6 literal in its one short form ([::0] is [::]), a host name resolved, an IPv4 literal as it is. */
function canonicalHost(host: string, resolveHost: (host: string) => string): string {
  // the WHATWG URL parser writes an IPv6 host in RFC 5952's form
  if (isIP(host) === 6) {
    try {
      return new URL(`http://[${host}]/`).hostname.slice(1, -1);
    } catch {
      // a scoped address (fe80::1%lo), which URL does not take: compared as written
      return host;
    }
  }
  return isIP(host) === 4 ? host : resolveHost(host);
}

/** Whether a socket on `wide` holds the same port on `host` too. */
function covers(wide: string, host: string): boolean {
  if (wide === host) return false;
  if (isAnyV6(wide)) return true;
  return wide === '0.0.0.0' && !host.includes(':');
}

function isAnyV6(host: string): boolean {
  return host === '::';
}

/**
 * A host name's IPv4 address as bind resolves it, for `addressClashes` in `drover serve` (before anything
 * runs; the config loader does not look names up, see load.ts); the name itself when it cannot be
 * resolved (E_RESOLVE: the bind at start says why) or drover's native layer is missing (E_NATIVE: serve
 * says so before it binds anything).
 */
export function resolveHostOrKeep(host: string): string {
  try {
    return resolveIPv4(host);
  } catch (err) {
    if (err instanceof DroverError) return host;
    throw err;
  }
}
