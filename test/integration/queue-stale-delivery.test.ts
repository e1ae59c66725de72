// A task whose lease lapsed while its handler ran can be taken again by another loop of the same worker
// process (concurrency > 1). The owner of a lease is the process, so the late settling of the first
// delivery used to settle the second: the stale ack was accepted while the second delivery still ran (its
// own ack then answered false), and a stale nack requeued or dead-lettered a task being worked on. A
// settling now names its delivery (the attempt), and only the current one counts (docs/shared.md). The
// same on both backends: the Redis backend's scripts used to check the owner only, so there a stale ack
// removed the task the second loop still ran.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeTmpDir, startUp, teardown, waitForCondition, writeConfig, type CliRun } from '../helpers/drover.js';
import { linkDrover, SHARED_BACKENDS, useSharedBackend } from '../helpers/shared.js';

// Two loops in one process. Loop 1 takes each task under a short lease and holds it until loop 2 has
// taken the same task again (the lease lapsed); then loop 1 settles late, and loop 2 settles its own.
const WORKER = `import { renameSync, writeFileSync } from 'node:fs';
import { defineWorker } from 'drover';
export default defineWorker({
  async run(ctx) {
    const q = ctx.queue('jobs');
    const out = {};
    for (const how of ['ack', 'nack']) {
      // one task at a time, so that the second take can only get the first one back
      await q.push({ how });
      const first = await q.take({ leaseMs: 150 });
      const second = await q.take();
      out[how] = {
        same: first.id === second.id,
        attempts: [first.attempt, second.attempt],
        staleExtend: await first.extend(60000),
        stale: how === 'ack' ? await first.ack() : await first.nack({ error: 'late' }),
        current: await second.ack(),
      };
    }
    out.stats = await q.stats();
    // written whole, then renamed: the test reads it as soon as it exists
    writeFileSync(process.env.RESULT + '.tmp', JSON.stringify(out));
    renameSync(process.env.RESULT + '.tmp', process.env.RESULT);
    await new Promise((r) => ctx.signal.addEventListener('abort', r));
  },
});
`;

for (const backend of SHARED_BACKENDS) {
test(`[${backend} backend] a late ack or nack of a lapsed delivery does not settle the same process's later delivery of the task`, async () => {
  const dir = makeTmpDir();
  linkDrover(dir);
  const shared = await useSharedBackend(backend, dir);
  const result = join(dir, 'result.json');
  writeFileSync(join(dir, 'worker.mjs'), WORKER);
  const conf = writeConfig(
    dir,
    `${shared.section}[program:w]
worker = ${join(dir, 'worker.mjs')}
startsecs = 0
environment = RESULT="${result}"
`,
  );
  let run: CliRun | null = null;
  try {
    run = await startUp(conf);
    await run.waitForLine(/w_0: starting → running/);
    await waitForCondition(() => existsSync(result), 'the worker\'s result', { describe: () => run?.describe() ?? '' });
    const out = JSON.parse(readFileSync(result, 'utf8')) as Record<string, unknown>;
    const expected = { same: true, attempts: [1, 2], staleExtend: false, current: true };
    assert.deepEqual(out['ack'], { ...expected, stale: false }, 'a late ack answers false; the current delivery\'s ack is accepted');
    assert.deepEqual(out['nack'], { ...expected, stale: 'lost' }, 'a late nack answers lost and requeues nothing');
    const stats = out['stats'] as Record<string, number>;
    assert.deepEqual([stats['acked'], stats['nacked'], stats['lost'], stats['ready'], stats['leased']], [2, 0, 2, 0, 0], JSON.stringify(stats));
  } finally {
    if (run) await teardown(run);
    await shared.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
}

// process() with two loops and a short lease: loop 1's handler holds the task until loop 2 has taken it
// again (the lease lapsed), then returns (process() acks) or throws (process() nacks) a delivery that is no
// longer the current one.
const lostWorker = (ending: 'return' | 'throw'): string => `import { defineWorker } from 'drover';
export default defineWorker({
  async run(ctx) {
    const q = ctx.queue('jobs');
    let retaken;
    const again = new Promise((r) => (retaken = r));
    await q.push({ n: 1 });
    await q.process(async (task) => {
      ctx.log('handling task ' + task.id + ' attempt ' + task.attempt);
      if (task.attempt === 1) {
        await again;
        ${ending === 'throw' ? "throw new Error('late failure');" : 'return;'}
      }
      retaken();
    }, { concurrency: 2, leaseMs: 150 });
  },
});
`;

for (const backend of SHARED_BACKENDS) {
for (const [ending, verb, answer] of [['return', 'ack', 'answered false'], ['throw', 'nack', "answered 'lost'"]] as const) {
test(`[${backend} backend] process() says on stderr when its ${verb} ${answer}: the lease had been lost, the task may run again elsewhere`, async () => {
  const dir = makeTmpDir();
  linkDrover(dir);
  const shared = await useSharedBackend(backend, dir);
  writeFileSync(join(dir, 'worker.mjs'), lostWorker(ending));
  const conf = writeConfig(dir, `${shared.section}[program:w]\nworker = ${join(dir, 'worker.mjs')}\nstartsecs = 0\n`);
  let run: CliRun | null = null;
  try {
    run = await startUp(conf);
    const [, id] = (await run.waitForLine(/w_0 \| handling task (\d+) attempt 2/)) as RegExpMatchArray;
    const said = new RegExp(`drover queue jobs: task ${id} \\(attempt 1\\): ${verb} ${answer}.*: the lease had been lost .*may run, or have run, again`);
    await run.waitForLine(said);
    assert.equal(run.count(said), 1, run.describe());
    assert.equal(run.count(/answered false|answered 'lost'/), 1, `the current delivery's ack is accepted, so said once:\n${run.describe()}`);
  } finally {
    if (run) await teardown(run);
    await shared.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
}
}
