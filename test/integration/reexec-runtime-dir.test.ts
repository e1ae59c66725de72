// A reload that moves runtime_dir leaves drover answering in the directory it started with, and holding the
// new directory's instance lock as well (so `drover up` with the new config finds it running). A USR2 must
// carry that lock to the new master, whose config names the new directory: until now the new master adopted
// the old directory's lock in its place and held none of the new one.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { livePids, makeTmpDir, runCli, startUp, teardown, waitForCondition, writeConfig } from '../helpers/drover.js';

/** Whether some process holds an exclusive flock on `file` (flock(1) tries it without waiting). */
function locked(file: string): boolean {
  const r = spawnSync('flock', ['-n', '-E', '75', file, 'true'], { encoding: 'utf8' });
  assert.ok(r.status === 0 || r.status === 75, `flock ${file}: ${r.status} ${r.stderr}`);
  return r.status === 75;
}

test('a USR2 after a reload moved runtime_dir: the new master holds the new directory\'s lock, and the old one is free', async () => {
  const dir = makeTmpDir();
  const [run1, run2] = [join(dir, 'run1'), join(dir, 'run2')];
  const conf = (runtime: string): string => `[unix_http_server]
file = ${join(dir, 'ctl.sock')}

[supervisord]
runtime_dir = ${runtime}
pidfile = ${join(dir, 'drover.pid')}

[program:p]
command = /bin/sleep 1000
startsecs = 0
`;
  const file = writeConfig(dir, conf(run1));
  const run = await startUp(file);
  let newPid = 0;
  try {
    await run.waitForLine(/p: starting → running/);
    writeFileSync(file, conf(run2));
    const reload = await runCli(['reload', '-c', file]);
    assert.equal(reload.code, 0, `${reload.output}\n${run.describe()}`);
    assert.ok(locked(join(run2, 'drover.lock')), `the reload took run2's lock\n${run.describe()}`);
    run.signal('SIGUSR2');
    newPid = Number((await run.waitForLine(/SIGUSR2: the new master \(pid (\d+)\) is ready; draining and exiting/, { timeoutMs: 20_000 }))[1]);
    // (the new master keeps the old one's stdout: wait for the old pid, not for the end of its output)
    await waitForCondition(() => livePids([run.pid]).length === 0, `the old master (${run.pid}) to exit`, { timeoutMs: 20_000, describe: () => run.describe() });
    assert.ok(locked(join(run2, 'drover.lock')), `the new master (${newPid}) holds run2's lock\n${run.describe()}`);
    assert.ok(!locked(join(run1, 'drover.lock')), `nothing holds run1's lock once the old master is gone\n${run.describe()}`);
    const down = await runCli(['down', '-c', file], { timeoutMs: 30_000 });
    assert.equal(down.code, 0, down.output);
  } finally {
    if (newPid > 0 && livePids([newPid]).length > 0) process.kill(newPid, 'SIGKILL');
    await teardown(run, [], dir);
  }
});
