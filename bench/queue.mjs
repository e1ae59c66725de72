// Issue 5: the master's task queue against the raw IPC channel it runs on.
//
//   raw IPC   a parent forks a child over Node's IPC channel and keeps K messages in flight; the child
//             echoes each one (one process.send per message): round trips per second, p50/p99.
//   drover    `drover up` with 2 job workers; each keeps K/2 tasks circulating: take → ack → push the next
//             (the push carries its time), so a round trip is push → deliver → process (nothing) → ack,
//             measured from the push to the ack's answer. Round trips per second over both workers.
//
// Usage: node queue.mjs [--tasks N] [--window K,K2,...] [--rounds R]   (defaults: 20000, 2,64, 1)
// Results are printed as Markdown on stdout; progress on stderr.
import { fork, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DROVER_BIN, ROOT_DIR, quantile, waitFor } from './lib.mjs';

const { values } = parseArgs({
  options: { tasks: { type: 'string', default: '20000' }, window: { type: 'string', default: '2,64' }, rounds: { type: 'string', default: '1' }, child: { type: 'boolean' } },
});


async function rawIpc(tasks, window) {
  const child = fork(new URL(import.meta.url).pathname, ['--child'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await new Promise((r) => child.once('spawn', r));
  const lat = [];
  let sent = 0;
  let done = 0;
  const start = performance.now();
  await new Promise((resolve) => {
    const send = () => {
      sent += 1;
      child.send({ t: 'x', at: performance.now(), n: sent });
    };
    child.on('message', (m) => {
      lat.push(performance.now() - m.at);
      done += 1;
      if (done === tasks) resolve();
      else if (sent < tasks) send();
    });
    for (let i = 0; i < window && sent < tasks; i++) send();
  });
  const ms = performance.now() - start;
  child.kill();
  return { rate: (tasks / ms) * 1000, p50: quantile(lat, 0.5), p99: quantile(lat, 0.99) };
}

const WORKER = `import { writeFileSync } from 'node:fs';
import { defineWorker } from 'drover';
const now = () => performance.timeOrigin + performance.now();
export default defineWorker({
  async run(ctx) {
    const q = ctx.queue('bench');
    const budget = Number(process.env.TASKS_PER_WORKER);
    const inFlight = Number(process.env.IN_FLIGHT);
    const lat = [];
    let pushed = 0;
    // wait for both workers to be up, so neither runs alone at first
    await ctx.state.increment('up');
    await new Promise((resolve) => ctx.state.watch('up', (v) => v >= 2 && resolve()));
    const start = now();
    for (; pushed < inFlight; pushed++) await q.push({ at: now() });
    let done = 0;
    // each worker takes exactly as many tasks as it pushes: a take is reserved before it is sent
    let reserved = 0;
    const slot = async () => {
      let settling = Promise.resolve();
      for (;;) {
        if (reserved >= budget) return settling;
        reserved += 1;
        // the next take goes in the same message as the previous task's ack and follow-up push (what
        // queue.process() does)
        const taking = q.take();
        await settling;
        const task = await taking;
        if (!task) return;
        const acked = task.ack().then(() => lat.push(now() - task.data.at));
        const more = pushed < budget ? (pushed++, q.push({ at: now() })) : null;
        settling = Promise.all([acked, more]).then(() => void (done += 1));
      }
    };
    await Promise.all(Array.from({ length: inFlight }, slot));
    const end = now();
    writeFileSync(process.env.OUT_DIR + '/' + process.pid + '.json', JSON.stringify({ start, end, done, lat }));
    await new Promise((r) => ctx.signal.addEventListener('abort', r));
  },
});
`;

async function droverQueue(tasks, window) {
  const dir = mkdtempSync(join(tmpdir(), 'drover-bench-queue-'));
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(ROOT_DIR, join(dir, 'node_modules', 'drover'));
  mkdirSync(join(dir, 'out'));
  writeFileSync(join(dir, 'worker.mjs'), WORKER);
  const perWorker = Math.ceil(tasks / 2);
  writeFileSync(
    join(dir, 'drover.ini'),
    `[program:bench]
worker = ${join(dir, 'worker.mjs')}
numprocs = 2
environment = TASKS_PER_WORKER="${perWorker}",IN_FLIGHT="${Math.max(1, Math.floor(window / 2))}",OUT_DIR="${join(dir, 'out')}"
stdout_logfile = NONE
`,
  );
  const up = spawn(process.execPath, [DROVER_BIN, 'up', '-c', join(dir, 'drover.ini')], { cwd: dir, stdio: 'ignore', detached: true });
  try {
    await waitFor(() => readdirSync(join(dir, 'out')).length === 2, { timeoutMs: 600_000, what: 'both workers to finish' });
    const results = readdirSync(join(dir, 'out')).map((f) => JSON.parse(readFileSync(join(dir, 'out', f), 'utf8')));
    const start = Math.min(...results.map((r) => r.start));
    const end = Math.max(...results.map((r) => r.end));
    const done = results.reduce((s, r) => s + r.done, 0);
    const lat = results.flatMap((r) => r.lat);
    return { rate: (done / (end - start)) * 1000, p50: quantile(lat, 0.5), p99: quantile(lat, 0.99) };
  } finally {
    process.kill(-up.pid, 'SIGTERM');
    await new Promise((r) => (up.exitCode !== null ? r() : up.once('exit', r)));
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  const tasks = Number(values.tasks);
  const windows = values.window.split(',').map(Number);
  const rounds = Number(values.rounds);
  const rows = [];
  for (const window of windows) {
    for (let round = 0; round < rounds; round++) {
      // alternate the order each round so that drift in the machine's load hits both alike
      const order = round % 2 === 0 ? ['raw', 'drover'] : ['drover', 'raw'];
      const got = {};
      for (const which of order) {
        process.stderr.write(`window ${window}, round ${round + 1}: ${which}…\n`);
        got[which] = which === 'raw' ? await rawIpc(tasks, window) : await droverQueue(tasks, window);
      }
      rows.push({ window, round, ...got });
    }
  }
  const f = (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
  console.log(`Node ${process.version}, ${tasks} round trips per run, ${rounds} round(s) per window.\n`);
  console.log('| in flight | raw IPC round trips/s | p50 | p99 | drover queue round trips/s | p50 | p99 | drover / raw |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) {
    console.log(
      `| ${r.window} | ${f(r.raw.rate)} | ${f(r.raw.p50)} ms | ${f(r.raw.p99)} ms | ${f(r.drover.rate)} | ${f(r.drover.p50)} ms | ${f(r.drover.p99)} ms | ${(r.drover.rate / r.raw.rate).toFixed(2)} |`,
    );
  }
}

// --- the raw IPC child echoes every message; the parent runs the benchmark ---
if (values.child) process.on('message', (m) => process.send(m));
else await main();
