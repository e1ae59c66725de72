// Signals that come while drover starts. A foreground `drover up` replaces itself once (execve, for the
// master's V8 flags): a TERM that came before the exec was queued in JavaScript and lost with the old
// program, so drover went on to start everything (a `docker stop` or `systemctl stop` during a slow start
// then waited out its timeout and killed it). And `drover up -d --wait` ignored Ctrl-C while it waited.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { CliRun, livePids, makeTmpDir, teardown, waitForCondition, writeConfig } from '../helpers/drover.js';
import { Daemon } from '../helpers/daemon.js';

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
