// shared_max_bytes against what drains it: a master full of tasks still hands them out (a take from a known
// queue and a wait for a known lock are never refused), while a new queue or lock name is.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBackend } from '../../../src/primitives/memory-backend.js';
import { SharedError } from '../../../src/primitives/service.js';

const isQuota = (e: unknown): boolean => e instanceof SharedError && e.code === 'E_QUOTA';

test('a full master still hands out its tasks and queues a wait for a held lock; a new queue or lock name is refused', () => {
  const b = new MemoryBackend(() => 0, null, 8192);
  try {
    const tokens: number[] = [];
    b.lockAcquire('L', 'w1', 0, (t) => tokens.push(t));
    let pushed = 0;
    for (;;) {
      try {
        b.push('jobs', 'x'.repeat(200), {});
        pushed += 1;
      } catch (err) {
        if (!isQuota(err)) throw err;
        break;
      }
    }
    assert.ok(pushed > 10, `${pushed} tasks fit`);
    // the backlog drains: a take from the known queue gets a task at once
    const got: number[] = [];
    b.take('jobs', 'w2', 60_000, (d) => got.push(d.id));
    assert.equal(got.length, 1);
    // a wait for the held lock is queued, and granted at the release
    b.lockAcquire('L', 'w2', 0, (t) => tokens.push(t));
    assert.equal(tokens.length, 1);
    assert.ok(b.lockRelease('L', 'w1', tokens[0] as number));
    assert.equal(tokens.length, 2);
    // new names are what is refused
    assert.throws(() => b.take('a-new-queue', 'w2', 60_000, () => undefined), isQuota);
    assert.throws(() => b.lockAcquire(`a-new-lock-${'n'.repeat(300)}`, 'w2', 0, () => undefined), isQuota);
  } finally {
    b.close();
  }
});
