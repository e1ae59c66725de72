// Messages between master and worker: only well-formed ones are accepted; unknown ones are ignored, not thrown.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseMasterMessage, parseWorkerMessage } from '../../../src/ipc/protocol.js';

test('known messages parse, with defaults for missing numbers', () => {
  assert.deepEqual(parseWorkerMessage({ t: 'ready' }), { t: 'ready' });
  assert.deepEqual(parseWorkerMessage({ t: 'hb', requests: 5, rss: 100 }), { t: 'hb', requests: 5, rss: 100 });
  assert.deepEqual(parseWorkerMessage({ t: 'hb', requests: 'x' }), { t: 'hb', requests: 0, rss: 0 });
  assert.deepEqual(parseWorkerMessage({ t: 'retire', reason: 'r' }), { t: 'retire', reason: 'r' });
  assert.deepEqual(parseWorkerMessage({ t: 'retire' }), { t: 'retire', reason: 'retire requested' });
});

test('anything else is null', () => {
  for (const m of [null, undefined, 3, 'ready', [], {}, { t: 'nope' }, { t: 7 }, { type: 'ready' }]) {
    assert.equal(parseWorkerMessage(m), null, JSON.stringify(m));
  }
});

test('worker → master: serving (a spare that took over) is understood', () => {
  assert.deepEqual(parseWorkerMessage({ t: 'serving' }), { t: 'serving' });
});

test('master → worker: accept carries a socket count, socket an index; anything else is not a master message', () => {
  assert.deepEqual(parseMasterMessage({ t: 'accept', sockets: 2 }), { t: 'accept', sockets: 2 });
  assert.deepEqual(parseMasterMessage({ t: 'accept', sockets: 0 }), { t: 'accept', sockets: 0 });
  assert.deepEqual(parseMasterMessage({ t: 'socket', index: 1 }), { t: 'socket', index: 1 });
  for (const bad of [null, 'accept', { t: 'accept' }, { t: 'accept', sockets: -1 }, { t: 'socket', index: 1.5 }, { t: 'socket' }, { t: 'shr', results: [] }]) {
    assert.equal(parseMasterMessage(bad), null, JSON.stringify(bad));
  }
});

test("a retire reason is the worker's text: control characters become '?', and it is cut to 200 characters", () => {
  assert.deepEqual(parseWorkerMessage({ t: 'retire', reason: 'a\nb\r\u001b[2K\u007f\u0085c' }), { t: 'retire', reason: 'a?b??[2K??c' });
  const long = parseWorkerMessage({ t: 'retire', reason: 'x'.repeat(5_000_000) });
  assert.deepEqual(long, { t: 'retire', reason: `${'x'.repeat(200)}…` });
});
