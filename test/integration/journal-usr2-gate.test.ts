// Issue 5, the USR2 gate (SharedGate, docs/shared.md "Durability"): while both masters run, the new one
// holds shared requests until the old one has exited, then replays the journal and answers them. Here the
// old master's drain is held open by its job worker, which the test releases by signal; a queue push sent
// to the new master's control socket meanwhile stays unanswered, the old master accepts one more task while
// it drains, and once it has exited the held push is answered with the next id after the old master's:
// every task, the held one included, is then in the new master's queue and consumed exactly once.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseServerUrl, requestJson, type JsonAnswer } from '../../src/control/client.js';
import { assertStaysFor, livePids, makeTmpDir, runCli, startUp, teardown, waitForCondition, writeConfig } from '../helpers/drover.js';
import { linkDrover } from '../helpers/shared.js';

// Started while OLD exists (under the first master), the worker takes nothing; when stopped it waits for
// SIGUSR2 from the test, then pushes one last task and returns. Started without it (under the new master),
// it records every task it runs.
const WORKER = `import { appendFileSync, existsSync } from 'node:fs';
import { defineWorker } from 'drover';
const old = existsSync(process.env.OLD);
export default defineWorker({
  async run(ctx) {
    if (!old) {
      console.log('consumer ' + process.pid + ' running');
      await ctx.queue('jobs').process(async (task) => {
        appendFileSync(process.env.RECORD, task.data.n + ' ' + task.id + '\\n');
      });
      return;
    }
    const released = new Promise((r) => process.once('SIGUSR2', r));
    console.log('old worker ' + process.pid + ' idle');
    await new Promise((r) => ctx.signal.addEventListener('abort', r));
    console.log('old worker ' + process.pid + ' draining');
    await released;
    const id = await ctx.queue('jobs').push({ n: Number(process.env.LATE_N) });
    console.log('old worker pushed task ' + id + ' while draining');
  },
});
`;

type QStats = { ready: number; delayed: number; leased: number; dead: number; acked: number };

test('USR2 with a journal: a push to the new master waits for the old master to exit, then is there exactly once', async () => {
  const dir = makeTmpDir();
  linkDrover(dir);
  mkdirSync(join(dir, 'data'));
  const oldFlag = join(dir, 'old');
  const record = join(dir, 'done.txt');
  writeFileSync(oldFlag, '');
  writeFileSync(record, '');
  writeFileSync(join(dir, 'jobs.mjs'), WORKER);
  /** tasks pushed to the first master before USR2: n = 0..N-1; N is the old worker's late push, N+1 the held one */
  const N = 20;
  const conf = writeConfig(
    dir,
    `[supervisord]
journal = data/queue.journal

[program:jobs]
worker = ${join(dir, 'jobs.mjs')}
startsecs = 0
graceful_timeout = 60s
environment = OLD="${oldFlag}",RECORD="${record}",LATE_N="${N}"
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
    const oldWorker = Number((await run.waitForLine(/old worker (\d+) idle/))[1]);
    const ids: number[] = [];
    for (let n = 0; n < N; n++) {
      const r = await requestJson(ep, 'POST', '/api/queue/push', { queue: 'jobs', task: { n } });
      assert.equal(r.body['ok'], true, JSON.stringify(r.body));
      ids.push(r.body['id'] as number);
    }
    rmSync(oldFlag);
    const from = run.output.length;
    run.signal('SIGUSR2');
    // the new master shares the old one's stdout, so its lines are in run.output too
    newMaster = Number((await run.waitForLine(/the new master \(pid (\d+)\) is ready/, { from, timeoutMs: 20_000 }))[1]);
    await run.waitForLine(new RegExp(`old worker ${oldWorker} draining`), { from });
    // the control socket is the new master's now (its info route is not gated)
    assert.equal((await requestJson(ep, 'GET', '/api/info')).body['pid'], newMaster, run.describe());

    /** the held push's answer, and whether the old master was still alive (not a zombie) when it came */
    let answer: { body: JsonAnswer['body']; oldMasterAlive: boolean } | null = null;
    let failure: unknown = null;
    const held = requestJson(ep, 'POST', '/api/queue/push', { queue: 'jobs', task: { n: N + 1 } }, { timeoutMs: 30_000 }).then(
      (r) => void (answer = { body: r.body, oldMasterAlive: livePids([run.pid], run.mark).length > 0 }),
      (err: unknown) => void (failure = err),
    );
    // the old master is held in its drain by its worker: the push must stay unanswered meanwhile
    await assertStaysFor(
      1000,
      () => answer === null && failure === null && livePids([run.pid], run.mark).length > 0,
      'the push to the new master unanswered while the old master drains',
    ).catch((err: Error) => {
      throw new Error(`${err.message}: answer ${JSON.stringify(answer)}, error ${String(failure)}\n${run.describe()}`);
    });
    process.kill(oldWorker, 'SIGUSR2');
    const late = Number((await run.waitForLine(/old worker pushed task (\d+) while draining/, { from }))[1]);
    await run.waitForExit(20_000, { drained: false });
    await held;
    assert.equal(failure, null, `the held push failed: ${String(failure)}\n${run.describe()}`);
    const got = answer as { body: JsonAnswer['body']; oldMasterAlive: boolean } | null;
    assert.ok(got !== null, run.describe());
    assert.equal(got.body['ok'], true, JSON.stringify(got.body));
    assert.equal(got.oldMasterAlive, false, `answered before the old master had exited\n${run.describe()}`);
    const heldId = got.body['id'] as number;
    // replayed after the old master's last append, before the held push: the pushes of both masters
    const restored = await run.waitForLine(/journal .*queue\.journal: (\d+) task\(s\) restored/, { from, timeoutMs: 10_000 });
    assert.equal(Number(restored[1]), N + 1, `the ${N} early tasks and the one pushed while draining are restored\n${run.describe()}`);
    assert.ok(late > Math.max(...ids), `late id ${late} after ${ids.join(',')}`);
    assert.ok(heldId > late, `the held push got id ${heldId}, after the old master's last id ${late}: the id counter came from the journal`);

    // the new master's consumer starts once the old master has gone: every task runs once
    await run.waitForLine(/consumer \d+ running/, { from, timeoutMs: 10_000 });
    const lines = (): string[] => readFileSync(record, 'utf8').split('\n').filter((l) => /^\d+ \d+$/.test(l));
    await waitForCondition(() => lines().length >= N + 2, `all ${N + 2} tasks consumed`, { timeoutMs: 15_000, describe: () => run.describe() });
    let s: QStats | null = null;
    for (let tries = 0; s === null || s.acked < N + 2; tries++) {
      assert.ok(tries < 200, `every task acked: ${JSON.stringify(s)}\n${run.describe()}`);
      const cli = await runCli(['queue', 'stats', 'jobs', '--json', '-c', conf]);
      assert.equal(cli.code, 0, cli.output);
      s = (JSON.parse(cli.stdout) as { queues: QStats[] }).queues[0] as QStats;
    }
    assert.deepEqual({ ready: s.ready, delayed: s.delayed, leased: s.leased, dead: s.dead, acked: s.acked }, { ready: 0, delayed: 0, leased: 0, dead: 0, acked: N + 2 });
    const done = lines().map((l) => l.split(' ').map(Number) as [number, number]);
    assert.deepEqual(
      done.map(([n]) => n).sort((a, b) => a - b),
      Array.from({ length: N + 2 }, (_, i) => i),
      'each task, the held push and the late one included, ran exactly once',
    );
    assert.deepEqual(
      done.map(([, id]) => id).sort((a, b) => a - b),
      [...ids, late, heldId].sort((a, b) => a - b),
      'under the ids the masters answered',
    );

    await requestJson(ep, 'POST', '/api/shutdown', {});
    await waitForCondition(() => livePids([newMaster]).length === 0, 'the new master to exit', { timeoutMs: 15_000, describe: () => run.describe() });
  } finally {
    await teardown(run, spawnedPids(), dir);
  }
});
