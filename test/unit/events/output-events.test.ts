// PROCESS_LOG events from a process's output: one event per read, as supervisord's, and no event larger than
// what one read of a default-sized pipe gives (64 KiB). drover's pipes are larger, so a read can be four
// times that; an audit (eighteenth session) saw one 234,544-byte event where supervisord raised four.
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import type { ProcessSpec } from '../../../src/config/types.js';
import type { EventBus } from '../../../src/events/bus.js';
import { OutputEvents } from '../../../src/events/output-events.js';
import type { Payload } from '../../../src/events/payloads.js';

test('a 150 KiB read becomes PROCESS_LOG_STDOUT events of at most 64 KiB, in order, every byte once; the log gets it all', async () => {
  const raised: { type: string; payload: Payload }[] = [];
  const bus = { wants: () => true, raise: (type: string, payload: Payload) => raised.push({ type, payload }) } as unknown as EventBus;
  const spec = { name: 'p', group: 'p', redirectStderr: false, stdoutEventsEnabled: true, stdoutCaptureMaxBytes: 0 } as unknown as ProcessSpec;
  const source = new PassThrough();
  const out = new OutputEvents(bus).tap(spec, 42, 'stdout', source);
  const logged: Buffer[] = [];
  out.on('data', (c: Buffer) => logged.push(c));
  const ended = new Promise<void>((resolve) => out.on('end', () => resolve()));
  const data = Buffer.alloc(150 * 1024);
  for (let i = 0; i < data.length; i++) data[i] = 97 + (i % 26);
  source.end(data);
  await ended;
  const head = 'processname:p groupname:p pid:42 channel:stdout\n';
  assert.deepEqual(raised.map((r) => r.type), ['PROCESS_LOG_STDOUT', 'PROCESS_LOG_STDOUT', 'PROCESS_LOG_STDOUT']);
  const bodies = raised.map((r) => {
    assert.equal(r.payload.bytes.subarray(0, head.length).toString(), head);
    return r.payload.bytes.subarray(head.length);
  });
  assert.deepEqual(bodies.map((b) => b.length), [65536, 65536, 22528]);
  assert.ok(Buffer.concat(bodies).equals(data), 'the events carry every byte once, in order');
  assert.ok(Buffer.concat(logged).equals(data), 'the log gets the whole read');
});
