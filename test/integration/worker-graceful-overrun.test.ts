// A job worker asked to stop while a task outlasts graceful_timeout leaves on its own deadline, just before
// the master's SIGKILL. It used to leave in silence (exit 0, "stopping → stopped"), with the task cut short
// and stop() never called. It now says so on its stderr; the task is back in the queue at once.
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeTmpDir, runCli, startUp, teardown, waitForCondition, writeConfig } from '../helpers/drover.js';
import { linkDrover } from '../helpers/shared.js';

const WORKER = `import { writeFileSync } from 'node:fs';
import { defineWorker } from 'drover';
export default defineWorker({
  async run(ctx) {
    await ctx.queue('jobs').process(async () => {
      writeFileSync(process.env.BUSY, '');
      // ignores the stop: runs past graceful_timeout
      await new Promise(() => {});
    });
  },
  async stop() {
    writeFileSync(process.env.STOPPED, '');
  },
});
`;

type Stats = { ready: number; leased: number; lost: number };

test('a job worker whose task outlasts graceful_timeout says so when it leaves; the task goes back to the queue', async () => {
  const dir = makeTmpDir();
  linkDrover(dir);
  const busy = join(dir, 'busy');
  const stopped = join(dir, 'stopped');
  writeFileSync(join(dir, 'worker.mjs'), WORKER);
  const conf = writeConfig(
    dir,
    `[program:w]
worker = ${join(dir, 'worker.mjs')}
startsecs = 0
graceful_timeout = 1s
environment = BUSY="${busy}",STOPPED="${stopped}"
`,
  );
  const run = await startUp(conf);
  try {
    await run.waitForLine(/w_0: starting → running/);
    assert.equal((await runCli(['queue', 'push', 'jobs', '{}', '-c', conf])).code, 0);
    await waitForCondition(() => existsSync(busy), 'the task to be running', { describe: () => run.describe() });
    assert.equal((await runCli(['stop', 'w', '-c', conf])).code, 0);
    await run.waitForLine(/w_0: stopping → stopped/);
    const tail = await runCli(['tail', 'w_0', 'stderr', '-c', conf]);
    assert.match(tail.stdout, /drover worker w_0: graceful_timeout \(1000 ms\) ran out before run\(\) returned: the tasks still in flight go back to the queue/, tail.output);
    assert.equal(existsSync(stopped), false, 'stop() is not called once the budget is spent (docs/shared.md)');
    const cli = await runCli(['queue', 'stats', 'jobs', '--json', '-c', conf]);
    const s = (JSON.parse(cli.stdout) as { queues: Stats[] }).queues[0] as Stats;
    assert.deepEqual({ ready: s.ready, leased: s.leased, lost: s.lost }, { ready: 1, leased: 0, lost: 1 }, cli.stdout);
  } finally {
    await teardown(run, [], dir);
  }
});
