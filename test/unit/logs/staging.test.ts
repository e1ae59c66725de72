import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Staging } from '../../../src/logs/staging.js';

const CHUNK = 64 * 1024;
const lines = (n: number, len: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => `${String(i).padStart(len - 1, '0').slice(-(len - 1))}\n`).join(''));

test('Staging: copies, so the caller may overwrite its buffer at once', () => {
  const st = new Staging();
  const src = Buffer.from('a\nbc\n');
  const views = st.copy(src);
  src.fill(0x58);
  assert.equal(Buffer.concat(views).toString(), 'a\nbc\n');
});

test('Staging: every view ends at a line boundary, and together they are the input', () => {
  const st = new Staging();
  const all: Buffer[] = [];
  for (let i = 0; i < 20; i++) {
    // 1000 lines of 100 bytes do not fit in one chunk: the copy is cut between lines
    const src = lines(1000, 100);
    const views = st.copy(src);
    for (const v of views) assert.equal(v[v.length - 1], 0x0a, 'a view ends with a newline');
    assert.ok(views.every((v) => v.length <= CHUNK));
    assert.deepEqual(Buffer.concat(views), src);
    all.push(...views);
  }
  assert.ok(all.length > 20, `${all.length} views`);
});

test('Staging: a line longer than a chunk gets a buffer of its own', () => {
  const st = new Staging();
  const long = Buffer.concat([Buffer.alloc(CHUNK + 10, 0x61), Buffer.from('\nshort\n')]);
  const views = st.copy(long);
  assert.deepEqual(Buffer.concat(views), long);
  assert.equal(views[0]?.length, CHUNK + 11);
  assert.equal(views[1]?.toString(), 'short\n');
});

test('Staging: released chunks are reused, not allocated again', () => {
  const st = new Staging();
  const memory = new Set<ArrayBufferLike>();
  for (let round = 0; round < 50; round++) {
    const views = st.copy(lines(1000, 100)); // ~1.5 chunks a round
    for (const v of views) memory.add(v.buffer);
    for (const v of views) st.release(v);
    st.idle();
  }
  assert.ok(memory.size <= 3, `${memory.size} chunks for 50 rounds`);
});

test('Staging: a chunk with views still out is not reused', () => {
  const st = new Staging();
  const held = st.copy(lines(10, 10));
  const before = Buffer.concat(held).toString();
  for (let round = 0; round < 20; round++) {
    const views = st.copy(lines(1000, 100));
    for (const v of views) st.release(v);
    st.idle();
  }
  assert.equal(Buffer.concat(held).toString(), before, 'the held copy is intact');
});

test('Staging: a quiet file holds no chunk: a small write is copied outside the staging chunks', () => {
  const st = new Staging();
  const views = st.copy(Buffer.from('one line\n'));
  assert.equal(views.length, 1);
  // a big write warms it up: then small writes share the chunk, which the first small write was not in
  const big = st.copy(lines(100, 100));
  const small = st.copy(Buffer.from('x\n'));
  assert.equal(small[0]?.buffer, big[0]?.buffer);
  assert.notEqual(views[0]?.buffer, big[0]?.buffer, 'the quiet write took a chunk');
  // Node's shared slabs hold it (8 KiB on Node 20, 64 KiB on Node 24), never a chunk of its own
  assert.ok((views[0]?.buffer.byteLength ?? 0) <= Buffer.poolSize, `backed by ${views[0]?.buffer.byteLength} bytes`);
});
