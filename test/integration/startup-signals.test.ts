// Signals that come while drover starts. A foreground `drover up` replaces itself once (execve, for the
// master's V8 flags): a TERM that came before the exec was queued in JavaScript and lost with the old
// program, so drover went on to start everything (a `docker stop` or `systemctl stop` during a slow start
// then waited out its timeout and killed it). And `drover up -d --wait` ignored Ctrl-C while it waited.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { CliRun, livePids, makeTmpDir, teardown, waitForCondition, writeConfig } from '../helpers/drover.js';
import { Daemon } from '../helpers/daemon.js';
import { droverBin } from '../helpers/paths.js';

/** Whether `pid` has a handler for signal `num` (SigCgt in /proc/PID/status); false once it is gone. */
function catches(pid: number, num: number): boolean {
  try {
    const m = /^SigCgt:\s*([0-9a-f]+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m !== null && (BigInt(`0x${m[1] ?? '0'}`) & (1n << BigInt(num - 1))) !== 0n;
  } catch {
    return false;
  }
}

/** Whether `pid`'s environment holds `name` (the mark a drover that exec'd itself leaves). */
function environHas(pid: number, name: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').some((e) => e.startsWith(`${name}=`));
  } catch {
    return false;
  }
}

test('a TERM while a foreground drover loads its config, before it replaces itself, is kept: a graceful exit 0', async () => {
  const dir = makeTmpDir();
  // a config that takes a moment to load, so the TERM lands in it
  const many = Array.from({ length: 3000 }, (_, i) => `[program:p${i}]\ncommand = sleep 1\nautostart = false\n`).join('\n');
  const conf = writeConfig(dir, `[program:app]\ncommand = sleep 1000\nstartsecs = 0\n\n${many}`);
  const run = new CliRun(['up', '-c', conf], { cwd: dir, env: { DROVER_V8_FLAGS: undefined } });
  try {
    // drover's first program has its listeners (bin/drover.js's, then up's relay) and has not exec'd yet.
    // TTIN tells: Node itself catches TERM from its start (to restore the terminal, then die of it)
    await waitForCondition(() => catches(run.pid, 21) && !environHas(run.pid, 'DROVER_V8_FLAGS_APPLIED'), 'drover to listen for its signals before its exec', {
      describe: () => run.describe(),
    });
    run.signal('SIGTERM');
    const exit = await run.waitForExit(20_000);
    assert.equal(exit.code, 0, `a graceful exit, not death by the signal nor a drover left running\n${run.describe()}`);
    assert.match(run.output, /SIGTERM: graceful shutdown/, run.describe());
    assert.match(run.output, /node v[\d.]+, flags/, 'it did replace itself (the case under test)');
    const spawned = [...run.output.matchAll(/spawned: \w+ with pid (\d+)/g)].map((m) => Number(m[1]));
    assert.deepEqual(livePids(spawned), [], 'nothing it started is left');
  } finally {
    await teardown(run, [], dir);
  }
});

test('drover up -d --wait: Ctrl-C ends the wait at once; the daemon runs on', async () => {
  const d = new Daemon(`[program:slow]\ncommand = sleep 1000\nstartsecs = 30\n`);
  const run = new CliRun(['up', '-d', '--wait', '-c', d.file], { cwd: d.dir });
  try {
    const daemonPid = Number((await run.waitForLine(/drover started: pid (\d+)/))[1]);
    run.signal('SIGINT');
    const exit = await run.waitForExit(5000);
    assert.equal(exit.signal, 'SIGINT', `the launcher ended by Ctrl-C, long before startsecs\n${run.describe()}`);
    assert.deepEqual(livePids([daemonPid]), [daemonPid], 'the daemon runs on');
    d.pid = daemonPid;
  } finally {
    await teardown(run);
    await d.teardown();
  }
});

// The exec for the V8 flags ignores SIGUSR1 across it (a handled signal would be fatal in the new program's
// first milliseconds) and must put libuv's handler back when it fails: else drover runs on with SIGUSR1
// ignored for good, and logrotate's postrotate reopens nothing. The exec is made to fail with E2BIG: under a
// 2 MiB stack limit the kernel takes 512 KiB of arguments and environment, and the environment is padded so
// that drover's own start fits with a few bytes to spare and its exec, with the flags added, does not.
test('a failed exec for the V8 flags: drover runs on without them, and SIGUSR1 still reopens the logs', async () => {
  const dir = makeTmpDir();
  // (a program would inherit the padded environment and fail to start with E2BIG too)
  const conf = writeConfig(dir, `[program:app]\ncommand = sleep 1000\nautostart = false\n`);
  const args = ['up', '-c', conf];
  const stack = 2 * 1024 * 1024;
  const limit = stack / 4;
  // what the kernel counts for the exec of node: the file name, each argument and variable with its NUL,
  // and a pointer for each (CliRun's environment: this one's, the options', and its mark)
  const bytes = (s: string): number => Buffer.byteLength(s) + 1;
  const base: Record<string, string | undefined> = { ...process.env, DROVER_V8_FLAGS: undefined, DROVER_TEST_MARK: 'x'.repeat(36) };
  const argv = [process.execPath, droverBin, ...args];
  const entries = Object.entries(base).filter(([, v]) => v !== undefined) as [string, string][];
  let used = bytes(process.execPath) + argv.reduce((n, a) => n + bytes(a) + 8, 0) + entries.reduce((n, [k, v]) => n + bytes(`${k}=${v}`) + 8, 0);
  const pad: Record<string, string> = {};
  // the exec adds more than 100 bytes (flags and a mark); leave 48 of room
  for (let i = 0; limit - 48 - used > 0; i++) {
    const name = `DROVER_PAD_${i}`;
    const room = limit - 48 - used - bytes(`${name}=`) - 8;
    if (room <= 0) break;
    pad[name] = 'p'.repeat(Math.min(room, 100_000));
    used += bytes(`${name}=${pad[name]}`) + 8;
  }
  const run = new CliRun(args, { cwd: dir, env: { DROVER_V8_FLAGS: undefined, ...pad }, wrapper: ['prlimit', `--stack=${stack}:`, '--'] });
  try {
    await run.waitForLine(/drover up: cannot restart with .* \(.*E2BIG.*\); running without them/, { timeoutMs: 15_000 });
    const pid = Number((await run.waitForLine(/drover up: pid (\d+)/))[1]);
    process.kill(pid, 'SIGUSR1');
    await run.waitForLine(/SIGUSR1 received: reopened the log files/, { timeoutMs: 5000 });
    process.kill(pid, 'SIGTERM');
    assert.equal((await run.waitForExit(15_000)).code, 0, run.describe());
  } finally {
    await teardown(run, [], dir);
  }
});
