// How a job worker ends, and the edges of its shared primitives (an audit of the seventeenth session): a
// run() that throws while stop() hangs still ends the worker and frees its lock; a lock wait ends when its
// worker begins to stop; max_requests counts a job worker's tasks; a spare job worker runs stop() too; a
// watch gives its first value before later changes; a process a worker forked gets E_NO_MASTER instead of
// waiting for ever; numbers JSON cannot carry are refused; a delay past Node's longest timer does not spin.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseServerUrl, requestJson } from '../../src/control/client.js';
import { assertStaysFor, makeTmpDir, runCli, startUp, teardown, waitForAsync, writeConfig, type CliRun } from '../helpers/drover.js';
import { linkDrover } from '../helpers/shared.js';

/** Writes the worker modules and the config into a new directory and starts drover on it. */
async function boot(files: Record<string, string>, config: string): Promise<{ run: CliRun; dir: string; conf: string }> {
  const dir = makeTmpDir();
  linkDrover(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  const conf = writeConfig(dir, config.replaceAll('DIR', dir));
  return { run: await startUp(conf), dir, conf };
}

const untilStopped = `await new Promise((r) => ctx.signal.addEventListener('abort', r));`;

test('run() that throws while its stop() hangs: the error is logged, the worker leaves within graceful_timeout, its lock goes to the next waiter', async () => {
  const RS = `import { defineWorker } from 'drover';
export default defineWorker({
  async run(ctx) {
    if (ctx.name.endsWith('_0')) {
      await ctx.lock('L');
      await ctx.state.set('held', true);
      // throws once the other worker waits behind it
      await new Promise((resolve) => ctx.state.watch('queued', (v) => v && resolve()));
      throw new Error('boom in run');
    }
    await new Promise((resolve) => ctx.state.watch('held', (v) => v && resolve()));
    const waiting = ctx.lock('L');
    await ctx.state.set('queued', true);
    const l = await waiting;
    ctx.log('got L token ' + l.token);
    ${untilStopped}
  },
  stop() {
    return new Promise(() => {}); // never resolves
  },
});
`;
  const { run, dir } = await boot({ 'rs.mjs': RS }, `[program:rs]\nworker = DIR/rs.mjs\nnumprocs = 2\ngraceful_timeout = 2s\nautorestart = false\n`);
  try {
    await run.waitForLine(/rs_0 ! drover worker rs_0: run\(\) failed: Error: boom in run/, { timeoutMs: 10_000 });
    await run.waitForLine(/rs_1 \| got L token \d+/, { timeoutMs: 10_000 });
    await run.waitForLine(/rs_0: running → exited \(exit status 1/, { timeoutMs: 10_000 });
  } finally {
    await teardown(run, [], dir);
  }
});

test('a lock wait ends when its worker begins to stop (the stop does not wait out graceful_timeout); a free lock asked for after is granted', async () => {
  const LK = `import { defineWorker } from 'drover';
export default defineWorker({
  async run(ctx) {
    if (ctx.name.endsWith('_0')) {
      await ctx.lock('L');
      await ctx.state.set('held', true);
      ${untilStopped}
      return;
    }
    await new Promise((resolve) => ctx.state.watch('held', (v) => v && resolve()));
    ctx.log('waiting');
    try {
      await ctx.lock('L');
      ctx.log('got it');
    } catch (err) {
      ctx.log('wait ended: ' + err.name);
    }
    // work still in flight when the stop began may take a lock that is free
    const m = await ctx.lock('M');
    ctx.log('took M after the stop began, token ' + m.token);
    await m.release();
  },
});
`;
  const { run, dir, conf } = await boot({ 'lk.mjs': LK }, `[program:lk]\nworker = DIR/lk.mjs\nnumprocs = 2\ngraceful_timeout = 120s\n`);
  try {
    await run.waitForLine(/lk_1 \| waiting/, { timeoutMs: 10_000 });
    const stop = runCli(['stop', 'lk:lk_1', '-c', conf], { timeoutMs: 20_000 });
    await run.waitForLine(/lk_1 \| wait ended: AbortError/, { timeoutMs: 10_000 });
    await run.waitForLine(/lk_1 \| took M after the stop began, token \d+/, { timeoutMs: 10_000 });
    await run.waitForLine(/lk_1: stopping → stopped/, { timeoutMs: 10_000 });
    assert.equal((await stop).code, 0);
  } finally {
    await teardown(run, [], dir);
  }
});

test('max_requests on a job worker counts its tasks: after 3 it is recycled, and every task runs once', async () => {
  const MR = `import { defineWorker } from 'drover';
export default defineWorker({
  async run(ctx) {
    await ctx.queue('q').process((task) => ctx.log('task ' + task.data.n + ' in ' + process.pid));
  },
});
`;
  const { run, dir } = await boot({ 'mr.mjs': MR }, `[program:mr]\nworker = DIR/mr.mjs\nmax_requests = 3\n`);
  try {
    await run.waitForLine(/mr_0: starting → running/);
    const ep = parseServerUrl(`unix://${join(dir, '.drover', 'drover.sock')}`);
    for (let n = 1; n <= 5; n++) {
      const r = await requestJson(ep, 'POST', '/api/queue/push', { queue: 'q', task: { n } });
      assert.equal(r.body['ok'], true, JSON.stringify(r.body));
    }
    // as an HTTP worker does, the old one works on until its successor is ready
    await run.waitForLine(/recycling worker \d+ \(settled 3 tasks \(max_requests\)\)/, { timeoutMs: 10_000 });
    await run.waitForLine(/mr_1: starting → running/, { timeoutMs: 15_000 });
    await run.waitForLine(/mr_0: stopping → stopped/, { timeoutMs: 15_000 });
    const r = await requestJson(ep, 'POST', '/api/queue/push', { queue: 'q', task: { n: 6 } });
    assert.equal(r.body['ok'], true, JSON.stringify(r.body));
    await run.waitForLine(/mr_1 \| task 6 in \d+/, { timeoutMs: 10_000 });
    for (let n = 1; n <= 6; n++) assert.equal(run.count(new RegExp(`mr_\\d \\| task ${n} in`, 'g')), 1, `task ${n} ran once\n${run.describe()}`);
  } finally {
    await teardown(run, [], dir);
  }
});

test('a spare job worker undoes its setup(): stop() runs when it leaves without having served', async () => {
  const SP = `import { defineWorker } from 'drover';
export default defineWorker({
  setup(ctx) {
    ctx.log('setup ' + process.pid);
  },
  async run(ctx) {
    ${untilStopped}
  },
  stop(ctx) {
    ctx.log('stop ran ' + process.pid);
  },
});
`;
  const { run, dir } = await boot({ 'sp.mjs': SP }, `[program:sp]\nworker = DIR/sp.mjs\nspare_workers = 1\n`);
  try {
    await run.waitForCount(/\| setup \d+/g, 2, 15_000);
    run.signal('SIGTERM');
    await run.waitForExit(15_000);
    const setups = [...run.output.matchAll(/\| setup (\d+)/g)].map((m) => m[1]).sort();
    const stops = [...run.output.matchAll(/\| stop ran (\d+)/g)].map((m) => m[1]).sort();
    assert.deepEqual(stops, setups, `every process that ran setup() ran stop()\n${run.describe()}`);
  } finally {
    await teardown(run, [], dir);
  }
});

test('a watch gives its first value before later changes; a forked child gets E_NO_MASTER; NaN is refused; a 30-day delay does not spin', async () => {
  const PROBE = `import { defineWorker, state } from 'drover';
import { fork } from 'node:child_process';
export default defineWorker({
  async run(ctx) {
    const seen = [];
    // one message carries both answers and the change: the change must come after the first value
    await Promise.all([ctx.state.watch('k', (v) => seen.push(v ?? null)), ctx.state.set('k', 2)]);
    await ctx.state.get('k');
    ctx.log('seen ' + JSON.stringify(seen));
    try {
      await state.increment('n', Number.NaN);
      ctx.log('NaN: accepted');
    } catch (err) {
      ctx.log('NaN: ' + err.code);
    }
    const child = fork(new URL('./helper.mjs', import.meta.url));
    child.on('message', (m) => ctx.log('child: ' + m));
    ${untilStopped}
  },
});
`;
  const HELPER = `import { state } from 'drover';
try {
  await state.get('k');
  process.send('answered');
} catch (err) {
  process.send(err.code);
}
process.disconnect();
`;
  const { run, dir, conf } = await boot({ 'probe.mjs': PROBE, 'helper.mjs': HELPER }, `[program:probe]\nworker = DIR/probe.mjs\n`);
  try {
    await run.waitForLine(/probe_0 \| seen \[null,2\]/, { timeoutMs: 10_000 });
    await run.waitForLine(/probe_0 \| NaN: E_BAD_ARGUMENTS/, { timeoutMs: 10_000 });
    await run.waitForLine(/probe_0 \| child: E_NO_MASTER/, { timeoutMs: 10_000 });
    // 2^31 ms and more: Node fires such a timer at once, and the master re-armed it for ever
    const pushed = await runCli(['queue', 'push', 'later', '{"x":1}', '--delay', '2600000000', '-c', conf]);
    assert.equal(pushed.code, 0, pushed.output);
    await assertStaysFor(1500, () => !/TimeoutOverflowWarning/.test(run.output), 'no TimeoutOverflowWarning');
    const stats = await runCli(['queue', 'stats', '--json', '-c', conf]);
    assert.match(stats.stdout, /"delayed": ?1\b/, stats.output);
  } finally {
    await teardown(run, [], dir);
  }
});

test('a setup() that never returns is killed after timeout, named in the log, as a failed start: backoff, then FATAL after startretries', async () => {
  const HANG = `import { defineWorker } from 'drover';
export default defineWorker({
  async setup(ctx) {
    ctx.log('setup began in ' + process.pid);
    await new Promise(() => {}); // a database that never answers
  },
  async run(ctx) {
    ${untilStopped}
  },
});
`;
  const { run, dir } = await boot({ 'hang.mjs': HANG }, `[program:hang]\nworker = DIR/hang.mjs\ntimeout = 2s\nstartretries = 1\n`);
  try {
    // its heartbeats used to begin before setup(), so the worker stayed STARTING for good and nothing was logged
    await run.waitForLine(/hang_0: worker \d+ sent no heartbeat for 2s \(it has not finished loading its module, or its setup\(\) has not returned\)/, { timeoutMs: 10_000 });
    await run.waitForLine(/hang_0: starting → backoff \(exited too quickly \(terminated by SIGKILL/, { timeoutMs: 10_000 });
    await run.waitForLine(/hang_0: backoff → fatal \(too many failed starts/, { timeoutMs: 20_000 });
    assert.equal(run.count(/hang_0 \| setup began in \d+/g), 2, `tried twice (startretries = 1)\n${run.describe()}`);
    assert.equal(run.count(/hang_0: starting → running/g), 0, `never counted as running\n${run.describe()}`);
  } finally {
    await teardown(run, [], dir);
  }
});

test('a task waiting for a lock when its worker is stopped goes back to the queue with no attempt spent; a handler that throws for its own reasons still spends one', async () => {
  const HOLDER = `import { defineWorker } from 'drover';
export default defineWorker({
  async run(ctx) {
    await ctx.lock('L');
    ctx.log('holding L');
    ${untilStopped}
  },
});
`;
  const JOBS = `import { defineWorker } from 'drover';
export default defineWorker({
  async run(ctx) {
    await ctx.queue('q').process(async (task) => {
      ctx.log('task ' + task.data.n + ' attempt ' + task.attempt);
      if (task.data.fail) throw new Error('its own failure');
      const l = await ctx.lock('L');
      ctx.log('task ' + task.data.n + ' got L');
      await l.release();
    });
  },
});
`;
  const { run, dir, conf } = await boot(
    { 'holder.mjs': HOLDER, 'jobs.mjs': JOBS },
    `[program:holder]\nworker = DIR/holder.mjs\n\n[program:jobs]\nworker = DIR/jobs.mjs\n`,
  );
  const stats = async (): Promise<Record<string, number>> => {
    const cli = await runCli(['queue', 'stats', 'q', '--json', '-c', conf]);
    assert.equal(cli.code, 0, cli.output);
    return (JSON.parse(cli.stdout) as { queues: Record<string, number>[] }).queues[0] ?? {};
  };
  try {
    await run.waitForLine(/holder_0 \| holding L/, { timeoutMs: 10_000 });
    await run.waitForLine(/jobs_0: starting → running/, { timeoutMs: 10_000 });
    // one attempt each: a spent attempt dead-letters it
    assert.equal((await runCli(['queue', 'push', 'q', '{"n":1}', '--max-attempts', '1', '-c', conf])).code, 0);
    await run.waitForLine(/jobs_0 \| task 1 attempt 1/, { timeoutMs: 10_000 });
    // a HUP roll or a graceful stop: the lock wait ends with an AbortError
    assert.equal((await runCli(['stop', 'jobs', '-c', conf], { timeoutMs: 20_000 })).code, 0);
    await run.waitForLine(/jobs_0: stopping → stopped/, { timeoutMs: 10_000 });
    const after = await stats();
    assert.deepEqual({ ready: after['ready'], dead: after['dead'] }, { ready: 1, dead: 0 }, `back in the queue, not dead-lettered (it used to be "nacked after 1 … (lock.acquire aborted)")\n${JSON.stringify(after)}\n${run.describe()}`);
    // the lock is free now: the same task runs to the end, still on its first attempt
    assert.equal((await runCli(['stop', 'holder', '-c', conf])).code, 0);
    assert.equal((await runCli(['start', 'jobs', '-c', conf])).code, 0);
    await run.waitForLine(/jobs_0 \| task 1 got L/, { timeoutMs: 10_000 });
    assert.equal(run.count(/jobs_0 \| task 1 attempt 1/g), 2, `delivered twice, both times as attempt 1\n${run.describe()}`);
    // a handler's own error spends its attempt, as before
    assert.equal((await runCli(['queue', 'push', 'q', '{"n":2,"fail":true}', '--max-attempts', '1', '-c', conf])).code, 0);
    await run.waitForLine(/jobs_0 \| task 2 attempt 1/, { timeoutMs: 10_000 });
    await waitForAsync(async () => (await stats())['dead'] === 1, 'task 2 to be dead-lettered', { describe: () => run.describe() });
  } finally {
    await teardown(run, [], dir);
  }
});

test('a handler that throws what String() cannot convert (no prototype, a throwing toString) or a retryInMs that throws: the task is nacked, the worker and its other tasks run on', async () => {
  const ODD = `import { defineWorker } from 'drover';
export default defineWorker({
  async run(ctx) {
    await ctx.queue('q').process(async (task) => {
      ctx.log('task ' + task.id + ' attempt ' + task.attempt);
      if (task.data.slow) {
        // finishes only once every odd task has been settled
        await new Promise((resolve) => ctx.state.watch('odd-done', (v) => v && resolve()));
        ctx.log('slow task finished');
        return;
      }
      if (task.data.kind === 'nullproto') throw Object.create(null);
      if (task.data.kind === 'badtostring') throw { toString() { throw new Error('nope'); } };
      if (task.data.kind === 'retrythrows') throw new Error('plain');
      if (task.data.kind === 'release') await ctx.state.set('odd-done', true);
    }, { concurrency: 2, retryInMs: (task) => { if (task.data.kind === 'retrythrows') throw Object.create(null); return 100; } });
  },
});
`;
  const { run, dir, conf } = await boot({ 'odd.mjs': ODD }, `[program:odd]\nworker = DIR/odd.mjs\ngraceful_timeout = 2s\n`);
  const push = async (data: string): Promise<void> => {
    const r = await runCli(['queue', 'push', 'q', data, '--max-attempts', '1', '-c', conf]);
    assert.equal(r.code, 0, r.output);
  };
  const dead = async (): Promise<{ id: number; error: string | null; reason: string }[]> => {
    const r = await runCli(['queue', 'dead', 'q', '--json', '-c', conf]);
    assert.equal(r.code, 0, r.output);
    return (JSON.parse(r.stdout) as { tasks: { id: number; error: string | null; reason: string }[] }).tasks;
  };
  try {
    await run.waitForLine(/odd_0: starting → running/, { timeoutMs: 10_000 });
    await push('{"slow":true}');
    await run.waitForLine(/odd_0 \| task 1 attempt 1/, { timeoutMs: 10_000 });
    for (const kind of ['nullproto', 'badtostring', 'retrythrows']) await push(JSON.stringify({ kind }));
    let last: unknown = null;
    await waitForAsync(async () => {
      const d = await dead();
      last = d;
      return d.length === 3;
    }, 'the three odd tasks to be dead-lettered', { describe: () => `${JSON.stringify(last)}\n${run.describe()}` });
    const got = (last as { error: string | null; reason: string }[]).map((t) => `${t.reason}: ${t.error}`).sort();
    assert.deepEqual(got, ['nacked: [object Object]', 'nacked: [object Object]', 'nacked: plain'], `each nacked with what it threw, not "worker exited"\n${JSON.stringify(last)}`);
    assert.match(run.output, /retryInMs gave an error \(\[object Object\]\) for task 4, not a finite number; retrying it at once/, run.describe());
    // the slow task, in flight beside them all along, was not cut off: a last task lets it finish
    await push('{"kind":"release"}');
    await run.waitForLine(/odd_0 \| slow task finished/, { timeoutMs: 10_000 });
    assert.equal(run.count(/odd_0 \| task 1 attempt/g), 1, `the slow task ran once\n${run.describe()}`);
    assert.doesNotMatch(run.output, /odd_0: running → exited|run\(\) failed/, run.describe());
  } finally {
    await teardown(run, [], dir);
  }
});
