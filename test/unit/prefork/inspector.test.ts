// Issue 11, finding 2: a stuck worker's report as the master reads it from the worker's stderr (the
// watchdog thread writes it; src/worker/watchdog-thread.ts). The line may arrive split across chunks, and
// its text comes from the worker: nothing in it may forge a line of drover's log.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseStuckReport, stuckReportLine, type StuckReport } from '../../../src/ipc/protocol.js';
import { reportFrames, stuckReportScanner } from '../../../src/prefork/inspector.js';

function scan(chunks: readonly (string | Buffer)[]): StuckReport[] {
  const found: StuckReport[] = [];
  const push = stuckReportScanner((r) => found.push(r));
  for (const c of chunks) push(c);
  return found;
}

test('a report line round-trips: frames, or why there are none', () => {
  const frames = { stuckMs: 2004, frames: ['at spinForever (file:///app/w.mjs:3:5)', 'at listOnTimeout (node:internal/timers:581:17)'] };
  const line = stuckReportLine(frames);
  assert.match(line, /^drover watchdog: event loop stuck for 2004 ms; JavaScript stack \["at spinForever/);
  assert.ok(line.endsWith('\n'));
  assert.deepEqual(parseStuckReport(line.slice(0, -1)), frames);
  const none = { stuckMs: 3000, error: 'the main thread did not pause within 2000 ms' };
  assert.deepEqual(parseStuckReport(stuckReportLine(none).slice(0, -1)), none);
});

test('the scanner finds a report among other output, split across chunks and inside a multi-byte character', () => {
  const line = stuckReportLine({ stuckMs: 1000, frames: ['at größe (file:///app/ü.mjs:1:1)'] });
  const bytes = Buffer.from(`some output\n${line}more output\n`);
  const at = bytes.indexOf('ö') + 1; // in the middle of the two bytes of ö
  const found = scan([bytes.subarray(0, 20), bytes.subarray(20, at), bytes.subarray(at)]);
  assert.deepEqual(found, [{ stuckMs: 1000, frames: ['at größe (file:///app/ü.mjs:1:1)'] }]);
});

test('lines that only look like reports are ignored', () => {
  const found = scan([
    'drover watchdog: event loop stuck for 10 ms; JavaScript stack [1,2]\n',
    'drover watchdog: event loop stuck for 10 ms; JavaScript stack not json\n',
    'drover watchdog: event loop stuck for ten ms; JavaScript stack []\n',
  ]);
  assert.deepEqual(found, []);
});

test('a report after an unfinished line is found (with redirect_stderr it shares a pipe with stdout)', () => {
  const found = scan(['progress...', stuckReportLine({ stuckMs: 7, frames: ['at f (a.mjs:1:1)'] })]);
  assert.deepEqual(found, [{ stuckMs: 7, frames: ['at f (a.mjs:1:1)'] }]);
});

test('control characters from the worker never reach the log, and frames are bounded', () => {
  const forged = stuckReportLine({ stuckMs: 5, frames: ['at x (a.mjs:1:1)\n2026-01-01T00:00:00.000Z ERROR forged\u001b[2J', ...Array.from({ length: 100 }, (_, i) => `at f${i} (${'p'.repeat(1000)})`)] });
  const [report] = scan([forged]);
  assert.ok(report);
  const text = reportFrames(report) ?? '';
  assert.equal(text.split('\n').length, 32, 'at most 32 frames, one line each');
  assert.doesNotMatch(text, /[\u0000-\u0009\u000b-\u001f\u007f]/);
  assert.match(text.split('\n')[0] ?? '', /^at x \(a\.mjs:1:1\)\?2026-01-01T00:00:00\.000Z ERROR forged\?\[2J$/);
  assert.ok(text.split('\n').every((f) => f.length <= 400));
});

test('an overlong line is skipped without being kept; the next line is read', () => {
  const line = stuckReportLine({ stuckMs: 7, frames: ['at ok (a.mjs:1:1)'] });
  const found = scan(['x'.repeat(40_000), 'y'.repeat(40_000), `${'z'.repeat(10)}\n`, line]);
  assert.deepEqual(found, [{ stuckMs: 7, frames: ['at ok (a.mjs:1:1)'] }]);
});
