// Issue 11, finding 4: the master's shared service with the memory backend. A task too deep or too large is
// refused at push with E_BAD_ARGUMENTS; a task already in the store that cannot be serialised for the
// worker (a store written by another producer) goes to the dead letters with a log line, and neither the
// service nor any other worker is affected. `send` serialises as Node's IPC channel does (JSON.stringify).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SharedCall, SharedReplyMessage, SharedResult } from '../../../src/ipc/protocol.js';
import { MemoryBackend } from '../../../src/primitives/memory-backend.js';
import { MAX_TASK_BYTES, MAX_TASK_DEPTH, taskShapeProblem } from '../../../src/primitives/queue-core.js';
import { SharedService } from '../../../src/primitives/service.js';

/** A value nested `depth` levels of arrays deep. */
function nested(depth: number): unknown {
  let v: unknown = 0;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

/** A worker link whose send serialises like the IPC channel (and throws where it would). */
function worker(): { send: (m: SharedReplyMessage) => void; results: SharedResult[] } {
  const results: SharedResult[] = [];
  return {
    results,
    send: (m) => {
      JSON.stringify(m);
      results.push(...m.results);
    },
  };
}

/** Lets the service flush its answers (one microtask per worker per turn). */
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

test('a task nested 64 levels deep is accepted; 65 and 10,000 levels are refused with E_BAD_ARGUMENTS', () => {
  assert.equal(taskShapeProblem(nested(MAX_TASK_DEPTH)), null);
  assert.match(taskShapeProblem(nested(MAX_TASK_DEPTH + 1)) ?? '', /nested more than 64 levels deep/);
  assert.match(taskShapeProblem(nested(10_000)) ?? '', /nested more than 64 levels deep/);
  assert.match(taskShapeProblem({ a: { b: nested(MAX_TASK_DEPTH - 1) } }) ?? '', /nested more than 64 levels deep/);
  assert.equal(taskShapeProblem('a string'), null);
});

test('a task over 1 MiB as JSON is refused; one just under is accepted', () => {
  assert.equal(taskShapeProblem('x'.repeat(MAX_TASK_BYTES - 2)), null); // two quotes make it 1 MiB exactly
  assert.match(taskShapeProblem('x'.repeat(MAX_TASK_BYTES - 1)) ?? '', /1048577 bytes as JSON; at most 1048576/);
  // many small values: the walk stops counting once there are more than the size allows
  assert.match(taskShapeProblem(new Array(MAX_TASK_BYTES).fill(0)) ?? '', /bytes as JSON; at most 1048576/);
});

test('a worker pushing a task 10,000 levels deep over IPC gets E_BAD_ARGUMENTS; nothing is queued', async () => {
  const service = new SharedService(new MemoryBackend());
  const w = worker();
  const calls: SharedCall[] = [[1, 'queue.push', { queue: 'q', data: nested(10_000) }], [2, 'queue.stats', { queue: 'q' }]];
  service.handle('jobs:jobs_0', 100, calls, w.send);
  await settle();
  const [refused, stats] = w.results;
  assert.equal(refused?.[1], 0);
  assert.equal(refused?.[2], 'E_BAD_ARGUMENTS');
  assert.match(String(refused?.[3]), /queue "q": the task is nested more than 64 levels deep/);
  assert.equal((stats?.[2] as { pushed: number }[])[0]?.pushed, 0);
});

// An audit (seventeenth session): a state value 3,000 levels deep overflowed the master's stack in the
// compare of a compareAndSet (E_INTERNAL). Values have a task's limits now, checked before anything is stored.
test('a state value nested past 64 levels is refused with E_BAD_ARGUMENTS, by set and by compareAndSet; nothing is stored', async () => {
  const service = new SharedService(new MemoryBackend());
  const w = worker();
  const deep = nested(3000);
  const calls: SharedCall[] = [
    [1, 'state.set', { key: 'k', value: deep }],
    [2, 'state.cas', { key: 'k', expected: { found: false }, next: { found: true, value: deep } }],
    [3, 'state.cas', { key: 'k', expected: { found: true, value: deep }, next: { found: false } }],
    [4, 'state.set', { key: 'k', value: nested(MAX_TASK_DEPTH) }],
    [5, 'state.cas', { key: 'k', expected: { found: true, value: nested(MAX_TASK_DEPTH) }, next: { found: true, value: 1 } }],
    [6, 'state.get', { key: 'k' }],
  ];
  service.handle('jobs:jobs_0', 100, calls, w.send);
  await settle();
  for (const r of w.results.slice(0, 3)) {
    assert.equal(r[1], 0, JSON.stringify(r).slice(0, 200));
    assert.equal(r[2], 'E_BAD_ARGUMENTS');
    assert.match(String(r[3]), /state "k": the value is nested more than 64 levels deep/);
  }
  assert.deepEqual(w.results.slice(3).map((r) => r[1]), [1, 1, 1], 'a value 64 levels deep is stored and compared');
  assert.equal(w.results[4]?.[2], true);
  assert.deepEqual(w.results[5]?.[2], { found: true, value: 1 });
});

test('a stored task that cannot be sent to its worker is dead-lettered with a log line; the take keeps waiting, others are served', async () => {
  const backend = new MemoryBackend();
  const warnings: string[] = [];
  const service = new SharedService(backend, (m) => warnings.push(m));
  // Already in the store, as another producer may have left it (the service itself refuses it at push):
  // JSON.stringify overflows the stack on it.
  const deep = backend.push('q', nested(10_000), {});
  const a = worker();
  const b = worker();
  service.handle('jobs:jobs_0', 100, [[1, 'queue.take', { queue: 'q' }]], a.send);
  service.handle('jobs:jobs_1', 101, [[1, 'queue.take', { queue: 'q' }]], b.send);
  await settle();
  assert.deepEqual(a.results, [], 'nothing reached the worker');
  const dead = backend.deadLetters('q', 10);
  assert.equal(dead.length, 1);
  assert.equal(dead[0]?.id, deep);
  assert.match(dead[0]?.error ?? '', /could not be sent to worker jobs:jobs_0#100: RangeError/);
  assert.equal(warnings.length, 1, warnings.join('\n'));
  assert.match(warnings[0] ?? '', /queue "q": task \d+ could not be sent to worker jobs:jobs_0#100 \(RangeError: Maximum call stack size exceeded\); moved to the dead letters/);
  // both takes still wait: the next tasks reach them
  backend.push('q', { n: 1 }, {});
  backend.push('q', { n: 2 }, {});
  await settle();
  const data = [...a.results, ...b.results].map((r) => (r[2] as { data: unknown }).data);
  assert.deepEqual(data.sort((x, y) => (x as { n: number }).n - (y as { n: number }).n), [{ n: 1 }, { n: 2 }]);
  assert.equal(backend.queueStats('q')[0]?.leased, 2);
});

test('answers sent together with an unsendable one still arrive; the unsendable answer becomes an error', async () => {
  const backend = new MemoryBackend();
  const service = new SharedService(backend, () => undefined);
  backend.stateSet('deep', nested(10_000));
  const w = worker();
  service.handle('web:web_0', 200, [[1, 'state.get', { key: 'deep' }], [2, 'state.increment', { key: 'n' }]], w.send);
  await settle();
  assert.deepEqual(w.results.find((r) => r[0] === 2), [2, 1, 1]);
  const failed = w.results.find((r) => r[0] === 1);
  assert.equal(failed?.[1], 0);
  assert.equal(failed?.[2], 'E_INTERNAL');
  assert.match(String(failed?.[3]), /the answer could not be sent: RangeError/);
});
