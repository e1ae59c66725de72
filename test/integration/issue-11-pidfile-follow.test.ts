// Issue 11, finding 6: the pid in a program's pidfile is followed (and later signalled, with its process
// group) only when it descends from the launcher and, for a `user=` program, runs as that user. Before,
// a launcher could name any newer process, root's included, and `drover stop` killed it.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess, execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fixture, livePids, makeTmpDir, procState, runCli, startUp, teardown, waitForCondition, writeConfig, type CliRun } from '../helpers/drover.js';
import { canCreateUsers, createTestUser, type TestUser } from '../helpers/users.js';

const node = process.execPath;
let user: TestUser | null = null;
/** a process started before drover (as sshd or cron would be) that starts other processes on request */
let spawner: ChildProcess | null = null;
/** processes the spawner started, killed at the end */
const victims: number[] = [];

// Each victim leads its own process group (an unfixed drover signals the followed pid's group, which must
// not be the test runner's). An orphan is started through a shell that exits at once, so init (or a
// subreaper above the test) adopts it.
const SPAWNER = `
const { spawn, execFileSync } = require('node:child_process');
process.on('message', (m) => {
  const as = m.uid === null ? [] : ['setpriv', '--reuid', String(m.uid), '--regid', String(m.gid), '--init-groups', '--'];
  if (m.orphan) {
    const out = execFileSync(as[0] ?? '/bin/sh', [...as.slice(1), ...(as.length ? ['/bin/sh'] : []), '-c', 'setsid sleep 1000 >/dev/null 2>&1 & echo $!'], { encoding: 'utf8' });
    process.send({ pid: Number(out.trim()) });
    return;
  }
  const argv = [...as, 'sleep', '1000'];
  const c = spawn(argv[0], argv.slice(1), { stdio: 'ignore', detached: true });
  process.send({ pid: c.pid });
});
process.send({ ready: true });
`;

before(async () => {
  if (canCreateUsers()) user = createTestUser('drvd6');
  const s = spawn(node, ['-e', SPAWNER], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], detached: true });
  spawner = s;
  await new Promise((resolve) => s.once('message', resolve));
});

after(async () => {
  for (const pid of victims) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // ESRCH: already gone (killed by the unfixed drover, which is what the tests look for)
    }
  }
  spawner?.kill('SIGKILL');
  user?.remove();
});

/** Has the spawner start `sleep 1000` (as `as`, or root; its child, or an orphan) and returns its pid. */
function startVictim(as: TestUser | null, orphan: boolean): Promise<number> {
  const s = spawner as ChildProcess;
  return new Promise((resolve) => {
    s.once('message', (m: { pid: number }) => {
      victims.push(m.pid);
      resolve(m.pid);
    });
    s.send(as ? { uid: as.uid, gid: as.gid, orphan } : { uid: null, orphan });
  });
}

/** Live and not a zombie (the victims do not carry drover's test mark, so livePids cannot see them). */
function isAlive(pid: number): boolean {
  const state = procState(pid);
  return state !== null && state !== 'Z';
}

function uidOf(pid: number): number {
  return Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
}

/**
 * A temp dir the user can reach; `run/` for the pidfile belongs to the user (who therefore writes the
 * pidfile); a launcher script that says it is ready, reads a pid from a fifo, writes it to the pidfile
 * and exits 0 as a daemonizing program does.
 */
function setup(u: TestUser | null): { base: string; pidfile: string; fifo: string; launcher: string } {
  const base = makeTmpDir('drover-follow-');
  chmodSync(base, 0o755);
  const run = join(base, 'run');
  mkdirSync(run, { mode: 0o755 });
  if (u) chownSync(run, u.uid, u.gid);
  const fifo = join(base, 'fifo');
  execFileSync('mkfifo', ['-m', '0644', fifo]);
  const launcher = join(base, 'launcher.sh');
  writeFileSync(launcher, 'echo launcher-ready\nread -r pid < "$1"\necho "$pid" > "$2"\nexit 0\n');
  return { base, pidfile: join(run, 'app.pid'), fifo, launcher };
}

function config(command: string, pidfile: string, u: TestUser | null): string {
  return `[program:app]
command = ${command}
${u ? `user = ${u.name}\n` : ''}pidfile = ${pidfile}
startsecs = 0
autorestart = false
stopasgroup = true
`;
}

/** Waits for drover to follow a pid or to refuse the one in the pidfile; returns which. */
async function outcome(run: CliRun): Promise<{ followed: number | null; refused: string | null }> {
  const m = await run.waitForLine(/app: following pid (\d+)|app: launcher exited; not following the pid in \S+: (.*)/, { timeoutMs: 10_000 });
  return { followed: m[1] !== undefined ? Number(m[1]) : null, refused: m[2] ?? null };
}

/** The launcher names `victim` in the pidfile; drover must refuse it, and stopping drover must spare it. */
async function expectRefused(u: TestUser | null, victim: { as: TestUser | null; orphan: boolean }, reason: RegExp): Promise<void> {
  const s = setup(u);
  let run: CliRun | null = null;
  try {
    run = await startUp(writeConfig(s.base, config(`/bin/sh ${s.launcher} ${s.fifo} ${s.pidfile}`, s.pidfile, u)));
    await run.waitForLine(/app \| launcher-ready/);
    // started after the launcher, as the "newer process" of the finding
    const pid = await startVictim(victim.as, victim.orphan);
    await writeFile(s.fifo, `${pid}\n`);
    const o = await outcome(run);
    assert.equal(o.followed, null, `drover followed pid ${String(o.followed)} (uid ${o.followed ? uidOf(o.followed) : '?'})\n${run.describe()}`);
    assert.match(o.refused ?? '', reason, run.describe());
    assert.match(o.refused ?? '', new RegExp(`\\b${pid}\\b`));
    run.signal('SIGTERM');
    assert.equal((await run.waitForExit(10_000)).code, 0, run.describe());
    assert.equal(isAlive(pid), true, `stopping drover killed pid ${pid}, which it must never have followed`);
  } finally {
    if (run) assert.deepEqual(await teardown(run, [], s.base), []);
  }
}

test('user= program: a pidfile naming a newer root process is not followed, and stopping drover spares that process', async (t) => {
  if (!user) return t.skip('needs root and useradd to create a throw-away user');
  // an orphan, as a daemon is: only its uid tells it apart
  await expectRefused(user, { as: null, orphan: true }, /runs as uid 0\/0\/0\/0, not as the program's user \(uid \d+\)/);
});

test("user= program: a pidfile naming another of the user's processes, not started by the launcher, is not followed", async (t) => {
  if (!user) return t.skip('needs root and useradd to create a throw-away user');
  await expectRefused(user, { as: user, orphan: false }, /does not descend from the launcher \(pid \d+\): it was started by pid \d+ \([^)]*\), which is older than the launcher/);
});

test('program without user=: a pidfile naming a newer root process started elsewhere is not followed', async () => {
  await expectRefused(null, { as: null, orphan: false }, /does not descend from the launcher \(pid \d+\): it was started by pid \d+ \([^)]*\)/);
});

test('user= program: a daemon forked by the launcher, running as the user, is followed and stopped', async (t) => {
  const u = user;
  if (!u) return t.skip('needs root and useradd to create a throw-away user');
  const s = setup(u);
  let run: CliRun | null = null;
  const daemons: number[] = [];
  try {
    run = await startUp(writeConfig(s.base, config(`${node} ${fixture('daemonize.mjs')} ${s.pidfile}`, s.pidfile, u)));
    const o = await outcome(run);
    assert.equal(o.refused, null, run.describe());
    const daemon = o.followed as number;
    daemons.push(daemon);
    assert.equal(uidOf(daemon), u.uid);
    run.signal('SIGTERM');
    assert.equal((await run.waitForExit(10_000)).code, 0, run.describe());
    await waitForCondition(() => livePids(daemons).length === 0, 'the followed daemon to be stopped', { describe: () => run?.describe() ?? '' });
  } finally {
    if (run) assert.deepEqual(await teardown(run, daemons, s.base), []);
  }
});

test('user= program: a double-forked daemon (new session, intermediate gone) is followed', async (t) => {
  const u = user;
  if (!u) return t.skip('needs root and useradd to create a throw-away user');
  const s = setup(u);
  let run: CliRun | null = null;
  const daemons: number[] = [];
  try {
    // the classic daemon(3) shape: a child leaves the session (setsid), forks the daemon and exits
    const script = join(s.base, 'double-fork.sh');
    writeFileSync(script, `setsid /bin/sh -c 'sleep 1000 & echo $! > "$1"' sh "$1" &\nexit 0\n`);
    run = await startUp(writeConfig(s.base, config(`/bin/sh ${script} ${s.pidfile}`, s.pidfile, u)));
    const o = await outcome(run);
    assert.equal(o.refused, null, run.describe());
    daemons.push(o.followed as number);
    run.signal('SIGTERM');
    assert.equal((await run.waitForExit(10_000)).code, 0, run.describe());
    await waitForCondition(() => livePids(daemons).length === 0, 'the followed daemon to be stopped', { describe: () => run?.describe() ?? '' });
  } finally {
    if (run) assert.deepEqual(await teardown(run, daemons, s.base), []);
  }
});

/**
 * A self-daemonizing program whose daemon writes its pidfile only when the test says so (a line on `fifo`),
 * after drover has seen the launcher exit: `run` is `launcher.sh`, the daemon `daemon.sh` (its own session,
 * a `sleep` in its group, `TERM` written to `marker` when it gets SIGTERM).
 */
function slowDaemon(): { base: string; pidfile: string; fifo: string; marker: string; launcher: string } {
  const s = setup(null);
  const marker = join(s.base, 'got-signal');
  const daemon = join(s.base, 'daemon.sh');
  // its pid goes to `marker.pid` at once, so a failing test can end it (and its group) while it waits
  writeFileSync(daemon, `echo $$ > "$3.pid"\ntrap 'echo TERM > "$3"; exit 0' TERM\nread -r go < "$1"\necho $$ > "$2"\nsleep 1000 &\nwait\n`);
  writeFileSync(s.launcher, `setsid /bin/sh ${daemon} "$@" </dev/null >/dev/null 2>&1 &\nexit 0\n`);
  return { ...s, marker };
}

test('a stop asked for while the pidfile is awaited reaches the daemon with its stop signal once the pidfile names it', async () => {
  const s = slowDaemon();
  let run: CliRun | null = null;
  const daemons: number[] = [];
  try {
    // startsecs: a wait for the pidfile long enough for a loaded machine; stopwaitsecs: the SIGKILL an
    // unfixed drover ends the stop with comes within the test's wait
    const conf = `[program:app]\ncommand = /bin/sh ${s.launcher} ${s.fifo} ${s.pidfile} ${s.marker}\npidfile = ${s.pidfile}\nstartsecs = 10\nstopwaitsecs = 4\nstopasgroup = true\nautorestart = false\n`;
    const file = writeConfig(s.base, conf);
    run = await startUp(file);
    await run.waitForLine(/app: launcher exited; waiting up to 10 s for its pidfile/);
    // nothing to signal yet: not the launcher's reaped pid (whoever has it now)
    const early = await runCli(['signal', 'USR1', '-c', file, 'app']);
    assert.equal(early.code, 1, early.output);
    assert.match(early.output, /app is starting/);
    run.signal('SIGTERM');
    await run.waitForLine(/app: starting → stopping/);
    await writeFile(s.fifo, 'go\n');
    daemons.push(Number((await run.waitForLine(/app: following pid (\d+)/))[1]));
    assert.equal((await run.waitForExit(10_000)).code, 0, run.describe());
    const got = existsSync(s.marker) ? readFileSync(s.marker, 'utf8') : '(nothing)';
    assert.equal(got, 'TERM\n', `the daemon never got its stop signal\n${run.describe()}`);
    assert.doesNotMatch(run.output, /SIGKILL/, run.describe());
    assert.match(run.output, /app: SIGTERM to pid \d+ and its group: asked for while its pidfile was awaited/, run.describe());
  } finally {
    // a test failing before drover followed the daemon: it still waits on the fifo, its group with it
    const early = existsSync(`${s.marker}.pid`) ? Number(readFileSync(`${s.marker}.pid`, 'utf8')) : 0;
    if (early > 0 && !daemons.includes(early)) {
      daemons.push(early);
      if (livePids([early]).length > 0) process.kill(-early, 'SIGKILL');
    }
    if (run) assert.deepEqual(await teardown(run, daemons, s.base), []);
  }
});

test('killasgroup: a launcher whose pidfile never names a process has what it left in its group killed', async () => {
  const s = setup(null);
  const left = join(s.base, 'left.pid');
  let run: CliRun | null = null;
  const pids: number[] = [];
  try {
    // the launcher leaves a worker in its group and exits 0; nothing ever writes the pidfile
    writeFileSync(s.launcher, 'sleep 1000 &\necho $! > "$1"\nexit 0\n');
    const conf = `[program:app]\ncommand = /bin/sh ${s.launcher} ${left}\npidfile = ${s.pidfile}\nstartsecs = 0\nautorestart = false\nkillasgroup = true\n`;
    run = await startUp(writeConfig(s.base, conf));
    await run.waitForLine(/app: launcher exited but pidfile \S+ names no live process/, { timeoutMs: 10_000 });
    const worker = Number(readFileSync(left, 'utf8'));
    pids.push(worker);
    await run.waitForLine(new RegExp(`app: killing 1 process\\(es\\) left behind in its group: ${worker}\\b`));
    const r = run;
    await waitForCondition(() => livePids([worker]).length === 0, `the launcher's worker ${worker} to be killed`, { describe: () => r.describe() });
  } finally {
    if (run) assert.deepEqual(await teardown(run, pids, s.base), []);
  }
});

/**
 * A launcher whose daemon (bash, leading its own session and group) starts a worker in its group, then
 * writes the pidfile; drover is started with `options` and has followed the daemon when this resolves.
 */
async function groupDaemon(s: { base: string; pidfile: string; launcher: string }, options: string): Promise<{ run: CliRun; daemon: number; worker: number }> {
  const worker = join(s.base, 'worker.pid');
  writeFileSync(s.launcher, `setsid bash -c 'sleep 1000 & echo $! > "$2"; echo $$ > "$1"; wait' bash "$1" "$2" </dev/null >/dev/null 2>&1 &\nexit 0\n`);
  const conf = `[program:app]\ncommand = /bin/sh ${s.launcher} ${s.pidfile} ${worker}\npidfile = ${s.pidfile}\nstartsecs = 0\nautorestart = false\n${options}`;
  const run = await startUp(writeConfig(s.base, conf));
  let pids: readonly [number, number] = [0, 0];
  try {
    const daemon = Number((await run.waitForLine(/app: following pid (\d+)/))[1]);
    pids = [daemon, Number(readFileSync(worker, 'utf8'))];
    // both up and carrying this run's mark (a process in the middle of its exec may show neither for a moment)
    const want = pids;
    await waitForCondition(() => livePids(want, run.mark).length === 2, `the daemon and its worker (${want.join(', ')}) to run`, { describe: () => run.describe() });
  } catch (err) {
    // the caller never gets the run: it is torn down here, or it would keep the test file from ending
    await teardown(run, pids.filter((p) => p > 0), s.base);
    throw err;
  }
  return { run, daemon: pids[0], worker: pids[1] };
}

test('killasgroup: what a followed daemon leaves in its group when it dies is killed, as for a spawned program', async () => {
  const s = setup(null);
  let run: CliRun | null = null;
  const pids: number[] = [];
  try {
    const g = await groupDaemon(s, 'killasgroup = true\n');
    run = g.run;
    const { daemon, worker: workerPid } = g;
    pids.push(daemon, workerPid);
    process.kill(daemon, 'SIGKILL');
    await run.waitForLine(new RegExp(`app: killing 1 process\\(es\\) left behind in its group: ${workerPid}\\b`));
    const r = run;
    await waitForCondition(() => livePids([workerPid]).length === 0, `the daemon's worker ${workerPid} to be killed`, { describe: () => r.describe() });
  } finally {
    if (run) assert.deepEqual(await teardown(run, pids, s.base), []);
  }
});

test('a followed daemon stopped without stopasgroup: drover says that processes of its group still run', async () => {
  const s = setup(null);
  let run: CliRun | null = null;
  const pids: number[] = [];
  try {
    const g = await groupDaemon(s, '');
    run = g.run;
    pids.push(g.daemon, g.worker);
    run.signal('SIGTERM');
    await run.waitForLine(new RegExp(`app: stopped, but processes of its group still run \\(its stop signal went to pid ${g.daemon} only\\)`));
    assert.equal((await run.waitForExit(10_000)).code, 0, run.describe());
    // left running, as supervisord leaves them: the test ends it
    assert.deepEqual(livePids([g.worker], run.mark), [g.worker], run.describe());
    process.kill(g.worker, 'SIGKILL');
    const r = run;
    await waitForCondition(() => livePids([g.worker]).length === 0, `the worker ${g.worker} to end`, { describe: () => r.describe() });
  } finally {
    if (run) assert.deepEqual(await teardown(run, pids, s.base), []);
  }
});

/**
 * A launcher that forks `daemon` (a shell script in its own session: $1 the pidfile, which it writes at once,
 * $2 a marker file), says `launcher-ready` once the pidfile is there and waits, leaving with 0 on `signal`.
 * The program (`options` added to its section) is stopped while the launcher still runs; once the stop has
 * answered and the daemon is gone, `check` gets the run and the marker's text.
 */
async function stopWhileLaunching(daemon: string, signal: string, options: string, check: (run: CliRun, marker: string) => void): Promise<void> {
  const s = setup(null);
  const marker = join(s.base, 'got-signal');
  const script = join(s.base, 'daemon.sh');
  let run: CliRun | null = null;
  const daemons: number[] = [];
  try {
    writeFileSync(script, daemon);
    // short sleeps in a loop: a trap runs between them, and nothing is left behind
    writeFileSync(s.launcher, `setsid /bin/sh ${script} "$1" "$2" </dev/null >/dev/null 2>&1 &\ntrap 'exit 0' ${signal}\nwhile [ ! -s "$1" ]; do sleep 0.01; done\necho launcher-ready\nwhile :; do sleep 0.05; done\n`);
    const conf = `[program:app]\ncommand = /bin/sh ${s.launcher} ${s.pidfile} ${marker}\npidfile = ${s.pidfile}\nstartsecs = 30\nstopsignal = ${signal}\nstopwaitsecs = 10\nautorestart = false\n${options}`;
    const file = writeConfig(s.base, conf);
    run = await startUp(file);
    await run.waitForLine(/app \| launcher-ready/);
    const d = Number(readFileSync(s.pidfile, 'utf8'));
    daemons.push(d);
    const stop = await runCli(['stop', 'app', '-c', file], { timeoutMs: 20_000 });
    assert.equal(stop.code, 0, `${stop.output}\n${run.describe()}`);
    const r = run;
    await waitForCondition(() => livePids([d]).length === 0, `the daemon ${d} to be gone`, { describe: () => r.describe() });
    assert.match(run.output, /app: following pid \d+/, `drover followed the daemon\n${run.describe()}`);
    check(run, existsSync(marker) ? readFileSync(marker, 'utf8') : '(nothing)');
  } finally {
    for (const d of daemons) if (livePids([d]).length > 0) process.kill(-d, 'SIGKILL');
    if (run) assert.deepEqual(await teardown(run, daemons, s.base), []);
  }
}

// A review (reasoning) and then this test: a stop that came while the launcher still ran — after it had
// forked its daemon — ended the program at the launcher's exit, and without stopasgroup (whose signal
// reaches the launcher's descendants) the daemon ran on, followed by nobody.
test('a stop while the launcher still runs reaches the daemon it already forked: followed through its pidfile and stopped', async () => {
  await stopWhileLaunching(`trap 'echo TERM > "$2"; exit 0' TERM\necho $$ > "$1"\nwhile :; do sleep 0.05; done\n`, 'TERM', '', (run, got) => {
    assert.equal(got, 'TERM\n', `the daemon never got its stop signal\n${run.describe()}`);
  });
});

// A code review of the test above's fix: with stopasgroup the stop signal reaches the launcher's descendants,
// the daemon among them; holding it for the daemon as well sent it twice (a second SIGINT makes many a
// graceful stop a fast one).
test('with stopasgroup, a stop while the launcher still runs reaches its daemon once, not twice', async () => {
  // the daemon notes each stop signal (USR1: a shell's background job ignores SIGINT) at once (`wait`
  // returns for a trapped signal; a foreground sleep would merge two into one); after the first it lives
  // on for 0.5 s (drover follows it meanwhile)
  const daemon = `quit=0\nn=0\ntrap 'echo USR1 >> "$2"; quit=1' USR1\necho $$ > "$1"\nwhile [ $quit = 0 ]; do sleep 0.05 & wait $!; done\nwhile [ $n -lt 10 ]; do sleep 0.05 & wait $!; n=$((n+1)); done\n`;
  await stopWhileLaunching(daemon, 'USR1', 'stopasgroup = true\n', (run, got) => {
    assert.equal(got, 'USR1\n', `the daemon's stop signals\n${run.describe()}`);
  });
});
