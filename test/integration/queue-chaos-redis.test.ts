// Issue 5, chaos across masters on the Redis backend: two drover masters (as on two machines) share one
// redis-server, each with its own consumers. The test kills master A with SIGKILL, again and again, and
// starts it again; its workers die with it, holding leases nobody will ack. Master B's heartbeat gives those
// back once A's liveness key lapses (shared_liveness), and B's consumers run them. The first kill waits
// until one of A's tasks is in flight, so that at least one lease is given back. Afterwards every pushed
// task was acked exactly once or is in the dead-letter list: none lost.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseServerUrl, requestJson } from '../../src/control/client.js';
import { livePids, makeTmpDir, startUp, teardown, waitForCondition, writeConfig, type CliRun } from '../helpers/drover.js';
import { startRedis } from '../helpers/redis.js';
import { linkDrover } from '../helpers/shared.js';

const TASKS = 400;
const KILL_AT = [80, 180, 280];
const POISON = 40;

const CONSUMER = `import { appendFileSync } from 'node:fs';
import { defineWorker } from 'drover';
const record = process.env.RECORD;
export default defineWorker({
  async run(ctx) {
    await ctx.queue('jobs').process(async (task) => {
      // a line when a task begins: the first kill waits for one of A's tasks to be in flight, so that A's
      // workers die holding a lease (A's tasks take longer, so the kill lands inside one)
      appendFileSync(process.env.STARTED, task.data.n + ' ' + process.env.MASTER + '\\n');
      await new Promise((r) => setTimeout(r, process.env.MASTER === 'a' ? 40 + Math.random() * 40 : 5 + Math.random() * 20));
      if (task.data.poison) throw new Error('poison ' + task.data.n);
      // written before the ack: a worker killed between the two makes a duplicate line, never a gap
      appendFileSync(record, task.data.n + ' ' + process.env.MASTER + '\\n');
    }, { retryInMs: 5 });
  },
});
`;

type Stats = { ready: number; delayed: number; leased: number; dead: number; pushed: number; acked: number; lost: number };

test('[redis backend] two masters share the queue; kill -9 of one, repeatedly: its leased tasks come back through the other, none lost', async () => {
  const root = makeTmpDir();
  const redis = await startRedis(root);
  const record = join(root, 'acks.txt');
  writeFileSync(record, '');
  const started = join(root, 'started.txt');
  writeFileSync(started, '');
  const confOf = (name: string): string => {
    const dir = join(root, name);
    mkdirSync(dir);
    linkDrover(dir);
    writeFileSync(join(dir, 'consumer.mjs'), CONSUMER);
    return writeConfig(
      dir,
      `[drover]
shared_backend = ${redis.url}
shared_liveness = 1s

[program:consumer]
worker = ${join(dir, 'consumer.mjs')}
numprocs = 2
concurrency = 4
startsecs = 0
environment = RECORD="${record}",STARTED="${started}",MASTER="${name}"
`,
    );
  };
  const confA = confOf('a');
  const confB = confOf('b');
  const epB = parseServerUrl(`unix://${join(root, 'b', '.drover', 'drover.sock')}`);
  const runsA: CliRun[] = [];
  let runB: CliRun | null = null;
  const describe = (): string => [...runsA.map((r, i) => `=== master A ${i}\n${r.describe()}`), `=== master B\n${runB?.describe() ?? ''}`].join('\n');
  const lines = (): string[] => readFileSync(record, 'utf8').split('\n').filter((l) => /^\d+ [ab]$/.test(l));
  /** whether a task (not a poison one, which fails at once) has begun on master A and is not recorded done */
  const inFlightOnA = (): boolean => {
    const doneOnA = new Set(lines().filter((l) => l.endsWith(' a')));
    return readFileSync(started, 'utf8')
      .split('\n')
      .some((l) => /^\d+ a$/.test(l) && Number(l.split(' ')[0]) % POISON !== 0 && !doneOnA.has(l));
  };
  try {
    runB = await startUp(confB);
    runsA.push(await startUp(confA));
    await runB.waitForCount(/consumer_\d: starting → running/g, 2);
    await (runsA[0] as CliRun).waitForCount(/consumer_\d: starting → running/g, 2);
    let next = 0;
    const producer = (async () => {
      while (next < TASKS) {
        await waitForCondition(() => lines().length >= next - 60, 'the consumers to keep up with the producer', { timeoutMs: 20_000, describe });
        const batch = [];
        for (let i = 0; i < 10 && next < TASKS; i++, next++) {
          const n = next;
          batch.push(
            requestJson(epB, 'POST', '/api/queue/push', { queue: 'jobs', task: { n, poison: n % POISON === 0 }, max_attempts: 3 }).then((r) =>
              assert.equal(r.body['ok'], true, JSON.stringify(r.body)),
            ),
          );
        }
        await Promise.all(batch);
      }
    })();
    producer.catch(() => {}); // awaited below

    let leasedAtKills = 0;
    for (const at of KILL_AT) {
      await waitForCondition(() => lines().length >= at, `${at} tasks processed`, { timeoutMs: 20_000, describe });
      const run = runsA[runsA.length - 1] as CliRun;
      const epA = parseServerUrl(`unix://${join(root, 'a', '.drover', 'drover.sock')}`);
      const procs = (await requestJson(epA, 'GET', '/api/processes')).body['processes'] as { pid: number | null }[];
      const workers = procs.map((p) => p.pid).filter((p): p is number => p !== null);
      leasedAtKills += ((await requestJson(epB, 'GET', '/api/queue/stats?queue=jobs')).body['queues'] as Stats[])[0]?.leased ?? 0;
      // Only the first kill is sure to find A at work: a restarted A needs about a second before its workers
      // take tasks, and B, whose tasks are short, often drains the queue before that.
      if (runsA.length === 1) await waitForCondition(inFlightOnA, 'a task in flight on master A', { timeoutMs: 20_000, describe });
      run.signal('SIGKILL');
      await run.waitForExit(15_000);
      await waitForCondition(() => livePids(workers, run.mark).length === 0, `master A's workers ${workers.join(' ')} to exit`, { timeoutMs: 10_000, describe });
      runsA.push(await startUp(confA));
      await (runsA[runsA.length - 1] as CliRun).waitForCount(/consumer_\d: starting → running/g, 2);
    }
    await producer;

    const readStats = async (): Promise<Stats> => ((await requestJson(epB, 'GET', '/api/queue/stats?queue=jobs')).body['queues'] as Stats[])[0] as Stats;
    const deadline = Date.now() + 30_000;
    let stats = await readStats();
    while (stats.acked + stats.dead < TASKS) {
      if (Date.now() > deadline) assert.fail(`the queue did not drain: ${JSON.stringify(stats)}\n${describe()}`);
      stats = await readStats();
    }
    assert.equal(stats.pushed, TASKS);
    assert.deepEqual({ ready: stats.ready, delayed: stats.delayed, leased: stats.leased }, { ready: 0, delayed: 0, leased: 0 });
    assert.ok(stats.lost > 0, `leases held by the killed master's workers were given back (${JSON.stringify(stats)}, ${leasedAtKills} leased at the kills)`);

    const dead = (await requestJson(epB, 'GET', '/api/queue/dead?queue=jobs&limit=1000')).body['tasks'] as { task: { n: number; poison: boolean }; reason: string }[];
    assert.equal(dead.length, stats.dead);
    const deadNs = new Set(dead.map((d) => d.task.n));
    const done = new Map<number, number>();
    const byMaster = { a: 0, b: 0 };
    for (const l of lines()) {
      const [n, m] = l.split(' ') as [string, 'a' | 'b'];
      done.set(Number(n), (done.get(Number(n)) ?? 0) + 1);
      byMaster[m] += 1;
    }
    const missing: number[] = [];
    for (let n = 0; n < TASKS; n++) {
      if (n % POISON === 0) assert.ok(deadNs.has(n), `poison task ${n} is dead-lettered`);
      else if (!done.has(n)) missing.push(n);
    }
    assert.deepEqual(missing, [], 'no task lost');
    for (const d of dead) if (!d.task.poison) assert.equal(d.reason, 'worker exited', 'a task that never fails dies only with its workers');
    assert.equal(stats.acked + stats.dead, TASKS, 'one ack per task');
    assert.ok(byMaster.a > 0 && byMaster.b > 0, `both masters consumed: ${JSON.stringify(byMaster)}`);
    const redone = [...done.values()].filter((c) => c > 1).length;
    process.stdout.write(`# redis chaos: 3 master kills, ${stats.lost} leases given back, ${redone} task(s) run twice, ${stats.dead} dead, done by a/b ${byMaster.a}/${byMaster.b}\n`);
  } finally {
    for (const r of runsA) await teardown(r);
    if (runB) await teardown(runB);
    await redis.stop();
  }
});
