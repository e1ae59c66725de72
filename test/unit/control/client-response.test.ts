// How the CLI reads an HTTP answer from the chunks its socket delivered (control/client.ts readResponse):
// the body is kept in those chunks (`pieces`, which `status --json` writes out as they are) unless it has
// to be joined, and every way of splitting the same bytes into chunks gives the same answer.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readResponse } from '../../../src/control/client.js';

/** `text` cut at the given offsets into separate buffers, as reads off a socket may deliver it. */
function split(text: string, cuts: readonly number[]): Buffer[] {
  const all = Buffer.from(text);
  const at = [0, ...cuts, all.length];
  return at.slice(1).map((end, i) => all.subarray(at[i], end));
}

const BODY = `{"ok":true,"t":"${'é✓x'.repeat(40)}"}`;

test('every split of a Content-Length answer gives the same status, headers and body', () => {
  const raw = `HTTP/1.1 200 OK\r\nContent-Length: ${Buffer.byteLength(BODY)}\r\nDrover-Not-Running: 2\r\n\r\n${BODY}`;
  const size = Buffer.byteLength(raw);
  const headEnd = raw.indexOf('\r\n\r\n') + 4;
  // within the header block, at its end, inside the body (also inside a multi-byte character), and several
  const splits = [[], [5], [headEnd - 2], [headEnd], [headEnd + 1], [headEnd + 20, headEnd + 21, size - 1], [1, 2, 3, headEnd + 7]];
  for (const cuts of splits) {
    const a = readResponse(split(raw, cuts));
    assert.equal(a.status, 200, String(cuts));
    assert.equal(a.header('drover-not-running'), '2');
    assert.equal(a.header('content-type'), null);
    assert.equal(Buffer.concat(a.pieces).toString(), BODY, `pieces, cut at ${cuts}`);
    assert.equal(a.body.toString(), BODY, `body, cut at ${cuts}`);
    assert.ok(a.pieces.every((p) => p.length > 0), 'no empty piece');
  }
  // a body in three reads after a header block that ends in the first stays in three pieces
  assert.equal(readResponse(split(raw, [headEnd + 10, headEnd + 50])).pieces.length, 3);
});

test('Content-Length cuts what comes after it and refuses an answer cut short; chunked is joined', () => {
  const extra = readResponse(split(`HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabcdefgh`, [40, 42]));
  assert.equal(Buffer.concat(extra.pieces).toString(), 'abcde');
  assert.equal(extra.body.toString(), 'abcde');
  assert.throws(() => readResponse(split(`HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nabc`, [40])), /ended after 3 of 50 bytes/);
  const empty = readResponse([Buffer.from('HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n')]);
  assert.deepEqual(empty.pieces, []);
  assert.equal(empty.body.length, 0);
  const chunked = readResponse(split('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n', [50, 55]));
  assert.equal(chunked.body.toString(), 'abcde');
  assert.equal(Buffer.concat(chunked.pieces).toString(), 'abcde');
  assert.throws(() => readResponse([]), /not HTTP/);
  assert.throws(() => readResponse(split('SSH-2.0-OpenSSH\r\n', [4])), /not HTTP/);
});
