// Launchers for the three process managers under test, with the same shape for the benchmarks:
// drover (`drover up -c FILE`), supervisord 4.2 (`supervisord -n -c FILE`) and PM2 (programmatic API, private
// PM2_HOME). Each returns the daemon's pid and a `stop()` that ends it and waits, bounded by a timeout.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import {
  BENCH_DIR,
  DROVER_BIN,
  PM2_CLI,
  SUPERVISORCTL,
  SUPERVISORD,
  countSupervisorStates,
  delay,
  findByMarker,
  killGroups,
  now,
  onCleanup,
  onLines,
  pidAlive,
  readStat,
  startDaemon,
  waitFor,
  xmlRpc,
} from './lib.mjs';

// --- drover ---

/**
 * Starts `drover up -c FILE` in the foreground and follows its log: `onLine` sees every stdout line.
 * Returns { pid, stop, startedAt } where startedAt is the monotonic time just before the spawn.
 */
export function startDrover(confFile, { onLine = () => undefined, env = process.env } = {}) {
  const startedAt = now();
  const d = startDaemon(process.execPath, [DROVER_BIN, 'up', '-c', confFile], { env });
  onLines(d.child.stdout, onLine);
  let stderr = '';
  d.child.stderr.setEncoding('utf8');
  d.child.stderr.on('data', (s) => (stderr += s));
  return { ...d, startedAt, stderr: () => stderr };
}

// --- supervisord ---

/** The [supervisord], [unix_http_server], [rpcinterface] and [supervisorctl] sections for a private run. */
export function supervisordHeader(dir, { minfds = 1024, minprocs = 200 } = {}) {
  return `[unix_http_server]
file=${join(dir, 'supervisor.sock')}

[supervisord]
nodaemon=true
logfile=${join(dir, 'supervisord.log')}
pidfile=${join(dir, 'supervisord.pid')}
childlogdir=${dir}
minfds=${minfds}
minprocs=${minprocs}

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://${join(dir, 'supervisor.sock')}
`;
}

/** Starts `supervisord -n -c FILE` and waits until its XML-RPC socket answers. */
export async function startSupervisord(confFile, dir, { env = process.env, timeoutMs = 20_000 } = {}) {
  const startedAt = now();
  const d = startDaemon(SUPERVISORD, ['-n', '-c', confFile], { env });
  let output = '';
  d.child.stdout.setEncoding('utf8');
  d.child.stderr.setEncoding('utf8');
  d.child.stdout.on('data', (s) => (output += s));
  d.child.stderr.on('data', (s) => (output += s));
  const socket = join(dir, 'supervisor.sock');
  const rpc = (method) => xmlRpc(socket, method);
  return { ...d, startedAt, socket, rpc, output: () => output, timeoutMs };
}

// --- PM2 ---

const requireHere = createRequire(join(BENCH_DIR, 'package.json'));

/** The PM2 API class (lib/API.js); requiring it sets PM2_PROGRAMMATIC so it prints nothing. */
function pm2Api() {
  if (!existsSync(join(BENCH_DIR, 'node_modules', 'pm2'))) {
    throw new Error('PM2 is not installed: run `cd bench && npm i` first');
  }
  return requireHere('pm2').custom;
}

/**
 * A PM2 client with a private PM2_HOME. `connect()` launches the God daemon; `godPid()` reads it from the
 * home's pm2.pid; `kill()` runs killDaemon (stops every app, then the daemon) and SIGKILLs the daemon if
 * that does not finish in time. Registered for cleanup.
 */
export function createPm2(home) {
  const API = pm2Api();
  const pm2 = new API({ pm2_home: home, daemon_mode: true });
  const call = (method, ...args) =>
    new Promise((resolve, reject) => pm2[method](...args, (err, res) => (err ? reject(err) : resolve(res))));
  const godPid = () => {
    try {
      return Number(readFileSync(join(home, 'pm2.pid'), 'utf8').trim()) || null;
    } catch {
      return null; // not written yet
    }
  };
  // Every process PM2 starts for this home has PM2_HOME=<home> in its environment (the God daemon included);
  // a connect() still under way when kill() runs can launch a daemon after pm2.pid was read, or a second one.
  const sweepHome = () => killGroups(findByMarker(`PM2_HOME=${home}`).map(readStat).filter((st) => st !== null));
  let killed = false;
  const kill = async (timeoutMs = 60_000) => {
    if (killed) {
      sweepHome(); // a daemon launched late by a connect() that was still pending at the first kill
      return { graceful: true, ms: 0 };
    }
    killed = true;
    const pid = godPid();
    const t0 = now();
    let graceful = true;
    try {
      await Promise.race([
        call('killDaemon'),
        delay(timeoutMs).then(() => {
          throw new Error('killDaemon timed out');
        }),
      ]);
    } catch {
      graceful = false;
    }
    try {
      pm2.disconnect();
    } catch {
      // already disconnected
    }
    if (pid !== null) {
      try {
        await waitFor(() => !pidAlive(pid), { timeoutMs: 10_000, what: 'the PM2 daemon to exit' });
      } catch {
        graceful = false;
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // ESRCH
        }
      }
    }
    const ms = now() - t0;
    if (sweepHome() > 0) graceful = false;
    return { graceful, ms };
  };
  onCleanup(() => kill(20_000));
  return {
    pm2,
    connect: () => call('connect'),
    start: (apps) => call('start', apps),
    list: () => call('list'),
    godPid,
    kill,
  };
}

/** Writes a file and returns its path. */
export function writeFile(dir, name, text) {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

// --- N trivial programs under each tool (start-many.mjs, scale.mjs) ---

export const SLEEP = '/usr/bin/sleep';
export const SLEEP_TOOLS = ['drover', 'supervisord', 'pm2'];

/**
 * `[program:s]` with N `sleep 100000` processes (startsecs=0, autorestart, stop and kill as a group), each
 * carrying DROVER_BENCH_MARKER=<markerValue>: the same text for drover and supervisord. `logs: false`
 * sets stdout_logfile and stderr_logfile to NONE (the output pipes are still read; no file is opened).
 */
export function sleepProgramSection(n, markerValue, { logs = true } = {}) {
  return `[program:s]
command=${SLEEP} 100000
numprocs=${n}
process_name=%(program_name)s_%(process_num)04d
startsecs=0
autorestart=true
stopasgroup=true
killasgroup=true
environment=DROVER_BENCH_MARKER="${markerValue}"
${logs ? '' : 'stdout_logfile=NONE\nstderr_logfile=NONE\n'}`;
}

/**
 * The same N programs as PM2 apps (fork mode, no interpreter: PM2 spawns `sleep` itself). `logs: false`
 * sends both streams to /dev/null, which PM2 takes as "open no log file" (lib/Utility.js startLogging).
 */
export function pm2SleepApps(n, markerValue, { logs = true } = {}) {
  return Array.from({ length: n }, (_, i) => ({
    name: `s_${String(i).padStart(4, '0')}`,
    script: SLEEP,
    args: ['100000'],
    interpreter: 'none',
    exec_mode: 'fork',
    autorestart: true,
    env: { DROVER_BENCH_MARKER: markerValue },
    ...(logs ? {} : { out_file: '/dev/null', error_file: '/dev/null' }),
  }));
}

/**
 * Starts `tool` from nothing with N sleep programs in `dir` and waits, at most `capMs`, until the tool itself
 * reports all N running: drover — its `: starting → running` log lines (free to watch); supervisord —
 * supervisor.getAllProcessInfo over its socket; PM2 — list() through its API, status `online`; the last two
 * polled every `pollMs` (each poll costs their daemon work). The clock starts just before the tool's
 * process is spawned (PM2: before connect() launches its daemon).
 *
 * Resolves to a handle { tool, pid, startMs, running, status, stop, abort }: startMs is Infinity when the cap
 * was reached (then `running` says how many were); `status` is the tool's status command as
 * { file, args, env, count(stdout) → programs shown running }; `stop(capMs)` ends the tool the way its
 * users would (SIGTERM; PM2: killDaemon) and resolves to { ms, graceful }, graceful false when it was
 * killed after `capMs`; `abort()` ends it at once. On any error the tool is aborted before the error is thrown.
 */
export async function upWithSleeps(tool, dir, n, markerValue, { capMs, pollMs = 200, env = process.env, minfds = 1024, logs = true } = {}) {
  const launch = { drover: upDrover, supervisord: upSupervisord, pm2: upPm2 }[tool];
  if (!launch) throw new Error(`unknown tool ${tool}`);
  return launch(dir, n, markerValue, { capMs, pollMs, env: { ...env, DROVER_BENCH_MARKER: markerValue }, minfds, logs });
}

async function upDrover(dir, n, markerValue, { capMs, env, logs }) {
  const conf = writeFile(dir, 'drover.conf', sleepProgramSection(n, markerValue, { logs }));
  let running = 0;
  let allAt = Infinity;
  let reached = () => undefined;
  const all = new Promise((resolve) => (reached = resolve));
  const d = startDrover(conf, {
    env,
    onLine: (line) => {
      if (!line.includes(': starting → running')) return;
      running += 1;
      if (running === n) {
        allAt = now();
        reached();
      }
    },
  });
  const abort = () => d.stop('SIGKILL', 10_000);
  const timer = delay(capMs).then(() => 'cap');
  const first = await Promise.race([all.then(() => 'all'), d.exited.then(() => 'exited'), timer]);
  if (first === 'exited') {
    await abort();
    throw new Error(`drover exited with ${running}/${n} running; stderr: ${d.stderr().slice(-2000)}`);
  }
  return {
    tool: 'drover',
    pid: d.pid,
    startMs: allAt - d.startedAt,
    running,
    status: {
      file: process.execPath,
      args: [DROVER_BIN, 'status', '--json', '-c', conf],
      env,
      count: (stdout) => JSON.parse(stdout).processes.filter((p) => p.state === 'running').length,
    },
    stop: (stopCapMs) => d.stop('SIGTERM', stopCapMs),
    abort,
  };
}

async function upSupervisord(dir, n, markerValue, { capMs, pollMs, env, minfds, logs }) {
  const header = supervisordHeader(dir, { minfds, minprocs: n + 100 });
  const conf = writeFile(dir, 'supervisord.conf', `${header}\n${sleepProgramSection(n, markerValue, { logs })}`);
  const s = await startSupervisord(conf, dir, { env });
  const abort = () => s.stop('SIGKILL', 10_000);
  let last = {};
  let allAt = Infinity;
  try {
    allAt = await waitFor(
      async () => {
        if (s.child.exitCode !== null || s.child.signalCode !== null) throw new Error(`supervisord exited: ${s.output().slice(-2000)}`);
        try {
          last = countSupervisorStates(await s.rpc('supervisor.getAllProcessInfo'));
        } catch {
          return null; // socket not up yet, or the call timed out: poll again
        }
        return last.RUNNING === n ? now() : null;
      },
      { timeoutMs: capMs, intervalMs: pollMs, what: 'supervisord' },
    );
  } catch (err) {
    if (!/^timed out/.test(err.message)) {
      await abort();
      throw err;
    }
  }
  return {
    tool: 'supervisord',
    pid: s.pid,
    startMs: allAt - s.startedAt,
    running: last.RUNNING ?? 0,
    status: {
      file: SUPERVISORCTL,
      args: ['-c', conf, 'status'],
      env,
      count: (stdout) => stdout.split('\n').filter((l) => /\sRUNNING\s/.test(l)).length,
    },
    stop: (stopCapMs) => s.stop('SIGTERM', stopCapMs),
    abort,
  };
}

async function upPm2(dir, n, markerValue, { capMs, pollMs, env, logs }) {
  const home = join(dir, 'pm2-home');
  const p = createPm2(home);
  const abort = () => p.kill(10_000);
  const t0 = now();
  const deadline = t0 + capMs;
  let online = 0;
  let allAt = Infinity;
  try {
    const left = () => Math.max(0, deadline - now());
    const capped = (promise) => Promise.race([promise, delay(left()).then(() => 'cap')]);
    // the God daemon inherits this process's environment, as drover and supervisord get `env`
    const connected = (await capped(p.connect())) !== 'cap';
    // a PM2_HOME without `touch` makes the first CLI call print PM2's banner and run its online version
    // check (lib/Client.js); a user's home has had it since their first pm2 command
    if (connected) writeFileSync(join(home, 'touch'), String(Date.now()));
    if (connected && (await capped(p.start(pm2SleepApps(n, markerValue, { logs })))) !== 'cap') {
      allAt = await waitFor(
        async () => {
          const list = await capped(p.list());
          if (list === 'cap') return null;
          online = list.filter((x) => x.pm2_env?.status === 'online').length;
          return online === n ? now() : null;
        },
        { timeoutMs: left(), intervalMs: pollMs, what: 'PM2' },
      ).catch((err) => {
        if (/^timed out/.test(err.message)) return Infinity;
        throw err;
      });
    }
  } catch (err) {
    await abort();
    throw err;
  }
  return {
    tool: 'pm2',
    pid: p.godPid(),
    startMs: allAt - t0,
    running: online,
    status: {
      file: process.execPath,
      args: [PM2_CLI, 'jlist'],
      env: { ...env, PM2_HOME: home },
      count: (stdout) => JSON.parse(stdout).filter((x) => x.pm2_env?.status === 'online').length,
    },
    stop: (stopCapMs) => p.kill(stopCapMs),
    abort,
  };
}
