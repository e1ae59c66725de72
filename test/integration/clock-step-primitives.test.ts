// A wall-clock step (NTP, `date -s`) must not move the shared primitives' deadlines (docs/decisions.md,
// "Wall-clock steps"). The memory backend kept delays, leases and lock ttls as Date.now() times: stepped
// back an hour, its one timer fired on time, found nothing due by the wall clock and re-armed for an hour
// (a delayed task, a lapsed lease, a lapsed ttl all waited that long, and kept waiting once the clock was
// put right); stepped forward, the next tick lapsed every lease and ttl at once. A master that lived
// through a step journaled due times on its steady clock, which the next master read on its own (an hour
// early), and showed a journal failure's start on it (an hour off). The daemon runs on a steppable clock
// (libfaketime); the test's own clock is the real one.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseServerUrl, requestJson } from '../../src/control/client.js';
import { type CliRun, makeTmpDir, runCli, startUp, teardown, waitForAsync, writeConfig } from '../helpers/drover.js';
import { SteppableClock } from '../helpers/faketime.js';
import { linkDrover } from '../helpers/shared.js';

// takes lock L under a ttl and a task of queue "work" under a lease, and holds both without end
const HOLDER = `import { defineWorker } from 'drover';
export default defineWorker({
  async run(ctx) {
    const l = await ctx.lock('L', { ttlMs: Number(process.env.TTL_MS) });
    await ctx.state.set('held', true);
    ctx.log('holding L token ' + l.token);
    const t = await ctx.queue('work').take({ leaseMs: Number(process.env.LEASE_MS) });
    ctx.log('leased task ' + t.id);
    await new Promise((r) => ctx.signal.addEventListener('abort', r));
  },
});
`;

// waits for L behind the holder (once the state says the holder has it)
const WAITER = `import { defineWorker } from 'drover';
export default defineWorker({
  async run(ctx) {
    await new Promise((resolve) => ctx.state.watch('held', (v) => v === true && resolve()));
    const l = await ctx.lock('L');
    ctx.log('got L token ' + l.token);
    await new Promise((r) => ctx.signal.addEventListener('abort', r));
  },
});
`;

interface Stats {
  readonly name: string;
  readonly ready: number;
  readonly delayed: number;
  readonly leased: number;
  readonly lost: number;
}

/** A drover whose wall clock `clock` steps, running the holder (under `ttlMs`, `leaseMs`) and the waiter. */
async function start(dir: string, clock: SteppableClock, ttlMs: number, leaseMs: number): Promise<CliRun> {
  linkDrover(dir);
  writeFileSync(join(dir, 'holder.mjs'), HOLDER);
  writeFileSync(join(dir, 'waiter.mjs'), WAITER);
  const conf = writeConfig(
    dir,
    `[program:holder]
worker = ${join(dir, 'holder.mjs')}
startsecs = 0
autorestart = false
environment = TTL_MS="${ttlMs}",LEASE_MS="${leaseMs}"

[program:waiter]
worker = ${join(dir, 'waiter.mjs')}
startsecs = 0
`,
  );
  return startUp(conf, clock.env());
}

function api(dir: string): {
  push: (queue: string, delayMs: number) => Promise<void>;
  stats: (queue: string) => Promise<Stats>;
  waiting: () => Promise<number>;
} {
  const ep = parseServerUrl(`unix://${join(dir, '.drover', 'drover.sock')}`);
  return {
    push: async (queue, delayMs) => {
      const r = await requestJson(ep, 'POST', '/api/queue/push', { queue, task: { n: 1 }, delay_ms: delayMs });
      assert.equal(r.body['ok'], true, JSON.stringify(r.body));
    },
    stats: async (queue) => ((await requestJson(ep, 'GET', `/api/queue/stats?queue=${queue}`)).body['queues'] as Stats[])[0]!,
    waiting: async () => ((await requestJson(ep, 'GET', '/api/locks')).body['locks'] as { name: string; waiting: number }[]).find((l) => l.name === 'L')?.waiting ?? 0,
  };
}

/** Waits until the holder holds L and a task of "work", and the waiter waits for L. */
async function settle(run: CliRun, a: ReturnType<typeof api>): Promise<void> {
  await a.push('work', 0);
  await run.waitForLine(/holder_0 \| leased task \d+/);
  await waitForAsync(async () => (await a.waiting()) === 1, 'the waiter to queue for L', { describe: () => run.describe() });
}

test('stepped back an hour, a delayed task falls due, a lease and a lock ttl lapse, on time; and with the clock put right again', async () => {
  const dir = makeTmpDir();
  const clock = new SteppableClock(dir);
  // a ttl and a lease that lapse within the waits below, which the step must not stretch to an hour
  const run = await start(dir, clock, 4000, 4000);
  const a = api(dir);
  let last: unknown = null;
  const describe = (): string => `last stats: ${JSON.stringify(last)}\n${run.describe()}`;
  const within = { describe, timeoutMs: 15_000 };
  try {
    await settle(run, a);
    await a.push('later', 1000);
    // the step must come before the deadlines: with it after them, the test would prove nothing
    const before = await a.stats('work');
    assert.deepEqual([before.leased, before.lost, await a.waiting()], [1, 0, 1], `the lease and the ttl (4 s) lapsed before the step: ${JSON.stringify(before)}`);
    clock.set(-3600);
    await waitForAsync(async () => ((last = await a.stats('later')) as Stats).ready === 1, 'the delayed task to fall due (1 s)', within);
    await waitForAsync(async () => ((last = await a.stats('work')) as Stats).lost === 1, 'the lease to lapse (4 s)', within);
    await run.waitForLine(/waiter_0 \| got L token \d+/, { timeoutMs: 15_000 });

    // put right: a task delayed now falls due after its delay too (the timer was not left armed an hour out)
    clock.set(0);
    await a.push('later', 500);
    await waitForAsync(async () => ((last = await a.stats('later')) as Stats).ready === 2, 'the second delayed task to fall due (0.5 s)', within);
  } finally {
    clock.set(0);
    await teardown(run, [], dir);
  }
});

test('stepped forward an hour, a lease and a lock ttl of a minute hold', async () => {
  const dir = makeTmpDir();
  const clock = new SteppableClock(dir);
  const run = await start(dir, clock, 60_000, 60_000);
  const a = api(dir);
  let last: unknown = null;
  const describe = (): string => `last stats: ${JSON.stringify(last)}\n${run.describe()}`;
  try {
    await settle(run, a);
    clock.set(3600);
    // a task delayed after the step makes the backend's timer fire and look at every deadline: once it
    // is ready, that look has been taken, and nothing a minute away may have lapsed in it. (On wall times
    // the task waited the minute too: by the stepped clock the timer armed for the lease came first.)
    await a.push('later', 200);
    await waitForAsync(async () => ((last = await a.stats('later')) as Stats).ready === 1, 'the delayed task to fall due (0.2 s)', { describe });
    const work = await a.stats('work');
    assert.deepEqual([work.leased, work.lost, work.ready], [1, 0, 0], `the task stays leased to its holder: ${JSON.stringify(work)}`);
    assert.equal(await a.waiting(), 1, `the holder keeps L; the waiter still waits\n${run.describe()}`);
    assert.doesNotMatch(run.output, /waiter_0 \| got L/);
  } finally {
    clock.set(0);
    await teardown(run, [], dir);
  }
});

// takes lock F once and logs its token
const TAKER = `import { defineWorker } from 'drover';
export default defineWorker({
  async run(ctx) {
    const l = await ctx.lock('F');
    ctx.log('F token ' + l.token);
    await l.release();
    await new Promise((r) => ctx.signal.addEventListener('abort', r));
  },
});
`;

test('with a journal, a master started with the clock stepped back an hour grants fencing tokens above the last master\'s', async () => {
  const dir = makeTmpDir();
  const clock = new SteppableClock(dir);
  linkDrover(dir);
  writeFileSync(join(dir, 'taker.mjs'), TAKER);
  const conf = writeConfig(dir, `[supervisord]\njournal = journal.jsonl\n\n[program:taker]\nworker = ${join(dir, 'taker.mjs')}\nstartsecs = 0\n`);
  const runs: CliRun[] = [];
  try {
    runs.push(await startUp(conf, clock.env()));
    const first = Number((await runs[0]!.waitForLine(/taker_0 \| F token (\d+)/))[1]);
    const down = await runCli(['down', '-c', conf]);
    assert.equal(down.code, 0, down.output);
    await runs[0]!.waitForExit(15_000);

    // a clock corrected backwards between the two: the wall clock alone would put the tokens an hour lower
    clock.set(-3600);
    runs.push(await startUp(conf, clock.env()));
    const second = Number((await runs[1]!.waitForLine(/taker_0 \| F token (\d+)/))[1]);
    assert.ok(second > first, `the second master's token ${second} must be above the first's ${first}\n${runs[1]!.describe()}`);
  } finally {
    clock.set(0);
    for (const r of runs) await teardown(r);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('with a journal, a task delayed by a master that lived through a step falls due on time under the next master', async () => {
  const dir = makeTmpDir();
  const clock = new SteppableClock(dir);
  const conf = writeConfig(dir, `[supervisord]\njournal = journal.jsonl\n\n[program:idle]\ncommand = sleep 1000\nautostart = false\n`);
  const a = api(dir);
  const runs: CliRun[] = [];
  let last: unknown = null;
  const describe = (): string => `last stats: ${JSON.stringify(last)}\n${runs.map((r, i) => `=== master ${i}\n${r.describe()}`).join('\n')}`;
  try {
    // the first master starts with its clock an hour slow, which is put right before the push: its steady
    // clock stays an hour behind the wall clock for as long as it runs
    clock.set(-3600);
    runs.push(await startUp(conf, clock.env()));
    clock.set(0);
    await a.push('later', 600_000);
    last = await a.stats('later');
    assert.deepEqual([(last as Stats).ready, (last as Stats).delayed], [0, 1], describe());
    const down = await runCli(['down', '-c', conf]);
    assert.equal(down.code, 0, down.output);
    await runs[0]!.waitForExit(15_000);

    // the next master reads the due time on its own clock: still ten minutes away, not fifty minutes past
    runs.push(await startUp(conf, clock.env()));
    await runs[1]!.waitForLine(/journal .*journal\.jsonl: 1 task\(s\) restored/);
    last = await a.stats('later');
    assert.deepEqual([(last as Stats).ready, (last as Stats).delayed], [0, 1], `the task falls due ten minutes after its push\n${describe()}`);
  } finally {
    clock.set(0);
    for (const r of runs) await teardown(r);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a journal that cannot be written after a step says since when on the wall clock, in the stats and at close', { skip: process.getuid?.() === 0 ? false : 'mounts a tmpfs: needs root' }, async () => {
  const dir = makeTmpDir();
  const clock = new SteppableClock(dir);
  const data = join(dir, 'data');
  mkdirSync(data);
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', data], { encoding: 'utf8' });
  assert.equal(mounted.status, 0, `mount: ${mounted.stderr}`);
  const conf = writeConfig(dir, `[supervisord]\njournal = data/q.journal\n\n[program:idle]\ncommand = sleep 1000\nautostart = false\n`);
  const ep = parseServerUrl(`unix://${join(dir, '.drover', 'drover.sock')}`);
  let run: CliRun | null = null;
  let last: unknown = null;
  const describe = (): string => `last journal: ${JSON.stringify(last)}\n${run?.describe() ?? ''}`;
  /** how far a shown time is from the test's (real) clock, in minutes */
  const offMinutes = (iso: string): number => Math.abs(Date.parse(iso) - Date.now()) / 60_000;
  try {
    // started an hour slow and put right: its steady clock stays an hour behind the wall clock
    clock.set(-3600);
    run = await startUp(conf, clock.env());
    await run.waitForLine(/journal .*q\.journal: 0 task\(s\) restored/);
    clock.set(0);
    const fs = statfsSync(data);
    writeFileSync(join(data, 'filler'), Buffer.alloc(fs.bavail * fs.bsize));
    // a page the journal already has may take a record or two: push until the stats say it failed
    let since: unknown = null;
    for (let n = 0; n < 20 && since === null; n++) {
      const r = await requestJson(ep, 'POST', '/api/queue/push', { queue: 'jobs', task: { n, pad: 'x'.repeat(2000) } });
      assert.equal(r.body['ok'], true, `push ${n}: ${JSON.stringify(r.body)}\n${describe()}`);
      last = (await requestJson(ep, 'GET', '/api/queue/stats')).body['journal'];
      since = (last as Record<string, unknown>)['since'] ?? null;
    }
    assert.ok(typeof since === 'string', `20 pushes on a full disk and the stats never said the journal failed\n${describe()}`);
    assert.ok(offMinutes(since) < 5, `the failure began now, not an hour ago: since ${since}, now ${new Date().toISOString()}\n${describe()}`);

    // closed while it still cannot be written: the message says since when, on the same clock
    const down = await runCli(['down', '-c', conf]);
    assert.equal(down.code, 0, down.output);
    await run.waitForExit(15_000);
    const closed = /journal .*q\.journal: closed while it could not be written; the changes since (\S+) are not in it/.exec(run.output);
    assert.ok(closed, `the close message\n${describe()}`);
    assert.ok(offMinutes(closed[1]!) < 5, `the close message's time ${closed[1]}, now ${new Date().toISOString()}`);
  } finally {
    clock.set(0);
    if (run) await teardown(run);
    spawnSync('umount', [data]);
    rmSync(dir, { recursive: true, force: true });
  }
});
