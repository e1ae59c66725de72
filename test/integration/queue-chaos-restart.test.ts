// Issue 5, chaos with the master restarted on a journal: job workers consume while producers push, and the
// test kills the master itself with SIGKILL at progress-based points, then runs `up` again on the same
// config and journal. Afterwards every task the journal ever accepted was acked exactly once (one `ack`
// record per id over all the masters' lifetimes) or is in the dead-letter list: none lost. Handlers may run
// again after a crash (at least once): those repeats are counted and printed, not failed on.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseServerUrl, requestJson } from '../../src/control/client.js';
import { livePids, makeTmpDir, runCli, startUp, teardown, waitForCondition, writeConfig, type CliRun } from '../helpers/drover.js';
import { linkDrover } from '../helpers/shared.js';

const TASKS = 400;
/** the master is killed when this many record lines have been written */
const KILL_AT = [90, 190, 290];
/** every POISON-th task throws on every attempt: it must end in the dead letters */
const POISON = 40;
/** the producer stays at most this many tasks ahead of the consumers, so pushes overlap every kill */
const AHEAD = 60;

const CONSUMER = `import { appendFileSync } from 'node:fs';
import { defineWorker } from 'drover';
const record = process.env.RECORD;
export default defineWorker({
  async run(ctx) {
    await ctx.queue('jobs').process(async (task) => {
      await new Promise((r) => setTimeout(r, 5 + Math.random() * 20));
      if (task.data.poison) throw new Error('poison ' + task.data.n);
      // written before the ack: a master killed between the two makes a duplicate line, never a gap
      appendFileSync(record, task.data.n + ' ' + task.id + ' ' + process.pid + '\\n');
    }, { retryInMs: 5 });
  },
});
`;

type Stats = { ready: number; delayed: number; leased: number; dead: number; pushed: number; acked: number; lost: number };
type Rec = { t: string; id?: number; q?: string; task?: { id: number } };

test('kill -9 of the master, repeatedly, restarted on its journal: every task acked exactly once or dead-lettered', async () => {
  const dir = makeTmpDir();
  linkDrover(dir);
  mkdirSync(join(dir, 'data'));
  const journal = join(dir, 'data', 'queue.journal');
  const record = join(dir, 'acks.txt');
  writeFileSync(record, '');
  writeFileSync(join(dir, 'consumer.mjs'), CONSUMER);
  const conf = writeConfig(
    dir,
    `[supervisord]
journal = data/queue.journal

[program:consumer]
worker = ${join(dir, 'consumer.mjs')}
numprocs = 3
concurrency = 4
startsecs = 0
startretries = 100
environment = RECORD="${record}"
`,
  );
  const ep = parseServerUrl(`unix://${join(dir, '.drover', 'drover.sock')}`);
  const runs: CliRun[] = [];
  const current = (): CliRun => runs[runs.length - 1] as CliRun;
  const describe = (): string => runs.map((r, i) => `=== master ${i}\n${r.describe()}`).join('\n');
  /** the journal as each killed master left it (read before the next `up` compacts it), then the last one */
  const segments: string[] = [];
  const lines = (): string[] => readFileSync(record, 'utf8').split('\n').filter((l) => /^\d+ \d+ \d+$/.test(l));
  /** task n → the ids the master answered for it (a push whose answer was lost to a kill is pushed again) */
  const accepted = new Map<number, number[]>();
  let masterUp: Promise<void> = Promise.resolve();
  let failedPushes = 0;
  try {
    runs.push(await startUp(conf));
    await current().waitForCount(/consumer_\d: starting → running/g, 3);
    for (let n = 0; n < 5; n++) {
      const cli = await runCli(['queue', 'push', 'jobs', JSON.stringify({ n, poison: n % POISON === 0 }), '--max-attempts', '3', '-c', conf]);
      assert.equal(cli.code, 0, cli.output);
      assert.match(cli.stdout, /^\d+\n$/);
      accepted.set(n, [Number(cli.stdout)]);
    }
    const push = async (n: number): Promise<void> => {
      for (let tries = 0; ; tries++) {
        assert.ok(tries < 20, `task ${n} could not be pushed\n${describe()}`);
        const gate = masterUp;
        await gate;
        try {
          const r = await requestJson(ep, 'POST', '/api/queue/push', { queue: 'jobs', task: { n, poison: n % POISON === 0 }, max_attempts: 3 }, { timeoutMs: 10_000 });
          assert.equal(r.body['ok'], true, JSON.stringify(r.body));
          accepted.set(n, [...(accepted.get(n) ?? []), r.body['id'] as number]);
          return;
        } catch (err) {
          if (err instanceof assert.AssertionError) throw err;
          // the master died under this request: accepted or not, unknown; push again once it is back
          failedPushes += 1;
          if (gate === masterUp) {
            await waitForCondition(() => gate !== masterUp, `a restarted master after a failed push of task ${n} (${String(err)})`, {
              timeoutMs: 20_000,
              describe,
            });
          }
        }
      }
    };
    let next = 5;
    const producer = (async () => {
      while (next < TASKS) {
        await waitForCondition(() => lines().length >= next - AHEAD, 'the consumers to keep up with the producer', { timeoutMs: 20_000, describe });
        const batch = [];
        for (let i = 0; i < 10 && next < TASKS; i++) batch.push(push(next++));
        await Promise.all(batch);
      }
    })();
    producer.catch(() => {}); // awaited below; a failure must not be an unhandled rejection meanwhile

    for (const at of KILL_AT) {
      await waitForCondition(() => lines().length >= at, `${at} tasks processed`, { timeoutMs: 20_000, describe });
      const run = current();
      const procs = (await requestJson(ep, 'GET', '/api/processes')).body['processes'] as { pid: number | null }[];
      const workers = procs.map((p) => p.pid).filter((p): p is number => p !== null);
      assert.equal(workers.length, 3, describe());
      let reopen: () => void = () => {};
      masterUp = new Promise((r) => (reopen = r));
      run.signal('SIGKILL');
      await run.waitForExit(15_000);
      // the old master's workers leave when it dies (parent-death signal, or their IPC channel closing)
      await waitForCondition(() => livePids(workers, run.mark).length === 0, `the killed master's workers ${workers.join(' ')} to exit`, {
        timeoutMs: 10_000,
        describe,
      });
      segments.push(readFileSync(journal, 'utf8'));
      runs.push(await startUp(conf));
      await current().waitForLine(/journal .*queue\.journal: \d+ task\(s\) restored/);
      reopen();
      await current().waitForCount(/consumer_\d: starting → running/g, 3);
    }
    await producer;
    assert.equal(next, TASKS);

    const readStats = async (): Promise<Stats> => {
      const cli = await runCli(['queue', 'stats', 'jobs', '--json', '-c', conf]);
      assert.equal(cli.code, 0, cli.output);
      return (JSON.parse(cli.stdout) as { queues: Stats[] }).queues[0] as Stats;
    };
    const deadline = Date.now() + 20_000;
    let stats = await readStats();
    while (stats.ready + stats.delayed + stats.leased > 0) {
      if (Date.now() > deadline) assert.fail(`the queue did not drain: ${JSON.stringify(stats)}\n${describe()}`);
      stats = await readStats();
    }
    // every record is written before its answer: the stats answer means the last acks are in the file
    segments.push(readFileSync(journal, 'utf8'));
    const dead = (await requestJson(ep, 'GET', '/api/queue/dead?queue=jobs&limit=10000')).body['tasks'] as {
      id: number;
      task: { n: number; poison: boolean };
      reason: string;
      attempts: number;
    }[];
    assert.equal(dead.length, stats.dead);

    // the journal over all four lifetimes: each one starts with its own compaction (one `snap` line)
    const pushedIds = new Set<number>();
    const ackCount = new Map<number, number>();
    for (const [i, text] of segments.entries()) {
      const recs = text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Rec);
      assert.equal(recs.filter((r) => r.t === 'snap').length, 1, `journal segment ${i} compacted once, at its start (its acks are all there)`);
      for (const r of recs) {
        if (r.t === 'push') pushedIds.add(r.id as number);
        if (r.t === 'ack') ackCount.set(r.id as number, (ackCount.get(r.id as number) ?? 0) + 1);
      }
    }
    const deadIds = new Set(dead.map((d) => d.id));
    const ackedTwice = [...ackCount].filter(([, c]) => c > 1).map(([id]) => id);
    assert.deepEqual(ackedTwice, [], 'no task acked twice over the restarts');
    for (const [n, ids] of accepted) {
      for (const id of ids) assert.ok(pushedIds.has(id), `task ${n} (id ${id}) was answered as pushed, so it is in the journal`);
    }
    const lost = [...pushedIds].filter((id) => !ackCount.has(id) && !deadIds.has(id));
    assert.deepEqual(lost, [], 'every task in the journal was acked or dead-lettered: none lost');
    const both = [...deadIds].filter((id) => ackCount.has(id));
    assert.deepEqual(both, [], 'no task both acked and dead-lettered');

    // the per-task record file: every task that was not dead-lettered ran at least once
    const runsOf = new Map<number, number>();
    for (const l of lines()) {
      const n = Number(l.split(' ')[0]);
      runsOf.set(n, (runsOf.get(n) ?? 0) + 1);
    }
    const deadNs = new Set(dead.map((d) => d.task.n));
    const missing: number[] = [];
    for (let n = 0; n < TASKS; n++) {
      assert.ok(accepted.has(n), `task ${n} was accepted`);
      if (n % POISON === 0) {
        assert.ok(deadNs.has(n), `poison task ${n} is dead-lettered`);
        assert.ok(!runsOf.has(n), `poison task ${n} never completed`);
      } else if (!runsOf.has(n)) missing.push(n);
    }
    assert.deepEqual(missing, [], 'every task that never fails ran');
    for (const d of dead) {
      assert.equal(d.attempts, 3, JSON.stringify(d));
      if (d.task.poison) assert.equal(d.reason, 'nacked', JSON.stringify(d));
    }
    const repeated = [...runsOf].filter(([, c]) => c > 1).map(([n, c]) => `${n}×${c}`);
    const extraIds = [...accepted.values()].filter((ids) => ids.length > 1).length;
    process.stdout.write(
      `# chaos-restart: ${KILL_AT.length} master kills, ${pushedIds.size} task ids journaled, ${ackCount.size} acked once, ` +
        `${deadIds.size} dead; ${repeated.length} task(s) ran more than once (at least once): ${repeated.join(' ') || 'none'}; ` +
        `${failedPushes} push(es) cut by a kill, ${extraIds} re-pushed\n`,
    );
    assert.equal(runs.length, KILL_AT.length + 1);
  } finally {
    for (const r of runs.slice(0, -1)) await teardown(r, []);
    if (runs.length > 0) await teardown(current(), [], dir);
  }
});

// A consumer started while HOLD exists takes tasks and never acks them (an old master's worker, holding
// leases through the USR2 handover); on its stop it gives them back with a nack. One started without it acks.
const HOLDER = `import { appendFileSync, existsSync } from 'node:fs';
import { defineWorker } from 'drover';
const hold = existsSync(process.env.HOLD);
export default defineWorker({
  async run(ctx) {
    console.log('consumer ' + process.pid + (hold ? ' holds' : ' acks'));
    await ctx.queue('jobs').process(async (task) => {
      if (hold) {
        appendFileSync(process.env.HELD, task.id + '\\n');
        await new Promise((r) => ctx.signal.addEventListener('abort', r));
        throw new Error('stopping');
      }
      appendFileSync(process.env.RECORD, task.data.n + ' ' + task.id + ' ' + process.pid + '\\n');
    }, { retryInMs: 5 });
  },
});
`;

test('USR2 with a journal: tasks pushed before it are all restored by the new master and consumed there', async () => {
  const dir = makeTmpDir();
  linkDrover(dir);
  mkdirSync(join(dir, 'data'));
  const record = join(dir, 'done.txt');
  const held = join(dir, 'held.txt');
  const hold = join(dir, 'hold');
  writeFileSync(record, '');
  writeFileSync(held, '');
  writeFileSync(hold, '');
  writeFileSync(join(dir, 'consumer.mjs'), HOLDER);
  const N = 50;
  const conf = writeConfig(
    dir,
    `[supervisord]
journal = data/queue.journal

[program:consumer]
worker = ${join(dir, 'consumer.mjs')}
numprocs = 2
concurrency = 2
startsecs = 0
graceful_timeout = 5s
environment = RECORD="${record}",HELD="${held}",HOLD="${hold}"
`,
  );
  const ep = parseServerUrl(`unix://${join(dir, '.drover', 'drover.sock')}`);
  const run = await startUp(conf);
  let newMaster = 0;
  const spawnedPids = (): number[] => [
    ...[...run.output.matchAll(/spawned: \w+ with pid (\d+)/g)].map((m) => Number(m[1])),
    ...(newMaster ? [newMaster] : []),
  ];
  try {
    await run.waitForCount(/consumer \d+ holds/g, 2);
    for (let n = 0; n < 2; n++) {
      const cli = await runCli(['queue', 'push', 'jobs', JSON.stringify({ n }), '-c', conf]);
      assert.equal(cli.code, 0, cli.output);
    }
    for (let n = 2; n < N; n++) {
      const r = await requestJson(ep, 'POST', '/api/queue/push', { queue: 'jobs', task: { n } });
      assert.equal(r.body['ok'], true, JSON.stringify(r.body));
    }
    const heldIds = (): string[] => readFileSync(held, 'utf8').split('\n').filter((l) => l !== '');
    // the old master's two workers hold 2 tasks each when it is told to re-exec
    await waitForCondition(() => heldIds().length >= 4, 'the old workers to hold 4 tasks', { describe: () => run.describe() });
    rmSync(hold);
    const from = run.output.length;
    run.signal('SIGUSR2');
    newMaster = Number((await run.waitForLine(/the new master \(pid (\d+)\) is ready/, { from, timeoutMs: 20_000 }))[1]);
    await run.waitForExit(20_000, { drained: false });
    // the new master replays the journal only now: every task is there, the held ones given back
    const restored = await run.waitForLine(/journal .*queue\.journal: (\d+) task\(s\) restored/, { from, timeoutMs: 10_000 });
    assert.equal(Number(restored[1]), N, `all ${N} tasks restored after the handover\n${run.describe()}`);
    await run.waitForCount(/consumer \d+ acks/g, 2, 10_000);
    const lines = (): string[] => readFileSync(record, 'utf8').split('\n').filter((l) => /^\d+ \d+ \d+$/.test(l));
    await waitForCondition(() => lines().length >= N, 'every task consumed by the new workers', { timeoutMs: 15_000, describe: () => run.describe() });
    const ns = lines().map((l) => Number(l.split(' ')[0])).sort((a, b) => a - b);
    assert.deepEqual(ns, Array.from({ length: N }, (_, i) => i), 'each task ran exactly once, under the new master');
    type QStats = { ready: number; delayed: number; leased: number; dead: number; acked: number };
    let s: QStats | null = null;
    for (let tries = 0; s === null || s.acked < N; tries++) {
      assert.ok(tries < 200, `every task acked: ${JSON.stringify(s)}\n${run.describe()}`);
      const cli = await runCli(['queue', 'stats', 'jobs', '--json', '-c', conf]);
      assert.equal(cli.code, 0, cli.output);
      s = (JSON.parse(cli.stdout) as { queues: QStats[] }).queues[0] as QStats;
    }
    assert.deepEqual({ ready: s.ready, delayed: s.delayed, leased: s.leased, dead: s.dead, acked: s.acked }, { ready: 0, delayed: 0, leased: 0, dead: 0, acked: N });
    const info = await requestJson(ep, 'GET', '/api/info');
    assert.equal(info.body['pid'], newMaster);
    await requestJson(ep, 'POST', '/api/shutdown', {});
    await waitForCondition(() => livePids([newMaster]).length === 0, 'the new master to exit', { timeoutMs: 15_000, describe: () => run.describe() });
  } finally {
    await teardown(run, spawnedPids(), dir);
  }
});
