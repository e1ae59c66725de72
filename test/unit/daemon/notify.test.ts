// The notify protocol's pure parts: which environment makes a notifier and a watchdog, and the programs'
// environment without systemd's variables for drover.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SystemdNotifier, withoutSystemdEnv } from '../../../src/daemon/notify.js';

test('no NOTIFY_SOCKET (or an empty one) means no notifier', () => {
  assert.equal(SystemdNotifier.fromEnv({}), null);
  assert.equal(SystemdNotifier.fromEnv({ NOTIFY_SOCKET: '' }), null);
});

test('a NOTIFY_SOCKET that is neither a path nor an @name is reported and ignored', () => {
  const errors: Error[] = [];
  assert.equal(SystemdNotifier.fromEnv({ NOTIFY_SOCKET: 'vsock:2:1234' }, { onError: (e) => errors.push(e) }), null);
  assert.equal(SystemdNotifier.fromEnv({ NOTIFY_SOCKET: '@' }, { onError: (e) => errors.push(e) }), null);
  assert.equal(errors.length, 2);
  assert.match(errors[0]?.message ?? '', /NOTIFY_SOCKET must be an absolute path or an @abstract name, got "vsock:2:1234"/);
});

test('the watchdog is ours when WATCHDOG_PID is unset or our pid, at half of WATCHDOG_USEC', () => {
  const env = { NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: '30000000' };
  assert.equal(SystemdNotifier.fromEnv(env, { pid: 10 })?.watchdogIntervalMs, 15_000);
  assert.equal(SystemdNotifier.fromEnv({ ...env, WATCHDOG_PID: '10' }, { pid: 10 })?.watchdogIntervalMs, 15_000);
  assert.equal(SystemdNotifier.fromEnv({ ...env, WATCHDOG_PID: '11' }, { pid: 10 })?.watchdogIntervalMs, null);
  assert.equal(SystemdNotifier.fromEnv({ NOTIFY_SOCKET: '/run/systemd/notify' })?.watchdogIntervalMs, null);
});

test('a WATCHDOG_USEC that is not a positive integer is reported and turns the watchdog off', () => {
  for (const bad of ['0', '-5', '1.5', '30s', '99999999999999999999']) {
    const errors: Error[] = [];
    const n = SystemdNotifier.fromEnv({ NOTIFY_SOCKET: '@x', WATCHDOG_USEC: bad }, { onError: (e) => errors.push(e) });
    assert.equal(n?.watchdogUsec, null, bad);
    assert.match(errors[0]?.message ?? '', /WATCHDOG_USEC must be a positive integer of microseconds/, bad);
  }
});

test('MAINPID must be a positive integer', () => {
  const n = new SystemdNotifier('@x', null);
  assert.throws(() => n.mainPid(0), /MAINPID must be a positive integer, got 0/);
  assert.throws(() => n.mainPid(1.5), RangeError);
});

test("the programs' environment loses exactly systemd's variables for drover", () => {
  const env = {
    PATH: '/usr/bin',
    HOME: '/root',
    NOTIFY_SOCKET: '/run/systemd/notify',
    WATCHDOG_USEC: '30000000',
    WATCHDOG_PID: '1',
    LISTEN_FDS: '2',
    LISTEN_PID: '1',
    LISTEN_FDNAMES: 'web:admin',
    LISTEN_FDS_EXTRA: 'kept: not one of systemd\'s names',
    INVOCATION_ID: 'abc',
    UNSET: undefined,
  };
  assert.deepEqual(withoutSystemdEnv(env), {
    PATH: '/usr/bin',
    HOME: '/root',
    LISTEN_FDS_EXTRA: "kept: not one of systemd's names",
    INVOCATION_ID: 'abc',
  });
  assert.equal(env.NOTIFY_SOCKET, '/run/systemd/notify', 'the input is not changed');
});
