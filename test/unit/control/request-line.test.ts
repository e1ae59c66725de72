import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeRawTarget } from '../../../src/control/request-line.js';

const bytes = (...parts: (string | number[])[]): Buffer => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));

test('raw bytes >= 0x80 in the request target become their percent-encoding; the rest is kept byte for byte', () => {
  const head = bytes('GET /logtail/h', [0xc3, 0xa9], 'llo/stdout HTTP/1.1\r\nHost: x\r\n\r\nbody', [0xff]);
  assert.equal(encodeRawTarget(head)?.toString('latin1'), 'GET /logtail/h%C3%A9llo/stdout HTTP/1.1\r\nHost: x\r\n\r\nbody\xff');
});

test('a line after leading empty lines, and one ending in a bare LF, are encoded too', () => {
  assert.equal(encodeRawTarget(bytes('\r\nGET /', [0x80], ' HTTP/1.1\n'))?.toString('latin1'), '\r\nGET /%80 HTTP/1.1\n');
});

test('nothing is changed where the target has no such byte, the line is not complete, or the byte is outside the target', () => {
  assert.equal(encodeRawTarget(bytes('GET /plain HTTP/1.1\r\nX: ', [0xe9], '\r\n\r\n')), null, 'a header byte is left to the parser');
  assert.equal(encodeRawTarget(bytes('GET /h', [0xe9])), null, 'no line end yet');
  assert.equal(encodeRawTarget(bytes('G', [0xe9], 'T /x HTTP/1.1\r\n')), null, 'the method is not the target');
  assert.equal(encodeRawTarget(bytes('GET /x HTTP/1.', [0xe9], '\r\n')), null, 'the version is not the target');
  assert.equal(encodeRawTarget(bytes('/h', [0xe9], '\r\n')), null, 'no spaces: no target');
});
