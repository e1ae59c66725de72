// Log throughput (issue 4): one program writes N lines of 100 bytes (one write per line) and exits. Measured:
// time from the writer's first line until every line is in the log file, the process manager's CPU time over
// that span (utime + stime from /proc, the daemon process only), and lines lost. Compared: the same program
// redirected straight to a file (the limit), drover, supervisord and PM2; also with timestamps (drover
// `timestamps = true`, PM2 `time: true`; supervisord has none). Tools interleave, order rotating per round.
//
// usage: node logs-throughput.mjs [--lines N] [--rounds R]     (defaults 1000000 and 3)
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BENCH_DIR, cpuMs, delay, environmentReport, fmtMs, fmtRatio, median, rotate, runMain, table, tempDir } from './lib.mjs';
import { createPm2, startDrover, startSupervisord, supervisordHeader, writeFile } from './tools.mjs';

const WRITER = join(BENCH_DIR, 'fixtures', 'log-writer.cjs');
const LINE_BYTES = 100;

const { values } = parseArgs({ options: { lines: { type: 'string', default: '1000000' }, rounds: { type: 'string', default: '3' } } });
const LINES = Number(values.lines);
const ROUNDS = Number(values.rounds);

function readMark(file) {
  const out = {};
  if (!existsSync(file)) return out;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const [k, v] = line.split(' ');
    if (k) out[k] = Number(v);
  }
  return out;
}

/**
 * Waits for the writer's start mark (then samples the manager's CPU), then for the log to stop growing after
 * the writer's end mark. Done = the last time the file's size changed (polled every 2 ms).
 */
async function measure({ mark, log, pid }) {
  const deadline = Date.now() + 300_000;
  let m = {};
  while (!(m = readMark(mark)).start) {
    if (Date.now() > deadline) throw new Error('the writer never started');
    await delay(2);
  }
  const cpu0 = pid ? cpuMs(pid) : NaN;
  let size = -1;
  let changedAt = Date.now();
  for (;;) {
    const s = existsSync(log) ? statSync(log).size : 0;
    if (s !== size) {
      size = s;
      changedAt = Date.now();
    }
    m = readMark(mark);
    if (m.end && size >= LINES * LINE_BYTES && Date.now() - changedAt > 500) break;
    if (m.end && Date.now() - changedAt > 5000) break; // lines lost: stop waiting
    if (Date.now() > deadline) throw new Error(`timed out: ${size} bytes in ${log}`);
    await delay(2);
  }
  const cpu1 = pid ? cpuMs(pid) : NaN;
  return { ms: changedAt - m.start, writerMs: m.end - m.start, cpuMs: cpu1 - cpu0 };
}

/** Lines missing or duplicated in the log: each line must end with its 10-digit number and the padding. */
function countLost(log) {
  const seen = new Uint8Array(LINES + 1);
  const text = readFileSync(log, 'latin1');
  let dup = 0;
  let bad = 0;
  let start = 0;
  for (;;) {
    const nl = text.indexOf('\n', start);
    if (nl < 0) break;
    const at = nl - 99; // the number starts 99 bytes before the newline, after any timestamp prefix
    const n = at >= start ? Number(text.slice(at, at + 10)) : NaN;
    if (Number.isInteger(n) && n >= 1 && n <= LINES) {
      if (seen[n]) dup++;
      seen[n] = 1;
    } else bad++;
    start = nl + 1;
  }
  let missing = 0;
  for (let i = 1; i <= LINES; i++) if (!seen[i]) missing++;
  return missing + dup + bad;
}

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
stdout_logfile_maxbytes=0
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
stdout_logfile_maxbytes = 0
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
  const names = Object.keys(VARIANTS);
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
  const direct = median(results.direct.map((r) => r.ms));
  const sup = results.supervisord;
  const supCpu = median(sup.map((r) => r.cpuMs));
  const rows = names.map((n) => {
    const rs = results[n];
    const ms = median(rs.map((r) => r.ms));
    const cpu = median(rs.map((r) => r.cpuMs));
    return [n, fmtMs(ms), fmtMs(median(rs.map((r) => r.writerMs))), fmtRatio(ms, direct), Number.isFinite(cpu) ? fmtMs(cpu) : 'n/a', Number.isFinite(cpu) ? fmtRatio(cpu, supCpu) : 'n/a', String(rs.reduce((a, r) => a + r.lost, 0))];
  });
  console.log(environmentReport(`Log throughput: ${LINES.toLocaleString('en')} lines of ${LINE_BYTES} bytes, ${ROUNDS} rounds`, `node logs-throughput.mjs --lines ${LINES} --rounds ${ROUNDS}`));
  console.log(table(['variant', 'all lines in the file (median)', 'writer alone (median)', '/ direct', 'manager CPU (median)', 'CPU / supervisord', `lines lost (all ${ROUNDS} rounds)`], rows));
});
