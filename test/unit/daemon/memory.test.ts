// The C heap is trimmed once the supervisor has been quiet for a while (src/daemon/memory.ts): not while
// changes keep coming, once after they stop, again after the next burst, and never after it is stopped.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { trimWhenQuiet, type TrimReport } from '../../../src/daemon/memory.js';
import { assertStaysFor, waitForCondition } from '../../helpers/drover.js';

/** A change source as the supervisor is one: listeners, and a way to announce a change. */
function changes(): { onChange(l: () => void): () => void; change(): void } {
  const listeners = new Set<() => void>();
  return {
    onChange: (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    change: () => {
      for (const l of listeners) l();
    },
  };
}

test('trims once the changes have stopped for the quiet time, once per burst, and not after stop()', async () => {
  const QUIET = 150;
  const source = changes();
  const trims: { at: number; report: TrimReport }[] = [];
  const stop = trimWhenQuiet(source, (report) => trims.push({ at: Date.now(), report }), QUIET);
  try {
    // a burst: a change every 30 ms for 450 ms, three quiet times long; nothing is trimmed meanwhile
    let lastChange = Date.now();
    const burst = setInterval(() => {
      source.change();
      lastChange = Date.now();
    }, 30);
    await assertStaysFor(450, () => trims.length === 0, 'no trim while changes keep coming');
    clearInterval(burst);
    await waitForCondition(() => trims.length === 1, 'the trim after the burst', { describe: () => JSON.stringify(trims) });
    assert.ok(trims[0]!.at - lastChange >= QUIET - 5, `trimmed ${trims[0]!.at - lastChange} ms after the last change, before the ${QUIET} ms quiet time`);
    // on Linux with glibc the report has both readings
    assert.equal(typeof trims[0]!.report.beforeKiB, 'number');
    assert.equal(typeof trims[0]!.report.afterKiB, 'number');
    await assertStaysFor(2 * QUIET, () => trims.length === 1, 'one trim per burst');

    source.change();
    await waitForCondition(() => trims.length === 2, 'the trim after a second burst', { describe: () => JSON.stringify(trims) });
  } finally {
    stop();
  }
  source.change();
  await assertStaysFor(2 * QUIET, () => trims.length === 2, 'no trim after stop()');
});

test('changes that never stop put the trim off no longer than the longest wait', async () => {
  const QUIET = 150;
  const MAX_WAIT = 400;
  const source = changes();
  const trims: number[] = [];
  const began = Date.now();
  const stop = trimWhenQuiet(source, () => trims.push(Date.now()), QUIET, MAX_WAIT);
  // a change every 30 ms for as long as the test runs: never a quiet time
  const burst = setInterval(() => source.change(), 30);
  try {
    source.change();
    await waitForCondition(() => trims.length >= 2, 'two trims while changes keep coming', { describe: () => JSON.stringify(trims.map((t) => t - began)) });
    assert.ok(trims[0]! - began <= MAX_WAIT + 100, `the first trim came ${trims[0]! - began} ms after the first change (longest wait ${MAX_WAIT} ms)`);
  } finally {
    clearInterval(burst);
    stop();
  }
});
