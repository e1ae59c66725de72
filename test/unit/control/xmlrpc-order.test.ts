// supervisord answers "stop all" as its 50 ms polls find each process done, in action order within a poll.
// drover orders its answers the same way from when each outcome settled; the polls are counted from the
// first answer that settled, so a loaded machine's delay before any exit is seen does not split stops that
// settled together (a CI run: the last of five stops seen 51 ms after the send, 20 ms after the first).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inSupervisordOrder } from '../../../src/control/xmlrpc/methods.js';

const stops = (settled: Record<string, number>) => Object.entries(settled).map(([key, at]) => ({ key, ok: true, settledAtMs: at }));

test('stops that settled within one poll keep action order, however long the first took to be seen', () => {
  const names = ['early', 'api_0', 'api_1', 'slow', 'web'];
  // the CI run, as its log shows it: sent at 0, the first exit seen at 31 ms, the last at 51 ms
  const order = inSupervisordOrder(names, stops({ early: 31, api_0: 34, api_1: 35, slow: 51, web: 35 }), 0).map(([n]) => n);
  assert.deepEqual(order, names);
});

test('a stop that settled a poll or more after the others comes after them', () => {
  const order = inSupervisordOrder(['a', 'b', 'c'], stops({ a: 5, b: 2500, c: 8 }), 0).map(([n]) => n);
  assert.deepEqual(order, ['a', 'c', 'b']);
});

test('a start: what supervisord waits for comes after every immediate answer', () => {
  const order = inSupervisordOrder(['slow', 'web'], stops({ slow: 30, web: 31 }), 0, (p) => p === 'slow').map(([n]) => n);
  assert.deepEqual(order, ['web', 'slow']);
});
