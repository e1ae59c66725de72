// The TICK events: at a boundary several periods share (a new minute is also a new 5 s slice), they come in
// supervisor's order, TICK_5 then TICK_60 then TICK_3600, each slice once. Real timers; the clock is the
// wall clock moved so that a new hour begins 60 ms after the start.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventBus } from '../../../src/events/bus.js';
import { Feeds } from '../../../src/events/feeds.js';
import { ListenerKind } from '../../../src/events/listener-kind.js';
import type { Logger } from '../../../src/logs/logger.js';
import type { Supervisor } from '../../../src/core/supervisor.js';

const logger: Logger = { log: () => undefined, error: () => undefined, warn: () => undefined, info: () => undefined, debug: () => undefined };

test('TICK_5, TICK_60 and TICK_3600 at the same boundary come in that order, each once', async () => {
  const bus = new EventBus({ logger, identifier: 'supervisor' });
  const raised: { type: string; when: number }[] = [];
  const raise = bus.raise.bind(bus);
  bus.raise = (type, payload) => {
    if (type.startsWith('TICK_')) raised.push({ type, when: Number(/when:(\d+)/.exec(payload.bytes.toString())?.[1]) });
    return raise(type, payload);
  };
  const kind = new ListenerKind({ logger, callback: { url: 'unix:///nowhere', credentials: null }, isCurrent: () => true });
  const hour = 3600 * 1000 * 1000; // some whole hour, in ms
  const offset = hour - 60 - Date.now();
  const feeds = new Feeds(bus, kind, () => Date.now() + offset);
  const supervisor = {
    snapshot: () => [],
    activeGroups: () => [],
    onChange: () => () => undefined,
    onGroupChange: () => () => undefined,
    onMoodChange: () => () => undefined,
  } as unknown as Supervisor;
  feeds.start(supervisor);
  try {
    const deadline = Date.now() + 5000;
    while (raised.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 50)); // nothing more may come for the same boundary
    const at = hour / 1000;
    assert.deepEqual(raised, [
      { type: 'TICK_5', when: at },
      { type: 'TICK_60', when: at },
      { type: 'TICK_3600', when: at },
    ]);
  } finally {
    feeds.stop();
  }
});
