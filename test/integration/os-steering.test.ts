// The balanced sockets' steering program (src/os/steering.ts) against the real kernel: connections go to
// the listed sockets in turn, only to those, and to the kernel's hash when the list is empty; a socket that
// does not listen is left out; the accept-queue count (TCP_INFO) agrees with `ss`; a child inherits none of
// the BPF fds; a socket another list holds is refused (EBUSY) until it lets go. Nothing accepts in this
// process, so every connection stays in the queue of the socket the kernel picked for it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, readdirSync, readlinkSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { test } from 'node:test';
import { listenSocket, socketAddress } from '../../src/os/native-net.js';
import { acceptQueueLength, ReuseportSteering } from '../../src/os/steering.js';

const skip = process.getuid?.() !== 0 ? 'loading a BPF program needs root (CAP_BPF)' : false;

/** Opens `n` connections to `port`, one after another, and resolves once each is established. */
async function open(port: number, n: number, into: Socket[]): Promise<void> {
  for (let i = 0; i < n; i++) {
    const s = connect(port, '127.0.0.1');
    into.push(s);
    await new Promise<void>((resolve, reject) => {
      s.once('connect', resolve);
      s.once('error', reject);
    });
  }
}

/** Recv-Q of each LISTEN socket on `port` as `ss` reports it (the accept queue), sorted. */
function ssQueues(port: number): number[] {
  const r = spawnSync('ss', ['-Hltn', `sport = :${port}`], { encoding: 'utf8' });
  return r.stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => Number(l.trim().split(/\s+/)[1]))
    .sort((a, b) => a - b);
}

test('steering: in turn over the listed sockets, only to them, the hash when the list is empty', { skip }, async () => {
  const a = listenSocket({ kind: 'tcp', host: '127.0.0.1', port: 0 }, { backlog: 512, reusePort: true });
  const port = socketAddress(a)?.port ?? 0;
  const b = listenSocket({ kind: 'tcp', host: '127.0.0.1', port }, { backlog: 512, reusePort: true });
  // bound, not listening: not in the group yet, so the kernel refuses it in the list
  const idle = listenSocket({ kind: 'tcp', host: '127.0.0.1', port }, { backlog: 512, reusePort: true, listen: false });
  const steering = ReuseportSteering.attach(a);
  const conns: Socket[] = [];
  try {
    const first = steering.steer([a, b, idle]);
    assert.deepEqual(first.listed, [a, b], 'the socket that does not listen is left out');
    assert.deepEqual(first.refused, [{ fd: idle, code: 'EINVAL' }]);
    await open(port, 64, conns);
    assert.deepEqual([acceptQueueLength(a), acceptQueueLength(b)], [32, 32], 'in turn: exactly half each');
    // the program's and maps' fds are this process's only: a child (a program drover spawns) gets none
    const mine = readdirSync('/proc/self/fd').map((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`);
      } catch {
        return ''; // the directory's own fd, closed by now
      }
    });
    assert.ok(mine.some((l) => l.includes('bpf-map')) && mine.some((l) => l.includes('bpf-prog')), `this process holds them: ${mine.join(' ')}`);
    const child = spawnSync('sh', ['-c', 'for f in /proc/$$/fd/*; do readlink "$f"; done'], { encoding: 'utf8' }).stdout;
    assert.ok(!child.includes('bpf'), `a child inherits no BPF fd: ${child}`);
    assert.deepEqual(ssQueues(port), [32, 32], 'TCP_INFO agrees with ss');

    // only b listed: every new connection goes to b, a's queue does not move
    assert.deepEqual(steering.steer([b]).listed, [b]);
    await open(port, 20, conns);
    assert.deepEqual([acceptQueueLength(a), acceptQueueLength(b)], [32, 52]);

    // the same list again is kept as it is
    const again = steering.steer([b]);
    assert.deepEqual(again.listed, [b]);
    assert.equal(again.changed, false, 'nothing rewritten');
    assert.deepEqual(steering.listed(), [b]);

    // an empty list: the kernel's hash, which (over 200 connections) uses both
    assert.deepEqual(steering.steer([]).listed, []);
    await open(port, 200, conns);
    const [qa, qb] = [acceptQueueLength(a) - 32, acceptQueueLength(b) - 52];
    assert.equal(qa + qb, 200);
    assert.ok(qa > 50 && qb > 50, `the hash spread 200 connections ${qa}/${qb}`);
  } finally {
    for (const s of conns) s.destroy();
    steering.close();
    for (const fd of [a, b, idle]) closeSync(fd);
  }
});

test('steering: a socket in another process\'s list is refused (EBUSY) until that list lets go, as after a re-exec', { skip }, async () => {
  const a = listenSocket({ kind: 'tcp', host: '127.0.0.1', port: 0 }, { backlog: 64, reusePort: true });
  const port = socketAddress(a)?.port ?? 0;
  const b = listenSocket({ kind: 'tcp', host: '127.0.0.1', port }, { backlog: 64, reusePort: true });
  // the predecessor's program and list, then the successor's, which replaces the program in the group
  const old = ReuseportSteering.attach(a);
  const conns: Socket[] = [];
  let successor: ReuseportSteering | null = null;
  try {
    assert.deepEqual(old.steer([a, b]).listed, [a, b]);
    successor = ReuseportSteering.attach(a);
    const refused = successor.steer([a, b]);
    assert.deepEqual(refused.listed, []);
    assert.deepEqual(refused.refused.map((r) => r.code), ['EBUSY', 'EBUSY']);
    old.steer([]);
    assert.deepEqual(successor.steer([a, b]).listed, [a, b], 'free once the predecessor emptied its list');
    await open(port, 10, conns);
    assert.deepEqual([acceptQueueLength(a), acceptQueueLength(b)], [5, 5], 'the successor\'s program steers');
  } finally {
    for (const s of conns) s.destroy();
    old.close();
    successor?.close();
    for (const fd of [a, b]) closeSync(fd);
  }
});

test('steering: a successor that adopts the handed-over program and maps keeps the list in force until its first rewrite, which nothing refuses', { skip }, async () => {
  const a = listenSocket({ kind: 'tcp', host: '127.0.0.1', port: 0 }, { backlog: 64, reusePort: true });
  const port = socketAddress(a)?.port ?? 0;
  const b = listenSocket({ kind: 'tcp', host: '127.0.0.1', port }, { backlog: 64, reusePort: true });
  const old = ReuseportSteering.attach(a);
  const conns: Socket[] = [];
  try {
    assert.deepEqual(old.steer([a, b]).listed, [a, b]);
    // a re-exec passes these fds to the new master; here the same process adopts them
    const successor = ReuseportSteering.adopt(...old.handles());
    assert.deepEqual(successor.listed(), [], 'the successor has written nothing yet');
    await open(port, 10, conns);
    assert.deepEqual([acceptQueueLength(a), acceptQueueLength(b)], [5, 5], 'the predecessor\'s list still steers');
    const first = successor.steer([b]);
    assert.deepEqual(first.refused, [], 'no EBUSY: the sockets were in this very list');
    assert.deepEqual(first.listed, [b]);
    await open(port, 10, conns);
    assert.deepEqual([acceptQueueLength(a), acceptQueueLength(b)], [5, 15], 'the predecessor\'s positions were emptied: only b now');
    assert.equal(successor.steer([]).changed, true);
  } finally {
    for (const s of conns) s.destroy();
    old.close();
    for (const fd of [a, b]) closeSync(fd);
  }
});

test('acceptQueueLength: 0 on an idle listener; a NativeError on an fd that is not a socket', () => {
  const fd = listenSocket({ kind: 'tcp', host: '127.0.0.1', port: 0 }, { backlog: 8 });
  try {
    assert.equal(acceptQueueLength(fd), 0);
  } finally {
    closeSync(fd);
  }
  assert.throws(() => acceptQueueLength(0), (err: unknown) => err instanceof Error && /TCP_INFO/.test(err.message));
});
