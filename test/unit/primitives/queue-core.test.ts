// The pure queue, lock table and state store with an injected clock: ordering, priority, delays, leases,
// attempts and dead letters, owner exit; FIFO lock waiters, ttl and fencing tokens; CAS and watch.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LockTable } from '../../../src/primitives/lock-core.js';
import { TaskQueue, type Delivery } from '../../../src/primitives/queue-core.js';
import { StateStore } from '../../../src/primitives/state-core.js';

function setup(): { q: TaskQueue; clock: { ms: number } } {
  const clock = { ms: 1000 };
  let id = 0;
  return { q: new TaskQueue('q', () => clock.ms, () => ++id), clock };
}

/** Takes one task now (or null when none is ready). */
function takeNow(q: TaskQueue, owner = 'a', leaseMs = 1000): Delivery | null {
  let got: Delivery | null = null;
  const cancel = q.take(owner, leaseMs, (d) => (got = d));
  if (!got) cancel();
  return got;
}

test('FIFO within a priority, higher priority first', () => {
  const { q } = setup();
  q.push('a');
  q.push('b');
  q.push('hi', { priority: 5 });
  q.push('c');
  q.push('mid', { priority: 1 });
  const order = [];
  for (let d = takeNow(q); d; d = takeNow(q)) order.push(d.data);
  assert.deepEqual(order, ['hi', 'mid', 'a', 'b', 'c']);
});

test('a delayed task is not taken before it is due; tick makes it ready and serves a waiting taker', () => {
  const { q, clock } = setup();
  q.push('later', { delayMs: 500 });
  assert.equal(takeNow(q), null);
  assert.equal(q.nextDeadline(), 1500);
  const got: Delivery[] = [];
  q.take('a', 1000, (d) => got.push(d));
  clock.ms = 1499;
  q.tick();
  assert.equal(got.length, 0);
  clock.ms = 1500;
  q.tick();
  assert.deepEqual(got.map((d) => d.data), ['later']);
  assert.equal(q.stats().delayed, 0);
});

test('waiting takers are served in arrival order', () => {
  const { q } = setup();
  const got: string[] = [];
  q.take('a', 1000, () => got.push('a'));
  q.take('b', 1000, () => got.push('b'));
  const cancelC = q.take('c', 1000, () => got.push('c'));
  cancelC();
  q.push(1);
  q.push(2);
  q.push(3);
  assert.deepEqual(got, ['a', 'b']);
  assert.equal(q.stats().ready, 1);
});

test('ack removes a leased task once; a second ack or an ack by another owner is refused', () => {
  const { q } = setup();
  q.push('x');
  const d = takeNow(q, 'a') as Delivery;
  assert.equal(q.ack(d.id, 'b'), false);
  assert.equal(q.ack(d.id, 'a'), true);
  assert.equal(q.ack(d.id, 'a'), false);
  const s = q.stats();
  assert.equal(s.acked, 1);
  assert.equal(s.leased, 0);
});

test('an expired lease puts the task back (an attempt spent); the late ack is refused', () => {
  const { q, clock } = setup();
  q.push('x');
  const d1 = takeNow(q, 'a', 100) as Delivery;
  assert.equal(d1.attempt, 1);
  clock.ms += 100;
  q.tick();
  const d2 = takeNow(q, 'b') as Delivery;
  assert.equal(d2.id, d1.id);
  assert.equal(d2.attempt, 2);
  assert.equal(q.ack(d1.id, 'a'), false, 'the first holder lost its lease');
  assert.equal(q.ack(d2.id, 'b'), true);
  assert.equal(q.stats().lost, 1);
});

test('a lapsed delivery settled late by the same owner, which holds a later delivery, changes nothing', () => {
  const { q, clock } = setup();
  q.push('x');
  const d1 = takeNow(q, 'a', 100) as Delivery;
  clock.ms += 100;
  q.tick();
  // another loop of the same process takes it again
  const d2 = takeNow(q, 'a', 1000) as Delivery;
  assert.equal(d2.attempt, 2);
  assert.equal(q.extend(d1.id, 'a', 5000, d1.attempt), false, 'a late extend of delivery 1');
  assert.equal(q.nack(d1.id, 'a', 0, 'late', d1.attempt), 'lost', 'a late nack of delivery 1');
  assert.equal(q.release(d1.id, 'a', d1.attempt), false, 'a late release of delivery 1');
  assert.equal(q.ack(d1.id, 'a', d1.attempt), false, 'a late ack of delivery 1');
  assert.equal(q.stats().leased, 1, 'delivery 2 still holds its lease');
  assert.equal(q.ack(d2.id, 'a', d2.attempt), true);
  assert.deepEqual([q.stats().acked, q.stats().nacked, q.stats().lost], [1, 0, 1]);
});

test('extend keeps a lease past its first deadline', () => {
  const { q, clock } = setup();
  q.push('x');
  const d = takeNow(q, 'a', 100) as Delivery;
  clock.ms += 90;
  assert.equal(q.extend(d.id, 'a', 100), true);
  clock.ms += 50;
  q.tick();
  assert.equal(q.stats().leased, 1);
  clock.ms += 50;
  q.tick();
  assert.equal(q.stats().leased, 0);
  assert.equal(q.stats().ready, 1);
});

test('nack retries after retryInMs, then dead-letters after maxAttempts', () => {
  const { q, clock } = setup();
  q.push('x', { maxAttempts: 2 });
  const d1 = takeNow(q) as Delivery;
  assert.equal(q.nack(d1.id, 'a', 200, 'boom'), 'requeued');
  assert.equal(takeNow(q), null, 'not before retryInMs');
  clock.ms += 200;
  q.tick();
  const d2 = takeNow(q) as Delivery;
  assert.equal(d2.attempt, 2);
  assert.equal(q.nack(d2.id, 'a', 0, 'boom again'), 'dead');
  const dead = q.dead();
  assert.equal(dead.length, 1);
  assert.equal(dead[0]?.reason, 'nacked');
  assert.equal(dead[0]?.error, 'boom again');
  assert.equal(dead[0]?.attempts, 2);
  assert.equal(q.retryDead(), 1);
  assert.equal((takeNow(q) as Delivery).attempt, 1);
});

test("an owner's exit returns its tasks at once to the next taker; a poison task ends in the dead letters", () => {
  const { q } = setup();
  q.push('ok');
  q.push('poison', { maxAttempts: 1, priority: 1 });
  const p = takeNow(q, 'w1') as Delivery;
  const ok = takeNow(q, 'w1') as Delivery;
  assert.equal(p.data, 'poison');
  const got: Delivery[] = [];
  q.take('w2', 1000, (d) => got.push(d));
  q.ownerGone('w1');
  assert.deepEqual(got.map((d) => [d.id, d.attempt]), [[ok.id, 2]]);
  assert.equal(q.dead()[0]?.reason, 'worker exited');
  assert.equal(q.ack(ok.id, 'w1'), false);
});

test('release gives a task back without spending an attempt', () => {
  const { q } = setup();
  q.push('x');
  const d = takeNow(q, 'a') as Delivery;
  assert.equal(q.release(d.id, 'a'), true);
  assert.equal((takeNow(q, 'b') as Delivery).attempt, 1);
});

test('many acked tasks under a long lease do not pile up deadlines', () => {
  const { q } = setup();
  for (let i = 0; i < 5000; i++) {
    q.push(i);
    const d = takeNow(q, 'a', 60_000) as Delivery;
    q.ack(d.id, 'a');
  }
  const internal = q as unknown as { deadlines: { size: number } };
  assert.ok(internal.deadlines.size <= 2048, `deadline heap holds ${internal.deadlines.size}`);
});

test('locks: FIFO waiters, increasing tokens, stale release refused, ttl lapse and owner exit hand over at once', () => {
  const clock = { ms: 0 };
  const t = new LockTable(() => clock.ms);
  const grants: [string, number][] = [];
  t.acquire('L', 'a', 100, (tok) => grants.push(['a', tok]));
  t.acquire('L', 'b', 0, (tok) => grants.push(['b', tok]));
  t.acquire('L', 'c', 0, (tok) => grants.push(['c', tok]));
  assert.deepEqual(grants, [['a', 1]]);
  clock.ms = 100;
  t.tick();
  assert.deepEqual(grants.at(-1), ['b', 2], 'ttl lapsed: next waiter');
  assert.equal(t.release('L', 'a', 1), false, 'a stale token releases nothing');
  assert.equal(t.release('L', 'c', 2), false, 'another owner with the holder\'s token releases nothing (tokens can be guessed)');
  assert.equal(t.list()[0]?.owner, 'b', 'and the holder keeps it');
  assert.equal(t.nextDeadline(), null, 'b has no ttl');
  t.ownerGone('b');
  assert.deepEqual(grants.at(-1), ['c', 3], 'holder exited: next waiter');
  assert.equal(t.release('L', 'c', 3), true);
  assert.deepEqual(t.list(), [], 'an idle lock is forgotten');
});

test('lock tokens never go below the floor (a later master starts above an earlier one) and still grow by one past it', () => {
  const floor = { v: 5_000 };
  const t = new LockTable(() => 0, () => floor.v);
  const grants: number[] = [];
  for (let i = 0; i < 3; i++) {
    t.acquire('L', 'a', 0, (tok) => grants.push(tok));
    t.release('L', 'a', grants.at(-1) ?? 0);
  }
  assert.deepEqual(grants, [5_000, 5_001, 5_002], 'a burst goes one by one above the floor');
  floor.v = 4_000;
  t.acquire('L', 'a', 0, (tok) => grants.push(tok));
  assert.equal(grants.at(-1), 5_003, 'a floor that went back does not make tokens go down');
});

test('a withdrawn lock wait is skipped', () => {
  const t = new LockTable(() => 0);
  const grants: string[] = [];
  t.acquire('L', 'a', 0, () => grants.push('a'));
  const cancel = t.acquire('L', 'b', 0, () => grants.push('b'));
  t.acquire('L', 'c', 0, () => grants.push('c'));
  cancel();
  t.release('L', 'a', 1);
  assert.deepEqual(grants, ['a', 'c']);
});

test('state: increment, compare-and-set, delete, watch', () => {
  const s = new StateStore();
  const seen: [string, boolean, unknown][] = [];
  const stop = s.watch('k', 'w', (k, found, v) => seen.push([k, found, v]));
  assert.equal(s.increment('k', 2), 2);
  assert.equal(s.increment('k', 3), 5);
  assert.equal(s.compareAndSet('k', { found: true, value: 4 }, { found: true, value: 0 }), false);
  assert.equal(s.compareAndSet('k', { found: true, value: 5 }, { found: true, value: { a: [1] } }), true);
  assert.equal(s.compareAndSet('k', { found: true, value: { a: [1] } }, { found: false, value: null }), true);
  assert.equal(s.compareAndSet('k', { found: false, value: null }, { found: true, value: 'x' }), true);
  assert.throws(() => s.increment('k', 1), /not a number/);
  stop();
  assert.equal(s.delete('k'), true);
  assert.deepEqual(seen, [
    ['k', true, 2],
    ['k', true, 5],
    ['k', true, { a: [1] }],
    ['k', false, null],
    ['k', true, 'x'],
  ]);
});
