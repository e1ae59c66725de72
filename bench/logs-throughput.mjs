// Log throughput (issues 4 and 16): one program writes N lines of 100 bytes (one write per line) and exits.
// Measured: time from the writer's first line until every line is in the log files, the process manager's CPU
// time over that span (utime + stime from /proc, the daemon process only), and lines lost, torn or doubled
// (every file, rotated ones included, is read back and each line checked by its number). Compared: the same
// program redirected straight to a file (the limit; it does not rotate), drover, supervisord and PM2; also
// with timestamps (drover `timestamps = true`, PM2 `time: true`; supervisord has none). drover and
// supervisord rotate at --maxbytes (1 MB by default, as in issue 16) and keep enough backups that no line is
// dropped; PM2 cannot rotate without its pm2-logrotate module, so its file just grows. Tools interleave,
// order rotating per round.
//
// usage: node logs-throughput.mjs [--lines N] [--rounds R] [--maxbytes BYTES] [--variants a,b,…]
//        (defaults 1000000, 3, 1048576 and every variant; --maxbytes 0 turns rotation off)
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BENCH_DIR, cpuMs, delay, environmentReport, fmtMs, fmtRatio, median, rotate, runMain, table, tempDir } from './lib.mjs';
import { createPm2, startDrover, startSupervisord, supervisordHeader, writeFile } from './tools.mjs';

const WRITER = join(BENCH_DIR, 'fixtures', 'log-writer.cjs');
const LINE_BYTES = 100;

const { values } = parseArgs({
  options: {
    lines: { type: 'string', default: '1000000' },
    rounds: { type: 'string', default: '3' },
    maxbytes: { type: 'string', default: String(1024 * 1024) },
    variants: { type: 'string', default: '' },
  },
});
const LINES = Number(values.lines);
const ROUNDS = Number(values.rounds);
const MAX_BYTES = Number(values.maxbytes);
// every line kept: the files a run fills (timestamps make lines 25 bytes longer), and some spare
const BACKUPS = MAX_BYTES > 0 ? Math.ceil((LINES * (LINE_BYTES + 25)) / MAX_BYTES) + 5 : 0;

function readMark(file) {
  const out = {};
  if (!existsSync(file)) return out;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const [k, v] = line.split(' ');
    if (k) out[k] = Number(v);
  }
  return out;
}

/** The live log and its rotated backups (`out.log.1`, …), oldest first. */
function logFiles(log) {
  const dir = join(log, '..');
  const base = log.slice(dir.length + 1);
  const backups = readdirSync(dir)
    .map((f) => (f.startsWith(`${base}.`) ? Number(f.slice(base.length + 1)) : NaN))
    .filter((n) => Number.isInteger(n) && n > 0)
    .sort((a, b) => b - a);
  return [...backups.map((n) => `${log}.${n}`), ...(existsSync(log) ? [log] : [])];
}

/** Bytes in the live file and how many files there are: what changes while lines arrive (cheap to poll). */
function progress(log) {
  // the tool may rename the file between any two calls: a missing file counts as empty
  const size = statSync(log, { throwIfNoEntry: false })?.size ?? 0;
  return `${size} ${readdirSync(join(log, '..')).length}`;
}

/** Bytes in every file of the log. */
function totalBytes(log) {
  return logFiles(log).reduce((n, f) => n + (statSync(f, { throwIfNoEntry: false })?.size ?? 0), 0);
}

/**
 * Waits for the writer's start mark (then samples the manager's CPU), then for the log to stop changing after
 * the writer's end mark. Done = the last time the live file's size or the number of files changed (polled
 * every 2 ms); the sum over all files is checked once it has been still for 500 ms.
 */
async function measure({ mark, log, pid }) {
  const deadline = Date.now() + 300_000;
  let m = {};
  while (!(m = readMark(mark)).start) {
    if (Date.now() > deadline) throw new Error('the writer never started');
    await delay(2);
  }
  const cpu0 = pid ? cpuMs(pid) : NaN;
  let seen = '';
  let changedAt = Date.now();
  for (;;) {
    const p = progress(log);
    if (p !== seen) {
      seen = p;
      changedAt = Date.now();
    }
    m = readMark(mark);
    const still = Date.now() - changedAt;
    if (m.end && still > 500 && totalBytes(log) >= LINES * LINE_BYTES) break;
    if (m.end && still > 5000) break; // lines lost: stop waiting
    if (Date.now() > deadline) throw new Error(`timed out: ${totalBytes(log)} bytes in ${log}*`);
    await delay(2);
  }
  const cpu1 = pid ? cpuMs(pid) : NaN;
  return { ms: changedAt - m.start, writerMs: m.end - m.start, cpuMs: cpu1 - cpu0 };
}

/** Lines missing, doubled or torn in the log's files: each line must end with its 10-digit number and the padding. */
function countLost(log) {
  const seen = new Uint8Array(LINES + 1);
  let dup = 0;
  let bad = 0;
  for (const file of logFiles(log)) {
    const text = readFileSync(file, 'latin1');
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl < 0) {
        if (start < text.length) bad++; // a last line without its newline
        break;
      }
      const at = nl - 99; // the number starts 99 bytes before the newline, after any timestamp prefix
      const n = at >= start ? Number(text.slice(at, at + 10)) : NaN;
      if (Number.isInteger(n) && n >= 1 && n <= LINES && text.slice(at + 10, nl) === PAD) {
        if (seen[n]) dup++;
        seen[n] = 1;
      } else bad++;
      start = nl + 1;
    }
  }
  let missing = 0;
  for (let i = 1; i <= LINES; i++) if (!seen[i]) missing++;
  return missing + dup + bad;
}

const PAD = 'x'.repeat(89);

const env = (mark) => ({ ...process.env, BENCH_MARK: mark, BENCH_DELAY_MS: '500' });

const VARIANTS = {
  async direct(dir) {
    const mark = join(dir, 'mark');
    const log = join(dir, 'out.log');
    const child = spawn('/bin/sh', ['-c', `exec "${process.execPath}" "${WRITER}" ${LINES} > "${log}"`], { env: env(mark), stdio: 'ignore' });
    const r = await measure({ mark, log, pid: 0 });
    await new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', resolve)));
    return { ...r, cpuMs: NaN, log };
  },
  drover: (dir) => runDrover(dir, false),
  'drover timestamps': (dir) => runDrover(dir, true),
  async supervisord(dir) {
    const mark = join(dir, 'mark');
    const log = join(dir, 'out.log');
    const conf = writeFile(
      dir,
      'supervisord.conf',
      `${supervisordHeader(dir)}
[program:w]
command=${process.execPath} ${WRITER} ${LINES}
stdout_logfile=${log}
stdout_logfile_maxbytes=${MAX_BYTES}
stdout_logfile_backups=${BACKUPS}
stderr_logfile=NONE
autorestart=false
startsecs=0
`,
    );
    const d = await startSupervisord(conf, dir, { env: env(mark) });
    const r = await measure({ mark, log, pid: d.pid });
    await d.stop('SIGTERM', 30_000);
    return { ...r, log };
  },
  pm2: (dir) => runPm2(dir, false),
  'pm2 time': (dir) => runPm2(dir, true),
};

async function runDrover(dir, timestamps) {
  const mark = join(dir, 'mark');
  const log = join(dir, 'out.log');
  const conf = writeFile(
    dir,
    'drover.conf',
    `[supervisord]
silent = true
logfile = ${join(dir, 'drover.log')}

[program:w]
command = ${process.execPath} ${WRITER} ${LINES}
stdout_logfile = ${log}
stdout_logfile_maxbytes = ${MAX_BYTES}
stdout_logfile_backups = ${BACKUPS}
stderr_logfile = NONE
autorestart = false
startsecs = 0
timestamps = ${timestamps}
`,
  );
  const d = startDrover(conf, { env: env(mark) });
  const r = await measure({ mark, log, pid: d.pid });
  await d.stop('SIGTERM', 30_000);
  return { ...r, log };
}

async function runPm2(dir, time) {
  const mark = join(dir, 'mark');
  const log = join(dir, 'out.log');
  const pm2 = createPm2(join(dir, 'pm2-home'));
  await pm2.connect();
  await pm2.start({
    name: 'w',
    script: WRITER,
    args: [String(LINES)],
    autorestart: false,
    out_file: log,
    error_file: join(dir, 'err.log'),
    merge_logs: true,
    time,
    env: { BENCH_MARK: mark, BENCH_DELAY_MS: '500' },
  });
  const r = await measure({ mark, log, pid: pm2.godPid() });
  await pm2.kill();
  return { ...r, log };
}

await runMain(async () => {
  const names = values.variants ? values.variants.split(',') : Object.keys(VARIANTS);
  for (const n of names) if (!VARIANTS[n]) throw new Error(`unknown variant ${n}; known: ${Object.keys(VARIANTS).join(', ')}`);
  const results = Object.fromEntries(names.map((n) => [n, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const name of rotate(names, round)) {
      const dir = tempDir('drover-bench-logs-');
      const r = await VARIANTS[name](dir);
      r.lost = countLost(r.log);
      results[name].push(r);
      console.error(`round ${round + 1} ${name}: ${fmtMs(r.ms)} (writer ${fmtMs(r.writerMs)}), cpu ${fmtMs(r.cpuMs)}, lost ${r.lost}`);
    }
  }
  const direct = results.direct ? median(results.direct.map((r) => r.ms)) : NaN;
  const supCpu = results.supervisord ? median(results.supervisord.map((r) => r.cpuMs)) : NaN;
  const rows = names.map((n) => {
    const rs = results[n];
    const ms = median(rs.map((r) => r.ms));
    const cpu = median(rs.map((r) => r.cpuMs));
    const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) ? fmtRatio(a, b) : 'n/a');
    return [n, fmtMs(ms), fmtMs(median(rs.map((r) => r.writerMs))), ratio(ms, direct), Number.isFinite(cpu) ? fmtMs(cpu) : 'n/a', ratio(cpu, supCpu), String(rs.reduce((a, r) => a + r.lost, 0))];
  });
  const rotation = MAX_BYTES > 0 ? `rotation at ${MAX_BYTES} bytes, ${BACKUPS} backups (drover, supervisord)` : 'no rotation';
  console.log(environmentReport(`Log throughput: ${LINES.toLocaleString('en')} lines of ${LINE_BYTES} bytes, ${rotation}, ${ROUNDS} rounds`, `node logs-throughput.mjs --lines ${LINES} --rounds ${ROUNDS} --maxbytes ${MAX_BYTES}${values.variants ? ` --variants ${values.variants}` : ''}`));
  console.log(table(['variant', 'all lines in the files (median)', 'writer alone (median)', '/ direct', 'manager CPU (median)', 'CPU / supervisord', `lines lost, torn or doubled (all ${ROUNDS} rounds)`], rows));
});
