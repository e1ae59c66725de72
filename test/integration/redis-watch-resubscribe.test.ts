// Redis backend: a state.watch must not miss a change made while the master's subscriber connection was
// down. Redis cuts the connection (CLIENT KILL TYPE pubsub, as its pub/sub output-buffer limit does) and,
// in the same pipeline, another master's change is published to nobody; once ioredis has reconnected and
// subscribed again, the master reads the watched key and the worker's watch gets the new value. A drop
// with no change meanwhile gives the watch no call.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeTmpDir, startUp, teardown, waitForCondition, writeConfig } from '../helpers/drover.js';
import { startRedis, startRedisRelay } from '../helpers/redis.js';
import { linkDrover } from '../helpers/shared.js';

const WATCHER = `import { defineWorker } from 'drover';
export default defineWorker({
  async run(ctx) {
    await ctx.state.watch('k', (v) => ctx.log('k is ' + JSON.stringify(v)));
    await new Promise((r) => ctx.signal.addEventListener('abort', r));
  },
});
`;

// a watch and a queue: the master's subscriber connection holds its grant channel, the watched key's and
// the queue's wake channel
const WATCHER_AND_TAKER = `import { defineWorker } from 'drover';
export default defineWorker({
  async run(ctx) {
    await ctx.state.watch('k', (v) => ctx.log('k is ' + JSON.stringify(v)));
    ctx.log('taking');
    await ctx.queue('jobs').process(async (task) => ctx.log('handled task ' + task.id));
  },
});
`;

test('[redis backend] a watch gets a change made while the subscriber connection was down, and no call when nothing changed', async () => {
  const dir = makeTmpDir();
  linkDrover(dir);
  const redis = await startRedis(dir);
  writeFileSync(join(dir, 'watcher.mjs'), WATCHER);
  const run = await startUp(
    writeConfig(
      dir,
      `[drover]
shared_backend = ${redis.url}
shared_prefix = rp

[program:watcher]
worker = ${join(dir, 'watcher.mjs')}
`,
    ),
  );
  // what another master's stateSet does: the hash field, then the change on the key's channel
  const redisCli = (commands: string): string[] => execFileSync('redis-cli', ['-s', redis.socket], { input: commands, encoding: 'utf8' }).trim().split('\n');
  const seen = (): string[] => [...run.output.matchAll(/watcher_0 \| k is (.*)/g)].map((m) => m[1] ?? '');
  const resynced = /subscriber connection back; 1 watched state key\(s\) read again, (\d+) watch\(es\) given/g;
  try {
    await run.waitForLine(/watcher_0 \| k is undefined/);
    assert.deepEqual(redisCli('HSET rp:s k 3\nPUBLISH rp:sc:k 13\n'), ['1', '1'], 'the change reached the one subscriber');
    await run.waitForLine(/watcher_0 \| k is 3/);

    // the subscriber is cut off, and the change that follows in the same pipeline reaches no one
    assert.deepEqual(redisCli('CLIENT KILL TYPE pubsub\nHSET rp:s k 4\nPUBLISH rp:sc:k 14\n'), ['1', '0', '0']);
    await run.waitForLine(/watcher_0 \| k is 4/);
    await run.waitForCount(resynced, 1);

    // cut off again with nothing changed: the key is read again, and the watch is not called
    assert.deepEqual(redisCli('CLIENT KILL TYPE pubsub\n'), ['1']);
    await run.waitForCount(resynced, 2);
    assert.deepEqual([...run.output.matchAll(resynced)].map((m) => m[1]), ['1', '0'], 'watches given a value on each resync');
    // subscribed again: the next change arrives as a message; a spurious call would sit before it (one IPC stream)
    assert.deepEqual(redisCli('HSET rp:s k 5\nPUBLISH rp:sc:k 15\n'), ['0', '1']);
    await run.waitForLine(/watcher_0 \| k is 5/);
    assert.deepEqual(seen(), ['undefined', '3', '4', '5'], `every call of the watch, in order:\n${run.output}`);
  } finally {
    await teardown(run, [], dir);
    await redis.stop();
  }
});

test('[redis backend] a drop before the subscriber connection is subscribed again, then an outage past the retry limit: the master lives on and subscribes again', async () => {
  // ioredis subscribed again by itself at each reconnect, with nobody to hear that SUBSCRIBE fail: cut before
  // it was answered, it was sent again at the next connect, and an outage past ioredis' retry limit (20
  // retries, about 11 s) failed it as an unhandled rejection, which the master takes as fatal (it stopped
  // every program and exited 1).
  const dir = makeTmpDir();
  linkDrover(dir);
  const redis = await startRedis(dir);
  const relay = await startRedisRelay(dir, redis);
  writeFileSync(join(dir, 'worker.mjs'), WATCHER_AND_TAKER);
  const run = await startUp(
    writeConfig(
      dir,
      `[drover]
shared_backend = ${relay.url}
shared_prefix = rc

[program:worker]
worker = ${join(dir, 'worker.mjs')}
`,
    ),
  );
  const redisCli = (commands: string): string[] => execFileSync('redis-cli', ['-s', redis.socket], { input: commands, encoding: 'utf8' }).trim().split('\n');
  const channels = (): string => redisCli('PUBSUB CHANNELS rc:*\n').sort().join(' ');
  const subscribed = (): boolean => /rc:g:\S+ rc:sc:k rc:w:jobs/.test(channels());
  try {
    await run.waitForLine(/worker_0 \| taking/);
    await waitForCondition(subscribed, 'the grant, watch and wake channels subscribed', { describe: () => `${channels()}\n${run.describe()}` });
    const before = channels();

    const cut = relay.cutAtNextSubscribe();
    assert.deepEqual(redisCli('CLIENT KILL TYPE pubsub\n'), ['1']);
    await cut;
    // the resubscription cut off, and Redis out of reach: the subscriber's retries run out
    const exhausted = await run.waitForLine(/max retries per request|internal error/i, { timeoutMs: 40_000 });
    assert.doesNotMatch(exhausted[0], /internal error/, run.describe());
    assert.equal(run.child.exitCode, null, `the master still runs after: ${exhausted[0]}\n${run.describe()}`);

    await relay.accept();
    await run.waitForLine(/subscriber connection back/, { timeoutMs: 30_000 });
    await waitForCondition(() => channels() === before, `the same channels as before (${before})`, { describe: () => `${channels()}\n${run.describe()}` });
    // the watch hears changes again, as a message
    assert.deepEqual(redisCli('HSET rc:s k 7\nPUBLISH rc:sc:k 17\n'), ['1', '1']);
    await run.waitForLine(/worker_0 \| k is 7/);
    run.signal('SIGTERM');
    const exit = await run.waitForExit(15_000);
    assert.equal(exit.code, 0, run.describe());
  } finally {
    await teardown(run, [], dir);
    await relay.close();
    await redis.stop();
  }
});
