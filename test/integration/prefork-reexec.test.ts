// USR2 re-exec under load: the new master inherits the sockets and the instance lock, its workers are
// ready before the old master drains, the pidfile is handed over, and not one request fails — also when
// the old master is SIGKILLed right after the handover. Plus `drover serve`, the app shapes, job workers
// and systemd socket activation.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseServerUrl, requestJson } from '../../src/control/client.js';
import { CliRun, fixture, livePids, makeTmpDir, procState, runCli, startUp, teardown, waitForAsync, waitForCondition, writeConfig } from '../helpers/drover.js';
import { heldApp, holdLoads, releaseLoads } from '../helpers/held-app.js';
import { fetchText } from '../helpers/http.js';
import { startLoad } from '../helpers/load.js';
import { freePort } from '../helpers/web.js';
import { droverBin } from '../helpers/paths.js';

const node = process.execPath;

function config(): string {
  return `[socket:web]
bind = 127.0.0.1:0

[program:web]
worker = ${fixture('worker-app.mjs')}
sockets = web
numprocs = 2
timeout = 5s
graceful_timeout = 5s

[program:side]
command = ${node} ${fixture('forever.mjs')}
startsecs = 0
`;
}

/** Every pid drover logged as spawned, for teardown (the new master and its workers are not in the test's group). */
function spawned(run: CliRun): number[] {
  return [
    ...[...run.output.matchAll(/spawned: \w+ with pid (\d+)/g)].map((m) => Number(m[1])),
    ...[...run.output.matchAll(/the new master \(pid (\d+)\)/g)].map((m) => Number(m[1])),
  ];
}

async function usr2UnderLoad(killOld: boolean): Promise<void> {
  const dir = makeTmpDir();
  const run = await startUp(writeConfig(dir, config()));
  const pidfile = join(dir, '.drover', 'drover.pid');
  let newMaster = 0;
  try {
    const port = Number((await run.waitForLine(/socket web: listening on 127\.0\.0\.1:(\d+)/))[1]);
    await run.waitForCount(/web_\d: starting → running/g, 2);
    const load = startLoad(port);
    await load.waitForMore(200);
    run.signal('SIGUSR2');
    const ready = await run.waitForLine(/the new master \(pid (\d+)\) is ready/, { timeoutMs: 20_000 });
    newMaster = Number(ready[1]);
    const handover = run.output.indexOf(ready[0]);
    if (killOld) run.signal('SIGKILL');
    await run.waitForExit(15_000, { drained: false });
    await load.waitForMore(200);
    const result = await load.stop();
    assert.equal(result.failed, 0, `failed requests: ${result.errors.join('; ')}\n${run.describe()}`);
    assert.equal(readFileSync(pidfile, 'utf8').trim(), String(newMaster), 'the pidfile names the new master');
    // the new master answers on the control socket, with the side program restarted under it
    const ep = parseServerUrl(`unix://${join(dir, '.drover', 'drover.sock')}`);
    const info = await requestJson(ep, 'GET', '/api/info');
    assert.equal(info.body['pid'], newMaster);
    // the new master shares the old one's stdout: its side program starts once the old master has gone
    await run.waitForLine(/side: starting → running/, { from: handover });
    const list = (await requestJson(ep, 'GET', '/api/processes')).body['processes'] as { name: string; state: string }[];
    assert.ok(list.every((p) => p.state === 'running'), JSON.stringify(list));
    await requestJson(ep, 'POST', '/api/shutdown', {});
    await waitForCondition(() => livePids([newMaster]).length === 0, 'the new master to exit', { timeoutMs: 15_000 });
  } finally {
    await teardown(run, spawned(run), dir);
  }
}

test('USR2 under load: the new master takes over the sockets and the pidfile, zero failed requests', async () => {
  await usr2UnderLoad(false);
});

test('USR2 then kill -9 of the old master under load: zero failed requests', async () => {
  await usr2UnderLoad(true);
});

test('a USR2 whose new master fails leaves the old master answering at its control socket and in its pidfile', async () => {
  const dir = makeTmpDir();
  const app = join(dir, 'app.mjs');
  writeFileSync(app, `export default (req, res) => res.end('ok');\n`);
  const file = writeConfig(dir, `[socket:web]\nbind = 127.0.0.1:0\n\n[program:web]\nworker = ${app}\nsockets = web\nnumprocs = 1\nstartretries = 0\n`);
  const run = await startUp(file);
  const runtime = join(dir, '.drover');
  try {
    await run.waitForLine(/web_0: starting → running/);
    // a bad deploy: the new master's workers cannot load the app
    writeFileSync(app, `throw new Error('boom at load');\n`);
    run.signal('SIGUSR2');
    await run.waitForLine(/SIGUSR2: .*; this master keeps running/, { timeoutMs: 30_000 });
    assert.equal(readFileSync(join(runtime, 'drover.pid'), 'utf8').trim(), String(run.pid), 'the pidfile still names the old master');
    const info = await requestJson(parseServerUrl(`unix://${join(runtime, 'drover.sock')}`), 'GET', '/api/info');
    assert.equal(info.body['pid'], run.pid, 'the old master answers at the control socket');
    const status = await runCli(['status', '-c', file]);
    assert.equal(status.code, 0, status.output);
    assert.deepEqual(readdirSync(runtime).filter((f) => f.startsWith('.drover.sock.')), [], 'no staging socket left behind');
  } finally {
    await teardown(run, spawned(run), dir);
  }
});

test('reexec_timeout: a USR2 whose new workers are not ready in time stops the new master and its workers; the old one keeps serving', async () => {
  const dir = makeTmpDir();
  const app = join(dir, 'app.mjs');
  writeFileSync(app, `export default (req, res) => res.end(String(process.pid));\n`);
  const file = writeConfig(
    dir,
    `[supervisord]\nreexec_timeout = 2s\n\n[socket:web]\nbind = 127.0.0.1:0\n\n[program:web]\nworker = ${app}\nsockets = web\nnumprocs = 1\ngraceful_timeout = 2s\n`,
  );
  const run = await startUp(file);
  try {
    const port = Number((await run.waitForLine(/socket web: listening on 127\.0\.0\.1:(\d+)/))[1]);
    const old = Number((await run.waitForLine(/spawned: web_0 with pid (\d+)/))[1]);
    await run.waitForLine(/web_0: starting → running/);
    // the new code loads for longer than reexec_timeout (it never finishes here)
    writeFileSync(app, `await new Promise(() => setInterval(() => {}, 1000));\nexport default (req, res) => res.end('new');\n`);
    const from = run.output.length;
    run.signal('SIGUSR2');
    const newPid = Number((await run.waitForLine(/spawned: web_0 with pid (\d+)/, { from }))[1]);
    // 2 s, not the 60 s it was before reexec_timeout
    await run.waitForLine(/SIGUSR2: its workers did not become ready within 2 s \(reexec_timeout\); this master keeps running/, { from, timeoutMs: 15_000 });
    await waitForCondition(() => livePids([newPid]).length === 0, 'the new worker to be stopped', { timeoutMs: 15_000, describe: () => run.describe() });
    assert.equal((await fetchText(port)).body, String(old), 'the old worker still answers');
    const info = await requestJson(parseServerUrl(`unix://${join(dir, '.drover', 'drover.sock')}`), 'GET', '/api/info');
    assert.equal(info.body['pid'], run.pid, 'the old master answers at the control socket');
  } finally {
    await teardown(run, spawned(run), dir);
  }
});

/** GET / over a unix socket: the answering worker's pid. */
function getOverUnix(socketPath: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: '/', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(body));
    });
    req.setTimeout(5000, () => req.destroy(new Error(`no answer at ${socketPath} within 5 s`)));
    req.on('error', reject);
    req.end();
  });
}

test('a unix socket across USR2: kept when the new master fails, served by it when it takes over, removed at the last exit', async () => {
  const dir = makeTmpDir();
  const app = join(dir, 'app.mjs');
  const sock = join(dir, 'web.sock');
  const good = `export default (req, res) => res.end(String(process.pid));\n`;
  writeFileSync(app, good);
  const file = writeConfig(dir, `[socket:web]\nbind = unix:${sock}\n\n[program:web]\nworker = ${app}\nsockets = web\nnumprocs = 1\nstartretries = 0\n`);
  const run = await startUp(file);
  const ep = parseServerUrl(`unix://${join(dir, '.drover', 'drover.sock')}`);
  let newMaster = 0;
  try {
    await run.waitForLine(/web_0: starting → running/);
    assert.match(await getOverUnix(sock), /^\d+$/);
    // a new master that fails leaves the socket file to the old one, which goes on serving there
    writeFileSync(app, `throw new Error('boom at load');\n`);
    run.signal('SIGUSR2');
    await run.waitForLine(/SIGUSR2: .*; this master keeps running/, { timeoutMs: 30_000 });
    // the failed new master (the second to say "drover up: pid") has exited: it did not take the file along
    const failed = Number([...run.output.matchAll(/drover up: pid (\d+)/g)][1]?.[1] ?? 0);
    assert.ok(failed > 0, run.describe());
    await waitForCondition(() => livePids([failed]).length === 0, 'the failed new master to exit', { timeoutMs: 15_000, describe: () => run.describe() });
    assert.ok(existsSync(sock), `the socket file is still there after a failed re-exec\n${run.describe()}`);
    assert.match(await getOverUnix(sock), /^\d+$/);
    // a new master that takes over serves at the same path once the old one has gone
    writeFileSync(app, good);
    const from = run.output.length;
    run.signal('SIGUSR2');
    newMaster = Number((await run.waitForLine(/the new master \(pid (\d+)\) is ready/, { timeoutMs: 20_000, from }))[1]);
    await run.waitForExit(15_000, { drained: false });
    assert.ok(existsSync(sock), `the old master left the socket file to the new one\n${run.describe()}`);
    const worker = await getOverUnix(sock);
    // the list of files is for the new master alone: its programs do not inherit it
    assert.doesNotMatch(readFileSync(`/proc/${worker}/environ`, 'utf8'), /DROVER_SOCKET_FILES/);
    // the last master removes the file it inherited from the master that made it (a systemd-passed one stays)
    await requestJson(ep, 'POST', '/api/shutdown', {});
    await waitForCondition(() => livePids([newMaster]).length === 0, 'the new master to exit', { timeoutMs: 15_000, describe: () => run.describe() });
    assert.equal(existsSync(sock), false, `the last master removed ${sock}\n${run.describe()}`);
  } finally {
    await teardown(run, spawned(run), dir);
  }
});

/** Names of the files in `dir` that process `pid` holds open. */
function heldIn(pid: number, dir: string): string[] {
  const held: string[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      if (target.startsWith(`${dir}/`)) held.push(target.slice(dir.length + 1));
    } catch {
      // closed while listed
    }
  }
  return held.sort();
}

test('two USR2s in a row: each old master removes its AUTO logs as it exits, childlogdir holds only the newest master\'s', async () => {
  const dir = makeTmpDir();
  const app = join(dir, 'app.mjs');
  writeFileSync(app, `export default (req, res) => res.end('hi');\n`);
  const file = writeConfig(dir, `[socket:web]\nbind = 127.0.0.1:0\n\n[program:web]\nworker = ${app}\nsockets = web\nnumprocs = 2\n`);
  const run = await startUp(file);
  const logs = join(dir, '.drover', 'logs');
  const masters: number[] = [];
  const listing = (): string => `${logs}: ${readdirSync(logs).sort().join(' ')}\n${run.describe()}`;
  try {
    await run.waitForCount(/web_\d: starting → running/g, 2);
    const first = readdirSync(logs).sort();
    assert.equal(first.length, 4, listing());
    let old = run.pid;
    for (let round = 0; round < 2; round++) {
      const from = run.output.length;
      process.kill(old, 'SIGUSR2');
      const next = Number((await run.waitForLine(/the new master \(pid (\d+)\) is ready/, { from, timeoutMs: 20_000 }))[1]);
      masters.push(next);
      const gone = old;
      // exited: a zombie or reaped. Not livePids: a process on its way out has no environ to read, and is no
      // longer "live" to it while the new master, which takes USR2 only once its predecessor has ended, still
      // sees it running (it then ignores the next USR2, rightly)
      await waitForCondition(() => [null, 'Z'].includes(procState(gone)), `the old master (pid ${gone}) to exit`, { timeoutMs: 15_000, describe: listing });
      old = next;
    }
    // the newest master's own AUTO logs (stdout and stderr of web_0 and web_1) and nothing else
    const newest = masters[1] ?? 0;
    const held = heldIn(newest, logs);
    assert.equal(held.length, 4, `the newest master holds ${held.join(' ')}\n${listing()}`);
    assert.deepEqual(readdirSync(logs).sort(), held, listing());
    assert.ok(first.every((f) => !held.includes(f)), listing());
    await requestJson(parseServerUrl(`unix://${join(dir, '.drover', 'drover.sock')}`), 'POST', '/api/shutdown', {});
    await waitForCondition(() => livePids([newest]).length === 0, 'the newest master to exit', { timeoutMs: 15_000, describe: listing });
    // a plain shutdown keeps them (removed at the next start), as supervisord leaves them
    assert.deepEqual(readdirSync(logs).sort(), held, listing());
  } finally {
    for (const pid of livePids(masters)) process.kill(pid, 'SIGKILL');
    await teardown(run, spawned(run), dir);
  }
});

test('USR2 with nocleanup = true: the old master leaves its AUTO logs beside the new master\'s', async () => {
  const dir = makeTmpDir();
  const app = join(dir, 'app.mjs');
  writeFileSync(app, `export default (req, res) => res.end('hi');\n`);
  const file = writeConfig(dir, `[supervisord]\nnocleanup = true\n\n[socket:web]\nbind = 127.0.0.1:0\n\n[program:web]\nworker = ${app}\nsockets = web\nnumprocs = 1\n`);
  const run = await startUp(file);
  const logs = join(dir, '.drover', 'logs');
  let newMaster = 0;
  const listing = (): string => `${logs}: ${readdirSync(logs).sort().join(' ')}\n${run.describe()}`;
  try {
    await run.waitForLine(/web_0: starting → running/);
    const first = readdirSync(logs).sort();
    assert.equal(first.length, 2, listing());
    run.signal('SIGUSR2');
    newMaster = Number((await run.waitForLine(/the new master \(pid (\d+)\) is ready/, { timeoutMs: 20_000 }))[1]);
    await run.waitForExit(15_000, { drained: false });
    const held = heldIn(newMaster, logs);
    assert.equal(held.length, 2, listing());
    assert.deepEqual(readdirSync(logs).sort(), [...first, ...held].sort(), listing());
    await requestJson(parseServerUrl(`unix://${join(dir, '.drover', 'drover.sock')}`), 'POST', '/api/shutdown', {});
    await waitForCondition(() => livePids([newMaster]).length === 0, 'the new master to exit', { timeoutMs: 15_000, describe: listing });
  } finally {
    await teardown(run, spawned(run), dir);
  }
});

/** A web worker that answers its pid, its code written by `good`/`bad` (which cannot load). */
function toggledApp(dir: string): { file: string; good: () => void; bad: () => void } {
  const file = join(dir, 'app.mjs');
  const good = (): void => writeFileSync(file, `export default (req, res) => res.end(String(process.pid));\n`);
  good();
  return { file, good, bad: () => writeFileSync(file, `throw new Error('boom at load');\n`) };
}

test('USR2 with [inet_http_server]: the new master answers on the same TCP port, no connection is refused meanwhile, and a failed one leaves the port to the old', async () => {
  const dir = makeTmpDir();
  const app = toggledApp(dir);
  const port = await freePort();
  const file = writeConfig(
    dir,
    `[inet_http_server]\nport = 127.0.0.1:${port}\nusername = admin\npassword = s3cret\n\n[socket:web]\nbind = 127.0.0.1:0\n\n[program:web]\nworker = ${app.file}\nsockets = web\nnumprocs = 1\nstartretries = 0\n`,
  );
  const run = await startUp(file);
  const ep = parseServerUrl(`http://127.0.0.1:${port}`, { username: 'admin', password: 's3cret' });
  // one connection after another to the port, from before each USR2 until the test has seen what it waits for
  let polling = true;
  const errors: string[] = [];
  const answeredBy = new Set<unknown>();
  const poll = (async (): Promise<void> => {
    while (polling) {
      try {
        answeredBy.add((await requestJson(ep, 'GET', '/api/info', undefined, { timeoutMs: 5000 })).body['pid']);
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
  })();
  let newMaster = 0;
  try {
    await run.waitForLine(/web_0: starting → running/);
    // a new master that fails leaves the port to the old one (its copy of the fd closes with it)
    app.bad();
    run.signal('SIGUSR2');
    await run.waitForLine(/SIGUSR2: .*; this master keeps running/, { timeoutMs: 30_000 });
    const failed = Number([...run.output.matchAll(/drover up: pid (\d+)/g)][1]?.[1] ?? 0);
    assert.ok(failed > 0, run.describe());
    await waitForCondition(() => livePids([failed]).length === 0, 'the failed new master to exit', { timeoutMs: 15_000, describe: () => run.describe() });
    assert.equal((await requestJson(ep, 'GET', '/api/info', undefined, { timeoutMs: 5000 })).body['pid'], run.pid, 'the old master still answers on the TCP port');
    // a new master that takes over answers there, and the old one is gone
    app.good();
    const from = run.output.length;
    run.signal('SIGUSR2');
    newMaster = Number((await run.waitForLine(/the new master \(pid (\d+)\) is ready/, { timeoutMs: 20_000, from }))[1]);
    await run.waitForExit(15_000, { drained: false });
    // (bounded: a port that nobody accepts on holds a connection unanswered)
    const info = await requestJson(ep, 'GET', '/api/info', undefined, { timeoutMs: 5000 }).catch((err: unknown) => assert.fail(`${(err as Error).message}\n${run.describe()}`));
    assert.equal(info.body['pid'], newMaster, `the new master answers on 127.0.0.1:${port}\n${run.describe()}`);
    polling = false;
    await poll;
    assert.deepEqual(errors, [], `connections to the TCP port failed during the re-exec\n${run.describe()}`);
    assert.ok(answeredBy.has(run.pid) && answeredBy.has(newMaster), `answered by ${[...answeredBy].join(' ')}`);
    await requestJson(ep, 'POST', '/api/shutdown', {});
    await waitForCondition(() => livePids([newMaster]).length === 0, 'the new master to exit', { timeoutMs: 15_000, describe: () => run.describe() });
  } finally {
    polling = false;
    await poll;
    await teardown(run, spawned(run), dir);
  }
});

test('USR2 with a control socket path too long for a staging name beside it: the new master takes the path over', async () => {
  const dir = makeTmpDir();
  // 107 bytes, the longest path a unix socket takes: `.drover.sock.PID` beside it would not fit
  const sub = join(dir, 'd'.repeat(107 - dir.length - '/'.length - '/drover.sock'.length));
  mkdirSync(sub);
  const sock = join(sub, 'drover.sock');
  assert.equal(Buffer.byteLength(sock), 107);
  const file = writeConfig(dir, `[unix_http_server]\nfile = ${sock}\n\n[program:side]\ncommand = ${node} ${fixture('forever.mjs')}\nstartsecs = 0\n`);
  const run = await startUp(file);
  const ep = parseServerUrl(`unix://${sock}`);
  let newMaster = 0;
  try {
    await run.waitForLine(/side: starting → running/);
    run.signal('SIGUSR2');
    newMaster = Number((await run.waitForLine(/the new master \(pid (\d+)\) is ready/, { timeoutMs: 20_000 }))[1]);
    await run.waitForExit(15_000, { drained: false });
    assert.equal((await requestJson(ep, 'GET', '/api/info')).body['pid'], newMaster, run.describe());
    assert.deepEqual(readdirSync(sub), ['drover.sock'], 'no staging socket left behind');
    await requestJson(ep, 'POST', '/api/shutdown', {});
    await waitForCondition(() => livePids([newMaster]).length === 0, 'the new master to exit', { timeoutMs: 15_000, describe: () => run.describe() });
    assert.equal(existsSync(sock), false, `the last master removed ${sock}\n${run.describe()}`);
  } finally {
    await teardown(run, spawned(run), dir);
  }
});

/** Live processes of `run`, other than its first master, that are a drover master (the one USR2 started). */
function successorsOf(run: CliRun): number[] {
  return readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n) && Number(n) !== run.pid)
    .map(Number)
    .filter((pid) => {
      try {
        // `up … --reexec` until it sets its title, `drover: master [...]` after
        const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        return (cmd.includes('--reexec') || cmd.startsWith('drover: master')) && livePids([pid], run.mark).length === 1;
      } catch {
        return false; // gone while listed
      }
    });
}

test('USR2 whose old master dies before the new one is ready: the new master takes the control socket and the pidfile over at once', async () => {
  const dir = makeTmpDir();
  const h = heldApp(dir);
  const file = writeConfig(dir, `[socket:web]\nbind = 127.0.0.1:0\n\n[program:web]\nworker = ${h.app}\nsockets = web\nnumprocs = 1\n\n[program:side]\ncommand = ${node} ${fixture('forever.mjs')}\nstartsecs = 0\n`);
  const run = await startUp(file);
  const runtime = join(dir, '.drover');
  const ep = parseServerUrl(`unix://${join(runtime, 'drover.sock')}`);
  let released = false;
  try {
    await run.waitForLine(/web_0: starting → running/, { timeoutMs: 10_000 });
    assert.equal(spawnSync('mkfifo', [h.fifo]).status, 0, 'mkfifo');
    writeFileSync(h.hold, '');
    const from = run.output.length;
    run.signal('SIGUSR2');
    // the new master's worker is loading (and stays so): the old master dies now
    await run.waitForLine(/spawned: web_0 with pid \d+/, { from, timeoutMs: 10_000 });
    const [successor] = successorsOf(run);
    assert.ok(successor !== undefined, run.describe());
    run.signal('SIGKILL');
    await run.waitForExit(10_000, { drained: false });
    // the new master starts the rest once the old one has gone; it must answer at the control socket too,
    // though its serving worker is not ready (before, nothing answered there until it was)
    await run.waitForLine(/side: starting → running/, { from, timeoutMs: 10_000 });
    let last = '';
    await waitForAsync(
      async () => {
        try {
          last = String((await requestJson(ep, 'GET', '/api/info', undefined, { timeoutMs: 2000 })).body['pid']);
        } catch (err) {
          last = (err as Error).message;
        }
        return last === String(successor);
      },
      `the new master (pid ${successor}) to answer at the control socket`,
      { timeoutMs: 5000, describe: () => `last answer: ${last}\n${run.describe()}` },
    );
    assert.equal(readFileSync(join(runtime, 'drover.pid'), 'utf8').trim(), String(successor), 'the pidfile names the new master');
    const status = await runCli(['status', '-c', file]);
    assert.match(status.output, /web_0 .*starting/i, `drover status reaches the new master\n${status.output}`);
    // let its worker load, then stop it all
    writeFileSync(h.fifo, 'go');
    released = true;
    await requestJson(ep, 'POST', '/api/shutdown', {});
    await waitForCondition(() => livePids([successor]).length === 0, 'the new master to exit', { timeoutMs: 15_000, describe: () => run.describe() });
  } finally {
    if (!released && existsSync(h.fifo)) spawnSync('sh', ['-c', `exec 3<>"${h.fifo}"; echo go >&3`]);
    for (const pid of successorsOf(run)) process.kill(pid, 'SIGKILL');
    await teardown(run, spawned(run), dir);
  }
});

test('TERM during a USR2 re-exec stops the new master too: no drover is left running', async () => {
  const dir = makeTmpDir();
  // the new master's worker never gets ready, so the TERM is sure to come while the new master is getting ready
  const { app, hold, fifo } = heldApp(dir);
  const run = await startUp(writeConfig(dir, `[socket:web]\nbind = 127.0.0.1:0\n\n[program:web]\nworker = ${app}\nsockets = web\nnumprocs = 1\n\n[program:side]\ncommand = ${node} ${fixture('forever.mjs')}\nstartsecs = 0\n`));
  const successors = (): number[] => successorsOf(run);
  try {
    await run.waitForLine(/web_0: starting → running/, { timeoutMs: 10_000 });
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo');
    writeFileSync(hold, '');
    run.signal('SIGUSR2');
    await run.waitForLine(/SIGUSR2: re-executing the master/);
    await waitForCondition(() => successors().length === 1, 'the new master to be spawned', { describe: () => run.describe() });
    run.signal('SIGTERM');
    assert.equal((await run.waitForExit(15_000, { drained: false })).code, 0, run.describe());
    await waitForCondition(() => successors().length === 0, 'no new master left running', { timeoutMs: 10_000, describe: () => `${successors().join(' ')}\n${run.describe()}` });
  } finally {
    for (const pid of successors()) process.kill(pid, 'SIGKILL');
    await teardown(run, spawned(run), dir);
  }
});

test("gunicorn's upgrade: USR2, WINCH and QUIT to the old master before the new one is ready: the new master carries on and serves", async () => {
  const dir = makeTmpDir();
  // the new master's workers load only when the test lets them, so the QUIT is sure to come before it is ready
  const h = heldApp(dir);
  const port = await freePort();
  const run = await startUp(writeConfig(dir, `[socket:web]\nbind = 127.0.0.1:${port}\n\n[program:web]\nworker = ${h.app}\nsockets = web\nnumprocs = 2\n`));
  const pidfile = join(dir, '.drover', 'drover.pid');
  const successors = (): number[] => successorsOf(run);
  let released = false;
  try {
    await run.waitForLine(/web_1: starting → running/, { timeoutMs: 10_000 });
    assert.match((await fetchText(port, '/')).body, /^ok$/);
    holdLoads(h);
    run.signal('SIGUSR2');
    await run.waitForLine(/SIGUSR2: re-executing the master/);
    await waitForCondition(() => successors().length === 1, 'the new master to be spawned', { describe: () => run.describe() });
    const [successor] = successors();
    run.signal('SIGWINCH');
    await run.waitForLine(/web_1: stopping → stopped/, { timeoutMs: 10_000 });
    run.signal('SIGQUIT');
    assert.equal((await run.waitForExit(15_000, { drained: false })).code, 0, run.describe());
    assert.doesNotMatch(run.output, /stopping the new master/, run.describe());
    assert.deepEqual(livePids([successor as number]), [successor], `the new master runs on\n${run.describe()}`);
    releaseLoads(h);
    released = true;
    let last = '';
    await waitForAsync(
      async () => {
        try {
          last = (await fetchText(port, '/')).body;
        } catch (err) {
          last = (err as Error).message;
        }
        return last === 'ok';
      },
      'the service to answer again',
      { timeoutMs: 15_000, describe: () => `last answer: ${last}; new master ${successor} alive: ${livePids([successor as number]).length === 1}\n${run.describe()}` },
    );
    await waitForCondition(() => existsSync(pidfile) && readFileSync(pidfile, 'utf8').trim() === String(successor), 'the pidfile to name the new master', {
      describe: () => `${existsSync(pidfile) ? readFileSync(pidfile, 'utf8') : 'no pidfile'}\n${run.describe()}`,
    });
    for (let i = 0; i < 20; i++) assert.equal((await fetchText(port, '/')).body, 'ok');
    process.kill(successor as number, 'SIGTERM');
    await waitForCondition(() => livePids([successor as number]).length === 0, 'the new master to exit', { timeoutMs: 15_000, describe: () => run.describe() });
  } finally {
    if (!released) releaseLoads(h);
    for (const pid of successors()) process.kill(pid, 'SIGKILL');
    await teardown(run, spawned(run), dir);
  }
});

test('drover serve: gunicorn-style command line, HUP rolls, down stops; fetch() and http.Server exports work', async () => {
  const dir = makeTmpDir();
  writeFileSync(
    join(dir, 'fetch-app.mjs'),
    `export default { fetch: async (req) => new Response('fetch ' + new URL(req.url).pathname + ' ' + process.pid, { headers: { 'x-app': 'fetch' } }) };\n`,
  );
  writeFileSync(
    join(dir, 'server-app.mjs'),
    `import { createServer } from 'node:http';\nexport default createServer((req, res) => res.end('server ' + process.pid));\n`,
  );
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  const port = (blocker.address() as { port: number }).port;
  blocker.close();
  for (const app of ['fetch-app.mjs', 'server-app.mjs']) {
    const run = new CliRun(['serve', join(dir, app), '-w', '2', '-b', `127.0.0.1:${port}`, '--runtime-dir', join(dir, '.drover'), '--reexec-timeout', '90'], { cwd: dir });
    try {
      await run.waitForCount(/starting → running \(worker reported ready\)/g, 2);
      assert.match(readFileSync(join(dir, '.drover', 'serve.ini'), 'utf8'), /^reexec_timeout = 90$/m);
      const r = await fetchText(port, '/hello');
      assert.equal(r.status, 200);
      assert.match(r.body, app === 'fetch-app.mjs' ? /^fetch \/hello \d+$/ : /^server \d+$/);
      const from = run.output.length;
      run.signal('SIGHUP');
      await run.waitForCount(/stopping → stopped/g, 2, 15_000);
      assert.ok(run.output.slice(from).includes('worker reported ready'));
      // not spawnSync: this process must keep reading drover's output while `down` waits for it to exit
      const down = await runCli(['down', '-c', join(dir, '.drover', 'serve.ini')], { cwd: dir });
      assert.equal(down.code, 0, `${down.output}\n${run.describe()}`);
      assert.equal((await run.waitForExit()).code, 0, run.describe());
    } finally {
      await teardown(run, [...run.output.matchAll(/spawned: \w+ with pid (\d+)/g)].map((m) => Number(m[1])));
    }
  }
});

test('drover serve --reexec-timeout takes whole seconds, at least 1', async () => {
  const dir = makeTmpDir();
  writeFileSync(join(dir, 'app.mjs'), `export default (req, res) => res.end('ok');\n`);
  for (const bad of ['soon', '0']) {
    const r = await runCli(['serve', join(dir, 'app.mjs'), '--reexec-timeout', bad, '--runtime-dir', join(dir, '.drover')], { cwd: dir });
    assert.equal(r.code, 2, r.output);
    assert.match(r.stderr, bad === '0' ? /--reexec-timeout must be at least 1/ : /--reexec-timeout must be a whole number, got "soon"/);
  }
});

test('drover serve with an app that cannot load: the master exits 1 once no worker can start, freeing the port (as gunicorn)', async () => {
  const dir = makeTmpDir();
  const app = join(dir, 'broken.mjs');
  writeFileSync(app, `throw new Error('boom at load');\n`);
  const run = new CliRun(['serve', app, '-w', '2', '-b', '127.0.0.1:0', '--runtime-dir', join(dir, '.drover')], { cwd: dir });
  try {
    const exit = await run.waitForExit(30_000);
    assert.equal(exit.code, 1, run.describe());
    assert.match(run.output, /essential program broken_\d is FATAL/);
    assert.equal(run.count(/broken_\d: backoff → fatal/g), 2, 'both workers tried their retries first');
  } finally {
    await teardown(run, [...run.output.matchAll(/spawned: \w+ with pid (\d+)/g)].map((m) => Number(m[1])), dir);
  }
});

test('drover serve: a HUP onto code that cannot load keeps the old workers serving, and the master running', async () => {
  const dir = makeTmpDir();
  const app = join(dir, 'app.mjs');
  writeFileSync(app, `export default (req, res) => res.end('old ' + process.pid);\n`);
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  const port = (blocker.address() as { port: number }).port;
  blocker.close();
  const run = new CliRun(['serve', app, '-w', '1', '-b', `127.0.0.1:${port}`, '--runtime-dir', join(dir, '.drover')], { cwd: dir });
  try {
    await run.waitForLine(/app_0: starting → running/, { timeoutMs: 10_000 });
    writeFileSync(app, `throw new Error('boom at load');\n`);
    run.signal('SIGHUP');
    await run.waitForLine(/replacement app_\d+ did not start .*; keeping the old worker/, { timeoutMs: 30_000 });
    // the reload's own summary says so, rather than counting the pool as rolled
    await run.waitForLine(/WARN reload: done \(SIGHUP: .*; 0 pool\(s\) rolled; kept the old workers of app:app: the new ones did not get ready\)/, { timeoutMs: 30_000 });
    const r = await fetchText(port, '/');
    assert.match(r.body, /^old \d+$/, 'the old worker still answers');
    assert.equal(run.child.exitCode, null, `the master runs on\n${run.describe()}`);
    assert.doesNotMatch(run.output, /essential program/);
  } finally {
    await teardown(run, [...run.output.matchAll(/spawned: \w+ with pid (\d+)/g)].map((m) => Number(m[1])), dir);
  }
});

test('a job worker (defineWorker): setup, run until stopped, stop, each graceful', async () => {
  const dir = makeTmpDir();
  writeFileSync(
    join(dir, 'jobs.mjs'),
    `import { defineWorker } from 'drover';
export default defineWorker({
  setup(ctx) { ctx.log('setup ' + ctx.id); },
  async run(ctx) {
    let n = 0;
    while (!ctx.signal.aborted) { n++; if (n === 3) ctx.log('working ' + ctx.name); await new Promise((r) => setTimeout(r, 10)); }
    ctx.log('run returned after ' + n);
  },
  stop(ctx) { ctx.log('stopped ' + ctx.name); },
});
`,
  );
  // the module imports 'drover' by name: link the package so the import resolves from the temp dir
  spawnSync('mkdir', ['-p', join(dir, 'node_modules')]);
  spawnSync('ln', ['-s', join(droverBin, '..', '..'), join(dir, 'node_modules', 'drover')]);
  const run = await startUp(
    writeConfig(
      dir,
      `[program:jobs]
worker = ${join(dir, 'jobs.mjs')}
numprocs = 2
`,
    ),
  );
  try {
    await run.waitForLine(/jobs_0 \| setup 0/);
    await run.waitForLine(/jobs_1 \| working jobs_1/);
    await run.waitForCount(/jobs_\d: starting → running \(worker reported ready\)/g, 2);
    run.signal('SIGTERM');
    await run.waitForLine(/jobs_0 \| run returned after \d+/);
    await run.waitForLine(/jobs_1 \| stopped jobs_1/);
    assert.equal((await run.waitForExit()).code, 0, run.describe());
    assert.match(run.output, /jobs_0: stopping → stopped \(exit status 0\)/);
  } finally {
    await teardown(run, [], dir);
  }
});

test("systemd's socket activation: systemd-socket-activate starts drover serve on the passed socket", async () => {
  const dir = makeTmpDir();
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  const port = (blocker.address() as { port: number }).port;
  blocker.close();
  const which = spawnSync('sh', ['-c', 'command -v systemd-socket-activate'], { encoding: 'utf8' });
  assert.equal(which.status, 0, 'systemd-socket-activate is installed (Debian package systemd; scripts/install-test-deps.sh)');
  // systemd-socket-activate binds the port, and on the first connection execs drover with LISTEN_FDS=1
  let text = '';
  const child = spawn(
    'systemd-socket-activate',
    ['-l', `127.0.0.1:${port}`, node, droverBin, 'serve', fixture('worker-app.mjs'), '-w', '2', '--runtime-dir', join(dir, '.drover')],
    { cwd: dir, detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout.setEncoding('utf8').on('data', (d: string) => (text += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (text += d));
  try {
    await waitForCondition(() => /Listening on/.test(text), 'systemd-socket-activate to listen', { describe: () => text });
    const r = await fetchText(port);
    assert.equal(r.status, 200, text);
    assert.match(r.body, /^\d+$/);
    // the passed socket's own address, not the section's bind = fd://3
    assert.match(text, new RegExp(`socket bind0: listening on 127\\.0\\.0\\.1:${port} \\(inherited\\) \\(fd 3\\)`));
  } finally {
    try {
      process.kill(-(child.pid ?? 0), 'SIGTERM');
    } catch {
      // ESRCH: already gone
    }
    await waitForCondition(() => child.exitCode !== null || child.signalCode !== null, 'the activated drover to exit', {
      timeoutMs: 15_000,
      describe: () => text,
    });
  }
});
