// [fcgi-program:x] as supervisor 4.2 runs it (issue 13): drover creates the program's socket, every process
// gets it as its stdin (fd 0), and Debian's php-cgi — a real FastCGI server — answers requests on it, over
// TCP and over a unix socket. The socket lives while a process of the program runs: created at the first
// start, closed after the last stop (supervisor's reference-counted SocketManager), back at the next start.
import assert from 'node:assert/strict';
import { existsSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { Daemon, show } from '../helpers/daemon.js';
import { livePids, makeTmpDir, waitForCondition } from '../helpers/drover.js';
import { fastcgiRequest, type FastCgiTarget } from '../helpers/fastcgi.js';
import { rpc } from '../helpers/xmlrpc.js';

const PHP_CGI = '/usr/bin/php-cgi';

/** A TCP port free right now (the kernel's pick for port 0, released at once). */
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** What a client gets when it connects: 'connected', or the error code (ECONNREFUSED, ENOENT, …). */
function tryConnect(target: FastCgiTarget): Promise<string> {
  return new Promise((resolve) => {
    const sock = 'path' in target ? connect(target.path) : connect(target.port, target.host);
    sock.once('connect', () => {
      sock.destroy();
      resolve('connected');
    });
    sock.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

/** The PHP page every request runs: it names the process that answered. */
function phpPage(dir: string): string {
  const page = join(dir, 'index.php');
  writeFileSync(page, '<?php echo "hello from php pid ", getmypid(), "\\n";\n');
  return page;
}

/** Asks a FastCGI server for the page; returns the pid that answered. */
async function askPid(target: FastCgiTarget, page: string, d: Daemon): Promise<number> {
  const r = await fastcgiRequest(target, { SCRIPT_FILENAME: page, REQUEST_METHOD: 'GET', SERVER_PROTOCOL: 'HTTP/1.1', GATEWAY_INTERFACE: 'CGI/1.1' });
  const m = /hello from php pid (\d+)/.exec(r.stdout);
  assert.ok(m, `no answer from php in:\n${r.stdout}\n--- stderr:\n${r.stderr}\n${d.daemonStderr()}`);
  return Number(m[1]);
}

function config(port: number, dir: string): string {
  return `[fcgi-program:php]
command = ${PHP_CGI}
socket = tcp://127.0.0.1:${port}
numprocs = 2
process_name = %(program_name)s_%(process_num)d
startsecs = 0

[fcgi-program:phpu]
command = ${PHP_CGI}
socket = unix://${dir}/%(program_name)s.sock
socket_mode = 0660
socket_owner = nobody:nogroup
startsecs = 0
`;
}

/** The socket inode behind a process's fd 0 ("socket:[123]"), or what fd 0 is instead. */
function stdinOf(pid: number): string {
  return readlinkSync(`/proc/${pid}/fd/0`);
}

test('php-cgi answers FastCGI requests on a tcp and a unix socket that drover created as its stdin', async () => {
  assert.ok(existsSync(PHP_CGI), `${PHP_CGI} is missing: install Debian's php-cgi (scripts/install-test-deps.sh)`);
  const port = await freePort();
  const dir = makeTmpDir('drover-fcgi-');
  const d = new Daemon(config(port, dir), { dir });
  const page = phpPage(d.dir);
  const tcp = { host: '127.0.0.1', port };
  const unix = { path: join(d.dir, 'phpu.sock') };
  try {
    await d.up();
    const procs = await d.processes();
    const pids = ['php:php_0', 'php:php_1', 'phpu:phpu'].map((n) => procs.get(n)?.pid ?? 0);
    for (const pid of pids) d.seen.add(pid);
    assert.ok(pids.every((p) => p > 0), `all three run: ${JSON.stringify([...procs])}\n${d.daemonStderr()}`);

    // fd 0 of each process is a socket, one and the same for the two processes of php
    const [php0, php1, phpu] = pids.map(stdinOf);
    assert.match(php0 ?? '', /^socket:\[\d+\]$/);
    assert.equal(php1, php0, 'both processes of php accept on one socket');
    assert.match(phpu ?? '', /^socket:\[\d+\]$/);
    assert.notEqual(phpu, php0);

    // real requests: over TCP one of php's processes answers, over the unix socket phpu's
    assert.ok([pids[0], pids[1]].includes(await askPid(tcp, page, d)), 'a php process answers on tcp');
    assert.equal(await askPid(unix, page, d), pids[2], 'phpu answers on its unix socket');

    // the unix socket file: mode and owner as configured (created through the umask, then lchown)
    const st = statSync(unix.path);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o660);
    assert.equal(st.uid, 65534);
    assert.equal(st.gid, 65534);

    // its stdin is the socket, not a pipe: sendProcessStdin answers NO_FILE (20), as supervisord does
    const answer = await rpc(join(d.dir, '.drover', 'drover.sock'), 'supervisor.sendProcessStdin', ['phpu', 'hi\n']);
    assert.deepEqual(answer, { type: 'fault', faultCode: 20, faultString: 'NO_FILE: phpu' });
  } finally {
    assert.deepEqual(await d.teardown(), [], 'teardown had to kill survivors');
  }
});

test('the socket lives while a process of the program runs: closed after the last stop, back at the next start', async () => {
  assert.ok(existsSync(PHP_CGI), `${PHP_CGI} is missing: install Debian's php-cgi (scripts/install-test-deps.sh)`);
  const port = await freePort();
  const dir = makeTmpDir('drover-fcgi-');
  const d = new Daemon(config(port, dir), { dir });
  const page = phpPage(d.dir);
  const tcp = { host: '127.0.0.1', port };
  const unix = { path: join(d.dir, 'phpu.sock') };
  const cli = async (...args: string[]): Promise<void> => {
    const r = await d.cli(args);
    assert.equal(r.code, 0, `${show(args, r)}\n${d.daemonStderr()}`);
  };
  try {
    await d.up();
    for (const p of (await d.processes()).values()) if (p.pid !== null) d.seen.add(p.pid);

    // one of two processes stopped: the other still serves on the same socket
    await cli('stop', 'php:php_0');
    const php1 = (await d.processes()).get('php:php_1')?.pid ?? 0;
    assert.equal(await askPid(tcp, page, d), php1);

    // the last one stopped: nothing listens any more (supervisor closes it; no queue nobody answers)
    await cli('stop', 'php:php_1');
    assert.equal(await tryConnect(tcp), 'ECONNREFUSED');
    await cli('stop', 'phpu');
    assert.equal(existsSync(unix.path), false, 'the unix socket file goes with the socket');
    assert.equal(await tryConnect(unix), 'ENOENT');

    // one start brings it back
    await cli('start', 'php:php_1');
    const again = (await d.processes()).get('php:php_1')?.pid ?? 0;
    d.seen.add(again);
    assert.equal(await askPid(tcp, page, d), again);
    await cli('start', 'phpu');
    const phpu = (await d.processes()).get('phpu:phpu')?.pid ?? 0;
    d.seen.add(phpu);
    assert.equal(await askPid(unix, page, d), phpu);

    // a process that dies is replaced; the socket stays open through it (another process still holds it)
    await cli('start', 'php:php_0');
    const php0 = (await d.processes()).get('php:php_0')?.pid ?? 0;
    d.seen.add(php0);
    process.kill(php0, 'SIGKILL');
    await waitForCondition(() => livePids([php0]).length === 0, 'the killed php-cgi to be gone');
    assert.equal(await tryConnect(tcp), 'connected');
    let respawned = 0;
    const deadline = Date.now() + 10_000;
    while (respawned === 0 || respawned === php0) {
      const p = (await d.processes()).get('php:php_0');
      if (p?.state === 'running' && p.pid !== null) respawned = p.pid;
      if (Date.now() > deadline) assert.fail(`php_0 was not restarted: ${JSON.stringify(p)}\n${d.daemonStderr()}`);
    }
    d.seen.add(respawned);
    assert.equal(stdinOf(respawned), stdinOf(again), 'the replacement gets the socket its sibling holds');

    // drover down closes everything: nothing is left listening, no socket file stays behind
    await cli('down');
    await waitForCondition(() => livePids([d.pid]).length === 0, 'drover to exit', { describe: () => d.daemonStderr() });
    assert.equal(await tryConnect(tcp), 'ECONNREFUSED');
    assert.equal(existsSync(unix.path), false);
  } finally {
    assert.deepEqual(await d.teardown(), [], 'teardown had to kill survivors');
  }
});

test('a program running as another user gets a unix socket it owns (supervisor\'s default owner)', { skip: process.getuid?.() !== 0 && 'needs root (user=)' }, async () => {
  const dir = makeTmpDir('drover-fcgi-');
  const d = new Daemon(`[fcgi-program:php]\ncommand = ${PHP_CGI}\nsocket = unix://%(here)s/php.sock\nuser = nobody\nstartsecs = 0\n`, { dir });
  try {
    await d.up();
    const pid = (await d.processes()).get('php:php')?.pid ?? 0;
    d.seen.add(pid);
    assert.ok(pid > 0, d.daemonStderr());
    assert.equal(statSync(`/proc/${pid}`).uid, 65534, 'php-cgi runs as nobody');
    const st = statSync(join(dir, 'php.sock'));
    assert.deepEqual([st.uid, st.gid, st.mode & 0o777], [65534, 65534, 0o700], 'nobody:nogroup, mode 0700');
    assert.equal(await tryConnect({ path: join(dir, 'php.sock') }), 'connected');
  } finally {
    assert.deepEqual(await d.teardown(), []);
  }
});

test('a port another program holds stops drover at start, naming the fcgi-program and the socket', async () => {
  const holder: Server = createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
  const { port } = holder.address() as AddressInfo;
  const d = new Daemon(`[fcgi-program:php]\ncommand = ${PHP_CGI}\nsocket = tcp://127.0.0.1:${port}\n`);
  try {
    const r = await d.cli(['up', '-d', '--wait']);
    assert.equal(r.code, 1, show(['up'], r));
    assert.match(r.output, new RegExp(`\\[fcgi-program:php\\] cannot create its socket tcp://127\\.0\\.0\\.1:${port}: the address is already in use .*\\(EADDRINUSE\\)`), show(['up'], r));
  } finally {
    holder.close();
    assert.deepEqual(await d.teardown(), []);
  }
});
