import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeUtf8, firstInvalidUtf8 } from '../../../src/config/utf8.js';

test('firstInvalidUtf8 points at the lead byte of the first bad sequence', () => {
  const cases: [number[], number][] = [
    [[0x61, 0x62], -1],
    [[0x63, 0xc3, 0xa9], -1], // cé
    [[0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80], -1], // € 😀
    [[0x63, 0xe9, 0x5d], 1], // Latin-1 é then "]": E9 expects two continuation bytes
    [[0x61, 0x80], 1], // a lone continuation byte
    [[0xc0, 0x80], 0], // overlong NUL
    [[0xed, 0xa0, 0x80], 0], // a UTF-16 surrogate
    [[0xf4, 0x90, 0x80, 0x80], 0], // above U+10FFFF
    [[0x61, 0xe2, 0x82], 1], // cut at the end
    [[0xf5], 0],
  ];
  for (const [bytes, at] of cases) assert.equal(firstInvalidUtf8(Uint8Array.from(bytes)), at, bytes.map((b) => b.toString(16)).join(' '));
});

test('firstInvalidUtf8 agrees with the WHATWG decoder on random bytes', () => {
  let seed = 13;
  const rand = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x80000000;
  for (let n = 0; n < 5000; n++) {
    const bytes = Uint8Array.from({ length: 1 + Math.floor(rand() * 8) }, () => (rand() < 0.3 ? Math.floor(rand() * 128) : 0x80 + Math.floor(rand() * 128)));
    let valid = true;
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      valid = false;
    }
    assert.equal(firstInvalidUtf8(bytes) === -1, valid, Buffer.from(bytes).toString('hex'));
  }
});

test('decodeUtf8 gives the text, or the line, column and byte of the first bad one', () => {
  assert.equal(decodeUtf8(Buffer.from('\ufeff[program:café]\n')), '\ufeff[program:café]\n');
  assert.deepEqual(decodeUtf8(Buffer.from('[supervisord]\n\n[program:caf\xe9]\n', 'latin1')), { line: 3, column: 13, byte: 0xe9 });
  assert.deepEqual(decodeUtf8(Buffer.from([0xff, 0x0a])), { line: 1, column: 1, byte: 0xff });
});
