// Power signals: SIGPWR (what lxc-stop and `incus stop` send a container's init, lxc.signal.halt) and
// systemd's halt and poweroff, SIGRTMIN+3 and SIGRTMIN+4 (machinectl, systemd-nspawn, an image's
// `STOPSIGNAL SIGRTMIN+3`) are graceful stops, as TERM: as PID 1 (where a signal without a handler is dropped
// by the kernel and the container manager waits out its timeout, then kills everything), in the foreground,
// as a daemon (which does not replace itself), and while drover loads, before anything of it but
// bin/drover.js's first lines runs. Node cannot `process.on` the real-time ones: libuv listens for them
// (src/os/realtime-signals.ts), and what a program inherits from that is checked here: no blocked or ignored
// signal.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CliRun, fixture, livePids, makeTmpDir, startUp, teardown, waitForCondition, writeConfig } from '../helpers/drover.js';
import { Daemon } from '../helpers/daemon.js';
import { AS_PID1, pid1Of, skipNamespaces } from '../helpers/namespaces.js';
import { fixturesDir } from '../helpers/paths.js';
import { listenForSignals } from '../../src/os/realtime-signals.js';

const node = process.execPath;
const RTMIN = 34;
const POWER_SIGNALS = [
  ['PWR', 30],
  ['RTMIN+3', RTMIN + 3],
  ['RTMIN+4', RTMIN + 4],
] as const;

/** A program that waits for its stopsignal in JavaScript, one with INT as its stopsignal, and a shell that shows the mask a program inherits. */
const CONFIG = `[program:js]
command = ${node} ${fixture('term-line.mjs')}
startsecs = 0

[program:js_int]
command = ${node} ${fixture('term-line.mjs')} SIGINT
stopsignal = INT
startsecs = 0

[program:mask]
command = /bin/sh -c 'grep -E "^Sig(Blk|Ign):" /proc/self/status | tr "\\n" " "; echo; exec sleep 1000'
startsecs = 0
`;

/** The signal-mask field `field` (SigBlk, SigIgn, SigCgt) of a /proc status text, as a bit set. */
function maskOf(status: string, field: string): bigint {
  const m = new RegExp(`${field}:\\s*([0-9a-f]+)`).exec(status);
  assert.ok(m !== null, `no ${field} in ${status}`);
  return BigInt(`0x${m[1] ?? '0'}`);
}

const has = (mask: bigint, num: number): boolean => (mask & (1n << BigInt(num - 1))) !== 0n;

/** Waits for the three programs; checks what the shell inherited: nothing blocked, nothing ignored. */
async function programsUp(run: CliRun): Promise<void> {
  await run.waitForLine(/js \| ready/);
  await run.waitForLine(/js_int \| ready/);
  const line = (await run.waitForLine(/mask \| (SigBlk:.*)/))[1] ?? '';
  assert.equal(maskOf(line, 'SigBlk'), 0n, `a program inherits no blocked signal: ${line}`);
  assert.equal(maskOf(line, 'SigIgn'), 0n, `a program inherits no ignored signal: ${line}`);
}

/** The stop went as a TERM's does: every program got its own stopsignal, all stopped, exit 0. */
function assertGracefulStop(run: CliRun, name: string, exit: { code: number | null; signal: string | null }): void {
  assert.deepEqual(exit, { code: 0, signal: null }, `SIG${name}: a graceful exit 0\n${run.describe()}`);
  assert.match(run.output, new RegExp(`SIG${name.replace('+', '\\+')}: graceful shutdown`), run.describe());
  assert.match(run.output, /js \| stopped by TERM/, run.describe());
  assert.match(run.output, /js_int \| stopped by INT/, run.describe());
  assert.match(run.output, /all processes stopped/, run.describe());
}

for (const [name, num] of POWER_SIGNALS) {
  test(`as PID 1, SIG${name} sent from outside the namespace stops drover gracefully: each program gets its stopsignal, exit 0`, { skip: skipNamespaces }, async () => {
    const dir = makeTmpDir();
    const run = new CliRun(['up', '-c', writeConfig(dir, CONFIG)], { wrapper: AS_PID1 });
    try {
      await run.waitForLine(/drover up: pid 1,/);
      const pid = pid1Of(run.pid);
      await programsUp(run);
      // the kernel passes PID 1 only the signals it has a handler for
      assert.ok(has(maskOf(readFileSync(`/proc/${pid}/status`, 'utf8'), 'SigCgt'), num), `drover (PID 1) catches signal ${num}`);
      process.kill(pid, num);
      assertGracefulStop(run, name, await run.waitForExit(15_000));
    } finally {
      await teardown(run, [], dir);
    }
  });

  test(`not as PID 1, SIG${name} stops drover gracefully (not its default action, the end of drover): exit 0`, async () => {
    const dir = makeTmpDir();
    const run = await startUp(writeConfig(dir, CONFIG));
    try {
      await programsUp(run);
      process.kill(run.pid, num);
      assertGracefulStop(run, name, await run.waitForExit(15_000));
    } finally {
      await teardown(run, [], dir);
    }
  });
}

test('a daemon (up -d: started anew, not replaced by an exec) stops gracefully on SIGRTMIN+3 and on SIGPWR', async () => {
  for (const [name, num] of [POWER_SIGNALS[1], POWER_SIGNALS[0]]) {
    const d = new Daemon(`[supervisord]\nlogfile = %(here)s/drover.log\n\n[program:js]\ncommand = ${node} ${fixture('term-line.mjs')}\nstartsecs = 0\nstdout_logfile = %(here)s/js.log\n`);
    try {
      await d.up();
      const log = (file: string): string => (existsSync(join(d.dir, file)) ? readFileSync(join(d.dir, file), 'utf8') : '');
      const describe = (): string => `drover.log:\n${log('drover.log')}\njs.log:\n${log('js.log')}`;
      await waitForCondition(() => /ready/.test(log('js.log')), 'js to be ready', { describe });
      process.kill(d.pid, num);
      await waitForCondition(() => livePids([d.pid]).length === 0, `the daemon to exit on SIG${name}`, { timeoutMs: 15_000, describe });
      assert.match(log('drover.log'), new RegExp(`SIG${name.replace('+', '\\+')}: graceful shutdown`), describe());
      assert.match(log('js.log'), /stopped by TERM/, describe());
      assert.match(log('drover.log'), /all processes stopped/, describe());
    } finally {
      assert.deepEqual(await d.teardown(), [], `SIG${name}: nothing left running`);
    }
  }
});

// bin/drover.js's first lines hold every master signal until the CLI's code has loaded and the master's relay
// listens; a preload holds that load here (test/fixtures/hold-cli-load.mjs), so the signals land where only
// those first lines listen. Without them, SIGPWR and SIGRTMIN+3 take their default action: drover dies.
test('SIGPWR and SIGRTMIN+3 while drover loads its code are held: drover then starts nothing and exits 0', async () => {
  const dir = makeTmpDir();
  const release = join(dir, 'release');
  const conf = writeConfig(dir, `[program:app]\ncommand = sleep 1000\nstartsecs = 0\n`);
  const run = new CliRun(['up', '-c', conf], {
    cwd: dir,
    env: { NODE_OPTIONS: `--import=${join(fixturesDir, 'hold-cli-load.mjs')}`, DROVER_TEST_HOLD_UNTIL: release },
  });
  try {
    await run.waitForLine(/holding the CLI's load/);
    const cgt = maskOf(readFileSync(`/proc/${run.pid}/status`, 'utf8'), 'SigCgt');
    assert.ok(has(cgt, 30) && has(cgt, RTMIN + 3), `bin/drover.js listens for PWR and RTMIN+3 (SigCgt ${cgt.toString(16)})\n${run.describe()}`);
    process.kill(run.pid, 'SIGPWR');
    process.kill(run.pid, RTMIN + 3);
    writeFileSync(release, '');
    const exit = await run.waitForExit(15_000);
    // (a death by a real-time signal reads as exit 0 through node:child_process, which has no name for
    // it: the lines below are what tell a held signal from a fatal one)
    assert.deepEqual(exit, { code: 0, signal: null }, `held, not fatal\n${run.describe()}`);
    // whichever the kernel delivered first (either order is seen) starts the stop; the other finds it begun
    assert.match(run.output, /SIG(PWR|RTMIN\+3) came while drover was starting: no program is started/, run.describe());
    assert.match(run.output, /all processes stopped/, run.describe());
    assert.doesNotMatch(run.output, /spawned: app/, run.describe());
  } finally {
    await teardown(run, [], dir);
  }
});

test('listenForSignals: each real-time signal reaches its callback on the main thread, and stop() gives the signal back to its default action', async () => {
  const got: number[] = [];
  const listening = listenForSignals([RTMIN + 3, RTMIN + 4], (n) => got.push(n));
  const caught = (num: number): boolean => has(maskOf(readFileSync('/proc/self/status', 'utf8'), 'SigCgt'), num);
  try {
    assert.ok(caught(RTMIN + 3) && caught(RTMIN + 4), 'a handler for both');
    for (const num of [RTMIN + 4, RTMIN + 3]) {
      const before = got.length;
      process.kill(process.pid, num);
      await waitForCondition(() => got.length > before, `signal ${num} to reach the callback`, { describe: () => `got: ${got.join(' ')}` });
      assert.deepEqual(got.slice(before), [num]);
    }
  } finally {
    listening.stop();
  }
  assert.ok(!caught(RTMIN + 3) && !caught(RTMIN + 4), 'no handler left: the default action again');
});
