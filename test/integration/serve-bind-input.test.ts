// Two bad -b inputs found by a review comparing `drover serve` with gunicorn 20.1. The same address given
// twice made drover print `drover up: [socket:bind1] cannot bind 127.0.0.1:P: EADDRINUSE`: a section the
// user never wrote and an errno (gunicorn 20.1 does not de-duplicate either: it retries "Connection in use"
// five times and exits 1). A unix: path that is a regular file or a directory said EADDRINUSE too (gunicorn:
// "'PATH' is not a socket"). Now serve names the -b as typed and its occurrence, before anything is bound,
// and `up` names the config's file, line and key. A leftover socket file is still replaced
// (unix-socket-in-use.test.ts).
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CliRun, fixture, makeTmpDir, serveToEnd, teardown, writeConfig } from '../helpers/drover.js';
import { freePort } from '../helpers/web.js';

test('serve -b ADDR -b ADDR: refused before binding, naming the second -b as typed and saying it is given twice (exit 2)', async () => {
  const dir = makeTmpDir();
  const port = await freePort();
  try {
    const r = await serveToEnd(dir, ['-b', `127.0.0.1:${port}`, '-b', `127.0.0.1:${port}`]);
    assert.equal(r.code, 2, r.output);
    assert.match(r.stderr, new RegExp(`^drover serve: -b 127\\.0\\.0\\.1:${port} \\(#2\\) is given twice: -b #1 is the same address; give each address once\\n`), r.output);
    assert.doesNotMatch(r.output, /\[socket:bind|EADDRINUSE|drover up/, r.output);
    assert.equal(existsSync(join(dir, '.drover', 'serve.ini')), false, 'no serve.ini is left for status and the rest');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('serve: two -b that are one address written differently (tcp://, a relative and an absolute unix: path) are given twice too', async () => {
  const dir = makeTmpDir();
  const port = await freePort();
  try {
    let r = await serveToEnd(dir, ['-b', `127.0.0.1:${port}`, '-b', `unix:${join(dir, 'a.sock')}`, '-b', `tcp://127.0.0.1:${port}`]);
    assert.equal(r.code, 2, r.output);
    assert.match(r.stderr, new RegExp(`-b tcp://127\\.0\\.0\\.1:${port} \\(#3\\) is given twice: -b #1 \\(127\\.0\\.0\\.1:${port}\\) is the same address`), r.output);
    r = await serveToEnd(dir, ['-b', 'unix:a.sock', '-b', `unix:${join(dir, 'a.sock')}`]);
    assert.equal(r.code, 2, r.output);
    assert.match(r.stderr, /-b unix:\S+a\.sock \(#2\) is given twice: -b #1 \(unix:a\.sock\) is the same address/, r.output);
    assert.equal(existsSync(join(dir, 'a.sock')), false, 'nothing was bound');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('serve -b 0.0.0.0:P -b 127.0.0.1:P: refused before binding, the second is already bound by -b #1 (exit 2); port 0 twice is two ports', async () => {
  const dir = makeTmpDir();
  const port = await freePort();
  try {
    let r = await serveToEnd(dir, ['-b', `0.0.0.0:${port}`, '-b', `127.0.0.1:${port}`]);
    assert.equal(r.code, 2, r.output);
    assert.match(r.stderr, new RegExp(`^drover serve: -b 127\\.0\\.0\\.1:${port} \\(#2\\) is already bound by -b #1 \\(0\\.0\\.0\\.0:${port}, every IPv4 address\\)`), r.output);
    assert.doesNotMatch(r.output, /\[socket:bind|EADDRINUSE/, r.output);
    r = await serveToEnd(dir, ['-b', `[::]:${port}`, '-b', `127.0.0.1:${port}`]);
    assert.equal(r.code, 2, r.output);
    assert.match(r.stderr, new RegExp(`-b 127\\.0\\.0\\.1:${port} \\(#2\\) is already bound by -b #1 \\(\\[::\\]:${port}, every IPv6 and IPv4 address\\)`), r.output);
    // not the same address: each gets a port of its own, and [::1] is not 0.0.0.0's
    r = await serveToEnd(dir, ['--check-config', '-b', '127.0.0.1:0', '-b', '127.0.0.1:0', '-b', `0.0.0.0:${port}`, '-b', `[::1]:${port}`]);
    assert.equal(r.code, 0, r.output);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('serve -b unix:PATH where PATH is a regular file or a directory: not a socket, left in place (exit 1)', async () => {
  const dir = makeTmpDir();
  const file = join(dir, 'file.sock');
  const folder = join(dir, 'dir.sock');
  writeFileSync(file, 'keep me\n');
  mkdirSync(folder);
  try {
    let r = await serveToEnd(dir, ['-b', `127.0.0.1:0`, '-b', 'unix:file.sock']);
    assert.equal(r.code, 1, r.output);
    assert.match(r.stderr, new RegExp(`^drover serve: -b unix:file\\.sock \\(#2\\): ${file.replace(/[.]/g, '\\.')} exists and is a regular file, not a socket; drover will not remove it`), r.output);
    assert.doesNotMatch(r.output, /\[socket:bind|EADDRINUSE/, r.output);
    assert.equal(readFileSync(file, 'utf8'), 'keep me\n', 'the file is left as it was');
    r = await serveToEnd(dir, ['-b', `unix:${folder}`]);
    assert.equal(r.code, 1, r.output);
    assert.match(r.stderr, new RegExp(`-b unix:${folder.replace(/[.]/g, '\\.')} \\(#1\\): ${folder.replace(/[.]/g, '\\.')} exists and is a directory, not a socket; drover will not remove it`), r.output);
    assert.ok(statSync(folder).isDirectory(), 'the directory is left as it was');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('up: [socket:x] bind = unix:PATH where PATH is a regular file names the file, line, key and value; the file is left (exit 1)', async () => {
  const dir = makeTmpDir();
  const path = join(dir, 'web.sock');
  writeFileSync(path, 'keep me\n');
  const config = writeConfig(dir, `[program:web]
worker = ${fixture('worker-app.mjs')}
sockets = web

[socket:web]
backlog = 16
bind = unix:${path}
`);
  const run = new CliRun(['up', '-c', config], { cwd: dir });
  try {
    assert.equal((await run.waitForExit(15_000)).code, 1, run.describe());
    const escaped = (s: string): string => s.replace(/[.]/g, '\\.');
    assert.match(run.stderr, new RegExp(`^drover up: ${escaped(config)}:7: \\[socket:web\\] bind: ${escaped(path)} exists and is a regular file, not a socket; drover will not remove it \\(remove it, or bind another path\\) \\(got "unix:${escaped(path)}"\\)`, 'm'), run.describe());
    assert.doesNotMatch(run.stderr, /EADDRINUSE/, run.describe());
    assert.equal(readFileSync(path, 'utf8'), 'keep me\n', 'the file is left as it was');
  } finally {
    await teardown(run, [], dir);
  }
});

test('serve -b unix:PATH under a regular file (ENOTDIR): the bind says why, exit 1, no internal error', async () => {
  const dir = makeTmpDir();
  try {
    writeFileSync(join(dir, 'plain'), '');
    const r = await serveToEnd(dir, ['-b', `unix:${join(dir, 'plain', 'x.sock')}`]);
    assert.equal(r.code, 1, r.output);
    assert.match(r.stderr, /cannot bind unix:\S*plain\/x\.sock: .*ENOTDIR/, r.output);
    assert.doesNotMatch(r.output, /internal error/, r.output);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
