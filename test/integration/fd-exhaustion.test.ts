// drover out of file descriptors while it runs (many log files, many connections, a low open-file limit):
// the orphan scan that follows every SIGCHLD lists /proc/self/task, which then fails with EMFILE. The throw
// went into the supervisor's queue as an internal error, which stops every program. It is now skipped and
// said once, and tried again once a descriptor is free.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { livePids, makeTmpDir, runCli, startUp, teardown, writeConfig } from '../helpers/drover.js';

function setNofile(pid: number, limit: string): void {
  const r = spawnSync('prlimit', ['--pid', String(pid), `--nofile=${limit}`], { encoding: 'utf8' });
  assert.equal(r.status, 0, `prlimit --pid ${pid} --nofile=${limit}: ${r.stderr}`);
}

test('a SIGCHLD while drover has no descriptor left: the orphan scan is skipped with a warning, drover and its programs run on', async () => {
  const dir = makeTmpDir();
  const file = writeConfig(dir, `[program:victim]
command = /bin/sleep 1000
startsecs = 0
autorestart = false

[program:bystander]
command = /bin/sleep 1000
startsecs = 0
`);
  const run = await startUp(file);
  let victim = 0;
  let bystander = 0;
  try {
    victim = Number((await run.waitForLine(/spawned: victim with pid (\d+)/))[1]);
    bystander = Number((await run.waitForLine(/spawned: bystander with pid (\d+)/))[1]);
    await run.waitForLine(/bystander: starting → running/);
    const limits = spawnSync('prlimit', ['--pid', String(run.pid), '--nofile', '--raw', '--noheadings', '--output', 'SOFT,HARD'], { encoding: 'utf8' }).stdout.trim().split(/\s+/);
    // 3: fds 0 to 2 stay open, so every new descriptor is refused (EMFILE), whatever closes meanwhile (the
    // victim's pipes do); those already open go on working
    setNofile(run.pid, `3:${limits[1] ?? ''}`);
    process.kill(victim, 'SIGKILL');
    await run.waitForLine(/victim: running → exited/);
    await run.waitForLine(/WARN cannot look for orphans to reap: .*EMFILE.*; trying again at the next SIGCHLD or in 1 s/);
    assert.deepEqual(livePids([run.pid, bystander]), [run.pid, bystander], `drover and bystander run on\n${run.describe()}`);
    setNofile(run.pid, `${limits[0] ?? ''}:${limits[1] ?? ''}`);
    await run.waitForLine(/INFO looking for orphans to reap works again/);
    const status = await runCli(['status', '-c', file]);
    assert.match(status.stdout, /^bystander +running /m, status.output);
    assert.doesNotMatch(run.output, /internal error/, run.describe());
  } finally {
    await teardown(run, [victim, bystander], dir);
  }
});
