import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  autoLogName,
  backupName,
  completeLinesWithin,
  formatLines,
  formatPieces,
  isAutoLogName,
  lastLinesStart,
  LineSplitter,
  nextWriteStep,
  periodStart,
  prefixLines,
  sliceEnd,
  wholeLinesStart,
} from '../../../src/logs/lines.js';
import { tailPlan } from '../../../src/logs/read.js';

const b = (s: string): Buffer => Buffer.from(s);

test('LineSplitter: complete lines out, partial held until its end, flushed with a newline', () => {
  const sp = new LineSplitter();
  assert.equal(sp.push(b('ab')), null);
  assert.equal(sp.push(b('c\nde'))?.toString(), 'abc\n');
  assert.equal(sp.pending, 2);
  assert.equal(sp.push(b('f\ng\n'))?.toString(), 'def\ng\n');
  assert.equal(sp.pending, 0);
  assert.equal(sp.flush(), null);
  sp.push(b('tail'));
  assert.equal(sp.flush()?.toString(), 'tail\n');
});

test('LineSplitter: a chunk that ends a line is passed through without a copy', () => {
  const sp = new LineSplitter();
  const chunk = b('x\ny\n');
  assert.equal(sp.push(chunk), chunk);
});

test('LineSplitter: keeps no reference to a pushed chunk (a pipe reuses it for the next read)', () => {
  const sp = new LineSplitter();
  const chunk = b('one\ntw');
  sp.push(chunk);
  chunk.fill(0x58); // the next read overwrites the shared buffer
  const noNewline = b('xyz');
  assert.equal(sp.push(noNewline), null);
  noNewline.fill(0x58);
  assert.equal(sp.push(b('o\n'))?.toString(), 'twxyzo\n');
});

test('LineSplitter: a line longer than the limit is cut into pieces of the limit', () => {
  const sp = new LineSplitter(4);
  assert.equal(sp.push(b('abcdefghij'))?.toString(), 'abcd\nefgh\n');
  assert.equal(sp.push(b('\n'))?.toString(), 'ij\n');
});

test('nextWriteStep: rotation only between lines, never an empty file, long lines whole', () => {
  const lines = b('aaaa\nbbbb\ncccc\n'); // 15 bytes, 5 per line
  assert.deepEqual(nextWriteStep(0, 0, lines), { type: 'write', bytes: 15 }, 'maxBytes 0 never rotates');
  assert.deepEqual(nextWriteStep(0, 100, lines), { type: 'write', bytes: 15 });
  assert.deepEqual(nextWriteStep(0, 12, lines), { type: 'write', bytes: 10 }, 'the two whole lines that fit');
  assert.deepEqual(nextWriteStep(10, 12, b('cccc\n')), { type: 'rotate' });
  assert.deepEqual(nextWriteStep(0, 3, lines), { type: 'write', bytes: 5 }, 'a line longer than maxBytes goes whole into an empty file');
  assert.deepEqual(nextWriteStep(5, 3, lines), { type: 'rotate' });
  assert.deepEqual(nextWriteStep(0, 15, lines), { type: 'write', bytes: 15 }, 'exactly full is not over');
  assert.deepEqual(nextWriteStep(15, 15, b('d\n')), { type: 'rotate' });
});

test('completeLinesWithin', () => {
  assert.equal(completeLinesWithin(b('ab\ncd\n'), 0), 0);
  assert.equal(completeLinesWithin(b('ab\ncd\n'), 2), 0);
  assert.equal(completeLinesWithin(b('ab\ncd\n'), 3), 3);
  assert.equal(completeLinesWithin(b('ab\ncd\n'), 5), 3);
  assert.equal(completeLinesWithin(b('ab\ncd\n'), 6), 6);
});

test('formatLines: text as is, timestamps, json with escaping', () => {
  const t = Date.UTC(2024, 4, 6, 7, 8, 9, 10);
  const opts = { process: 'web', stream: 'stderr' as const };
  const lines = b('plain\nsaid "hi"\t\\\n');
  assert.equal(formatLines(lines, { ...opts, format: 'text', timestamps: false }, t), lines);
  assert.equal(formatLines(lines, { ...opts, format: 'text', timestamps: true }, t).toString(), '2024-05-06T07:08:09.010Z plain\n2024-05-06T07:08:09.010Z said "hi"\t\\\n');
  const json = formatLines(lines, { ...opts, format: 'json', timestamps: false }, t).toString().trim().split('\n');
  assert.deepEqual(json.map((l) => JSON.parse(l) as unknown), [
    { time: '2024-05-06T07:08:09.010Z', process: 'web', stream: 'stderr', message: 'plain' },
    { time: '2024-05-06T07:08:09.010Z', process: 'web', stream: 'stderr', message: 'said "hi"\t\\' },
  ]);
  assert.equal(formatLines(b('\n'), { ...opts, format: 'json', timestamps: false }, t).toString(), `{"time":"2024-05-06T07:08:09.010Z","process":"web","stream":"stderr","message":""}\n`);
});

test('formatPieces: what a file gets, the same bytes as formatLines, timestamps in slices of whole lines', () => {
  const t = Date.UTC(2024, 4, 6, 7, 8, 9, 10);
  const opts = { process: 'web', stream: 'stdout' as const };
  const lines = Buffer.from(Array.from({ length: 2000 }, (_, i) => `line ${i} ${'é'.repeat(i % 40)}\n`).join(''));
  const text = formatPieces(lines, { ...opts, format: 'text', timestamps: false }, t);
  assert.deepEqual(text, [lines], 'plain text: the lines themselves');
  const ts = formatPieces(lines, { ...opts, format: 'text', timestamps: true }, t);
  assert.ok(ts.length > 1, `${ts.length} slices`);
  for (const piece of ts) assert.ok(typeof piece === 'string' && piece.endsWith('\n') && piece.startsWith('2024-05-06T07:08:09.010Z line '));
  const joined = Buffer.concat(ts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : p)));
  assert.deepEqual(joined, formatLines(lines, { ...opts, format: 'text', timestamps: true }, t));
  const json = formatPieces(lines, { ...opts, format: 'json', timestamps: false }, t);
  assert.deepEqual(json, [formatLines(lines, { ...opts, format: 'json', timestamps: false }, t)]);
});

test('sliceEnd: at most max bytes of whole lines, or one whole longer line', () => {
  const lines = b('aaaa\nbb\ncccccccc\nd\n');
  assert.equal(sliceEnd(lines, 0, 8), 8, 'aaaa bb');
  assert.equal(sliceEnd(lines, 8, 4), 17, 'a line longer than max goes whole');
  assert.equal(sliceEnd(lines, 17, 4), 19, 'the rest');
  assert.equal(sliceEnd(lines, 0, 100), lines.length);
});

test('prefixLines', () => {
  assert.equal(prefixLines(b('a\nbc\n'), 'w | ').toString(), 'w | a\nw | bc\n');
  assert.equal(prefixLines(b('\n'), 'w ! ').toString(), 'w ! \n');
  assert.equal(prefixLines(b('é\n€\n'), 'wé | ').toString(), 'wé | é\nwé | €\n', 'bytes and prefix kept exactly');
  assert.equal(prefixLines(b('a\nb'), '> ').toString(), '> a\n> b');
});

test('periodStart: local day and hour', () => {
  const t = new Date(2024, 2, 5, 13, 47, 12, 5).getTime();
  assert.equal(periodStart(t, 'hourly'), new Date(2024, 2, 5, 13, 0, 0, 0).getTime());
  assert.equal(periodStart(t, 'daily'), new Date(2024, 2, 5, 0, 0, 0, 0).getTime());
});

test('names: backups, supervisor AUTO names and the start-up cleanup pattern', () => {
  assert.equal(backupName('/l/w.log', 3, false), '/l/w.log.3');
  assert.equal(backupName('/l/w.log', 3, true), '/l/w.log.3.gz');
  let i = 0;
  const name = autoLogName('web_01', 'stdout', 'supervisor', () => (i++ % 37) / 37);
  assert.match(name, /^web_01-stdout---supervisor-[a-z0-9_]{8}\.log$/);
  assert.ok(isAutoLogName(name, 'supervisor'));
  assert.ok(isAutoLogName(`${name}.3`, 'supervisor'));
  assert.ok(isAutoLogName(`${name}.3.gz`, 'supervisor'), 'gzipped backups of AUTO logs are cleaned too');
  assert.ok(!isAutoLogName(name, 'other'));
  assert.ok(!isAutoLogName('web.log', 'supervisor'));
});

test('tailPlan follows supervisor tailFile', () => {
  assert.deepEqual(tailPlan(100, 0, 10), { position: 90, length: 10, overflow: true });
  assert.deepEqual(tailPlan(100, 95, 10), { position: 90, length: 10, overflow: false });
  assert.deepEqual(tailPlan(100, 100, 10), { position: 100, length: 0, overflow: false });
  // Python's read(10) of a 5-byte file gives 5 bytes: the plan asks for no more than the file holds
  assert.deepEqual(tailPlan(5, 0, 10), { position: 0, length: 5, overflow: false });
});

test('tailPlan never plans a read past the end of the file, however long the length (issue 11, finding 1)', () => {
  assert.deepEqual(tailPlan(3, 0, 2 ** 32), { position: 0, length: 3, overflow: false });
  assert.deepEqual(tailPlan(3, 0, 2 ** 31), { position: 0, length: 3, overflow: false });
  assert.deepEqual(tailPlan(0, 0, 2 ** 53 - 1), { position: 0, length: 0, overflow: false });
  assert.deepEqual(tailPlan(3 * 2 ** 30, 0, 2 ** 31), { position: 3 * 2 ** 30 - 2 ** 31, length: 2 ** 31, overflow: true });
});

test('lastLinesStart: the start of the last n lines, tail(1) counting; -1 when the window may start mid-line', () => {
  const w = b('a\nbb\nccc\n');
  const tailOf = (win: Buffer, n: number, atStart: boolean): string | null => {
    const at = lastLinesStart(win, n, atStart);
    return at < 0 ? null : win.subarray(at).toString();
  };
  assert.equal(tailOf(w, 1, false), 'ccc\n');
  assert.equal(tailOf(w, 2, false), 'bb\nccc\n');
  // the first line is whole only when the window starts the log
  assert.equal(tailOf(w, 3, false), null);
  assert.equal(tailOf(w, 3, true), 'a\nbb\nccc\n');
  assert.equal(tailOf(w, 9, true), 'a\nbb\nccc\n');
  assert.equal(tailOf(w, 0, false), '');
  // a final line without its newline counts; empty lines count
  assert.equal(tailOf(b('a\nbb'), 1, false), 'bb');
  assert.equal(tailOf(b('x\n\n'), 1, false), '\n');
  assert.equal(tailOf(b(''), 1, true), '');
  assert.equal(tailOf(b(''), 1, false), null);
  assert.equal(tailOf(b('\n'), 1, false), null);
});

test('wholeLinesStart: leaves out a line cut by the window, unless the window is one line', () => {
  assert.equal(wholeLinesStart(b('tail of a line\nwhole\n')), 15);
  assert.equal(wholeLinesStart(b('end of one long line\n')), 0);
  assert.equal(wholeLinesStart(b('no newline at all')), 0);
});
