// serve's -b values checked against each other and against what is at a unix: path, before anything is
// bound, so that a problem names the -b as typed and which one it is (#1, #2, …), not a [socket:bindN] of
// serve.ini the user never wrote, nor an errno (EADDRINUSE said both "given twice" and "not a socket").
import { isIP } from 'node:net';
import type { SocketSpec } from '../../config/types.js';
import { notASocketAt } from '../../prefork/sockets.js';

/** One -b: as typed, and as the config's parser read it (a unix: path resolved). */
export interface GivenBind {
  readonly typed: string;
  readonly bind: SocketSpec['bind'];
}

/**
 * The first -b whose address an earlier one already binds, in words: the same address (gunicorn 20.1 binds
 * each -b and so fails on a repeat: "Connection in use", five retries, exit 1), or one inside an earlier
 * wildcard's. null when each has its own. `resolveHost` gives a host name's IPv4 address, as bind resolves it.
 * With `reusePort` (--reuse-port: SO_REUSEPORT on every socket) an address inside a wildcard's binds too,
 * so only a repeat is refused.
 */
export function bindClash(binds: readonly GivenBind[], resolveHost: (host: string) => string, reusePort = false): string | null {
  const key = binds.map(({ bind: b }) => (b.kind === 'tcp' ? { ...b, host: canonicalHost(b.host, resolveHost) } : b));
  for (let i = 0; i < key.length; i++) {
    for (let j = 0; j < i; j++) {
      const [a, b] = [key[j], key[i]];
      const [earlier, later] = [binds[j], binds[i]];
      if (a === undefined || b === undefined || earlier === undefined || later === undefined) continue;
      const which = `-b ${later.typed} (#${i + 1})`;
      const first = `-b #${j + 1}${earlier.typed === later.typed ? '' : ` (${earlier.typed})`}`;
      const same = (a.kind === 'unix' && b.kind === 'unix' && a.path === b.path) || (a.kind === 'tcp' && b.kind === 'tcp' && a.port !== 0 && a.port === b.port && a.host === b.host);
      if (same) return `${which} is given twice: ${first} is the same address; give each address once`;
      if (reusePort || a.kind !== 'tcp' || b.kind !== 'tcp' || a.port === 0 || a.port !== b.port) continue;
      // one listening socket on a wildcard holds its port on every address it covers ([::] binds with
      // IPV6_V6ONLY off: IPv4 too), so the other's bind(2) fails with EADDRINUSE
      if (covers(a.host, b.host)) return `${which} is already bound by -b #${j + 1} (${earlier.typed}, ${everyAddress(a.host)}); give each -b an address of its own`;
      if (covers(b.host, a.host)) return `${which} takes in the address of -b #${j + 1} (${earlier.typed}), bound before it: ${later.typed} is ${everyAddress(b.host)}; give one of the two`;
    }
  }
  return null;
}

/** The first unix: -b whose path holds something other than a socket (a leftover socket is replaced); null if none. */
export function bindPathProblem(binds: readonly GivenBind[]): string | null {
  for (const [i, { typed, bind }] of binds.entries()) {
    if (bind.kind !== 'unix') continue;
    const problem = notASocketAt(bind.path);
    if (problem !== null) return `-b ${typed} (#${i + 1}): ${problem} (remove it, or give -b another path)`;
  }
  return null;
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

function everyAddress(host: string): string {
  return isAnyV6(host) ? 'every IPv6 and IPv4 address' : 'every IPv4 address';
}
