import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AnsiStripper } from '../../../src/logs/strip-ansi.js';

const ESC = '\x1b';

function stripAll(chunks: readonly string[]): string {
  const s = new AnsiStripper();
  return chunks.map((c) => s.strip(Buffer.from(c, 'latin1')).toString('latin1')).join('') + s.flush().toString('latin1');
}

test('strip_ansi: colour, cursor and erase sequences go, text stays', () => {
  assert.equal(stripAll([`${ESC}[31mred${ESC}[0m plain\n`]), 'red plain\n');
  assert.equal(stripAll([`${ESC}[1;32mbold green${ESC}[m ${ESC}[2J${ESC}[10;5Hhere${ESC}[K\n`]), 'bold green here\n');
});

test('strip_ansi: a sequence split across reads is removed too, even at ESC | [', () => {
  assert.equal(stripAll([`a${ESC}`, '[31', 'mb\n']), 'ab\n');
  assert.equal(stripAll([`a${ESC}[`, '0', 'm', 'b\n']), 'ab\n');
});

test('strip_ansi: a lone ESC not followed by [ stays, also at the end of a read and of the stream', () => {
  assert.equal(stripAll([`a${ESC}b\n`]), `a${ESC}b\n`);
  assert.equal(stripAll([`a${ESC}`, 'b\n']), `a${ESC}b\n`);
  assert.equal(stripAll([`a${ESC}`]), `a${ESC}`);
});

test('strip_ansi: a read without ESC is passed on as it is (no copy)', () => {
  const s = new AnsiStripper();
  const b = Buffer.from('plain text\n');
  assert.equal(s.strip(b), b);
});
