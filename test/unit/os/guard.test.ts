// The orphan guard replaced when it ends while drover runs: the new one is handed the groups listed at that
// moment, and a replacement that ends at once is not replaced again (no loop). Real bash processes.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { OrphanGuard } from '../../../src/os/guard.js';
import { readStat } from '../../../src/os/proc.js';
import { livePids, waitForCondition } from '../../helpers/drover.js';

// what the guard and the sleep below inherit, so that livePids recognises them as this test's
const MARK = `guard-unit-${process.pid}`;
process.env['DROVER_TEST_MARK'] = MARK;

function killQuietly(pid: number | undefined, sig: NodeJS.Signals = 'SIGKILL'): void {
  if (pid === undefined) return;
  try {
    process.kill(pid, sig);
  } catch {
    // ESRCH: gone already
  }
}

test('a killed guard is replaced by one that holds the same groups and ends them when its pipe closes', async () => {
  const reports: string[] = [];
  const guard = OrphanGuard.start('unit-test', (m) => reports.push(m));
  assert.ok(guard, 'bash is available');
  // a group of its own, as a program's is
  const sleeper = spawn('sleep', ['1000'], { detached: true, stdio: 'ignore' });
  const pid = sleeper.pid as number;
  const first = guard.pid;
  try {
    guard.add(pid, readStat(pid)?.startTicks ?? 0);
    guard.add(999_999, 1); // listed, then removed before the guard ends: not handed over
    guard.remove(999_999);
    process.kill(first as number, 'SIGTERM');
    await waitForCondition(() => reports.length === 1, 'the guard\'s end to be reported', { describe: () => reports.join('\n') });
    const m = /^orphan guard pid (\d+) ended unexpectedly \(killed by SIGTERM\); started a new one, pid (\d+), guarding the 1 process group\(s\) alive now$/.exec(reports[0] ?? '');
    assert.ok(m, reports[0]);
    assert.equal(Number(m[1]), first);
    assert.equal(guard.pid, Number(m[2]));
    assert.deepEqual(livePids([pid], MARK), [pid], 'the sleep still runs');
    // the pipe closes as it does when drover dies: the new guard ends the group it was handed
    guard.close();
    await waitForCondition(() => livePids([pid], MARK).length === 0, 'the replacement guard to end the sleep', { describe: () => reports.join('\n') });
    // it exits a second later, after its KILL round; waited for, so that no guard outlives the test
    const second = Number(m[2]);
    await waitForCondition(() => !existsSync(`/proc/${second}`), 'the replacement guard to exit and be reaped', { timeoutMs: 5000 });
  } finally {
    killQuietly(pid);
    guard.close();
  }
});

test('a replacement that ends soon after its start is not replaced again: drover carries on without a guard', async () => {
  const reports: string[] = [];
  // a long minimum life, so that the test does not depend on how fast the machine is
  const guard = OrphanGuard.start('unit-test', (m) => reports.push(m), 60_000);
  assert.ok(guard, 'bash is available');
  try {
    killQuietly(guard.pid);
    await waitForCondition(() => reports.length === 1, 'the first guard\'s end to be reported', { describe: () => reports.join('\n') });
    const second = guard.pid;
    assert.ok(second !== undefined, reports[0]);
    killQuietly(second);
    await waitForCondition(() => reports.length === 2, 'the replacement\'s end to be reported', { describe: () => reports.join('\n') });
    assert.match(reports[1] ?? '', new RegExp(`^orphan guard pid ${second} ended unexpectedly \\(killed by SIGKILL\\) \\d+\\.\\d s after it was started to replace another; not starting another, carrying on without one`));
    assert.equal(guard.pid, undefined);
    guard.add(1, 1); // nothing to write to: no error
  } finally {
    killQuietly(guard.pid);
    guard.close();
  }
});

test('a guard closed on a clean shutdown is not replaced', async () => {
  const reports: string[] = [];
  const guard = OrphanGuard.start('unit-test', (m) => reports.push(m));
  assert.ok(guard, 'bash is available');
  const pid = guard.pid as number;
  guard.close();
  // reaped: Node emits a child's 'exit' in the callback in which it reaps it
  await waitForCondition(() => !existsSync(`/proc/${pid}`), 'the closed guard to exit and be reaped');
  assert.deepEqual(reports, []);
});
