// From a review: drover started "successfully" when it could not open its own log (`[supervisord] logfile`
// in a directory its user may not write): `up` and `up -d` said it started, exit 0, and the only trace was a
// line in .drover/daemon.stderr; every line of drover's own was lost for the daemon's whole life.
// supervisord 4.2.5 refuses to start there (PermissionError, exit 1). drover now refuses too, exit 1,
// naming the key, the path and the error, and leaves nothing running. A reopen that fails later (USR1,
// logrotate's postrotate) still does not stop a running drover: it says so and runs on.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CliRun, livePids, makeTmpDir, runCli, startUp, teardown, waitForCondition, writeConfig } from '../helpers/drover.js';

const skip = process.getuid?.() !== 0 ? 'needs root (drover runs as nobody: root may open any file)' : false;

/** Every live process carrying this run's test mark: drover and anything it started. */
function markedPids(mark: string): number[] {
  return livePids(readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number), mark);
}

/**
 * A config whose drover runs as nobody, with its runtime directory in a directory of nobody's and its own
 * log in one of root's (0755: nobody may not create a file there: EACCES).
 */
function unwritableLogConfig(): { dir: string; conf: string; runtimeDir: string; log: string } {
  const dir = makeTmpDir();
  chmodSync(dir, 0o755);
  const home = join(dir, 'home');
  mkdirSync(home);
  spawnSync('chown', ['nobody', home]);
  const rootOnly = join(dir, 'root-only');
  mkdirSync(rootOnly, { mode: 0o755 });
  const runtimeDir = join(home, 'run');
  const log = join(rootOnly, 'drover.log');
  const conf = writeConfig(
    dir,
    `[supervisord]\nuser = nobody\nruntime_dir = ${runtimeDir}\nlogfile = ${log}\n\n[program:sleeper]\ncommand = /bin/sleep 1000\nstartsecs = 0\n`,
  );
  return { dir, conf, runtimeDir, log };
}

const REFUSAL = /\[supervisord\] logfile: cannot open log file \S*root-only\/drover\.log: EACCES: permission denied; drover does not start without its own log/;

test('up: an own log drover cannot open is refused at the start: exit 1 naming key, path and error; nothing runs', { skip }, async () => {
  const { dir, conf, runtimeDir, log } = unwritableLogConfig();
  const run = new CliRun(['up', '-c', conf], { cwd: dir });
  try {
    const exit = await run.waitForExit(15_000);
    assert.equal(exit.code, 1, run.describe());
    assert.match(run.stderr, REFUSAL, run.describe());
    assert.doesNotMatch(run.output, /drover up: pid|spawned: sleeper/, run.describe());
    assert.deepEqual(markedPids(run.mark), [], `nothing is left running\n${run.describe()}`);
    assert.equal(existsSync(join(runtimeDir, 'drover.pid')), false, 'no pidfile is left');
    assert.equal(existsSync(log), false);
  } finally {
    for (const pid of markedPids(run.mark)) process.kill(pid, 'SIGKILL');
    await teardown(run, [], dir);
  }
});

test('up -d: the launcher reports the daemon\'s refusal of an own log it cannot open, exit 1; nothing runs', { skip }, async () => {
  const { dir, conf, runtimeDir } = unwritableLogConfig();
  const run = new CliRun(['up', '-d', '-c', conf], { cwd: dir });
  try {
    const exit = await run.waitForExit(15_000);
    assert.equal(exit.code, 1, run.describe());
    assert.match(run.stderr, REFUSAL, run.describe());
    assert.doesNotMatch(run.stdout, /drover started/, run.describe());
    // the launcher exits on the daemon's report, the daemon a moment later
    await waitForCondition(() => markedPids(run.mark).length === 0, 'the daemon to exit', { timeoutMs: 10_000, describe: () => `left running: ${markedPids(run.mark).join(' ')}\n${run.describe()}` });
    assert.equal(existsSync(join(runtimeDir, 'drover.pid')), false, 'no pidfile is left');
  } finally {
    for (const pid of markedPids(run.mark)) process.kill(pid, 'SIGKILL');
    await teardown(run, [], dir);
  }
});

test('a reopen of the own log that fails later (USR1) is reported and drover runs on', async () => {
  const dir = makeTmpDir();
  const logs = join(dir, 'logs');
  mkdirSync(logs);
  const conf = writeConfig(dir, `[supervisord]\nlogfile = ${join(logs, 'drover.log')}\n\n[program:sleeper]\ncommand = /bin/sleep 1000\nstartsecs = 0\n`);
  const run = await startUp(conf);
  try {
    await run.waitForLine(/sleeper: starting → running/);
    // the log directory taken away and a regular file in its place: opening the name fails (ENOTDIR),
    // for root as well
    renameSync(logs, join(dir, 'logs.old'));
    writeFileSync(logs, '');
    run.signal('SIGUSR1');
    await run.waitForLine(/cannot open log file \S*logs\/drover\.log: ENOTDIR/);
    const status = await runCli(['status', '-c', conf, 'sleeper']);
    assert.equal(status.code, 0, `${status.output}\n${run.describe()}`);
    assert.equal(run.child.exitCode, null, `drover runs on\n${run.describe()}`);
  } finally {
    await teardown(run, [], dir);
  }
});
