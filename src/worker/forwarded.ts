// Which scheme a request came with, for a fetch() app's request.url: the connection's own (https:// over
// certfile), unless a trusted front end says otherwise in one of the secure scheme headers, as gunicorn's
// forwarded_allow_ips and secure_scheme_headers decide wsgi.url_scheme. A front end is trusted when its
// address is in forwarded_allow_ips (or that is `*`), or when it came over a unix socket (no address).
import type { IncomingMessage } from 'node:http';
import { BlockList, isIPv4 } from 'node:net';
import { WORKER_ENV } from '../ipc/protocol.js';

export interface SchemePolicy {
  /** whether a peer at this address (undefined: a unix socket) may set the scheme */
  readonly trusts: (address: string | undefined) => boolean;
  /** lower-cased header name → the value that means HTTPS */
  readonly headers: ReadonlyArray<readonly [string, string]>;
}

/** gunicorn's defaults, for a worker whose master passed nothing */
const DEFAULT_ALLOW = '127.0.0.1,::1';
const DEFAULT_HEADERS = { 'x-forwarded-protocol': 'ssl', 'x-forwarded-proto': 'https', 'x-forwarded-ssl': 'on' };

/** The policy the master passed (forwarded_allow_ips, secure_scheme_headers; already checked by the config). */
export function schemePolicyFrom(env: NodeJS.ProcessEnv): SchemePolicy {
  const allow = (env[WORKER_ENV.forwardedAllowIps] ?? DEFAULT_ALLOW).split(',').filter((a) => a !== '');
  const rawHeaders = env[WORKER_ENV.secureSchemeHeaders];
  const headers = Object.entries(rawHeaders === undefined ? DEFAULT_HEADERS : (JSON.parse(rawHeaders) as Record<string, string>));
  if (allow.includes('*')) return { trusts: () => true, headers };
  const list = new BlockList();
  for (const a of allow) {
    const [ip = '', bits] = a.split('/');
    const family = isIPv4(ip) ? 'ipv4' : 'ipv6';
    if (bits === undefined) list.addAddress(ip, family);
    else list.addSubnet(ip, Number(bits), family);
  }
  return {
    // undefined: a unix socket, where whoever can reach it is local. BlockList matches an IPv4 peer of a
    // dual-stack socket (::ffff:a.b.c.d) against the IPv4 rules itself.
    trusts: (address) => address === undefined || list.check(address, isIPv4(address) ? 'ipv4' : 'ipv6'),
    headers,
  };
}

/**
 * The request's scheme: `own` (the connection's), or what a trusted peer's secure scheme headers say: https
 * where a header has the value that means HTTPS, http where it has another. null when two of them disagree
 * (gunicorn answers 400 to that).
 */
export function requestScheme(req: IncomingMessage, policy: SchemePolicy, own: 'http' | 'https'): 'http' | 'https' | null {
  // on every request of a fetch() app: most carry none of the headers, and then nothing else is looked at
  // (no address check, and no headersDistinct, which Node builds for all of a request's headers)
  if (!policy.headers.some(([name]) => req.headers[name] !== undefined) || !policy.trusts(req.socket.remoteAddress)) return own;
  let said: 'http' | 'https' | undefined;
  for (const [name, secure] of policy.headers) {
    for (const value of req.headersDistinct[name] ?? []) {
      const scheme = value.trim() === secure ? 'https' : 'http';
      if (said !== undefined && said !== scheme) return null;
      said = scheme;
    }
  }
  return said ?? own;
}
