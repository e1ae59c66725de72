// The reaper of adopted orphans (src/os/reaper.ts), in this test process made a subreaper: it reaps an
// orphan that comes back to it, and never a child Node spawned — even one caught as a zombie before libuv
// has waited for it. The negative control shows why: a child reaped behind Node's back never gets its
// 'exit' event.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { isSpawnedByNode } from '../../src/os/children.js';
import { isSubreaper, reapChild } from '../../src/os/native.js';
import { OrphanReaper } from '../../src/os/reaper.js';
import { assertStaysFor, procState, statFields, waitForCondition } from '../helpers/drover.js';

/**
 * Blocks the event loop until `pid` is a zombie, so libuv cannot reap it meanwhile: the window in which a
 * scan could mistake a child of Node's for an orphan.
 */
function blockUntilZombie(pid: number): void {
  const deadline = Date.now() + 5000;
  while (procState(pid) !== 'Z') {
    if (Date.now() > deadline) throw new Error(`pid ${pid} did not exit (state ${procState(pid)})`);
  }
}

const reaper = OrphanReaper.start();

test('this process is a subreaper once the reaper runs', () => {
  assert.equal(reaper.role, 'subreaper');
  assert.equal(isSubreaper(), true);
});

test('an orphan of a child comes back to us and is reaped', async () => {
  // sh starts sleep in the background and exits: sleep is orphaned, and re-parented to us (not to init)
  const r = spawnSync('/bin/sh', ['-c', 'sleep 0.05 >/dev/null 2>&1 & echo $!'], { encoding: 'utf8' });
  const orphan = Number(r.stdout.trim());
  assert.ok(orphan > 0, r.stderr);
  assert.equal(Number(statFields(orphan)?.[1]), process.pid, 'its new parent is us');
  await waitForCondition(() => procState(orphan) === 'Z', 'the orphan to exit (a zombie of ours)');
  const reaped = reaper.reap();
  assert.deepEqual(reaped.map((o) => [o.pid, o.comm, o.status]), [[orphan, 'sleep', 'exit 0']]);
  assert.equal(procState(orphan), null, 'reaped: gone from /proc');
});

test("a zombie child Node spawned is left to Node, which reports its exit status", async () => {
  const child = spawn('/bin/sh', ['-c', 'exit 7'], { stdio: 'ignore' });
  const pid = child.pid as number;
  let code: number | null | undefined;
  child.once('exit', (c) => (code = c));
  assert.equal(isSpawnedByNode(pid), true, 'recorded as spawned (ChildProcess#spawn is wrapped)');
  blockUntilZombie(pid);
  assert.deepEqual(reaper.reap(), [], 'the zombie is not taken for an orphan');
  await waitForCondition(() => code !== undefined, "Node's exit event", { describe: () => `state of ${pid}: ${procState(pid)}` });
  assert.equal(code, 7, 'with the exit status');
  assert.equal(isSpawnedByNode(pid), false, 'forgotten once Node has reaped it');
});

test('negative control: a child reaped behind Node\'s back never gets its exit event', async () => {
  const child = spawn('/bin/sh', ['-c', 'exit 7'], { stdio: 'ignore' });
  const pid = child.pid as number;
  let exited = false;
  child.once('exit', () => (exited = true));
  blockUntilZombie(pid);
  // what a waitpid(-1) reaper (or a reaper without the registry) would do
  assert.deepEqual(reapChild(pid), { state: 'exited', code: 7 });
  await assertStaysFor(300, () => !exited, 'no exit event for the stolen child');
  child.removeAllListeners('exit');
  child.unref();
});
