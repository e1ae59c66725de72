// WINCH stops the workers gracefully and keeps the master and its sockets; connections then wait in the
// backlog, and TTIN brings a worker back to answer them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fixture, makeTmpDir, startUp, teardown, writeConfig } from '../helpers/drover.js';
import { fetchText } from '../helpers/http.js';

test('WINCH stops every worker but keeps the socket; a request waits in the backlog until TTIN adds a worker', async () => {
  const dir = makeTmpDir();
  const run = await startUp(
    writeConfig(
      dir,
      `[socket:web]
bind = 127.0.0.1:0

[program:web]
worker = ${fixture('worker-app.mjs')}
sockets = web
numprocs = 2
`,
    ),
  );
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
