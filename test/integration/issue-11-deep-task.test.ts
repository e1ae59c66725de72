// Issue 11, finding 4: a queue task nested 10,000 levels deep used to be accepted by `POST /api/queue/push`;
// the master then threw (stack overflow) while serialising it for the worker and SIGKILLed every program.
// Now every push path refuses it with E_BAD_ARGUMENTS — the JSON API, `drover queue push` and a worker's
// own push over IPC — and drover, the worker and an unrelated program carry on (a worker's other request
// that cannot be serialised fails alone, without ending the worker). A task that still cannot be
// sent (one a foreign producer wrote straight into Redis) goes to the dead letters, reason `undeliverable`,
// with a log line, instead of bringing the master down.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { RedisBackend, redisOptions } from '../../src/primitives/redis-backend.js';
import { fixture, livePids, makeTmpDir, runCli, startUp, teardown, writeConfig } from '../helpers/drover.js';
import { startRedis } from '../helpers/redis.js';
import { linkDrover } from '../helpers/shared.js';
import { rawRequest } from '../helpers/xmlrpc.js';

const DEPTH = 10_000;
const DEEP_TEXT = '['.repeat(DEPTH) + ']'.repeat(DEPTH);

const CONSUMER = `import { defineWorker } from 'drover';
function nested(n) { let v = 0; for (let i = 0; i < n; i++) v = [v]; return v; }
export default defineWorker({
  async run(ctx) {
    await ctx.queue('q').process(async (task) => {
      if (task.data.takeFrom) {
        const t = await ctx.queue(task.data.takeFrom).take();
        ctx.log('took from ' + task.data.takeFrom + ' ' + JSON.stringify(t.data));
        await t.ack();
        return;
      }
      if (task.data.setDeep) {
        try {
          await ctx.state.set('deep', nested(task.data.setDeep));
          ctx.log('own state.set accepted');
        } catch (err) {
          ctx.log('own state.set refused: ' + err.code + ': ' + err.message);
        }
        return;
      }
      if (task.data.pushDeep) {
        try {
          await ctx.queue('q').push(nested(task.data.pushDeep));
          ctx.log('own push accepted');
        } catch (err) {
          ctx.log('own push refused: ' + err.code + ': ' + err.message);
        }
        return;
      }
      ctx.log('took ' + JSON.stringify(task.data));
    });
  },
});
`;

/** One request to the JSON API on the control socket, the body given as text (it may be too deep to stringify). */
async function call(sock: string, method: 'GET' | 'POST', path: string, body = ''): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await rawRequest(sock, { method, path, headers: { 'content-type': 'application/json' }, body });
  return { status: r.status, body: JSON.parse(r.body) as Record<string, unknown> };
}

const post = (sock: string, path: string, body: string): ReturnType<typeof call> => call(sock, 'POST', path, body);

test('a 10,000-deep task is refused with E_BAD_ARGUMENTS by the API, the CLI and a worker\'s own push; nothing else is disturbed', async () => {
  const dir = makeTmpDir();
  linkDrover(dir);
  writeFileSync(join(dir, 'consumer.mjs'), CONSUMER);
  const conf = writeConfig(
    dir,
    `[program:jobs]
worker = ${join(dir, 'consumer.mjs')}

[program:other]
command = ${process.execPath} ${fixture('forever.mjs')}
startsecs = 0
`,
  );
  const run = await startUp(conf);
  const sock = join(dir, '.drover', 'drover.sock');
  const pids = (): number[] => [...run.output.matchAll(/spawned: \w+ with pid (\d+)/g)].map((m) => Number(m[1]));
  try {
    await run.waitForLine(/jobs_0: starting → running/);
    await run.waitForLine(/other: starting → running/);
    const other = Number((await run.waitForLine(/spawned: other with pid (\d+)/))[1]);

    // the JSON API
    const api = await post(sock, '/api/queue/push', `{"queue":"q","task":${DEEP_TEXT}}`);
    assert.equal(api.status, 400, `${JSON.stringify(api.body)}\n${run.describe()}`);
    assert.equal(api.body['code'], 'E_BAD_ARGUMENTS');
    assert.match(String(api.body['message']), /queue "q": the task is nested more than 64 levels deep/);

    // the CLI
    const cli = await runCli(['queue', 'push', 'q', DEEP_TEXT, '-c', conf, '--json']);
    assert.equal(cli.code, 2, cli.output);
    assert.equal((JSON.parse(cli.stdout) as { code: string }).code, 'E_BAD_ARGUMENTS', cli.output);
    assert.match(cli.stderr, /the task is nested more than 64 levels deep/);

    // a worker's own push over IPC
    const ask = await post(sock, '/api/queue/push', JSON.stringify({ queue: 'q', task: { pushDeep: DEPTH } }));
    assert.equal(ask.status, 200, JSON.stringify(ask.body));
    await run.waitForLine(/jobs_0 \| own push refused: E_BAD_ARGUMENTS: queue "q": the task is nested more than 64 levels deep/);
    // a state value has a task's limits (a deep one overflowed the master's compare), refused in the worker
    // before it is sent, without ending the worker
    assert.equal((await post(sock, '/api/queue/push', JSON.stringify({ queue: 'q', task: { setDeep: DEPTH } }))).status, 200);
    await run.waitForLine(/jobs_0 \| own state.set refused: E_BAD_ARGUMENTS: state "deep": the value is nested more than 64 levels deep/);

    // everyone carries on: the worker takes the next task, drover runs, `other` was never restarted
    assert.equal((await post(sock, '/api/queue/push', '{"queue":"q","task":{"n":1}}')).status, 200);
    await run.waitForLine(/jobs_0 \| took \{"n":1\}/);
    assert.equal(run.child.exitCode, null, `drover is still running\n${run.describe()}`);
    assert.deepEqual(livePids([other], run.mark), [other], 'the unrelated program is still alive');
    assert.equal(run.count(/spawned: other with pid/g), 1, 'and was never restarted');
    assert.doesNotMatch(run.output, /internal error/);
  } finally {
    await teardown(run, pids(), dir);
  }
});

test('[redis backend] a stored task that cannot be sent to the worker is dead-lettered as undeliverable, with a log line; the master and its programs carry on', async () => {
  const dir = makeTmpDir();
  linkDrover(dir);
  writeFileSync(join(dir, 'consumer.mjs'), CONSUMER);
  const redis = await startRedis(dir);
  const conf = writeConfig(
    dir,
    `[drover]
shared_backend = ${redis.url}

[program:jobs]
worker = ${join(dir, 'consumer.mjs')}

[program:other]
command = ${process.execPath} ${fixture('forever.mjs')}
startsecs = 0
`,
  );
  // What an older drover or another program may have left in Redis: a task drover's push would refuse.
  const producer = await RedisBackend.connect({ url: redis.url, prefix: 'drover' });
  const raw = new Redis(redisOptions(redis.url));
  const run = await startUp(conf);
  const sock = join(dir, '.drover', 'drover.sock');
  const pids = (): number[] => [...run.output.matchAll(/spawned: \w+ with pid (\d+)/g)].map((m) => Number(m[1]));
  try {
    await run.waitForLine(/jobs_0: starting → running/);
    const other = Number((await run.waitForLine(/spawned: other with pid (\d+)/))[1]);
    const id = await producer.push('r', 'placeholder', {});
    await raw.connect();
    await raw.hset(`drover:t:${id}`, 'd', DEEP_TEXT);

    // the worker takes from queue r: the master cannot serialise that task for it
    assert.equal((await post(sock, '/api/queue/push', '{"queue":"q","task":{"takeFrom":"r"}}')).status, 200);
    const line = await run.waitForLine(/WARN queue "r": task (\d+) could not be sent to worker jobs:jobs_0#\d+ \(RangeError: Maximum call stack size exceeded\); moved to the dead letters/);
    assert.equal(Number(line[1]), id);
    assert.equal(await raw.hget(`drover:t:${id}`, 'dr'), 'undeliverable');
    const stats = await call(sock, 'GET', '/api/queue/stats?queue=r');
    assert.equal((stats.body['queues'] as { dead: number }[] | undefined)?.[0]?.dead, 1, JSON.stringify(stats.body));

    // the worker's take waits on and gets the next task
    assert.equal((await post(sock, '/api/queue/push', '{"queue":"r","task":{"n":2}}')).status, 200);
    await run.waitForLine(/jobs_0 \| took from r \{"n":2\}/);
    assert.equal(run.child.exitCode, null, `drover is still running\n${run.describe()}`);
    assert.deepEqual(livePids([other], run.mark), [other], 'the unrelated program is still alive');
    assert.equal(run.count(/spawned: (other|jobs_0) with pid/g), 2, 'nothing was restarted');
    assert.doesNotMatch(run.output, /internal error/);
  } finally {
    raw.disconnect();
    await producer.close();
    await teardown(run, pids(), dir);
    await redis.stop();
  }
});
