// WINCH stops the workers gracefully and keeps the master and its sockets; connections then wait in the
// backlog, and TTIN brings a worker back to answer them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CliRun, fixture, makeTmpDir, startUp, teardown, writeConfig } from '../helpers/drover.js';
import { fetchText } from '../helpers/http.js';

/** Two workers of the test app on one socket, on a free port. */
function poolConfig(dir: string): string {
  return writeConfig(
    dir,
    `[socket:web]
bind = 127.0.0.1:0

[program:web]
worker = ${fixture('worker-app.mjs')}
sockets = web
numprocs = 2
`,
  );
}

test('WINCH stops every worker but keeps the socket; a request waits in the backlog until TTIN adds a worker', async () => {
  const dir = makeTmpDir();
  const run = await startUp(poolConfig(dir));
  try {
    const port = Number((await run.waitForLine(/socket web: listening on 127\.0\.0\.1:(\d+)/))[1]);
    await run.waitForCount(/web_\d: starting → running/g, 2);
    run.signal('SIGWINCH');
    await run.waitForLine(/SIGWINCH: stopping 2 worker\(s\); sockets stay open/);
    await run.waitForCount(/web_\d: stopping → stopped/g, 2);
    // nobody accepts now, but the socket still listens: the request is queued, not refused
    const pending = fetchText(port);
    const from = run.output.length;
    run.signal('SIGTTIN');
    await run.waitForLine(/web_\d+: starting → running/, { from });
    const r = await pending;
    assert.equal(r.status, 200, run.describe());
    assert.match(r.body, /^\d+$/);
    assert.equal(run.child.exitCode, null, 'the master is still there');
  } finally {
    await teardown(run, [...run.output.matchAll(/spawned: \w+ with pid (\d+)/g)].map((x) => Number(x[1])), dir);
  }
});

// A terminal sends SIGWINCH to its foreground process group at every window resize: a drover on a terminal
// (`drover up` while developing, `docker run -it`) lost every worker when the window changed size. As
// gunicorn (which acts on WINCH only when daemonized), it is ignored while drover has a controlling
// terminal; a daemon, a service and a container without a tty still act on it (the test above).
test('WINCH while drover has a controlling terminal (a window resize) is ignored: the workers keep serving', async () => {
  const dir = makeTmpDir();
  const conf = poolConfig(dir);
  // script(1) runs drover on a new pseudo-terminal that is its controlling terminal
  const run = new CliRun(['up', '-c', conf], { cwd: dir, wrapper: ['/bin/sh', '-c', 'exec script -qefc "$*" /dev/null', 'sh'] });
  try {
    const pid = Number((await run.waitForLine(/drover up: pid (\d+)/))[1]);
    const port = Number((await run.waitForLine(/socket web: listening on 127\.0\.0\.1:(\d+)/))[1]);
    await run.waitForCount(/web_\d: starting → running/g, 2);
    process.kill(pid, 'SIGWINCH');
    await run.waitForLine(/SIGWINCH ignored: drover has a controlling terminal/);
    const r = await fetchText(port);
    assert.equal(r.status, 200, run.describe());
    assert.equal(run.count(/web_\d: running → stopping/g), 0, `no worker was stopped\n${run.describe()}`);
    process.kill(pid, 'SIGTERM');
    await run.waitForExit(15_000);
  } finally {
    await teardown(run, [...run.output.matchAll(/spawned: \w+ with pid (\d+)/g)].map((x) => Number(x[1])), dir);
  }
});

test('TTIN and TTOU with no worker program: each says it changed nothing', async () => {
  const dir = makeTmpDir();
  const run = await startUp(writeConfig(dir, '[program:plain]\ncommand = sleep 1000\nstartsecs = 0\n'));
  try {
    await run.waitForLine(/plain: starting → running/);
    run.signal('SIGTTIN');
    await run.waitForLine(/SIGTTIN: no worker program \(worker =\) to scale; ignored/);
    run.signal('SIGTTOU');
    await run.waitForLine(/SIGTTOU: no worker program \(worker =\) to scale; ignored/);
    assert.equal(run.child.exitCode, null, run.describe());
  } finally {
    await teardown(run, [], dir);
  }
});
