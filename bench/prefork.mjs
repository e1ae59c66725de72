// Prefork HTTP serving (issues 7, 16, 17): drover serve on a shared socket and on balanced sockets
// (--reuse-port) vs node cluster (round-robin and SCHED_NONE) vs PM2 cluster mode vs one Node process, all
// serving the same hello-world request listener (fixtures/hello-app.mjs) on loopback, loaded with wrk. One
// interleaved run: every round starts each peer in turn (rotating order), so the noise of this shared
// machine is spread over all of them; only same-run ratios count.
//
// Per round, worker count (--workers, 2 and 4) and peer (the single process has 1):
//   1. throughput: wrk with keep-alive, then wrk with `Connection: close` (a new connection per request);
//      req/s and failed requests (socket errors + non-2xx) from wrk's own report;
//   2. fairness: per-worker request counts (each worker writes its count to BENCH_COUNT_DIR/<pid>) before
//      and after each throughput run; the busiest worker's share × the number of workers (1.0 = fair);
//   3. at the first worker count only, reload under keep-alive load: failed requests in a wrk run during
//      which a rolling reload happens (drover: SIGHUP; PM2: `pm2 reload`; node cluster: a naive rolling
//      restart in the primary on SIGHUP, see fixtures/node-server.cjs); drover also SIGUSR2 (re-exec of the
//      master) under load, and TTIN then TTOU under a new connection per request (TTOU closes a slot of a
//      balanced socket: what net.ipv4.tcp_migrate_req changes).
// Per round, one slow worker (first worker count): one worker spins BENCH_SLOW_MS (--slow-ms) per request;
// wrk --latency with keep-alive and with a new connection per request: p50, p99, req/s. On a shared socket
// the slow worker accepts less; on balanced sockets it keeps its share of new connections.
// Then, per round, crash to serving (1 worker, so that no worker holds the port): kill -9 the worker, time
// until a GET answers from the new one — drover, node cluster (round-robin), PM2 — next to the floor of
// any fork+exec restart: bare `node -e ''` (spawn to exit) and a bare Node server (spawn to first answer).
// Done with NODE_EXTRA_CA_CERTS as inherited and with it removed from every process started (--ca). And
// with an app that takes --load-ms (1.5 s) to load: drover without and with a spare worker
// (--spare-workers 1, shared and balanced), node cluster and PM2.
//
// usage: node prefork.mjs [--rounds 5] [--duration 5] [--reload-duration 8] [--kills 3] [--workers 2,4]
//                         [--connections 64] [--threads 1] [--slow-ms 5] [--load-ms 1500]
//                         [--peers drover,drover-balanced,drover-hashed,cluster-rr,cluster-none,pm2,single]
// drover-balanced steers new connections to the ready slots in turn (its BPF program, as root);
// drover-hashed is the same balanced sockets with DROVER_REUSEPORT_STEERING=hash (the kernel's hash).
//                         [--ca both|set|unset] [--no-crash] [--no-reload] [--no-slow] [--no-spare] [--only-crash]
// Development: node prefork.mjs --rounds 1 --duration 1 --reload-duration 3 --kills 1 --workers 2
// Prints a markdown report on stdout, progress on stderr. Requires wrk (Debian: apt-get install wrk).
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  BENCH_DIR,
  DROVER_BIN,
  delay,
  environmentReport,
  findByMarker,
  fmtMs,
  fmtRatio,
  killGroups,
  median,
  now,
  onCleanup,
  onLines,
  p90,
  pidAlive,
  readStat,
  rotate,
  runCommand,
  runMain,
  startDaemon,
  table,
  tempDir,
  waitQuiet as waitForQuiet,
  waitFor,
} from './lib.mjs';
import { createPm2 } from './tools.mjs';

const { values: opt } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    duration: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    'reload-duration': { type: 'string', default: '8' },
    kills: { type: 'string', default: '3' },
    connections: { type: 'string', default: '64' },
    threads: { type: 'string', default: '1' },
    peers: { type: 'string', default: 'drover,drover-balanced,drover-hashed,cluster-rr,cluster-none,pm2,single' },
    workers: { type: 'string', default: '2,4' },
    'slow-ms': { type: 'string', default: '5' },
    'load-ms': { type: 'string', default: '1500' },
    ca: { type: 'string', default: 'both' },
    'no-crash': { type: 'boolean', default: false },
    'no-reload': { type: 'boolean', default: false },
    'no-slow': { type: 'boolean', default: false },
    'no-spare': { type: 'boolean', default: false },
    'no-kill': { type: 'boolean', default: false },
    'only-crash': { type: 'boolean', default: false },
  },
});
const ROUNDS = Number(opt.rounds);
const DURATION = Number(opt.duration);
const WARMUP = Number(opt.warmup);
const RELOAD_DURATION = Number(opt['reload-duration']);
const KILLS = Number(opt.kills);
const CONNECTIONS = Number(opt.connections);
const THREADS = Number(opt.threads);
const PEERS = opt.peers.split(',').map((s) => s.trim()).filter(Boolean);
const CA_VARIANTS = { both: ['set', 'unset'], set: ['set'], unset: ['unset'] }[opt.ca];
if (!CA_VARIANTS) throw new Error('--ca must be both, set or unset');
if (!process.env.NODE_EXTRA_CA_CERTS && CA_VARIANTS.includes('set')) CA_VARIANTS.splice(CA_VARIANTS.indexOf('set'), 1, 'unset');
const CA_VARIANTS_UNIQUE = [...new Set(CA_VARIANTS)];

const WORKER_COUNTS = opt.workers.split(',').map(Number).filter((n) => n >= 2);
if (WORKER_COUNTS.length === 0) throw new Error('--workers wants counts ≥ 2, e.g. 2,4');
const WORKERS = WORKER_COUNTS[0];
const SLOW_MS = Number(opt['slow-ms']);
const LOAD_MS = Number(opt['load-ms']);
const DROVER_PEERS = new Set(['drover', 'drover-balanced', 'drover-hashed']);
const APP = join(BENCH_DIR, 'fixtures', 'hello-app.mjs');
const NODE_SERVER = join(BENCH_DIR, 'fixtures', 'node-server.cjs');
const RUN_ID = `${process.pid}-${Date.now().toString(36)}`;
// every process this run starts inherits this entry; whatever still carries it at the end is a leak
const MARKER = `DROVER_BENCH_MARKER=prefork-${RUN_ID}`;
process.env.DROVER_BENCH_MARKER = MARKER.slice(MARKER.indexOf('=') + 1);
const PORTS = {
  drover: 18601,
  'cluster-rr': 18602,
  'cluster-none': 18603,
  pm2: 18604,
  single: 18605,
  bare: 18606,
  'drover-balanced': 18607,
  'drover-spare': 18608,
  'drover-balanced-spare': 18609,
  'drover-hashed': 18610,
};
const CRASH_PEERS = ['drover', 'cluster-rr', 'pm2'].filter((p) => PEERS.includes(p));
/** crash to serving with an app that loads in LOAD_MS: drover without and with a spare, beside the Node peers */
const SPARE_PEERS = opt['no-spare']
  ? []
  : [
      ...(PEERS.includes('drover') ? ['drover', 'drover-spare'] : []),
      ...(PEERS.includes('drover-balanced') ? ['drover-balanced-spare'] : []),
      ...['cluster-rr', 'pm2'].filter((p) => PEERS.includes(p)),
    ];
/** one of two workers SIGKILLed under load: drover in both modes, without and with a spare, and the Node peers */
const KILL_PEERS = [
  ...(PEERS.includes('drover') ? ['drover', 'drover-spare'] : []),
  ...(PEERS.includes('drover-balanced') ? ['drover-balanced', 'drover-balanced-spare'] : []),
  ...(PEERS.includes('drover-hashed') ? ['drover-hashed'] : []),
  ...['cluster-rr', 'cluster-none', 'pm2'].filter((p) => PEERS.includes(p)),
];
/** the reload is triggered this long after wrk starts */
const RELOAD_AT_MS = 1500;

const log = (s) => process.stderr.write(`${s}\n`);

// --- the machine is shared: never load it while a test suite runs ---

const quietWaits = [];
async function waitQuiet() {
  const waited = await waitForQuiet(log);
  if (waited > 1000) quietWaits.push(waited);
}

// --- environment variants (NODE_EXTRA_CA_CERTS) ---

async function withCa(variant, fn) {
  const saved = process.env.NODE_EXTRA_CA_CERTS;
  if (variant === 'unset') delete process.env.NODE_EXTRA_CA_CERTS;
  try {
    return await fn();
  } finally {
    if (saved !== undefined) process.env.NODE_EXTRA_CA_CERTS = saved;
  }
}

// --- HTTP probe ---

/** One GET; resolves to { ok, body } or { ok: false, code } (ECONNREFUSED, ECONNRESET, timeout...). */
function probe(port, timeoutMs = 3000) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(res.statusCode === 200 ? { ok: true, body } : { ok: false, code: `HTTP ${res.statusCode}` }));
      res.on('error', (err) => resolve({ ok: false, code: err.code ?? err.message }));
    });
    req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', (err) => resolve({ ok: false, code: err.code ?? err.message }));
  });
}

const pidOf = (body) => Number(/hello from (\d+)/.exec(body ?? '')?.[1] ?? 0);

// --- per-worker counts (fixtures/hello-app.mjs writes BENCH_COUNT_DIR/<pid>) ---

function readCounts(dir) {
  const out = new Map();
  for (const name of readdirSync(dir)) {
    if (!/^\d+$/.test(name)) continue; // the slow worker's claim file
    try {
      out.set(Number(name), Number(readFileSync(join(dir, name), 'utf8')) || 0);
    } catch {
      // being rewritten; the next read has it
    }
  }
  return out;
}

const livePids = (dir) => [...readCounts(dir).keys()].filter((pid) => pidAlive(pid));

async function waitReady(port, dir, n, what) {
  await waitFor(async () => (await probe(port, 1000)).ok, { timeoutMs: 30_000, intervalMs: 50, what: `${what} to answer` });
  await waitFor(() => livePids(dir).length >= n, { timeoutMs: 30_000, intervalMs: 50, what: `${n} workers of ${what}` });
}

/** Resolves when every pid in `old` is gone and `n` new workers live. */
function waitRolled(dir, old, n, timeoutMs) {
  return waitFor(() => old.every((p) => !pidAlive(p)) && livePids(dir).filter((p) => !old.includes(p)).length >= n, {
    timeoutMs,
    intervalMs: 10,
    what: 'the workers to be replaced',
  });
}

// --- wrk ---

const wrkChildren = new Set();
onCleanup(() => {
  for (const c of wrkChildren) c.kill('SIGKILL');
});

function wrk(port, seconds, { close = false, latency = false } = {}) {
  seconds = Math.max(1, Math.round(seconds)); // wrk takes whole seconds
  const args = ['-t', String(THREADS), '-c', String(CONNECTIONS), '-d', `${seconds}s`, '--timeout', '2s'];
  if (close) args.push('-H', 'Connection: close');
  if (latency) args.push('--latency');
  args.push(`http://127.0.0.1:${port}/`);
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    wrkChildren.add(child);
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), (seconds + 30) * 1000);
    child.on('error', (err) => {
      clearTimeout(timer);
      wrkChildren.delete(child);
      reject(err.code === 'ENOENT' ? new Error('wrk is not installed (Debian: apt-get install wrk)') : err);
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      wrkChildren.delete(child);
      if (code !== 0) return reject(new Error(`wrk exited with ${code}: ${out}`));
      resolve(parseWrk(out));
    });
  });
}

function parseWrk(out) {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  const total = Number(/(\d+) requests in /.exec(out)?.[1] ?? NaN);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = sock ? { connect: +sock[1], read: +sock[2], write: +sock[3], timeout: +sock[4] } : { connect: 0, read: 0, write: 0, timeout: 0 };
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const failed = errors.connect + errors.read + errors.write + errors.timeout + non2xx;
  // --latency: "     99%    2.10ms"
  const pct = (p) => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm').exec(out);
    if (!m) return NaN;
    return Number(m[1]) * { us: 0.001, ms: 1, s: 1000 }[m[2]];
  };
  // "    Latency     1.02ms  412.23us  12.34ms   90.12%": avg, stdev, max
  const lat = /^\s+Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)\s/m.exec(out);
  const max = lat ? Number(lat[1]) * { us: 0.001, ms: 1, s: 1000 }[lat[2]] : NaN;
  return { rps, total, errors, non2xx, failed, p50: pct(50), p99: pct(99), max };
}

const fmtErr = (w) =>
  w.failed === 0 ? '0' : `${w.failed} (${Object.entries({ ...w.errors, non2xx: w.non2xx }).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${v}`).join(', ')})`;

// --- the peers: start(workers, port) → { reload?, usr2?, stop } ---

async function startPeer(name, { workers, port, appEnv = {} }) {
  const dir = tempDir(`drover-bench-prefork-${name}-`);
  const countDir = join(dir, 'counts');
  await runCommand('mkdir', ['-p', countDir]);
  const env = { ...process.env, ...appEnv, BENCH_COUNT_DIR: countDir, BENCH_PORT: String(port) };
  const spares = name.endsWith('-spare') ? 1 : 0;
  let peer;
  if (name.startsWith('drover')) {
    const hashed = name === 'drover-hashed';
    peer = startDroverServe({ workers, port, dir, env: hashed ? { ...env, DROVER_REUSEPORT_STEERING: 'hash' } : env, reusePort: hashed || name.startsWith('drover-balanced'), spares });
  }
  else if (name === 'cluster-rr' || name === 'cluster-none') {
    const policy = name === 'cluster-rr' ? 'rr' : 'none';
    peer = startNode({ ...env, BENCH_WORKERS: String(workers), NODE_CLUSTER_SCHED_POLICY: policy });
  } else if (name === 'single') peer = startNode({ ...env, BENCH_WORKERS: '0' });
  else if (name === 'pm2') peer = await startPm2({ workers, dir, env: { ...appEnv, BENCH_COUNT_DIR: countDir, BENCH_PORT: String(port) } });
  else throw new Error(`unknown peer ${name}`);
  try {
    // a spare is a loaded process too: wait for it, so that it is ready before anything is measured
    await waitReady(port, countDir, (name === 'single' ? 1 : workers) + spares, name);
  } catch (err) {
    await peer.stop();
    throw new Error(`${err.message}\n${peer.output?.() ?? ''}`);
  }
  return { ...peer, name, port, countDir, workers: name === 'single' ? 1 : workers, spares };
}

function tail(buf) {
  return () => buf.join('\n');
}

function startDroverServe({ workers, port, dir, env, reusePort = false, spares = 0 }) {
  const rt = join(dir, 'rt');
  const conf = join(rt, 'serve.ini');
  const flags = [...(reusePort ? ['--reuse-port'] : []), ...(spares > 0 ? ['--spare-workers', String(spares)] : [])];
  const d = startDaemon(
    process.execPath,
    [DROVER_BIN, 'serve', APP, '-w', String(workers), '-b', `127.0.0.1:${port}`, '--runtime-dir', rt, ...flags],
    { env },
  );
  const lines = [];
  const keep = (l) => {
    lines.push(l);
    if (lines.length > 40) lines.shift();
  };
  onLines(d.child.stdout, keep);
  onLines(d.child.stderr, keep);
  const masterPid = () => Number(readFileSync(join(rt, 'drover.pid'), 'utf8').trim());
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    const master = (() => {
      try {
        return masterPid();
      } catch {
        return 0;
      }
    })();
    if (existsSync(conf)) {
      const r = await runCommand(process.execPath, [DROVER_BIN, 'down', '-c', conf], { timeoutMs: 60_000 }).catch((e) => ({ code: -1, stderr: e.message }));
      if (r.code !== 0) log(`  drover down (master ${master}): exit ${r.code} ${r.stderr.trim()}`);
    } else if (master) {
      try {
        process.kill(master, 'SIGTERM');
      } catch {
        // ESRCH: gone
      }
    }
    await Promise.race([d.exited, delay(10_000)]);
    await d.stop('SIGTERM', 10_000); // no-op once it has exited
    if (master && master !== d.pid) await waitFor(() => !pidAlive(master), { timeoutMs: 10_000, what: 'the re-exec’d drover master to exit' }).catch(() => process.kill(master, 'SIGKILL'));
  };
  onCleanup(stop);
  return {
    stop,
    output: tail(lines),
    reload: async () => process.kill(masterPid(), 'SIGHUP'),
    signal: (sig) => process.kill(masterPid(), sig),
    usr2: async () => {
      const old = masterPid();
      process.kill(old, 'SIGUSR2');
      return old;
    },
  };
}

function startNode(env) {
  const d = startDaemon(process.execPath, [NODE_SERVER], { env });
  const lines = [];
  onLines(d.child.stdout, (l) => lines.push(l));
  onLines(d.child.stderr, (l) => lines.push(l));
  const isCluster = Number(env.BENCH_WORKERS) > 0;
  return {
    stop: () => d.stop('SIGTERM', 10_000),
    output: tail(lines),
    reload: isCluster ? async () => process.kill(d.pid, 'SIGHUP') : undefined,
  };
}

async function startPm2({ workers, dir, env }) {
  const p = createPm2(join(dir, 'pm2-home'));
  await p.connect();
  await p.start({
    name: 'hello',
    script: NODE_SERVER,
    instances: workers,
    exec_mode: 'cluster',
    env,
    out_file: '/dev/null',
    error_file: '/dev/null',
    autorestart: true,
  });
  return {
    stop: () => p.kill(30_000),
    reload: () => new Promise((resolve, reject) => p.pm2.reload('hello', (err) => (err ? reject(err) : resolve()))),
  };
}

// --- measurements ---

/** A wrk run with per-worker counts around it; fairness = busiest share × workers. */
async function throughput(peer, seconds, close) {
  const before = readCounts(peer.countDir);
  const w = await wrk(peer.port, seconds, { close });
  await delay(250); // the workers flush their counts every 100 ms
  const after = readCounts(peer.countDir);
  const per = [...after].map(([pid, c]) => c - (before.get(pid) ?? 0)).filter((c) => c > 0);
  while (per.length < peer.workers) per.push(0);
  const sum = per.reduce((a, b) => a + b, 0);
  const fairness = sum > 0 ? (Math.max(...per) / sum) * peer.workers : NaN;
  return { ...w, fairness, perWorker: per, counted: sum };
}

/** wrk with keep-alive for RELOAD_DURATION s; `trigger` runs RELOAD_AT_MS in; resolves when rolled. */
async function underLoad(peer, trigger) {
  const old = livePids(peer.countDir);
  const run = wrk(peer.port, RELOAD_DURATION);
  await delay(RELOAD_AT_MS);
  const t0 = now();
  let rolledMs = NaN;
  let oldMaster = 0;
  try {
    oldMaster = (await trigger()) ?? 0;
    await waitRolled(peer.countDir, old, peer.workers, RELOAD_DURATION * 1000 - RELOAD_AT_MS);
    if (oldMaster) await waitFor(() => !pidAlive(oldMaster), { timeoutMs: 10_000, what: 'the old master to exit' });
    rolledMs = now() - t0;
  } catch (err) {
    log(`  ${peer.name}: ${err.message}`);
  }
  const w = await run;
  return { ...w, rolledMs, rolledInTime: Number.isFinite(rolledMs) && rolledMs < RELOAD_DURATION * 1000 - RELOAD_AT_MS };
}

/** One slow worker (BENCH_SLOW_MS per request): wrk --latency with keep-alive and with a new connection per request. */
async function slowWorker(peer) {
  await wrk(peer.port, WARMUP);
  const ka = await wrk(peer.port, DURATION, { latency: true });
  const cc = await wrk(peer.port, DURATION, { close: true, latency: true });
  let share = NaN;
  try {
    const slowPid = Number(readFileSync(join(peer.countDir, 'slow'), 'utf8'));
    const counts = readCounts(peer.countDir);
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    share = total > 0 ? (counts.get(slowPid) ?? 0) / total : NaN;
  } catch {
    // no worker claimed it (no request reached one): the share stays unknown
  }
  return { ka, cc, share };
}

/**
 * One of the workers SIGKILLed RELOAD_AT_MS into a wrk run with a new connection per request, the app taking
 * LOAD_MS to load: failed requests (those in flight on it), p99 and max latency. On a shared socket the other
 * worker takes every new connection at once; a balanced slot keeps its share waiting until its worker is
 * back, unless a spare takes over.
 */
async function killUnderLoad(peer) {
  const run = wrk(peer.port, RELOAD_DURATION, { close: true, latency: true });
  await delay(RELOAD_AT_MS);
  const counts = readCounts(peer.countDir);
  const victim = livePids(peer.countDir).find((pid) => (counts.get(pid) ?? 0) > 0); // a serving one, not a spare
  if (victim) process.kill(victim, 'SIGKILL');
  else log(`  ${peer.name}: no serving worker to kill`);
  return run;
}

/**
 * TTIN, then TTOU once the added worker runs, under a new connection per request: failed requests. TTOU
 * closes a slot of a balanced socket, which resets the connections queued on it at that instant unless
 * net.ipv4.tcp_migrate_req is on.
 */
async function scaleUnderLoad(peer) {
  const before = livePids(peer.countDir).length;
  const run = wrk(peer.port, RELOAD_DURATION, { close: true });
  await delay(RELOAD_AT_MS);
  let doneMs = NaN;
  const t0 = now();
  try {
    peer.signal('SIGTTIN');
    await waitFor(() => livePids(peer.countDir).length > before, { timeoutMs: 10_000, intervalMs: 10, what: 'the added worker' });
    await delay(500);
    peer.signal('SIGTTOU');
    await waitFor(() => livePids(peer.countDir).length === before, { timeoutMs: 10_000, intervalMs: 10, what: 'the removed worker to exit' });
    doneMs = now() - t0;
  } catch (err) {
    log(`  ${peer.name}: ${err.message}`);
  }
  const w = await run;
  return { ...w, rolledMs: doneMs, rolledInTime: Number.isFinite(doneMs) };
}

/**
 * kill -9 the only worker; ms until a GET answers from a different pid. A new GET (own connection, 5 s
 * timeout) starts every 5 ms without waiting for the earlier ones: a connection that sits in the listen
 * backlog is answered when the new worker accepts it (drover), and one that a cluster primary accepted
 * and then drops or holds does not block the measurement. Errors seen on the way are reported.
 */
function crashToServing(peer, pid) {
  return new Promise((resolve, reject) => {
    const t0 = now();
    process.kill(pid, 'SIGKILL');
    const errors = new Set();
    const pending = [];
    let lost = 0; // probes that connected but got no answer (timeout, reset), counted even after the first answer
    let done = false;
    const finish = (fn) => {
      done = true;
      clearInterval(timer);
      fn();
    };
    const fire = () => {
      if (done) return;
      if (now() - t0 > 15_000) return finish(() => reject(new Error(`${peer.name}: not serving 15 s after the kill`)));
      const p = probe(peer.port, 5000).then((r) => {
        if (!r.ok && r.code !== 'ECONNREFUSED') lost++;
        if (done) return;
        if (r.ok && pidOf(r.body) !== pid) {
          const ms = now() - t0;
          finish(() => resolve({ ms, errors: [...errors], lost: () => Promise.all(pending).then(() => lost) }));
        } else if (!r.ok) errors.add(r.code);
      });
      pending.push(p);
    };
    const timer = setInterval(fire, 5);
    fire();
  });
}

/** Spawn to exit of `node -e ''`. */
async function nodeStartup() {
  const t0 = now();
  await runCommand(process.execPath, ['-e', ''], { timeoutMs: 10_000 });
  return now() - t0;
}

/** Spawn of a bare Node server (the single-process peer) to its first answer. */
async function bareServerStartup() {
  const dir = tempDir('drover-bench-prefork-bare-');
  const t0 = now();
  const d = startDaemon(process.execPath, [NODE_SERVER], {
    env: { ...process.env, BENCH_PORT: String(PORTS.bare), BENCH_WORKERS: '0', BENCH_COUNT_DIR: dir },
  });
  let ms = NaN;
  try {
    for (;;) {
      const r = await probe(PORTS.bare, 3000);
      if (r.ok) {
        ms = now() - t0;
        break;
      }
      if (now() - t0 > 15_000) throw new Error('the bare server did not answer in 15 s');
      await delay(2);
    }
  } finally {
    await d.stop('SIGKILL', 5000);
  }
  return ms;
}

// --- main ---

async function portsFree() {
  for (const port of Object.values(PORTS)) {
    const r = await probe(port, 500);
    if (r.ok || r.code !== 'ECONNREFUSED') throw new Error(`port ${port} is in use (${r.ok ? 'answers HTTP' : r.code})`);
  }
}

async function main() {
  const wrkVersion = (await runCommand('wrk', ['-v'], { timeoutMs: 5000 }).catch(() => null))?.stdout.split('\n')[0] ?? 'not installed';
  if (wrkVersion === 'not installed' || !/wrk/.test(wrkVersion)) throw new Error('wrk is not installed (Debian: apt-get install wrk)');
  await portsFree();
  const command = `node prefork.mjs ${process.argv.slice(2).join(' ')}`.trim();
  const header = environmentReport('Prefork HTTP serving: drover serve (shared and balanced sockets, spare workers) vs node cluster vs PM2 vs one process (issues 7, 16, 17)', command);

  // res[peer] = { byW: { [workers]: { ka: [], cc: [] } }, ka, cc (the first count's), reload, usr2, scale, slow }
  const res = {};
  for (const p of PEERS) {
    const byW = Object.fromEntries(WORKER_COUNTS.map((w) => [w, { ka: [], cc: [] }]));
    res[p] = { byW, ka: byW[WORKERS].ka, cc: byW[WORKERS].cc, reload: [], usr2: [], scale: [], slow: [] };
  }
  const crash = {}; // crash[variant][peer] = [ms], crash[variant].nodeE / .bare
  for (const v of CA_VARIANTS_UNIQUE) {
    crash[v] = { nodeE: [], bare: [], errors: {}, lost: {} };
    for (const p of CRASH_PEERS) crash[v][p] = [];
  }
  const spare = { errors: {}, lost: {} }; // spare[peer] = [ms]: crash to serving with an app that loads in LOAD_MS
  for (const p of SPARE_PEERS) spare[p] = [];
  const killed = {}; // killed[peer] = [wrk results]: one worker SIGKILLed under load
  for (const p of KILL_PEERS) killed[p] = [];
  const loads = [];

  for (let r = 0; r < ROUNDS; r++) {
    loads.push(readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '));
    log(`round ${r + 1}/${ROUNDS} (load ${loads.at(-1)})`);
    for (const workers of opt['only-crash'] ? [] : WORKER_COUNTS) {
      for (const name of rotate(PEERS, r)) {
        if (name === 'single' && workers !== WORKERS) continue; // one process whatever the count
        await waitQuiet();
        log(`  ${name} (${name === 'single' ? 1 : workers} worker(s))`);
        const peer = await startPeer(name, { workers, port: PORTS[name] });
        try {
          await wrk(peer.port, WARMUP);
          const ka = await throughput(peer, DURATION, false);
          const cc = await throughput(peer, DURATION, true);
          res[name].byW[workers].ka.push(ka);
          res[name].byW[workers].cc.push(cc);
          log(`    keep-alive ${ka.rps.toFixed(0)} req/s (failed ${ka.failed}, fairness ${ka.fairness.toFixed(2)}); new conn ${cc.rps.toFixed(0)} req/s (failed ${cc.failed}, fairness ${cc.fairness.toFixed(2)})`);
          if (!opt['no-reload'] && peer.reload && workers === WORKERS) {
            const rl = await underLoad(peer, peer.reload);
            res[name].reload.push(rl);
            log(`    reload: failed ${fmtErr(rl)}, rolled in ${fmtMs(rl.rolledMs)}`);
            if (peer.usr2) {
              const u = await underLoad(peer, peer.usr2);
              res[name].usr2.push(u);
              log(`    USR2: failed ${fmtErr(u)}, done in ${fmtMs(u.rolledMs)}`);
            }
            if (DROVER_PEERS.has(name)) {
              const sc = await scaleUnderLoad(peer);
              res[name].scale.push(sc);
              log(`    TTIN+TTOU (new connection per request): failed ${fmtErr(sc)}`);
            }
          }
        } finally {
          await peer.stop();
        }
      }
    }
    for (const name of opt['no-slow'] || opt['only-crash'] ? [] : rotate(PEERS.filter((p) => p !== 'single'), r)) {
      await waitQuiet();
      log(`  ${name}: one slow worker (${SLOW_MS} ms per request)`);
      const peer = await startPeer(name, { workers: WORKERS, port: PORTS[name], appEnv: { BENCH_SLOW_MS: String(SLOW_MS) } });
      try {
        const sw = await slowWorker(peer);
        res[name].slow.push(sw);
        log(`    keep-alive p99 ${fmtMs(sw.ka.p99)} (${fmtRps(sw.ka.rps)} req/s); new conn p99 ${fmtMs(sw.cc.p99)} (${fmtRps(sw.cc.rps)} req/s); slow worker's share ${(sw.share * 100).toFixed(1)} %`);
      } finally {
        await peer.stop();
      }
    }
    for (const name of opt['no-kill'] || opt['only-crash'] ? [] : rotate(KILL_PEERS, r)) {
      await waitQuiet();
      log(`  ${name}: one of ${WORKERS} workers SIGKILLed under load (the app loads in ${LOAD_MS} ms)`);
      const peer = await startPeer(name, { workers: WORKERS, port: PORTS[name], appEnv: { BENCH_LOAD_MS: String(LOAD_MS) } });
      try {
        await wrk(peer.port, WARMUP, { close: true });
        const k = await killUnderLoad(peer);
        killed[name].push(k);
        log(`    failed ${fmtErr(k)}; p99 ${fmtMs(k.p99)}, max ${fmtMs(k.max)}, ${fmtRps(k.rps)} req/s`);
      } finally {
        await peer.stop();
      }
    }
    if (opt['no-crash']) continue;
    for (const v of CA_VARIANTS_UNIQUE) {
      await waitQuiet();
      await withCa(v, async () => {
        for (let i = 0; i < 3; i++) crash[v].nodeE.push(await nodeStartup());
        for (let i = 0; i < 2; i++) crash[v].bare.push(await bareServerStartup());
        for (const name of rotate(CRASH_PEERS, r)) {
          const peer = await startPeer(name, { workers: 1, port: PORTS[name] });
          try {
            for (let k = 0; k < KILLS; k++) {
              await delay(1200); // past PM2's min_uptime (1 s): every kill is a "stable" restart for it
              await waitReady(peer.port, peer.countDir, 1, name);
              const first = await probe(peer.port, 3000);
              if (!first.ok || !pidOf(first.body)) throw new Error(`${name}: no worker pid (${first.code ?? first.body})`);
              const c = await crashToServing(peer, pidOf(first.body));
              crash[v][name].push(c.ms);
              for (const e of c.errors) crash[v].errors[`${name}: ${e}`] = true;
              const lost = await c.lost(); // waits for every probe still in flight (≤ 5 s)
              crash[v].lost[name] = (crash[v].lost[name] ?? 0) + lost;
            }
          } finally {
            await peer.stop();
          }
        }
        log(`  crash (NODE_EXTRA_CA_CERTS ${v}): node -e ${fmtMs(median(crash[v].nodeE))}, ${CRASH_PEERS.map((p) => `${p} ${fmtMs(median(crash[v][p]))}`).join(', ')}`);
      });
    }
    // an app that loads in LOAD_MS: a restart pays the load, a spare does not
    await waitQuiet();
    for (const name of rotate(SPARE_PEERS, r)) {
      const peer = await startPeer(name, { workers: 1, port: PORTS[name], appEnv: { BENCH_LOAD_MS: String(LOAD_MS) } });
      try {
        for (let k = 0; k < KILLS; k++) {
          await delay(1200); // past PM2's min_uptime (1 s)
          await waitReady(peer.port, peer.countDir, 1 + peer.spares, name); // the spare is back too
          const first = await probe(peer.port, 3000);
          if (!first.ok || !pidOf(first.body)) throw new Error(`${name}: no worker pid (${first.code ?? first.body})`);
          const c = await crashToServing(peer, pidOf(first.body));
          spare[name].push(c.ms);
          for (const e of c.errors) spare.errors[`${name}: ${e}`] = true;
          spare.lost[name] = (spare.lost[name] ?? 0) + (await c.lost());
        }
      } finally {
        await peer.stop();
      }
    }
    if (SPARE_PEERS.length) log(`  crash, app loading in ${LOAD_MS} ms: ${SPARE_PEERS.map((p) => `${p} ${fmtMs(median(spare[p]))}`).join(', ')}`);
  }

  // leaks: anything still carrying this run's marker
  await delay(500);
  const leaked = findByMarker(MARKER).filter((pid) => pid !== process.pid);
  const leakedStats = leaked.map((pid) => readStat(pid)).filter(Boolean);
  killGroups(leakedStats);
  let portsAfter = 'all refused';
  try {
    await portsFree();
  } catch (err) {
    portsAfter = err.message;
  }

  process.stdout.write(report({ header, res, crash, spare, killed, loads, wrkVersion, leakedStats, portsAfter }));
}

// --- report ---

const fmtRps = (x) => (Number.isFinite(x) ? `${Math.round(x)}` : 'n/a');
const range = (xs) => (xs.length ? `${fmtRps(Math.min(...xs))}–${fmtRps(Math.max(...xs))}` : 'n/a');
const med = (rows, key) => median(rows.map((x) => x[key]));
const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : 'n/a');

function perRoundRatio(a, b, key) {
  const n = Math.min(a.length, b.length);
  return median(Array.from({ length: n }, (_, i) => a[i][key] / b[i][key]));
}

function report({ header, res, crash, spare, killed, loads, wrkVersion, leakedStats, portsAfter }) {
  const out = [header];
  const migrate = (() => {
    try {
      return readFileSync('/proc/sys/net/ipv4/tcp_migrate_req', 'utf8').trim();
    } catch {
      return 'absent (kernel < 5.14)';
    }
  })();
  out.push(
    `- ${wrkVersion}; \`wrk -t ${THREADS} -c ${CONNECTIONS} -d ${DURATION}s --timeout 2s [-H 'Connection: close'] http://127.0.0.1:PORT/\` after a ${WARMUP} s warm-up`,
    `- ${ROUNDS} rounds, peers in rotating order; ${WORKER_COUNTS.join(' and ')} workers (single: 1 process); load average at each round's start: ${loads.join(' · ')}`,
    `- drover: \`drover serve\` on one shared socket; drover-balanced: \`drover serve --reuse-port\` (one SO_REUSEPORT socket per worker slot, new connections steered to the ready slots in turn); drover-hashed: the same with DROVER_REUSEPORT_STEERING=hash (the kernel's hash picks the slot); net.ipv4.tcp_migrate_req = ${migrate}`,
    `- waited for test suites: ${quietWaits.length ? quietWaits.map((ms) => fmtMs(ms)).join(', ') : 'never (none ran before a measurement)'}`,
    '',
  );

  const results = {};
  const multi = PEERS.filter((p) => p !== 'single');
  const droverPeers = PEERS.filter((p) => DROVER_PEERS.has(p));
  for (const W of WORKER_COUNTS) {
    const rowsOf = (p) => (p === 'single' ? res[p].byW[WORKERS] : res[p].byW[W]);
    const peersHere = W === WORKERS ? PEERS : multi;
    out.push(`## Throughput, ${W} workers (req/s, medians over rounds)`, '');
    out.push(
      table(
        ['peer', 'keep-alive', 'range', 'failed', 'new connection per request', 'range', 'failed'],
        peersHere.map((p) => {
          const { ka, cc } = rowsOf(p);
          return [p, `**${fmtRps(med(ka, 'rps'))}**`, range(ka.map((x) => x.rps)), ka.reduce((a, x) => a + x.failed, 0), `**${fmtRps(med(cc, 'rps'))}**`, range(cc.map((x) => x.rps)), cc.reduce((a, x) => a + x.failed, 0)];
        }),
      ),
      '',
    );
    for (const d of droverPeers) {
      const others = peersHere.filter((p) => p !== d);
      if (!others.length) continue;
      out.push(
        table(
          [`${d} / peer (${W} workers)`, 'keep-alive: ratio of medians', 'keep-alive: median of per-round ratios', 'new connection: ratio of medians', 'new connection: median of per-round ratios'],
          others.map((p) => [
            p,
            fmtRatio(med(res[d].byW[W].ka, 'rps'), med(rowsOf(p).ka, 'rps')),
            f2(perRoundRatio(res[d].byW[W].ka, rowsOf(p).ka, 'rps')),
            fmtRatio(med(res[d].byW[W].cc, 'rps'), med(rowsOf(p).cc, 'rps')),
            f2(perRoundRatio(res[d].byW[W].cc, rowsOf(p).cc, 'rps')),
          ]),
        ),
        '',
      );
      const cn = res['cluster-none']?.byW[W];
      if (cn?.ka.length && res[d].byW[W].ka.length) {
        (results.vsNone ??= []).push({ d, W, ka: med(res[d].byW[W].ka, 'rps') / med(cn.ka, 'rps'), cc: med(res[d].byW[W].cc, 'rps') / med(cn.cc, 'rps') });
      }
    }
    if (W === WORKERS && PEERS.includes('drover') && res.drover.ka.length) {
      const others = PEERS.filter((p) => p !== 'drover');
      if (others.length) {
        const best = others.reduce((b, p) => (med(res[p].ka, 'rps') > med(res[b].ka, 'rps') ? p : b), others[0]);
        results.ka = { best, ratio: med(res.drover.ka, 'rps') / med(res[best].ka, 'rps') };
        if (res['cluster-rr']) results.cc = med(res.drover.cc, 'rps') / med(res['cluster-rr'].cc, 'rps');
      }
    }

    out.push(`## Fairness, ${W} workers: the busiest worker's share × workers (1.00 = even; ${W}.00 = one worker took all)`, '');
    out.push(
      table(
        ['peer', 'keep-alive: median', 'max', 'new connection: median', 'max', 'counted / wrk total'],
        multi.map((p) => {
          const { ka, cc } = res[p].byW[W];
          const all = [...ka, ...cc];
          const counted = all.reduce((a, x) => a + x.counted, 0) / Math.max(1, all.reduce((a, x) => a + x.total, 0));
          return [p, f2(med(ka, 'fairness')), f2(Math.max(...ka.map((x) => x.fairness))), f2(med(cc, 'fairness')), f2(Math.max(...cc.map((x) => x.fairness))), `${(counted * 100).toFixed(1)} %`];
        }),
      ),
      '',
    );
    for (const d of droverPeers) if (res[d].byW[W].ka.length) (results.fair ??= []).push({ d, W, ka: med(res[d].byW[W].ka, 'fairness'), cc: med(res[d].byW[W].cc, 'fairness') });
  }

  if (!opt['no-reload']) {
    out.push(`## Reload and scaling under load (failed requests per run; wrk ${RELOAD_DURATION} s, ${WORKERS} workers, the event at ${RELOAD_AT_MS / 1000} s)`, '');
    const rows = [];
    for (const p of PEERS) {
      for (const [kind, runs] of [['reload', res[p].reload], ['USR2', res[p].usr2], ['scale', res[p].scale]]) {
        if (!runs.length) continue;
        const what = DROVER_PEERS.has(p)
          ? `${p} ${{ reload: 'SIGHUP', USR2: 'SIGUSR2 (re-exec)', scale: 'TTIN then TTOU, new connection per request' }[kind]}`
          : p === 'pm2'
            ? 'pm2 reload'
            : `${p}: naive rolling restart (SIGHUP)`;
        rows.push([
          what,
          `**${median(runs.map((x) => x.failed))}**`,
          runs.map(fmtErr).join('; '),
          fmtMs(median(runs.map((x) => x.rolledMs))),
          runs.filter((x) => !x.rolledInTime).length,
          fmtRps(median(runs.map((x) => x.rps))),
        ]);
      }
    }
    out.push(table(['peer', 'failed: median', 'failed per run', 'done in (median)', 'runs not done within wrk', 'req/s during the run'], rows), '');
    if (res.drover?.reload.length) results.reload = [...res.drover.reload, ...res.drover.usr2].reduce((a, x) => a + x.failed, 0);
    for (const d of droverPeers) {
      if (res[d].reload.length) (results.reloads ??= []).push({ d, failed: [...res[d].reload, ...res[d].usr2].reduce((a, x) => a + x.failed, 0), scale: res[d].scale.reduce((a, x) => a + x.failed, 0) });
    }
    out.push(
      `TTOU closes a slot of a balanced socket: with net.ipv4.tcp_migrate_req = 0 the kernel resets the connections queued on it at that instant; with 1 it moves them to another slot (docs/decisions.md, Prefork).`,
      '',
    );
  }

  if (!opt['no-slow'] && multi.some((p) => res[p].slow.length)) {
    out.push(`## One slow worker (${WORKERS} workers; one spins ${SLOW_MS} ms per request): latency (medians over rounds)`, '');
    out.push(
      table(
        ['peer', 'keep-alive p50', 'p99', 'req/s', 'new connection p50', 'p99', 'req/s', 'slow worker\'s share of requests'],
        multi
          .filter((p) => res[p].slow.length)
          .map((p) => {
            const sl = res[p].slow;
            const m = (k, f) => median(sl.map((x) => x[k][f]));
            return [p, fmtMs(m('ka', 'p50')), `**${fmtMs(m('ka', 'p99'))}**`, fmtRps(m('ka', 'rps')), fmtMs(m('cc', 'p50')), `**${fmtMs(m('cc', 'p99'))}**`, fmtRps(m('cc', 'rps')), `${(median(sl.map((x) => x.share)) * 100).toFixed(1)} %`];
          }),
      ),
      '',
    );
    out.push(
      'On a shared socket a busy worker takes fewer connections (the others are waiting in accept first); on balanced sockets the kernel hashes each new connection to a slot whatever its worker is doing, so the slow worker keeps its share and its queue.',
      '',
    );
  }

  if (!opt['no-crash']) {
    out.push('## Crash to serving (1 worker; kill -9 → first answer from the new worker)', '');
    const rows = [];
    for (const v of CA_VARIANTS_UNIQUE) {
      const c = crash[v];
      const tag = `NODE_EXTRA_CA_CERTS ${v}`;
      rows.push([`bare \`node -e ''\` (spawn → exit)`, tag, fmtMs(median(c.nodeE)), fmtMs(p90(c.nodeE)), c.nodeE.length]);
      rows.push(['bare Node server (spawn → first answer)', tag, fmtMs(median(c.bare)), fmtMs(p90(c.bare)), c.bare.length]);
      for (const p of CRASH_PEERS) rows.push([`**${p}**`, tag, `**${fmtMs(median(c[p]))}**`, fmtMs(p90(c[p])), c[p].length]);
    }
    out.push(table(['', 'environment', 'median', 'p90', 'samples'], rows), '');
    const rrows = [];
    for (const v of CA_VARIANTS_UNIQUE) {
      const c = crash[v];
      const floor = median(c.nodeE);
      for (const p of CRASH_PEERS) rrows.push([p, v, fmtMs(median(c[p]) - floor), fmtRatio(median(c[p]), median(c.drover ?? []))]);
    }
    out.push(table(['peer', 'NODE_EXTRA_CA_CERTS', 'median − bare `node -e` median', 'peer / drover'], rrows), '');
    const errs = CA_VARIANTS_UNIQUE.flatMap((v) => Object.keys(crash[v].errors).map((e) => `${e} (${v})`));
    out.push(`Errors the probes saw before the first answer (a new GET every 5 ms, each with a 5 s timeout): ${errs.length ? errs.join('; ') : 'none'}.`, '');
    const lostRows = CA_VARIANTS_UNIQUE.flatMap((v) => CRASH_PEERS.map((p) => `${p} ${crash[v].lost[p] ?? 0} (${v})`));
    out.push(`Probes that connected but were never answered (timeout or reset; a request lost by the restart), over all kills: ${lostRows.join(', ')}.`, '');
    results.crash = Object.fromEntries(CA_VARIANTS_UNIQUE.map((v) => [v, median(crash[v].drover ?? []) - median(crash[v].nodeE)]));
  }

  if (!opt['no-kill'] && KILL_PEERS.some((p) => killed[p].length)) {
    out.push(`## One of ${WORKERS} workers SIGKILLed under load (an app that loads in ${LOAD_MS} ms; wrk ${RELOAD_DURATION} s, a new connection per request, the kill at ${RELOAD_AT_MS / 1000} s)`, '');
    out.push(
      table(
        ['peer', 'failed: median', 'failed per run', 'p99 (median)', 'max (median)', 'req/s'],
        KILL_PEERS.filter((p) => killed[p].length).map((p) => {
          const k = killed[p];
          return [p, `**${median(k.map((x) => x.failed))}**`, k.map(fmtErr).join('; '), `**${fmtMs(median(k.map((x) => x.p99)))}**`, fmtMs(median(k.map((x) => x.max))), fmtRps(median(k.map((x) => x.rps)))];
        }),
      ),
      '',
    );
    out.push(
      'Failures are the requests in flight on the killed worker. The max shows what waits: on balanced sockets without a spare, the dead worker\'s slot keeps its share of new connections until the worker has loaded again.',
      '',
    );
  }

  if (!opt['no-crash'] && SPARE_PEERS.length) {
    out.push(`## Crash to serving, an app that loads in ${LOAD_MS} ms (1 serving worker; kill -9 → first answer from another process)`, '');
    out.push(
      table(
        ['peer', 'median', 'p90', 'samples', 'probes lost'],
        SPARE_PEERS.map((p) => [p === 'drover' ? 'drover (no spare: the worker restarts)' : p, `**${fmtMs(median(spare[p]))}**`, fmtMs(p90(spare[p])), spare[p].length, spare.lost[p] ?? 0]),
      ),
      '',
    );
    const errs = Object.keys(spare.errors);
    out.push(`Errors the probes saw before the first answer: ${errs.length ? errs.join('; ') : 'none'}.`, '');
    for (const p of SPARE_PEERS.filter((x) => x.endsWith('-spare'))) (results.spare ??= []).push({ p, ms: median(spare[p]) });
  }

  out.push('## Targets (issues 7, 16, 17)', '');
  const yes = (b) => (b ? 'met' : '**NOT met**');
  if (results.ka) out.push(`- keep-alive ≥ 1.0× the best Node peer (${results.ka.best}), drover on a shared socket: ${results.ka.ratio.toFixed(3)} — ${yes(results.ka.ratio >= 1)}`);
  if (results.cc !== undefined) out.push(`- new connection per request ≥ 1.5× cluster round-robin: ${results.cc.toFixed(3)} — ${yes(results.cc >= 1.5)}`);
  for (const f of results.fair ?? []) out.push(`- ${f.d}, ${f.W} workers: busiest worker's share × workers ≤ 1.10 (keep-alive ${f2(f.ka)}, new connection ${f2(f.cc)}) — ${yes(f.ka <= 1.1 && f.cc <= 1.1)}`);
  for (const t of results.vsNone ?? []) out.push(`- ${t.d}, ${t.W} workers: throughput ≥ 1.0× cluster SCHED_NONE (keep-alive ${f2(t.ka)}, new connection ${f2(t.cc)}) — ${yes(t.ka >= 1 && t.cc >= 1)}`);
  for (const r of results.reloads ?? []) out.push(`- ${r.d}: 0 failed requests on reload (SIGHUP and USR2, all runs): ${r.failed} — ${yes(r.failed === 0)}; TTIN+TTOU under a new connection per request: ${r.scale} failed`);
  if (results.crash) for (const [v, d] of Object.entries(results.crash)) out.push(`- crash to serving ≤ bare \`node -e\` + 20 ms (NODE_EXTRA_CA_CERTS ${v}): +${fmtMs(d)} — ${yes(d <= 20)}`);
  for (const sp of results.spare ?? []) out.push(`- ${sp.p}: an app that loads in ${LOAD_MS} ms, its worker killed → another answers ≤ 20 ms: ${fmtMs(sp.ms)} — ${yes(sp.ms <= 20)}`);
  out.push('');

  out.push('<details><summary>raw samples</summary>', '');
  for (const p of PEERS) {
    const { reload, usr2, scale, slow } = res[p];
    for (const W of WORKER_COUNTS) {
      const { ka, cc } = res[p].byW[W];
      if (!ka.length && !cc.length) continue;
      out.push(`- ${p}, ${W} workers: keep-alive req/s [${ka.map((x) => fmtRps(x.rps)).join(', ')}] per worker [${ka.map((x) => x.perWorker.join('/')).join(', ')}]; new conn req/s [${cc.map((x) => fmtRps(x.rps)).join(', ')}] per worker [${cc.map((x) => x.perWorker.join('/')).join(', ')}]`);
    }
    if (reload.length) out.push(`  reload failed [${reload.map((x) => x.failed).join(', ')}] done ms [${reload.map((x) => Math.round(x.rolledMs)).join(', ')}]`);
    if (usr2.length) out.push(`  USR2 failed [${usr2.map((x) => x.failed).join(', ')}] done ms [${usr2.map((x) => Math.round(x.rolledMs)).join(', ')}]`);
    if (scale.length) out.push(`  TTIN+TTOU failed [${scale.map((x) => x.failed).join(', ')}]`);
    if (slow.length) out.push(`  slow worker: keep-alive p99 ms [${slow.map((x) => x.ka.p99.toFixed(2)).join(', ')}], new conn p99 ms [${slow.map((x) => x.cc.p99.toFixed(2)).join(', ')}], its share [${slow.map((x) => (x.share * 100).toFixed(1)).join(', ')}] %`);
  }
  if (!opt['no-crash']) for (const p of SPARE_PEERS) out.push(`- crash with a ${LOAD_MS} ms load, ${p}: [${spare[p].map((x) => x.toFixed(1)).join(', ')}]`);
  for (const p of KILL_PEERS) if (killed[p].length) out.push(`- one worker killed under load, ${p}: failed [${killed[p].map((x) => x.failed).join(', ')}], p99 ms [${killed[p].map((x) => x.p99.toFixed(1)).join(', ')}], max ms [${killed[p].map((x) => x.max.toFixed(1)).join(', ')}]`);
  if (!opt['no-crash']) {
    for (const v of CA_VARIANTS_UNIQUE) {
      const c = crash[v];
      out.push(`- crash, NODE_EXTRA_CA_CERTS ${v}: node -e [${c.nodeE.map((x) => x.toFixed(1)).join(', ')}]; bare server [${c.bare.map((x) => x.toFixed(1)).join(', ')}]; ${CRASH_PEERS.map((p) => `${p} [${c[p].map((x) => x.toFixed(1)).join(', ')}]`).join('; ')}`);
    }
  }
  out.push('', '</details>', '');
  out.push(
    `Left behind after the run: ${leakedStats.length ? leakedStats.map((s) => `${s.pid} (${s.comm})`).join(', ') + ' — killed' : 'no process'}; ports ${Object.values(PORTS).join(', ')}: ${portsAfter}.`,
    '',
  );
  return out.join('\n');
}

await runMain(main);
