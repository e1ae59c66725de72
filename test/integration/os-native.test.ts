// The native layer (src/os/native.ts) against the real kernel: a socket that listens but is never accepted on,
// an exclusive lock another process cannot take, close-on-exec, a real pipe, a datagram to a unix socket, and
// waitpid on one pid. Each case also shows the opposite outcome, so it can fail.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, cpSync, mkdirSync, openSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { pipe, reapChild, setCloexec, tryLockExclusive } from '../../src/os/native.js';
import { bindDatagramSocket, boundAddress, isBoundTo, listenSocket, sendDatagram, socketAddress, unixSocketAnswers } from '../../src/os/native-net.js';
import { NativeError } from '../../src/os/libc.js';
import { makeTmpDir, waitForCondition } from '../helpers/drover.js';
import { repoRoot } from '../helpers/paths.js';

/** The LISTEN-state TCP sockets with their accept-queue length (ss -ltn: Recv-Q), by local port. */
function listenQueue(port: number): number | null {
  const r = spawnSync('ss', ['-Hltn', `sport = :${port}`], { encoding: 'utf8' });
  const line = r.stdout.trim().split('\n')[0];
  if (!line) return null;
  return Number(line.trim().split(/\s+/)[1]);
}

test('listenSocket: connections wait in the backlog because nothing in this process accepts them', async () => {
  const fd = listenSocket({ kind: 'tcp', host: '127.0.0.1', port: 0 }, { backlog: 8 });
  try {
    const addr = socketAddress(fd);
    assert.ok(addr && addr.port > 0, `a real port: ${JSON.stringify(addr)}`);
    const sockets = [0, 1, 2].map(() => connect(addr.port, '127.0.0.1'));
    await Promise.all(sockets.map((s) => new Promise((r) => s.once('connect', r))));
    // three completed connections sit in the accept queue: the master never accepted one
    await waitForCondition(() => listenQueue(addr.port) === 3, 'three connections queued', { describe: () => `Recv-Q ${String(listenQueue(addr.port))}` });
    for (const s of sockets) s.destroy();
    // a second bind of the same address is refused without SO_REUSEPORT
    assert.throws(
      () => listenSocket({ kind: 'tcp', host: '127.0.0.1', port: addr.port }, { backlog: 1 }),
      (err: unknown) => err instanceof NativeError && err.code === 'EADDRINUSE',
    );
  } finally {
    closeSync(fd);
  }
});

test('listenSocket with reusePort: two sockets share one port', () => {
  const a = listenSocket({ kind: 'tcp', host: '127.0.0.1', port: 0 }, { backlog: 8, reusePort: true });
  const port = socketAddress(a)?.port ?? 0;
  const b = listenSocket({ kind: 'tcp', host: '127.0.0.1', port }, { backlog: 8, reusePort: true });
  assert.equal(socketAddress(b)?.port, port);
  closeSync(a);
  closeSync(b);
});

test('isBoundTo: the same IP bytes and port in any spelling, the same unix path; not another port, host or path', () => {
  const dir = makeTmpDir();
  const v6 = listenSocket({ kind: 'tcp', host: '::1', port: 0 }, { backlog: 1 });
  const unix = listenSocket({ kind: 'unix', path: join(dir, 'a.sock') }, { backlog: 1 });
  try {
    const port = socketAddress(v6)?.port ?? 0;
    assert.deepEqual(boundAddress(v6), { kind: 'tcp', host: '::1', port });
    assert.equal(isBoundTo(v6, { kind: 'tcp', host: '0:0:0:0:0:0:0:1', port }), true);
    assert.equal(isBoundTo(v6, { kind: 'tcp', host: '::1', port: port === 65535 ? 1 : port + 1 }), false);
    assert.equal(isBoundTo(v6, { kind: 'tcp', host: '::', port }), false);
    assert.equal(isBoundTo(v6, { kind: 'tcp', host: '127.0.0.1', port }), false, 'another family');
    assert.deepEqual(boundAddress(unix), { kind: 'unix', path: join(dir, 'a.sock') });
    assert.equal(isBoundTo(unix, { kind: 'unix', path: `${dir}//a.sock` }), true);
    assert.equal(isBoundTo(unix, { kind: 'unix', path: join(dir, 'b.sock') }), false);
    assert.equal(isBoundTo(v6, { kind: 'unix', path: join(dir, 'a.sock') }), false);
  } finally {
    closeSync(v6);
    closeSync(unix);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('isBoundTo: a unix path through a linked directory is the same socket; a datagram socket on the path is not a stream one', () => {
  const dir = makeTmpDir();
  mkdirSync(join(dir, 'real'));
  symlinkSync('real', join(dir, 'link'));
  const stream = listenSocket({ kind: 'unix', path: join(dir, 'real', 's.sock') }, { backlog: 1 });
  const dgram = bindDatagramSocket(join(dir, 'real', 'd.sock'));
  try {
    // /var/run/app.sock in a config, /run/app.sock in systemd's unit
    assert.equal(isBoundTo(stream, { kind: 'unix', path: join(dir, 'link', 's.sock') }), true);
    // systemd's ListenDatagram= beside a ListenStream=: never a [socket:x]'s
    assert.equal(isBoundTo(dgram, { kind: 'unix', path: join(dir, 'real', 'd.sock') }), false);
  } finally {
    closeSync(stream);
    closeSync(dgram);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('unixSocketAnswers: true while a socket listens at the path, false once its file is left by a closed socket', () => {
  const dir = makeTmpDir();
  const path = join(dir, 'a.sock');
  const fd = listenSocket({ kind: 'unix', path }, { backlog: 1 });
  try {
    assert.equal(unixSocketAnswers(path), true);
    // backlog 1 (the kernel allows one more): further connects find it full, EAGAIN, which still means a listener
    for (let i = 0; i < 4; i++) assert.equal(unixSocketAnswers(path), true);
  } finally {
    closeSync(fd);
  }
  // the file stays after close (only drover's own code removes it): connect(2) is refused now
  assert.equal(unixSocketAnswers(path), false);
  assert.equal(unixSocketAnswers(join(dir, 'none.sock')), false);
  rmSync(dir, { recursive: true, force: true });
});

test('tryLockExclusive: another process cannot take the lock until the holder closes it', async () => {
  const dir = makeTmpDir();
  const file = join(dir, 'lock');
  const fd = openSync(file, 'w');
  assert.equal(tryLockExclusive(fd), true);
  // flock(1) from util-linux, non-blocking: exit 1 while we hold it
  assert.equal(spawnSync('flock', ['-n', file, 'true']).status, 1, 'another process took a held lock');
  closeSync(fd);
  assert.equal(spawnSync('flock', ['-n', file, 'true']).status, 0, 'the lock was not released on close');
});

test('setCloexec: an fd is inherited by exec only without the flag', () => {
  const dir = makeTmpDir();
  const fd = openSync(join(dir, 'f'), 'w');
  try {
    const seen = (): boolean => spawnSync('/bin/sh', ['-c', `test -e /proc/self/fd/${fd}`], { stdio: 'ignore' }).status === 0;
    // Node opens with O_CLOEXEC: a child does not see it
    assert.equal(seen(), false);
    setCloexec(fd, false);
    assert.equal(seen(), true, 'without close-on-exec the child must see the fd');
    setCloexec(fd, true);
    assert.equal(seen(), false);
  } finally {
    closeSync(fd);
  }
});

test('pipe: a real FIFO pair, both ends close-on-exec', () => {
  const [r, w] = pipe();
  try {
    assert.match(readlinkSync(`/proc/self/fd/${r}`), /^pipe:\[\d+\]$/);
    writeSync(w, 'x');
    const seen = spawnSync('/bin/sh', ['-c', `test -e /proc/self/fd/${r} || test -e /proc/self/fd/${w}`]).status;
    assert.notEqual(seen, 0, 'a pipe end leaked into a child');
  } finally {
    closeSync(r);
    closeSync(w);
  }
});

test('sendDatagram: bytes arrive at a unix datagram socket, abstract names too; no listener is ECONNREFUSED', async () => {
  const dir = makeTmpDir();
  for (const path of [join(dir, 'notify.sock'), `@drover-test-${process.pid}`]) {
    // Node cannot receive unix datagrams; Debian's python3 can
    const py = spawn('/usr/bin/python3', [
      '-c',
      `import socket,sys
s=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)
p=sys.argv[1]
s.bind("\\0"+p[1:] if p.startswith("@") else p)
print("ready",flush=True)
print(s.recv(100).decode(),flush=True)`,
      path,
    ]);
    let out = '';
    py.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    await waitForCondition(() => out.includes('ready'), `the receiver on ${path}`, { describe: () => out });
    sendDatagram(path, 'READY=1');
    await waitForCondition(() => out.includes('READY=1'), `the datagram on ${path}`, { describe: () => out });
    py.kill();
  }
  assert.throws(
    () => sendDatagram(join(dir, 'nobody.sock'), 'x'),
    (err: unknown) => err instanceof NativeError && (err.code === 'ECONNREFUSED' || err.code === 'ENOENT'),
  );
});

test('reapChild: ECHILD for a pid that is not our child', () => {
  assert.throws(
    () => reapChild(1),
    (err: unknown) => err instanceof NativeError && err.code === 'ECHILD',
  );
});

test('without the native layer, up and serve refuse to start with the reason (exit 1); check still works', () => {
  // a copy of drover whose node_modules lacks koffi (as after copying node_modules from another platform)
  const dir = makeTmpDir();
  const copy = join(dir, 'drover');
  mkdirSync(join(copy, 'node_modules'), { recursive: true });
  for (const part of ['bin', 'dist', 'package.json']) cpSync(join(repoRoot, part), join(copy, part), { recursive: true });
  for (const name of readdirSync(join(repoRoot, 'node_modules'))) {
    if (name !== 'koffi') symlinkSync(join(repoRoot, 'node_modules', name), join(copy, 'node_modules', name));
  }
  const conf = join(dir, 'supervisord.conf');
  writeFileSync(conf, '[program:s]\ncommand = sleep 1000\nstartsecs = 0\n');
  writeFileSync(join(dir, 'app.mjs'), "export default (req, res) => res.end('x');\n");
  const run = (args: string[]) => spawnSync(process.execPath, [join(copy, 'bin', 'drover.js'), ...args], { cwd: dir, encoding: 'utf8', timeout: 20_000 });
  for (const args of [['up', '-c', conf], ['up', '-d', '-c', conf], ['serve', 'app.mjs', '-b', '127.0.0.1:0']]) {
    const r = run(args);
    const shown = `drover ${args.join(' ')}: status ${String(r.status)}\n${r.stdout}${r.stderr}`;
    assert.equal(r.status, 1, shown);
    assert.match(r.stderr, /^drover (up|serve): the native layer \(koffi\) cannot be loaded: Cannot find module 'koffi'; .*docs\/dependencies\.md\)\n$/, shown);
    assert.doesNotMatch(r.stderr, /internal error|\n {4}at /, shown);
  }
  const check = run(['check', '-c', conf]);
  assert.equal(check.status, 0, `${check.stdout}${check.stderr}`);
  rmSync(dir, { recursive: true, force: true });
});
