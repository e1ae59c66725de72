// `drover up` under systemd's socket activation: [socket:x] sections take the fds systemd passed, matched by
// LISTEN_FDNAMES name (not by position), instead of binding their own address. systemd-socket-activate plays
// systemd: it listens, and on the first connection execs drover with LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES.
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { get } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { CliRun, DEFAULT_TIMEOUT_MS, fixture, makeTmpDir, runCli, teardown, TIMEOUT_SCALE, writeConfig } from '../helpers/drover.js';
import { fetchText } from '../helpers/http.js';

const ACTIVATE = '/usr/bin/systemd-socket-activate';
const skip = !existsSync(ACTIVATE) && 'systemd-socket-activate is not installed (scripts/install-test-deps.sh installs systemd)';

/** GET PATH over a unix socket: status and body, within the usual bound (`describe` says what drover printed). */
function getUnix(socketPath: string, path: string, describe?: () => string): Promise<{ status: number; body: string }> {
  const limit = DEFAULT_TIMEOUT_MS * TIMEOUT_SCALE;
  return new Promise((resolve, reject) => {
    const req = get({ socketPath, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', (err) => reject(new Error(`GET ${path} over ${socketPath}: ${err.message}${describe ? `\n${describe()}` : ''}`)));
    req.setTimeout(limit, () => req.destroy(new Error(`no answer within ${limit} ms`)));
  });
}

interface WorkerEnv {
  LISTEN_FDS?: string;
  LISTEN_FDNAMES?: string;
  title: string;
}

/** Starts drover under systemd-socket-activate with two named sockets, passed in the other order than the config's. */
async function activate(dir: string, extraEnv: Record<string, string> = {}): Promise<{ run: CliRun; web: string; admin: string }> {
  const web = join(dir, 'activated-web.sock');
  const admin = join(dir, 'activated-admin.sock');
  const conf = writeConfig(
    dir,
    `[socket:web]
bind = unix:${join(dir, 'own-web.sock')}

[socket:admin]
bind = unix:${join(dir, 'own-admin.sock')}

[program:web]
worker = ${fixture('worker-app.mjs')}
sockets = web

[program:admin]
worker = ${fixture('worker-app.mjs')}
sockets = admin

[program:env]
command = ${process.execPath} ${fixture('print-env.mjs')}
startsecs = 0
autorestart = false
`,
  );
  // systemd-socket-activate hands its child only LISTEN_* and what -E sets, as systemd builds a service's environment
  const setenv = Object.entries(extraEnv).flatMap(([k, v]) => ['-E', `${k}=${v}`]);
  const run = new CliRun(['up', '-c', conf], {
    cwd: dir,
    wrapper: [ACTIVATE, '-l', admin, '-l', web, '--fdname=admin:web', ...setenv],
  });
  await run.waitForCount(/Listening on .* as \d+\./g, 2);
  return { run, web, admin };
}

test('[socket:x] takes the fd systemd passed under its name, and binds nothing itself', { skip }, async () => {
  const dir = makeTmpDir();
  const { run, web, admin } = await activate(dir);
  try {
    // the first connection makes systemd-socket-activate exec drover; the request waits in the backlog
    const w = await getUnix(web, '/env');
    assert.equal(w.status, 200, run.describe());
    const a = await getUnix(admin, '/env');
    assert.equal(a.status, 200, run.describe());
    const wEnv = JSON.parse(w.body) as WorkerEnv;
    const aEnv = JSON.parse(a.body) as WorkerEnv;
    assert.match(wEnv.title, /\[web(_\d+)?\]/, `the socket named "web" reaches program web: ${w.body}`);
    assert.match(aEnv.title, /\[admin(_\d+)?\]/, `the socket named "admin" reaches program admin: ${a.body}`);
    assert.equal(wEnv.LISTEN_FDNAMES, 'web');
    assert.equal(wEnv.LISTEN_FDS, '1');
    assert.match(run.output, /socket web: .*\(inherited\)/);
    assert.match(run.output, /socket admin: .*\(inherited\)/);
    assert.equal(existsSync(join(dir, 'own-web.sock')), false, 'the configured address was not bound');
    assert.equal(existsSync(join(dir, 'own-admin.sock')), false, 'the configured address was not bound');
    run.signal('SIGTERM');
    assert.equal((await run.waitForExit(15_000)).code, 0, run.describe());
    // systemd's socket outlives the service: drover never removes the file of a socket it was passed
    assert.ok(existsSync(web) && existsSync(admin), 'the activated sockets\' files are left in place');
  } finally {
    await teardown(run, [], dir);
  }
});

test(
  "systemd's variables for drover (NOTIFY_SOCKET, WATCHDOG_*, LISTEN_*) do not reach a program",
  { skip },
  async () => {
    const dir = makeTmpDir();
    const { run, web } = await activate(dir, { NOTIFY_SOCKET: '@drover-test-not-for-programs', WATCHDOG_USEC: '30000000' });
    try {
      assert.equal((await getUnix(web, '/')).status, 200, run.describe());
      const m = await run.waitForLine(/env \| ENV (.*)/);
      const env = (JSON.parse(m[1] as string) as { env: Record<string, string> }).env;
      const leaked = ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID', 'LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES'].filter((k) => k in env);
      assert.deepEqual(leaked, [], `a program without sockets inherited ${leaked.join(', ')}`);
    } finally {
      await teardown(run, [], dir);
    }
  },
);

test('a passed socket that no [socket:x] takes is named in a warning (its connections would wait unanswered)', { skip }, async () => {
  const dir = makeTmpDir();
  const web = join(dir, 'activated-web.sock');
  const stray = join(dir, 'activated-stray.sock');
  const conf = writeConfig(dir, `[socket:web]\nbind = unix:${join(dir, 'own-web.sock')}\n\n[program:web]\nworker = ${fixture('worker-app.mjs')}\nsockets = web\n`);
  const run = new CliRun(['up', '-c', conf], { cwd: dir, wrapper: [ACTIVATE, '-l', web, '-l', stray, '--fdname=web:stray'] });
  try {
    await run.waitForCount(/Listening on .* as \d+\./g, 2);
    assert.equal((await getUnix(web, '/')).status, 200, run.describe());
    await run.waitForLine(/WARN a socket passed to drover \(LISTEN_FDNAMES "stray", fd 4\) is named by no \[socket:x\]/);
    assert.doesNotMatch(run.output, /LISTEN_FDNAMES "web"/, 'the socket a section takes is not named');
    run.signal('SIGTERM');
    assert.equal((await run.waitForExit(15_000)).code, 0, run.describe());
  } finally {
    await teardown(run, [], dir);
  }
});

// The usual unit for gunicorn, and so for `drover serve`: the .socket unit listens on an address and the
// service is told the same address (`ListenStream=/run/app.sock`, `ExecStart=… -b unix:/run/app.sock`).
// The passed socket serves that -b: before, drover warned that nothing served fd 3, replaced systemd's
// socket file with its own (the connection that started it waited forever) and removed the file at exit;
// on TCP it failed with EADDRINUSE.

test('serve -b unix:PATH under socket activation on PATH serves the passed socket and leaves its file alone', { skip }, async () => {
  const dir = makeTmpDir();
  const sock = join(dir, 'app.sock');
  const run = new CliRun(['serve', fixture('worker-app.mjs'), '-b', `unix:${sock}`, '--runtime-dir', join(dir, '.drover')], { cwd: dir, wrapper: [ACTIVATE, '-l', sock] });
  try {
    await run.waitForLine(/Listening on .* as 3\./);
    const inode = statSync(sock).ino;
    // this connection makes systemd-socket-activate exec drover: it waits in the passed socket's backlog
    const r = await getUnix(sock, '/', () => run.describe());
    assert.equal(r.status, 200, run.describe());
    await run.waitForLine(/socket bind0: listening on unix:.*app\.sock \(inherited\) \(fd 3\)/);
    assert.doesNotMatch(run.output, /nothing serves it/, 'the passed socket is served');
    assert.equal(statSync(sock).ino, inode, 'the socket file is still the one systemd made');
    run.signal('SIGTERM');
    assert.equal((await run.waitForExit(15_000)).code, 0, run.describe());
    assert.equal(existsSync(sock) && statSync(sock).ino, inode, 'the passed socket\'s file outlives drover');
  } finally {
    await teardown(run, [], dir);
  }
});

test('serve -b HOST:PORT under socket activation on HOST:PORT serves the passed socket (no EADDRINUSE)', { skip }, async () => {
  const dir = makeTmpDir();
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  const port = (blocker.address() as AddressInfo).port;
  await new Promise((r) => blocker.close(r));
  const run = new CliRun(['serve', fixture('worker-app.mjs'), '-b', `127.0.0.1:${port}`, '--runtime-dir', join(dir, '.drover')], {
    cwd: dir,
    wrapper: [ACTIVATE, '-l', `127.0.0.1:${port}`],
  });
  try {
    await run.waitForLine(/Listening on .* as 3\./);
    const r = await fetchText(port).catch((err: Error) => assert.fail(`GET /: ${err.message}\n${run.describe()}`));
    assert.equal(r.status, 200, run.describe());
    assert.match(run.output, new RegExp(`socket bind0: listening on 127\\.0\\.0\\.1:${port} \\(inherited\\) \\(fd 3\\)`));
    run.signal('SIGTERM');
    assert.equal((await run.waitForExit(15_000)).code, 0, run.describe());
  } finally {
    await teardown(run, [], dir);
  }
});

test('[socket:x] takes a passed fd of another name bound to its address; a passed fd of no section\'s address is named with it', { skip }, async () => {
  const dir = makeTmpDir();
  const web = join(dir, 'web.sock');
  const stray = join(dir, 'stray.sock');
  const conf = writeConfig(dir, `[socket:web]\nbind = unix:${web}\n\n[program:web]\nworker = ${fixture('worker-app.mjs')}\nsockets = web\n`);
  // systemd names every fd of a .socket unit after the unit unless FileDescriptorName= says otherwise
  const run = new CliRun(['up', '-c', conf], { cwd: dir, wrapper: [ACTIVATE, '-l', stray, '-l', web, '--fdname=app.socket:app.socket'] });
  try {
    await run.waitForCount(/Listening on .* as \d+\./g, 2);
    const inode = statSync(web).ino;
    const r = await getUnix(web, '/env', () => run.describe());
    assert.equal(r.status, 200, run.describe());
    assert.equal((JSON.parse(r.body) as WorkerEnv).LISTEN_FDNAMES, 'web');
    await run.waitForLine(/WARN a socket passed to drover \(LISTEN_FDNAMES "app\.socket", fd 3\) is named by no \[socket:x\] .*stray\.sock\): nothing serves it/);
    assert.doesNotMatch(run.output, /fd 4\) is named by no/, 'the socket the section takes by its address is not named');
    assert.equal(statSync(web).ino, inode, 'the socket file is still the one systemd made');
    run.signal('SIGTERM');
    assert.equal((await run.waitForExit(15_000)).code, 0, run.describe());
    assert.equal(existsSync(web) && statSync(web).ino, inode, 'the passed socket\'s file outlives drover');
  } finally {
    await teardown(run, [], dir);
  }
});

// From a code review: a reload that changed a `bind = fd://N` socket (its backlog, say) bound it "anew" on the
// same fd N, then closed fd N as the retired old one: the socket still named fd N, so the next spawn passed
// a closed descriptor, or whatever the master opened next under that number. A passed socket is not drover's
// to bind again: the reload refuses the change, and the socket and its program stay as they were.
test('a reload cannot change a bind = fd://N socket: refused, the socket kept open for the next spawn', { skip }, async () => {
  const dir = makeTmpDir();
  const web = join(dir, 'activated-web.sock');
  const section = (backlog: number): string => `[socket:web]\nbind = fd://3\nbacklog = ${backlog}\n\n[program:web]\nworker = ${fixture('worker-app.mjs')}\nsockets = web\n`;
  const conf = writeConfig(dir, section(64));
  const run = new CliRun(['up', '-c', conf], { cwd: dir, wrapper: [ACTIVATE, '-l', web] });
  try {
    await run.waitForCount(/Listening on .* as \d+\./g, 1);
    // the first connection makes systemd-socket-activate exec drover
    assert.equal((await getUnix(web, '/env')).status, 200, run.describe());
    writeConfig(dir, section(32));
    const r = await runCli(['reload', '-c', conf], { cwd: dir, timeoutMs: 30_000 });
    assert.equal(r.code, 1, `${r.output}\n${run.describe()}`);
    assert.match(r.output, /\[socket:web\] is a socket drover was passed \(fd:\/\/3\): a reload cannot change it/, r.output);
    // a new worker still gets the socket: kill the one there is, the next one serves
    const restart = await runCli(['restart', 'web:*', '-c', conf], { cwd: dir, timeoutMs: 30_000 });
    assert.equal(restart.code, 0, `${restart.output}\n${run.describe()}`);
    assert.equal((await getUnix(web, '/env')).status, 200, run.describe());
  } finally {
    await teardown(run, [], dir);
  }
});
