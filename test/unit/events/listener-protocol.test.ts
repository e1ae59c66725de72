// The listener protocol reducer against supervisor's PEventListenerDispatcher, byte for byte; every row of
// the listener transition table is exercised.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import {
  MAX_RESULT_BYTES,
  eventNotSent,
  eventSent,
  initialListener,
  listenerSpawned,
  outputReceived,
  type ListenerRecord,
  type ListenerReduction,
} from '../../../src/events/listener-protocol.js';
import { LISTENER_TRANSITIONS } from '../../../src/events/listener-states.js';
import { InvariantError } from '../../../src/errors.js';

/** Rows seen by any test, as "from|on". */
const seen = new Set<string>();

function track(r: ListenerReduction): ListenerReduction {
  for (const s of r.taken) seen.add(`${s.from}|${s.on}`);
  return r;
}

function out(rec: ListenerRecord, text: string | Buffer): ListenerReduction {
  return track(outputReceived(rec, typeof text === 'string' ? Buffer.from(text) : text));
}

function ready(): ListenerRecord {
  return out(initialListener(), 'READY\n').record;
}

function busy(): ListenerRecord {
  return track(eventSent(ready())).record;
}

const types = (r: ListenerReduction): string[] => r.effects.map((e) => e.type);

test('READY\\n makes a new listener ready', () => {
  const r = out(initialListener(), 'READY\n');
  assert.equal(r.record.state, 'ready');
  assert.deepEqual(types(r), ['ready']);
});

test('fewer than six bytes decide nothing; the rest of READY\\n may come later', () => {
  const a = out(initialListener(), 'REA');
  assert.equal(a.record.state, 'acknowledged');
  assert.deepEqual(types(a), []);
  const b = out(a.record, 'DY\n');
  assert.equal(b.record.state, 'ready');
});

test('six bytes that are not READY\\n make it unknown and are dropped', () => {
  const r = out(initialListener(), 'hello there\n');
  assert.equal(r.record.state, 'unknown');
  assert.deepEqual(types(r), ['enteredUnknown']);
  assert.equal(r.record.buffer.length, 0);
});

test('anything written while ready makes it unknown (supervisor is strict)', () => {
  const r = out(ready(), 'x');
  assert.equal(r.record.state, 'unknown');
  assert.deepEqual(types(r), ['enteredUnknown']);
});

test('READY\\n twice in a row makes it unknown', () => {
  const r = out(initialListener(), 'READY\nREADY\n');
  assert.equal(r.record.state, 'unknown');
  assert.deepEqual(types(r), ['ready', 'enteredUnknown']);
});

test('an unknown listener ignores what it writes', () => {
  const u = out(initialListener(), 'garbage!').record;
  const r = out(u, 'READY\n');
  assert.equal(r.record.state, 'unknown');
  assert.deepEqual(types(r), []);
});

test('RESULT 2\\nOK processes the event; READY\\n in the same chunk makes it ready again', () => {
  const r = out(busy(), 'RESULT 2\nOKREADY\n');
  assert.equal(r.record.state, 'ready');
  assert.deepEqual(types(r), ['processed', 'ready']);
});

test('a result split across reads is gathered', () => {
  let rec = busy();
  for (const piece of ['RES', 'ULT 4', '\nFA', 'I', 'L']) rec = out(rec, piece).record;
  // the last byte completes the result: nothing is left over
  assert.equal(rec.state, 'acknowledged');
});

test('FAIL (anything but OK) rejects the event and acknowledges', () => {
  const r = out(busy(), 'RESULT 4\nFAIL');
  assert.equal(r.record.state, 'acknowledged');
  assert.equal(r.effects[0]?.type, 'rejected');
  assert.equal(r.effects[0]?.type === 'rejected' && r.effects[0].result.toString(), 'FAIL');
  assert.deepEqual(types(out(busy(), 'RESULT 2\nok')), ['rejected']);
});

test('an event that could not be written leaves the listener ready, with nothing to send back', () => {
  const r = track(eventNotSent(busy()));
  assert.equal(r.record.state, 'ready');
  assert.deepEqual(types(r), []);
});

test('supervisor does not check the RESULT word, only the length after seven bytes', () => {
  const r = out(busy(), 'XXXXXXX2\nOK');
  assert.deepEqual(types(r), ['processed']);
  const spaced = out(busy(), 'RESULT  2 \nOK');
  assert.deepEqual(types(spaced), ['processed']);
});

test('a result line without a length makes it unknown and gives the event back', () => {
  const r = out(busy(), 'RESULT two\nOK');
  assert.equal(r.record.state, 'unknown');
  assert.deepEqual(types(r), ['badResultLine', 'enteredUnknown']);
  assert.deepEqual(types(out(busy(), 'RESULT -1\n')), ['badResultLine', 'enteredUnknown']);
  assert.deepEqual(types(out(busy(), `RESULT ${MAX_RESULT_BYTES + 1}\n`)), ['badResultLine', 'enteredUnknown']);
});

test('a result line that never ends is bounded', () => {
  const r = out(busy(), Buffer.alloc(MAX_RESULT_BYTES + 1, 0x41));
  assert.equal(r.record.state, 'unknown');
  assert.deepEqual(types(r), ['badResultLine', 'enteredUnknown']);
});

test('RESULT 0\\n is handled only when more output comes, as in supervisor', () => {
  const a = out(busy(), 'RESULT 0\n');
  assert.equal(a.record.state, 'busy');
  const b = out(a.record, 'READY\n');
  assert.deepEqual(types(b), ['rejected', 'ready']);
});

test('a new process starts over from acknowledged, whatever the last one left', () => {
  for (const rec of [initialListener(), ready(), busy(), out(initialListener(), 'garbage!').record]) {
    const r = track(listenerSpawned(rec));
    assert.equal(r.record.state, 'acknowledged');
    assert.equal(r.record.buffer.length, 0);
  }
});

test('sending an event to a listener that is not ready is an invariant violation', () => {
  assert.throws(() => eventSent(initialListener()), InvariantError);
});

after(() => {
  const missing = LISTENER_TRANSITIONS.filter((t) => !seen.has(`${t.from}|${t.on}`)).map((t) => `${t.from} --${t.on}-->`);
  assert.deepEqual(missing, [], 'rows never exercised');
});
