// Issue 15, ready checks: a program with `ready =` stays STARTING (for drover's status and for supervisor's
// XML-RPC) until its check passes, whatever startsecs says — a tcp listener that appears late, an http
// answer with the status asked for, a command that exits 0, a line of output, READY=1 on its own
// NOTIFY_SOCKET (from systemd-notify run by the program, from Python's socket, and not from a stranger) —
// and a check that does not pass within ready_timeout is a failed start: backoff, startretries, FATAL.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { assertStaysFor, fixture, livePids, makeTmpDir, runCli, startUp, teardown, waitForCondition, writeConfig, type CliRun } from '../helpers/drover.js';
import { Daemon, show } from '../helpers/daemon.js';
import { freePort } from '../helpers/web.js';
import { rpcValue } from '../helpers/xmlrpc.js';

const node = process.execPath;

/** A process as `drover status --json` shows it. */
interface Status {
  readonly name: string;
  readonly state: string;
  readonly pid: number | null;
  readonly restarts: number;
  readonly ready: string | null;
  readonly waiting: string | null;
  readonly health: string | null;
}

async function statusOf(file: string, name: string): Promise<Status> {
  const r = await runCli(['status', '--json', '-c', file]);
  const body = JSON.parse(r.stdout) as { processes: Status[] };
  const p = body.processes.find((x) => x.name === name);
  if (!p) throw new Error(`no ${name} in status\n${r.output}`);
  return p;
}

async function statename(dir: string, name: string): Promise<string> {
  const info = (await rpcValue(join(dir, '.drover', 'drover.sock'), 'supervisor.getProcessInfo', [name])) as Record<string, unknown>;
  return String(info['statename']);
}

/** Milliseconds since the epoch of drover's log line matching `re` (its ISO timestamp). */
function logTime(run: CliRun, re: RegExp): number {
  const line = run.output.split('\n').find((l) => re.test(l));
  if (!line) throw new Error(`no line matching ${re}\n${run.describe()}`);
  return Date.parse(line.slice(0, 24));
}

test('tcp: STARTING (XML-RPC too) until a late listener accepts; startsecs does not count; noticed within ready_interval', async () => {
  const dir = makeTmpDir();
  const port = await freePort();
  const go = join(dir, 'go');
  const file = writeConfig(
    dir,
    `[program:db]
command = ${node} ${fixture('serve.mjs')} tcp ${port} file:${go}
ready = tcp://127.0.0.1:${port}
ready_interval = 100ms
startsecs = 0
`,
  );
  const run = await startUp(file);
  try {
    await run.waitForLine(/db \| started/);
    // startsecs = 0 would make it RUNNING at once: the check replaces it
    assert.equal(await statename(dir, 'db'), 'STARTING', run.describe());
    assert.equal((await statusOf(file, 'db:db')).state, 'starting');
    writeFileSync(go, '');
    const listening = await run.waitForLine(/db \| listening \d+ \d+ (\d+)/);
    await run.waitForLine(/db: starting → running \(tcp:\/\/127\.0\.0\.1:\d+: accepted a connection\)/);
    const lagMs = logTime(run, /db: starting → running/) - Number(listening[1]);
    // ready_interval (100 ms) plus scheduling on a shared, loaded 2-core machine; the default interval is 1 s
    assert.ok(lagMs <= 100 + 400, `noticed ${lagMs} ms after the listener appeared\n${run.describe()}`);
    assert.equal(await statename(dir, 'db'), 'RUNNING');
  } finally {
    await teardown(run, [], dir);
  }
});

test('http: the status asked for passes; another status never does, and ready_timeout makes it FATAL', async () => {
  const dir = makeTmpDir();
  const [good, bad] = [await freePort(), await freePort()];
  const file = writeConfig(
    dir,
    `[program:api]
command = ${node} ${fixture('serve.mjs')} http ${good} 300 204
ready = http://127.0.0.1:${good}/ready status=204
ready_interval = 50ms

[program:wrong]
command = ${node} ${fixture('serve.mjs')} http ${bad} 0 200
ready = http://127.0.0.1:${bad}/ status=204
ready_interval = 50ms
ready_timeout = 800ms
startretries = 0
`,
  );
  const run = await startUp(file);
  try {
    await run.waitForLine(/api: starting → running \(http:\/\/127\.0\.0\.1:\d+\/ready status=204: HTTP 204\)/);
    await run.waitForLine(/wrong: starting → stopping \(not ready within ready_timeout \(0\.8s\): a failed start\)/);
    await run.waitForLine(/wrong: last ready check: GET http:\/\/127\.0\.0\.1:\d+\/: HTTP 200, expected 204/);
    await run.waitForLine(/wrong: backoff → fatal/);
    const s = await statusOf(file, 'wrong:wrong');
    assert.equal(s.state, 'fatal');
  } finally {
    await teardown(run, [], dir);
  }
});

test('exec: STARTING until the command exits 0; it runs in the program\'s directory with its environment', async () => {
  const dir = makeTmpDir();
  const file = writeConfig(
    dir,
    `[program:job]
command = ${node} ${fixture('forever.mjs')}
directory = ${dir}
environment = FLAG=go-flag
ready = exec:/bin/sh -c 'test -f "$FLAG"'
ready_interval = 50ms
`,
  );
  const run = await startUp(file);
  try {
    await run.waitForLine(/job \| ready \d+/);
    await assertStaysFor(300, () => !run.output.includes('job: starting → running'), 'job to stay STARTING while the command fails');
    assert.equal((await statusOf(file, 'job:job')).state, 'starting');
    writeFileSync(join(dir, 'go-flag'), '');
    await run.waitForLine(/job: starting → running \(exec:\/bin\/sh -c 'test -f "\$FLAG"': exit 0\)/);
  } finally {
    await teardown(run, [], dir);
  }
});

test('log: RUNNING at the first line that contains the text, not before', async () => {
  const dir = makeTmpDir();
  const file = writeConfig(
    dir,
    `[program:app]
command = /bin/sh -c 'echo warming up; while [ ! -e go ]; do sleep 0.02; done; echo "server is up on :80"; exec sleep 1000'
directory = ${dir}
ready = log:server is up
redirect_stderr = true
stopasgroup = true
`,
  );
  const run = await startUp(file);
  try {
    await run.waitForLine(/app \| warming up/);
    assert.equal((await statusOf(file, 'app:app')).state, 'starting');
    writeFileSync(join(dir, 'go'), '');
    await run.waitForLine(/app: starting → running \(a line contains "server is up"\)/);
    const out = run.output;
    assert.ok(out.indexOf('app | server is up') < out.indexOf('app: starting → running'), out);
  } finally {
    await teardown(run, [], dir);
  }
});

test('notify: systemd-notify --ready run by the program makes it RUNNING; its NOTIFY_SOCKET is its own', async () => {
  const dir = makeTmpDir();
  const file = writeConfig(
    dir,
    `[program:daemon]
command = /bin/sh -c 'echo "socket $NOTIFY_SOCKET"; while [ ! -e go ]; do sleep 0.02; done; systemd-notify --ready --status=serving; echo notified; exec sleep 1000'
directory = ${dir}
ready = notify
ready_interval = 50ms
stopasgroup = true

[program:nobody]
command = /bin/sh -c 'sleep 0.3; systemd-notify --ready; exec sleep 1000'
user = nobody
ready = notify
ready_interval = 50ms
stopasgroup = true

[program:other]
command = /bin/sh -c 'echo "socket $NOTIFY_SOCKET"; exec sleep 1000'
ready = notify
ready_timeout = 30s
`,
  );
  const run = await startUp(file);
  try {
    const mine = (await run.waitForLine(/daemon \| socket (@drover-notify-\S+)/))[1];
    const theirs = (await run.waitForLine(/other \| socket (@drover-notify-\S+)/))[1];
    assert.notEqual(mine, theirs, 'each process has its own socket');
    assert.equal((await statusOf(file, 'daemon:daemon')).state, 'starting');
    writeFileSync(join(dir, 'go'), '');
    await run.waitForLine(/daemon: starting → running \(READY=1 from pid \d+ \(STATUS=serving\)\)/);
    // systemd-notify waits until its message has been read (BARRIER=1): it returns, and the shell goes on
    await run.waitForLine(/daemon \| notified/);
    // as root, systemd-notify sends with its caller's pid; as another user it cannot, and sends with its
    // own: that pid is in the program's session, so it counts (systemd's NotifyAccess=all, by session)
    const sender = Number((await run.waitForLine(/nobody: starting → running \(READY=1 from pid (\d+)\)/))[1]);
    const main = Number((run.output.match(/spawned: nobody with pid (\d+)/) ?? [])[1]);
    assert.notEqual(sender, main, `systemd-notify as nobody sent from its own pid\n${run.describe()}`);
    assert.equal((await statusOf(file, 'other:other')).state, 'starting');
  } finally {
    await teardown(run, [], dir);
  }
});

test('notify: READY=1 from a process outside the program is ignored; from the program (Python socket) it counts', async () => {
  const dir = makeTmpDir();
  const go = join(dir, 'go');
  const file = writeConfig(
    dir,
    `[program:py]
command = /usr/bin/python3 ${fixture('notify-ready.py')} ${go}
ready = notify
ready_interval = 50ms
`,
  );
  const run = await startUp(file);
  try {
    const address = (await run.waitForLine(/py \| notify socket: (@drover-notify-\S+)/))[1] as string;
    // the test is not a process of the program: it knows the address (anyone can read /proc/net/unix) but
    // its pid is not in the program's session
    const stranger = spawnSync('/usr/bin/python3', ['-c', `import socket; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"READY=1", "\\0${address.slice(1)}")`]);
    assert.equal(stranger.status, 0, String(stranger.stderr));
    await run.waitForLine(/py: NOTIFY_SOCKET: ignored READY from pid \d+, which (is not a process of the program|had exited before drover read it)/);
    await assertStaysFor(300, () => !run.output.includes('py: starting → running'), 'py to stay STARTING');
    writeFileSync(go, '');
    await run.waitForLine(/py \| sent READY=1/);
    await run.waitForLine(/py: starting → running \(READY=1 from pid \d+ \(STATUS=python says ready\)\)/);
  } finally {
    await teardown(run, [], dir);
  }
});

test('ready_timeout: each miss is a failed start — stopped, backoff, retried, then FATAL after startretries', async () => {
  const dir = makeTmpDir();
  const port = await freePort();
  const file = writeConfig(
    dir,
    `[program:never]
command = ${node} ${fixture('forever.mjs')}
ready = tcp://127.0.0.1:${port}
ready_interval = 50ms
ready_timeout = 400ms
startretries = 1
`,
  );
  const run = await startUp(file);
  try {
    await run.waitForLine(/never: backoff → fatal \(too many failed starts/, { timeoutMs: 10_000 });
    const moves = [...run.output.matchAll(/never: (\w+) → (\w+)/g)].map((m) => `${m[1]}→${m[2]}`);
    assert.deepEqual(
      moves,
      ['stopped→starting', 'starting→stopping', 'stopping→backoff', 'backoff→starting', 'starting→stopping', 'stopping→backoff', 'backoff→fatal'],
      run.describe(),
    );
    assert.match(run.output, /never: last ready check: connect to 127\.0\.0\.1:\d+: ECONNREFUSED/);
    // each timed-out process was stopped with its stopsignal: it says so (and exits 0), or, when it was
    // TERMed before its handler was in place (Node's start on a loaded machine can outlast the 400 ms),
    // TERM's default action ended it; a SIGKILL or any other end fails
    const stops = [...run.output.matchAll(/never: stopping → backoff \(not ready within ready_timeout \(0\.4s\); (exit status 0|terminated by SIGTERM)\)/g)];
    assert.equal(stops.length, 2, `each timed-out process was stopped with its stopsignal\n${run.describe()}`);
    const handled = stops.filter((m) => m[1] === 'exit status 0').length;
    await run.waitForCount(/never \| got TERM/, handled);
    const info = (await rpcValue(join(dir, '.drover', 'drover.sock'), 'supervisor.getProcessInfo', ['never'])) as Record<string, unknown>;
    assert.equal(info['statename'], 'FATAL');
    assert.match(String(info['spawnerr']), /not ready within ready_timeout \(0\.4s\)/);
  } finally {
    await teardown(run, [], dir);
  }
});

// A ready check says when a program may be used; startsecs still says how long it must stay up for its start
// to count. A program that crashed just after its check passed was restarted as fast as it crashed (45 starts
// in 3 s), never BACKOFF, never FATAL.
test('ready passed, then an exit before startsecs: a failed start, so backoff and then FATAL, not a restart loop', async () => {
  const dir = makeTmpDir();
  const file = writeConfig(
    dir,
    `[program:crashy]
command = /bin/sh -c 'sleep 0.05; exit 1'
ready = exec:true
ready_interval = 10ms
startretries = 1
`,
  );
  const run = await startUp(file);
  try {
    await run.waitForLine(/crashy: running → backoff \(exited too quickly \(exit status 1\): its ready check passed, but it did not stay up startsecs \(1s\)\)/);
    await run.waitForLine(/crashy: backoff → fatal/, { timeoutMs: 10_000 });
    assert.equal(run.count(/spawned: crashy with pid/g), 2, `1 + startretries starts, no more\n${run.describe()}`);
  } finally {
    await teardown(run, [], dir);
  }
});

// An audit (seventeenth session): `up -d --wait` that ran out of time exited 0, so `up -d --wait && run-tests`
// went on against a program that was not ready. As `docker compose up --wait`, it is a failure now.
// A program FATAL before `up` began to follow the programs was named with an empty reason, "fatal ()".
test('up -d --wait --wait-timeout: a program not ready in time is exit 1, named; drover runs on', async () => {
  const d = new Daemon(`[program:slow]
command = sleep 1000
ready = log:never printed

[program:bad]
command = /bin/sh -c 'exit 3'
startsecs = 1
startretries = 0
`);
  try {
    const r = await d.cli(['up', '-d', '--wait', '--wait-timeout', '1.5']);
    assert.equal(r.code, 1, show(['up', '-d', '--wait', '--wait-timeout', '1.5'], r));
    assert.match(r.stdout, /still starting after 1\.5 s: slow/, show(['up'], r));
    assert.match(r.stderr, /drover up: bad failed to start: fatal \(Exited too quickly \(exit status 3\)\)$/m, show(['up'], r));
    assert.match(r.stderr, /1 process\(es\) failed to start/, show(['up'], r));
    const st = await d.cli(['status', 'slow']);
    assert.match(st.stdout, /^slow +starting/m, `drover runs on, slow is starting\n${show(['status', 'slow'], st)}`);
    const bad = await d.cli(['up', '-d', '--wait-timeout', 'soon']);
    assert.equal(bad.code, 2, show(['up', '-d', '--wait-timeout', 'soon'], bad));
  } finally {
    assert.deepEqual(await d.teardown(), []);
  }
});

// A review: `up -d --wait` exited 0 when drover itself stopped during the wait (an essential program that
// ended stops it: the event stream ended, and "stopped" and "exited" did not count as failures). As
// `docker compose up --wait` does for a container that exits, it is a failure, with how drover ended.
test('up -d --wait: drover stopping during the wait (an essential program ended) is exit 1, with its exit status', async () => {
  const d = new Daemon(`[program:ess]
command = /bin/sh -c 'sleep 1; exit 3'
essential = true
autorestart = false
startsecs = 0

[program:slow]
command = sleep 1000
startsecs = 5
`);
  try {
    const r = await d.cli(['up', '-d', '--wait']);
    const daemonPid = Number(/drover started: pid (\d+)/.exec(r.stdout)?.[1] ?? 0);
    d.seen.add(daemonPid);
    assert.equal(r.code, 1, show(['up', '-d', '--wait'], r));
    assert.match(r.stderr, /^drover up: ess exited with a status not in its exitcodes \(exit status 3; not expected\)$/m, show(['up'], r));
    assert.match(r.stderr, new RegExp(`^drover up: drover \\(pid ${daemonPid}\\) exited with status 3 before every program was up`, 'm'), show(['up'], r));
    assert.doesNotMatch(r.stderr, /drover is running/, show(['up'], r));
    assert.deepEqual(livePids([daemonPid]), [], 'drover has exited');
  } finally {
    assert.deepEqual(await d.teardown(), []);
  }
});

// The same review: a one-shot job that exited with a status it does not expect ended `--wait` with 0 (while
// `drover status` says 3). An expected exit (one of its exitcodes) is success, as compose's
// service_completed_successfully; an unexpected one is a failure, named, with drover left running.
test('up -d --wait: a job that exits with a status not in its exitcodes is exit 1; an expected exit is not a failure', async () => {
  const d = new Daemon(`[program:done]
command = /bin/sh -c 'exit 2'
exitcodes = 0,2
autorestart = false
startsecs = 0

[program:bad]
command = /bin/sh -c 'exit 1'
autorestart = false
startsecs = 0

[program:web]
command = sleep 1000
startsecs = 1
`);
  try {
    const r = await d.cli(['up', '-d', '--wait']);
    d.seen.add(Number(/drover started: pid (\d+)/.exec(r.stdout)?.[1] ?? 0));
    assert.equal(r.code, 1, show(['up', '-d', '--wait'], r));
    assert.match(r.stderr, /^drover up: bad exited with a status not in its exitcodes \(.*1.*\)$/m, show(['up'], r));
    assert.match(r.stderr, /drover is running, but 1 process\(es\) failed to start or exited unexpectedly/, show(['up'], r));
    assert.doesNotMatch(r.stderr, /\bdone\b/, `the expected exit is not a failure\n${show(['up'], r)}`);
    const st = await d.processes();
    assert.equal(st.get('web:web')?.state, 'running', 'drover runs on');
  } finally {
    assert.deepEqual(await d.teardown(), []);
  }
  // with only the expected exit, the wait succeeds
  const good = new Daemon(`[program:done]
command = /bin/sh -c 'exit 2'
exitcodes = 0,2
autorestart = false
startsecs = 0

[program:web]
command = sleep 1000
startsecs = 1
`);
  try {
    const r = await good.cli(['up', '-d', '--wait']);
    good.seen.add(Number(/drover started: pid (\d+)/.exec(r.stdout)?.[1] ?? 0));
    assert.equal(r.code, 0, show(['up', '-d', '--wait'], r));
    assert.match(r.stdout, /1 running, 1 exited/, show(['up'], r));
  } finally {
    assert.deepEqual(await good.teardown(), []);
  }
});

// An audit (seventeenth session): the ready_timeout stop signalled the program's pid only, so what it had
// forked lived on, passed the next attempt's check in its place, and outlived drover. A failed start now
// ends its whole process group. And a stop by hand that leaves its group's processes running says so.
test('ready_timeout ends the whole process group of the failed start; a stop that leaves group members running warns', async () => {
  const dir = makeTmpDir();
  const port = await freePort();
  const run = await startUp(
    writeConfig(
      dir,
      `[program:api]
command = /bin/sh -c 'sleep 1000 & echo child $!; wait'
ready = tcp://127.0.0.1:${port}
ready_timeout = 1s
startretries = 0

[program:stubborn]
command = /bin/sh -c 'trap "" TERM; sleep 1001 & echo child $!; wait'
startsecs = 0
stopwaitsecs = 1
`,
    ),
  );
  const pids: number[] = [];
  try {
    const child = Number((await run.waitForLine(/api \| child (\d+)/))[1]);
    pids.push(child);
    await run.waitForLine(/api: backoff → fatal|api: starting → fatal|api: .* → fatal/, { timeoutMs: 15_000 });
    await waitForCondition(() => livePids([child]).length === 0, 'the failed start\'s child to be gone', { timeoutMs: 10_000, describe: () => run.describe() });
    const left = Number((await run.waitForLine(/stubborn \| child (\d+)/))[1]);
    pids.push(left);
    const stopped = await runCli(['stop', 'stubborn', '-c', join(dir, 'supervisord.conf')]);
    assert.equal(stopped.code, 0, stopped.output);
    await run.waitForLine(/WARN stubborn: stopped, but processes of its group still run \(its stop signal went to pid \d+ only\): set stopasgroup = true/, { timeoutMs: 10_000 });
  } finally {
    await teardown(run, pids, dir);
  }
});
