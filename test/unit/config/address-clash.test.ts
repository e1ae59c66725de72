import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addressClashes } from '../../../src/config/address-clash.js';

const tcp = (host: string, port: number) => ({ kind: 'tcp', host, port }) as const;
const unix = (path: string) => ({ kind: 'unix', path }) as const;

test('each bind that clashes with an earlier one is listed once, at its first clash', () => {
  const hosts = (h: string): string => (h === 'localhost' ? '127.0.0.1' : h);
  assert.deepEqual(
    addressClashes([tcp('127.0.0.1', 80), tcp('localhost', 80), tcp('127.0.0.1', 80), unix('/a.sock'), unix('/x/../a.sock')], hosts).map((c) => [c.earlier, c.later, c.how]),
    [[0, 1, 'same'], [0, 2, 'same'], [3, 4, 'same']],
  );
  assert.deepEqual(addressClashes([tcp('127.0.0.1', 80), tcp('0.0.0.0', 80)], hosts).map((c) => c.how), ['around']);
  assert.deepEqual(addressClashes([tcp('::', 80), tcp('10.0.0.1', 80)], hosts).map((c) => c.how), ['inside']);
});

test('reuse_port on both lets a wildcard and one of its addresses be bound, never one address twice', () => {
  const both = (): boolean => true;
  assert.deepEqual(addressClashes([tcp('0.0.0.0', 80), tcp('127.0.0.1', 80)], (h) => h, both), []);
  assert.deepEqual(addressClashes([tcp('127.0.0.1', 80), tcp('127.0.0.1', 80)], (h) => h, both).map((c) => c.how), ['same']);
});

test('a host name is resolved only when another bind shares its port', () => {
  const asked: string[] = [];
  const hosts = (h: string): string => {
    asked.push(h);
    return '127.0.0.1';
  };
  assert.deepEqual(addressClashes([tcp('web.example', 80), tcp('db.example', 81), tcp('127.0.0.1', 0), tcp('x.example', 0)], hosts), []);
  assert.deepEqual(asked, []);
});
