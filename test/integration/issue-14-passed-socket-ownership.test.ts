// `drover up` under systemd's socket activation, continued (issue-14-socket-activation.test.ts has the
// basics): what drover does with a passed socket after the start. From a review that found that a reload
// changing a passed socket's section moved its programs off systemd's socket (closing systemd's fd, and for
// a unix path renaming drover's own file over systemd's and removing it at exit); that several fds passed
// under one name kept the first and closed the rest without a word; that reuse_port on a passed socket left
// every worker but the first FATAL (EADDRINUSE); and that the "listening on" line named the section's own
// address instead of the passed socket's. systemd-socket-activate plays systemd: it listens, and on the first
// connection execs drover with LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES.
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { get, type RequestOptions } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { CliRun, DEFAULT_TIMEOUT_MS, fixture, makeTmpDir, procState, runCli, teardown, TIMEOUT_SCALE, waitForCondition, writeConfig } from '../helpers/drover.js';

const ACTIVATE = '/usr/bin/systemd-socket-activate';
const skip = !existsSync(ACTIVATE) && 'systemd-socket-activate is not installed (scripts/install-test-deps.sh installs systemd)';

/** GET PATH over TCP (a port on 127.0.0.1) or a unix socket, bounded; a failure says what drover printed. */
function getBounded(where: number | string, path: string, run: CliRun): Promise<{ status: number; body: string }> {
  const limit = DEFAULT_TIMEOUT_MS * TIMEOUT_SCALE;
  const target: RequestOptions = typeof where === 'number' ? { host: '127.0.0.1', port: where } : { socketPath: where };
  return new Promise((resolve, reject) => {
    const req = get({ ...target, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', (err) => reject(new Error(`GET ${path} on ${String(where)}: ${err.message}\n${run.describe()}`)));
    req.setTimeout(limit, () => req.destroy(new Error(`no answer within ${limit} ms`)));
  });
}

/** A TCP port on 127.0.0.1 that nothing listens on now (the kernel's pick for port 0, released). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** `drover up -c CONF` under systemd-socket-activate listening on `listen` (in that order), named `fdnames`. */
async function activate(dir: string, conf: string, listen: readonly string[], fdnames: string): Promise<CliRun> {
  const run = new CliRun(['up', '-c', conf], { cwd: dir, wrapper: [ACTIVATE, ...listen.flatMap((l) => ['-l', l]), `--fdname=${fdnames}`] });
  await run.waitForCount(/Listening on .* as \d+\./g, listen.length);
  return run;
}

const worker = (name: string, sockets: string, extra = ''): string => `[program:${name}]\nworker = ${fixture('worker-app.mjs')}\nsockets = ${sockets}\n${extra}\n`;

// 1. A reload that changes a passed socket's section. Before: "socket a: bound anew on 127.0.0.1:<own>
// (changed)", the workers rolled onto drover's own socket and systemd's closed (its port refused
// connections); for unix, drover's own file renamed over systemd's, and removed at drover's exit.
test('a reload that changes the section of a socket systemd passed is refused: its programs keep the passed socket, and its file is left alone', { skip }, async () => {
  const dir = makeTmpDir();
  const passedPort = await freePort();
  const ownPort = await freePort();
  const passedB = join(dir, 'pass-b.sock');
  const passedC = join(dir, 'pass-c.sock');
  // a and b are passed under their names; c under another name, taken by its address
  const config = (port: number, own: string, mode: string): string =>
    `[socket:a]\nbind = 127.0.0.1:${port}\n\n[socket:b]\nbind = unix:${join(dir, own)}\n\n[socket:c]\nbind = unix:${passedC}\n${mode}\n` +
    worker('pa', 'a') +
    worker('pb', 'b') +
    worker('pc', 'c');
  const conf = writeConfig(dir, config(ownPort, 'own-b.sock', ''));
  const run = await activate(dir, conf, [`127.0.0.1:${passedPort}`, passedB, passedC], 'a:b:app.socket');
  try {
    const inodeB = statSync(passedB).ino;
    const inodeC = statSync(passedC).ino;
    // the first connection makes systemd-socket-activate exec drover
    assert.equal((await getBounded(passedPort, '/', run)).status, 200);
    await run.waitForLine(/drover up: pid \d+/);
    assert.equal((await getBounded(passedB, '/', run)).status, 200);
    assert.equal((await getBounded(passedC, '/', run)).status, 200);
    writeConfig(dir, config(await freePort(), 'own-b2.sock', 'mode = 0666'));
    const r = await runCli(['reload', '-c', conf], { cwd: dir, timeoutMs: 30_000 });
    assert.equal(r.code, 1, `${r.output}\n${run.describe()}`);
    for (const name of ['a', 'b', 'c']) assert.match(r.output, new RegExp(`\\[socket:${name}\\] is a socket drover was passed \\(.*\\): a reload cannot change it`), r.output);
    assert.doesNotMatch(run.output, /bound anew/, 'no passed socket is replaced');
    // new connections still reach a worker through each passed socket
    assert.equal((await getBounded(passedPort, '/', run)).status, 200);
    assert.equal((await getBounded(passedB, '/', run)).status, 200);
    assert.equal((await getBounded(passedC, '/', run)).status, 200);
    assert.equal(statSync(passedB).ino, inodeB, 'the socket file is still the one systemd made');
    assert.equal(statSync(passedC).ino, inodeC, 'the socket file is still the one systemd made');
    assert.equal(existsSync(join(dir, 'own-b2.sock')), false, 'the section\'s own address was not bound');
    run.signal('SIGTERM');
    assert.equal((await run.waitForExit(15_000)).code, 0, run.describe());
    assert.equal(existsSync(passedB) && statSync(passedB).ino, inodeB, 'the passed socket\'s file outlives drover');
    assert.equal(existsSync(passedC) && statSync(passedC).ino, inodeC, 'the passed socket\'s file outlives drover');
  } finally {
    await teardown(run, [], dir);
  }
});

// The refusal said the change "waits for drover's next start (… or a re-exec with SIGUSR2)", which never
// comes while systemd passes the socket. And the successor of a USR2 re-exec inherits every socket from the
// old master: it must still know which are systemd's (it is told, DROVER_PASSED_FDS), or its reload would
// replace systemd's TCP socket as the first master's did.
for (const reexec of [false, true]) {
  test(`a reload that changes only the backlog of a passed TCP socket is refused${reexec ? ' after a USR2 re-exec too' : ''}, without promising a restart applies it`, { skip }, async () => {
    const dir = makeTmpDir();
    const port = await freePort();
    const config = (backlog: number): string => `[socket:a]\nbind = 127.0.0.1:${port}\nbacklog = ${backlog}\n\n` + worker('pa', 'a');
    const conf = writeConfig(dir, config(64));
    const run = await activate(dir, conf, [`127.0.0.1:${port}`], 'other');
    let newPid = 0;
    try {
      assert.equal((await getBounded(port, '/', run)).status, 200);
      await run.waitForLine(/drover up: pid \d+/);
      if (reexec) {
        run.signal('SIGUSR2');
        newPid = Number((await run.waitForLine(/SIGUSR2: the new master \(pid (\d+)\) is ready/, { timeoutMs: 20_000 }))[1]);
        await run.waitForExit(15_000, { drained: false });
      }
      writeConfig(dir, config(32));
      const r = await runCli(['reload', '-c', conf], { cwd: dir, timeoutMs: 30_000 });
      assert.equal(r.code, 1, `${r.output}\n${run.describe()}`);
      assert.match(r.output, /\[socket:a\] is a socket drover was passed .*: a reload cannot change it/, r.output);
      assert.doesNotMatch(r.output, /waits for drover's next start/, 'a restart or a re-exec gets the passed socket again: it applies nothing');
      assert.equal((await getBounded(port, '/', run)).status, 200);
    } finally {
      // systemd-socket-activate passes drover no DROVER_TEST_MARK, so livePids() would not see the new master
      const alive = (): boolean => ![null, 'Z'].includes(procState(newPid));
      if (newPid > 0 && alive()) {
        process.kill(newPid, 'SIGTERM');
        await waitForCondition(() => !alive(), 'the new master to exit', { timeoutMs: 15_000 });
      }
      await teardown(run, [], dir);
    }
  });
}

// 2. Several fds under one name (several ListenStream= in one .socket unit, or --fdname=c for three -l).
// Before: the section of that name kept the first and closed the rest, with no warning, and a section of
// one of their addresses found it taken (EADDRINUSE with systemd holding its copy).
test('several fds passed under one name: its section takes the first, another section takes one by its address, the rest is named in the warning', { skip }, async () => {
  const dir = makeTmpDir();
  const [pc, pa, px] = [await freePort(), await freePort(), await freePort()];
  const conf = writeConfig(dir, `[socket:c]\nbind = 127.0.0.1:${await freePort()}\n\n[socket:a]\nbind = 127.0.0.1:${pa}\n\n` + worker('wc', 'c') + worker('wa', 'a'));
  const run = await activate(dir, conf, [`127.0.0.1:${pc}`, `127.0.0.1:${pa}`, `127.0.0.1:${px}`], 'c:c:c');
  try {
    const first = await getBounded(pc, '/env', run);
    await run.waitForLine(/drover up: pid \d+/);
    assert.match((JSON.parse(first.body) as { title: string }).title, /\[wc(_\d+)?\]/, first.body);
    const byAddress = await getBounded(pa, '/env', run);
    assert.match((JSON.parse(byAddress.body) as { title: string }).title, /\[wa(_\d+)?\]/, byAddress.body);
    await run.waitForLine(new RegExp(`WARN a socket passed to drover \\(LISTEN_FDNAMES "c", fd 5\\) is named by no \\[socket:x\\] .*127\\.0\\.0\\.1:${px}\\): nothing serves it`));
    assert.equal(run.count(/is named by no \[socket:x\]/g), 1, run.describe());
  } finally {
    await teardown(run, [], dir);
  }
});

// 3. reuse_port = true on a passed socket. Before: "balanced", then every worker slot after the first
// failed with EADDRINUSE (FATAL, retried for ever) and one worker of N served.
test('reuse_port on a passed socket falls back to one shared socket, with a warning: every worker serves', { skip }, async () => {
  const dir = makeTmpDir();
  const port = await freePort();
  const conf = writeConfig(dir, `[socket:a]\nbind = 127.0.0.1:${await freePort()}\nreuse_port = true\n\n` + worker('w', 'a', 'numprocs = 2'));
  const run = await activate(dir, conf, [`127.0.0.1:${port}`], 'a');
  try {
    assert.equal((await getBounded(port, '/', run)).status, 200);
    await run.waitForLine(/w_0: starting → running/);
    await run.waitForLine(/w_1: starting → running/);
    await run.waitForLine(/WARN socket a: reuse_port ignored/);
    assert.doesNotMatch(run.output, /cannot open slot|balanced:/, run.describe());
  } finally {
    await teardown(run, [], dir);
  }
});

// 4. The start-up line names the socket that serves: the passed one, not the section's own bind =.
test('the "listening on" line of a passed socket names the passed socket\'s address', { skip }, async () => {
  const dir = makeTmpDir();
  const port = await freePort();
  const passed = join(dir, 'pass-web.sock');
  const conf = writeConfig(dir, `[socket:web]\nbind = unix:${join(dir, 'own-web.sock')}\n\n[socket:api]\nbind = unix:${join(dir, 'own-api.sock')}\n\n` + worker('web', 'web') + worker('api', 'api'));
  const run = await activate(dir, conf, [passed, `127.0.0.1:${port}`], 'web:api');
  try {
    assert.equal((await getBounded(passed, '/', run)).status, 200);
    await run.waitForLine(/drover up: pid \d+/);
    assert.match(run.output, /socket web: listening on unix:\S*pass-web\.sock \(inherited\)/, run.describe());
    assert.match(run.output, new RegExp(`socket api: listening on 127\\.0\\.0\\.1:${port} \\(inherited\\)`), run.describe());
  } finally {
    await teardown(run, [], dir);
  }
});
