import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bindClash, type GivenBind } from '../../../../src/cli/commands/_serve-binds.js';

const tcp = (typed: string, host: string, port: number): GivenBind => ({ typed, bind: { kind: 'tcp', host, port } });
const unix = (typed: string, path: string): GivenBind => ({ typed, bind: { kind: 'unix', path } });
const hosts = (h: string): string => (h === 'localhost' ? '127.0.0.1' : h);

test('the same address twice is named by the second -b as typed and said to be given twice', () => {
  assert.equal(bindClash([tcp('127.0.0.1:80', '127.0.0.1', 80), tcp('127.0.0.1:80', '127.0.0.1', 80)], hosts), '-b 127.0.0.1:80 (#2) is given twice: -b #1 is the same address; give each address once');
});

test('one address written two ways (a host name, an IPv6 spelling, a relative unix: path) is given twice', () => {
  assert.match(bindClash([tcp('localhost:80', 'localhost', 80), tcp('127.0.0.1:80', '127.0.0.1', 80)], hosts) ?? '', /^-b 127\.0\.0\.1:80 \(#2\) is given twice: -b #1 \(localhost:80\)/);
  assert.match(bindClash([tcp('[::]:80', '::', 80), tcp('[::0]:80', '::0', 80)], hosts) ?? '', /^-b \[::0\]:80 \(#2\) is given twice/);
  assert.match(bindClash([unix('unix:a.sock', '/srv/a.sock'), unix('unix:/srv/a.sock', '/srv/a.sock')], hosts) ?? '', /^-b unix:\/srv\/a\.sock \(#2\) is given twice: -b #1 \(unix:a\.sock\)/);
});

test('an address inside an earlier wildcard is already bound by it; a wildcard after a specific address takes it in', () => {
  assert.match(bindClash([tcp('0.0.0.0:80', '0.0.0.0', 80), tcp('127.0.0.1:80', '127.0.0.1', 80)], hosts) ?? '', /^-b 127\.0\.0\.1:80 \(#2\) is already bound by -b #1 \(0\.0\.0\.0:80, every IPv4 address\)/);
  assert.match(bindClash([tcp('[::]:80', '::', 80), tcp('10.0.0.1:80', '10.0.0.1', 80)], hosts) ?? '', /already bound by -b #1 \(\[::\]:80, every IPv6 and IPv4 address\)/);
  assert.match(bindClash([tcp('127.0.0.1:80', '127.0.0.1', 80), tcp(':80', '0.0.0.0', 80)], hosts) ?? '', /^-b :80 \(#2\) takes in the address of -b #1 \(127\.0\.0\.1:80\)/);
});

test('addresses that can be bound side by side are no clash: port 0 twice, other ports, 0.0.0.0 beside an IPv6 address', () => {
  assert.equal(bindClash([tcp('127.0.0.1:0', '127.0.0.1', 0), tcp('127.0.0.1:0', '127.0.0.1', 0)], hosts), null);
  assert.equal(bindClash([tcp('127.0.0.1:80', '127.0.0.1', 80), tcp('127.0.0.1:81', '127.0.0.1', 81)], hosts), null);
  assert.equal(bindClash([tcp('0.0.0.0:80', '0.0.0.0', 80), tcp('[::1]:80', '::1', 80)], hosts), null);
});

test('with --reuse-port an address inside a wildcard binds too (SO_REUSEPORT on both): only a repeat is refused', () => {
  assert.equal(bindClash([tcp('0.0.0.0:80', '0.0.0.0', 80), tcp('127.0.0.1:80', '127.0.0.1', 80)], hosts, true), null);
  assert.match(bindClash([tcp('127.0.0.1:80', '127.0.0.1', 80), tcp('127.0.0.1:80', '127.0.0.1', 80)], hosts, true) ?? '', /is given twice/);
});

test('a scoped IPv6 address (fe80::1%lo), which the URL parser refuses, is compared as written', () => {
  assert.equal(bindClash([tcp('[fe80::1%lo]:80', 'fe80::1%lo', 80)], hosts), null);
  assert.match(bindClash([tcp('[fe80::1%lo]:80', 'fe80::1%lo', 80), tcp('[fe80::1%lo]:80', 'fe80::1%lo', 80)], hosts) ?? '', /is given twice/);
});
