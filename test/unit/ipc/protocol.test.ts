// Worker → master messages: only well-formed ones are accepted; unknown ones are ignored, not thrown.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseWorkerMessage } from '../../../src/ipc/protocol.js';

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
