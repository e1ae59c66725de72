// A job worker asked to stop while a task outlasts graceful_timeout leaves on its own deadline, just before
// the master's SIGKILL. It used to leave in silence (exit 0, "stopping → stopped"), with the task cut short
// and stop() never called. It now says so on its stderr; the task is back in the queue at once. A worker
// cut off so exits 75, which drover's log names (an HTTP worker's requests in flight too); one stopped
// while still in setup() says that, not that tasks go back, and exits 0: it had nothing in flight.
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeTmpDir, runCli, startUp, teardown, waitForCondition, writeConfig } from '../helpers/drover.js';
import { fetchText } from '../helpers/http.js';
import { linkDrover } from '../helpers/shared.js';

const WORKER = `import { writeFileSync } from 'node:fs';
import { defineWorker } from 'drover';
export default defineWorker({
  async run(ctx) {
    await ctx.queue('jobs').process(async () => {
      writeFileSync(process.env.BUSY, '');
      // ignores the stop: runs past graceful_timeout
      await new Promise(() => {});
    });
  },
  async stop() {
    writeFileSync(process.env.STOPPED, '');
  },
});
`;

type Stats = { ready: number; leased: number; lost: number };

test('a job worker whose task outlasts graceful_timeout says so when it leaves; the task goes back to the queue', async () => {
  const dir = makeTmpDir();
  linkDrover(dir);
  const busy = join(dir, 'busy');
  const stopped = join(dir, 'stopped');
  writeFileSync(join(dir, 'worker.mjs'), WORKER);
  const conf = writeConfig(
    dir,
    `[program:w]
worker = ${join(dir, 'worker.mjs')}
startsecs = 0
graceful_timeout = 2s
environment = BUSY="${busy}",STOPPED="${stopped}"
`,
  );
  const run = await startUp(conf);
  try {
    await run.waitForLine(/w_0: starting → running/);
    assert.equal((await runCli(['queue', 'push', 'jobs', '{}', '-c', conf])).code, 0);
    await waitForCondition(() => existsSync(busy), 'the task to be running', { describe: () => run.describe() });
    assert.equal((await runCli(['stop', 'w', '-c', conf])).code, 0);
    // the master's log says it too: it used to read "stopping → stopped (exit status 0)", a clean stop
    await run.waitForLine(/w_0: worker \d+ was cut off with its tasks or its stop\(\) unfinished \(its stderr log says which\): graceful_timeout \(2s\) ran out/);
    await run.waitForLine(/w_0: stopping → stopped \(exit status 75\)/);
    const tail = await runCli(['tail', 'w_0', 'stderr', '-c', conf]);
    assert.match(tail.stdout, /drover worker w_0: graceful_timeout \(2000 ms\) ran out before run\(\) returned: the tasks still in flight go back to the queue/, tail.output);
    assert.equal(existsSync(stopped), false, 'stop() is not called once the budget is spent (docs/shared.md)');
    const cli = await runCli(['queue', 'stats', 'jobs', '--json', '-c', conf]);
    const s = (JSON.parse(cli.stdout) as { queues: Stats[] }).queues[0] as Stats;
    assert.deepEqual({ ready: s.ready, leased: s.leased, lost: s.lost }, { ready: 1, leased: 0, lost: 1 }, cli.stdout);
  } finally {
    await teardown(run, [], dir);
  }
});

test('an HTTP worker cut off at graceful_timeout with a request in flight: drover\'s log says so, exit status 75', async () => {
  const dir = makeTmpDir();
  writeFileSync(
    join(dir, 'app.mjs'),
    `export default (req, res) => {
  if (req.url === '/hang') {
    console.log('hanging');
    return; // never answered
  }
  res.end('ok');
};
`,
  );
  const conf = writeConfig(dir, `[socket:web]\nbind = 127.0.0.1:0\n\n[program:web]\nworker = ${join(dir, 'app.mjs')}\nsockets = web\ngraceful_timeout = 2s\n`);
  const run = await startUp(conf);
  try {
    const port = Number((await run.waitForLine(/socket web: listening on 127\.0\.0\.1:(\d+)/))[1]);
    await run.waitForLine(/web_0: starting → running/);
    // cut off with the worker: its rejection is expected
    const hung = fetchText(port, '/hang').catch((err: unknown) => err);
    await run.waitForLine(/web_0 \| hanging/);
    assert.equal((await runCli(['stop', 'web', '-c', conf])).code, 0);
    await run.waitForLine(/web_0: worker \d+ was cut off with requests in flight: graceful_timeout \(2s\) ran out/);
    await run.waitForLine(/web_0: stopping → stopped \(exit status 75\)/);
    await hung;
  } finally {
    await teardown(run, [], dir);
  }
});

test('a job worker stopped while its setup() hangs says so (not that tasks go back) and exits 0: nothing was in flight', async () => {
  const dir = makeTmpDir();
  linkDrover(dir);
  writeFileSync(
    join(dir, 'worker.mjs'),
    `import { defineWorker } from 'drover';
export default defineWorker({
  async setup(ctx) {
    ctx.log('in setup');
    await new Promise(() => {}); // ignores ctx.signal
  },
  async run() {},
});
`,
  );
  // timeout = 0: the heartbeat kill stays out of the way of the stop
  const conf = writeConfig(dir, `[program:w]\nworker = ${join(dir, 'worker.mjs')}\ntimeout = 0\ngraceful_timeout = 1s\n`);
  const run = await startUp(conf);
  try {
    await run.waitForLine(/w_0 \| in setup/);
    assert.equal((await runCli(['stop', 'w', '-c', conf])).code, 0);
    await run.waitForLine(/w_0 ! drover worker w_0: graceful_timeout \(1000 ms\) ran out before setup\(\) returned: run\(\) and stop\(\) are not called; exiting/);
    await run.waitForLine(/w_0: stopping → stopped \(exit status 0\)/);
    assert.doesNotMatch(run.output, /go back to the queue|was cut off/, run.describe());
  } finally {
    await teardown(run, [], dir);
  }
});

test('an HTTP worker stopped while its module is still loading leaves at once, not after graceful_timeout', async () => {
  const dir = makeTmpDir();
  // the module never finishes loading: its top-level await never settles
  writeFileSync(join(dir, 'app.mjs'), `console.log('loading');\nawait new Promise(() => {});\nexport default (req, res) => res.end('ok');\n`);
  // timeout = 0: the heartbeat kill stays out of the way; graceful_timeout far beyond the wait below
  const conf = writeConfig(dir, `[socket:web]\nbind = 127.0.0.1:0\n\n[program:web]\nworker = ${join(dir, 'app.mjs')}\nsockets = web\ntimeout = 0\ngraceful_timeout = 120s\n`);
  const run = await startUp(conf);
  try {
    await run.waitForLine(/web_0 \| loading/);
    assert.equal((await runCli(['stop', 'web', '-c', conf])).code, 0);
    // it used to wait out the whole graceful_timeout (119.5 s here) before it left
    await run.waitForLine(/web_0: stopping → stopped \(exit status 0\)/, { timeoutMs: 10_000 });
    assert.doesNotMatch(run.output, /graceful_timeout \(\d+ ms\) ran out|SIGKILL/, run.describe());
  } finally {
    await teardown(run, [], dir);
  }
});
