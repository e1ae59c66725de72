// A pool's queue as supervisor's EventListenerPool keeps it: serials, overflow, requeue at the head,
// subscriptions by abstract name (and twice for overlapping names).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ConcreteEventType, EventTypeName } from '../../../src/config/event-names.js';
import { EMPTY_PAYLOAD } from '../../../src/events/payloads.js';
import { ListenerPool, type BusEvent } from '../../../src/events/pool.js';

function pool(events: EventTypeName[], bufferSize = 10, name = 'p'): ListenerPool {
  return new ListenerPool(name, { events, bufferSize, processPriority: 999 });
}

function ev(type: ConcreteEventType = 'TICK_5'): BusEvent {
  return { type, payload: EMPTY_PAYLOAD, raisedAtMs: 0, serial: -1, poolSerials: new Map() };
}

function serials(): () => number {
  let n = -1;
  return () => ++n;
}

test('an abstract name subscribes to every type below it; overlapping names count twice', () => {
  assert.equal(pool(['PROCESS_STATE']).subscriptions('PROCESS_STATE_EXITED'), 1);
  assert.equal(pool(['EVENT']).subscriptions('TICK_3600'), 1);
  assert.equal(pool(['TICK']).subscriptions('PROCESS_STATE_EXITED'), 0);
  assert.equal(pool(['PROCESS_STATE', 'PROCESS_STATE_EXITED']).subscriptions('PROCESS_STATE_EXITED'), 2);
});

test('an event gets its global serial once and a serial per pool', () => {
  const next = serials();
  const a = pool(['EVENT'], 10, 'a');
  const b = pool(['EVENT'], 10, 'b');
  const e1 = ev();
  a.accept(e1, false, next);
  b.accept(e1, false, next);
  const e2 = ev();
  b.accept(e2, false, next);
  assert.deepEqual([e1.serial, a.serialOf(e1), b.serialOf(e1)], [0, 0, 0]);
  assert.deepEqual([e2.serial, a.serialOf(e2), b.serialOf(e2)], [1, -1, 1]);
});

test('a full queue drops its oldest event', () => {
  const next = serials();
  const p = pool(['EVENT'], 2);
  const [e1, e2, e3] = [ev(), ev(), ev()];
  assert.deepEqual(p.accept(e1, false, next), []);
  assert.deepEqual(p.accept(e2, false, next), []);
  assert.deepEqual(p.accept(e3, false, next), [e1]);
  assert.deepEqual(p.queue, [e2, e3]);
  assert.equal(p.counters.overflowed, 1);
});

test('a buffer_size lowered by a reload below what is queued: the next event brings the queue down to it', () => {
  const next = serials();
  const p = pool(['EVENT'], 5);
  const es = [ev(), ev(), ev(), ev(), ev()];
  for (const e of es.slice(0, 4)) p.accept(e, false, next);
  p.spec = { ...p.spec, bufferSize: 2 };
  assert.deepEqual(p.accept(es[4] as BusEvent, false, next), es.slice(0, 3));
  assert.deepEqual(p.queue, es.slice(3));
  assert.equal(p.counters.overflowed, 3);
});

test('a requeue goes to the head, keeps its serials, and on a full queue still drops the oldest first', () => {
  const next = serials();
  const p = pool(['EVENT'], 2);
  const [e1, e2, e3] = [ev(), ev(), ev()];
  p.accept(e1, false, next);
  p.queue.shift(); // sent to a listener
  p.accept(e2, false, next);
  p.accept(e3, false, next);
  const dropped = p.accept(e1, true, next);
  assert.deepEqual(dropped, [e2]);
  assert.deepEqual(p.queue, [e1, e3]);
  assert.equal(p.serialOf(e1), 0);
  assert.equal(p.counters.accepted, 3);
});
