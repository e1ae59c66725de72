// Issue 5: the master's task queue against the raw IPC channel it runs on, and against BullMQ on Redis.
//
//   raw IPC        a parent forks a child over Node's IPC channel and keeps K messages in flight; the child
//                  echoes each one (one process.send per message): round trips per second, p50/p99.
//   drover         `drover up` with 2 job workers (the master's in-memory backend); each keeps K/2 tasks
//                  circulating: take → ack → push the next (the push carries its time), so a round trip is
//                  push → deliver → process (nothing) → ack, measured from the push to the ack's answer.
//                  Round trips per second over both workers.
//   drover-redis   the same workers and config, plus `shared_backend = redis://…` (or `unix:…`) in [drover],
//                  pointing at the redis-server this script starts.
//   bullmq         2 forked Node processes, each with a BullMQ Worker (concurrency K/2) and a Queue on the
//                  same Redis. Each adds K/2 jobs; when the processor runs for a job (doing nothing else) it
//                  adds the next one (Queue.add, not awaited, carrying its time) and returns, so the add and
//                  the job's completion go out together as drover's push and ack do: K jobs stay in flight.
//                  A round trip is Queue.add → fetched → processed → moved to completed, measured from the
//                  add to the worker's 'completed' event (emitted once Redis has answered the move).
//                  Jobs are added with removeOnComplete.
//
// Every case runs N round trips; the first W of them (in order of completion) are warm-up and not counted:
// the rate is the round trips completed after them over the time from the last of them to the end, and
// p50/p99 are over those round trips only. Warm-up matters: BullMQ needs ~2 s (~10 000 jobs) to reach its
// steady rate, and a short run of drover ends within a second.
//
// The cases run interleaved within each round (order rotated every round); Redis is flushed before and
// after every case that uses it. Medians over rounds, and the ratios drover / raw IPC and
// drover-redis / BullMQ, are printed as Markdown on stdout; progress on stderr.
//
// Usage: node queue.mjs [--tasks N] [--warmup W] [--window K,K2,...] [--rounds R]
//                       [--peers raw,drover,drover-redis,bullmq] [--redis tcp|unix]
//        defaults: 100000, 20000, 2,64, 3, all four, tcp
import { fork, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BENCH_DIR, DROVER_BIN, ROOT_DIR, delay, median, onCleanup, onLines, quantile, rotate, runCommand, runMain, tempDir, waitFor, waitQuiet } from './lib.mjs';

const { values } = parseArgs({
  options: {
    tasks: { type: 'string', default: '100000' },
    warmup: { type: 'string', default: '20000' },
    window: { type: 'string', default: '2,64' },
    rounds: { type: 'string', default: '3' },
    peers: { type: 'string', default: 'raw,drover,drover-redis,bullmq' },
    redis: { type: 'string', default: 'tcp' },
    child: { type: 'boolean' },
    'bullmq-worker': { type: 'boolean' },
  },
});

const SELF = fileURLToPath(import.meta.url);
const REDIS_SERVER = '/usr/bin/redis-server';
const REDIS_CLI = '/usr/bin/redis-cli';
const PEERS = {
  raw: 'raw IPC',
  drover: 'drover (memory backend)',
  'drover-redis': 'drover (redis backend)',
  bullmq: 'BullMQ',
};
const USES_REDIS = new Set(['drover-redis', 'bullmq']);
const log = (s) => process.stderr.write(`${s}\n`);
/** Wall-clock milliseconds with sub-ms resolution, comparable between processes (timestamps cross them). */
const wallNow = () => performance.timeOrigin + performance.now();

/**
 * Round trips per second and p50/p99 over the round trips completed after the first `warmup` (in order of
 * completion, over all processes): the clock runs from the warm-up's last completion to the last one.
 * `parts`: per process, its start and, per round trip it saw complete, the time (`doneAt`) and latency.
 */
function steadyState(parts, warmup) {
  const doneAt = parts.flatMap((p) => p.doneAt);
  const lat = parts.flatMap((p) => p.lat);
  const order = doneAt.map((_, i) => i).sort((a, b) => doneAt[a] - doneAt[b]);
  if (order.length <= warmup) throw new Error(`only ${order.length} round trips, not more than the warm-up (${warmup})`);
  const from = warmup > 0 ? doneAt[order[warmup - 1]] : Math.min(...parts.map((p) => p.start));
  const measured = order.slice(warmup);
  const ms = doneAt[order[order.length - 1]] - from;
  const kept = measured.map((i) => lat[i]);
  return { rate: (measured.length / ms) * 1000, p50: quantile(kept, 0.5), p99: quantile(kept, 0.99), n: measured.length };
}

// --- raw IPC ---

async function rawIpc(tasks, window, warmup) {
  const child = fork(SELF, ['--child'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await new Promise((r) => child.once('spawn', r));
  const lat = [];
  const doneAt = [];
  let sent = 0;
  let done = 0;
  const start = performance.now();
  await new Promise((resolve) => {
    const send = () => {
      sent += 1;
      child.send({ t: 'x', at: performance.now(), n: sent });
    };
    child.on('message', (m) => {
      const t = performance.now();
      lat.push(t - m.at);
      doneAt.push(t);
      done += 1;
      if (done === tasks) resolve();
      else if (sent < tasks) send();
    });
    for (let i = 0; i < window && sent < tasks; i++) send();
  });
  child.disconnect(); // it exits once the channel closes
  return steadyState([{ start, doneAt, lat }], warmup);
}

// --- drover, with either backend ---

const WORKER = `import { renameSync, writeFileSync } from 'node:fs';
import { defineWorker } from 'drover';
const now = () => performance.timeOrigin + performance.now();
export default defineWorker({
  async run(ctx) {
    const q = ctx.queue('bench');
    const budget = Number(process.env.TASKS_PER_WORKER);
    const inFlight = Number(process.env.IN_FLIGHT);
    const lat = [];
    const doneAt = [];
    let pushed = 0;
    // wait for both workers to be up, so neither runs alone at first
    await ctx.state.increment('up');
    await new Promise((resolve) => ctx.state.watch('up', (v) => v >= 2 && resolve()));
    const start = now();
    for (; pushed < inFlight; pushed++) await q.push({ at: now() });
    let done = 0;
    // each worker takes exactly as many tasks as it pushes: a take is reserved before it is sent
    let reserved = 0;
    const slot = async () => {
      let settling = Promise.resolve();
      for (;;) {
        if (reserved >= budget) return settling;
        reserved += 1;
        // the next take goes in the same message as the previous task's ack and follow-up push (what
        // queue.process() does)
        const taking = q.take();
        await settling;
        const task = await taking;
        if (!task) return;
        const acked = task.ack().then(() => {
          const t = now();
          lat.push(t - task.data.at);
          doneAt.push(t);
        });
        const more = pushed < budget ? (pushed++, q.push({ at: now() })) : null;
        settling = Promise.all([acked, more]).then(() => void (done += 1));
      }
    };
    await Promise.all(Array.from({ length: inFlight }, slot));
    const end = now();
    // written under another name, then renamed: the parent reads the file as soon as it has its name
    const out = process.env.OUT_DIR + '/' + process.pid;
    writeFileSync(out + '.tmp', JSON.stringify({ start, end, done, lat, doneAt }));
    renameSync(out + '.tmp', out + '.json');
    await new Promise((r) => ctx.signal.addEventListener('abort', r));
  },
});
`;

/** `backendLine`: null for the default (memory) backend, else the `shared_backend = …` line. */
async function droverQueue(tasks, window, warmup, backendLine) {
  const dir = mkdtempSync(join(tmpdir(), 'drover-bench-queue-'));
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(ROOT_DIR, join(dir, 'node_modules', 'drover'));
  mkdirSync(join(dir, 'out'));
  writeFileSync(join(dir, 'worker.mjs'), WORKER);
  const perWorker = Math.ceil(tasks / 2);
  // the two drover cases differ in this one line only
  writeFileSync(
    join(dir, 'drover.ini'),
    `[drover]
${backendLine ?? ''}

[program:bench]
worker = ${join(dir, 'worker.mjs')}
numprocs = 2
environment = TASKS_PER_WORKER="${perWorker}",IN_FLIGHT="${Math.max(1, Math.floor(window / 2))}",OUT_DIR="${join(dir, 'out')}"
stdout_logfile = NONE
`,
  );
  const up = spawn(process.execPath, [DROVER_BIN, 'up', '-c', join(dir, 'drover.ini')], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  // the last few KiB of drover's output, to say why a run failed
  let output = '';
  let workerDied = false;
  const keep = (line) => {
    output = `${output}${line}\n`.slice(-8000);
    // a worker leaving `running` other than by our stop means the run cannot finish (its tasks come back,
    // but its replacement starts the protocol over)
    if (/ → (exited|backoff|fatal)\b/.test(line)) workerDied = true;
  };
  onLines(up.stdout, keep);
  onLines(up.stderr, keep);
  const stopUp = async () => {
    if (up.exitCode !== null || up.signalCode !== null) return;
    process.kill(-up.pid, 'SIGTERM');
    await new Promise((r) => (up.exitCode !== null || up.signalCode !== null ? r() : up.once('exit', r)));
  };
  // on Ctrl-C or SIGTERM the cleanups run instead of this function's finally
  const forget = onCleanup(stopUp);
  try {
    const outcome = await waitFor(
      () => {
        if (up.exitCode !== null || up.signalCode !== null) return 'drover up exited';
        if (workerDied) return 'a worker died';
        return readdirSync(join(dir, 'out')).filter((f) => f.endsWith('.json')).length === 2 && 'done';
      },
      { timeoutMs: 600_000, what: 'both workers to finish' },
    );
    if (outcome !== 'done') throw new Error(`${outcome} before the workers finished; drover's output:\n${output}`);
    const files = readdirSync(join(dir, 'out')).filter((f) => f.endsWith('.json'));
    return steadyState(files.map((f) => JSON.parse(readFileSync(join(dir, 'out', f), 'utf8'))), warmup);
  } finally {
    forget();
    await stopUp();
    rmSync(dir, { recursive: true, force: true });
  }
}

// --- BullMQ ---

/**
 * Messages from a BullMQ worker child: `next(type)` waits for the next one of that type (one waiter at a
 * time); `failed` rejects once the child reports an error or exits. Counting messages are left to others.
 */
function inbox(child) {
  const kept = [];
  let waiter = null;
  let failure = null;
  let fail;
  const failed = new Promise((_, reject) => (fail = reject));
  failed.catch(() => {}); // observed through next() or by whoever races it
  const settle = () => {
    if (failure) fail(failure);
    if (!waiter) return;
    const w = waiter;
    const i = kept.findIndex((m) => m.t === w.type);
    if (i >= 0) {
      waiter = null;
      w.resolve(kept.splice(i, 1)[0]);
    } else if (failure) {
      waiter = null;
      w.reject(failure);
    }
  };
  child.on('message', (m) => {
    if (m.t === 'error') failure ??= new Error(`BullMQ worker ${child.pid}: ${m.message}`);
    else if (!['count', 'progress', 'ended'].includes(m.t)) kept.push(m);
    settle();
  });
  // 'close', not 'exit': a message sent just before the exit (the result) may still be unread at 'exit'
  child.once('close', (code, signal) => {
    failure ??= new Error(`BullMQ worker ${child.pid} exited (${signal ?? code})`);
    settle();
  });
  const next = (type, timeoutMs = 120_000) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiter = null;
        reject(new Error(`timed out after ${timeoutMs} ms waiting for "${type}" from BullMQ worker ${child.pid}`));
      }, timeoutMs);
      waiter = {
        type,
        resolve: (m) => (clearTimeout(timer), resolve(m)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      };
      settle();
    });
  return { next, failed };
}

async function bullmqQueue(tasks, window, warmup, connection) {
  const inFlight = Math.max(1, Math.floor(window / 2)); // per worker
  // K = 2 × inFlight chains of jobs: each job processed adds the next one of its chain, until the chain has
  // `chain` jobs. Chains, not per-worker budgets: a BullMQ worker cannot choose how many jobs it fetches,
  // so a worker that had used up its own budget of adds would let the jobs in flight dwindle (to none)
  const chain = Math.ceil(tasks / (2 * inFlight));
  const total = 2 * inFlight * chain;
  const env = { ...process.env, BULLMQ_CONNECTION: JSON.stringify(connection), CHAIN: String(chain), IN_FLIGHT: String(inFlight) };
  const children = [0, 1].map(() => fork(SELF, ['--bullmq-worker'], { env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  const exited = children.map((c) => new Promise((r) => (c.exitCode !== null ? r() : c.once('exit', r))));
  const boxes = children.map(inbox);
  const counts = [0, 0]; // completions per worker: its latest 'count' or 'progress'
  let ended = 0; // chains whose last job has completed
  let tail = false;
  let lastProgressAt = performance.now();
  let chainsEnded;
  const allChainsEnded = new Promise((r) => (chainsEnded = r));
  let completed;
  const allCompleted = new Promise((r) => (completed = r));
  for (const [i, c] of children.entries()) {
    c.on('message', (m) => {
      if (m.t === 'ended' && ++ended === 2 * inFlight) chainsEnded();
      if (m.t !== 'count' && m.t !== 'progress') return;
      if (m.done !== counts[i]) lastProgressAt = performance.now();
      counts[i] = m.done;
      if (tail && counts[0] + counts[1] >= total) completed();
    });
  }
  // a lost job would stall a chain: fail the run instead of waiting out a long timeout
  let watchdog;
  const stalled = new Promise((_, reject) => {
    watchdog = setInterval(() => {
      if (performance.now() - lastProgressAt > 30_000) reject(new Error(`BullMQ: no job completed for 30 s (completions seen: ${counts.join(' + ')} of ${total})`));
    }, 1000);
  });
  stalled.catch(() => {});
  const failedOrStalled = [stalled, ...boxes.map((b) => b.failed)];
  let finishSent = false;
  try {
    await Promise.race([Promise.all(boxes.map((b) => b.next('ready'))), ...failedOrStalled]);
    // both are connected and their Workers wait on the queue: start them together, as drover's workers
    // start once both are up
    lastProgressAt = performance.now();
    for (const c of children) c.send({ t: 'go' });
    // every chain has added its last job once its last job has completed ...
    await Promise.race([allChainsEnded, ...failedOrStalled]);
    // ... but another job of its chain may still be completing (a job's follow-up is added before the job
    // is moved to completed): from here on the workers report each completion, until they add up
    tail = true;
    for (const c of children) c.send({ t: 'tail' });
    await Promise.race([allCompleted, ...failedOrStalled]);
    finishSent = true;
    for (const c of children) c.send({ t: 'finish' });
    const results = await Promise.race([Promise.all(boxes.map((b) => b.next('result'))), stalled]);
    const failed = results.reduce((s, r) => s + r.failed, 0);
    if (failed > 0) throw new Error(`${failed} BullMQ jobs failed`);
    return steadyState(results, warmup);
  } finally {
    clearInterval(watchdog);
    for (const [i, c] of children.entries()) {
      if (c.exitCode !== null || c.signalCode !== null) continue;
      // the worker closes its Worker and Queue and exits after sending its result; a stuck one is killed
      if (!finishSent && c.connected) c.send({ t: 'finish' });
      const gone = await Promise.race([exited[i].then(() => true), delay(10_000).then(() => false)]);
      if (!gone) {
        c.kill('SIGKILL');
        await exited[i];
      }
    }
  }
}

/** A forked BullMQ worker process: one Queue (for adds) and one Worker on the queue "bench". */
async function bullmqWorker() {
  const { Queue, Worker } = await import('bullmq');
  const connection = JSON.parse(process.env.BULLMQ_CONNECTION);
  const chain = Number(process.env.CHAIN);
  const inFlight = Number(process.env.IN_FLIGHT);
  // (a connection error after the parent has gone, e.g. when it was interrupted, has no one to go to)
  const fail = (err) => process.connected && process.send({ t: 'error', message: err?.stack ?? String(err) });
  const queue = new Queue('bench', { connection, defaultJobOptions: { removeOnComplete: true, removeOnFail: true } });
  const lat = [];
  const doneAt = [];
  let done = 0; // completions seen by this worker
  let failed = 0;
  let start = 0;
  let tail = false; // once set, every completion is reported to the parent
  let finishing = false;
  // `left`: how many more jobs the chain adds after this one
  const push = (left) => queue.add('t', { at: wallNow(), left }).catch(fail);
  const worker = new Worker(
    'bench',
    async (job) => {
      // the follow-up add leaves now, beside the completion BullMQ sends when this returns
      if (job.data.left > 0) void push(job.data.left - 1);
    },
    { connection, concurrency: inFlight },
  );
  worker.on('completed', (job) => {
    const end = wallNow();
    lat.push(end - job.data.at);
    doneAt.push(end);
    done += 1;
    if (job.data.left === 0) process.send({ t: 'ended' });
    if (tail) process.send({ t: 'count', done });
  });
  worker.on('failed', () => {
    failed += 1;
  });
  worker.on('error', fail);
  queue.on('error', fail);
  await Promise.all([queue.waitUntilReady(), worker.waitUntilReady()]);
  // for the parent's stall watchdog: one message a second
  const progress = setInterval(() => process.send({ t: 'progress', done }), 1000);
  // the parent went away without a 'finish' (killed): do not linger on the open Redis connections
  process.on('disconnect', () => finishing || process.exit(1));
  process.on('message', async (m) => {
    if (m.t === 'go') {
      start = wallNow();
      for (let i = 0; i < inFlight; i++) await push(chain - 1);
    } else if (m.t === 'tail') {
      tail = true;
      process.send({ t: 'count', done });
    } else if (m.t === 'finish' && !finishing) {
      finishing = true;
      clearInterval(progress);
      // disconnect() drops a message not yet written (a big one is written in parts): wait for it
      await new Promise((resolve) => process.send({ t: 'result', start, done, failed, lat, doneAt }, resolve));
      await worker.close();
      await queue.close();
      process.disconnect();
    }
  });
  process.send({ t: 'ready' });
}

// --- redis-server, private to this run ---

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Starts redis-server on a free loopback port and a unix socket in `dir`, without persistence. */
async function startRedis(dir) {
  const sock = join(dir, 'redis.sock');
  let lastOutput = '';
  // the port is free when chosen but may be taken before redis binds it (the machine is shared): retry
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freePort();
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--unixsocket', sock, '--unixsocketperm', '700', '--save', '', '--appendonly', 'no', '--dir', dir];
    const child = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const ready = await new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), 10_000);
      const onLine = (line) => {
        output += `${line}\n`;
        if (/Ready to accept connections/.test(line)) {
          clearTimeout(timer);
          resolve(true);
        }
      };
      onLines(child.stdout, onLine);
      onLines(child.stderr, onLine);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve(false);
      });
    });
    if (ready) {
      const exited = new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
      const stop = async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGTERM');
        if (!(await Promise.race([exited.then(() => true), delay(10_000).then(() => false)]))) {
          child.kill('SIGKILL');
          await exited;
        }
      };
      onCleanup(stop);
      const version = /version=([\d.]+)/.exec(output)?.[1] ?? (await runCommand(REDIS_SERVER, ['--version'])).stdout.trim();
      return { port, sock, pid: child.pid, version, stop };
    }
    lastOutput = output;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  throw new Error(`redis-server did not start (3 attempts); its last output:\n${lastOutput}`);
}

async function redisCli(redis, ...args) {
  const r = await runCommand(REDIS_CLI, ['-s', redis.sock, ...args], { timeoutMs: 30_000 });
  if (r.code !== 0 || /^ERR/.test(r.stdout)) throw new Error(`redis-cli ${args.join(' ')}: ${r.stdout}${r.stderr}`);
  return r.stdout.trim();
}

// --- main ---

function readVersion(file) {
  try {
    return JSON.parse(readFileSync(file, 'utf8')).version;
  } catch {
    return 'not installed';
  }
}

const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

async function main() {
  const tasks = Number(values.tasks);
  const warmup = Number(values.warmup);
  if (!(warmup >= 0 && warmup < tasks)) throw new Error(`--warmup: 0 up to --tasks, got ${values.warmup}`);
  const windows = values.window.split(',').map(Number);
  const rounds = Number(values.rounds);
  const peers = values.peers.split(',');
  for (const p of peers) if (!(p in PEERS)) throw new Error(`--peers: unknown case "${p}" (known: ${Object.keys(PEERS).join(', ')})`);
  if (!['tcp', 'unix'].includes(values.redis)) throw new Error(`--redis: tcp or unix, got "${values.redis}"`);
  const tcp = values.redis === 'tcp';

  let redis = null;
  if (peers.some((p) => USES_REDIS.has(p))) {
    redis = await startRedis(tempDir('drover-bench-redis-'));
    log(`redis-server ${redis.version}, pid ${redis.pid}, 127.0.0.1:${redis.port} and ${redis.sock}; clients use ${values.redis}`);
  }
  const backendLine = redis && (tcp ? `shared_backend = redis://127.0.0.1:${redis.port}/0` : `shared_backend = unix:${redis.sock}`);
  const connection = redis && (tcp ? { host: '127.0.0.1', port: redis.port, db: 0 } : { path: redis.sock });
  const run = {
    raw: (window) => rawIpc(tasks, window, warmup),
    drover: (window) => droverQueue(tasks, window, warmup, null),
    'drover-redis': (window) => droverQueue(tasks, window, warmup, backendLine),
    bullmq: (window) => bullmqQueue(tasks, window, warmup, connection),
  };

  const loadStart = loadavg();
  const samples = new Map(windows.map((w) => [w, Object.fromEntries(peers.map((p) => [p, []]))]));
  const leftKeys = [];
  for (const window of windows) {
    for (let round = 0; round < rounds; round++) {
      await waitQuiet(log);
      // rotate the order every round so that drift in the machine's load hits every case alike
      for (const peer of rotate(peers, round)) {
        log(`window ${window}, round ${round + 1}/${rounds}: ${PEERS[peer]}… (load ${loadavg()})`);
        if (USES_REDIS.has(peer)) await redisCli(redis, 'FLUSHALL');
        const r = await run[peer](window);
        if (USES_REDIS.has(peer)) {
          // what the case left in Redis (BullMQ keeps its meta keys and event stream; completed jobs are removed)
          const keys = (await redisCli(redis, '--scan')).split('\n').filter(Boolean);
          const prefixes = [...new Set(keys.map((k) => k.split(':')[0]))].map((p) => `${p}:`);
          leftKeys.push(`${peer} ${keys.length}${keys.length > 0 ? ` (${prefixes.join(' ')}…)` : ''}`);
          await redisCli(redis, 'FLUSHALL');
        }
        log(`  ${Math.round(r.rate)} round trips/s, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms`);
        samples.get(window)[peer].push(r);
      }
    }
  }
  const loadEnd = loadavg();
  if (redis) await redis.stop();

  const f = (x) => (!Number.isFinite(x) ? 'n/a' : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
  const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? (a / b).toFixed(2) : 'n/a');
  const yes = (x, target) => (!Number.isFinite(x) ? '—' : x >= target ? 'yes' : '**no**');
  const med = (xs, k) => median(xs.map((x) => x[k]));
  const out = [];
  out.push(
    `- Node ${process.version}; NODE_EXTRA_CA_CERTS ${process.env.NODE_EXTRA_CA_CERTS ? 'set' : 'not set'}; drover ${readVersion(join(ROOT_DIR, 'package.json'))} (${ROOT_DIR})`,
    redis
      ? `- redis-server ${redis.version} started by the bench (no persistence), clients over ${tcp ? `TCP 127.0.0.1:${redis.port}` : 'a unix socket'}; BullMQ ${readVersion(join(BENCH_DIR, 'node_modules', 'bullmq', 'package.json'))}, ioredis ${readVersion(join(BENCH_DIR, 'node_modules', 'ioredis', 'package.json'))}`
      : '- no Redis case run',
    `- ${tasks} round trips per run, of which the first ${warmup} (warm-up) are not counted, ${rounds} round(s) per window, cases interleaved in rotating order; load average ${loadStart} at start, ${loadEnd} at end`,
    redis ? `- keys left in Redis after each Redis case (flushed after): ${leftKeys.join(', ')}` : '',
    '',
    'Medians over rounds (range of round trips/s in brackets; p50/p99 are the medians of each run\'s p50/p99):',
    '',
    `| in flight | ${peers.map((p) => `${PEERS[p]} round trips/s | p50 | p99`).join(' | ')} |`,
    `| --- | ${peers.map(() => '--- | --- | ---').join(' | ')} |`,
  );
  for (const window of windows) {
    const s = samples.get(window);
    const cells = peers.map((p) => {
      const rates = s[p].map((x) => x.rate);
      const range = rates.length > 1 ? ` (${f(Math.min(...rates))}–${f(Math.max(...rates))})` : '';
      return `${f(med(s[p], 'rate'))}${range} | ${f(med(s[p], 'p50'))} ms | ${f(med(s[p], 'p99'))} ms`;
    });
    out.push(`| ${window} | ${cells.join(' | ')} |`);
  }
  const pairs = [
    ['drover', 'raw', 0.5],
    ['drover-redis', 'bullmq', 1],
  ].filter(([a, b]) => peers.includes(a) && peers.includes(b));
  if (pairs.length > 0) {
    out.push(
      '',
      'Ratios of the median rates (in brackets: the median of the per-round ratios) and the targets of issue 5:',
      '',
      `| in flight | ${pairs.map(([a, b, t]) => `${PEERS[a]} / ${PEERS[b]} | ≥ ${t}?`).join(' | ')} |`,
      `| --- | ${pairs.map(() => '--- | ---').join(' | ')} |`,
    );
    for (const window of windows) {
      const s = samples.get(window);
      const cells = pairs.map(([a, b, target]) => {
        const r = med(s[a], 'rate') / med(s[b], 'rate');
        const perRound = median(s[a].map((x, i) => x.rate / s[b][i].rate));
        return `**${ratio(r, 1)}** (${ratio(perRound, 1)}) | ${yes(r, target)}`;
      });
      out.push(`| ${window} | ${cells.join(' | ')} |`);
    }
  }
  out.push('', '<details><summary>every run (round trips/s; p50, p99 in ms)</summary>', '');
  for (const window of windows) {
    for (const p of peers) {
      const runs = samples.get(window)[p].map((x) => `${Math.round(x.rate)} (${x.p50.toFixed(2)}, ${x.p99.toFixed(2)})`);
      out.push(`- ${window} in flight, ${PEERS[p]}: ${runs.join('; ')}`);
    }
  }
  out.push('', '</details>');
  console.log(out.join('\n'));
}

// --- the raw IPC child echoes every message; a BullMQ worker runs its part; the parent runs the benchmark ---
if (values.child) process.on('message', (m) => process.send(m));
else if (values['bullmq-worker']) await bullmqWorker();
else await runMain(main);
