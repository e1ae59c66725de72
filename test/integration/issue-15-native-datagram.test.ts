// The native layer's unix datagram receiver (issue 15, `ready = notify`): a bound socket gives nothing
// until something is sent, then each datagram with its sender's pid from the kernel (another process's
// too); descriptors a sender attaches are dropped by the kernel, which is how systemd-notify learns its
// message was read; and the failures are NativeErrors with the errno (an address in use, a closed fd).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { closeFd } from '../../src/os/native.js';
import { bindDatagramSocket, receiveDatagram, sendDatagram } from '../../src/os/native-net.js';
import { NativeError } from '../../src/os/libc.js';
import { waitForCondition } from '../helpers/drover.js';

const address = (): string => `@drover-test-dgram-${randomBytes(6).toString('hex')}`;

test('receives nothing, then each datagram with the pid the kernel stamped on it', () => {
  const at = address();
  const fd = bindDatagramSocket(at);
  try {
    assert.equal(receiveDatagram(fd), null, 'nothing queued: null, without blocking');
    sendDatagram(at, 'READY=1\nSTATUS=one');
    const py = spawnSync('/usr/bin/python3', ['-c', `import os, socket; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"READY=1", "\\0${at.slice(1)}"); print(os.getpid())`], { encoding: 'utf8' });
    assert.equal(py.status, 0, py.stderr);
    const first = receiveDatagram(fd);
    assert.equal(first?.data.toString(), 'READY=1\nSTATUS=one');
    assert.equal(first?.pid, process.pid);
    const second = receiveDatagram(fd);
    assert.equal(second?.data.toString(), 'READY=1');
    assert.equal(second?.pid, Number(py.stdout.trim()), 'the sender is the Python process, not us');
    sendDatagram(at, Buffer.alloc(100, 0x41));
    const long = receiveDatagram(fd, 10);
    assert.equal(long?.truncated, true);
    assert.equal(long?.data.length, 10);
    assert.equal(receiveDatagram(fd), null);
  } finally {
    closeFd(fd);
  }
});

test('systemd-notify waits until its message is read; reading drops the descriptor it attached, and it returns', async () => {
  const at = address();
  const fd = bindDatagramSocket(at);
  try {
    const child = spawn('systemd-notify', ['--ready'], { env: { ...process.env, NOTIFY_SOCKET: at }, stdio: 'ignore' });
    let exit: number | null = null;
    child.once('exit', (code) => (exit = code));
    const got: string[] = [];
    await waitForCondition(
      () => {
        for (let d = receiveDatagram(fd); d !== null; d = receiveDatagram(fd)) got.push(d.data.toString());
        return got.includes('BARRIER=1');
      },
      'READY=1 and BARRIER=1',
    );
    assert.deepEqual(got, ['READY=1', 'BARRIER=1']);
    await waitForCondition(() => exit !== null, 'systemd-notify to return once its barrier was read');
    assert.equal(exit, 0);
  } finally {
    closeFd(fd);
  }
});

test('failures carry the errno: an address in use, a closed descriptor', () => {
  const at = address();
  const fd = bindDatagramSocket(at);
  assert.throws(() => bindDatagramSocket(at), (e: unknown) => e instanceof NativeError && e.code === 'EADDRINUSE');
  closeFd(fd);
  assert.throws(() => receiveDatagram(fd), (e: unknown) => e instanceof NativeError && e.code === 'EBADF');
  // the address is free again once closed (abstract names leave nothing behind)
  closeFd(bindDatagramSocket(at));
});
