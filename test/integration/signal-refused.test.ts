// A program's process can come to run as a user drover may not signal: drover runs as `[supervisord] user`
// and the program runs a setuid-root program that takes root as its real uid too. kill() then fails with
// EPERM. drover used to take that for an internal error and die, leaving the program running with nobody
// to watch it; supervisord (which once crashed there too) calls the process UNKNOWN and goes on. So does
// drover: the stop fails with a clear message, the process is `unknown`, the rest is supervised as before,
// and a shutdown does not wait for what it cannot stop.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { livePids, makeTmpDir, runCli, startUp, teardown, writeConfig } from '../helpers/drover.js';

const skip = process.getuid?.() !== 0 ? 'needs root (a setuid-root program and a drover running as nobody)' : false;

test('a stop signal refused with EPERM: the process is "unknown", drover goes on supervising, and a shutdown ends without it', { skip, timeout: 60_000 }, async () => {
  const dir = makeTmpDir();
  // what nobody may enter: the runtime directory, and a setuid-root copy of python (a file system mounted
  // nosuid would make the copy a plain program; the lifted line below checks that it is not)
  const home = makeTmpDir();
  chmodSync(home, 0o755);
  spawnSync('chown', ['nobody', home]);
  const py = join(home, 'py');
  copyFileSync('/usr/bin/python3', py);
  chmodSync(py, 0o4755);
  const lift = join(home, 'lift.py');
  writeFileSync(lift, 'import os, sys, time\nos.setresuid(0, 0, 0)\nprint("lifted", os.getpid(), os.getresuid(), flush=True)\ntime.sleep(1000)\n');
  chmodSync(lift, 0o644);
  const program = (name: string) => `[program:${name}]\ncommand = ${py} ${lift}\nstartsecs = 0\nstopwaitsecs = 1\nautorestart = false\n`;
  const conf = writeConfig(
    dir,
    `[supervisord]\nuser = nobody\nruntime_dir = ${join(home, 'run')}\n\n${program('lifta')}\n${program('liftb')}\n[program:plain]\ncommand = sleep 1000\nstartsecs = 0\n`,
  );
  const run = await startUp(conf);
  const lifted: number[] = [];
  try {
    for (const name of ['lifta', 'liftb']) lifted.push(Number((await run.waitForLine(new RegExp(`${name} \\| lifted (\\d+) \\(0, 0, 0\\)`)))[1]));
    const [a, b] = lifted as [number, number];

    const stop = await runCli(['stop', '-c', conf, 'lifta']);
    assert.equal(stop.code, 1, stop.output);
    assert.match(stop.output, /lifta could not be stopped: its stop signal was refused \(EPERM\)/);
    await run.waitForLine(new RegExp(`lifta: stopping → unknown \\(SIGTERM to pid ${a} refused \\(EPERM\\): drover cannot stop it\\)`));
    assert.equal(run.child.exitCode, null, `drover is still running\n${run.describe()}`);
    assert.deepEqual(livePids([a]), [a], 'the process it could not stop still runs');

    const status = await runCli(['status', '-c', conf, 'lifta']);
    assert.match(status.stdout, /lifta\s+unknown/, status.output);
    const signal = await runCli(['signal', 'HUP', '-c', conf, 'lifta']);
    assert.equal(signal.code, 1, signal.output);
    const start = await runCli(['start', '-c', conf, 'lifta']);
    assert.notEqual(start.code, 0, start.output);
    assert.match(start.output, /lifta is unknown/);
    // everything else is supervised as before
    assert.equal((await runCli(['stop', '-c', conf, 'plain'])).code, 0);
    await run.waitForLine(/plain: stopping → stopped/);

    // its exit, whoever causes it, ends the matter
    process.kill(a, 'SIGKILL');
    await run.waitForLine(/lifta: unknown → stopped \(terminated by SIGKILL\)/);

    // a shutdown stops what it can and does not wait for what it cannot
    run.signal('SIGTERM');
    await run.waitForLine(new RegExp(`liftb: stopping → unknown \\(SIGTERM to pid ${b} refused`));
    await run.waitForLine(/all processes stopped/);
    assert.equal((await run.waitForExit()).code, 0, run.describe());
    assert.deepEqual(livePids([b]), [b], 'left running, as supervisord leaves an UNKNOWN process');
    assert.doesNotMatch(run.output, /internal error/, run.describe());
  } finally {
    for (const pid of livePids(lifted)) process.kill(pid, 'SIGKILL');
    await teardown(run, lifted, dir);
    spawnSync('rm', ['-rf', home]);
  }
});
