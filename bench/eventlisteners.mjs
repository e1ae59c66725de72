// Event listeners (issue 13): drover vs supervisord 4.2, each run the same way in the same run.
//
// (a) latency: a listener subscribed to PROCESS_STATE_EXITED (fixtures/event-timer.py) waits READY; the
//     bench SIGKILLs the supervised `victim` (a sleep, autorestart) and measures from just before the kill
//     (wall clock, µs) to the moment the listener has read the event's header line (its own clock, the same
//     machine's). That is the whole path a user sees: the exit noticed, the state changed, the event sent.
//     p50 and p90 over --kills kills per round; the listener is READY before each kill. Also from the state
//     change itself: the time each daemon logs for victim's exit (ms resolution: drover's `victim: running →
//     exited` line, supervisord's `exited: victim` line in its log) to the listener's read.
// (b) throughput: `writer` (fixtures/rate-writer.mjs) writes --rate lines a second for --seconds, one
//     write(2) each, with stdout_events_enabled; a listener on PROCESS_LOG_STDOUT (buffer_size 100000)
//     notes every event. Reported: lines and events delivered per second (first to last delivery), lines
//     lost (queue overflow), and the writer's stall (how much later than its schedule it finished: a
//     process manager that stops reading the pipe makes its writes block).
//
// usage: node eventlisteners.mjs [--rounds N] [--kills N] [--rate N] [--seconds N] [--tools drover,supervisord] [--no-wait]
//        defaults: 3 rounds, 30 kills, 10000 lines/s, 5 s. Smoke run: --rounds 1 --kills 3 --seconds 1 --no-wait
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  BENCH_DIR,
  delay,
  environmentReport,
  fmtMs,
  fmtRatio,
  median,
  p90,
  runMain,
  table,
  tempDir,
  waitFor,
  waitQuiet,
} from './lib.mjs';
import { startDrover, startSupervisord, supervisordHeader, writeFile } from './tools.mjs';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    kills: { type: 'string', default: '30' },
    rate: { type: 'string', default: '10000' },
    seconds: { type: 'string', default: '5' },
    tools: { type: 'string', default: 'drover,supervisord' },
    // smoke runs while tests run elsewhere: do not wait for a quiet machine (the figures are then noise)
    'no-wait': { type: 'boolean', default: false },
  },
});
const ROUNDS = Number(values.rounds);
const KILLS = Number(values.kills);
const RATE = Number(values.rate);
const SECONDS = Number(values.seconds);
const TOOLS = values.tools.split(',');
const TIMER = join(BENCH_DIR, 'fixtures', 'event-timer.py');
const WRITER = join(BENCH_DIR, 'fixtures', 'rate-writer.mjs');

/** The listeners and programs, the same for both tools. */
function programs(dir) {
  return `
[eventlistener:lat]
command=/usr/bin/python3 ${TIMER}
events=PROCESS_STATE_EXITED
environment=BENCH_OUT="${join(dir, 'lat.txt')}"

[eventlistener:logs]
command=/usr/bin/python3 ${TIMER}
events=PROCESS_LOG_STDOUT
buffer_size=100000
environment=BENCH_OUT="${join(dir, 'logs.txt')}"

[program:victim]
command=/bin/sleep 100000
autorestart=true
startsecs=0

[program:writer]
command=${process.execPath} ${WRITER} ${RATE} ${SECONDS}
autostart=false
startsecs=0
stdout_events_enabled=true
stdout_logfile=NONE
environment=BENCH_MARK="${join(dir, 'writer.txt')}",BENCH_DELAY_MS="300"
`;
}

async function startTool(tool, dir) {
  if (tool === 'drover') {
    const conf = writeFile(dir, 'drover.conf', `[unix_http_server]\nfile=${join(dir, 'supervisor.sock')}\n${programs(dir)}`);
    const exits = [];
    const d = startDrover(conf, {
      onLine: (line) => {
        const m = /^(\S+) INFO victim: running → exited/.exec(line);
        if (m) exits.push(Date.parse(m[1]));
      },
    });
    return { ...d, socket: join(dir, 'supervisor.sock'), exits: () => exits };
  }
  const conf = writeFile(dir, 'supervisord.conf', supervisordHeader(dir) + programs(dir));
  const d = await startSupervisord(conf, dir);
  const exits = () => {
    const log = join(dir, 'supervisord.log');
    if (!existsSync(log)) return [];
    // supervisord logs local time with a comma before the milliseconds
    return [...readFileSync(log, 'utf8').matchAll(/^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d),(\d{3}) \w+ exited: victim /gm)].map((m) => new Date(`${m[1]}T${m[2]}.${m[3]}`).getTime());
  };
  return { ...d, exits };
}

/** A supervisor XML-RPC call with string or boolean parameters over the unix socket; the body as text. */
function rpc(socketPath, method, ...params) {
  const enc = (p) => (typeof p === 'boolean' ? `<boolean>${p ? 1 : 0}</boolean>` : `<string>${p}</string>`);
  const body = `<?xml version="1.0"?><methodCall><methodName>${method}</methodName><params>${params.map((p) => `<param><value>${enc(p)}</value></param>`).join('')}</params></methodCall>`;
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, path: '/RPC2', method: 'POST', headers: { 'Content-Type': 'text/xml', 'Content-Length': Buffer.byteLength(body) }, timeout: 5000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve(text));
    });
    req.on('timeout', () => req.destroy(new Error(`XML-RPC ${method} timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** statename and pid of one process, from getProcessInfo; null when the daemon does not answer yet. */
async function processInfo(socket, name) {
  let xml;
  try {
    xml = await rpc(socket, 'supervisor.getProcessInfo', name);
  } catch {
    return null; // not listening yet
  }
  const state = /<name>statename<\/name>\s*<value><string>([A-Z]+)</.exec(xml)?.[1];
  const pid = Number(/<name>pid<\/name>\s*<value><int>(\d+)</.exec(xml)?.[1] ?? 0);
  return state ? { state, pid } : null;
}

/** The listener's notes: { us, event, lines, pid }. */
function notes(file) {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const [us, event, lines, pid] = l.split(' ');
      return { us: Number(us), event, lines: Number(lines), pid: pid === '-' ? 0 : Number(pid) };
    });
}

const wallUs = () => Math.round((performance.timeOrigin + performance.now()) * 1000);

async function measureLatency(tool, t, dir) {
  const file = join(dir, 'lat.txt');
  await waitFor(async () => (await processInfo(t.socket, 'lat'))?.state === 'RUNNING', { timeoutMs: 20_000, what: `${tool}: the listener running` });
  const samples = [];
  const fromChange = [];
  let last = 0;
  for (let k = 0; k < KILLS; k++) {
    const info = await waitFor(
      async () => {
        const i = await processInfo(t.socket, 'victim');
        return i && i.state === 'RUNNING' && i.pid !== last ? i : null;
      },
      { timeoutMs: 20_000, what: `${tool}: victim running again` },
    );
    // the listener has answered the last event and said READY again long before this
    await delay(150);
    const t0 = wallUs();
    process.kill(info.pid, 'SIGKILL');
    const seen = await waitFor(() => notes(file).find((n) => n.pid === info.pid) ?? null, { timeoutMs: 10_000, what: `${tool}: the listener to get EXITED of ${info.pid}` });
    samples.push((seen.us - t0) / 1000);
    const changedMs = await waitFor(() => t.exits()[k] ?? null, { timeoutMs: 5000, what: `${tool}: its log line for exit ${k + 1}` });
    fromChange.push(seen.us / 1000 - changedMs);
    last = info.pid;
  }
  return { samples, fromChange };
}

async function measureThroughput(tool, t, dir) {
  const file = join(dir, 'logs.txt');
  const mark = join(dir, 'writer.txt');
  await waitFor(async () => (await processInfo(t.socket, 'logs'))?.state === 'RUNNING', { timeoutMs: 20_000, what: `${tool}: the log listener running` });
  await rpc(t.socket, 'supervisor.startProcess', 'writer', false);
  const end = await waitFor(() => (existsSync(mark) ? /end (\d+) (\d+)/.exec(readFileSync(mark, 'utf8')) : null), { timeoutMs: SECONDS * 1000 + 60_000, what: `${tool}: the writer to finish` });
  const start = Number(/start (\d+)/.exec(readFileSync(mark, 'utf8'))[1]);
  // delivery goes on after the writer ends: wait until nothing has arrived for a second
  let count = -1;
  for (let idle = 0; idle < 10 && count !== notes(file).length; idle++) {
    count = notes(file).length;
    await delay(1000);
  }
  const got = notes(file);
  const lines = got.reduce((n, e) => n + e.lines, 0);
  const spanS = got.length > 1 ? (got[got.length - 1].us - got[0].us) / 1e6 : 0;
  return {
    written: Number(end[2]),
    lines,
    events: got.length,
    linesPerS: spanS > 0 ? lines / spanS : 0,
    eventsPerS: spanS > 0 ? got.length / spanS : 0,
    lost: Number(end[2]) - lines,
    stallMs: Number(end[1]) - start - SECONDS * 1000,
  };
}

async function main() {
  console.log(environmentReport('Event listeners: drover vs supervisord', `node eventlisteners.mjs ${process.argv.slice(2).join(' ')}`));
  const lat = Object.fromEntries(TOOLS.map((t) => [t, []]));
  const change = Object.fromEntries(TOOLS.map((t) => [t, []]));
  const thr = Object.fromEntries(TOOLS.map((t) => [t, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const tool of round % 2 === 0 ? TOOLS : [...TOOLS].reverse()) {
      if (!values['no-wait']) await waitQuiet();
      const dir = tempDir(`drover-bench-ev-${tool}-`);
      const t = await startTool(tool, dir);
      try {
        const { samples: l, fromChange } = await measureLatency(tool, t, dir);
        lat[tool].push(...l);
        change[tool].push(...fromChange);
        const r = await measureThroughput(tool, t, dir);
        thr[tool].push(r);
        process.stderr.write(`round ${round + 1} ${tool}: latency p50 ${fmtMs(median(l))} (${fmtMs(median(fromChange))} from the logged change); ${Math.round(r.linesPerS)} lines/s in ${Math.round(r.eventsPerS)} events/s, ${r.lost} lost, writer ${r.stallMs} ms behind\n`);
      } finally {
        await t.stop('SIGTERM', 30_000);
      }
    }
  }
  const row = (tool) => {
    const r = thr[tool];
    const med = (f) => median(r.map(f));
    return [tool, fmtMs(median(lat[tool])), fmtMs(p90(lat[tool])), fmtMs(median(change[tool])), `${Math.round(med((x) => x.linesPerS))}`, `${Math.round(med((x) => x.eventsPerS))}`, `${med((x) => x.lost)}`, `${med((x) => x.stallMs)} ms`];
  };
  process.stdout.write(
    `\n## Results (${ROUNDS} round(s), ${KILLS} kills and ${RATE} lines/s × ${SECONDS} s per round)\n\n` +
      table(['tool', 'kill → listener p50', 'p90', 'logged change → listener p50', 'PROCESS_LOG lines/s', 'events/s', 'lines lost', 'writer behind'], TOOLS.map(row)) +
      (TOOLS.includes('drover') && TOOLS.includes('supervisord') ? `\nlatency p50 drover/supervisord: ${fmtRatio(median(lat.drover), median(lat.supervisord))}\n` : ''),
  );
}

await runMain(main);
