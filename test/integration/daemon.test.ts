// `drover up -d`: a proper daemon (own session, no terminal, parent is init), single instance, a stale
// pidfile after kill -9 never blocks, start-up errors reach the launching terminal.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseServerUrl, requestJson } from '../../src/control/client.js';
import { droverBin } from '../helpers/paths.js';
import { assertStaysFor, CliRun, livePids, makeTmpDir, runCli, startUp, teardown, waitForCondition, writeConfig } from '../helpers/drover.js';

const node = process.execPath;

function readStat(pid: number): { ppid: number; pgrp: number; session: number; ttyNr: number } | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(f[1]), pgrp: Number(f[2]), session: Number(f[3]), ttyNr: Number(f[4]) };
  } catch {
    return null; // gone
  }
}

const CONFIG = `[program:sleeper]
command = /bin/sleep 1000
startsecs = 0
`;

/** Starts a daemon in `dir` and returns its pid and endpoint. */
async function startDaemon(dir: string): Promise<{ pid: number; out: string }> {
  const r = await runCli(['up', '-d', '-c', join(dir, 'supervisord.conf')], { cwd: dir });
  assert.equal(r.code, 0, `up -d failed:\n${r.output}`);
  const m = /drover started: pid (\d+)/.exec(r.stdout);
  assert.ok(m, r.output);
  return { pid: Number(m[1]), out: r.output };
}

/** Shuts a daemon down through the API and waits until its pid is gone. */
async function stopDaemon(dir: string, pid: number): Promise<void> {
  const ep = parseServerUrl(`unix://${join(dir, '.drover', 'drover.sock')}`);
  try {
    await requestJson(ep, 'POST', '/api/shutdown', {}, { timeoutMs: 5000 });
  } catch {
    process.kill(pid, 'SIGKILL'); // the API is gone: make sure the daemon is too
  }
  await waitForCondition(() => livePids([pid]).length === 0, `daemon ${pid} to exit`, { timeoutMs: 15_000 });
}

test('up -d: own session and group, no controlling terminal, parent is init, pidfile and 0700 runtime dir', async () => {
  const dir = makeTmpDir();
  writeConfig(dir, CONFIG);
  const { pid } = await startDaemon(dir);
  try {
    const st = readStat(pid);
    assert.ok(st, 'daemon alive');
    assert.equal(st.session, pid, 'session leader of its own session');
    assert.equal(st.pgrp, pid, 'leader of its own process group');
    assert.equal(st.ttyNr, 0, 'no controlling terminal');
    assert.equal(st.ppid, 1, 'reparented to init once the launcher exited');
    assert.equal(readFileSync(join(dir, '.drover', 'drover.pid'), 'utf8').trim(), String(pid));
    assert.equal(statSync(join(dir, '.drover')).mode & 0o777, 0o700);
    assert.equal(statSync(join(dir, '.drover', 'drover.sock')).mode & 0o777, 0o600);
    const info = await requestJson(parseServerUrl(`unix://${join(dir, '.drover', 'drover.sock')}`), 'GET', '/api/info');
    assert.equal(info.body['pid'], pid);
  } finally {
    await stopDaemon(dir, pid);
  }
  assert.equal(existsSync(join(dir, '.drover', 'drover.pid')), false, 'pidfile removed at exit');
  assert.equal(existsSync(join(dir, '.drover', 'drover.sock')), false, 'socket removed at exit');
});

// up -d printed the config's warnings on the launching terminal only: once it had closed, nothing showed
// that a key was ignored. The daemon writes them to its log as well.
test('up -d writes the config\'s warnings to the daemon\'s log as well as to the launching terminal', async () => {
  const dir = makeTmpDir();
  writeConfig(dir, `[supervisord]\nlogfile = ${join(dir, 'drover.log')}\n\n${CONFIG}autorestrat = true\n`);
  const warning = /supervisord\.conf:7: warning: \[program:sleeper\] autorestrat: unknown key, ignored \(did you mean "autorestart"\?\)/;
  const { pid, out } = await startDaemon(dir);
  try {
    assert.match(out, warning);
    const log = readFileSync(join(dir, 'drover.log'), 'utf8');
    assert.match(log, new RegExp(`WARN config: .*${warning.source}`), log);
    assert.equal(log.match(/autorestrat/g)?.length, 1, log);
  } finally {
    await stopDaemon(dir, pid);
  }
});

test('up -d survives the launching terminal closing', async () => {
  const dir = makeTmpDir();
  writeConfig(dir, CONFIG);
  // script(1) gives the launcher a pseudo-terminal and closes it when the launcher exits; setsid makes
  // that terminal the controlling one of the launcher's session, so its hang-up would reach anything
  // still attached to it.
  const r = spawnSync('setsid', ['script', '-qec', `${node} ${droverBin} up -d -c ${join(dir, 'supervisord.conf')}`, '/dev/null'], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 20_000,
  });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  const pid = Number((/drover started: pid (\d+)/.exec(r.stdout) ?? [])[1]);
  assert.ok(pid > 0, r.stdout);
  try {
    // the terminal is gone now; the daemon still answers
    const info = await requestJson(parseServerUrl(`unix://${join(dir, '.drover', 'drover.sock')}`), 'GET', '/api/info');
    assert.equal(info.body['pid'], pid);
    assert.equal(readStat(pid)?.ttyNr, 0);
  } finally {
    await stopDaemon(dir, pid);
  }
});

test('a second up for the same runtime directory is refused and names the running pid', async () => {
  const dir = makeTmpDir();
  writeConfig(dir, CONFIG);
  const { pid } = await startDaemon(dir);
  try {
    const again = await runCli(['up', '-d', '-c', join(dir, 'supervisord.conf')], { cwd: dir });
    assert.equal(again.code, 1, again.output);
    assert.match(again.stderr, new RegExp(`already running for .*\\.drover \\(pid ${pid}`));
    const fg = await runCli(['up', '-c', join(dir, 'supervisord.conf')], { cwd: dir });
    assert.equal(fg.code, 1, fg.output);
    assert.match(fg.stderr, /already running/);
    assert.deepEqual(livePids([pid]), [pid], 'the first one is untouched');
  } finally {
    await stopDaemon(dir, pid);
  }
});

test('kill -9 of the daemon: its programs go, and a new up works at once despite the stale pidfile and socket', async () => {
  const dir = makeTmpDir();
  writeConfig(dir, CONFIG);
  const first = await startDaemon(dir);
  const ep = parseServerUrl(`unix://${join(dir, '.drover', 'drover.sock')}`);
  const procs = await requestJson(ep, 'GET', '/api/processes');
  const sleeper = ((procs.body['processes'] as { pid: number }[])[0] as { pid: number }).pid;
  process.kill(first.pid, 'SIGKILL');
  await waitForCondition(() => livePids([first.pid, sleeper]).length === 0, 'daemon and its program to be gone');
  assert.ok(existsSync(join(dir, '.drover', 'drover.pid')), 'a stale pidfile is left behind');
  const second = await startDaemon(dir);
  try {
    assert.notEqual(second.pid, first.pid);
    const info = await requestJson(ep, 'GET', '/api/info');
    assert.equal(info.body['pid'], second.pid);
  } finally {
    await stopDaemon(dir, second.pid);
  }
});

test('start-up errors reach the launching terminal: bad config exit 2, port or unix socket in use exit 1', async () => {
  const dir = makeTmpDir();
  writeConfig(dir, '[program:x]\ncommand = /bin/true\nstartsecs = soon\n', 'bad.conf');
  const bad = await runCli(['up', '-d', '-c', join(dir, 'bad.conf')], { cwd: dir });
  assert.equal(bad.code, 2, bad.output);
  assert.match(bad.stderr, /bad\.conf:3: \[program:x\] startsecs:/);

  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const port = (blocker.address() as { port: number }).port;
  try {
    writeConfig(dir, `[inet_http_server]\nport = 127.0.0.1:${port}\nusername = u\npassword = p\n\n${CONFIG}`, 'busy.conf');
    const busy = await runCli(['up', '-d', '-c', join(dir, 'busy.conf')], { cwd: dir });
    assert.equal(busy.code, 1, busy.output);
    assert.match(busy.stderr, /cannot open the control socket: .*EADDRINUSE/);
    writeConfig(dir, `[inet_http_server]\nport = 127.0.0.1:${port}\n\n${CONFIG}`, 'noauth.conf');
    const noauth = await runCli(['up', '-d', '-c', join(dir, 'noauth.conf')], { cwd: dir });
    assert.equal(noauth.code, 2, noauth.output);
    assert.match(noauth.stderr, /\[inet_http_server\] needs username and password/);
  } finally {
    blocker.close();
  }
  // a unix socket something answers on (a supervisord, or a drover of another config naming the same file):
  // refused, as supervisord refuses, and the socket is left to its owner
  const owned = join(dir, 'supervisor.sock');
  const owner = createServer((c) => c.end());
  await new Promise<void>((resolve) => owner.listen(owned, resolve));
  try {
    writeConfig(dir, `[unix_http_server]\nfile = ${owned}\n\n${CONFIG}`, 'taken.conf');
    const taken = await runCli(['up', '-d', '-c', join(dir, 'taken.conf')], { cwd: dir });
    assert.equal(taken.code, 1, taken.output);
    assert.match(taken.stderr, new RegExp(`cannot open the control socket: another process is already listening on ${owned}`));
    assert.ok(statSync(owned).isSocket(), "the owner's socket file is still there");
  } finally {
    owner.close();
  }
  // a unix socket in a directory that does not exist: refused with exit 2, as supervisord refuses it
  // ("Cannot open an HTTP server: ... ENOENT"); drover creates its own runtime directory only. The config
  // check refuses it (as `drover check` does), at the line, before anything is made
  const missing = join(dir, 'no-such-dir', 'sub', 'supervisor.sock');
  writeConfig(dir, `[unix_http_server]\nfile = ${missing}\n\n${CONFIG}`, 'nodir.conf');
  const nodir = await runCli(['up', '-d', '-c', join(dir, 'nodir.conf')], { cwd: dir });
  assert.equal(nodir.code, 2, nodir.output);
  assert.match(nodir.stderr, new RegExp(`nodir\\.conf:2: \\[unix_http_server\\] file: its directory ${join(dir, 'no-such-dir', 'sub')} does not exist`));
  assert.equal(existsSync(join(dir, 'no-such-dir')), false, 'no directory was created for it');
  assert.equal(existsSync(join(dir, '.drover', 'drover.pid')), false, 'nothing left running or claimed');
});

// A review: the launcher gave up on the daemon after 30 s — the time an on_starting hook alone may take —
// and SIGTERMed it, so a hook within its limit failed `up -d` and killed a daemon about to succeed. The
// daemon now tells the launcher before the hook, which then waits the hook's limit on top of its own
// start timeout. Shown with a 5 s start timeout (--start-timeout) and a hook that outlasts it.
test('up -d: an on_starting hook that outlasts the start timeout (within its own limit) does not fail the start', async () => {
  const dir = makeTmpDir();
  const began = join(dir, 'hook-began');
  const go = join(dir, 'go');
  writeFileSync(
    join(dir, 'hooks.mjs'),
    `import { existsSync, writeFileSync } from 'node:fs';
export async function on_starting() {
  writeFileSync(${JSON.stringify(began)}, '');
  while (!existsSync(${JSON.stringify(go)})) await new Promise((r) => setTimeout(r, 20));
}
`,
  );
  const file = writeConfig(dir, `[supervisord]\nhooks = ${join(dir, 'hooks.mjs')}\n\n${CONFIG}`);
  const launchedAt = Date.now();
  const run = new CliRun(['up', '-d', '--no-wait', '--start-timeout', '5', '-c', file], { cwd: dir });
  let pid = 0;
  try {
    await waitForCondition(() => existsSync(began), 'the on_starting hook to begin', { describe: () => run.describe(), timeoutMs: 5000 });
    // past the launcher's 5 s, counted from the launch (however long the daemon took to reach the hook on a
    // loaded machine), the launcher still waits
    const pastTimeoutMs = launchedAt + 5500 - Date.now();
    await assertStaysFor(pastTimeoutMs, () => run.child.exitCode === null && run.child.signalCode === null, `the launcher waiting for the hook\n${run.describe()}`);
    writeFileSync(go, '');
    const exit = await run.waitForExit(10_000);
    pid = Number(/drover started: pid (\d+)/.exec(run.output)?.[1] ?? 0);
    assert.equal(exit.code, 0, run.describe());
    assert.ok(pid > 0 && livePids([pid]).length === 1, `the daemon runs\n${run.describe()}`);
    const bad = await runCli(['up', '-d', '--start-timeout', 'soon', '-c', file], { cwd: dir });
    assert.equal(bad.code, 2, bad.output);
  } finally {
    if (pid > 0) await runCli(['down', '-c', file], { cwd: dir });
    await teardown(run, pid > 0 ? [pid] : [], dir);
  }
});

test('down with nothing to stop: the shutdown is answered before the daemon closes its socket; exit 0', async () => {
  const dir = makeTmpDir();
  writeConfig(dir, '[drover]\n');
  const { pid } = await startDaemon(dir);
  try {
    const r = await runCli(['down', '-c', join(dir, 'supervisord.conf')], { cwd: dir });
    assert.equal(r.code, 0, r.output);
    assert.match(r.stdout, /drover stopped \(pid \d+\): 0 processes stopped/);
    await waitForCondition(() => livePids([pid]).length === 0, `daemon ${pid} to exit`, { timeoutMs: 10_000 });
  } finally {
    if (livePids([pid]).length > 0) process.kill(pid, 'SIGKILL');
  }
});

// A user who may not create the runtime directory beside the config (here: nobody, with the config in a
// root-owned directory) gets the reason and exit 2, not an internal error with a stack trace.
test('a runtime directory drover\'s user cannot create: exit 2 and why, in the foreground and with -d', { skip: process.getuid?.() !== 0 ? 'needs root to run as nobody' : false }, () => {
  const dir = makeTmpDir();
  const file = writeConfig(dir, CONFIG);
  spawnSync('chmod', ['755', dir]);
  for (const args of [['up'], ['up', '-d']]) {
    const r = spawnSync('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', node, droverBin, ...args, '-c', file], { encoding: 'utf8', timeout: 30_000, cwd: '/' });
    const out = `${r.stdout}${r.stderr}`;
    assert.equal(r.status, 2, `drover ${args.join(' ')} as nobody → ${String(r.status)}\n${out}`);
    assert.match(out, new RegExp(`runtime directory ${join(dir, '.drover')} cannot be made or checked: EACCES`));
    assert.doesNotMatch(out, /internal error|\n\s+at /, out);
  }
  assert.equal(existsSync(join(dir, '.drover')), false);
});

// supervisord daemonizes, then runs as [supervisord] user. The daemon switches first thing, so its runtime
// directory and daemon.stderr must be that user's: the root launcher used to make them as root, and the
// daemon then refused them (exit 2 whatever state the directory was in).
test('up -d as root with [supervisord] user = nobody: the daemon runs as nobody, with its runtime directory nobody\'s', { skip: process.getuid?.() !== 0 ? 'needs root to switch users' : false }, async () => {
  // the config and the directory drover is started from are root's alone (0700): supervisord reads its
  // config as root, before it switches, and so does drover's daemon
  const dir = makeTmpDir();
  // a directory nobody may create its runtime directory in
  const home = makeTmpDir();
  spawnSync('chmod', ['755', home]);
  spawnSync('chown', ['nobody', home]);
  const runtime = join(home, 'run');
  writeConfig(dir, `[supervisord]\nuser = nobody\nruntime_dir = ${runtime}\n\n${CONFIG}`);
  const { pid } = await startDaemon(dir);
  try {
    assert.equal(statSync(`/proc/${pid}`).uid, 65534, 'the daemon runs as nobody');
    assert.equal(statSync(runtime).uid, 65534, 'its runtime directory is nobody\'s');
    assert.equal(statSync(join(runtime, 'daemon.stderr')).uid, 65534, 'and so is daemon.stderr');
  } finally {
    const ep = parseServerUrl(`unix://${join(runtime, 'drover.sock')}`);
    await requestJson(ep, 'POST', '/api/shutdown', {}, { timeoutMs: 5000 }).catch(() => process.kill(pid, 'SIGKILL'));
    await waitForCondition(() => livePids([pid]).length === 0, `daemon ${pid} to exit`, { timeoutMs: 15_000 });
  }
});

// supervisord opens its log before it forks, so `logfile = /dev/stdout` keeps the launcher's stdout (a
// redirect, or the journal under Type=forking); drover's daemon had /dev/null there and its log was lost
test('up -d with logfile = /dev/stdout: the daemon\'s log goes to the launcher\'s stdout, as supervisord\'s does', async () => {
  const dir = makeTmpDir();
  const file = writeConfig(dir, `[supervisord]\nlogfile = /dev/stdout\n\n${CONFIG}`);
  const out = join(dir, 'launcher.out');
  const fd = openSync(out, 'w');
  let r;
  try {
    r = spawnSync(node, [droverBin, 'up', '-d', '-c', file], { stdio: ['ignore', fd, 'pipe'], encoding: 'utf8', timeout: 30_000, cwd: dir });
  } finally {
    closeSync(fd);
  }
  const text = (): string => readFileSync(out, 'utf8');
  assert.equal(r.status, 0, `${r.stderr}\n${text()}`);
  const pid = Number(/drover started: pid (\d+)/.exec(text())?.[1]);
  try {
    await waitForCondition(() => /INFO sleeper: starting → running/.test(text()), "the daemon's log in the launcher's stdout", { describe: text });
  } finally {
    await stopDaemon(dir, pid);
  }
});

// supervisord writes its pidfile after it sets its umask: 0666 less it
test('up -d with umask = 077: the pidfile is 0600, as supervisord makes it', async () => {
  const dir = makeTmpDir();
  writeConfig(dir, `[supervisord]\numask = 077\n\n${CONFIG}`);
  const { pid } = await startDaemon(dir);
  try {
    assert.equal(statSync(join(dir, '.drover', 'drover.pid')).mode & 0o777, 0o600);
  } finally {
    await stopDaemon(dir, pid);
  }
});

// supervisord logs CRIT "could not write pidfile" and runs on; drover stopped with an internal error
test('a pidfile that cannot be written is logged and drover runs on (as supervisord), exit 0 at the end', async () => {
  const dir = makeTmpDir();
  const piddir = join(dir, 'a-directory');
  mkdirSync(piddir);
  const file = writeConfig(dir, `[supervisord]\npidfile = ${piddir}\n\n${CONFIG}`);
  const run = await startUp(file);
  try {
    await run.waitForLine(new RegExp(`CRITICAL could not write pidfile ${piddir}: \\w+`));
    await run.waitForLine(/sleeper: starting → running/);
    run.signal('SIGTERM');
    assert.equal((await run.waitForExit(15_000)).code, 0, run.describe());
    assert.doesNotMatch(run.output, /internal error/, run.describe());
    assert.ok(statSync(piddir).isDirectory(), 'the directory is left alone');
  } finally {
    await teardown(run, [], dir);
  }
});

// supervisord logs at WARN an exit whose status is not in exitcodes, a stop by a signal, the SIGKILL after
// stopwaitsecs and the signal that ends it; drover logged them all at INFO, so loglevel = warn hid every crash
test('loglevel = warn keeps what supervisord logs at WARN: an unexpected exit, a stop by a signal, the SIGKILL after stopwaitsecs, the shutdown signal; not an expected exit', async () => {
  const dir = makeTmpDir();
  const file = writeConfig(
    dir,
    `[supervisord]\nloglevel = warn\n\n[program:crash]\ncommand = /bin/sh -c 'exit 3'\nstartsecs = 0\nautorestart = false\n\n` +
      `[program:fine]\ncommand = /bin/sh -c 'exit 0'\nstartsecs = 0\nautorestart = false\n\n` +
      `[program:stubborn]\ncommand = /bin/sh -c "trap '' TERM; echo ready; exec sleep 1000"\nstartsecs = 0\nstopwaitsecs = 1\n\n${CONFIG}`,
  );
  const run = new CliRun(['up', '-c', file]);
  try {
    await run.waitForLine(/WARN crash: running → exited \(exit status 3; not expected\)/);
    // program output is echoed whatever the level
    await run.waitForLine(/stubborn \| ready/);
    run.signal('SIGTERM');
    await run.waitForLine(/WARN SIGTERM: graceful shutdown/);
    await run.waitForLine(/WARN sleeper: stopping → stopped \(.*SIGTERM/);
    await run.waitForLine(/WARN stubborn: still running 1s after its stop signal \(stopwaitsecs\): SIGKILL to pid \d+/, { timeoutMs: 10_000 });
    assert.equal((await run.waitForExit(15_000)).code, 0, run.describe());
    assert.doesNotMatch(run.output, /fine: running → exited/, run.describe());
    assert.doesNotMatch(run.output, / INFO /, run.describe());
  } finally {
    await teardown(run, [], dir);
  }
});

// The control socket is 0600 in a 0700 directory: another user is refused by the kernel, and is told so,
// with exit 4 (NO_PERMISSION), not a raw EACCES and exit 1.
test('a user who may not connect to the control socket gets exit 4 and why, also with --json', { skip: process.getuid?.() !== 0 ? 'needs root to run as nobody' : false }, async () => {
  const dir = makeTmpDir();
  const file = writeConfig(dir, CONFIG);
  spawnSync('chmod', ['755', dir]);
  const up = await runCli(['up', '-d', '-c', file]);
  assert.equal(up.code, 0, up.output);
  try {
    for (const json of [false, true]) {
      const r = spawnSync('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', node, droverBin, 'status', '-c', file, ...(json ? ['--json'] : [])], { encoding: 'utf8', timeout: 30_000, cwd: '/' });
      const out = `${r.stdout}${r.stderr}`;
      assert.equal(r.status, 4, `status as nobody${json ? ' --json' : ''} → ${String(r.status)}\n${out}`);
      assert.match(out, /permission denied connecting to .*drover\.sock/);
      if (json) assert.equal((JSON.parse(r.stdout) as { code: string }).code, 'E_PERMISSION');
    }
  } finally {
    const down = await runCli(['down', '-c', file]);
    assert.equal(down.code, 0, down.output);
  }
});
