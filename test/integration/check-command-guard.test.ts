// An exec check's command and the orphan guard: the group is listed while the command runs, and taken off
// the list as soon as drover kills it (a cancel, a timeout), not only once its exit has been read. drover's
// shutdown cancels the checks and closes the guard in the same turn: a group still listed then made the
// guard send TERM and KILL to it and outlive drover by a second. A real command, real signals.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCheckCommand, type GroupGuard } from '../../src/os/check-command.js';
import { livePids, waitForCondition } from '../helpers/drover.js';

const MARK = `check-command-unit-${process.pid}`;
// the mark lets livePids tell the command from an unrelated process that got its pid
const ENV: Record<string, string> = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', DROVER_TEST_MARK: MARK };

/** The guard's side as drover's own seam sees it: what was added and removed, in order. */
function recorder(): GroupGuard & { readonly log: string[] } {
  const log: string[] = [];
  return { log, add: (pgid: number) => log.push(`add ${pgid}`), remove: (pgid: number) => log.push(`del ${pgid}`) };
}

test('a cancelled exec check is off the guard\'s list at once, and once', async () => {
  const guard = recorder();
  const cancel = new AbortController();
  const outcome = runCheckCommand({ argv: ['/bin/sh', '-c', 'sleep 30 & wait'], env: ENV, cwd: null, user: null, timeoutMs: 60_000 }, cancel.signal, guard);
  const added = /^add (\d+)$/.exec(guard.log[0] ?? '');
  assert.ok(added, JSON.stringify(guard.log));
  const pid = Number(added[1]);
  cancel.abort();
  // in the same turn as the cancel, before the command's exit is read
  assert.deepEqual(guard.log, [`add ${pid}`, `del ${pid}`]);
  assert.deepEqual(await outcome, { ok: false, error: 'cancelled' });
  assert.deepEqual(guard.log, [`add ${pid}`, `del ${pid}`], 'removed once');
  await waitForCondition(() => livePids([pid], MARK).length === 0, 'the command to be gone', { timeoutMs: 5000 });
});

test('an exec check that passes is off the guard\'s list when it has ended', async () => {
  const guard = recorder();
  const outcome = await runCheckCommand({ argv: ['/bin/sh', '-c', 'exit 0'], env: ENV, cwd: null, user: null, timeoutMs: 10_000 }, undefined, guard);
  assert.deepEqual(outcome, { ok: true, detail: 'exit 0' });
  const pid = Number(/^add (\d+)$/.exec(guard.log[0] ?? '')?.[1]);
  assert.deepEqual(guard.log, [`add ${pid}`, `del ${pid}`]);
});
