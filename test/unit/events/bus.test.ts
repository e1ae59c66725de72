// The bus as supervisor's notify + EventListenerPool.dispatch: pools in creation order give the global
// serials, an event waits while no listener can take it, a requeue goes to the head and is sent first.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventBus, type ListenerChannel } from '../../../src/events/bus.js';
import { remoteCommunicationPayload } from '../../../src/events/payloads.js';
import type { BusEvent } from '../../../src/events/pool.js';
import type { Logger } from '../../../src/logs/logger.js';

const lines: string[] = [];
const logger: Logger = {
  log: (_l, m) => lines.push(m),
  error: (m) => lines.push(m),
  warn: (m) => lines.push(m),
  info: (m) => lines.push(m),
  debug: () => undefined,
};

/** A channel whose pools take an event only while `ready` says so; it records what was written. */
function channel(ready: Set<string>): ListenerChannel & { sent: { pool: string; bytes: string; event: BusEvent }[] } {
  const sent: { pool: string; bytes: string; event: BusEvent }[] = [];
  return {
    sent,
    offer(pool, event, bytes) {
      if (!ready.has(pool)) return null;
      ready.delete(pool); // one event per listener at a time
      sent.push({ pool, bytes: bytes().toString(), event });
      return `${pool}-listener`;
    },
  };
}

test('an event goes to every subscribed pool with one global serial and a serial per pool', () => {
  const ready = new Set(['a', 'b']);
  const ch = channel(ready);
  const bus = new EventBus({ logger, identifier: 'supervisor' });
  bus.connect(ch);
  bus.addPool('a', { events: ['EVENT'], bufferSize: 10, processPriority: 999 });
  bus.addPool('b', { events: ['REMOTE_COMMUNICATION'], bufferSize: 10, processPriority: 999 });
  bus.addPool('c', { events: ['TICK'], bufferSize: 10, processPriority: 999 });
  bus.raise('REMOTE_COMMUNICATION', remoteCommunicationPayload('t', 'x'));
  assert.deepEqual(
    ch.sent.map((s) => s.bytes),
    [
      'ver:3.0 server:supervisor serial:0 pool:a poolserial:0 eventname:REMOTE_COMMUNICATION len:8\ntype:t\nx',
      'ver:3.0 server:supervisor serial:0 pool:b poolserial:0 eventname:REMOTE_COMMUNICATION len:8\ntype:t\nx',
    ],
  );
  assert.equal(bus.wants('TICK_5'), true);
  assert.equal(bus.wants('PROCESS_GROUP_ADDED'), true);
  bus.removePool('a');
  assert.equal(bus.wants('PROCESS_GROUP_ADDED'), false);
});

test('events wait for a ready listener, in order; a requeued one is sent first', () => {
  const ready = new Set<string>();
  const ch = channel(ready);
  const bus = new EventBus({ logger, identifier: 'supervisor' });
  bus.connect(ch);
  bus.addPool('p', { events: ['REMOTE_COMMUNICATION'], bufferSize: 10, processPriority: 999 });
  for (const d of ['1', '2', '3']) bus.raise('REMOTE_COMMUNICATION', remoteCommunicationPayload('t', d));
  assert.equal(ch.sent.length, 0);
  ready.add('p');
  bus.dispatchPool('p');
  const first = ch.sent[0]?.event as BusEvent;
  assert.equal(first.serial, 0);
  bus.requeue('p', first); // the listener answered FAIL
  ready.add('p');
  bus.dispatchPool('p');
  ready.add('p');
  bus.dispatchPool('p');
  assert.deepEqual(ch.sent.map((s) => s.event.serial), [0, 0, 1]);
  assert.deepEqual(bus.stats(), [{ pool: 'p', queued: 1, bufferSize: 10, accepted: 3, sent: 3, rejected: 1, overflowed: 0 }]);
});

test('a full queue logs the event it drops', () => {
  lines.length = 0;
  const bus = new EventBus({ logger, identifier: 'supervisor' });
  bus.connect(channel(new Set()));
  bus.addPool('p', { events: ['REMOTE_COMMUNICATION'], bufferSize: 1, processPriority: 999 });
  bus.raise('REMOTE_COMMUNICATION', remoteCommunicationPayload('t', '1'));
  bus.raise('REMOTE_COMMUNICATION', remoteCommunicationPayload('t', '2'));
  assert.deepEqual(lines, ['pool p event buffer overflowed, discarding event 0 (REMOTE_COMMUNICATION; buffer_size 1)']);
});
