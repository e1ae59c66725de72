// A HUP roll meets the rest of the pool's life: workers that serve nothing yet (backoff) are replaced with
// the new config at once, a WINCH during the roll is not undone by it, and a TTOU during it counts from the
// size the reload set. Each reload is held open by an app whose load blocks on a FIFO the test releases.
// Old workers holding never-ending responses drain side by side, not one after the other.
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get, type ClientRequest } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { assertStaysFor, fixture, makeTmpDir, runCli, startUp, teardown, waitForAsync, waitForCondition, writeConfig, type CliRun } from '../helpers/drover.js';
import { listeningSockets } from '../helpers/listen.js';
import { heldApp, holdLoads, releaseLoads } from '../helpers/held-app.js';
import { fetchText } from '../helpers/http.js';

function pool(app: string, numprocs: number, extra = ''): string {
  return `[socket:web]
bind = 127.0.0.1:0

[program:web]
worker = ${app}
sockets = web
numprocs = ${numprocs}
graceful_timeout = 5s
${extra}`;
}

function workerPids(run: CliRun): number[] {
  return [...run.output.matchAll(/spawned: web_\d+ with pid (\d+)/g)].map((m) => Number(m[1]));
}

/** `web:web_N` → state, from `drover status --json`. */
async function states(file: string): Promise<Record<string, string>> {
  const r = await runCli(['status', '--json', '-c', file]);
  const { processes } = JSON.parse(r.stdout) as { processes: { name: string; state: string }[] };
  return Object.fromEntries(processes.map((p) => [p.name, p.state]));
}

/** Waits (10 s) until `drover status` shows what `ok` wants; the states it saw last. */
async function waitForStates(file: string, run: CliRun, what: string, ok: (now: Record<string, string>) => boolean): Promise<Record<string, string>> {
  let now: Record<string, string> = {};
  await waitForAsync(
    async () => {
      now = await states(file);
      return ok(now);
    },
    what,
    { timeoutMs: 10_000, describe: () => `${JSON.stringify(now)}\n${run.describe()}` },
  );
  return now;
}

// A review found a pool in backoff (its app failing at import under the old config) left alone by the roll:
// the fixed config never reached it, the log said the pool was rolled, and `drover reload` waited on the
// retries for its whole minute.
test('reload of a pool whose workers are in backoff replaces them at once with the new config; drover reload returns', async () => {
  const dir = makeTmpDir();
  const app = join(dir, 'fails-with-env.mjs');
  writeFileSync(app, `if (process.env.FAIL) throw new Error('FAIL=' + process.env.FAIL);\nexport default (req, res) => res.end('ok');\n`);
  const file = writeConfig(dir, pool(app, 2, 'startretries = 20\nenvironment = FAIL="1"\n'));
  const run = await startUp(file);
  try {
    await run.waitForCount(/web_\d: starting → backoff/g, 2, 10_000);
    writeFileSync(file, pool(app, 2, 'startretries = 20\n'));
    const from = run.output.length;
    // before the fix it waited on the old workers' retries (its minute): the daemon's log says why
    const r = await runCli(['reload', '-c', file], { cwd: dir, timeoutMs: 15_000 }).catch((err: unknown) => {
      throw new Error(`drover reload: ${(err as Error).message}\n${run.describe()}`);
    });
    assert.equal(r.code, 0, `${r.output}\n${run.describe()}`);
    // the CLI's summary names the pool it rolled (it said "reload: no changes")
    assert.match(r.stdout, /^reload: .*; 1 pool\(s\) rolled: web:web/m, r.output);
    const after = run.output.slice(from);
    // backoff, or starting its next retry (which fails the same way) when the reload came
    assert.match(after, /web_0: (backoff|starting), serving nothing: replaced at once by web_\d+ \(reload\)/, run.describe());
    assert.match(after, /reload: done \(POST \/api\/update: .*1 pool\(s\) rolled: web:web\)/, run.describe());
    const now = await states(file);
    assert.deepEqual(Object.values(now), ['running', 'running'], `${JSON.stringify(now)}\n${run.describe()}`);
    assert.ok(!('web:web_0' in now) && !('web:web_1' in now), `the failing workers are gone: ${JSON.stringify(now)}`);
  } finally {
    await teardown(run, workerPids(run), dir);
  }
});

test('WINCH during a HUP roll stops the pool for good: the roll starts nothing more, and its log line says so', async () => {
  const dir = makeTmpDir();
  const h = heldApp(dir);
  const file = writeConfig(dir, pool(h.app, 3));
  const run = await startUp(file);
  try {
    await run.waitForCount(/web_\d: starting → running/g, 3, 10_000);
    holdLoads(h);
    const from = run.output.length;
    run.signal('SIGHUP');
    // the first replacement loads (and stays so): the roll is under way
    await run.waitForLine(/spawned: web_3 with pid \d+/, { from, timeoutMs: 10_000 });
    run.signal('SIGWINCH');
    await run.waitForLine(/SIGWINCH: stopping 4 worker\(s\)/, { from });
    releaseLoads(h);
    const done = await run.waitForLine(/reload: done \(SIGHUP: [^\n]*\)/, { from, timeoutMs: 10_000 });
    const afterWinch = run.output.slice(run.output.indexOf('SIGWINCH: stopping', from));
    assert.doesNotMatch(afterWinch, /spawned: web_/, `the roll started no worker after the WINCH\n${run.describe()}`);
    assert.doesNotMatch(done[0], /kept the old workers/, run.describe());
    assert.match(done[0], /0 pool\(s\) rolled; the roll of web:web ended at SIGWINCH: its workers stay stopped until TTIN or a reload/, run.describe());
    await run.waitForCount(/web_\d: stopping → stopped/g, 4, 10_000);
    await assertStaysFor(500, () => !/spawned: web_/.test(run.output.slice(run.output.indexOf('SIGWINCH: stopping', from))), 'no worker to start after the WINCH');
    const now = await states(file);
    assert.ok(Object.values(now).every((s) => s === 'stopped'), `${JSON.stringify(now)}\n${run.describe()}`);
  } finally {
    releaseLoads(h);
    await teardown(run, workerPids(run), dir);
  }
});

// A review found that the pools after the one rolling when WINCH came were rolled all the same (each pool
// took its own count of WINCHes when its turn came): the WINCH stopped only the first pool for good.
test('WINCH during a HUP roll of two pools stops both: the second pool is not rolled back up', async () => {
  const dir = makeTmpDir();
  const h = heldApp(dir);
  const file = writeConfig(
    dir,
    // the pools roll in name order: api (held) first, then web
    `[socket:api]
bind = 127.0.0.1:0

[program:api]
worker = ${h.app}
sockets = api
numprocs = 1
graceful_timeout = 5s

${pool(fixture('worker-app.mjs'), 2)}`,
  );
  const run = await startUp(file);
  try {
    await run.waitForCount(/(web_\d|api_\d): starting → running/g, 3, 10_000);
    holdLoads(h);
    const from = run.output.length;
    run.signal('SIGHUP');
    await run.waitForLine(/spawned: api_1 with pid \d+/, { from, timeoutMs: 10_000 });
    run.signal('SIGWINCH');
    await run.waitForLine(/SIGWINCH: stopping 4 worker\(s\)/, { from });
    releaseLoads(h);
    const done = await run.waitForLine(/reload: done \(SIGHUP: [^\n]*\)/, { from, timeoutMs: 10_000 });
    const afterWinch = run.output.slice(run.output.indexOf('SIGWINCH: stopping', from));
    assert.doesNotMatch(afterWinch, /spawned: (web|api)_/, `the roll started no worker after the WINCH\n${run.describe()}`);
    assert.match(done[0], /0 pool\(s\) rolled; the roll of api:api, web:web ended at SIGWINCH/, run.describe());
    await assertStaysFor(500, () => !/spawned: (web|api)_/.test(run.output.slice(run.output.indexOf('SIGWINCH: stopping', from))), 'no worker to start after the WINCH');
    const now = await states(file);
    assert.ok(Object.values(now).every((s) => s === 'stopped'), `${JSON.stringify(now)}\n${run.describe()}`);
  } finally {
    releaseLoads(h);
    await teardown(run, [...run.output.matchAll(/spawned: \w+ with pid (\d+)/g)].map((m) => Number(m[1])), dir);
  }
});

// A review found that on balanced sockets the old worker a HUP roll replaced kept its slot while it drained
// (its successor holds the same slot): when the successor went down for good meanwhile, the slot was
// counted as held and stayed open in the master with nobody to accept what the kernel queued there, also
// once the old worker had gone. It now gives the slot up when its stop begins, as a hand-over to a spare does.
test('balanced: a HUP roll\'s successor going FATAL while the old worker drains closes the slot; nothing waits in it', async () => {
  const dir = makeTmpDir();
  const broken = join(dir, 'broken');
  const app = join(dir, 'app.mjs');
  writeFileSync(
    app,
    `import { existsSync } from 'node:fs';
if (existsSync(${JSON.stringify(broken)})) throw new Error('broken on purpose');
export default (req, res) => {
  if (req.url === '/hang') return console.log('hanging in ' + process.pid);
  res.end(String(process.pid));
};
`,
  );
  const file = writeConfig(
    dir,
    `[socket:web]
bind = 127.0.0.1:0
reuse_port = true

[program:web]
worker = ${app}
sockets = web
numprocs = 2
startretries = 0
graceful_timeout = 30s
`,
  );
  // the kernel's hash: a slot with nobody to accept keeps getting its share of new connections
  const run = await startUp(file, { DROVER_REUSEPORT_STEERING: 'hash' });
  const hangs: ClientRequest[] = [];
  try {
    const port = Number((await run.waitForLine(/socket web: listening on 127\.0\.0\.1:(\d+)/))[1]);
    await run.waitForCount(/web_\d: starting → running/g, 2, 10_000);
    // a never-ending request on each worker (new connections land by the kernel's hash), so that each drains
    for (let i = 0; i < 40 && !(/web_0 \| hanging/.test(run.output) && /web_1 \| hanging/.test(run.output)); i++) {
      const seen = (run.output.match(/\| hanging in/g) ?? []).length;
      const r = get({ host: '127.0.0.1', port, path: '/hang', agent: false });
      r.on('error', () => undefined);
      hangs.push(r);
      await run.waitForCount(/\| hanging in/g, seen + 1);
    }
    assert.match(run.output, /web_0 \| hanging/, run.describe());
    assert.match(run.output, /web_1 \| hanging/, run.describe());
    const from = run.output.length;
    run.signal('SIGHUP');
    // web_2 serves in web_0's slot and web_3 in web_1's; web_0 and web_1 drain there, held by their requests
    await run.waitForLine(/web_3: starting → running/, { from, timeoutMs: 10_000 });
    await run.waitForLine(/web_1: running → stopping/, { from });
    assert.equal(listeningSockets(port).length, 2, JSON.stringify(listeningSockets(port)));
    writeFileSync(broken, '');
    const successor = Number((await run.waitForLine(/spawned: web_2 with pid (\d+)/, { from }))[1]);
    process.kill(successor, 'SIGKILL');
    await run.waitForLine(/web_2: \w+ → fatal/, { from, timeoutMs: 10_000 });
    const describe = (): string => `${JSON.stringify(listeningSockets(port))}\n${run.describe()}`;
    await waitForCondition(() => listeningSockets(port).length === 1, 'the slot nobody accepts on to close', { timeoutMs: 5_000, describe });
    assert.doesNotMatch(run.output.slice(from), /web_0: stopping → /, `web_0 still drains: the slot closed without waiting for it\n${describe()}`);
  } finally {
    for (const r of hangs) r.destroy();
    await teardown(run, [...run.output.matchAll(/spawned: \w+ with pid (\d+)/g)].map((m) => Number(m[1])), dir);
  }
});

test('TTOU during a HUP roll counts from the size the reload set: 3 in the file, TTIN, HUP, TTOU twice → 1 worker', async () => {
  const dir = makeTmpDir();
  const h = heldApp(dir);
  const file = writeConfig(dir, pool(h.app, 3));
  const run = await startUp(file);
  try {
    await run.waitForCount(/web_\d: starting → running/g, 3, 10_000);
    run.signal('SIGTTIN');
    await run.waitForLine(/web_3: starting → running/);
    holdLoads(h);
    const from = run.output.length;
    run.signal('SIGHUP');
    await run.waitForLine(/spawned: web_4 with pid \d+/, { from, timeoutMs: 10_000 });
    for (const n of [2, 1]) {
      run.signal('SIGTTOU');
      await run.waitForLine(new RegExp(`web: (removing worker web_\\d+ )?\\(?now ${n}`), { from });
    }
    releaseLoads(h);
    await run.waitForLine(/reload: done \(SIGHUP/, { from, timeoutMs: 15_000 });
    const now = await waitForStates(file, run, 'the pool to settle', (st) => !Object.values(st).some((s) => s === 'stopping' || s === 'starting'));
    assert.deepEqual(Object.values(now).filter((s) => s === 'running').length, 1, `${JSON.stringify(now)}\n${run.describe()}`);
  } finally {
    releaseLoads(h);
    await teardown(run, workerPids(run), dir);
  }
});

/**
 * An app whose loads wait while `hold` exists, each until the test writes `go-PID` for its process: one
 * load is let go at a time. It answers with its VER.
 */
function perProcessHold(dir: string): { app: string; hold: string; release: (pid: number) => void } {
  const app = join(dir, 'per-process-hold.mjs');
  const hold = join(dir, 'hold');
  writeFileSync(
    app,
    `import { existsSync } from 'node:fs';
while (existsSync(${JSON.stringify(hold)}) && !existsSync(${JSON.stringify(dir)} + '/go-' + process.pid)) await new Promise((r) => setTimeout(r, 10));
export default (req, res) => res.end(process.env.VER ?? '');
`,
  );
  return { app, hold, release: (pid) => writeFileSync(join(dir, `go-${pid}`), '') };
}

// A review found a HUP that came while a max_requests successor was loading stopped that successor as a
// worker serving nothing; the recycle then kept the worker it was replacing, which ran the old config on.
test('HUP while a max_requests successor loads: the successor is rolled once up, and no worker of the old config is left', async () => {
  const dir = makeTmpDir();
  const h = perProcessHold(dir);
  const file = writeConfig(dir, pool(h.app, 1, 'max_requests = 2\nenvironment = VER="1"\n'));
  const run = await startUp(file);
  try {
    const port = Number((await run.waitForLine(/socket web: listening on 127\.0\.0\.1:(\d+)/))[1]);
    await run.waitForLine(/web_0: starting → running/);
    writeFileSync(h.hold, '');
    for (let i = 0; i < 2; i++) assert.equal((await fetchText(port)).body, '1');
    const successor = Number((await run.waitForLine(/spawned: web_1 with pid (\d+)/))[1]);
    writeFileSync(file, pool(h.app, 1, 'max_requests = 2\nenvironment = VER="2"\n'));
    const from = run.output.length;
    run.signal('SIGHUP');
    await run.waitForLine(/web_1: (loading, begun before the reload|starting, serving nothing)/, { from });
    rmSync(h.hold);
    h.release(successor);
    const done = await run.waitForLine(/reload: done \(SIGHUP[^\n]*\)/, { from, timeoutMs: 15_000 });
    assert.doesNotMatch(done[0], /kept/, run.describe());
    const now = await waitForStates(file, run, 'one worker, running', (st) => Object.values(st).length === 1 && Object.values(st)[0] === 'running');
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push((await fetchText(port)).body);
    assert.deepEqual(answers, ['2', '2', '2'], `every answer from the new config\n${JSON.stringify(now)}\n${run.describe()}`);
  } finally {
    rmSync(h.hold, { force: true });
    await teardown(run, workerPids(run), dir);
  }
});

// The same review: a TTOU while the roll's last replacement loaded took that replacement (the highest slot),
// so the roll "kept the old worker" it was replacing and said so, though its config was the old one.
test('TTOU while a roll replacement loads removes a worker that is up, not the replacement; the roll completes', async () => {
  const dir = makeTmpDir();
  const h = perProcessHold(dir);
  const file = writeConfig(dir, pool(h.app, 2));
  const run = await startUp(file);
  try {
    await run.waitForCount(/web_\d: starting → running/g, 2, 10_000);
    writeFileSync(h.hold, '');
    const from = run.output.length;
    run.signal('SIGHUP');
    h.release(Number((await run.waitForLine(/spawned: web_2 with pid (\d+)/, { from }))[1]));
    const last = Number((await run.waitForLine(/spawned: web_3 with pid (\d+)/, { from, timeoutMs: 10_000 }))[1]);
    run.signal('SIGTTOU');
    const removed = await run.waitForLine(/web: removing worker (web_\d+) \(now 1\)/, { from });
    assert.notEqual(removed[1], 'web_3', `the loading replacement was taken\n${run.describe()}`);
    rmSync(h.hold);
    h.release(last);
    const done = await run.waitForLine(/reload: done \(SIGHUP[^\n]*\)/, { from, timeoutMs: 15_000 });
    assert.doesNotMatch(done[0], /kept/, run.describe());
    assert.doesNotMatch(run.output.slice(from), /keeping the old worker/, run.describe());
    const now = await waitForStates(file, run, 'one worker, running', (st) => Object.values(st).length === 1 && Object.values(st)[0] === 'running');
    assert.ok('web:web_3' in now, `${JSON.stringify(now)}\n${run.describe()}`);
  } finally {
    rmSync(h.hold, { force: true });
    await teardown(run, workerPids(run), dir);
  }
});

// A code review of the test above's fix: a successor that got ready while the roll waited on another
// worker's replacement had left `loading` before its turn came, and was never rolled.
test('HUP with two max_requests successors loading, one ready mid-roll: both end on the new config', async () => {
  const dir = makeTmpDir();
  const h = perProcessHold(dir);
  const file = writeConfig(dir, pool(h.app, 2, 'max_requests = 1\nenvironment = VER="1"\n'));
  const run = await startUp(file);
  const spawnedAfter = async (from: number, n: number): Promise<{ name: string; pid: number }[]> => {
    const list = (): { name: string; pid: number }[] => [...run.output.slice(from).matchAll(/spawned: (web_\d+) with pid (\d+)/g)].map((m) => ({ name: m[1] as string, pid: Number(m[2]) }));
    await run.waitUntil(() => (list().length >= n ? true : null), `${n} worker(s) spawned`, 10_000);
    return list();
  };
  try {
    const port = Number((await run.waitForLine(/socket web: listening on 127\.0\.0\.1:(\d+)/))[1]);
    await run.waitForCount(/web_\d: starting → running/g, 2, 10_000);
    writeFileSync(h.hold, '');
    const from = run.output.length;
    // both workers recycle (each after one request); their successors load, held
    for (let i = 0; run.count(/recycling worker \d+/g) < 2; i++) {
      assert.ok(i < 200, `both workers served a request in 200\n${run.describe()}`);
      await fetchText(port);
    }
    const [s1, s2] = (await spawnedAfter(from, 2)) as [{ name: string; pid: number }, { name: string; pid: number }];
    // the second successor gets ready; the first stays loading
    h.release(s2.pid);
    await run.waitForLine(new RegExp(`${s2.name}: starting → running`), { from });
    writeFileSync(file, pool(h.app, 2, 'max_requests = 1\nenvironment = VER="2"\n'));
    const hup = run.output.length;
    run.signal('SIGHUP');
    await run.waitForLine(new RegExp(`${s1.name}: loading, begun before the reload`), { from: hup });
    // the roll replaces s2 (its replacement s3 held), and s1 gets ready meanwhile
    const [s3] = (await spawnedAfter(hup, 1)) as [{ name: string; pid: number }];
    h.release(s1.pid);
    await run.waitForLine(new RegExp(`${s1.name}: starting → running`), { from: hup });
    rmSync(h.hold);
    h.release(s3.pid);
    await run.waitForLine(/reload: done \(SIGHUP[^\n]*\)/, { from: hup, timeoutMs: 15_000 });
    const now = await waitForStates(file, run, 'two workers, running', (st) => Object.values(st).length === 2 && Object.values(st).every((s) => s === 'running'));
    const r = await runCli(['status', '--json', '-c', file]);
    const pids = (JSON.parse(r.stdout) as { processes: { pid: number | null }[] }).processes.map((p) => p.pid ?? 0);
    const vers = pids.map((pid) => /(?:^|\0)VER=([^\0]*)/.exec(readFileSync(`/proc/${pid}/environ`, 'latin1'))?.[1]);
    assert.deepEqual(vers, ['2', '2'], `every worker on the new config\n${JSON.stringify(now)}\n${run.describe()}`);
  } finally {
    rmSync(h.hold, { force: true });
    await teardown(run, workerPids(run), dir);
  }
});

/** A GET /stream held open until `close`: `pid` resolves with the worker streaming it, once its first line came. */
function openStream(port: number): { pid: Promise<number>; close: () => void } {
  let req: ClientRequest | null = null;
  const pid = new Promise<number>((resolve, reject) => {
    req = get({ host: '127.0.0.1', port, path: '/stream', agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        text += c;
        if (text.includes('\n')) resolve(Number(text.slice(0, text.indexOf('\n'))));
      });
      // the worker's graceful_timeout cuts it: expected once the roll stops that worker
      res.on('error', () => undefined);
    });
    req.on('error', reject);
  });
  return { pid, close: () => req?.destroy() };
}

/**
 * Opens streams a few at a time until each of `n` serving workers holds at least one (a shared socket
 * gives connections to whichever worker the kernel wakes, so several are asked at once, for a bounded time).
 */
async function streamToEvery(port: number, n: number, streams: { close: () => void }[], run: CliRun): Promise<Set<number>> {
  const holders = new Set<number>();
  const until = Date.now() + 10_000;
  while (holders.size < n) {
    assert.ok(Date.now() < until, `each of ${n} workers holds a stream (have ${[...holders].join(', ')})\n${run.describe()}`);
    const batch = Array.from({ length: n }, () => openStream(port));
    streams.push(...batch);
    for (const pid of await Promise.all(batch.map((b) => b.pid))) holders.add(pid);
  }
  return holders;
}

// A reviewer's report: with each worker holding a streaming response (SSE, a download), `drover reload` of
// 2 workers took 2 × graceful_timeout, since the roll waited for each old worker's whole drain before it
// started the next replacement (8 workers at 30 s: 4 minutes of old and new code side by side). Now the
// next replacement starts as soon as the old worker has begun its stop, so every replacement is ready
// before the first old worker is cut off at its graceful_timeout, and the old ones drain side by side.
for (const c of [
  { name: 'a shared socket', numprocs: 3, socket: '', program: '' },
  { name: 'balanced slots (reuse_port)', numprocs: 3, socket: 'reuse_port = true\n', program: '' },
  { name: 'a spare, balanced', numprocs: 2, socket: 'reuse_port = true\n', program: 'spare_workers = 1\n' },
]) {
  test(`reload, ${c.name}: every old worker holding a never-ending stream, every replacement is ready before the first is cut off`, async () => {
    const dir = makeTmpDir();
    const file = writeConfig(
      dir,
      `[socket:web]\nbind = 127.0.0.1:0\n${c.socket}\n[program:web]\nworker = ${fixture('worker-app.mjs')}\nsockets = web\nnumprocs = ${c.numprocs}\ngraceful_timeout = 4s\n${c.program}`,
    );
    const run = await startUp(file);
    const streams: { close: () => void }[] = [];
    try {
      const port = Number((await run.waitForLine(/socket web: listening on 127\.0\.0\.1:(\d+)/))[1]);
      const spares = c.program === '' ? 0 : 1;
      await run.waitForCount(/web_\d: starting → running/g, c.numprocs + spares, 10_000);
      const holders = await streamToEvery(port, c.numprocs, streams, run);
      const old = [...run.output.matchAll(/spawned: (web_\d+) with pid (\d+)/g)].filter((m) => holders.has(Number(m[2]))).map((m) => m[1] as string);
      const from = run.output.length;
      const r = await runCli(['reload', '-c', file], { cwd: dir, timeoutMs: 40_000 });
      assert.equal(r.code, 0, `${r.output}\n${run.describe()}`);
      const log = run.output.slice(from);
      const at = (re: RegExp): number[] => [...log.matchAll(new RegExp(re.source, 'g'))].map((m) => m.index);
      const cuts = at(/web_\d+: worker \d+ was cut off with requests in flight/);
      // each old serving worker held its stream to the end (a worker that left early would prove nothing)
      assert.equal(cuts.length, c.numprocs, `every old worker cut off at its graceful_timeout\n${log}`);
      // a new worker takes over: the replacement got ready (no spare), or a ready spare took the slot
      const takeovers = spares === 0 ? at(/web_\d+: starting → running/).slice(0, c.numprocs) : at(/takes over slot \d \(reload\)/);
      assert.equal(takeovers.length, c.numprocs, log);
      const firstCut = Math.min(...cuts);
      assert.ok(takeovers.every((i) => i < firstCut), `every replacement took over before the first old worker was cut off\n${log}`);
      // and none stopped accepting before a new one took its place
      const stops = at(new RegExp(`(${old.join('|')}): running → stopping`));
      assert.equal(stops.length, c.numprocs, `${old.join(', ')} stopped\n${log}`);
      assert.ok(stops.every((i, k) => (takeovers[k] as number) < i), `a new worker took over before each old one stopped\n${log}`);
      assert.match(log, new RegExp(`reload: done \\(POST /api/update: .*1 pool\\(s\\) rolled: web:web\\)`), log);
      // the new workers serve
      assert.equal((await fetchText(port)).status, 200);
    } finally {
      for (const s of streams) s.close();
      await teardown(run, workerPids(run), dir);
    }
  });
}
