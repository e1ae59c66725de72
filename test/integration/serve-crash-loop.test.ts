// A review against gunicorn 20.1: a worker that reports ready and then dies at once, every time, was
// replaced as fast as it died (36 spawns in 13 s, about one core with -w 2), forever. A worker that dies
// unrequested within startsecs of its spawn is now a failed start: backoff 1 s, 2 s, 3 s, then FATAL.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CliRun, makeTmpDir, teardown } from '../helpers/drover.js';

function pids(run: CliRun): number[] {
  return [...run.output.matchAll(/spawned: \S+ with pid (\d+)/g)].map((m) => Number(m[1]));
}

test('a worker that dies just after it reported ready backs off (1 s, 2 s, 3 s), then FATAL: drover serve exits 1', async () => {
  const dir = makeTmpDir();
  writeFileSync(join(dir, 'dies.mjs'), `setTimeout(() => process.exit(1), 200);\nexport default (req, res) => res.end('x');\n`);
  const run = new CliRun(['serve', join(dir, 'dies.mjs'), '-w', '1', '-b', `unix:${join(dir, 'app.sock')}`, '--runtime-dir', join(dir, '.drover')], { cwd: dir });
  try {
    // it was ready (RUNNING), and still its exit is a failed start, not an autorestart
    await run.waitForLine(/dies_0: starting → running/, { timeoutMs: 15_000 });
    await run.waitForLine(/dies_0: running → backoff \(exited too quickly \(exit status 1\): it reported ready, but did not stay up startsecs \(1s after that\)\)/);
    await run.waitForLine(/dies_0: backoff → fatal/, { timeoutMs: 20_000 });
    // startretries = 3: four spawns in all; the pool has no worker running, so drover serve gives up
    const exit = await run.waitForExit(10_000);
    assert.equal(exit.code, 1, run.describe());
    assert.equal(pids(run).length, 4, run.describe());
    assert.doesNotMatch(run.output, /dies_0: running → exited/, run.describe());
  } finally {
    await teardown(run, pids(run), dir);
  }
});
