// Issue 16, item 4: spare workers (`spare_workers = N`). A spare loads the app and reports ready but accepts
// nothing; when a serving worker leaves, the spare is handed its sockets (its slot, with reuse_port) and
// accepts at once, while a new spare loads in the background. Checked with an app that takes 1.5 s to
// load, real signals (SIGSTOP, SIGKILL, HUP) and real HTTP load, on shared and balanced sockets.
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { assertStaysFor, CliRun, fixture, makeTmpDir, runCli, startUp, teardown, waitForAsync, waitForCondition, writeConfig } from '../helpers/drover.js';
import { listeningSockets } from '../helpers/listen.js';
import { linkDrover } from '../helpers/shared.js';
import { freePort } from '../helpers/web.js';
import { startLoad } from '../helpers/load.js';

interface Options {
  readonly reusePort?: boolean;
  readonly numprocs?: number;
  readonly spares?: number;
  readonly loadMs?: number;
  /** the heartbeat timeout */
  readonly timeout?: string;
  readonly program?: string;
  /** more of the program's environment, `KEY="value"` pairs */
  readonly env?: string;
}

function config(o: Options = {}): string {
  return `[socket:web]
bind = 127.0.0.1:0
reuse_port = ${o.reusePort ?? false}

[program:web]
worker = ${fixture('worker-slow-load.mjs')}
sockets = web
numprocs = ${o.numprocs ?? 1}
spare_workers = ${o.spares ?? 1}
environment = LOAD_MS="${o.loadMs ?? 300}"${o.env === undefined ? '' : `,${o.env}`}
timeout = ${o.timeout ?? '5s'}
graceful_timeout = 5s
${o.program ?? ''}
`;
}

async function boot(dir: string, o: Options = {}): Promise<{ run: CliRun; port: number; file: string }> {
  const file = writeConfig(dir, config(o));
  const run = await startUp(file);
  const port = Number((await run.waitForLine(/socket web: listening on 127\.0\.0\.1:(\d+)/))[1]);
  await run.waitForCount(/web_\d+: starting → running/g, (o.numprocs ?? 1) + (o.spares ?? 1), 15_000);
  return { run, port, file };
}

function spawnedPids(run: CliRun): number[] {
  return [...run.output.matchAll(/spawned: web_\d+ with pid (\d+)/g)].map((m) => Number(m[1]));
}

interface Proc {
  readonly process: string;
  readonly state: string;
  readonly pid: number | null;
  readonly role: string | null;
}

async function statusJson(file: string): Promise<Proc[]> {
  const r = await runCli(['status', '--json', '-c', file]);
  return (JSON.parse(r.stdout) as { processes: Proc[] }).processes;
}

/** The pids of the serving workers and of the spares, from `drover status --json`. */
async function roles(file: string): Promise<{ serving: number[]; spares: number[] }> {
  const procs = (await statusJson(file)).filter((p) => p.state === 'running');
  return {
    serving: procs.filter((p) => p.role === 'serving').map((p) => p.pid as number),
    spares: procs.filter((p) => p.role === 'spare').map((p) => p.pid as number),
  };
}

/** One GET on its own connection; resolves with the answering pid, or null on error or after `timeoutMs`. */
function get(port: number, timeoutMs = 10_000, path = '/'): { answer: Promise<number | null>; abort: () => void } {
  let req: ReturnType<typeof request> | null = null;
  const answer = new Promise<number | null>((resolve) => {
    req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(res.statusCode === 200 ? Number(body) : null));
      res.on('error', () => resolve(null));
    });
    req.setTimeout(timeoutMs, () => req?.destroy());
    req.on('error', () => resolve(null));
    req.end();
  });
  return { answer, abort: () => req?.destroy() };
}

/** Text of GET /metrics on the control socket. */
function metrics(dir: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: join(dir, '.drover', 'drover.sock'), path: '/metrics', headers: { host: 'localhost' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end();
  });
}

test('a spare loads and reports ready but accepts nothing: with the serving worker stopped, no request is answered', async () => {
  const dir = makeTmpDir();
  const { run, port, file } = await boot(dir);
  try {
    const { serving, spares } = await roles(file);
    assert.equal(serving.length, 1, JSON.stringify(await statusJson(file)));
    assert.equal(spares.length, 1);
    const [worker, spare] = [serving[0] as number, spares[0] as number];
    // the spare holds no listening socket at all
    assert.ok(listeningSockets(port).every((s) => !s.pids.includes(spare)), JSON.stringify(listeningSockets(port)));
    const table = (await runCli(['status', '-c', file])).stdout;
    assert.match(table, new RegExp(`web_\\d+\\s+running\\s+${spare}\\s.*spare`), table);
    assert.match(await metrics(dir), /^drover_worker_spares\{group="web",program="web"\} 1$/m);

    process.kill(worker, 'SIGSTOP');
    const pending = get(port);
    let answered: number | null | undefined;
    void pending.answer.then((pid) => (answered = pid));
    await assertStaysFor(1000, () => answered === undefined, 'the request to wait (the spare must not accept it)');
    process.kill(worker, 'SIGCONT');
    assert.equal(await pending.answer, worker, 'answered by the serving worker once it runs again, never by the spare');
  } finally {
    await teardown(run, spawnedPids(run), dir);
  }
});

for (const reusePort of [false, true]) {
  const mode = reusePort ? 'balanced socket' : 'shared socket';
  test(`${mode}: an app that loads in 1.5 s, its serving worker SIGKILLed: the spare answers at once, and a new spare loads`, async () => {
    const dir = makeTmpDir();
    const { run, port, file } = await boot(dir, { reusePort, loadMs: 1500 });
    try {
      const { serving, spares } = await roles(file);
      const [worker, spare] = [serving[0] as number, spares[0] as number];
      const from = run.output.length;
      const t0 = performance.now();
      process.kill(worker, 'SIGKILL');
      // a new connection every 2 ms until one is answered; the first ones may wait in the backlog
      const tries: ReturnType<typeof get>[] = [];
      let first: { pid: number; ms: number } | null = null;
      while (first === null && performance.now() - t0 < 10_000) {
        const g = get(port);
        tries.push(g);
        void g.answer.then((pid) => {
          if (pid !== null && first === null) first = { pid, ms: performance.now() - t0 };
        });
        await new Promise((r) => setTimeout(r, 2));
      }
      for (const t of tries) t.abort();
      const got = first as { pid: number; ms: number } | null;
      assert.ok(got, `no answer within 10 s\n${run.describe()}`);
      assert.equal(got.pid, spare, 'the spare answered, not a restarted worker');
      // a restart would take the app's 1.5 s load; the spare only needs its sockets (tens of ms here)
      assert.ok(got.ms < 1300, `answered ${got.ms.toFixed(1)} ms after the kill`);
      process.stdout.write(`# ${mode}: SIGKILL of the serving worker → answered by the spare in ${got.ms.toFixed(1)} ms (the app loads in 1.5 s)\n`);
      await run.waitForLine(/web_\d+: spare web_\d+ \(pid \d+\) takes over slot 0 \(worker \d+ left\)/, { from });
      // the dead worker's entry restarts as the new spare, loaded in the background
      await waitForCondition(() => run.output.slice(from).includes('starting → running'), 'the new spare to be ready', { timeoutMs: 10_000, describe: () => run.describe() });
      const after = await roles(file);
      assert.deepEqual(after.serving, [spare]);
      assert.equal(after.spares.length, 1);
      assert.notEqual(after.spares[0], worker);
      assert.match(await metrics(dir), /^drover_worker_takeovers_total\{group="web",program="web"\} 1$/m);
    } finally {
      await teardown(run, spawnedPids(run), dir);
    }
  });
}

test('balanced socket: connections waiting in a dead worker\'s slot are accepted by the spare, none fails', async () => {
  const dir = makeTmpDir();
  const { run, port, file } = await boot(dir, { reusePort: true, numprocs: 2, loadMs: 1500 });
  try {
    const { serving, spares } = await roles(file);
    const victim = serving[0] as number;
    process.kill(victim, 'SIGSTOP');
    const load = startLoad(port, { concurrency: 4, newConnections: true });
    await waitForCondition(() => (listeningSockets(port).find((s) => s.pids.includes(victim))?.queued ?? 0) >= 2, 'connections queued on the stopped worker\'s slot', {
      timeoutMs: 10_000,
      describe: () => JSON.stringify(listeningSockets(port)),
    });
    process.kill(victim, 'SIGKILL');
    await load.waitForMore(200);
    const result = await load.stop();
    assert.equal(result.failed, 0, `failed requests: ${result.errors.join('; ')}\n${run.describe()}`);
    assert.ok((result.byPid.get(String(spares[0])) ?? 0) > 0, `the spare served: ${JSON.stringify([...result.byPid])}`);
  } finally {
    await teardown(run, spawnedPids(run), dir);
  }
});

test('max_requests with a spare, under load: the spare takes over each recycled worker\'s slot, zero failed', async () => {
  const dir = makeTmpDir();
  const { run, port } = await boot(dir, { reusePort: true, numprocs: 2, program: 'max_requests = 150\nmax_requests_jitter = 50' });
  try {
    const load = startLoad(port);
    await run.waitForCount(/recycling worker \d+/g, 3, 30_000);
    await run.waitForCount(/takes over slot \d \(served \d+ requests \(max_requests\)\)/g, 3, 30_000);
    await run.waitForCount(/web_\d+: stopping → stopped/g, 3, 15_000);
    const result = await load.stop();
    assert.equal(result.failed, 0, `failed requests: ${result.errors.join('; ')}\n${run.describe()}`);
  } finally {
    await teardown(run, spawnedPids(run), dir);
  }
});

test('HUP with a spare, under load: new-code spares are loaded before any old worker leaves, zero failed', async () => {
  const dir = makeTmpDir();
  const { run, port, file } = await boot(dir, { reusePort: true, numprocs: 2 });
  try {
    const before = await roles(file);
    const load = startLoad(port);
    await load.waitForMore(200);
    const from = run.output.length;
    run.signal('SIGHUP');
    await run.waitForLine(/reload: done/, { from, timeoutMs: 30_000 });
    await load.waitForMore(200);
    const result = await load.stop();
    assert.equal(result.failed, 0, `failed requests: ${result.errors.join('; ')}\n${run.describe()}`);
    const log = run.output.slice(from);
    const firstReady = log.search(/web_\d+: starting → running/);
    const firstStop = log.search(/web_\d+: running → stopping/);
    assert.ok(firstReady >= 0 && firstReady < firstStop, `a new spare was ready before any old worker stopped\n${log}`);
    assert.equal(run.count(/takes over slot \d \(reload\)/g), 2, log);
    const after = await roles(file);
    assert.equal(after.serving.length, 2);
    assert.equal(after.spares.length, 1);
    const old = new Set([...before.serving, ...before.spares]);
    assert.ok([...after.serving, ...after.spares].every((p) => !old.has(p)), 'every worker and the spare run the new code');
  } finally {
    await teardown(run, spawnedPids(run), dir);
  }
});

test('a job-worker spare runs setup() but not run() until it takes over from a worker that died', async () => {
  const dir = makeTmpDir();
  linkDrover(dir);
  writeFileSync(
    join(dir, 'jobs.mjs'),
    `import { defineWorker } from 'drover';
export default defineWorker({
  async setup(ctx) { ctx.log('set up ' + process.pid); },
  async run(ctx) {
    ctx.log('running ' + process.pid);
    await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
  },
});
`,
  );
  const run = await startUp(writeConfig(dir, `[program:jobs]\nworker = ${join(dir, 'jobs.mjs')}\nspare_workers = 1\ntimeout = 5s\ngraceful_timeout = 5s\n`));
  try {
    await run.waitForCount(/jobs_\d+: starting → running/g, 2, 15_000);
    await run.waitForCount(/set up \d+/g, 2);
    const first = Number((await run.waitForLine(/running (\d+)/))[1]);
    await assertStaysFor(500, () => run.count(/running \d+/g) === 1, 'the spare not to run');
    const spare = [...run.output.matchAll(/set up (\d+)/g)].map((m) => Number(m[1])).find((p) => p !== first);
    process.kill(first, 'SIGKILL');
    await run.waitForLine(new RegExp(`running ${spare}`));
    // no sockets, so no slot to speak of: it takes over, and runs (accepts nothing)
    await run.waitForLine(new RegExp(`jobs_\\d+: spare jobs_\\d+ \\(pid ${spare}\\) takes over \\(worker ${first} left\\)`));
    await run.waitForLine(new RegExp(`jobs_\\d+: spare ${spare} now running \\(`));
  } finally {
    await teardown(run, [...run.output.matchAll(/spawned: jobs_\d+ with pid (\d+)/g)].map((m) => Number(m[1])), dir);
  }
});

test('drover serve --spare-workers 1 --reuse-port: the config it writes, a spare in status; --reuse-port refuses a unix bind', async () => {
  const dir = makeTmpDir();
  const port = await freePort();
  const rt = join(dir, '.drover');
  const run = new CliRun(['serve', fixture('worker-app.mjs'), '-w', '2', '--spare-workers', '1', '--reuse-port', '-b', `127.0.0.1:${port}`, '--runtime-dir', rt], { cwd: dir });
  try {
    await run.waitForCount(/worker-app_\d+: starting → running/g, 3, 15_000);
    const ini = readFileSync(join(rt, 'serve.ini'), 'utf8');
    assert.match(ini, /^reuse_port = true$/m);
    assert.match(ini, /^spare_workers = 1$/m);
    const procs = await statusJson(join(rt, 'serve.ini'));
    assert.deepEqual(procs.map((p) => p.role).sort(), ['serving', 'serving', 'spare'], JSON.stringify(procs));
    assert.equal(listeningSockets(port).length, 2, 'one socket per serving worker; none for the spare');
    const bad = await runCli(['serve', fixture('worker-app.mjs'), '--reuse-port', '-b', `unix:${join(dir, 'app.sock')}`, '--runtime-dir', join(dir, 'rt2')], { cwd: dir });
    assert.equal(bad.code, 2, bad.output);
    assert.match(bad.stderr, /--reuse-port needs TCP binds \(HOST:PORT\); unix:.*app\.sock is always one socket shared by the workers/);
  } finally {
    await teardown(run, [...run.output.matchAll(/spawned: worker-app_\d+ with pid (\d+)/g)].map((m) => Number(m[1])), dir);
  }
});

test('a stuck worker killed after its heartbeat timeout hands its slot to the spare', async () => {
  const dir = makeTmpDir();
  const { run, port, file } = await boot(dir, { timeout: '1s' });
  try {
    const { serving, spares } = await roles(file);
    // /stuck answers, then blocks the worker's event loop for good
    const first = request({ host: '127.0.0.1', port, path: '/stuck', agent: false });
    first.on('error', () => undefined);
    first.end();
    await run.waitForLine(new RegExp(`killing worker ${serving[0]} \\(heartbeat timeout\\)`), { timeoutMs: 10_000 });
    await run.waitForLine(/takes over slot 0 \(worker \d+ left\)/);
    const after = await get(port).answer;
    assert.equal(after, spares[0], 'the spare answers');
  } finally {
    await teardown(run, spawnedPids(run), dir);
  }
});

test('`drover stop` of the serving worker hands its slot to the spare at its stop, not after its drain', async () => {
  const dir = makeTmpDir();
  const { run, port, file } = await boot(dir);
  try {
    const procs = await statusJson(file);
    const worker = procs.find((p) => p.role === 'serving' && p.state === 'running');
    const spare = procs.find((p) => p.role === 'spare' && p.state === 'running');
    assert.ok(worker && spare, JSON.stringify(procs));
    // a request in flight on the serving worker keeps its drain going (until graceful_timeout cuts it off)
    let streamEnded = false;
    const inFlight = new Promise<void>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/stream?ms=200', agent: false }, (res) => {
        res.once('data', () => resolve());
        res.on('error', () => (streamEnded = true));
        res.on('close', () => (streamEnded = true));
      });
      req.on('error', (err) => ((streamEnded = true), reject(err)));
      req.end();
    });
    await inFlight;
    const from = run.output.length;
    const stop = runCli(['stop', worker.process, '-c', file]);
    await run.waitForLine(/web_\d+: running → stopping \(stop requested\)/, { from });
    // the stopping worker may still take a connection or two before its stop signal closes its listener;
    // after that, only the spare can answer: without the hand-over, not before the drain ends
    const answers: (number | null)[] = [];
    while (!answers.includes(spare.pid) && answers.length < 50) answers.push(await get(port).answer);
    assert.ok(answers.includes(spare.pid), `answered by the spare: ${JSON.stringify(answers)}\n${run.describe()}`);
    assert.equal(streamEnded, false, `the spare answered while the stopped worker still drained, not after it left\n${run.describe()}`);
    assert.equal((await stop).code, 0);
    const log = run.output.slice(from);
    assert.match(log, /takes over slot 0 \(worker \d+ stopping\)/, log);
    assert.ok(log.search(/takes over slot 0/) < log.search(/web_\d+: stopping → (stopped|exited)/), `the hand-over came before the worker left\n${log}`);
  } finally {
    await teardown(run, spawnedPids(run), dir);
  }
});

test('a serving worker stopped by hand: a new spare loads; started again, it comes back as the spare and the extra one leaves', async () => {
  const dir = makeTmpDir();
  const { run, file } = await boot(dir);
  try {
    const before = await statusJson(file);
    const worker = before.find((p) => p.role === 'serving' && p.state === 'running');
    assert.ok(worker, JSON.stringify(before));
    assert.equal((await runCli(['stop', worker.process, '-c', file])).code, 0);
    let last: Proc[] = [];
    const describe = (): string => `${JSON.stringify(last)}\n${run.describe()}`;
    await waitForAsync(
      async () => {
        last = await statusJson(file);
        return last.filter((p) => p.state === 'running' && p.role === 'spare').length === 1;
      },
      'a new spare to be ready',
      { timeoutMs: 10_000, describe },
    );
    assert.match(await metrics(dir), /^drover_worker_spares\{group="web",program="web"\} 1$/m);
    assert.equal((await runCli(['start', worker.process, '-c', file])).code, 0);
    // the worker started by hand is the spare now; the spare loaded in its absence leaves
    await waitForAsync(
      async () => {
        last = await statusJson(file);
        return last.length === 2 && last.every((p) => p.state === 'running') && last.find((p) => p.process === worker.process)?.role === 'spare';
      },
      'one serving worker and one spare, the spare the worker started by hand',
      { timeoutMs: 10_000, describe },
    );
  } finally {
    await teardown(run, spawnedPids(run), dir);
  }
});

test('WINCH then HUP with a spare: the serving worker loads beside the new spare, not after it; the old spare is not started', async () => {
  const dir = makeTmpDir();
  const { run, file } = await boot(dir, { loadMs: 1000 });
  try {
    const from = run.output.length;
    run.signal('SIGWINCH');
    await run.waitForLine(/SIGWINCH: stopping 2 worker\(s\)/, { from });
    await run.waitForCount(/web_\d+: stopping → stopped/g, 2, 10_000);
    const hup = run.output.length;
    run.signal('SIGHUP');
    await run.waitForLine(/reload: done/, { from: hup, timeoutMs: 20_000 });
    const { serving, spares } = await roles(file);
    assert.equal(serving.length, 1, run.describe());
    assert.equal(spares.length, 1, run.describe());
    const log = run.output.slice(hup);
    const servingSpawned = log.search(new RegExp(`spawned: web_\\d+ with pid ${serving[0]}\\b`));
    const firstReady = log.search(/web_\d+: starting → running/);
    assert.ok(servingSpawned >= 0 && servingSpawned < firstReady, `the serving worker started before the new spare was ready\n${log}`);
    assert.equal((log.slice(0, firstReady).match(/spawned: web_\d+/g) ?? []).length, 2, `the spare and the serving worker started together\n${log}`);
    assert.doesNotMatch(log, /replaced at once/, `the old spare was not started only to be replaced\n${log}`);
  } finally {
    await teardown(run, spawnedPids(run), dir);
  }
});

test('a spare that dies after every load ends FATAL and is tried again while the workers serve: it comes back once the app loads', async () => {
  const dir = makeTmpDir();
  const flag = join(dir, 'database-down');
  const { run, file } = await boot(dir, { env: `DIE_IF_EXISTS="${flag}"`, program: 'startretries = 1' });
  try {
    const before = await roles(file);
    assert.equal(before.spares.length, 1, JSON.stringify(before));
    writeFileSync(flag, '');
    // an outside SIGKILL restarts the spare at once; each new load of it dies while the flag is there
    process.kill(before.spares[0] as number, 'SIGKILL');
    await run.waitForLine(/web_\d+: FATAL as a spare while the workers of web serve; it is tried again in 10 s/, { timeoutMs: 20_000 });
    const fatal = await statusJson(file);
    assert.ok(fatal.some((p) => p.role === 'spare' && p.state === 'fatal'), JSON.stringify(fatal));
    rmSync(flag);
    let last: Proc[] = [];
    await waitForAsync(
      async () => {
        last = await statusJson(file);
        return last.length === 2 && last.every((p) => p.state === 'running') && last.some((p) => p.role === 'spare');
      },
      'the spare to be tried again and to run',
      { timeoutMs: 25_000, describe: () => `${JSON.stringify(last)}\n${run.describe()}` },
    );
    // the serving worker was never touched, and the pool is healthy again
    assert.deepEqual((await roles(file)).serving, before.serving);
    assert.equal((await runCli(['status', '-c', file])).code, 0);
  } finally {
    await teardown(run, spawnedPids(run), dir);
  }
});
