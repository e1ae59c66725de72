// How cost grows with the number of programs: drover vs supervisord 4.2 vs PM2 (issue 16, item 6).
//
// For each size N (10, 100, 1000, 5000) and round, each tool in turn (drover, supervisord, pm2, rotated every
// round) starts from nothing with N `sleep 100000` programs (startsecs=0), alone on the machine, and:
//   - start: wall time from launching the tool until it reports all N running (how each tool is watched:
//     tools.mjs upWithSleeps);
//   - after a settle of SETTLE_MS, idle CPU: the daemon's own utime+stime over `--idle` seconds in which
//     nothing is asked of it, in percent of one core;
//   - daemon RSS: VmRSS of the daemon process alone (drover's node process, the supervisord Python process,
//     PM2's God daemon), sampled after the idle window; its children — the programs, and helpers such as
//     drover's orphan-guard shell, listed in the raw samples — are NOT included. Also RssAnon (the part
//     that is not pages of files: heap and stacks, what the daemon alone holds) and VmHWM (peak RSS);
//   - status: wall time of the tool's own status command, launch to exit, `--status-runs` times after one
//     warm-up: `drover status --json`, `supervisorctl status`, `pm2 jlist`; each call is checked to show N
//     programs running;
//   - stop: SIGTERM (PM2: killDaemon, i.e. `pm2 kill`) until the daemon has exited.
// Every phase has a time cap (`--cap` for start and stop, `--status-cap` per status call): a tool over it
// is killed and reported as "> cap"; a tool whose start ran over the cap is not run at larger sizes.
// Open files bound the size too: each daemon holds a few per program (3–5 without log files, 5–7 with), and
// where the hard limit cannot be raised (this VM: 20000, no CAP_SYS_RESOURCE) a tool predicted from its fd
// counts at the smaller sizes to need more than the limit is not run at that size. Hence `--logs none` by
// default: no log file per program (the output pipes are still read), for all three tools alike.
// Every process of a run carries DROVER_BENCH_MARKER=<run> in its environment; after the tool stops, what is
// left is counted as leaked and killed by process group, also on error, Ctrl-C or SIGTERM.
//
// NODE_EXTRA_CA_CERTS roughly doubles Node's start-up here; by default (`--ca unset`) it is removed from this
// process's environment before anything starts, so drover, PM2's daemon and both Node CLIs run without it.
//
// usage: node scale.mjs [--sizes 10,100,1000,5000] [--rounds 3] [--idle 10] [--status-runs 5] [--cap 300]
//                       [--status-cap 60] [--tools drover,supervisord,pm2] [--ca unset|inherit]
//                       [--logs none|files] [--check]
//        --check: only tell whether this machine can run the largest size (open files, pids, memory), start nothing
//        smoke run: node scale.mjs --sizes 10,100 --rounds 1 --idle 3 --status-runs 3
import { parseArgs } from 'node:util';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  PM2_CLI,
  ROOT_DIR,
  SUPERVISORD,
  childrenOf,
  countFds,
  cpuPercentOver,
  delay,
  environmentReport,
  findByMarker,
  fmtMiB,
  fmtMsCapped,
  fmtRatio,
  fmtRatioCapped,
  freePids,
  medianOverCap,
  memAvailableKiB,
  now,
  raiseNofileLimit,
  readNofileLimit,
  readRssKiB,
  readStat,
  readStatusKiB,
  rotate,
  runMain,
  sweepMarker,
  table,
  tempDir,
  timeCommand,
  waitQuiet,
} from './lib.mjs';
import { SLEEP, SLEEP_TOOLS, upWithSleeps } from './tools.mjs';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10,100,1000,5000' },
    rounds: { type: 'string', default: '3' },
    idle: { type: 'string', default: '10' },
    'status-runs': { type: 'string', default: '5' },
    cap: { type: 'string', default: '300' },
    'status-cap': { type: 'string', default: '60' },
    tools: { type: 'string', default: SLEEP_TOOLS.join(',') },
    ca: { type: 'string', default: 'unset' },
    logs: { type: 'string', default: 'none' },
    check: { type: 'boolean', default: false },
  },
});
const SIZES = values.sizes.split(',').map(Number);
const ROUNDS = values.rounds.split(',').map(Number); // one per size, the last repeated
const IDLE_S = Number(values.idle);
const STATUS_RUNS = Number(values['status-runs']);
const CAP_MS = Number(values.cap) * 1000;
const STATUS_CAP_MS = Number(values['status-cap']) * 1000;
const TOOLS = values.tools.split(',');
if (SIZES.some((n) => !(n > 0)) || ROUNDS.some((r) => !(r > 0)) || !(IDLE_S > 0) || !(STATUS_RUNS > 0) || !(CAP_MS > 0) || !(STATUS_CAP_MS > 0)) {
  throw new Error('--sizes, --rounds, --idle, --status-runs, --cap and --status-cap take positive numbers');
}
if (TOOLS.some((t) => !SLEEP_TOOLS.includes(t))) throw new Error(`--tools: a comma list of ${SLEEP_TOOLS.join(', ')}`);
if (!['unset', 'inherit'].includes(values.ca)) throw new Error('--ca: unset or inherit');
if (!['none', 'files'].includes(values.logs)) throw new Error('--logs: none or files');
const LOGS = values.logs === 'files';

// decided before anything is spawned: every child inherits this environment (PM2's daemon included)
const CA_CERTS = process.env.NODE_EXTRA_CA_CERTS;
if (values.ca === 'unset') delete process.env.NODE_EXTRA_CA_CERTS;

/** after all are running, before the idle window: lets a tool finish what it does right after a start */
const SETTLE_MS = 2000;
/**
 * Open files each daemon holds per program, measured (10 → 100 and 10 → 40 programs, 2026-12-03): with log
 * files drover 5, supervisord 5 (3 pipe ends + 2 logs), PM2's daemon 7; with `--logs none` 3, 3 and 5 (PM2
 * adds an IPC socket to each child's stdio). Used only before the first measurements; after them each
 * tool's own fd counts at the sizes already run predict the next size (fdsNeeded).
 */
const FDS_PER_PROGRAM = { true: { drover: 5, supervisord: 5, pm2: 7 }, false: { drover: 3, supervisord: 3, pm2: 5 } };
/** open files left for everything else a daemon has open (its own modules, sockets, log, pipes to us) */
const FDS_SPARE = 256;
const RUN_ID = `${process.pid}-${Date.now().toString(36)}`;
const STATUS_COMMAND = { drover: 'drover status --json', supervisord: 'supervisorctl status', pm2: 'pm2 jlist' };
const log = (s) => process.stderr.write(`${s}\n`);
let runSeq = 0;

/** supervisord and PM2 are polled for "all running"; each poll costs their daemon work that grows with N */
function pollMs(n) {
  return Math.max(200, n / 5); // 200 ms up to 1000 programs (as start-many.mjs), 1 s at 5000
}

// --- can this machine run the largest size? ---

function preflight() {
  const maxN = Math.max(...SIZES);
  const lines = [];
  if (!existsSync(join(ROOT_DIR, 'dist', 'src', 'cli', 'main.js'))) throw new Error('drover is not built: cd .. && npm run build');
  if (TOOLS.includes('supervisord') && !existsSync(SUPERVISORD)) throw new Error(`${SUPERVISORD} is missing: apt-get install supervisor`);
  if (TOOLS.includes('pm2') && !existsSync(PM2_CLI)) throw new Error('PM2 is not installed: cd bench && npm ci');

  // every tool inherits this process's limit; raise it if we may (root with CAP_SYS_RESOURCE), else say
  // which sizes will not fit: fdsNeeded() then leaves those tools out at those sizes
  const maxPer = Math.max(...TOOLS.map((t) => FDS_PER_PROGRAM[LOGS][t]));
  const want = maxN * maxPer + FDS_SPARE;
  const before = readNofileLimit();
  let limit = before;
  let why = '';
  if (before.soft < want) {
    try {
      limit = raiseNofileLimit(want);
    } catch (err) {
      why = `, which prlimit could not raise (${err.message.trim().split('\n').pop()}; raising the hard limit needs CAP_SYS_RESOURCE)`;
    }
  }
  const fit = TOOLS.map((t) => `${t} ${Math.floor((limit.soft - FDS_SPARE) / FDS_PER_PROGRAM[LOGS][t])}`).join(', ');
  lines.push(
    `- open files: limit ${limit.soft} (hard ${limit.hard})` +
      (limit.soft !== before.soft ? `, raised from ${before.soft} (hard ${before.hard}) with prlimit; every tool inherits it` : why) +
      `; log files ${LOGS ? 'on' : 'off (`--logs none`)'}, so at about ${TOOLS.map((t) => `${FDS_PER_PROGRAM[LOGS][t]} (${t})`).join(', ')} open files per program` +
      ` the most programs that fit are about: ${fit}. A tool predicted to need more at a size is not run at it.`,
  );

  const pids = freePids();
  const needPids = maxN + 2000;
  if (pids.free < needPids) throw new Error(`${maxN} programs need about ${needPids} free pids; pid_max ${pids.pidMax}, ${pids.tasks} tasks exist`);
  lines.push(`- pids: pid_max ${pids.pidMax}, ${pids.tasks} tasks at start; ${maxN} programs need about ${needPids} (one tool at a time)`);

  const memKiB = memAvailableKiB();
  const needKiB = 2 * 1024 * 1024 + maxN * 2 * 1024;
  if (memKiB < needKiB) throw new Error(`${maxN} programs need about ${fmtMiB(needKiB)} of available memory (2 GiB + 2 MiB each), ${fmtMiB(memKiB)} is available`);
  lines.push(`- memory available: ${fmtMiB(memKiB)} (about ${fmtMiB(needKiB)} needed)`);
  return { lines, nofile: limit.soft };
}

/**
 * Open files `tool` will hold with N programs: extrapolated from its daemon's fd counts at the two largest
 * sizes already run (medians over rounds), else from FDS_PER_PROGRAM. Returns { fds, basis }.
 */
function fdsNeeded(res, tool, n) {
  const seen = SIZES.filter((m) => m < n && res[m]?.[tool]?.some((r) => Number.isFinite(r.fds)))
    .map((m) => [m, medianOverCap(res[m][tool].filter((r) => Number.isFinite(r.fds)).map((r) => r.fds))]);
  if (seen.length >= 2) {
    const [[n1, f1], [n2, f2]] = seen.slice(-2);
    const per = (f2 - f1) / (n2 - n1);
    return { fds: Math.round(f2 + per * (n - n2)), basis: `${per.toFixed(1)} per program, from its ${n1}- and ${n2}-program runs` };
  }
  const per = FDS_PER_PROGRAM[LOGS][tool];
  return { fds: n * per + 100, basis: `${per} per program, measured earlier` };
}

// --- one tool, one size ---

/** Non-program children of the daemon (drover's orphan guard, …) with their RSS: "bash 3.4 MiB". */
function helpers(pid) {
  const out = [];
  for (const c of childrenOf(pid)) {
    const st = readStat(c);
    if (st && st.comm !== 'sleep' && st.state !== 'Z') out.push(`${st.comm} ${fmtMiB(readRssKiB(c))}`);
  }
  return out.join(', ') || 'none';
}

/** The tool's status command `STATUS_RUNS` times after one warm-up; stops at the first call over the cap. */
async function timeStatus(h, n, notes) {
  const samples = [];
  for (let i = -1; i < STATUS_RUNS; i++) {
    const r = await timeCommand(h.status.file, h.status.args, { timeoutMs: STATUS_CAP_MS, env: h.status.env });
    if (r.timedOut) {
      samples.push(Infinity);
      notes.push(`status call ${i + 2} over the ${STATUS_CAP_MS / 1000} s cap`);
      break;
    }
    let shown = NaN;
    try {
      shown = h.status.count(r.stdout);
    } catch {
      // not the expected output: reported below with what it printed
    }
    if (shown !== n || (r.code !== 0 && r.code !== 3)) {
      notes.push(`status exit ${r.code}, ${shown}/${n} shown running: ${(r.stderr || r.stdout).trim().slice(0, 200)}`);
      return [];
    }
    if (i >= 0) samples.push(r.ms);
  }
  return samples;
}

async function measureOnce(tool, n, nofile) {
  const marker = `scale-${tool}-${RUN_ID}-${++runSeq}`;
  const entry = `DROVER_BENCH_MARKER=${marker}`; // what /proc/PID/environ holds
  const dir = tempDir(`drover-bench-scale-${tool}-`);
  const r = {
    startMs: NaN, stopMs: NaN, statusMs: NaN, statusSamples: [], rssKiB: NaN, anonKiB: NaN, hwmKiB: NaN, cpuPct: NaN,
    fds: NaN, helpers: '', leaked: [], killed: false, notes: [], load: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
  };
  let h = null;
  try {
    h = await upWithSleeps(tool, dir, n, marker, { capMs: CAP_MS, pollMs: pollMs(n), minfds: Math.min(nofile, 100 + n * 8), logs: LOGS });
    r.startMs = h.startMs;
    if (h.startMs === Infinity) {
      r.notes.push(`${h.running}/${n} running at the ${CAP_MS / 1000} s cap`);
      r.killed = true;
      return r;
    }
    await delay(SETTLE_MS);
    r.cpuPct = await cpuPercentOver(h.pid, IDLE_S);
    r.rssKiB = readRssKiB(h.pid);
    r.anonKiB = readStatusKiB(h.pid, 'RssAnon');
    r.hwmKiB = readStatusKiB(h.pid, 'VmHWM');
    r.fds = countFds(h.pid);
    r.helpers = helpers(h.pid);
    r.statusSamples = await timeStatus(h, n, r.notes);
    r.statusMs = medianOverCap(r.statusSamples);
    const stop = await h.stop(CAP_MS);
    r.stopMs = stop.graceful ? stop.ms : Infinity;
    if (!stop.graceful) {
      r.notes.push(`stop: killed after ${fmtMsCapped(stop.ms)}`);
      r.killed = true;
    }
  } catch (err) {
    r.notes.push(`failed: ${err.message.split('\n')[0].slice(0, 300)}`);
    r.killed = true;
    log(err.stack ?? String(err));
  } finally {
    if (h) await h.abort(); // nothing to do after a clean stop
    // whatever the tool left behind (programs, helpers) must go: give stragglers a moment, then kill
    const t0 = now();
    while (findByMarker(entry).length > 0 && now() - t0 < 3000) await delay(100);
    r.leaked = sweepMarker(entry);
    while (findByMarker(entry).length > 0 && now() - t0 < 15_000) await delay(100);
    const still = findByMarker(entry).length;
    if (still > 0) r.notes.push(`${still} processes of the run survived SIGKILL`);
    if (r.leaked.length > 0) r.notes.push(`${r.leaked.length} processes left${r.killed ? ' after the bench killed the tool' : ''} (${[...new Set(r.leaked)].join(', ')}), killed`);
  }
  return r;
}

// --- the run ---

async function main() {
  const command = `cd bench && node scale.mjs --sizes ${SIZES.join(',')} --rounds ${ROUNDS.join(',')} --idle ${IDLE_S} --status-runs ${STATUS_RUNS} --cap ${CAP_MS / 1000} --status-cap ${STATUS_CAP_MS / 1000} --tools ${TOOLS.join(',')} --ca ${values.ca} --logs ${values.logs}`;
  const pre = preflight();
  if (values.check) {
    process.stdout.write(`${pre.lines.join('\n')}\n`);
    return;
  }
  const header = environmentReport('How cost grows with the number of programs', command, values.ca === 'unset' && CA_CERTS ? { caCerts: CA_CERTS } : {});
  const t0 = now();
  const res = {}; // res[n][tool] = [round results]
  const overCapAt = {}; // tool → the size at which its start ran over the cap
  const quietWaits = [];
  for (const [si, n] of SIZES.entries()) {
    const rounds = ROUNDS[si] ?? ROUNDS[ROUNDS.length - 1];
    res[n] = Object.fromEntries(TOOLS.map((t) => [t, []]));
    for (let round = 0; round < rounds; round++) {
      for (const tool of rotate(TOOLS, round)) {
        if (overCapAt[tool] !== undefined) {
          res[n][tool].push({ skipped: true, notes: [`not run: its start was over the ${CAP_MS / 1000} s cap at ${overCapAt[tool]} programs`] });
          continue;
        }
        const need = fdsNeeded(res, tool, n);
        if (need.fds + FDS_SPARE > pre.nofile) {
          res[n][tool].push({ skipped: true, notes: [`not run: would need about ${need.fds} open files (${need.basis}), the limit is ${pre.nofile}`] });
          log(`${n} programs, round ${round + 1}/${rounds}: ${tool} not run (needs about ${need.fds} open files, limit ${pre.nofile})`);
          continue;
        }
        const waited = await waitQuiet(log);
        if (waited > 1000) quietWaits.push(waited);
        log(`${n} programs, round ${round + 1}/${rounds}: ${tool}…`);
        const r = await measureOnce(tool, n, pre.nofile);
        res[n][tool].push(r);
        log(
          `  start ${fmtMsCapped(r.startMs)}, idle CPU ${r.cpuPct.toFixed(2)} %, RSS ${fmtMiB(r.rssKiB)} (peak ${fmtMiB(r.hwmKiB)}), ` +
            `status ${fmtMsCapped(r.statusMs)}, stop ${fmtMsCapped(r.stopMs)}, fds ${r.fds}, helpers: ${r.helpers || '-'}` +
            `${r.leaked.length ? `, LEAKED ${r.leaked.length}` : ''}${r.notes.length ? ` — ${r.notes.join('; ')}` : ''}`,
        );
        if (r.startMs === Infinity) overCapAt[tool] = n;
        await delay(1000);
      }
    }
  }
  const out = [header, ...pre.lines, `- wall time of the whole run: ${fmtMsCapped(now() - t0)}; waited for test suites: ${quietWaits.length ? quietWaits.map(fmtMsCapped).join(', ') : 'never'}`, ''];
  out.push(report(res));
  process.stdout.write(out.join('\n'));
}

// --- report ---

const MEASURES = [
  { key: 'startMs', name: 'start: all running', kind: 'time', cap: () => CAP_MS },
  { key: 'stopMs', name: 'stop all (daemon exited)', kind: 'time', cap: () => CAP_MS },
  { key: 'statusMs', name: 'status command (launch to exit)', kind: 'time', cap: () => STATUS_CAP_MS },
  { key: 'rssKiB', name: 'daemon RSS, idle (children excluded)', kind: 'kib' },
  // RSS less the pages of files (the interpreter's own code, shared with every process running it, and
  // given back by the kernel when memory is short): what the daemon alone holds
  { key: 'anonKiB', name: '… of which anonymous (RssAnon: heap, stacks)', kind: 'kib' },
  { key: 'hwmKiB', name: 'daemon peak RSS (VmHWM)', kind: 'kib' },
  { key: 'cpuPct', name: `daemon idle CPU (% of one core, ${IDLE_S} s)`, kind: 'pct' },
];

/** Median over the rounds that ran (a run that failed has NaN and is left out); NaN if none ran. */
const medianOf = (rs, key) => medianOverCap(rs.filter((r) => !r.skipped).map((r) => r[key]));
const notRun = (rs) => rs.length > 0 && rs.every((r) => r.skipped);

function fmtValue(m, v) {
  if (m.kind === 'time') return fmtMsCapped(v);
  if (m.kind === 'kib') return fmtMiB(v);
  return Number.isFinite(v) ? `${v.toFixed(2)} %` : 'n/a';
}

function fmtRatioOf(m, a, b) {
  return m.kind === 'time' ? fmtRatioCapped(a, b, m.cap(), m.cap()) : fmtRatio(a, b);
}

/** k in cost ∝ N^k between two sizes: 1 linear, 2 quadratic; fixed costs pull it below 1 at small N. */
function exponent(v1, v2, n1, n2) {
  if (!(v1 > 0) || !(v2 > 0) || !Number.isFinite(v1) || !Number.isFinite(v2)) return v2 === Infinity && Number.isFinite(v1) ? '> cap' : 'n/a';
  const k = Math.log(v2 / v1) / Math.log(n2 / n1);
  return (Math.abs(k) < 0.005 ? 0 : k).toFixed(2); // never "-0.00"
}

function report(res) {
  const out = [];
  const peer = (t) => (t === 'pm2' ? 'PM2' : t);
  const others = TOOLS.filter((t) => t !== 'drover');
  const withDrover = TOOLS.includes('drover');
  out.push(
    `Programs: \`${SLEEP} 100000\`, startsecs=0, autorestart, stop/kill as group (PM2: fork mode, no interpreter).`,
    `Each tool alone on the machine in turn, order rotated every round; medians over rounds. start: launch of the`,
    `tool until it reports all running (drover: its log; supervisord: getAllProcessInfo polled; PM2: list() polled,`,
    `${pollMs(SIZES[0])} ms between polls up to 1000 programs, N/5 ms above). After ${SETTLE_MS / 1000} s, idle CPU of the daemon over ${IDLE_S} s,`,
    `then its RSS (the daemon process only: programs and helpers excluded), then the status command`,
    `(${TOOLS.map((t) => `${peer(t)}: \`${STATUS_COMMAND[t]}\``).join(', ')}), median of ${STATUS_RUNS} after a warm-up; stop: SIGTERM`,
    `(PM2: killDaemon) until the daemon exits. Caps: start and stop ${CAP_MS / 1000} s, each status call ${STATUS_CAP_MS / 1000} s; "> cap" = over it.`,
    `Idle CPU is counted in 10 ms ticks: its resolution is ${(1 / IDLE_S).toFixed(2)} % over ${IDLE_S} s, so ratios of such small values are noise.`,
    LOGS
      ? 'Log files: each tool\'s default, one file per stream and program.'
      : 'Log files: none (`stdout_logfile = NONE`, `stderr_logfile = NONE`; PM2: `out_file` and `error_file` /dev/null): the output pipes are still read, no file is opened. With log files each daemon holds 5–7 open files per program, and a hard limit of 20000 open files (this VM\'s; raising it needs CAP_SYS_RESOURCE) would keep every tool below about 4000 programs.',
    '',
  );
  const header = ['programs', 'measure', ...TOOLS.map(peer), ...(withDrover ? others.map((o) => `drover / ${peer(o)}`) : [])];
  const rows = [];
  for (const n of SIZES) {
    for (const m of MEASURES) {
      const med = Object.fromEntries(TOOLS.map((t) => [t, medianOf(res[n][t], m.key)]));
      rows.push([
        String(n),
        m.name,
        ...TOOLS.map((t) => (notRun(res[n][t]) ? 'not run' : fmtValue(m, med[t]))),
        ...(withDrover ? others.map((o) => fmtRatioOf(m, med.drover, med[o])) : []),
      ]);
    }
  }
  out.push(table(header, rows), '');
  // what did not run or went wrong, once per tool and size; the raw samples below have every run's notes
  const notes = [];
  for (const n of SIZES) {
    for (const t of TOOLS) {
      for (const note of new Set(res[n][t].flatMap((r) => r.notes))) notes.push(`- ${peer(t)}, ${n} programs: ${note}`);
    }
  }
  if (notes.length > 0) out.push('Notes:', '', ...notes, '');

  if (SIZES.length > 1) {
    const steps = SIZES.slice(1).map((n2, i) => [SIZES[i], n2]);
    out.push(
      '### How each cost grows',
      '',
      'Times and idle CPU: the exponent k of cost ∝ N^k between two sizes (1 = linear, 2 = quadratic; a fixed cost such as',
      "Node's or Python's own start pulls k below 1 at small N). RSS: the extra KiB per added program between the two sizes.",
      '',
    );
    const grow = [];
    for (const t of TOOLS) {
      for (const m of MEASURES.filter((x) => x.key !== 'hwmKiB')) {
        grow.push([
          peer(t),
          m.name,
          ...steps.map(([n1, n2]) => {
            const v1 = medianOf(res[n1][t], m.key);
            const v2 = medianOf(res[n2][t], m.key);
            if (m.kind !== 'kib') return exponent(v1, v2, n1, n2);
            return Number.isFinite(v1) && Number.isFinite(v2) ? `${((v2 - v1) / (n2 - n1)).toFixed(1)} KiB` : 'n/a';
          }),
        ]);
      }
    }
    out.push(table(['tool', 'measure', ...steps.map(([a, b]) => `${a} → ${b}`)], grow), '');
  }

  out.push('<details><summary>raw samples</summary>', '');
  for (const n of SIZES) {
    out.push(`${n} programs:`, '');
    for (const t of TOOLS) {
      for (const [i, r] of res[n][t].entries()) {
        if (r.skipped) {
          out.push(`- ${peer(t)} round ${i + 1}: ${r.notes.join('; ')}`);
          continue;
        }
        out.push(
          `- ${peer(t)} round ${i + 1} (load ${r.load}): start ${fmtMsCapped(r.startMs)}; stop ${fmtMsCapped(r.stopMs)}; ` +
            `status [${r.statusSamples.map((x) => (x === Infinity ? '> cap' : x.toFixed(0))).join(', ')}] ms; RSS ${fmtMiB(r.rssKiB)}, ` +
            `peak ${fmtMiB(r.hwmKiB)}; idle CPU ${Number.isFinite(r.cpuPct) ? r.cpuPct.toFixed(2) : 'n/a'} %; daemon fds ${r.fds}; ` +
            `helper children (not in RSS): ${r.helpers || 'n/a'}; leaked: ${r.leaked.length ? r.leaked.join(', ') : 'none'}` +
            (r.notes.length ? `; notes: ${r.notes.join('; ')}` : ''),
        );
      }
    }
    out.push('');
  }
  out.push('</details>', '');
  const runs = SIZES.flatMap((n) => TOOLS.flatMap((t) => res[n][t].filter((r) => !r.skipped).map((r) => ({ t, n, r }))));
  const leaks = runs.filter(({ r }) => r.leaked.length > 0 && !r.killed);
  const afterKill = runs.filter(({ r }) => r.leaked.length > 0 && r.killed);
  out.push(
    leaks.length
      ? `**Processes left behind by a tool that stopped normally** (killed by the bench): ${leaks.map(({ t, n, r }) => `${peer(t)} at ${n}: ${r.leaked.length}`).join('; ')}`
      : 'No tool that stopped normally left a process behind (checked in /proc after every run).',
    ...(afterKill.length ? ['', `After the bench had to kill a tool (cap or failure), what it left was killed too: ${afterKill.map(({ t, n, r }) => `${peer(t)} at ${n}: ${r.leaked.length}`).join('; ')}.`] : []),
    '',
  );
  return out.join('\n');
}

await runMain(main);
