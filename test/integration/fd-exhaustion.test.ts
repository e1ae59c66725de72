// drover out of file descriptors while it runs (many log files, many connections, a low open-file limit):
// the orphan scan that follows every SIGCHLD lists /proc/self/task, which then fails with EMFILE. The throw
// went into the supervisor's queue as an internal error, which stops every program. It is now skipped and
// said once, and tried again once a descriptor is free.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { livePids, makeTmpDir, runCli, startUp, teardown, writeConfig } from '../helpers/drover.js';
import { droverBin } from '../helpers/paths.js';

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

test('more log files than the open-file limit allows: drover refuses to start (exit 2) and says what to raise, instead of failing deep inside', async () => {
  // (run as nobody, who cannot raise the hard limit: root with CAP_SYS_RESOURCE would raise it, as minfds is)
  const dir = makeTmpDir();
  chmodSync(dir, 0o755);
  const programs = Array.from({ length: 150 }, (_, i) => `[program:p${i}]\ncommand = /bin/sleep 1000\nautostart = false\n`).join('\n');
  const file = writeConfig(dir, `[supervisord]\nuser = nobody\nminfds = 100\nruntime_dir = ${join(dir, 'run')}\nlogfile = ${join(dir, 'logs', 'drover.log')}\nchildlogdir = ${join(dir, 'logs')}\n\n${programs}`);
  for (const sub of ['logs', 'run']) {
    mkdirSync(join(dir, sub), { mode: 0o700 });
    chownSync(join(dir, sub), 65534, 65534);
  }
  const r = spawnSync('prlimit', ['--nofile=256:256', process.execPath, droverBin, 'up', '-c', file], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
  const said = `exit ${String(r.status)}\n--- stderr:\n${r.stderr}--- stdout:\n${r.stdout}`;
  assert.equal(r.status, 2, said);
  assert.match(r.stderr, /^drover up: the 150 processes of this config keep 300 log files open while drover runs .*: at least 364 open files, more than this environment allows \(256\); raise the limit where drover starts/m, said);
  assert.doesNotMatch(r.stderr, /internal error|cannot open log file/, said);
  assert.equal(existsSync(join(dir, 'run', 'drover.pid')), false, 'no pidfile left behind');
});
