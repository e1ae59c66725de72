// Redis backend: a Redis that stops answering without dropping the connection (SIGSTOP here; a blackholed
// network does the same) used to hang every shared request with no error and no log line: `drover queue
// stats` waited as long as the stall, a worker's ack never settled. Now a request Redis does not answer
// within the command timeout fails with E_BACKEND, the master says so once, and once Redis answers again
// the next request works. A job worker whose ack failed that way says on stderr that the task may run again
// after its lease (at least once), instead of dropping the failure silently.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeTmpDir, runCli, startUp, teardown, writeConfig, type CliRun } from '../helpers/drover.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { linkDrover } from '../helpers/shared.js';

/** the backend's command timeout (src/primitives/redis-backend.ts), and the slack a loaded machine needs */
const COMMAND_TIMEOUT_MS = 5000;
const BOUND_MS = COMMAND_TIMEOUT_MS + 5000;

const STALL_LOGGED = /Redis did not answer within \d+ ms/g;
const ANSWERS_AGAIN = /Redis answers again/;

// Handles each task until the test creates the file GO (checked every 20 ms: the test owns the timing).
const WORKER = `import { existsSync } from 'node:fs';
import { defineWorker } from 'drover';
export default defineWorker({
  async run(ctx) {
    await ctx.queue('jobs').process(async (task) => {
      ctx.log('handling task ' + task.id);
      await new Promise((r) => { const t = setInterval(() => existsSync(process.env.GO) && (clearInterval(t), r()), 20); });
      ctx.log('handled task ' + task.id);
    });
  },
});
`;

async function withStalledRedis(body: (ctx: { run: CliRun; conf: string; dir: string; redis: RedisServer }) => Promise<void>, program = (_dir: string): string => ''): Promise<void> {
  const dir = makeTmpDir();
  linkDrover(dir);
  const redis = await startRedis(dir);
  writeFileSync(join(dir, 'worker.mjs'), WORKER);
  const conf = writeConfig(dir, `[drover]\nshared_backend = ${redis.url}\nshared_prefix = st\n\n${program(dir)}`);
  let run: CliRun | null = null;
  try {
    run = await startUp(conf, { GO: join(dir, 'go') });
    await body({ run, conf, dir, redis });
  } finally {
    // a stopped Redis would hold up drover's exit and ignore its own SIGTERM
    process.kill(redis.pid, 'SIGCONT');
    if (run) await teardown(run);
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('[redis backend] a stalled Redis fails `queue stats` with E_BACKEND within a bounded time, logged once; the next call after it answers works', async () => {
  await withStalledRedis(async ({ run, conf, redis }) => {
    const before = await runCli(['queue', 'stats', '-c', conf]);
    assert.equal(before.code, 0, before.output);

    process.kill(redis.pid, 'SIGSTOP');
    // twice, the second with --json for the code: each fails on its own, and the log says it once
    for (const json of [false, true]) {
      const started = Date.now();
      const stalled = await runCli(['queue', 'stats', '-c', conf, ...(json ? ['--json'] : [])], { timeoutMs: BOUND_MS * 2 });
      const tookMs = Date.now() - started;
      assert.equal(stalled.code, 1, `during the stall: exit 1 (FAILURE)\n${stalled.output}\n${run.describe()}`);
      assert.match(stalled.output, /Redis did not answer within \d+ ms/, `a clear message\n${stalled.output}`);
      if (json) assert.equal((JSON.parse(stalled.stdout) as { code: string }).code, 'E_BACKEND', stalled.output);
      assert.ok(tookMs < BOUND_MS, `failed after ${tookMs} ms, bound ${BOUND_MS} ms`);
    }
    await run.waitForCount(STALL_LOGGED, 1);
    assert.equal(run.count(STALL_LOGGED), 1, `the stall is logged once, not per request:\n${run.describe()}`);

    process.kill(redis.pid, 'SIGCONT');
    await run.waitForLine(ANSWERS_AGAIN, { timeoutMs: BOUND_MS });
    const after = await runCli(['queue', 'stats', '-c', conf]);
    assert.equal(after.code, 0, after.output);
  });
});

test('[redis backend] a worker whose ack fails in a stall says on stderr that the task may run again after its lease', async () => {
  await withStalledRedis(
    async ({ run, conf, dir, redis }) => {
      await run.waitForLine(/w_0: starting → running/);
      const pushed = await runCli(['queue', 'push', 'jobs', '{"n":1}', '-c', conf]);
      assert.equal(pushed.code, 0, pushed.output);
      // Redis task ids are large (never below Redis's clock in µs): the one the push printed
      const id = pushed.stdout.trim();
      assert.match(id, /^\d+$/, pushed.output);
      await run.waitForLine(new RegExp(`w_0 \\| handling task ${id}\\b`));

      process.kill(redis.pid, 'SIGSTOP');
      writeFileSync(join(dir, 'go'), '');
      await run.waitForLine(new RegExp(`w_0 \\| handled task ${id}\\b`));
      // the ack goes out after the handler returned; Redis does not answer it
      await run.waitForLine(new RegExp(`drover queue jobs: task ${id} \\(attempt 1\\): ack failed: .*E_BACKEND.*delivered again once its lease ends`), {
        timeoutMs: BOUND_MS,
      });
      process.kill(redis.pid, 'SIGCONT');
      await run.waitForLine(ANSWERS_AGAIN, { timeoutMs: BOUND_MS });
    },
    (dir) => `[program:w]\nworker = ${join(dir, 'worker.mjs')}\nstartsecs = 0\n`,
  );
});
