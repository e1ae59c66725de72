// Launchers for the three process managers under test, with the same shape for the benchmarks:
// drover (`drover up -c FILE`), supervisord 4.2 (`supervisord -n -c FILE`) and PM2 (programmatic API, private
// PM2_HOME). Each returns the daemon's pid and a `stop()` that ends it and waits, bounded by a timeout.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import {
  BENCH_DIR,
  DROVER_BIN,
  SUPERVISORD,
  delay,
  now,
  onCleanup,
  onLines,
  pidAlive,
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
  let killed = false;
  const kill = async (timeoutMs = 60_000) => {
    if (killed) return { graceful: true, ms: 0 };
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
    return { graceful, ms: now() - t0 };
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
