// A reload keeps the [socket:x] sections in step with the config (found by a review: a socket a reload
// added was never bound, so its program went FATAL; a changed one stayed on its old address; a removed one
// stayed open in the master). Real sockets: the programs accept on the fd drover hands them.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { CliRun, makeTmpDir, runCli, teardown, waitForCondition, writeConfig } from '../helpers/drover.js';
import { listeningSockets } from '../helpers/listen.js';
import { freePort } from '../helpers/web.js';

/** Connects to `target` (a port or a unix path) and resolves with what the server writes before it closes. */
function ask(target: number | string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = typeof target === 'number' ? connect(target, '127.0.0.1') : connect(target);
    let got = '';
    c.setEncoding('utf8');
    c.on('data', (d: string) => (got += d));
    c.on('end', () => resolve(got));
    c.on('error', reject);
  });
}

/** A program that answers each connection on the socket drover passed as fd 3 with its name. */
function writeServer(dir: string): string {
  const path = join(dir, 'serve.mjs');
  writeFileSync(path, `import { createServer } from 'node:net';\ncreateServer((c) => c.end(process.argv[2])).listen({ fd: 3 }, () => console.log('serving ' + process.argv[2]));\n`);
  return path;
}

const base = `[program:a]
command = sleep 1000
`;

test('reload binds an added socket, moves its program onto a changed one, and closes a removed one', async () => {
  const dir = makeTmpDir();
  const server = writeServer(dir);
  const [p1, p2] = [await freePort(), await freePort()];
  const withSocket = (port: number): string => `${base}
[socket:web]
bind = 127.0.0.1:${port}

[program:b]
command = ${process.execPath} ${server} b
sockets = web
`;
  const file = writeConfig(dir, base);
  const run = new CliRun(['up', '-c', file], { cwd: dir });
  const reload = async (text: string): Promise<string> => {
    writeConfig(dir, text);
    const r = await runCli(['reload', '-c', file], { cwd: dir, timeoutMs: 30_000 });
    assert.equal(r.code, 0, `drover reload → exit ${String(r.code)}\n${r.output}\n${run.describe()}`);
    return r.stdout;
  };
  const describe = (): string => run.describe();
  try {
    await run.waitForLine(/a: starting → running/);
    // added: bound at the reload, and b serves on it
    const from = run.output.length;
    await reload(withSocket(p1));
    await run.waitForLine(/serving b/, { from });
    assert.equal(await ask(p1), 'b', describe());
    // changed: bound anew, b restarted onto it, the old address closed once b left it
    const moved = await reload(withSocket(p2));
    assert.match(moved, /b: restarted: its socket changed/);
    assert.match(moved, /reload: 1 changed/);
    assert.equal(await ask(p2), 'b', describe());
    await waitForCondition(() => listeningSockets(p1).length === 0, `nothing listening on ${p1} any more`, { describe });
    // removed, with its program: nothing listens there once b is gone
    await reload(base);
    await waitForCondition(() => listeningSockets(p2).length === 0, `nothing listening on ${p2} any more`, { describe: () => `${JSON.stringify(listeningSockets(p2))}\n${describe()}` });
  } finally {
    await teardown(run, [...run.output.matchAll(/spawned: '?\w+'? with pid (\d+)/g)].map((m) => Number(m[1])), dir);
  }
});

test('reload moves a program onto a unix socket whose mode changed; the path answers throughout and stays', async () => {
  const dir = makeTmpDir();
  const server = writeServer(dir);
  const path = join(dir, 'web.sock');
  const withSocket = (mode: string): string => `${base}
[socket:web]
bind = unix:${path}
mode = ${mode}

[program:b]
command = ${process.execPath} ${server} b
sockets = web
`;
  const file = writeConfig(dir, withSocket('0600'));
  const run = new CliRun(['up', '-c', file], { cwd: dir });
  try {
    await run.waitForLine(/serving b/);
    assert.equal(await ask(path), 'b', run.describe());
    writeConfig(dir, withSocket('0660'));
    const r = await runCli(['reload', '-c', file], { cwd: dir, timeoutMs: 30_000 });
    assert.equal(r.code, 0, `drover reload → exit ${String(r.code)}\n${r.output}\n${run.describe()}`);
    assert.match(r.stdout, /b: restarted: its socket changed/);
    assert.equal(await ask(path), 'b', run.describe());
    const { statSync } = await import('node:fs');
    assert.equal(statSync(path).mode & 0o777, 0o660, 'the new socket file, with its new mode');
  } finally {
    await teardown(run, [...run.output.matchAll(/spawned: '?\w+'? with pid (\d+)/g)].map((m) => Number(m[1])), dir);
  }
});

test('a socket a reload cannot bind fails the reload for its program only, with the bind error', async () => {
  const dir = makeTmpDir();
  const server = writeServer(dir);
  const busy: Server = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  const port = (busy.address() as { port: number }).port;
  const file = writeConfig(dir, base);
  const run = new CliRun(['up', '-c', file], { cwd: dir });
  try {
    const aPid = Number((await run.waitForLine(/spawned: '?a'? with pid (\d+)/))[1]);
    await run.waitForLine(/a: starting → running/);
    writeConfig(
      dir,
      `${base}
[socket:web]
bind = 127.0.0.1:${port}

[program:b]
command = ${process.execPath} ${server} b
sockets = web
`,
    );
    const r = await runCli(['reload', '-c', file], { cwd: dir, timeoutMs: 30_000 });
    assert.equal(r.code, 1, `drover reload → exit ${String(r.code)}\n${r.output}\n${run.describe()}`);
    assert.match(r.stdout, /b: ERROR E_SPAWN \(not added: its socket web could not be bound: \[socket:web\] cannot bind 127\.0\.0\.1:\d+: the address is already in use \(another process listens on it: `ss -ltnp` names it\) \(EADDRINUSE\)\)/, r.output);
    await run.waitForLine(/\[socket:web\] cannot bind 127\.0\.0\.1:\d+: the address is already in use .*\(EADDRINUSE\)/);
    assert.doesNotMatch(run.output, /spawned: '?b'?/, 'b is not started on a socket that is not bound');
    assert.doesNotMatch(run.output, /a: running → /, 'a is left alone');
    assert.equal(Number((/spawned: '?a'? with pid (\d+)/.exec(run.output) ?? [])[1]), aPid);
  } finally {
    busy.close();
    await teardown(run, [...run.output.matchAll(/spawned: '?\w+'? with pid (\d+)/g)].map((m) => Number(m[1])), dir);
  }
});

// From a code review: a socket the file removed was closed at the end of every reload, also while a program
// the reload did not apply (out of its scope) still named it; that program's next start then failed with
// "its socket web is not bound".
test('a removed socket stays while a program out of the reload\'s scope still uses it', async () => {
  const dir = makeTmpDir();
  const server = writeServer(dir);
  const port = await freePort();
  const file = writeConfig(dir, `${base}\n[socket:web]\nbind = 127.0.0.1:${port}\n\n[program:b]\ncommand = ${process.execPath} ${server} b\nsockets = web\n`);
  const run = new CliRun(['up', '-c', file], { cwd: dir });
  try {
    await run.waitForLine(/serving b/);
    writeConfig(dir, base);
    const r = await runCli(['reload', 'a', '-c', file], { cwd: dir, timeoutMs: 30_000 });
    assert.equal(r.code, 0, `${r.output}\n${run.describe()}`);
    const from = run.output.length;
    const restart = await runCli(['restart', 'b', '-c', file], { cwd: dir, timeoutMs: 30_000 });
    assert.equal(restart.code, 0, `${restart.output}\n${run.describe()}`);
    await run.waitForLine(/serving b/, { from });
    assert.equal(await ask(port), 'b', run.describe());
  } finally {
    await teardown(run, [...run.output.matchAll(/spawned: '?\w+'? with pid (\d+)/g)].map((m) => Number(m[1])), dir);
  }
});

// From a code review: `drover add GROUP` (supervisor's addProcessGroup) after a reread built the group from
// the file read then, but bound none of the sockets it names: its program failed, its socket not bound.
test('drover reread then add binds the sockets the added group names', async () => {
  const dir = makeTmpDir();
  const server = writeServer(dir);
  const port = await freePort();
  const file = writeConfig(dir, base);
  const run = new CliRun(['up', '-c', file], { cwd: dir });
  try {
    await run.waitForLine(/a: starting → running/);
    writeConfig(dir, `${base}\n[socket:web]\nbind = 127.0.0.1:${port}\n\n[program:b]\ncommand = ${process.execPath} ${server} b\nsockets = web\n`);
    const reread = await runCli(['reread', '-c', file], { cwd: dir });
    assert.equal(reread.code, 0, reread.output);
    const add = await runCli(['add', 'b', '-c', file], { cwd: dir, timeoutMs: 30_000 });
    assert.equal(add.code, 0, `${add.output}\n${run.describe()}`);
    await run.waitForLine(/serving b/);
    assert.equal(await ask(port), 'b', run.describe());
  } finally {
    await teardown(run, [...run.output.matchAll(/spawned: '?\w+'? with pid (\d+)/g)].map((m) => Number(m[1])), dir);
  }
});
