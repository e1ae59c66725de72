// A unix socket file at a [socket:x] (or serve -b unix:) path is removed before binding only when it is a
// leftover: connect(2) to it is refused, its server gone. One a server still listens on is another server's
// address: drover fails as for a TCP port in use (exit 1, EADDRINUSE) and leaves the file alone. Before,
// drover removed the file and bound its own, cutting the other server off, and removed the file again at
// its exit (supervisord connects first too).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, rmSync, statSync } from 'node:fs';
import { get } from 'node:http';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { CliRun, fixture, makeTmpDir, teardown } from '../helpers/drover.js';

/** GET / over a unix socket: the status. */
function statusOver(socketPath: string): Promise<number> {
  return new Promise((resolve, reject) => {
    get({ socketPath, path: '/', agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    }).on('error', reject);
  });
}

test('serve -b unix:PATH where another server listens: exit 1 naming EADDRINUSE; the server keeps its socket file', async () => {
  const dir = makeTmpDir();
  const sock = join(dir, 'app.sock');
  const served: Socket[] = [];
  // a server other than drover; drover's probe connects and closes at once, which it must not mind
  const other: Server = createServer((c) => {
    served.push(c);
    c.on('error', () => c.destroy());
    c.end('other server\n');
  });
  await new Promise<void>((r) => other.listen(sock, r));
  const inode = statSync(sock).ino;
  const run = new CliRun(['serve', fixture('worker-app.mjs'), '-b', `unix:${sock}`, '--runtime-dir', join(dir, '.drover')], { cwd: dir });
  try {
    assert.equal((await run.waitForExit(15_000)).code, 1, run.describe());
    assert.match(run.stderr, /-b unix:\S*app\.sock \(#1\) cannot bind unix:.*app\.sock: EADDRINUSE \(a server is listening on it/, run.describe());
    assert.equal(existsSync(sock) && statSync(sock).ino, inode, 'the other server\'s socket file is left in place');
    const answer = await new Promise<string>((resolve, reject) => {
      let text = '';
      const c = createConnection(sock);
      c.setEncoding('utf8').on('data', (d: string) => (text += d));
      c.on('end', () => resolve(text)).on('error', reject);
    });
    assert.equal(answer, 'other server\n', 'the other server is still reachable at its path');
  } finally {
    await teardown(run);
    for (const c of served) c.destroy();
    await new Promise((r) => other.close(r));
    rmSync(dir, { recursive: true, force: true });
  }
});

test('serve -b unix:PATH over the socket file of a server that is gone (connect refused) removes it and serves', async () => {
  const dir = makeTmpDir();
  const sock = join(dir, 'app.sock');
  // a server killed with SIGKILL leaves its socket file: nothing listens there any more
  const dead = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(sock)}, () => process.kill(process.pid, 'SIGKILL'))`], { stdio: 'ignore' });
  await new Promise((r) => dead.once('exit', r));
  assert.ok(statSync(sock).isSocket(), 'a leftover socket file');
  const run = new CliRun(['serve', fixture('worker-app.mjs'), '-b', `unix:${sock}`, '--runtime-dir', join(dir, '.drover')], { cwd: dir });
  try {
    await run.waitForLine(/app_0: starting → running/);
    assert.equal(await statusOver(sock), 200, run.describe());
    run.signal('SIGTERM');
    assert.equal((await run.waitForExit(15_000)).code, 0, run.describe());
    assert.equal(existsSync(sock), false, `drover removes the socket file it made\n${run.describe()}`);
  } finally {
    await teardown(run, [], dir);
  }
});

// From a review: at its exit (or a group's removal, an fcgi program's stop) drover removed whatever socket
// file was at its path, also one another server had put there after removing drover's (php-fpm taking a
// path over does that), which cut that server off. supervisord never removes it. drover removes the file
// only while the path still leads to the file it bound.
test('at its exit drover leaves a socket file another server has put at its path since', async () => {
  const dir = makeTmpDir();
  const sock = join(dir, 'app.sock');
  const run = new CliRun(['serve', fixture('worker-app.mjs'), '-b', `unix:${sock}`, '--runtime-dir', join(dir, '.drover')], { cwd: dir });
  const other: Server = createServer((c) => c.end('other server\n'));
  try {
    await run.waitForLine(/app_0: starting → running/);
    rmSync(sock);
    await new Promise<void>((r) => other.listen(sock, r));
    const inode = statSync(sock).ino;
    run.signal('SIGTERM');
    assert.equal((await run.waitForExit(15_000)).code, 0, run.describe());
    assert.equal(existsSync(sock) && statSync(sock).ino, inode, `the other server's socket file is left in place\n${run.describe()}`);
  } finally {
    await teardown(run);
    await new Promise((r) => other.close(r));
    rmSync(dir, { recursive: true, force: true });
  }
});
