// Restart latency after `kill -9`: drover vs supervisord 4.2 vs PM2 (issue 2).
//
// Each tool supervises the same tiny HTTP server (fixtures/http-server.mjs) on its own fixed loopback port.
// A round SIGKILLs each tool's server in turn (order rotates every round) and measures, from the kill:
//   (a) pid:  until a new process carrying the server's unique marker (an environment entry
//             DROVER_BENCH_MARKER=..., also passed as an argument) exists in /proc;
//   (b) http: until that new process answers GET / on the port (its body is its pid).
// The pid is found by scanning /proc for the marker, never through a tool's API, so all three are measured
// the same way. Before each kill the benchmark waits until the tool counts the server as running (past
// startsecs), so no kill lands in a start-up window that would trigger a backoff.
//
// usage: node restart-latency.mjs [--rounds N]        (default 10; use 1-2 while developing)
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  BENCH_DIR,
  countSupervisorStates,
  delay,
  environmentReport,
  findByMarker,
  fmtMs,
  fmtRatio,
  httpGet,
  killGroups,
  listPids,
  median,
  now,
  onCleanup,
  p90,
  readStat,
  rotate,
  runMain,
  table,
  tempDir,
  waitFor,
} from './lib.mjs';
import { createPm2, startDrover, startSupervisord, supervisordHeader, writeFile } from './tools.mjs';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '10' } } });
const ROUNDS = Number(values.rounds);
const FIXTURE = join(BENCH_DIR, 'fixtures', 'http-server.mjs');
const RUN_ID = `${process.pid}-${Date.now().toString(36)}`;
const PORTS = { drover: 18401, supervisord: 18402, pm2: 18403 };
/** how long to wait for one restart before calling it failed */
const RESTART_TIMEOUT_MS = 15_000;
/** pause after each measurement, so the next tool starts from an idle machine */
const GAP_MS = 500;

/** The `KEY=VALUE` environment entry that identifies a tool's server in /proc (see findByMarker). */
function marker(tool) {
  return `DROVER_BENCH_MARKER=restart-${tool}-${RUN_ID}`;
}

function programSection(tool) {
  return `[program:a]
command=${process.execPath} ${FIXTURE} ${PORTS[tool]} ${marker(tool)}
environment=${marker(tool).replace('=', '="')}"
autorestart=true
startsecs=1
stopasgroup=true
killasgroup=true
`;
}

/** Sweeps any fixture left behind by a tool (by marker) so a failed run never leaks a server. */
function sweep(tool) {
  const pids = findByMarker(marker(tool));
  return killGroups(pids.map((pid) => readStat(pid)).filter((s) => s !== null));
}

async function setupDrover(dir) {
  const conf = writeFile(dir, 'drover.conf', programSection('drover'));
  // follow the log: the current pid of `a` and whether it has reached running
  const state = { pid: 0, running: false };
  const d = startDrover(conf, {
    onLine: (line) => {
      const spawned = /INFO spawned: a with pid (\d+)/.exec(line);
      if (spawned) {
        state.pid = Number(spawned[1]);
        state.running = false;
      } else if (/INFO a: starting → running/.test(line)) {
        state.running = true;
      }
    },
  });
  onCleanup(() => sweep('drover'));
  return {
    name: 'drover',
    isRunning: async (pid) => state.pid === pid && state.running,
    stop: () => d.stop('SIGTERM', 20_000),
    describe: () => `drover pid ${d.pid}`,
  };
}

async function setupSupervisord(dir) {
  const conf = writeFile(dir, 'supervisord.conf', supervisordHeader(dir) + '\n' + programSection('supervisord'));
  const s = await startSupervisord(conf, dir);
  onCleanup(() => sweep('supervisord'));
  return {
    name: 'supervisord',
    isRunning: async () => {
      try {
        return countSupervisorStates(await s.rpc('supervisor.getAllProcessInfo')).RUNNING === 1;
      } catch {
        return false; // socket not up yet
      }
    },
    stop: () => s.stop('SIGTERM', 20_000),
    describe: () => `supervisord pid ${s.pid}`,
  };
}

async function setupPm2(dir) {
  const p = createPm2(join(dir, 'pm2-home'));
  await p.connect();
  await p.start({
    name: 'a',
    script: FIXTURE,
    args: [String(PORTS.pm2), marker('pm2')],
    env: { DROVER_BENCH_MARKER: marker('pm2').split('=')[1] },
    exec_mode: 'fork',
    autorestart: true,
    cwd: BENCH_DIR,
  });
  onCleanup(() => sweep('pm2'));
  return {
    name: 'pm2',
    // PM2 has no "starting": a process is online at once. min_uptime (1 s) decides whether an exit counts as
    // unstable, so wait that long after each restart as for the others' startsecs.
    isRunning: async (pid) => {
      const list = await p.list();
      const app = list.find((x) => x.name === 'a');
      return app?.pm2_env?.status === 'online' && app.pid === pid && Date.now() - app.pm2_env.pm_uptime >= 1100;
    },
    stop: () => p.kill(30_000),
    describe: () => `PM2 God daemon pid ${p.godPid()}`,
  };
}

/** One kill -9 and the two latencies, in ms. */
async function measureOnce(tool) {
  const m = marker(tool.name);
  const current = await waitFor(
    async () => {
      const pids = findByMarker(m);
      return pids.length === 1 && (await tool.isRunning(pids[0])) ? pids[0] : null;
    },
    { timeoutMs: 20_000, intervalMs: 50, what: `${tool.name}'s server to be running` },
  );
  const before = new Set(listPids());
  const t0 = now();
  process.kill(current, 'SIGKILL');
  let newPid = null;
  let pidMs = NaN;
  for (;;) {
    if (now() - t0 > RESTART_TIMEOUT_MS) throw new Error(`${tool.name}: no restart within ${RESTART_TIMEOUT_MS} ms`);
    if (newPid === null) {
      const found = findByMarker(m, before);
      if (found.length > 0) {
        newPid = found[0];
        pidMs = now() - t0;
      }
    }
    if (newPid !== null) {
      const body = await httpGet(PORTS[tool.name], '/', 500);
      if (body !== null && Number(body) === newPid) return { pidMs, httpMs: now() - t0 };
    }
    await delay(newPid === null ? 2 : 3);
  }
}

async function main() {
  const command = `cd bench && node restart-latency.mjs --rounds ${ROUNDS}`;
  const out = [environmentReport('Restart latency after kill -9', command)];
  const dir = tempDir('drover-bench-restart-');
  const tools = [];
  tools.push(await setupDrover(dir));
  tools.push(await setupSupervisord(dir));
  tools.push(await setupPm2(dir));
  onCleanup(async () => {
    for (const t of tools) await t.stop();
  });
  console.error(`tools up: ${tools.map((t) => t.describe()).join(', ')}`);

  const results = Object.fromEntries(tools.map((t) => [t.name, { pidMs: [], httpMs: [] }]));
  for (let round = 0; round < ROUNDS; round++) {
    const order = rotate(tools, round);
    const parts = [];
    for (const tool of order) {
      const r = await measureOnce(tool);
      results[tool.name].pidMs.push(r.pidMs);
      results[tool.name].httpMs.push(r.httpMs);
      parts.push(`${tool.name} pid ${fmtMs(r.pidMs)} http ${fmtMs(r.httpMs)}`);
      await delay(GAP_MS);
    }
    console.error(`round ${round + 1}/${ROUNDS}: ${parts.join('; ')}`);
  }

  const names = ['drover', 'supervisord', 'pm2'];
  const stat = (name, key, f) => f(results[name][key]);
  out.push(
    `${ROUNDS} rounds, tools in rotating order; each tool's server on its own loopback port (${names.map((n) => `${n} ${PORTS[n]}`).join(', ')}).`,
    '',
    table(
      ['tool', 'new pid: median', 'new pid: p90', 'answers HTTP: median', 'answers HTTP: p90'],
      names.map((n) => [
        n,
        fmtMs(stat(n, 'pidMs', median)),
        fmtMs(stat(n, 'pidMs', p90)),
        fmtMs(stat(n, 'httpMs', median)),
        fmtMs(stat(n, 'httpMs', p90)),
      ]),
    ),
    '',
    table(
      ['ratio of medians', 'new pid', 'answers HTTP'],
      [
        [
          'drover / supervisord',
          fmtRatio(stat('drover', 'pidMs', median), stat('supervisord', 'pidMs', median)),
          fmtRatio(stat('drover', 'httpMs', median), stat('supervisord', 'httpMs', median)),
        ],
        [
          'drover / pm2',
          fmtRatio(stat('drover', 'pidMs', median), stat('pm2', 'pidMs', median)),
          fmtRatio(stat('drover', 'httpMs', median), stat('pm2', 'httpMs', median)),
        ],
      ],
    ),
    '',
    `Targets (issue 2): drover ≤ 1/10 of supervisord (ratio ≤ 0.100) and below PM2 (ratio < 1). ` +
      `new pid: ${verdict(stat('drover', 'pidMs', median), stat('supervisord', 'pidMs', median), stat('pm2', 'pidMs', median))}; ` +
      `answers HTTP: ${verdict(stat('drover', 'httpMs', median), stat('supervisord', 'httpMs', median), stat('pm2', 'httpMs', median))}.`,
    '',
    '<details><summary>raw samples (ms)</summary>',
    '',
    ...names.map(
      (n) =>
        `- ${n}: pid [${results[n].pidMs.map((x) => x.toFixed(1)).join(', ')}]; http [${results[n].httpMs.map((x) => x.toFixed(1)).join(', ')}]`,
    ),
    '',
    '</details>',
    '',
  );

  // shut the tools down here (not only in cleanup) and check that nothing was left behind
  for (const t of tools.splice(0)) await t.stop();
  const leaks = names.map((n) => [n, sweep(n)]).filter(([, k]) => k > 0);
  out.push(leaks.length ? `LEAK: left behind after stop: ${leaks.map(([n, k]) => `${n} ${k}`).join(', ')}` : 'No fixture process left behind after the tools stopped (checked in /proc).', '');
  process.stdout.write(out.join('\n'));
}

function verdict(d, s, p) {
  const a = d <= s / 10 ? 'met' : 'NOT met';
  const b = d < p ? 'met' : 'NOT met';
  return `1/10 of supervisord ${a}, below PM2 ${b}`;
}

await runMain(main);
