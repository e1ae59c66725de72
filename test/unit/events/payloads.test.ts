// Event bodies and headers as supervisor writes them; `len` counts code points.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  codePoints,
  envelope,
  processCommunicationPayload,
  processGroupPayload,
  processLogPayload,
  processStatePayload,
  pythonBytesRepr,
  remoteCommunicationPayload,
  tickPayload,
} from '../../../src/events/payloads.js';

test('len counts code points: not bytes, not UTF-16 units', () => {
  const p = remoteCommunicationPayload('mytype', 'dätä 😀');
  assert.equal(p.len, 18); // as supervisor 4.2 sent it for the same call
  assert.equal(p.bytes.length, 23);
  assert.equal('type:mytype\ndätä 😀'.length, 19);
});

test('PROCESS_STATE bodies: extras after from_state', () => {
  const p = processStatePayload('hello', 'hello', 'RUNNING', [['expected', 0], ['pid', 32366]]);
  assert.equal(p.bytes.toString(), 'processname:hello groupname:hello from_state:RUNNING expected:0 pid:32366');
  assert.equal(p.len, 73);
});

test('PROCESS_LOG and PROCESS_COMMUNICATION bodies carry the bytes written', () => {
  const p = processLogPayload('hello', 'hello', 32366, 'stdout', Buffer.from('héllo wörld\n'));
  assert.equal(p.bytes.toString(), 'processname:hello groupname:hello pid:32366 channel:stdout\nhéllo wörld\n');
  assert.equal(p.len, 71);
  assert.equal(processCommunicationPayload('a', 'g', 7, Buffer.from('x')).bytes.toString(), 'processname:a groupname:g pid:7\nx');
});

test('bytes that are not UTF-8 become supervisor\'s Undecodable: repr', () => {
  const p = processLogPayload('a', 'a', 1, 'stderr', Buffer.from([0x61, 0xff, 0x27, 0x0a, 0x5c]));
  assert.equal(p.bytes.toString(), `processname:a groupname:a pid:1 channel:stderr\nUndecodable: b"a\\xff'\\n\\\\"`);
  assert.equal(pythonBytesRepr(Buffer.from("it's \"q\"")), `b'it\\'s "q"'`);
  assert.equal(pythonBytesRepr(Buffer.from([0x00, 0x7f, 0x09, 0x0d])), "b'\\x00\\x7f\\t\\r'");
});

test('group and tick bodies', () => {
  assert.equal(processGroupPayload('web').bytes.toString(), 'groupname:web\n');
  assert.equal(tickPayload(1796293650).bytes.toString(), 'when:1796293650');
});

test('the header line names server, serials, pool, event and len', () => {
  const e = envelope({ server: 'supervisor', serial: 13, pool: 'rec', poolSerial: 13, type: 'TICK_5', payload: tickPayload(1796293650) });
  assert.equal(e.toString(), 'ver:3.0 server:supervisor serial:13 pool:rec poolserial:13 eventname:TICK_5 len:15\nwhen:1796293650');
});

test('codePoints of UTF-8', () => {
  assert.equal(codePoints(Buffer.from('aé😀€')), 4);
  assert.equal(codePoints(Buffer.alloc(0)), 0);
});
