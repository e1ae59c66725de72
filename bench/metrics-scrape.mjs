// What a Prometheus scrape of /metrics costs with many programs (issue 16): drover against another drover
// build (--baseline DIR, e.g. a git worktree of an older commit), both in the same run, scrapes interleaved.
// supervisord and PM2 have no /metrics of their own, so they are not in this one.
//
// With N `sleep 100000` programs under each build, measures:
//   - the wall time of one GET /metrics over the control socket (`--rounds` scrapes each, builds in turn)
//     and the size of the answer
//   - each daemon's RSS `--settle` seconds after its start, before any scrape; the largest RSS read after
//     each of its scrapes (when V8's full collections fall decides the reading at any one moment); and
//     RSS 15 s after the last scrape (drover trims its C heap once it has been quiet for 10 s)
//
// usage: node metrics-scrape.mjs [--count 1000] [--rounds 20] [--settle 30] [--baseline DIR]
//        (develop with --count 20 --rounds 3 --settle 2)
import { request } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DROVER_BIN, environmentReport, findByCommAndEnv, fmtMiB, fmtMs, fmtRatio, killGroups, median, now, onCleanup, p90, readRssKiB, runCommand, runMain, table, tempDir, waitFor } from './lib.mjs';
import { sleepProgramSection, writeFile } from './tools.mjs';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '20' },
    settle: { type: 'string', default: '30' },
    baseline: { type: 'string' },
  },
});
const N = Number(values.count);
const ROUNDS = Number(values.rounds);
const SETTLE_S = Number(values.settle);
/** after the last scrape: drover's quiet time before it trims the C heap is 10 s */
const AFTER_S = 15;
const MARKER = `metrics-${process.pid}-${Date.now().toString(36)}`;
const START_TIMEOUT_MS = 60_000 + N * 300;

/** One GET /metrics on a unix socket: its wall time, status and size. */
function scrape(socketPath) {
  return new Promise((resolve, reject) => {
    const t0 = now();
    const req = request({ socketPath, path: '/metrics', method: 'GET', agent: false }, (res) => {
      let bytes = 0;
      res.on('data', (c) => (bytes += c.length));
      res.on('end', () => resolve({ ms: now() - t0, status: res.statusCode, bytes }));
      res.on('error', reject);
    });
    req.setTimeout(30_000, () => req.destroy(new Error('GET /metrics timed out after 30 s')));
    req.on('error', reject);
    req.end();
  });
}

async function startDrover(label, bin) {
  const dir = tempDir(`drover-bench-metrics-${label}-`);
  const conf = writeFile(dir, 'drover.conf', sleepProgramSection(N, MARKER));
  const up = await runCommand(process.execPath, [bin, 'up', '-d', '--no-wait', '-c', conf], {
    timeoutMs: START_TIMEOUT_MS,
    env: { ...process.env, DROVER_BENCH_MARKER: MARKER },
  });
  if (up.code !== 0) throw new Error(`${label}: drover up -d failed: ${up.stderr}`);
  onCleanup(async () => {
    await runCommand(process.execPath, [bin, 'down', '--fast', '-c', conf], { timeoutMs: 60_000 }).catch(() => undefined);
  });
  const pid = Number(readFileSync(join(dir, '.drover', 'drover.pid'), 'utf8').trim());
  let running = 0;
  await waitFor(
    async () => {
      const r = await runCommand(process.execPath, [bin, 'status', '--json', '-c', conf]);
      running = (JSON.parse(r.stdout).processes ?? []).filter((p) => p.state === 'running').length;
      return running === N ? true : null;
    },
    { timeoutMs: START_TIMEOUT_MS, intervalMs: 500, what: `${label} to run ${N} (last ${running})` },
  );
  return { label, pid, socket: join(dir, '.drover', 'drover.sock'), times: [], bytes: 0, rest: 0, peak: 0, after: 0 };
}

async function main() {
  const command = `cd bench && node metrics-scrape.mjs --count ${N} --rounds ${ROUNDS} --settle ${SETTLE_S}${values.baseline ? ` --baseline ${values.baseline}` : ''}`;
  const out = [environmentReport(`/metrics scrapes with ${N} programs`, command)];
  onCleanup(() => killGroups(findByCommAndEnv('sleep', `DROVER_BENCH_MARKER=${MARKER}`)));
  const builds = [['drover', DROVER_BIN]];
  if (values.baseline) builds.push(['baseline', join(values.baseline, 'bin', 'drover.js')]);
  const daemons = [];
  for (const [label, bin] of builds) {
    console.error(`starting ${label} with ${N} programs…`);
    daemons.push(await startDrover(label, bin));
  }
  console.error(`settling ${SETTLE_S} s…`);
  await new Promise((r) => setTimeout(r, SETTLE_S * 1000));
  for (const d of daemons) d.rest = readRssKiB(d.pid);
  for (let round = 0; round < ROUNDS; round++) {
    for (const d of round % 2 === 0 ? daemons : [...daemons].reverse()) {
      const r = await scrape(d.socket);
      if (r.status !== 200) throw new Error(`${d.label}: GET /metrics → ${r.status}`);
      d.times.push(r.ms);
      d.bytes = r.bytes;
      d.peak = Math.max(d.peak, readRssKiB(d.pid));
    }
  }
  console.error(`waiting ${AFTER_S} s after the last scrape…`);
  await new Promise((r) => setTimeout(r, AFTER_S * 1000));
  for (const d of daemons) d.after = readRssKiB(d.pid);

  out.push(
    table(
      ['daemon', 'scrape median', 'p90', 'answer', 'RSS before any scrape', 'largest RSS after a scrape', `RSS ${AFTER_S} s after the scrapes`],
      daemons.map((d) => [d.label, fmtMs(median(d.times)), fmtMs(p90(d.times)), `${(d.bytes / 1e6).toFixed(2)} MB`, fmtMiB(d.rest), fmtMiB(d.peak), fmtMiB(d.after)]),
    ),
  );
  const [a, b] = daemons;
  if (a && b) {
    out.push('', `drover / baseline: scrape ${fmtRatio(median(a.times), median(b.times))}, largest RSS ${fmtRatio(a.peak, b.peak)}, RSS after the scrapes ${fmtRatio(a.after, b.after)}`);
  }
  console.log(out.join('\n'));
}

await runMain(main);
