// USR2 on a drover with a controlling terminal (`drover up` in a shell, `docker run -t`): the new master
// would be spawned detached, in a session of its own, and the old one would exit: the shell got its prompt
// back while the new master and every program ran on, printing into the terminal, out of Ctrl-C's reach.
// As WINCH (prefork-winch.test.ts), USR2 is ignored there with a line that says why and what to do instead;
// without a terminal (a daemon, a service, a container without a tty: every other USR2 test) it re-executes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CliRun, assertStaysFor, makeTmpDir, teardown, writeConfig } from '../helpers/drover.js';

test('USR2 while drover has a controlling terminal is ignored: no new master, the same master and programs run on', async () => {
  const dir = makeTmpDir();
  const conf = writeConfig(dir, '[program:sleeper]\ncommand = /bin/sleep 1000\nstartsecs = 0\n');
  // script(1) runs drover on a new pseudo-terminal that is its controlling terminal
  const run = new CliRun(['up', '-c', conf], { cwd: dir, wrapper: ['/bin/sh', '-c', 'exec script -qefc "$*" /dev/null', 'sh'] });
  const pids = (): number[] => [...run.output.matchAll(/(?:drover up: pid|spawned: \w+ with pid) (\d+)/g)].map((x) => Number(x[1]));
  try {
    const pid = Number((await run.waitForLine(/drover up: pid (\d+)/))[1]);
    await run.waitForLine(/sleeper: starting → running/);
    process.kill(pid, 'SIGUSR2');
    await run.waitForLine(/WARN SIGUSR2 ignored: drover runs on a terminal/);
    assert.doesNotMatch(run.output, /re-executing the master/, run.describe());
    // nothing of a re-exec follows (it would log the new master's start-up line within a few hundred ms)
    await assertStaysFor(1000, () => run.count(/drover up: pid/g) === 1 && run.child.exitCode === null, 'one master, still running');
    process.kill(pid, 'SIGTERM');
    assert.equal((await run.waitForExit(15_000)).code, 0, run.describe());
    assert.match(run.output, /sleeper: stopping → stopped/, run.describe());
  } finally {
    // without the fix a detached new master runs on: teardown kills any pid drover logged that is still there
    await teardown(run, pids(), dir);
  }
});
