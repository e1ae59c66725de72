// Issue 5: both shared backends — the master's memory and a real redis-server — pass the same suite,
// driven through the one SharedBackend interface the master's service uses. Then what only Redis has:
// several masters on one server, and a master that vanishes without leaving.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { SharedBackend } from '../../src/shared/backend.js';
import { MemoryBackend } from '../../src/shared/memory-backend.js';
import type { Delivery } from '../../src/shared/queue-core.js';
import { RedisBackend } from '../../src/shared/redis-backend.js';
import { makeTmpDir, TIMEOUT_SCALE } from '../helpers/drover.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';

const WAIT_MS = 5000 * TIMEOUT_SCALE;

let redis: RedisServer;
let prefixes = 0;
const open: SharedBackend[] = [];

before(async () => {
  redis = await startRedis(makeTmpDir('drover-redis-'));
});

after(async () => {
  for (const b of open) await b.close();
  await redis.stop();
});

async function redisBackend(prefix = `t${++prefixes}`, livenessMs?: number): Promise<RedisBackend> {
  const b = await RedisBackend.connect({ url: redis.url, prefix, ...(livenessMs ? { livenessMs } : {}), onError: (m) => process.stderr.write(`# ${m}\n`) });
  open.push(b);
  return b;
}

const BACKENDS: { name: string; make: () => Promise<SharedBackend> }[] = [
  {
    name: 'memory',
    make: async () => {
      const b = new MemoryBackend();
      open.push(b);
      return b;
    },
  },
  { name: 'redis', make: () => redisBackend() },
];

/** The next delivery for `owner`, within a bounded wait that reports the queue when it fails. */
function takeOne(b: SharedBackend, queue: string, owner: string, leaseMs = 60_000): Promise<Delivery> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cancel();
      void Promise.resolve(b.queueStats(queue)).then((s) => reject(new Error(`no task from ${queue} for ${owner} in ${WAIT_MS} ms: ${JSON.stringify(s)}`)), reject);
    }, WAIT_MS);
    const cancel = b.take(queue, owner, leaseMs, (d) => {
      clearTimeout(timer);
      resolve(d);
    });
  });
}

/** The lock's token for `owner`, within a bounded wait. */
function lockOne(b: SharedBackend, name: string, owner: string, ttlMs = 0): { token: Promise<number>; cancel: () => void } {
  let withdraw = (): void => {};
  let timer: NodeJS.Timeout | undefined;
  const token = new Promise<number>((resolve, reject) => {
    timer = setTimeout(() => {
      withdraw();
      void Promise.resolve(b.locks()).then((l) => reject(new Error(`lock ${name} not granted to ${owner} in ${WAIT_MS} ms: ${JSON.stringify(l)}`)), reject);
    }, WAIT_MS);
    withdraw = b.lockAcquire(name, owner, ttlMs, (t) => {
      clearTimeout(timer);
      resolve(t);
    });
  });
  return {
    token,
    cancel: () => {
      clearTimeout(timer);
      withdraw();
    },
  };
}

/** Resolves true if `p` settles within `ms`, false otherwise (for "is still waiting" checks). */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const r = await Promise.race([p.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)))]);
  clearTimeout(timer);
  return r;
}

for (const { name, make } of BACKENDS) {
  describe(`${name} backend`, () => {
    test('order: priority first, then first pushed; waiting takers are served in arrival order', async () => {
      const b = await make();
      const a = await b.push('q', 'a', {});
      const hi = await b.push('q', { n: 'hi' }, { priority: 5 });
      const c = await b.push('q', [1, 'c'], {});
      const got = [await takeOne(b, 'q', 'w#1'), await takeOne(b, 'q', 'w#1'), await takeOne(b, 'q', 'w#1')];
      assert.deepEqual(got.map((d) => d.id), [hi, a, c]);
      assert.deepEqual(got.map((d) => d.data), [{ n: 'hi' }, 'a', [1, 'c']]);
      assert.deepEqual(got.map((d) => [d.priority, d.attempt, d.maxAttempts]), [[5, 1, 5], [0, 1, 5], [0, 1, 5]]);
      // takers that wait: the first to ask gets the first task
      const first = takeOne(b, 'q2', 'w#1');
      const second = takeOne(b, 'q2', 'w#2');
      const x = await b.push('q2', 'x', {});
      const y = await b.push('q2', 'y', {});
      assert.deepEqual([(await first).id, (await second).id], [x, y]);
    });

    test('a delayed task is not taken before it is due', async () => {
      const b = await make();
      const pushedAt = Date.now();
      await b.push('d', 'later', { delayMs: 300 });
      await b.push('d', 'now', {});
      assert.equal((await takeOne(b, 'd', 'w#1')).data, 'now');
      const stats = (await b.queueStats('d'))[0];
      assert.equal(stats?.delayed, 1, JSON.stringify(stats));
      const later = await takeOne(b, 'd', 'w#1');
      assert.equal(later.data, 'later');
      assert.ok(Date.now() - pushedAt >= 290, `delivered ${Date.now() - pushedAt} ms after the push`);
    });

    test('ack once, by the holder only; nack retries, then dead letters; retry-dead brings them back', async () => {
      const b = await make();
      const id = await b.push('n', { job: 1 }, { maxAttempts: 2 });
      let d = await takeOne(b, 'n', 'w#1');
      assert.equal(await b.ack('n', id, 'w#2'), false, 'not the holder');
      assert.equal(await b.nack('n', id, 'w#1', 0, 'first'), 'requeued');
      assert.equal(await b.nack('n', id, 'w#1', 0, 'again'), 'lost', 'a nacked task is no longer held');
      d = await takeOne(b, 'n', 'w#2');
      assert.equal(d.attempt, 2);
      assert.equal(await b.nack('n', id, 'w#2', 0, 'second'), 'dead');
      const dead = await b.deadLetters('n', 10);
      assert.equal(dead.length, 1);
      assert.deepEqual({ ...dead[0], deadAtMs: 0 }, { id, data: { job: 1 }, priority: 0, attempts: 2, reason: 'nacked', error: 'second', deadAtMs: 0 });
      assert.equal(await b.retryDead('n'), 1);
      d = await takeOne(b, 'n', 'w#3');
      assert.deepEqual([d.id, d.attempt, d.maxAttempts], [id, 1, 2]);
      assert.equal(await b.ack('n', id, 'w#3'), true);
      assert.equal(await b.ack('n', id, 'w#3'), false, 'a second ack');
      const s = (await b.queueStats('n'))[0];
      assert.deepEqual(s && [s.ready, s.leased, s.dead, s.pushed, s.acked, s.nacked], [0, 0, 0, 1, 1, 2]);
    });

    test('nack with retryInMs: the task waits before it is taken again', async () => {
      const b = await make();
      const id = await b.push('r', 'x', {});
      await takeOne(b, 'r', 'w#1');
      const nackedAt = Date.now();
      assert.equal(await b.nack('r', id, 'w#1', 250, null), 'requeued');
      const d = await takeOne(b, 'r', 'w#1');
      assert.equal(d.attempt, 2);
      assert.ok(Date.now() - nackedAt >= 240, `retried ${Date.now() - nackedAt} ms after the nack`);
    });

    test('a lapsed lease goes to another taker; the old holder cannot ack; extend keeps a lease', async () => {
      const b = await make();
      const id = await b.push('l', 'x', {});
      await takeOne(b, 'l', 'w#1', 200);
      const d = await takeOne(b, 'l', 'w#2');
      assert.deepEqual([d.id, d.attempt], [id, 2]);
      assert.equal(await b.ack('l', id, 'w#1'), false, 'the lease was lost');
      assert.equal(await b.ack('l', id, 'w#2'), true);
      assert.equal((await b.queueStats('l'))[0]?.lost, 1);

      const id2 = await b.push('l', 'long', {});
      await takeOne(b, 'l', 'w#1', 300);
      const other = takeOne(b, 'l', 'w#2');
      for (let i = 0; i < 4; i++) {
        assert.equal(await b.extend('l', id2, 'w#1', 300), true);
        assert.equal(await settlesWithin(other, 150), false, 'an extended lease stays with its holder');
      }
      assert.equal(await b.ack('l', id2, 'w#1'), true);
      assert.equal(await b.push('l', 'next', {}) > id2, true);
      assert.equal((await other).data, 'next');
    });

    test('the holder exits: its tasks go back at once (an attempt spent), to the dead letters when used up', async () => {
      const b = await make();
      const id = await b.push('o', 'x', { maxAttempts: 2 });
      await takeOne(b, 'o', 'w#1');
      b.ownerGone('w#1');
      const d = await takeOne(b, 'o', 'w#2');
      assert.deepEqual([d.id, d.attempt], [id, 2]);
      b.ownerGone('w#2');
      for (let i = 0; ; i++) {
        const dead = await b.deadLetters('o', 10);
        if (dead.length === 1) {
          assert.equal(dead[0]?.reason, 'worker exited');
          break;
        }
        assert.ok(i < 100, `never dead-lettered: ${JSON.stringify(await b.queueStats('o'))}`);
        await new Promise((r) => setImmediate(r));
      }
    });

    test('release gives a task back without spending an attempt', async () => {
      const b = await make();
      const id = await b.push('rel', 'x', {});
      await takeOne(b, 'rel', 'w#1');
      assert.equal(await b.release('rel', id, 'w#1'), true);
      assert.equal(await b.release('rel', id, 'w#1'), false);
      assert.deepEqual([(await takeOne(b, 'rel', 'w#2')).attempt], [1]);
    });

    test('state: get, set, delete, increment, compare-and-set by value, watch', async () => {
      const b = await make();
      assert.deepEqual(await b.stateGet('k'), { found: false, value: null });
      const seen: unknown[] = [];
      const unwatch = b.stateWatch('k', 'w#1', (_k, found, value) => seen.push(found ? value : '<absent>'));
      await b.stateGet('k');
      await b.stateSet('k', { a: 1, b: [true, null, 'é'] });
      assert.deepEqual(await b.stateGet('k'), { found: true, value: { a: 1, b: [true, null, 'é'] } });
      // compare-and-set compares values, not their spelling
      assert.equal(await b.stateCompareAndSet('k', { found: true, value: { b: [true, null, 'é'], a: 1 } }, { found: true, value: 2 }), true);
      assert.equal(await b.stateCompareAndSet('k', { found: true, value: 3 }, { found: true, value: 4 }), false);
      assert.equal(await b.stateIncrement('k', 40), 42);
      assert.equal(await b.stateIncrement('k', 0.5), 42.5);
      assert.equal(await b.stateIncrement('fresh', -3), -3, 'an absent key counts as 0');
      assert.equal(await b.stateDelete('k'), true);
      assert.equal(await b.stateDelete('k'), false);
      assert.equal(await b.stateCompareAndSet('k', { found: false, value: null }, { found: true, value: 'made' }), true);
      assert.equal(await b.stateCompareAndSet('k', { found: true, value: 'made' }, { found: false, value: null }), true);
      await b.stateSet('s', 'text');
      await assert.rejects(Promise.resolve().then(() => b.stateIncrement('s', 1)), (err: Error & { code?: string }) => err.code === 'E_NOT_A_NUMBER');
      const expected = [{ b: [true, null, 'é'], a: 1 }, 2, 42, 42.5, '<absent>', 'made', '<absent>'];
      for (let i = 0; seen.length < expected.length; i++) {
        assert.ok(i < 200, `watch saw ${JSON.stringify(seen)}`);
        await new Promise((r) => setTimeout(r, 5));
      }
      assert.deepEqual(seen, expected);
      unwatch();
      await b.stateSet('k', 'unseen');
      assert.deepEqual(seen, expected);
    });

    test('concurrent increments and compare-and-set loops lose nothing', async () => {
      const b = await make();
      const N = 200;
      await Promise.all(Array.from({ length: N }, () => Promise.resolve(b.stateIncrement('c', 1))));
      assert.equal((await b.stateGet('c')).value, N);
      const casAdd = async (): Promise<void> => {
        for (;;) {
          const cur = await b.stateGet('cas');
          const v = cur.found ? (cur.value as number) : 0;
          if (await b.stateCompareAndSet('cas', cur, { found: true, value: v + 1 })) return;
        }
      };
      await Promise.all(Array.from({ length: 50 }, casAdd));
      assert.equal((await b.stateGet('cas')).value, 50);
    });

    test('locks: FIFO waiters, fencing tokens, release by token, ttl, a withdrawn waiter, the holder exits', async () => {
      const b = await make();
      const t1 = await lockOne(b, 'L', 'w#1').token;
      const w2 = lockOne(b, 'L', 'w#2');
      const w3 = lockOne(b, 'L', 'w#3');
      const w4 = lockOne(b, 'L', 'w#4');
      for (let i = 0; ; i++) {
        const l = (await b.locks()).find((x) => x.name === 'L');
        if (l?.waiting === 3) {
          assert.deepEqual([l.owner, l.token], ['w#1', t1]);
          break;
        }
        assert.ok(i < 200, `three waiters never queued: ${JSON.stringify(await b.locks())}`);
        await new Promise((r) => setTimeout(r, 5));
      }
      w3.cancel();
      assert.equal(await b.lockRelease('L', t1 + 1000), false, 'a token that does not hold it');
      assert.equal(await b.lockRelease('L', t1), true);
      const t2 = await w2.token;
      assert.ok(t2 > t1, 'fencing tokens grow');
      assert.equal(await settlesWithin(w4.token, 100), false, 'w#4 waits behind w#2');
      b.ownerGone('w#2');
      const t4 = await w4.token;
      assert.ok(t4 > t2);
      assert.equal(await settlesWithin(w3.token, 50), false, 'the withdrawn waiter was skipped');
      assert.equal(await b.lockRelease('L', t4), true);
      // ttl
      const started = Date.now();
      await lockOne(b, 'T', 'w#1', 200).token;
      await lockOne(b, 'T', 'w#2').token;
      assert.ok(Date.now() - started >= 190, `the ttl lapsed after ${Date.now() - started} ms`);
    });
  });
}

describe('redis backend: several masters on one server', () => {
  test('a push at one master wakes a taker at another; a lock released at one is granted at the other', async () => {
    const a = await redisBackend('multi');
    const b = await redisBackend('multi');
    const waiting = takeOne(b, 'q', 'w#2');
    const id = await a.push('q', { from: 'a' }, {});
    const d = await waiting;
    assert.deepEqual([d.id, d.data], [id, { from: 'a' }]);
    assert.equal(await a.ack('q', id, 'w#2'), false, 'leases belong to the taking master\'s worker');
    assert.equal(await b.ack('q', id, 'w#2'), true);

    const held = await lockOne(a, 'L', 'w#1').token;
    const other = lockOne(b, 'L', 'w#1');
    assert.equal(await settlesWithin(other.token, 100), false);
    assert.equal(await a.lockRelease('L', held), true);
    assert.ok((await other.token) > held);

    const seen: unknown[] = [];
    b.stateWatch('shared', 'w#9', (_k, _f, v) => seen.push(v));
    await b.stateGet('shared');
    await a.stateSet('shared', 'from a');
    assert.equal(await a.stateIncrement('n', 1), 1);
    assert.equal(await b.stateIncrement('n', 1), 2);
    for (let i = 0; seen.length < 1; i++) {
      assert.ok(i < 200, 'the watch at b never saw the change made at a');
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.deepEqual(seen, ['from a']);
  });

  test('a master that vanishes without leaving: its leases and locks come back once its heartbeat lapses', async () => {
    const a = await redisBackend('vanish', 300);
    const b = await redisBackend('vanish', 300);
    const id = await a.push('q', 'x', {});
    await takeOne(a, 'q', 'w#1');
    const token = await lockOne(a, 'L', 'w#1').token;
    const nextTask = takeOne(b, 'q', 'w#2');
    const nextLock = lockOne(b, 'L', 'w#2');
    assert.equal(await settlesWithin(nextTask, 100), false, 'a live master keeps its lease');
    const gone = Date.now();
    a.abandon();
    const d = await nextTask;
    assert.deepEqual([d.id, d.attempt], [id, 2]);
    assert.ok((await nextLock.token) > token);
    const ms = Date.now() - gone;
    assert.ok(ms < 300 + 1000 + 500, `given back ${ms} ms after the master vanished`);
    process.stdout.write(`# a vanished master's lease and lock came back after ${ms} ms (liveness 300 ms)\n`);
  });

  test('Redis restarts under a master: a waiting take and a waiting lock are served once it is back', async () => {
    const dir = makeTmpDir('drover-redis-restart-');
    let server = await startRedis(dir);
    const b = await RedisBackend.connect({ url: server.url, prefix: 'restart', onError: () => {} });
    try {
      const waiting = takeOne(b, 'q', 'w#1');
      assert.equal(await settlesWithin(waiting, 100), false);
      // a lock held, and a waiter queued behind it: both are lost with the server's data
      const held = await lockOne(b, 'W', 'w#2').token;
      const queued = lockOne(b, 'W', 'w#3');
      assert.equal(await settlesWithin(queued.token, 100), false);
      await server.stop();
      server = await startRedis(dir);
      // the data went with the old server (no persistence here); the client reconnects and re-subscribes
      const id = await b.push('q', 'after', {});
      const d = await waiting;
      assert.deepEqual([d.id, d.data], [id, 'after']);
      assert.ok((await lockOne(b, 'L', 'w#1').token) > 0);
      // the waiter's master queues it again (its poll finds it neither waiting nor holding)
      assert.ok((await queued.token) > 0, `the waiter queued before the restart got the lock (held ${held})`);
    } finally {
      await b.close();
      await server.stop();
    }
  });

  test('start-up against a server that is not there fails with the address and the cause', async () => {
    await assert.rejects(
      RedisBackend.connect({ url: 'unix:/nonexistent/redis.sock', prefix: 'x', connectTimeoutMs: 2000, onError: () => {} }),
      (err: Error) => /unix:\/nonexistent\/redis\.sock: cannot connect: .*ENOENT/.test(err.message),
    );
  });
});
