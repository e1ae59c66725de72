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
import {
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
import { SLEEP, SLEEP_TOOLS, upWithSleeps } from './tools.mjs';

const { values } = parseArgs({
  options: { counts: { type: 'string', default: '200,1000' }, rounds: { type: 'string', default: '5,3' } },
});
const COUNTS = values.counts.split(',').map(Number);
const ROUNDS = values.rounds.split(',').map(Number);
const TOOLS = SLEEP_TOOLS;
/** poll interval for supervisord and PM2 status: each poll costs the daemon work, so not too often */
const POLL_MS = 200;
const RUN_ID = `${process.pid}-${Date.now().toString(36)}`;
let runSeq = 0;

function startTimeoutMs(n) {
  return 60_000 + n * 300; // 1000 programs: 6 min; generous, PM2 is slow with many apps
}

/** One tool from nothing to N running (tools.mjs upWithSleeps), its RSS 1 s later, then its stop. */
async function runTool(tool, dir, n, markerValue, defer) {
  const h = await upWithSleeps(tool, dir, n, markerValue, {
    capMs: startTimeoutMs(n),
    pollMs: POLL_MS,
    minfds: Math.min(19_000, 100 + n * 8),
  });
  defer(h.abort);
  if (h.startMs === Infinity) throw new Error(`${tool}: ${h.running}/${n} running after ${startTimeoutMs(n)} ms`);
  await delay(1000);
  const rssKiB = readRssKiB(h.pid);
  const stop = await h.stop(120_000);
  return { startMs: h.startMs, rssKiB, stopMs: stop.ms, graceful: stop.graceful };
}

/** Kills whatever sleeps of this run are left; returns how many there were. */
function sweepSleeps(markerValue) {
  return killGroups(findByCommAndEnv('sleep', `DROVER_BENCH_MARKER=${markerValue}`));
}

/** One tool, one count: run, then make sure every sleep is gone. */
async function runOnce(tool, n) {
  const markerValue = `many-${tool}-${RUN_ID}-${++runSeq}`;
  const dir = tempDir(`drover-bench-many-${tool}-`);
  const removeSweep = onCleanup(() => sweepSleeps(markerValue));
  const stops = [];
  let result;
  try {
    result = await runTool(tool, dir, n, markerValue, (fn) => stops.push(fn));
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
