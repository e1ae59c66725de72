// Issue 5, chaos: job workers consume a queue while the test kills them with SIGKILL, again and again.
// Afterwards every pushed task was acked exactly once or is in the dead-letter list: none lost. Producers
// are the JSON API and the CLI (`drover queue push`); counts come from `drover queue stats --json`.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseServerUrl, requestJson } from '../../src/control/client.js';
import { makeTmpDir, runCli, startUp, teardown, waitForCondition, writeConfig } from '../helpers/drover.js';
import { linkDrover, SHARED_BACKENDS, useSharedBackend } from '../helpers/shared.js';

const TASKS = 600;
const KILLS = 12;
/** every POISON-th task throws on every attempt: it must end in the dead letters, nacked */
const POISON = 40;

const CONSUMER = `import { appendFileSync } from 'node:fs';
import { defineWorker } from 'drover';
const record = process.env.RECORD;
export default defineWorker({
  async run(ctx) {
    await ctx.queue('jobs').process(async (task) => {
      await new Promise((r) => setTimeout(r, 5 + Math.random() * 20));
      if (task.data.poison) throw new Error('poison ' + task.data.n);
      // written before the ack: a worker killed between the two makes a duplicate line, never a gap
      appendFileSync(record, task.data.n + ' ' + task.id + ' ' + process.pid + '\\n');
    }, { retryInMs: 5 });
  },
});
`;

for (const backend of SHARED_BACKENDS) {
test(`[${backend} backend] kill -9 of consumers, repeatedly: every task acked exactly once or dead-lettered, none lost`, async () => {
  const dir = makeTmpDir();
  linkDrover(dir);
  const shared = await useSharedBackend(backend, dir);
  const record = join(dir, 'acks.txt');
  writeFileSync(record, '');
  writeFileSync(join(dir, 'consumer.mjs'), CONSUMER);
  const conf = writeConfig(
    dir,
    `${shared.section}[program:consumer]
worker = ${join(dir, 'consumer.mjs')}
numprocs = 3
concurrency = 4
startsecs = 0
startretries = 100
environment = RECORD="${record}"
`,
  );
  const run = await startUp(conf);
  const ep = parseServerUrl(`unix://${join(dir, '.drover', 'drover.sock')}`);
  const killed: number[] = [];
  try {
    await run.waitForCount(/consumer_\d: starting → running/g, 3);
    const lines = (): string[] => readFileSync(record, 'utf8').split('\n').filter((l) => /^\d+ \d+ \d+$/.test(l));
    const push = async (n: number): Promise<void> => {
      const task = { n, poison: n % POISON === 0 };
      const r = await requestJson(ep, 'POST', '/api/queue/push', { queue: 'jobs', task, max_attempts: 3 });
      assert.equal(r.body['ok'], true, JSON.stringify(r.body));
    };
    // a few producers through the CLI, the rest through the JSON API, concurrently with the kills
    for (let n = 0; n < 5; n++) {
      const cli = await runCli(['queue', 'push', 'jobs', JSON.stringify({ n, poison: n % POISON === 0 }), '--max-attempts', '3', '-c', conf]);
      assert.equal(cli.code, 0, cli.output);
      assert.match(cli.stdout, /^\d+\n$/);
    }
    let next = 5;
    const producer = (async () => {
      while (next < TASKS) {
        const batch = [];
        for (let i = 0; i < 10 && next < TASKS; i++) batch.push(push(next++));
        await Promise.all(batch);
      }
    })();
    // kill a random live consumer each time some more tasks have been done (progress, not time, paces it)
    for (let k = 0; k < KILLS; k++) {
      const seen = lines().length;
      await waitForCondition(() => lines().length >= seen + 20, 'consumers to make progress', {
        timeoutMs: 20_000,
        describe: () => run.describe(),
      });
      let live: number[] = [];
      for (let tries = 0; live.length === 0; tries++) {
        assert.ok(tries < 200, `no live consumer to kill\n${run.describe()}`);
        const procs = (await requestJson(ep, 'GET', '/api/processes')).body['processes'] as { pid: number | null; state: string }[];
        // a consumer killed a moment ago can still show as running until its exit is handled: not it again
        live = procs.filter((p) => p.state === 'running' && p.pid !== null && !killed.includes(p.pid)).map((p) => p.pid as number);
      }
      const victim = live[Math.floor(Math.random() * live.length)] as number;
      process.kill(victim, 'SIGKILL');
      killed.push(victim);
    }
    await producer;
    type Stats = { ready: number; delayed: number; leased: number; dead: number; pushed: number; acked: number; lost: number };
    let stats: Stats | null = null;
    const readStats = async (): Promise<Stats> => {
      const cli = await runCli(['queue', 'stats', 'jobs', '--json', '-c', conf]);
      assert.equal(cli.code, 0, cli.output);
      return (JSON.parse(cli.stdout) as { queues: Stats[] }).queues[0] as Stats;
    };
    const deadline = Date.now() + 30_000;
    for (stats = await readStats(); stats.acked + stats.dead < TASKS; stats = await readStats()) {
      if (Date.now() > deadline) assert.fail(`the queue did not drain: ${JSON.stringify(stats)}\n${run.describe()}`);
    }
    assert.equal(stats.pushed, TASKS);
    assert.deepEqual({ ready: stats.ready, delayed: stats.delayed, leased: stats.leased }, { ready: 0, delayed: 0, leased: 0 });
    assert.ok(stats.lost > 0, `some leases were lost to the kills (${JSON.stringify(stats)})`);

    const dead = (await requestJson(ep, 'GET', '/api/queue/dead?queue=jobs&limit=1000')).body['tasks'] as {
      task: { n: number; poison: boolean };
      reason: string;
      attempts: number;
    }[];
    assert.equal(dead.length, stats.dead);
    const deadNs = new Set(dead.map((d) => d.task.n));
    const done = new Map<number, number>();
    for (const l of lines()) {
      const n = Number(l.split(' ')[0]);
      done.set(n, (done.get(n) ?? 0) + 1);
    }
    const missing: number[] = [];
    for (let n = 0; n < TASKS; n++) {
      const poison = n % POISON === 0;
      if (poison) assert.ok(deadNs.has(n), `poison task ${n} is dead-lettered`);
      if (!deadNs.has(n) && !done.has(n)) missing.push(n);
      if (deadNs.has(n)) assert.ok(!done.has(n) || !poison, `task ${n} is either done or dead`);
    }
    assert.deepEqual(missing, [], 'no task lost');
    for (const d of dead) {
      // a poison task may also have been held by a worker killed on its last attempt
      if (d.task.poison) assert.ok(d.reason === 'nacked' || d.reason === 'worker exited', d.reason);
      else assert.equal(d.reason, 'worker exited', 'a task that never fails dies only with its workers');
      assert.equal(d.attempts, 3);
    }
    // the master accepts one ack per task: acked + dead covers every task exactly once
    assert.equal(stats.acked + stats.dead, TASKS);
    assert.equal(stats.acked, TASKS - deadNs.size);
    const redone = [...done.values()].filter((c) => c > 1).length;
    process.stdout.write(`# chaos: ${killed.length} kills, ${stats.lost} leases lost, ${redone} task(s) run twice, ${stats.dead} dead\n`);
    assert.equal(killed.length, KILLS);
    assert.ok(run.count(/consumer_\d: running → exited \(terminated by SIGKILL/g) >= KILLS, run.describe());
  } finally {
    await teardown(run, [], dir);
    await shared.stop();
  }
});
}
