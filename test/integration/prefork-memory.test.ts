// max_memory: a worker whose RSS (reported with its heartbeat) exceeds the limit is recycled, its successor
// ready first, with no failed request.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fixture, makeTmpDir, startUp, teardown, writeConfig } from '../helpers/drover.js';
import { startLoad } from '../helpers/load.js';

test('max_memory recycles a worker over the limit, the successor ready first, zero failed requests', async () => {
  const dir = makeTmpDir();
  // every Node worker is far above 1 MB, so each one is recycled at its first heartbeat
  const run = await startUp(
    writeConfig(
      dir,
      `[socket:web]
bind = 127.0.0.1:0

[program:web]
worker = ${fixture('worker-app.mjs')}
sockets = web
numprocs = 1
timeout = 2s
max_memory = 1MB
`,
    ),
  );
  try {
    const port = Number((await run.waitForLine(/socket web: listening on 127\.0\.0\.1:(\d+)/))[1]);
    await run.waitForLine(/web_0: starting → running/);
    const load = startLoad(port);
    const m = await run.waitForLine(/web_0: recycling worker \d+ \(RSS (\d+) MiB over max_memory 1 MiB\)/, { timeoutMs: 8000 });
    assert.ok(Number(m[1]) > 1);
    await run.waitForLine(/web_1: starting → running/);
    await run.waitForLine(/web_0: stopping → stopped/);
    const out = run.output;
    assert.ok(out.indexOf('web_1: starting → running') < out.indexOf('web_0: running → stopping'), 'the successor was ready first');
    await load.waitForMore(50);
    const result = await load.stop();
    assert.equal(result.failed, 0, `failed: ${result.errors.join('; ')}\n${run.describe()}`);
  } finally {
    await teardown(run, [...run.output.matchAll(/spawned: \w+ with pid (\d+)/g)].map((x) => Number(x[1])), dir);
  }
});
