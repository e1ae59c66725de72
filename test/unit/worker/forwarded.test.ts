// Who may set a fetch() app's scheme (forwarded_allow_ips) and what the headers then say
// (secure_scheme_headers), from the environment the master gives a worker.
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { test } from 'node:test';
import { requestScheme, schemePolicyFrom } from '../../../src/worker/forwarded.js';

test('addresses, networks and *: an IPv4 peer of a dual-stack socket (::ffff:a.b.c.d) is matched as IPv4; a unix socket is trusted', () => {
  const p = schemePolicyFrom({ DROVER_FORWARDED_ALLOW_IPS: '10.0.0.0/8,192.0.2.7,2001:db8::/32' });
  for (const yes of ['10.1.2.3', '::ffff:10.1.2.3', '::FFFF:192.0.2.7', '192.0.2.7', '2001:db8::1', undefined]) assert.equal(p.trusts(yes), true, String(yes));
  for (const no of ['11.0.0.1', '::ffff:11.0.0.1', '192.0.2.8', '2001:db9::1', '::1', '127.0.0.1']) assert.equal(p.trusts(no), false, no);
  const byDefault = schemePolicyFrom({});
  for (const yes of ['127.0.0.1', '::ffff:127.0.0.1', '::1']) assert.equal(byDefault.trusts(yes), true, yes);
  assert.equal(byDefault.trusts('127.0.0.2'), false);
  assert.equal(schemePolicyFrom({ DROVER_FORWARDED_ALLOW_IPS: '*' }).trusts('203.0.113.9'), true);
});

/** A request as the listener sees it: its headers (repeats kept) and its peer. */
function request(raw: [string, string][], remoteAddress: string | undefined): IncomingMessage {
  const headers: Record<string, string> = {};
  const distinct: Record<string, string[]> = {};
  for (const [k, v] of raw) {
    headers[k] = headers[k] === undefined ? v : `${headers[k]}, ${v}`;
    (distinct[k] ??= []).push(v);
  }
  return { headers, headersDistinct: distinct, socket: { remoteAddress } } as unknown as IncomingMessage;
}

test('a trusted peer sets the scheme with any one of the headers; repeats that agree are one; disagreeing ones are null; others keep the connection\'s', () => {
  const p = schemePolicyFrom({});
  assert.equal(requestScheme(request([], '127.0.0.1'), p, 'http'), 'http');
  assert.equal(requestScheme(request([['x-forwarded-proto', 'https']], '127.0.0.1'), p, 'http'), 'https');
  assert.equal(requestScheme(request([['x-forwarded-proto', 'http']], '127.0.0.1'), p, 'https'), 'http');
  assert.equal(requestScheme(request([['x-forwarded-proto', 'https'], ['x-forwarded-proto', 'https']], '127.0.0.1'), p, 'http'), 'https');
  assert.equal(requestScheme(request([['x-forwarded-ssl', 'on'], ['x-forwarded-proto', 'http']], '127.0.0.1'), p, 'http'), null);
  assert.equal(requestScheme(request([['x-forwarded-proto', 'https']], '198.51.100.1'), p, 'http'), 'http', 'an untrusted peer');
  const none = schemePolicyFrom({ DROVER_SECURE_SCHEME_HEADERS: '{}' });
  assert.equal(requestScheme(request([['x-forwarded-proto', 'https']], '127.0.0.1'), none, 'http'), 'http', 'no headers: the connection decides');
});
