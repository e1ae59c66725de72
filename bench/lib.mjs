// Shared helpers for drover's benchmarks: timing, statistics, interleaving, /proc reading, cleanup.
// Plain Node (no dependencies), so every benchmark measures the tools the same way.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import http from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const ROOT_DIR = dirname(BENCH_DIR);
export const DROVER_BIN = join(ROOT_DIR, 'bin', 'drover.js');
export const SUPERVISORD = '/usr/bin/supervisord';
export const SUPERVISORCTL = '/usr/bin/supervisorctl';
export const PM2_BIN = join(BENCH_DIR, 'node_modules', '.bin', 'pm2');
/** PM2's CLI script, to run with this Node (the .bin link's shebang would pick whichever `node` is on PATH) */
export const PM2_CLI = join(BENCH_DIR, 'node_modules', 'pm2', 'bin', 'pm2');
export { delay };

// --- time and statistics ---

/** Milliseconds from a monotonic clock. */
export function now() {
  return performance.now();
}

export function median(xs) {
  return quantile(xs, 0.5);
}

export function p90(xs) {
  return quantile(xs, 0.9);
}

/** Quantile with linear interpolation between closest ranks (numpy's default). */
export function quantile(xs, q) {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

/** A duration in ms for a table: "1 093 ms" style without the thin space; seconds above 10 s. */
export function fmtMs(ms) {
  if (!Number.isFinite(ms)) return 'n/a';
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 100) return `${Math.round(ms)} ms`;
  return `${ms.toFixed(1)} ms`;
}

export function fmtMiB(kib) {
  if (!Number.isFinite(kib)) return 'n/a';
  return `${(kib / 1024).toFixed(1)} MiB`;
}

export function fmtRatio(a, b) {
  if (!Number.isFinite(a) || !Number.isFinite(b) || b === 0) return 'n/a';
  return `${(a / b).toFixed(3)}`;
}

/**
 * Median where a sample that ran over its time cap is `Infinity` (NaN = not measured, left out): Infinity when
 * at least half the samples were over the cap, so "> cap" is reported rather than the median of the rest.
 */
export function medianOverCap(xs) {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const pos = (s.length - 1) * 0.5;
  const lo = s[Math.floor(pos)];
  const hi = s[Math.ceil(pos)];
  if (!Number.isFinite(hi)) return Infinity;
  return lo + (hi - lo) * (pos - Math.floor(pos));
}

/** Like fmtMs, but "> cap" for a sample or median over its cap (Infinity). */
export function fmtMsCapped(ms) {
  return ms === Infinity ? '> cap' : fmtMs(ms);
}

/**
 * a / b when either may be over its cap (Infinity): with b over the cap, a / b < a / capB ("< 0.123");
 * with a over it, > capA / b; both over or either unmeasured: n/a.
 */
export function fmtRatioCapped(a, b, capA, capB) {
  if (a === Infinity && b === Infinity) return 'n/a (both > cap)';
  if (b === Infinity) return Number.isFinite(a) ? `< ${(a / capB).toFixed(3)}` : 'n/a';
  if (a === Infinity) return Number.isFinite(b) && b > 0 ? `> ${(capA / b).toFixed(3)}` : 'n/a';
  return fmtRatio(a, b);
}

/** Round r's order of the tools: rotate by r, so each tool runs first, second and third equally often. */
export function rotate(items, round) {
  const k = round % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

/** Polls `fn` until it returns a truthy value or `timeoutMs` passes; returns the value or throws. */
export async function waitFor(fn, { timeoutMs, intervalMs = 20, what = 'condition' }) {
  const deadline = now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(intervalMs);
  }
}

// --- /proc ---

/** Every numeric entry of /proc. */
export function listPids() {
  const out = [];
  for (const name of readdirSync('/proc')) {
    const c = name.charCodeAt(0);
    if (c >= 48 && c <= 57) out.push(Number(name));
  }
  return out;
}

/** argv of a process ('' joined by NUL), or null if gone or unreadable. */
export function readCmdline(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1');
  } catch {
    return null; // gone between listing and reading
  }
}

export function readEnviron(pid) {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'latin1');
  } catch {
    return null; // gone, or another user's process
  }
}

/** Fields of /proc/PID/stat we need; null if gone. */
export function readStat(pid) {
  let text;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  const close = text.lastIndexOf(')');
  const comm = text.slice(text.indexOf('(') + 1, close);
  const f = text.slice(close + 2).split(' ');
  return { pid, comm, state: f[0], ppid: Number(f[1]), pgrp: Number(f[2]), session: Number(f[3]) };
}

/** VmRSS of a process in KiB (its own pages only, children not included), or NaN if gone. */
export function readRssKiB(pid) {
  return readStatusKiB(pid, 'VmRSS');
}

/** A `kB` field of /proc/PID/status (VmRSS, VmHWM = peak RSS, …) in KiB, or NaN if gone. */
export function readStatusKiB(pid, field) {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

const TICK_MS = 1000 / 100; // USER_HZ is 100 on Linux, whatever CONFIG_HZ is

/** CPU time (user + system) of one process in ms, children not included; NaN if gone. */
export function cpuMs(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * TICK_MS;
  } catch {
    return NaN; // gone
  }
}

/**
 * CPU use of one process over `seconds` of wall time, in percent of one core. The resolution is one tick
 * (10 ms), so a 10 s window resolves 0.1 %.
 */
export async function cpuPercentOver(pid, seconds) {
  const t0 = now();
  const c0 = cpuMs(pid);
  await delay(seconds * 1000);
  return ((cpuMs(pid) - c0) * 100) / (now() - t0);
}

/** Number of open file descriptors of a process, or NaN if gone or unreadable. */
export function countFds(pid) {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return NaN;
  }
}

/** Direct children of a process (every thread's `children` list), or [] if gone. */
export function childrenOf(pid) {
  const out = [];
  let tasks;
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out; // gone
  }
  for (const tid of tasks) {
    try {
      for (const c of readFileSync(`/proc/${pid}/task/${tid}/children`, 'latin1').split(' ')) if (c) out.push(Number(c));
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

/** This process's soft and hard limit on open files (/proc/self/limits; Node has no getrlimit). */
export function readNofileLimit() {
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'latin1'));
  const num = (x) => (x === 'unlimited' ? Infinity : Number(x));
  return m ? { soft: num(m[1]), hard: num(m[2]) } : { soft: NaN, hard: NaN };
}

/**
 * Raises this process's open-file limit to at least `n` (soft and hard) with util-linux `prlimit`, so every
 * tool started afterwards inherits it; raising the hard limit needs root (CAP_SYS_RESOURCE). Returns the
 * limit now in force.
 */
export function raiseNofileLimit(n) {
  const cur = readNofileLimit();
  if (cur.soft >= n) return cur;
  const hard = Math.max(cur.hard, n);
  execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${n}:${hard}`], { stdio: 'pipe' });
  return readNofileLimit();
}

/** Pids the kernel can still hand out: pid_max less the tasks (threads count) that exist now. */
export function freePids() {
  const pidMax = Number(readFirstLine('/proc/sys/kernel/pid_max'));
  const tasks = Number(readFirstLine('/proc/loadavg').split(' ')[3]?.split('/')[1]);
  return { pidMax, tasks, free: pidMax - tasks };
}

/** MemAvailable in KiB. */
export function memAvailableKiB() {
  const m = /^MemAvailable:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'latin1'));
  return m ? Number(m[1]) : NaN;
}

/**
 * Live (non-zombie) pids whose initial environment holds the entry `marker` (`KEY=VALUE`), optionally only
 * among pids not in `exclude`. The environment, not the command line: PM2's ProcessContainerFork sets
 * process.title, which overwrites the argv that /proc/PID/cmdline shows, while /proc/PID/environ keeps
 * what execve received. A forked child shows its parent's environment until it execs, so a pid is found
 * once the program itself runs (for drover: once setpriv, which then execs the program in the same pid).
 */
export function findByMarker(marker, exclude = null) {
  const out = [];
  for (const pid of listPids()) {
    if (exclude && exclude.has(pid)) continue;
    const env = readEnviron(pid);
    if (env === null || !env.split('\0').includes(marker)) continue;
    const st = readStat(pid);
    if (st && st.state !== 'Z') out.push(pid);
  }
  return out;
}

/**
 * Kills (SIGKILL, by process group) every live process whose environment holds the entry `marker`
 * (`KEY=VALUE`); returns their `comm`s, one per process. Only for after a tool has stopped: the tool's
 * daemon may carry the marker too.
 */
export function sweepMarker(marker) {
  const stats = findByMarker(marker).map(readStat).filter((st) => st !== null);
  killGroups(stats);
  return stats.map((st) => st.comm);
}

/** Live processes named `comm` whose environment holds `KEY=VALUE` (how the benchmarks tag their children). */
export function findByCommAndEnv(comm, envEntry) {
  const out = [];
  for (const pid of listPids()) {
    const st = readStat(pid);
    if (!st || st.comm !== comm || st.state === 'Z') continue;
    const env = readEnviron(pid);
    if (env !== null && env.split('\0').includes(envEntry)) out.push(st);
  }
  return out;
}

/**
 * Sends SIGKILL to each process's group and to the process; returns how many there were. Never signals the
 * benchmark's own group (a tool that left a child in it must not take the benchmark and its cleanup down).
 */
export function killGroups(stats) {
  const ownGroup = readStat(process.pid)?.pgrp;
  for (const st of stats) {
    for (const target of st.pgrp === ownGroup ? [st.pid] : [-st.pgrp, st.pid]) {
      try {
        process.kill(target, 'SIGKILL');
      } catch {
        // ESRCH: already gone
      }
    }
  }
  return stats.length;
}

export function pidAlive(pid) {
  const st = readStat(pid);
  return st !== null && st.state !== 'Z';
}

// --- HTTP ---

/** One GET with a short timeout; resolves to the body or null on any error. */
export function httpGet(port, path = '/', timeoutMs = 200) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(res.statusCode === 200 ? body : null));
      res.on('error', () => resolve(null));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(null));
  });
}

/** Calls a supervisor XML-RPC method over its unix socket; resolves to the response body. */
export function xmlRpc(socketPath, method, timeoutMs = 5000) {
  const body = `<?xml version="1.0"?><methodCall><methodName>${method}</methodName><params></params></methodCall>`;
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        socketPath,
        path: '/RPC2',
        method: 'POST',
        headers: { 'Content-Type': 'text/xml', 'Content-Length': Buffer.byteLength(body) },
        timeout: timeoutMs,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve(text));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`XML-RPC ${method} timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Counts processes per state name in a supervisor.getAllProcessInfo response. */
export function countSupervisorStates(xml) {
  const counts = {};
  const re = /<name>statename<\/name>\s*<value><string>([A-Z]+)<\/string><\/value>/g;
  for (let m = re.exec(xml); m !== null; m = re.exec(xml)) counts[m[1]] = (counts[m[1]] ?? 0) + 1;
  return counts;
}

// --- processes we start, and cleanup ---

const cleanups = [];

/** Registers an async cleanup run by `runCleanups` (newest first), also on SIGINT/SIGTERM and uncaught errors. */
export function onCleanup(fn) {
  cleanups.push(fn);
  return () => {
    const i = cleanups.indexOf(fn);
    if (i >= 0) cleanups.splice(i, 1);
  };
}

export async function runCleanups() {
  while (cleanups.length > 0) {
    const fn = cleanups.pop();
    try {
      await fn();
    } catch (err) {
      console.error(`cleanup failed: ${err?.message ?? err}`);
    }
  }
}

let exiting = false;
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    if (exiting) return;
    exiting = true;
    console.error(`\n${sig}: cleaning up`);
    void runCleanups().finally(() => process.exit(130));
  });
}
// an error thrown outside runMain's await chain (a callback, a promise nobody awaits) must not leave the
// tools running either. Only the first is reported, synchronously and ignoring failure: with stderr a closed
// pipe, console.error would raise EPIPE as a new uncaught error, and so on forever.
for (const ev of ['uncaughtException', 'unhandledRejection']) {
  process.on(ev, (err) => {
    if (exiting) return;
    exiting = true;
    try {
      writeSync(2, `${ev}: ${err?.stack ?? err}\n`);
    } catch {
      // stderr is gone (EPIPE): nothing left to tell
    }
    void runCleanups().finally(() => process.exit(1));
  });
}

/**
 * Runs `main`, always cleans up, then exits: the PM2 client keeps Node's event loop alive even after
 * disconnect(), so the benchmarks end the process themselves.
 */
export async function runMain(main) {
  let code = 0;
  try {
    await main();
  } catch (err) {
    console.error(err?.stack ?? String(err));
    code = 1;
  } finally {
    await runCleanups();
  }
  process.exit(code);
}

/** A private temp directory removed at cleanup. */
export function tempDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Spawns a daemon in its own process group; returns the child plus `stop(signal, timeoutMs)` that signals it,
 * waits for its exit and SIGKILLs its group when it does not exit in time. Registered for cleanup.
 */
export function startDaemon(file, args, opts = {}) {
  const child = spawn(file, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let done = false;
  child.once('exit', () => (done = true));
  const stop = async (signal = 'SIGTERM', timeoutMs = 60_000) => {
    if (done) return { graceful: true, ms: 0 };
    const t0 = now();
    try {
      process.kill(child.pid, signal);
    } catch {
      // ESRCH: it is already gone
    }
    const timer = delay(timeoutMs).then(() => 'timeout');
    const r = await Promise.race([exited, timer]);
    if (r === 'timeout') {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // ESRCH
      }
      await Promise.race([exited, delay(5000)]);
      return { graceful: false, ms: now() - t0 };
    }
    return { graceful: true, ms: now() - t0 };
  };
  onCleanup(() => stop('SIGTERM', 20_000));
  return { child, pid: child.pid, exited, stop };
}

/**
 * Runs a command to completion with a timeout; resolves to { code, stdout, stderr }. On timeout the command is
 * SIGKILLed and the promise rejects, or with `resolveOnTimeout` resolves to { code: null, timedOut: true, … }.
 */
export function runCommand(file, args, { timeoutMs = 60_000, env = process.env, cwd, resolveOnTimeout = false } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (signal !== 'SIGKILL') resolve({ code, stdout, stderr, timedOut: false });
      else if (resolveOnTimeout) resolve({ code: null, stdout, stderr, timedOut: true });
      else reject(new Error(`${file} ${args.join(' ')} timed out after ${timeoutMs} ms`));
    });
  });
}

/**
 * Wall time of one command, launch to exit: { ms, code, stdout, stderr }, ms = Infinity when it ran over
 * `timeoutMs` (it is SIGKILLed then).
 */
export async function timeCommand(file, args, { timeoutMs = 60_000, env = process.env } = {}) {
  const t0 = now();
  const r = await runCommand(file, args, { timeoutMs, env, resolveOnTimeout: true });
  return { ...r, ms: r.timedOut ? Infinity : now() - t0 };
}

/**
 * The machine is shared: waits while a test suite runs (`pgrep -f run-tests.mjs`), polling every 30 s, up to
 * 10 minutes. Resolves to the ms waited.
 */
export async function waitQuiet(log = (s) => process.stderr.write(`${s}\n`)) {
  const t0 = now();
  for (;;) {
    const r = await runCommand('pgrep', ['-f', 'run-tests.mjs'], { timeoutMs: 10_000 });
    if (r.code !== 0) return now() - t0;
    if (now() - t0 > 600_000) throw new Error('a test suite has been running for 10 minutes; giving up');
    log(`  a test suite is running (pid ${r.stdout.trim().split('\n').join(', ')}); waiting 30 s`);
    await delay(30_000);
  }
}

/** Reads a stream line by line. */
export function onLines(stream, fn) {
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      fn(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
}

// --- reporting ---

/**
 * The markdown header every benchmark prints: what ran where. `caCerts`: the NODE_EXTRA_CA_CERTS the benchmark
 * was started with, when it removed the variable from its own environment (so from every process it starts).
 */
export function environmentReport(title, command, { caCerts } = {}) {
  const pm2Version = readJsonVersion(join(BENCH_DIR, 'node_modules', 'pm2', 'package.json'));
  let supervisordVersion = 'unknown';
  try {
    const init = readFileSync('/usr/lib/python3/dist-packages/supervisor/version.txt', 'utf8').trim();
    supervisordVersion = init;
  } catch {
    // not a Debian layout; left as unknown
  }
  const lines = [
    `# ${title}`,
    '',
    `- date: ${new Date().toISOString()}`,
    `- command: \`${command}\``,
    `- machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), Linux ${readFirstLine('/proc/sys/kernel/osrelease')}`,
    `- node ${process.version}; ${caLine(caCerts)}`,
    `- drover ${readJsonVersion(join(ROOT_DIR, 'package.json'))} (${ROOT_DIR}, HEAD ${gitHead()}, dist/ built ${distBuiltAt()} from the working tree), supervisord ${supervisordVersion}, PM2 ${pm2Version}`,
    `- load average at start: ${readFirstLine('/proc/loadavg')}`,
    '',
  ];
  return lines.join('\n');
}

function caLine(caCerts) {
  const set = process.env.NODE_EXTRA_CA_CERTS;
  if (caCerts !== undefined) {
    return `NODE_EXTRA_CA_CERTS was set (${caCerts}) and is **unset** for every process this benchmark starts, every Node process alike (it roughly doubles Node's start-up)`;
  }
  return `NODE_EXTRA_CA_CERTS ${set ? `set (${set}): Node start-up is roughly doubled for every node process, drover, PM2 and the fixtures alike` : 'not set'}`;
}

function readJsonVersion(file) {
  try {
    return JSON.parse(readFileSync(file, 'utf8')).version;
  } catch {
    return 'not installed';
  }
}

function distBuiltAt() {
  try {
    return statSync(join(ROOT_DIR, 'dist', 'src', 'cli', 'main.js')).mtime.toISOString();
  } catch {
    return 'never (run npm run build)';
  }
}

function readFirstLine(file) {
  try {
    return readFileSync(file, 'utf8').split('\n')[0];
  } catch {
    return '?';
  }
}

function gitHead() {
  // git itself, not .git/HEAD: in a worktree .git is a file, and refs may be packed
  try {
    const head = execFileSync('git', ['-C', ROOT_DIR, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: 'pipe' }).trim();
    const dirty = execFileSync('git', ['-C', ROOT_DIR, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8', stdio: 'pipe' }).trim();
    return dirty ? `${head}, with uncommitted changes` : head;
  } catch {
    return '?'; // not a git checkout, or no git
  }
}

/** A markdown table from a header row and rows. */
export function table(header, rows) {
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}
