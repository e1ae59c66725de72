// Issue 5: both shared backends — the master's memory and a real redis-server — pass the same suite,
// driven through the one SharedBackend interface the master's service uses. Then what only Redis has:
// several masters on one server, and a master that vanishes without leaving.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { SharedBackend } from '../../src/primitives/backend.js';
import { MemoryBackend } from '../../src/primitives/memory-backend.js';
import type { Delivery } from '../../src/primitives/queue-core.js';
import { RedisBackend, redisOptions } from '../../src/primitives/redis-backend.js';
import type { EventEmitter } from 'node:events';
import { Redis } from 'ioredis';
import { assertStaysFor, makeTmpDir, TIMEOUT_SCALE } from '../helpers/drover.js';
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

/** `problems` collects what the backend reports (tests wait on those reports as events). */
async function redisBackend(prefix = `t${++prefixes}`, livenessMs?: number, problems?: string[]): Promise<RedisBackend> {
  const onError = (m: string): void => {
    problems?.push(m);
    process.stderr.write(`# ${m}\n`);
  };
  const b = await RedisBackend.connect({ url: redis.url, prefix, ...(livenessMs ? { livenessMs } : {}), onError });
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

/** Waits until `probe` (which may ask the backend) holds, within WAIT_MS; says what was awaited (and what was last seen) if not. */
async function until(probe: () => boolean | Promise<boolean>, what: string | (() => string)): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${WAIT_MS} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Counts script calls a backend sends to Redis (to show a master is not asking in a loop), or those Redis refused. */
function countCalls(b: RedisBackend, opts: { refused?: boolean } = {}): { readonly n: number } {
  const internals = b as unknown as { client: { evalsha: (...args: unknown[]) => Promise<unknown> } };
  const evalsha = internals.client.evalsha.bind(internals.client);
  const counter = { n: 0 };
  internals.client.evalsha = (...args: unknown[]) => {
    if (!opts.refused) {
      counter.n += 1;
      return evalsha(...args);
    }
    const answer = evalsha(...args);
    answer.catch(() => (counter.n += 1));
    return answer;
  };
  return counter;
}

/** A plain client on the test server (to look at keys, or to make the server refuse writes for a moment). */
async function rawClient(): Promise<Redis> {
  const r = new Redis(redisOptions(redis.url));
  await r.connect();
  return r;
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

    test('pushes made in one turn get distinct, growing ids, and each task keeps its own data', async () => {
      // Redis ids are 16-digit numbers: built into a key the way Lua prints such a number (1.7965725560031e+15),
      // ids a few µs apart would share one task key, and the last push would overwrite the others
      const b = await make();
      const ids = await Promise.all([0, 1, 2, 3, 4].map((n) => b.push('turn', { n }, {})));
      for (let i = 1; i < ids.length; i++) assert.ok((ids[i] as number) > (ids[i - 1] as number), `ids in push order: ${ids.join(' ')}`);
      const got = [];
      for (let i = 0; i < ids.length; i++) got.push(await takeOne(b, 'turn', 'w#1'));
      assert.deepEqual(got.map((d) => [d.id, d.data]), ids.map((id, n) => [id, { n }]));
      for (const d of got) assert.equal(await b.ack('turn', d.id, 'w#1', d.attempt), true, `ack of task ${d.id}`);
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
      // a 1 s lease extended every 300 ms for 1.2 s (long enough that a stall of the test itself cannot lapse it)
      await takeOne(b, 'l', 'w#1', 1000);
      const other = takeOne(b, 'l', 'w#2');
      for (let i = 0; i < 4; i++) {
        assert.equal(await b.extend('l', id2, 'w#1', 1000), true);
        assert.equal(await settlesWithin(other, 300), false, 'an extended lease stays with its holder');
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

    test('a lapsed delivery taken again by the same owner: the late ack, nack, release and extend of the first answer as lost and leave the second', async () => {
      const b = await make();
      const id = await b.push('stale', 'x', { maxAttempts: 3 });
      const first = await takeOne(b, 'stale', 'w#1', 50);
      // the same process takes again: served only once the first lease has lapsed
      const second = await takeOne(b, 'stale', 'w#1');
      assert.deepEqual([first.id, first.attempt, second.id, second.attempt], [id, 1, id, 2]);
      assert.equal(await b.extend('stale', id, 'w#1', 60_000, first.attempt), false, 'a late extend');
      assert.equal(await b.ack('stale', id, 'w#1', first.attempt), false, 'a late ack');
      assert.equal(await b.nack('stale', id, 'w#1', 0, 'late', first.attempt), 'lost', 'a late nack');
      assert.equal(await b.release('stale', id, 'w#1', first.attempt), false, 'a late release');
      const s = (await b.queueStats('stale'))[0];
      assert.deepEqual(s && [s.ready, s.leased, s.acked, s.nacked, s.lost], [0, 1, 0, 0, 1], `the second delivery still holds the task: ${JSON.stringify(s)}`);
      // the current delivery settles normally; 0 (no attempt named) means whichever the owner holds
      assert.equal(await b.extend('stale', id, 'w#1', 60_000, second.attempt), true);
      assert.equal(await b.release('stale', id, 'w#1', second.attempt), true);
      const third = await takeOne(b, 'stale', 'w#1');
      assert.deepEqual([third.id, third.attempt], [id, 2], 'a release spends no attempt');
      assert.equal(await b.nack('stale', id, 'w#1', 0, 'again', 0), 'requeued');
      const fourth = await takeOne(b, 'stale', 'w#1');
      assert.equal(await b.ack('stale', id, 'w#1', fourth.attempt), true);
      const end = (await b.queueStats('stale'))[0];
      assert.deepEqual(end && [end.ready, end.leased, end.acked, end.nacked, end.dead], [0, 0, 1, 1, 0], JSON.stringify(end));
    });

    test('release gives a task back without spending an attempt', async () => {
      const b = await make();
      const id = await b.push('rel', 'x', {});
      await takeOne(b, 'rel', 'w#1');
      assert.equal(await b.release('rel', id, 'w#1'), true);
      assert.equal(await b.release('rel', id, 'w#1'), false);
      assert.deepEqual([(await takeOne(b, 'rel', 'w#2')).attempt], [1]);
    });

    test('bury (issue 11): a leased task goes to the dead letters at once, attempts left or not, by its holder only', async () => {
      const b = await make();
      const id = await b.push('bur', { n: 1 }, { maxAttempts: 5 });
      await takeOne(b, 'bur', 'w#1');
      assert.equal(await b.bury('bur', id, 'w#2', 'not the holder'), false);
      assert.equal(await b.bury('bur', id, 'w#1', 'could not be sent'), true);
      assert.equal(await b.bury('bur', id, 'w#1', 'again'), false);
      const dead = await b.deadLetters('bur', 10);
      assert.deepEqual(
        dead.map((d) => [d.id, d.data, d.attempts, d.reason, d.error]),
        [[id, { n: 1 }, 1, 'undeliverable', 'could not be sent']],
      );
      const [stats] = await b.queueStats('bur');
      assert.deepEqual([stats?.ready, stats?.leased, stats?.dead], [0, 0, 1]);
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
      assert.equal(await b.lockRelease('L', 'w#2', t1), false, 'another worker with the holder\'s token: only the holder releases (tokens can be guessed)');
      assert.deepEqual((await b.locks()).find((x) => x.name === 'L')?.token, t1, 'and the holder keeps it');
      assert.equal(await b.lockRelease('L', 'w#1', t1 + 1000), false, 'a token that does not hold it');
      assert.equal(await b.lockRelease('L', 'w#1', t1), true);
      const t2 = await w2.token;
      assert.ok(t2 > t1, 'fencing tokens grow');
      assert.equal(await settlesWithin(w4.token, 100), false, 'w#4 waits behind w#2');
      b.ownerGone('w#2');
      const t4 = await w4.token;
      assert.ok(t4 > t2);
      assert.equal(await settlesWithin(w3.token, 50), false, 'the withdrawn waiter was skipped');
      assert.equal(await b.lockRelease('L', 'w#4', t4), true);
      // ttl
      const started = Date.now();
      await lockOne(b, 'T', 'w#1', 200).token;
      await lockOne(b, 'T', 'w#2').token;
      assert.ok(Date.now() - started >= 190, `the ttl lapsed after ${Date.now() - started} ms`);
    });

    // --- edge cases found in review (each failed on the Redis backend before its fix) ---

    test('a compare-and-set issued in the same turn right after a set sees that set', async () => {
      const b = await make();
      const set = Promise.resolve(b.stateSet('order', 1));
      const cas = Promise.resolve(b.stateCompareAndSet('order', { found: true, value: 1 }, { found: true, value: 2 }));
      await set;
      assert.equal(await cas, true, 'the set was issued first');
      assert.deepEqual(await b.stateGet('order'), { found: true, value: 2 });
    });

    test('a read issued in one turn before a write does not see that write', async () => {
      const b = await make();
      const pushed = Promise.resolve(b.push('rw', 'x', {}));
      const read = Promise.resolve(b.stateGet('rw-key'));
      const written = Promise.resolve(b.stateSet('rw-key', 'later'));
      await Promise.all([pushed, written]);
      assert.deepEqual(await read, { found: false, value: null }, 'the get was issued before the set');
    });

    test('dead letters with limit 0 lists none', async () => {
      const b = await make();
      const id = await b.push('dl0', 'x', { maxAttempts: 1 });
      await takeOne(b, 'dl0', 'w#1');
      assert.equal(await b.nack('dl0', id, 'w#1', 0, null), 'dead');
      assert.equal((await b.deadLetters('dl0', 1)).length, 1);
      assert.equal((await b.deadLetters('dl0', 0)).length, 0);
    });

    test('a last-attempt lease that lapses is in the dead letters without another take', async () => {
      const b = await make();
      await b.push('lapse', 'x', { maxAttempts: 1 });
      await takeOne(b, 'lapse', 'w#1', 100);
      // nothing else touches the queue: only the lapse itself can put it there
      await until(async () => (await b.deadLetters('lapse', 10)).length > 0, 'the lapsed last attempt in the dead letters');
      const dead = await b.deadLetters('lapse', 10);
      assert.deepEqual(dead.map((d) => d.reason), ['lease expired']);
    });

    test('a release after the ttl lapsed answers false', async () => {
      const b = await make();
      const t = await lockOne(b, 'TT', 'w#1', 100).token;
      await until(async () => !(await b.locks()).some((l) => l.name === 'TT' && l.owner !== null), 'the ttl of TT to lapse');
      assert.equal(await b.lockRelease('TT', 'w#1', t), false, 'the lock had lapsed');
    });

    test('ownerGone drops the owner\'s waiting lock requests', async () => {
      const b = await make();
      const t1 = await lockOne(b, 'OG', 'w#1').token;
      const w2 = lockOne(b, 'OG', 'w#2');
      const w3 = lockOne(b, 'OG', 'w#3');
      for (let i = 0; ; i++) {
        if ((await b.locks()).find((x) => x.name === 'OG')?.waiting === 2) break;
        assert.ok(i < 200);
        await new Promise((r) => setTimeout(r, 5));
      }
      b.ownerGone('w#2');
      assert.equal(await b.lockRelease('OG', 'w#1', t1), true);
      assert.ok((await w3.token) > t1, 'w#3 is next once w#2 is gone');
      assert.equal(await settlesWithin(w2.token, 50), false, 'a gone owner is not granted');
      w2.cancel();
    });

    test('a delayed task pushed while a taker waits is delivered when due, not a poll later', async () => {
      const b = await make();
      const waiting = takeOne(b, 'dly', 'w#1');
      // stats run after the take (Redis runs a master's requests in order): the taker has found it empty
      assert.equal((await b.queueStats('dly'))[0]?.waiting, 1);
      const pushedAt = Date.now();
      await b.push('dly', 'x', { delayMs: 100 });
      await waiting;
      const ms = Date.now() - pushedAt;
      // a poll would be a second later; 100 ms plus a loaded machine's scheduling is well under that
      assert.ok(ms < 700, `delivered ${ms} ms after a push with delayMs 100`);
    });

    test('stats of every queue list a queue that so far only has waiting takers', async () => {
      const b = await make();
      const cancel = b.take('only-takers', 'w#1', 60_000, () => {});
      const all = await b.queueStats(null);
      cancel();
      assert.deepEqual(all.filter((q) => q.name === 'only-takers').map((q) => q.waiting), [1]);
    });

    // A review found the memory backend granting on a release without arming its timer for the deadline the
    // grant set: the next holder's ttl or lease was never enforced, until some unrelated call armed it.
    test('a lock handed over by a release keeps its ttl: the waiter after it is granted once it lapses', async () => {
      const b = await make();
      const ta = await lockOne(b, 'HO', 'w#a').token;
      const wb = lockOne(b, 'HO', 'w#b', 200);
      const wc = lockOne(b, 'HO', 'w#c');
      await until(async () => (await b.locks()).find((l) => l.name === 'HO')?.waiting === 2, 'w#b and w#c waiting for HO');
      assert.equal(await b.lockRelease('HO', 'w#a', ta), true);
      const tb = await wb.token;
      // nothing else is asked of the backend: only the timer of w#b's ttl can hand the lock on
      const tc = await wc.token;
      assert.ok(tc > tb, `w#c got token ${tc} after w#b's ${tb}`);
    });

    test('a task handed over by retry-dead keeps its lease: lapsed on its last attempt, it is dead again', async () => {
      const b = await make();
      const first = takeOne(b, 'rdl', 'w#1', 200);
      const second = takeOne(b, 'rdl', 'w#1', 200);
      const id = await b.push('rdl', 'x', { maxAttempts: 1 });
      assert.equal((await first).id, id);
      await until(async () => (await b.queueStats('rdl'))[0]?.dead === 1, 'the first lease to lapse into the dead letters');
      assert.equal(await b.retryDead('rdl'), 1);
      const d = await second;
      assert.deepEqual([d.id, d.attempt], [id, 1]);
      // nothing else is asked of the backend but its stats: only the timer of this lease can bury the task
      let last: unknown = null;
      await until(async () => {
        const s = (last = (await b.queueStats('rdl'))[0]);
        return s?.leased === 0 && s.dead === 1;
      }, () => `the second lease to lapse (last stats ${JSON.stringify(last)})`);
    });

    test('names with : | spaces and unicode, empty-ish data, big priorities', async () => {
      const b = await make();
      for (const q of ['a:b|c d', 'é:ü|€ 😀', 'x:r', 'x', ':', '|||']) {
        const lo = await b.push(q, '', { priority: -Number.MAX_SAFE_INTEGER });
        const hi = await b.push(q, { s: '😀\u0000\n' }, { priority: Number.MAX_SAFE_INTEGER });
        const d1 = await takeOne(b, q, 'g:n|x y#1');
        const d2 = await takeOne(b, q, 'g:n|x y#1');
        assert.deepEqual([d1.id, d1.data, d2.id, d2.data], [hi, { s: '😀\u0000\n' }, lo, ''], q);
        assert.equal(await b.ack(q, hi, 'g:n|x y#1'), true);
        assert.equal(await b.nack(q, lo, 'g:n|x y#1', 0, 'é|: x'), 'requeued');
        const k = `${q}:key`;
        await b.stateSet(k, { q });
        assert.deepEqual(await b.stateGet(k), { found: true, value: { q } });
        const t = await lockOne(b, q, 'g:n|x y#2').token;
        assert.equal(await b.lockRelease(q, 'g:n|x y#2', t), true);
      }
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
    assert.equal(await a.lockRelease('L', 'w#1', held), true);
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
    // liveness 1 s: both masters live in this test process, so a stall of it must not lapse a's heartbeat
    const a = await redisBackend('vanish', 1000);
    const b = await redisBackend('vanish', 1000);
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
    assert.ok(ms < 1000 + 1000 + 1000, `given back ${ms} ms after the master vanished`);
    process.stdout.write(`# a vanished master's lease and lock came back after ${ms} ms (liveness 1000 ms)\n`);
  });

  test('Redis away for longer than shared_liveness: no master takes another for dead; one that vanishes afterwards still is, and that is logged', async () => {
    // every master is silent while Redis is away, and every liveness key lapses: the first script to run
    // after it used to take all the other masters for dead and give away what their live workers held
    const problemsA: string[] = [];
    const problemsB: string[] = [];
    const a = await redisBackend('grace', 1000, problemsA);
    const b = await redisBackend('grace', 1000, problemsB);
    const id = await a.push('q', 'x', {});
    await takeOne(a, 'q', 'w#1');
    const token = await lockOne(a, 'L', 'w#1').token;
    // b's worker waits for the same task queue and lock (its own bounded waits would run out in the outage)
    const delivered: Delivery[] = [];
    const granted: number[] = [];
    const cancelTake = b.take('q', 'w#2', 60_000, (d) => delivered.push(d));
    const withdraw = b.lockAcquire('L', 'w#2', 0, (t) => granted.push(t));
    const taken = (): string => `task ${JSON.stringify(delivered)}, lock ${JSON.stringify(granted)}; b said ${JSON.stringify(problemsB)}`;
    try {
      process.kill(redis.pid, 'SIGSTOP');
      try {
        // the outage: 2.5 livenesses, within the backend's 5 s command timeout
        await new Promise((r) => setTimeout(r, 2500));
      } finally {
        process.kill(redis.pid, 'SIGCONT');
      }
      // a grace of one liveness and 2 s after the silence (3 s here), and a beats again within a third of a
      // liveness: nothing moves, within the grace or after it
      await assertStaysFor(4500, () => delivered.length === 0 && granted.length === 0, `a's lease and lock staying a's (${taken()})`);
      assert.deepEqual([...problemsA, ...problemsB].filter((m) => /taken for dead|lost drover's data/.test(m)), []);
      // a vanishes: taken for dead as ever, and b says so
      a.abandon();
      await until(() => delivered.length === 1 && granted.length === 1, () => `a's lease and lock given to b (${taken()})`);
      assert.deepEqual([delivered[0]?.id, delivered[0]?.attempt], [id, 2]);
      assert.ok((granted[0] as number) > token);
      assert.ok(
        problemsB.some((m) => m.includes(`master ${a.masterId} did not beat within shared_liveness (1000 ms): taken for dead, what its workers held given back (up to 1 task lease(s), 1 lock(s))`)),
        JSON.stringify(problemsB),
      );
    } finally {
      cancelTake();
      withdraw();
    }
  });

  test('a Redis restarted without persistence: out of reach while down, then the loss of drover\'s data said once', async () => {
    const dir = makeTmpDir('drover-redis-born-');
    let server = await startRedis(dir);
    const problems: string[] = [];
    // a liveness of 600 ms: a heartbeat every 200 ms; requests fail after 1 s without an answer
    const infos: string[] = [];
    const b = await RedisBackend.connect({
      url: server.url,
      prefix: 'born',
      livenessMs: 600,
      commandTimeoutMs: 1000,
      onError: (m) => problems.push(m),
      onInfo: (m) => infos.push(m),
    });
    const lost = (): string[] => problems.filter((m) => m.startsWith("Redis lost drover's data under prefix born"));
    try {
      await b.push('q', 'before', {});
      assert.deepEqual(lost(), [], 'a fresh Redis is no loss');
      await server.stop();
      // down, not stalled: said as such, to the caller and in the log
      await assert.rejects(b.push('q', 'while down', {}), /Redis is out of reach \(connection (reconnecting|connecting)\)/);
      assert.ok(problems.some((m) => m.startsWith('Redis is out of reach')), JSON.stringify(problems));
      assert.ok(!problems.some((m) => m.includes('did not answer')), JSON.stringify(problems));
      server = await startRedis(dir);
      // the client's 'ready' beats at once; the request below is answered after that beat (one connection, in order)
      await b.push('q', 'after', {});
      await until(() => lost().length === 1, () => `the loss said (${JSON.stringify(problems)})`);
      assert.ok(infos.includes('shared backend: Redis answers again'), JSON.stringify(infos));
      assert.match(lost()[0] as string, /the tasks \(ready, delayed, leased, dead\), shared state and locks from before are gone/);
      // said once: the beats that follow find the mark set again
      await assertStaysFor(1000, () => lost().length === 1, `one report of the loss (${JSON.stringify(problems)})`);
    } finally {
      await b.close();
      await server.stop();
    }
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

  test('fencing tokens keep growing across a Redis restart without persistence; a lock held across it gets a second holder', async () => {
    // the counter (PREFIX:token) is lost with the data; tokens must not start again at 1, below the
    // first holder's, which a store fencing with them has seen
    const dir = makeTmpDir('drover-redis-token-');
    let server = await startRedis(dir);
    const b = await RedisBackend.connect({ url: server.url, prefix: 'token', onError: () => {} });
    try {
      const held = await lockOne(b, 'F', 'w#1').token;
      await server.stop();
      server = await startRedis(dir);
      // the same socket: the client reconnects; the lock is free again (its holder was lost with the data)
      const after = await lockOne(b, 'F', 'w#2').token;
      assert.ok(after > held, `the token granted after the restart (${after}) must be above the one before (${held})`);
      assert.equal(await b.lockRelease('F', 'w#1', held), false, 'the old holder learns at release that it lost the lock');
      assert.equal(await b.lockRelease('F', 'w#2', after), true);
      assert.ok((await lockOne(b, 'F', 'w#3').token) > after, 'tokens still grow after the floor was applied');
    } finally {
      await b.close();
      await server.stop();
    }
  });

  test('task ids keep growing across a Redis restart without persistence; a stale ack of a task leased before it settles nothing', async () => {
    // the counter (PREFIX:id) is lost with the data; ids starting again at 1 gave a new task the id of one
    // leased before the restart, and that lease's late ack (same owner, id and attempt) acked the new task
    const dir = makeTmpDir('drover-redis-ids-');
    let server = await startRedis(dir);
    const b = await RedisBackend.connect({ url: server.url, prefix: 'ids', onError: () => {} });
    try {
      const before = await b.push('q', 'before', {});
      const old = await takeOne(b, 'q', 'w#1');
      assert.deepEqual([old.id, old.attempt], [before, 1]);
      process.kill(server.pid, 'SIGKILL');
      await server.stop();
      server = await startRedis(dir);
      // the same socket: the client reconnects to an empty server
      const after = await b.push('q', 'after', {});
      assert.ok(after > before, `the id pushed after the restart (${after}) must be above the one before (${before})`);
      const d = await takeOne(b, 'q', 'w#1');
      assert.deepEqual([d.id, d.data, d.attempt], [after, 'after', 1]);
      assert.equal(await b.ack('q', old.id, 'w#1', old.attempt), false, 'the late ack of the lease lost in the restart answers false');
      const stats = await b.queueStats('q');
      assert.equal(stats[0]?.leased, 1, `the new task is still leased: ${JSON.stringify(stats)}`);
      assert.ok((await b.push('q', 'next', {})) > after, 'ids still grow after the floor was applied');
      assert.equal(await b.ack('q', d.id, 'w#1', d.attempt), true);
    } finally {
      await b.close();
      await server.stop();
    }
  });

  test('a Redis killed under waiting takes: the failed takes are reported once per outage, not once per request', async () => {
    // ioredis keeps the requests made while it reconnects and, after 20 retries (about 11 s), fails them
    // all at once with the same error: each take request used to log it
    const dir = makeTmpDir('drover-redis-dedup-');
    let server = await startRedis(dir);
    const problems: string[] = [];
    let heard = (): void => {};
    /** resolves once `holds()` after a report; fails after `ms` with every report so far */
    const reported = (holds: () => boolean, what: string, ms = 30_000 * TIMEOUT_SCALE): Promise<void> =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${what} reported in ${ms} ms: ${JSON.stringify(problems)}`)), ms);
        heard = () => {
          if (!holds()) return;
          clearTimeout(timer);
          resolve();
        };
        heard();
      });
    const b = await RedisBackend.connect({
      url: server.url,
      prefix: 'dedup',
      onError: (m) => {
        problems.push(m);
        heard();
      },
    });
    // the takes, and whatever else was queued in the outage (the queue's wake subscription, a heartbeat),
    // fail with ioredis's retry limit together: one line for all, whichever request it names
    const failedTakes = (): number => problems.filter((m) => m.includes('max retries per request limit')).length;
    try {
      process.kill(server.pid, 'SIGKILL');
      await server.stop();
      // the client has seen the connection go (its reconnects fail): the takes below wait in its queue
      await reported(() => problems.some((m) => m.endsWith('(retrying)')), 'connection error', WAIT_MS);
      for (const owner of ['w#1', 'w#2', 'w#3']) {
        b.take('q', owner, 60_000, () => {});
        await new Promise((r) => setImmediate(r)); // one take request each, as separate script calls
      }
      await reported(() => failedTakes() >= 1, 'failed take');
      // the three requests fail in one flush: all their reports come before the next turn
      await new Promise((r) => setImmediate(r));
      assert.equal(failedTakes(), 1, `reported once: ${JSON.stringify(problems)}`);

      // back (a request answered: the connection was ready), then killed again: a new outage is said again
      server = await startRedis(dir);
      assert.ok((await b.push('other', 'x', {})) > 0);
      // ioredis resubscribes the subscriber connection at its 'ready' without handling a failure: killed
      // before that SUBSCRIBE is answered, it rejects unhandled (CI saw it on Node 22). A PING on that
      // connection is answered after it, in order: the outage below begins with the resubscription done.
      await (b as unknown as { sub: { ping(): Promise<unknown> } }).sub.ping();
      process.kill(server.pid, 'SIGKILL');
      await server.stop();
      // the takers still wait: the master asks again each poll, and those requests fail in the next flush
      await reported(() => failedTakes() >= 2, 'failed take in the second outage');
      await new Promise((r) => setImmediate(r));
      assert.equal(failedTakes(), 2, `once per outage: ${JSON.stringify(problems)}`);
    } finally {
      b.abandon();
      await server.stop();
    }
  });

  test('a wake that arrives while two take requests are in flight does not make the master ask Redis in a loop', async () => {
    const a = await redisBackend('loop');
    const internals = a as unknown as { sub: EventEmitter };
    const calls = countCalls(a);
    const c1 = a.take('idle', 'w#1', 60_000, () => {});
    await Promise.resolve(); // the first take request is on its way
    const c2 = a.take('idle', 'w#2', 60_000, () => {});
    await Promise.resolve(); // and the second one
    // a wake arrives while both are in flight (a task another master took first, a release, …)
    internals.sub.emit('message', 'loop:w:idle', '1');
    const before = calls.n;
    await assertStaysFor(1000, () => calls.n - before < 20, 'fewer than 20 script calls for two takers waiting on an empty queue');
    const n = calls.n - before;
    c1();
    c2();
    assert.ok(n < 20, `${n} script calls in 1 s`);
  });

  test('natural traffic: after a burst from another master, an idle master with waiting takers does not spin', async () => {
    const a = await redisBackend('nat');
    const b = await redisBackend('nat');
    const calls = countCalls(a);
    let stop = false;
    const cancels = new Map<string, () => void>();
    let done = 0;
    // four workers at a, each: take, ack (next turn), take again
    const loop = (owner: string): void => {
      if (stop) return;
      cancels.set(owner, a.take('q', owner, 60_000, (d) => {
        setImmediate(() => {
          void a.ack('q', d.id, owner).then(() => {
            done += 1;
            loop(owner);
          });
        });
      }));
    };
    for (const w of ['w#1', 'w#2', 'w#3', 'w#4']) loop(w);
    // runs after the four takes: they have found the queue empty
    await a.queueStats('q');
    for (let i = 0; i < 300; i++) {
      await b.push('q', i, {});
      if (i % 10 === 0) await new Promise((r) => setImmediate(r));
    }
    await until(() => done >= 300, `all 300 done (${done} so far)`);
    // the takers' last requests, sent as they came back, run before these stats
    await a.queueStats('q');
    const before = calls.n;
    await assertStaysFor(1000, () => calls.n - before < 20, 'fewer than 20 script calls at an idle master with four waiting takers');
    const n = calls.n - before;
    stop = true;
    for (const c of cancels.values()) c();
    assert.ok(n < 20, `${n} script calls in 1 s at an idle master with four waiting takers`);
  });

  test('a wake list entry does not outlive the takers (withdrawn takers leave every push publishing)', async () => {
    const s = await rawClient();
    try {
      const a = await redisBackend('stale');
      const cancel = a.take('q', 'w#1', 60_000, () => {});
      await a.queueStats('q'); // runs after the take: it found the queue empty, a joined the wake list
      cancel();
      // the entry goes once nothing of a waits any more (a request in flight may still add it, then remove it)
      await until(async () => (await s.scard('stale:q:q:wm')) === 0, 'a to leave the wake list of q');
      let wakes = 0;
      let marked = false;
      s.on('message', (_channel: string, m: string) => (m === 'marker' ? (marked = true) : (wakes += 1)));
      await s.subscribe('stale:w:q');
      for (let i = 0; i < 10; i++) await a.push('q', i, {});
      // messages on a channel arrive in the order published: any wake comes before this marker
      const publisher = await rawClient();
      await publisher.publish('stale:w:q', 'marker');
      publisher.disconnect();
      await until(() => marked, 'the marker published after the pushes');
      assert.equal(wakes, 0, `${wakes} wakes published for 10 pushes while nobody waits`);
    } finally {
      s.disconnect();
    }
  });

  test('a heartbeat that fails twice in a row (Redis refused writes for half a second) never beats again', async () => {
    const r = await rawClient();
    try {
      const problems: string[] = [];
      const a = await redisBackend('hb', 600, problems);
      const id = await a.push('q', 'x', {});
      await takeOne(a, 'q', 'w#1');
      await r.config('SET', 'maxmemory', '1'); // noeviction: every write is refused (OOM)
      await until(() => problems.some((m) => m.startsWith('heartbeat:')), `a failed heartbeat (${problems.join('; ')})`);
      // the same problem is reported once: the second failure is seen as a refused script call (nothing
      // but heartbeats runs now)
      const refused = countCalls(a, { refused: true });
      await until(() => refused.n >= 1, `a second failed heartbeat (${problems.join('; ')})`);
      await r.config('SET', 'maxmemory', '0');
      // the next heartbeat puts the liveness key back; one that stopped beating never does
      await until(async () => (await r.exists(`hb:m:${a.masterId}`)) === 1, 'the liveness key to be refreshed after the failures');
      const alive = await r.exists(`hb:m:${a.masterId}`);
      // consequence: another master takes the live master for dead and hands its worker's task out again
      const c = await redisBackend('hb', 600);
      const stolen = await settlesWithin(takeOne(c, 'q', 'w#2'), 1000);
      const acked = await a.ack('q', id, 'w#1');
      assert.deepEqual({ alive, stolen, acked }, { alive: 1, stolen: false, acked: true });
    } finally {
      await r.config('SET', 'maxmemory', '0');
      r.disconnect();
    }
  });

  test('a lock request refused once by Redis is asked again (it keeps waiting, as a take does)', async () => {
    const r = await rawClient();
    try {
      const problems: string[] = [];
      const a = await redisBackend('lockfail', undefined, problems);
      const t1 = await lockOne(a, 'L', 'w#1').token;
      await r.config('SET', 'maxmemory', '1');
      const w2 = lockOne(a, 'L', 'w#2');
      const take = takeOne(a, 'q', 'w#3');
      await until(
        () => problems.some((m) => m.startsWith('lock L:')) && problems.some((m) => m.startsWith('take from q:')),
        `both requests refused (${problems.join('; ')})`,
      );
      await r.config('SET', 'maxmemory', '0');
      await a.push('q', 'x', {});
      assert.equal((await take).data, 'x', 'the take was asked again');
      assert.equal(await a.lockRelease('L', 'w#1', t1), true);
      assert.ok((await w2.token) > t1);
    } finally {
      await r.config('SET', 'maxmemory', '0');
      r.disconnect();
    }
  });

  test('a master whose own liveness key is missing does not hand its own holder\'s lock to its next waiter', async () => {
    const r = await rawClient();
    try {
      const a = await redisBackend('self');
      const t1 = await lockOne(a, 'L', 'w#1').token;
      const w2 = lockOne(a, 'L', 'w#2');
      // as after a Redis restart (with persistence) that outlasted shared_liveness, or an eviction
      await r.del(`self:m:${a.masterId}`);
      const second = await settlesWithin(w2.token, 2000);
      assert.equal(second, false, `w#2 was granted L while w#1 still holds it (token ${t1})`);
      w2.cancel();
    } finally {
      r.disconnect();
    }
  });

  test('start-up against a server that is not there fails with the address and the cause', async () => {
    await assert.rejects(
      RedisBackend.connect({ url: 'unix:/nonexistent/redis.sock', prefix: 'x', connectTimeoutMs: 2000, onError: () => {} }),
      (err: Error) => /unix:\/nonexistent\/redis\.sock: cannot connect: .*ENOENT/.test(err.message),
    );
  });
});
