// Starting many programs: drover vs supervisord 4.2 vs PM2 (issue 2).
//
// Each run starts the tool from nothing with N `sleep 100000` programs (startsecs=0, autorestart) and measures:
//   - wall time from launching the tool until all N are running: for drover, counting `: starting → running`
//     lines in its log; for supervisord, polling supervisor.getAllProcessInfo over its unix socket until N
//     are RUNNING; for PM2, launching its daemon and starting N apps through its API, then polling list()
//     until N are `online` (PM2's own start-up is inside the time, as drover's and supervisord's are);
//   - the daemon's RSS (VmRSS of drover's node process, the supervisord process, PM2's God daemon), sampled
//     1 s after all are running;
//   - the time the tool takes to stop all N and exit (SIGTERM; PM2: killDaemon).
// After every run all sleeps of that run must be gone: they carry DROVER_BENCH_MARKER=<run> in their
// environment, so /proc tells which are left; leftovers are killed by process group and reported.
//
// usage: node start-many.mjs [--counts 200,1000] [--rounds 5,3]     (develop with --counts 20 --rounds 1)
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import {
  countSupervisorStates,
  delay,
  environmentReport,
  findByCommAndEnv,
  fmtMiB,
  fmtMs,
  fmtRatio,
  killGroups,
  median,
  now,
  onCleanup,
  p90,
  readRssKiB,
  rotate,
  runMain,
  table,
  tempDir,
  waitFor,
} from './lib.mjs';
import { createPm2, startDrover, startSupervisord, supervisordHeader, writeFile } from './tools.mjs';

const { values } = parseArgs({
  options: { counts: { type: 'string', default: '200,1000' }, rounds: { type: 'string', default: '5,3' } },
});
const COUNTS = values.counts.split(',').map(Number);
const ROUNDS = values.rounds.split(',').map(Number);
const SLEEP = '/usr/bin/sleep';
const TOOLS = ['drover', 'supervisord', 'pm2'];
/** poll interval for supervisord and PM2 status: each poll costs the daemon work, so not too often */
const POLL_MS = 200;
const RUN_ID = `${process.pid}-${Date.now().toString(36)}`;
let runSeq = 0;

function startTimeoutMs(n) {
  return 60_000 + n * 300; // 1000 programs: 6 min; generous, PM2 is slow with many apps
}

function programSection(n, markerValue) {
  return `[program:s]
command=${SLEEP} 100000
numprocs=${n}
process_name=%(program_name)s_%(process_num)04d
startsecs=0
autorestart=true
stopasgroup=true
killasgroup=true
environment=DROVER_BENCH_MARKER="${markerValue}"
`;
}

/** Kills whatever sleeps of this run are left; returns how many there were. */
function sweepSleeps(markerValue) {
  return killGroups(findByCommAndEnv('sleep', `DROVER_BENCH_MARKER=${markerValue}`));
}

async function runDrover(dir, n, markerValue, defer) {
  const conf = writeFile(dir, 'drover.conf', programSection(n, markerValue));
  let running = 0;
  let allAt = NaN;
  let reached = () => undefined;
  const all = new Promise((resolve) => (reached = resolve));
  const d = startDrover(conf, {
    env: { ...process.env, DROVER_BENCH_MARKER: markerValue },
    onLine: (line) => {
      if (line.includes(': starting → running')) {
        running += 1;
        if (running === n) {
          allAt = now();
          reached();
        }
      }
    },
  });
  defer(() => d.stop('SIGKILL', 10_000));
  const timeout = delay(startTimeoutMs(n)).then(() => 'timeout');
  if ((await Promise.race([all, d.exited, timeout])) !== undefined) {
    throw new Error(`drover: ${running}/${n} running when it ${running < n ? 'exited or timed out' : '?'}; stderr: ${d.stderr()}`);
  }
  await delay(1000);
  const rssKiB = readRssKiB(d.pid);
  const stop = await d.stop('SIGTERM', 120_000);
  return { startMs: allAt - d.startedAt, rssKiB, stopMs: stop.ms, graceful: stop.graceful };
}

async function runSupervisord(dir, n, markerValue, defer) {
  const header = supervisordHeader(dir, { minfds: Math.min(19_000, 100 + n * 8), minprocs: n + 100 });
  const conf = writeFile(dir, 'supervisord.conf', header + '\n' + programSection(n, markerValue));
  const s = await startSupervisord(conf, dir, { env: { ...process.env, DROVER_BENCH_MARKER: markerValue } });
  defer(() => s.stop('SIGKILL', 10_000));
  let last = {};
  const allAt = await waitFor(
    async () => {
      if (s.child.exitCode !== null) throw new Error(`supervisord exited: ${s.output()}`);
      try {
        last = countSupervisorStates(await s.rpc('supervisor.getAllProcessInfo'));
      } catch {
        return null; // socket not up yet
      }
      return last.RUNNING === n ? now() : null;
    },
    { timeoutMs: startTimeoutMs(n), intervalMs: POLL_MS, what: `supervisord to run ${n} (last ${JSON.stringify(last)})` },
  );
  await delay(1000);
  const rssKiB = readRssKiB(s.pid);
  const stop = await s.stop('SIGTERM', 120_000);
  return { startMs: allAt - s.startedAt, rssKiB, stopMs: stop.ms, graceful: stop.graceful };
}

async function runPm2(dir, n, markerValue, defer) {
  const p = createPm2(join(dir, 'pm2-home'));
  defer(() => p.kill(30_000));
  const t0 = now();
  await p.connect();
  const apps = Array.from({ length: n }, (_, i) => ({
    name: `s_${String(i).padStart(4, '0')}`,
    script: SLEEP,
    args: ['100000'],
    interpreter: 'none',
    exec_mode: 'fork',
    autorestart: true,
    env: { DROVER_BENCH_MARKER: markerValue },
  }));
  await Promise.race([
    p.start(apps),
    delay(startTimeoutMs(n)).then(() => {
      throw new Error('PM2 start timed out');
    }),
  ]);
  let online = 0;
  const allAt = await waitFor(
    async () => {
      const list = await p.list();
      online = list.filter((x) => x.pm2_env?.status === 'online').length;
      return online === n ? now() : null;
    },
    { timeoutMs: startTimeoutMs(n), intervalMs: POLL_MS, what: `PM2 to have ${n} online (last ${online})` },
  );
  await delay(1000);
  const rssKiB = readRssKiB(p.godPid());
  const stop = await p.kill(120_000);
  return { startMs: allAt - t0, rssKiB, stopMs: stop.ms, graceful: stop.graceful };
}

const RUNNERS = { drover: runDrover, supervisord: runSupervisord, pm2: runPm2 };

/** One tool, one count: run, then make sure every sleep is gone. */
async function runOnce(tool, n) {
  const markerValue = `many-${tool}-${RUN_ID}-${++runSeq}`;
  const dir = tempDir(`drover-bench-many-${tool}-`);
  const removeSweep = onCleanup(() => sweepSleeps(markerValue));
  const stops = [];
  let result;
  try {
    result = await RUNNERS[tool](dir, n, markerValue, (fn) => stops.push(fn));
  } finally {
    // whatever happened, no sleep of this run may survive it: end the tool (a no-op after a clean stop), then sweep
    for (const stop of stops) await stop();
    await delay(200);
    const leaked = sweepSleeps(markerValue);
    await waitFor(() => findByCommAndEnv('sleep', `DROVER_BENCH_MARKER=${markerValue}`).length === 0, {
      timeoutMs: 10_000,
      what: `the sleeps of ${tool} to be gone`,
    });
    removeSweep();
    if (result) result.leaked = leaked;
  }
  return result;
}

async function main() {
  const command = `cd bench && node start-many.mjs --counts ${COUNTS.join(',')} --rounds ${ROUNDS.join(',')}`;
  const out = [environmentReport('Starting many programs', command)];
  out.push(
    `Programs: \`${SLEEP} 100000\`, startsecs=0. Wall time from launching the tool until all are running; RSS of the` +
      ` daemon 1 s later; stop = time from SIGTERM (PM2: killDaemon) until the daemon has exited.` +
      ` supervisord and PM2 are polled every ${POLL_MS} ms. Tools run one at a time, in rotating order.`,
    '',
  );
  for (const [ci, n] of COUNTS.entries()) {
    const rounds = ROUNDS[ci] ?? ROUNDS[ROUNDS.length - 1];
    const res = Object.fromEntries(TOOLS.map((t) => [t, []]));
    for (let round = 0; round < rounds; round++) {
      const parts = [];
      for (const tool of rotate(TOOLS, round)) {
        const r = await runOnce(tool, n);
        res[tool].push(r);
        parts.push(
          `${tool} ${fmtMs(r.startMs)} ${fmtMiB(r.rssKiB)} stop ${fmtMs(r.stopMs)}${r.graceful ? '' : ' (KILLED)'}${r.leaked ? ` LEAKED ${r.leaked}` : ''}`,
        );
        await delay(1000);
      }
      console.error(`${n} programs, round ${round + 1}/${rounds}: ${parts.join('; ')}`);
    }
    const med = (t, k) => median(res[t].map((r) => r[k]));
    out.push(
      `## ${n} programs, ${rounds} round(s)`,
      '',
      table(
        ['tool', 'all running: median', 'p90', 'daemon RSS: median', 'stop: median', 'leaked sleeps'],
        TOOLS.map((t) => [
          t,
          fmtMs(med(t, 'startMs')),
          fmtMs(p90(res[t].map((r) => r.startMs))),
          fmtMiB(med(t, 'rssKiB')),
          fmtMs(med(t, 'stopMs')) + (res[t].every((r) => r.graceful) ? '' : ' (some KILLED)'),
          String(res[t].reduce((a, r) => a + r.leaked, 0)),
        ]),
      ),
      '',
      table(
        ['ratio of medians', 'all running', 'daemon RSS', 'stop'],
        ['supervisord', 'pm2'].map((o) => [
          `drover / ${o}`,
          fmtRatio(med('drover', 'startMs'), med(o, 'startMs')),
          fmtRatio(med('drover', 'rssKiB'), med(o, 'rssKiB')),
          fmtRatio(med('drover', 'stopMs'), med(o, 'stopMs')),
        ]),
      ),
      '',
      '<details><summary>raw samples</summary>',
      '',
      ...TOOLS.map(
        (t) =>
          `- ${t}: start ms [${res[t].map((r) => r.startMs.toFixed(0)).join(', ')}]; RSS MiB [${res[t].map((r) => (r.rssKiB / 1024).toFixed(1)).join(', ')}]; stop ms [${res[t].map((r) => r.stopMs.toFixed(0)).join(', ')}]`,
      ),
      '',
      '</details>',
      '',
    );
  }
  process.stdout.write(out.join('\n'));
}

await runMain(main);
