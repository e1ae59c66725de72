// systemd's notify protocol over real unix datagrams: every message byte for byte (also against systemd's own
// systemd-notify), the abstract "@name" form, MONOTONIC_USEC on CLOCK_MONOTONIC, the watchdog's cadence and
// its ownership (WATCHDOG_PID), and failed sends that are reported, never thrown.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { SystemdNotifier } from '../../src/daemon/notify.js';
import { assertStaysFor, makeTmpDir, waitForCondition } from '../helpers/drover.js';
import { NotifyReceiver, type NotifyMessage } from '../helpers/notify.js';

const SYSTEMD_NOTIFY = '/usr/bin/systemd-notify';

let dir: string;
before(() => {
  dir = makeTmpDir('drover-notify-');
});
after(() => {
  spawnSync('rm', ['-rf', dir]);
});

/** A notifier on a fresh receiver; errors are collected, not thrown. */
async function setup(address?: string, env: Record<string, string> = {}): Promise<{ rx: NotifyReceiver; n: SystemdNotifier; errors: Error[] }> {
  const rx = await NotifyReceiver.start(address);
  const errors: Error[] = [];
  const n = SystemdNotifier.fromEnv({ NOTIFY_SOCKET: rx.address, ...env }, { onError: (e) => errors.push(e) });
  assert.ok(n, 'a notifier for a set NOTIFY_SOCKET');
  return { rx, n, errors };
}

const text = (m: NotifyMessage): string => m.text;

test('each message arrives byte for byte, from our own pid', async () => {
  const { rx, n, errors } = await setup(join(dir, 'notify.sock'));
  try {
    assert.equal(n.ready(), true);
    assert.equal(n.ready('3 of 3 programs running'), true);
    assert.equal(n.status('reloading: 2 changed\nline two'), true);
    assert.equal(n.stopping(), true);
    assert.equal(n.stopping('stopping 4 programs'), true);
    assert.equal(n.mainPid(4242), true);
    assert.equal(n.watchdogPing(), true);
    const got = await rx.waitForCount(() => true, 7, 'messages');
    assert.deepEqual(got.map(text), [
      'READY=1',
      'READY=1\nSTATUS=3 of 3 programs running',
      'STATUS=reloading: 2 changed line two',
      'STOPPING=1',
      'STOPPING=1\nSTATUS=stopping 4 programs',
      'MAINPID=4242',
      'WATCHDOG=1',
    ]);
    assert.deepEqual(got[1]?.bytes, Buffer.from('READY=1\nSTATUS=3 of 3 programs running'), 'no trailing newline, no NUL');
    for (const m of got) assert.equal(m.pid, process.pid, 'the kernel names us as the sender (what NotifyAccess= checks)');
    assert.deepEqual(errors, []);
  } finally {
    await rx.stop();
  }
});

test('the bytes are those systemd-notify itself sends', { skip: !existsSync(SYSTEMD_NOTIFY) && 'systemd-notify is not installed' }, async () => {
  const { rx, n } = await setup(join(dir, 'reference.sock'));
  try {
    const sendWithSystemd = (...args: string[]): void => {
      // systemd-notify waits for a BARRIER=1 answer unless --no-block; our receiver never answers
      const r = spawnSync(SYSTEMD_NOTIFY, ['--no-block', ...args], { env: { ...process.env, NOTIFY_SOCKET: rx.address }, encoding: 'utf8', timeout: 10_000 });
      assert.equal(r.status, 0, `systemd-notify ${args.join(' ')}: ${r.stderr}`);
    };
    sendWithSystemd('--ready', '--status=2 of 3 running');
    const reference = await rx.waitForMessage((m) => m.text.startsWith('READY=1'), 'READY=1 from systemd-notify');
    const from = rx.messages.length;
    n.ready('2 of 3 running');
    const ours = await rx.waitForMessage((m) => m.text.startsWith('READY=1'), 'READY=1 from drover', { from });
    assert.deepEqual(ours.bytes, reference.bytes);

    sendWithSystemd('MAINPID=77');
    const refPid = await rx.waitForMessage((m) => m.text === 'MAINPID=77', 'MAINPID from systemd-notify');
    const from2 = rx.messages.length;
    n.mainPid(77);
    const ourPid = await rx.waitForMessage((m) => m.text.startsWith('MAINPID='), 'MAINPID from drover', { from: from2 });
    assert.deepEqual(ourPid.bytes, refPid.bytes);
  } finally {
    await rx.stop();
  }
});

test('an abstract @name socket is reached', async () => {
  const { rx, n, errors } = await setup(); // the receiver's default address is an @abstract name
  try {
    assert.ok(rx.address.startsWith('@'));
    assert.equal(n.ready('abstract'), true);
    const m = await rx.waitForMessage(() => true, 'a message on the abstract socket');
    assert.equal(m.text, 'READY=1\nSTATUS=abstract');
    assert.deepEqual(errors, []);
  } finally {
    await rx.stop();
  }
});

test('RELOADING=1 carries MONOTONIC_USEC on CLOCK_MONOTONIC (the clock systemd compares it with)', async () => {
  const { rx, n } = await setup();
  try {
    n.reloading('re-reading the config');
    const m = await rx.waitForMessage(() => true, 'RELOADING=1');
    assert.deepEqual(m.fields.map(([k]) => k), ['RELOADING', 'MONOTONIC_USEC', 'STATUS']);
    assert.equal(m.fields[0]?.[1], '1');
    assert.match(m.fields[1]?.[1] ?? '', /^\d+$/);
    const sentUs = BigInt(m.fields[1]?.[1] ?? '0');
    const receivedUs = m.monoNs / 1000n;
    // sent before it was received, on the same clock: a few ms apart, not seconds (CLOCK_REALTIME would be
    // decades away, a clock with another origin anything at all)
    assert.ok(sentUs <= receivedUs, `MONOTONIC_USEC ${sentUs} is after the reception at ${receivedUs}`);
    assert.ok(receivedUs - sentUs < 2_000_000n, `MONOTONIC_USEC ${sentUs} is ${receivedUs - sentUs} µs before the reception`);
  } finally {
    await rx.stop();
  }
});

test('the watchdog pings every half WATCHDOG_USEC until stopped', async () => {
  const { rx, n, errors } = await setup(undefined, { WATCHDOG_USEC: '1000000' });
  try {
    assert.equal(n.watchdogIntervalMs, 500);
    assert.equal(n.startWatchdog(), true);
    assert.equal(n.startWatchdog(), true, 'a second start changes nothing');
    const pings = await rx.waitForCount((m) => m.text === 'WATCHDOG=1', 5, 'WATCHDOG=1', { timeoutMs: 10_000 });
    const gapsMs = pings.slice(1).map((p, i) => Number(p.monoNs - (pings[i] as NotifyMessage).monoNs) / 1e6);
    // every gap well inside the deadline systemd enforces (WATCHDOG_USEC = 1000 ms), and ≈ 500 ms on
    // average; the gaps are taken at reception, so one ping received late makes the next gap short
    const shown = `gaps between pings ${gapsMs.map((g) => g.toFixed(0)).join(', ')} ms, want ≈ 500\n${rx.describe()}`;
    for (const gap of gapsMs) assert.ok(gap >= 250 && gap < 1000, shown);
    const mean = gapsMs.reduce((a, b) => a + b, 0) / gapsMs.length;
    assert.ok(mean >= 475 && mean < 700, shown);
    n.stopWatchdog();
    assert.equal(n.watchdogRunning, false);
    const count = rx.messages.length;
    await assertStaysFor(800, () => rx.messages.length === count, 'no ping after stopWatchdog');
    assert.deepEqual(errors, []);
  } finally {
    n.stopWatchdog();
    await rx.stop();
  }
});

test("another process's watchdog (WATCHDOG_PID) is left alone; our own pid or none means ours", async () => {
  const { rx, n } = await setup(undefined, { WATCHDOG_USEC: '200000', WATCHDOG_PID: String(process.pid + 1) });
  try {
    assert.equal(n.watchdogUsec, null);
    assert.equal(n.startWatchdog(), false);
    await assertStaysFor(400, () => rx.messages.length === 0, 'no ping for a watchdog meant for another pid');
  } finally {
    await rx.stop();
  }
  const errors: Error[] = [];
  const mine = SystemdNotifier.fromEnv({ NOTIFY_SOCKET: '/x', WATCHDOG_USEC: '200000', WATCHDOG_PID: String(process.pid) }, { onError: (e) => errors.push(e) });
  assert.equal(mine?.watchdogUsec, 200_000);
  assert.equal(SystemdNotifier.fromEnv({ NOTIFY_SOCKET: '/x', WATCHDOG_USEC: '200000' })?.watchdogIntervalMs, 100);
});

test('a send nobody receives is reported through onError, never thrown', async () => {
  const errors: Error[] = [];
  const missing = SystemdNotifier.fromEnv({ NOTIFY_SOCKET: join(dir, 'nobody-here.sock'), WATCHDOG_USEC: '100000' }, { onError: (e) => errors.push(e) });
  assert.ok(missing);
  assert.equal(missing.ready(), false);
  assert.equal(missing.mainPid(1), false);
  assert.equal(errors.length, 2);
  assert.match(errors[0]?.message ?? '', /cannot notify systemd at .*nobody-here\.sock \(READY\): .*ENOENT/);
  // an abstract name nobody bound: the kernel refuses the connection
  const refused = SystemdNotifier.fromEnv({ NOTIFY_SOCKET: '@drover-test-nobody-binds-this' }, { onError: (e) => errors.push(e) });
  assert.equal(refused?.stopping(), false);
  assert.match(errors[2]?.message ?? '', /ECONNREFUSED/);
  // the watchdog keeps trying and keeps reporting, and never throws from its timer
  assert.equal(missing.startWatchdog(), true);
  const before = errors.length;
  await waitForCondition(() => errors.length >= before + 2, 'two failed watchdog pings reported', {
    describe: () => errors.map((e) => e.message).join('\n'),
  });
  missing.stopWatchdog();
  assert.match(errors.at(-1)?.message ?? '', /\(WATCHDOG\)/);
});
