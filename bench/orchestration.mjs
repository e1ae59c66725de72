// Orchestration costs (issue 15): drover only, no other tool has the same keys.
//
// 1. Dependency chains start in linear time. N `sleep 100000` programs, each its own [program:pN] with
//    startsecs=0, laid out in chains of --chain programs where each depends on the one before
//    (depends_on = p(N-1):started); also one chain of all N, and the same N without depends_on as the
//    baseline. Wall time from launching `drover up` until its log has N `: starting → running` lines. The
//    growth exponent between two sizes (log time ratio / log size ratio) is ~1 for linear time.
// 2. Checks cost the master little. --checked programs with `healthcheck = tcp://…` (and then http://…)
//    every second against a listener in this process, so the master runs --checked probes a second; its CPU
//    (user + system of drover's own process, from /proc) over --seconds, against the same programs
//    without a health check. Exec checks spawn a process each: measured apart, with --exec.
//
// usage: node orchestration.mjs [--counts 250,500,1000] [--chain 10] [--checked 100] [--seconds 30] [--exec]
//        smoke run: node orchestration.mjs --counts 20,40 --checked 10 --seconds 2
import { createServer as createHttpServer } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { parseArgs } from 'node:util';
import {
  cpuMs,
  delay,
  environmentReport,
  findByCommAndEnv,
  fmtMs,
  killGroups,
  now,
  onCleanup,
  runMain,
  table,
  tempDir,
  waitFor,
} from './lib.mjs';
import { SLEEP, startDrover, writeFile } from './tools.mjs';

const { values } = parseArgs({
  options: {
    counts: { type: 'string', default: '250,500,1000' },
    chain: { type: 'string', default: '10' },
    checked: { type: 'string', default: '100' },
    seconds: { type: 'string', default: '30' },
    exec: { type: 'boolean', default: false },
  },
});
const COUNTS = values.counts.split(',').map(Number);
const CHAIN = Number(values.chain);
const CHECKED = Number(values.checked);
const SECONDS = Number(values.seconds);
const RUN_ID = `${process.pid}-${Date.now().toString(36)}`;
let runSeq = 0;

/** N programs; `dependsOn(i)` names what program i depends on (null: nothing). */
function programs(n, marker, dependsOn, extra = () => '') {
  const out = [];
  for (let i = 0; i < n; i++) {
    const dep = dependsOn(i);
    out.push(`[program:p${i}]
command=${SLEEP} 100000
startsecs=0
stdout_logfile=NONE
stderr_logfile=NONE
environment=DROVER_BENCH_MARKER="${marker}"
${dep === null ? '' : `depends_on=${dep}\n`}${extra(i)}`);
  }
  return out.join('\n');
}

/** Starts drover on `config`, waits until `n` processes are running; returns the time and the handle. */
async function upUntilRunning(config, n, marker) {
  const dir = tempDir('drover-bench-orch-');
  const file = writeFile(dir, 'supervisord.conf', `[supervisord]\nminfds=${100 + n * 8}\n\n${config}`);
  let running = 0;
  let allAt = Infinity;
  const d = startDrover(file, {
    onLine: (line) => {
      if (line.includes(': starting → running')) running += 1;
      if (running === n && allAt === Infinity) allAt = now();
    },
  });
  onCleanup(() => killGroups(findByCommAndEnv('sleep', `DROVER_BENCH_MARKER=${marker}`)));
  await waitFor(() => allAt !== Infinity || d.child.exitCode !== null, { timeoutMs: 60_000 + n * 100, what: `${n} running (${running} so far)` });
  if (allAt === Infinity) throw new Error(`drover exited: ${d.stderr()}`);
  return { ms: allAt - d.startedAt, d };
}

async function stopDrover(d, marker) {
  await d.stop('SIGTERM', 120_000);
  await waitFor(() => findByCommAndEnv('sleep', `DROVER_BENCH_MARKER=${marker}`).length === 0, { timeoutMs: 20_000, what: 'the sleeps to be gone' });
}

async function startTime(n, layout) {
  const marker = `orch-${RUN_ID}-${++runSeq}`;
  const dependsOn =
    layout === 'none' ? () => null : layout === 'one chain' ? (i) => (i === 0 ? null : `p${i - 1}:started`) : (i) => (i % CHAIN === 0 ? null : `p${i - 1}:started`);
  const { ms, d } = await upUntilRunning(programs(n, marker, dependsOn), n, marker);
  await stopDrover(d, marker);
  return ms;
}

/** drover's own CPU over SECONDS with CHECKED programs checked by `check` every second (or none). */
async function checkCost(check) {
  const marker = `orch-${RUN_ID}-${++runSeq}`;
  const extra = check === null ? () => '' : () => `healthcheck=${check}\nhealthcheck_interval=1s\n`;
  const { d } = await upUntilRunning(programs(CHECKED, marker, () => null, extra), CHECKED, marker);
  await delay(2000); // past the start-up work, and every check has begun
  const t0 = now();
  const c0 = cpuMs(d.pid);
  await delay(SECONDS * 1000);
  const percent = ((cpuMs(d.pid) - c0) * 100) / (now() - t0);
  await stopDrover(d, marker);
  return percent;
}

function exponent(n1, t1, n2, t2) {
  return (Math.log(t2 / t1) / Math.log(n2 / n1)).toFixed(2);
}

async function main() {
  const command = `cd bench && node orchestration.mjs --counts ${COUNTS.join(',')} --chain ${CHAIN} --checked ${CHECKED} --seconds ${SECONDS}${values.exec ? ' --exec' : ''}`;
  const out = [environmentReport('Orchestration: dependency chains and check cost', command)];
  const layouts = ['none', `chains of ${CHAIN}`, 'one chain'];
  const times = Object.fromEntries(layouts.map((l) => [l, []]));
  for (const n of COUNTS) {
    for (const layout of layouts) {
      const ms = await startTime(n, layout);
      times[layout].push(ms);
      console.error(`${n} programs, ${layout}: all running in ${fmtMs(ms)}`);
      await delay(500);
    }
  }
  out.push(
    '## Start time of N programs (until all are running)',
    '',
    table(
      ['depends_on', ...COUNTS.map((n) => `${n} programs`), ...COUNTS.slice(1).map((n, i) => `exponent ${COUNTS[i]}→${n}`)],
      layouts.map((l) => [
        l,
        ...times[l].map((ms, i) => `${fmtMs(ms)} (${(ms / COUNTS[i]).toFixed(2)} ms each)`),
        ...COUNTS.slice(1).map((n, i) => exponent(COUNTS[i], times[l][i], n, times[l][i + 1])),
      ]),
    ),
    '',
  );

  // a listener in this process answers the checks; its own CPU is not drover's
  const tcp = createTcpServer((s) => s.end());
  const http = createHttpServer((_req, res) => res.end('ok'));
  await new Promise((r) => tcp.listen(0, '127.0.0.1', r));
  await new Promise((r) => http.listen(0, '127.0.0.1', r));
  onCleanup(() => {
    tcp.close();
    http.close();
  });
  const checks = [
    ['none', null],
    ['tcp', `tcp://127.0.0.1:${tcp.address().port}`],
    ['http', `http://127.0.0.1:${http.address().port}/health`],
    ...(values.exec ? [['exec', 'exec:/bin/true']] : []),
  ];
  const rows = [];
  let base = 0;
  for (const [name, check] of checks) {
    const pct = await checkCost(check);
    if (check === null) base = pct;
    console.error(`${CHECKED} programs, healthcheck ${name} every 1 s: drover CPU ${pct.toFixed(2)} %`);
    rows.push([name, `${pct.toFixed(2)} %`, check === null ? '–' : `${(pct - base).toFixed(2)} %`]);
  }
  out.push(
    `## drover's CPU with ${CHECKED} programs checked every second (${SECONDS} s window)`,
    '',
    table(['healthcheck', 'drover CPU (% of one core)', 'over no checks'], rows),
    '',
  );
  process.stdout.write(out.join('\n'));
}

await runMain(main);
