// Which section takes which fd systemd passed (LISTEN_FDS / LISTEN_FDNAMES): the cases decided by names and
// numbers alone, which read no socket.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SocketSpec } from '../../../src/config/types.js';
import { assignPassedSockets } from '../../../src/prefork/passed-sockets.js';

function spec(name: string, bind: SocketSpec['bind']): SocketSpec {
  return { name, bind, backlog: 511, reusePort: false, mode: null, owner: null, source: { file: 'drover.ini', line: 1 } };
}

test('of several fds under a section\'s name, one another section takes by number stays that section\'s', () => {
  // --fdname=c:c:c, and [socket:x] bind = fd://4: the section c kept fd 4 in its list, and closed it
  // as an extra under its name while x served on it
  const specs = [spec('x', { kind: 'fd', fd: 4 }), spec('c', { kind: 'tcp', host: '127.0.0.1', port: 47001 })];
  const { assigned, unclaimed } = assignPassedSockets(specs, new Map([['c', [3, 4, 5]]]), new Set([3, 4, 5]));
  assert.deepEqual([...assigned], [['c', [3]]]);
  assert.deepEqual(unclaimed, [5]);
});

test('when the first fd under a section\'s name is taken by number, the section takes the next', () => {
  const specs = [spec('x', { kind: 'fd', fd: 3 }), spec('c', { kind: 'tcp', host: '127.0.0.1', port: 47001 })];
  const { assigned, unclaimed } = assignPassedSockets(specs, new Map([['c', [3, 4]]]), new Set([3, 4]));
  assert.deepEqual([...assigned], [['c', [4]]]);
  assert.deepEqual(unclaimed, []);
});

test('a re-exec\'d master\'s own balanced slots (not passed by systemd) all go to their section', () => {
  const specs = [spec('web', { kind: 'tcp', host: '127.0.0.1', port: 47001 })];
  const { assigned, unclaimed } = assignPassedSockets(specs, new Map([['web', [3, 4, 5]]]), new Set());
  assert.deepEqual([...assigned], [['web', [3, 4, 5]]]);
  assert.deepEqual(unclaimed, []);
});
