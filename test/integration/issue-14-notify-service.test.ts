// drover as a Type=notify service, against a real receiver on NOTIFY_SOCKET (what systemd does with it):
// READY=1 only once the last autostart program is running and within 10 ms of it, STATUS= as programs
// change, RELOADING=1 + MONOTONIC_USEC then READY=1 on SIGHUP and on `drover reload`, STOPPING=1 before any
// program is stopped, MAINPID= and READY=1 from the new master after USR2 (which also takes the watchdog
// over), the watchdog's keep-alives, and none of systemd's variables reaching a program.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fixture, livePids, makeTmpDir, runCli, startUp, teardown, waitForCondition, writeConfig, type CliRun } from '../helpers/drover.js';
import { NotifyReceiver, type NotifyMessage } from '../helpers/notify.js';
import { parseServerUrl, requestJson } from '../../src/control/client.js';

const node = process.execPath;
const isReady = (m: NotifyMessage): boolean => m.field('READY') === '1';

/** The time (ms since the epoch) of drover's first log line matching `re`. */
function loggedAt(run: CliRun, re: RegExp): number {
  const line = run.output.split('\n').find((l) => re.test(l));
  const stamp = line?.match(/^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) /)?.[1];
  if (stamp === undefined) throw new Error(`no log line matching ${re}\n${run.describe()}`);
  return Date.parse(stamp);
}

test('READY=1 comes only once the last autostart program is running (after its startsecs), within 10 ms of it', async (t) => {
  const dir = makeTmpDir();
  const rx = await NotifyReceiver.start();
  const run = await startUp(
    writeConfig(
      dir,
      `[program:quick]
command = ${node} ${fixture('forever.mjs')}
startsecs = 0

[program:slow]
command = ${node} ${fixture('forever.mjs')}
startsecs = 1

[program:manual]
command = ${node} ${fixture('forever.mjs')}
autostart = false
`,
    ),
    { NOTIFY_SOCKET: rx.address },
  );
  try {
    const ready = await rx.waitForMessage(isReady, 'READY=1', { timeoutMs: 10_000 });
    // the datagram can arrive before drover's log line about it has come through its stdout pipe
    await run.waitForLine(/systemd: READY=1/);
    const slowRunning = loggedAt(run, /slow: starting → running/);
    const readyLogged = loggedAt(run, /systemd: READY=1/);
    t.diagnostic(`READY=1 sent ${readyLogged - slowRunning} ms and received ${(ready.realMs - slowRunning).toFixed(1)} ms after slow's RUNNING (log timestamps are whole ms)`);
    // never before: nothing before it said READY, and it was sent after slow became running
    assert.equal(rx.messages.indexOf(ready), rx.messages.findIndex(isReady));
    assert.ok(ready.realMs >= slowRunning, `received before slow ran\n${rx.describe()}\n${run.describe()}`);
    // sent in the same turn as slow's change (a few ms here); 50 ms leaves room for a preempted master
    assert.ok(readyLogged - slowRunning <= 50, `sent ${readyLogged - slowRunning} ms after\n${run.describe()}`);
    // reception adds the receiver's own wake-up (another process, on 2 loaded cores: it once took 11.1 ms),
    // so it is held only to a looser bound that still catches a datagram sent on a later tick
    assert.ok(ready.realMs - slowRunning <= 250, `received ${ready.realMs - slowRunning} ms after\n${rx.describe()}`);
    assert.equal(ready.pid, run.pid);
    assert.equal(ready.field('STATUS'), '2 of 3 processes running', 'manual (autostart = false) is not waited for');
    // while slow was starting, STATUS said so
    const before = rx.messages.slice(0, rx.messages.indexOf(ready)).map((m) => m.field('STATUS'));
    assert.ok(before.includes('1 of 3 processes running; slow: starting'), `${rx.describe()}`);
  } finally {
    await teardown(run, [], dir);
    await rx.stop();
  }
});

// A program an operator stopped stays stopped across down and up (remembered state): the next start-up must
// still end with READY=1, or a `systemctl restart` after any `drover stop` would time out
test('a program stopped by hand, remembered across down and up, is not waited for by READY=1; /readyz names it as stopped by hand', async () => {
  const dir = makeTmpDir();
  const conf = writeConfig(dir, `[program:web]\ncommand = ${node} ${fixture('forever.mjs')}\nstartsecs = 0\n\n[program:job]\ncommand = ${node} ${fixture('forever.mjs')}\nstartsecs = 0\n`);
  const first = await startUp(conf);
  try {
    await first.waitForCount(/: starting → running/g, 2);
    assert.equal((await runCli(['stop', '-c', conf, 'job'])).code, 0);
  } finally {
    await teardown(first, []); // the directory stays: the second drover reads what the first remembered
  }
  const rx = await NotifyReceiver.start();
  let run: CliRun | null = null;
  try {
    run = await startUp(conf, { NOTIFY_SOCKET: rx.address });
    const ready = await rx.waitForMessage(isReady, 'READY=1 with job stopped by hand', { timeoutMs: 10_000 });
    assert.equal(ready.field('STATUS'), '1 of 2 processes running');
    assert.doesNotMatch(run.output, /job: stopped → starting/, 'job stays stopped, as remembered');
    const readyz = await runCli(['status', '-c', conf, 'job']);
    assert.match(readyz.stdout, /job +stopped/);
    // /readyz stays strict (docs/decisions.md): what the config says should run does not, and it says why
    const probe = await requestJson(parseServerUrl(`unix://${join(dir, '.drover', 'drover.sock')}`, null), 'GET', '/readyz');
    assert.equal(probe.status, 503, JSON.stringify(probe.body));
    assert.deepEqual(probe.body['not_ready'], [{ name: 'job:job', state: 'stopped', reason: 'stopped by hand' }]);
  } finally {
    await rx.stop();
    if (run) await teardown(run, [], dir);
  }
});

// Review F2: under supervisor's default autorestart (unexpected) a job that exits 0 is not restarted. READY=1
// waited for it as for a server, so a job that finished before the last server was running kept drover
// from ever being ready: systemd failed the start after TimeoutStartSec, killed everything and reran the job
test('a one-shot that exits as expected under autorestart = unexpected counts as done for READY=1; /readyz stays strict', async () => {
  const dir = makeTmpDir();
  const rx = await NotifyReceiver.start();
  const conf = writeConfig(dir, `[program:job]\ncommand = /bin/sh -c 'exit 0'\nstartsecs = 0\n\n[program:srv]\ncommand = ${node} ${fixture('forever.mjs')}\nstartsecs = 1\n`);
  const run = await startUp(conf, { NOTIFY_SOCKET: rx.address });
  try {
    // the job is done before srv is running: READY=1 must still come once srv is
    await run.waitForLine(/job: running → exited \(exit status 0; expected\)/);
    assert.doesNotMatch(run.output, /srv: starting → running/, `srv was running before the job exited\n${run.describe()}`);
    const ready = await rx.waitForMessage(isReady, 'READY=1 with the job exited as expected', { timeoutMs: 10_000 });
    await run.waitForLine(/systemd: READY=1/);
    assert.ok(ready.realMs >= loggedAt(run, /srv: starting → running/), `READY=1 before srv ran\n${rx.describe()}\n${run.describe()}`);
    assert.equal(ready.field('STATUS'), '1 of 2 processes running');
    assert.doesNotMatch(run.output, /job: exited → starting/, 'an expected exit under unexpected is not restarted');
    // /readyz counts a job as ready only under autorestart = false (docs/decisions.md)
    const probe = await requestJson(parseServerUrl(`unix://${join(dir, '.drover', 'drover.sock')}`, null), 'GET', '/readyz');
    assert.equal(probe.status, 503, JSON.stringify(probe.body));
    assert.deepEqual(probe.body['not_ready'], [{ name: 'job:job', state: 'exited', reason: 'exited with status 0' }]);
  } finally {
    await teardown(run, [], dir);
    await rx.stop();
  }
});

test('a reload (SIGHUP, then drover reload) sends RELOADING=1 with MONOTONIC_USEC, then READY=1; a stop sends STOPPING=1 before any program is stopped', async () => {
  const dir = makeTmpDir();
  const rx = await NotifyReceiver.start();
  const conf = writeConfig(dir, `[program:a]\ncommand = ${node} ${fixture('forever.mjs')}\nstartsecs = 0\n\n[program:b]\ncommand = ${node} ${fixture('forever.mjs')}\nstartsecs = 0\n`);
  const run = await startUp(conf, { NOTIFY_SOCKET: rx.address });
  try {
    await rx.waitForMessage(isReady, 'READY=1');
    // the cause in STATUS is what reached drover: the signal, or the API call `drover reload` makes
    for (const [how, cause] of [['SIGHUP', 'SIGHUP'], ['drover reload', 'POST /api/update']] as const) {
      const from = rx.messages.length;
      if (how === 'SIGHUP') run.signal('SIGHUP');
      else assert.equal((await runCli(['reload', '-c', conf], { cwd: dir })).code, 0);
      const reloading = await rx.waitForMessage((m) => m.field('RELOADING') === '1', `RELOADING=1 after ${how}`, { from });
      const readyAgain = await rx.waitForMessage(isReady, `READY=1 after ${how}`, { from: rx.messages.indexOf(reloading) + 1 });
      const usec = BigInt(reloading.field('MONOTONIC_USEC') ?? '-1');
      const skewUs = reloading.monoNs / 1000n - usec;
      assert.ok(skewUs >= 0n && skewUs < 1_000_000n, `MONOTONIC_USEC ${usec} is CLOCK_MONOTONIC at sending (received at ${reloading.monoNs / 1000n})`);
      assert.equal(reloading.field('STATUS'), `reloading (${cause})`);
      assert.equal(readyAgain.field('STATUS'), '2 of 2 processes running');
    }
    run.signal('SIGTERM');
    const stopping = await rx.waitForMessage((m) => m.field('STOPPING') === '1', 'STOPPING=1');
    // sent while both programs were still there: before the first stop signal went out
    assert.equal(stopping.field('STATUS'), 'stopping: 2 of 2 processes left');
    assert.equal((await run.waitForExit(10_000)).code, 0);
    assert.equal(rx.messages.filter((m) => m.field('STOPPING') === '1').length, 1, rx.describe());
  } finally {
    await teardown(run, [], dir);
    await rx.stop();
  }
});

test('after USR2 the new master sends MAINPID= (with its own pid) and READY=1, takes the watchdog over, and the old one stays quiet', async () => {
  const dir = makeTmpDir();
  const rx = await NotifyReceiver.start();
  const run = await startUp(
    writeConfig(
      dir,
      `[socket:web]
bind = unix:${join(dir, 'web.sock')}

[program:web]
worker = ${fixture('worker-app.mjs')}
sockets = web
graceful_timeout = 5s

[program:side]
command = ${node} ${fixture('forever.mjs')}
startsecs = 0
`,
    ),
    // pings every 100 ms; WATCHDOG_PID unset: the watchdog is the first master's
    { NOTIFY_SOCKET: rx.address, WATCHDOG_USEC: '200000' },
  );
  const oldPid = run.pid;
  let newPid = 0;
  try {
    await rx.waitForMessage(isReady, 'READY=1 from the first master');
    await rx.waitForCount((m) => m.text === 'WATCHDOG=1' && m.pid === oldPid, 2, 'pings from the first master');
    const from = rx.messages.length;
    run.signal('SIGUSR2');
    const main = await rx.waitForMessage((m) => m.field('MAINPID') !== undefined, 'MAINPID=', { from, timeoutMs: 20_000 });
    newPid = Number(main.field('MAINPID'));
    assert.notEqual(newPid, oldPid);
    assert.equal(main.pid, newPid, 'sent by the new master itself (NotifyAccess=all)');
    await run.waitForExit(15_000, { drained: false });
    const ready = await rx.waitForMessage((m) => isReady(m) && m.pid === newPid, 'READY=1 from the new master', { from: rx.messages.indexOf(main) });
    assert.equal(ready.field('STATUS'), '2 of 2 processes running');
    // the new master owns the watchdog: WATCHDOG_PID was set to its pid
    assert.match(readFileSync(`/proc/${newPid}/environ`, 'utf8'), new RegExp(`(^|\\0)WATCHDOG_PID=${newPid}\\0`));
    await rx.waitForCount((m) => m.text === 'WATCHDOG=1' && m.pid === newPid, 3, 'pings from the new master', { from });
    const fromOld = rx.messages.slice(rx.messages.indexOf(main)).filter((m) => m.pid === oldPid && m.text !== 'WATCHDOG=1');
    assert.deepEqual(fromOld.map((m) => m.text), [], 'the old master says nothing after MAINPID (no STOPPING=1)');
    assert.equal(rx.messages.some((m) => m.field('STOPPING') === '1'), false, rx.describe());
  } finally {
    if (newPid > 0) {
      try {
        process.kill(newPid, 'SIGTERM');
      } catch {
        // ESRCH: already gone
      }
      await waitForCondition(() => livePids([newPid]).length === 0, 'the new master to exit', { timeoutMs: 15_000 });
    }
    await teardown(run, [], dir);
    await rx.stop();
  }
});

// A TERM to the old master while the new one starts: the old master stops it too (Reexec.shutdownBegun).
// The new master, told to stop before it took over, must claim nothing: a MAINPID= from it would hand
// systemd a pid that exits while the old master is still stopping its programs (KillMode=mixed would then
// SIGKILL them). The successor's on_starting hook holds it until the TERM has reached it.
test('a TERM during a USR2 re-exec: the new master, stopped before it took over, sends no MAINPID= or READY=1 and starts nothing', async () => {
  const dir = makeTmpDir();
  writeFileSync(
    join(dir, 'hooks.mjs'),
    `export async function on_starting() {
  if (!(process.env.LISTEN_FDNAMES ?? '').split(':').includes('drover-instance-lock')) return;
  // until the TERM the old master passes on has reached JavaScript (drover's listener runs first, in the same
  // turn, so drover holds it by then), bounded at 10 s
  await new Promise((resolve) => {
    process.once('SIGTERM', resolve);
    setTimeout(resolve, 10_000).unref();
    console.log('HOOK successor starting ' + process.pid);
  });
}
`,
  );
  const rx = await NotifyReceiver.start();
  const run = await startUp(
    writeConfig(dir, `[supervisord]\nhooks = hooks.mjs\n\n[program:slow]\ncommand = ${node} ${fixture('ignore-term.mjs')}\nstartsecs = 0\nstopwaitsecs = 2\n`),
    { NOTIFY_SOCKET: rx.address },
  );
  const oldPid = run.pid;
  let newPid = 0;
  try {
    await rx.waitForMessage(isReady, 'READY=1 from the first master');
    await run.waitForLine(/slow \| ready \d+/);
    const from = rx.messages.length;
    run.signal('SIGUSR2');
    newPid = Number((await run.waitForLine(/HOOK successor starting (\d+)/, { timeoutMs: 15_000 }))[1]);
    run.signal('SIGTERM');
    await run.waitForLine(new RegExp(`stopping the new master \\(pid ${newPid}\\) too`));
    await waitForCondition(() => livePids([newPid]).length === 0, 'the new master to exit', { timeoutMs: 15_000 });
    assert.equal((await run.waitForExit(15_000)).code, 0);
    const fromNew = rx.messages.filter((m) => m.pid === newPid);
    assert.deepEqual(fromNew.map((m) => m.text), [], `the new master sent nothing\n${rx.describe()}\n${run.describe()}`);
    assert.equal(rx.messages.some((m) => m.field('MAINPID') !== undefined), false, rx.describe());
    assert.equal(rx.messages.slice(from).some(isReady), false, rx.describe());
    // the old master still spoke for the service to the end: STOPPING=1 from it
    assert.ok(rx.messages.slice(from).some((m) => m.field('STOPPING') === '1' && m.pid === oldPid), rx.describe());
    assert.doesNotMatch(run.output, /systemd: MAINPID=/);
    assert.match(run.output, /SIGTERM came before this new master took over: it takes nothing over and starts no program/);
    assert.equal(run.count(/slow \| ready \d+/), 1, `only the first master started slow\n${run.describe()}`);
  } finally {
    if (newPid > 0 && livePids([newPid]).length > 0) process.kill(newPid, 'SIGKILL');
    await teardown(run, [], dir);
    await rx.stop();
  }
});

// gunicorn's upgrade (USR2, then QUIT to the old master) with the QUIT before the new master is ready: the old
// master stops and the new one carries on. Under systemd the old master's STOPPING=1 and exit would end the
// service (and KillMode=control-group would kill the new master with it): it names the successor with
// MAINPID= instead and says nothing more.
test('a QUIT during a USR2 re-exec: the old master sends MAINPID= of the new one and no STOPPING=1; the new one sends READY=1 once it serves', async () => {
  const dir = makeTmpDir();
  const release = join(dir, 'release');
  writeFileSync(
    join(dir, 'hooks.mjs'),
    `import { existsSync } from 'node:fs';
export async function on_starting() {
  if (!(process.env.LISTEN_FDNAMES ?? '').split(':').includes('drover-instance-lock')) return;
  console.log('HOOK successor starting ' + process.pid);
  // held until the test has seen the old master's messages, bounded at 20 s
  const end = Date.now() + 20_000;
  while (!existsSync(${JSON.stringify(release)}) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
}
`,
  );
  const rx = await NotifyReceiver.start();
  const run = await startUp(writeConfig(dir, `[supervisord]\nhooks = hooks.mjs\n\n[program:w]\ncommand = ${node} ${fixture('forever.mjs')}\nstartsecs = 0\n`), {
    NOTIFY_SOCKET: rx.address,
  });
  const oldPid = run.pid;
  let newPid = 0;
  try {
    await rx.waitForMessage(isReady, 'READY=1 from the first master');
    const from = rx.messages.length;
    run.signal('SIGUSR2');
    newPid = Number((await run.waitForLine(/HOOK successor starting (\d+)/, { timeoutMs: 15_000 }))[1]);
    run.signal('SIGQUIT');
    await run.waitForLine(new RegExp(`the new master \\(pid ${newPid}\\) carries on`));
    // (its exit: the new master holds the output pipe the test reads, so the run's end comes only with it)
    await waitForCondition(() => livePids([oldPid]).length === 0, 'the old master to exit', { timeoutMs: 15_000, describe: () => run.describe() });
    const fromOld = rx.messages.slice(from).filter((m) => m.pid === oldPid);
    assert.ok(fromOld.some((m) => m.field('MAINPID') === String(newPid)), `MAINPID=${newPid} from the old master\n${rx.describe()}`);
    assert.equal(fromOld.some((m) => m.field('STOPPING') === '1'), false, `no STOPPING=1 from the old master\n${rx.describe()}`);
    writeFileSync(release, '');
    await rx.waitForMessage((m) => m.pid === newPid && isReady(m), 'READY=1 from the new master');
    assert.ok(livePids([newPid]).length === 1, 'the new master serves');
  } finally {
    writeFileSync(release, '');
    if (newPid > 0 && livePids([newPid]).length > 0) {
      process.kill(newPid, 'SIGTERM');
      await waitForCondition(() => livePids([newPid]).length === 0, 'the new master to exit', { timeoutMs: 15_000 }).catch(() => process.kill(newPid, 'SIGKILL'));
    }
    await teardown(run, [], dir);
    await rx.stop();
  }
});

test("NOTIFY_SOCKET and WATCHDOG_* of drover's environment do not reach a program", async () => {
  const dir = makeTmpDir();
  const rx = await NotifyReceiver.start();
  const run = await startUp(
    writeConfig(dir, `[program:env]\ncommand = ${node} ${fixture('print-env.mjs')}\nstartsecs = 0\nautorestart = false\n`),
    { NOTIFY_SOCKET: rx.address, WATCHDOG_USEC: '30000000', WATCHDOG_PID: '1' },
  );
  try {
    const m = await run.waitForLine(/env \| ENV (.*)/);
    const env = (JSON.parse(m[1] as string) as { env: Record<string, string> }).env;
    assert.equal(env['DROVER_TEST_MARK'], run.mark, 'the rest of drover\'s environment is inherited');
    const leaked = ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID'].filter((k) => k in env);
    assert.deepEqual(leaked, [], `the program inherited ${leaked.join(', ')}`);
  } finally {
    await teardown(run, [], dir);
    await rx.stop();
  }
});
