// What a worker sends the master is untrusted (a worker may run as another user, `user=`): one worker must
// not release a lock another holds, even with the holder's real fencing token (tokens are the clock in µs,
// so they can be guessed), and no worker may grow the master's memory without bound through state values
// or queued tasks (docs/security.md, "Shared primitives: what one worker can do to another").
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseServerUrl, requestJson } from '../../src/control/client.js';
import { makeTmpDir, startUp, teardown, writeConfig } from '../helpers/drover.js';
import { linkDrover, SHARED_BACKENDS, useSharedBackend } from '../helpers/shared.js';

const HOLDER = `import { defineWorker } from 'drover';
export default defineWorker({
  async run(ctx) {
    const l = await ctx.lock('L');
    ctx.log('holding token ' + l.token);
    await ctx.state.set('holder-token', l.token);
    // the test has seen the thief's try and the lock table: a task on "go" says so
    const go = await ctx.queue('go').take({ signal: ctx.signal });
    await go?.ack();
    ctx.log('own release ' + (await l.release()));
    await new Promise((r) => ctx.signal.addEventListener('abort', r));
  },
});
`;

// The thief sends lock.release with the holder's real token through the process's raw client: what any
// code in a worker can send, whatever the public API offers.
const THIEF = `import { defineWorker } from 'drover';
export default defineWorker({
  async run(ctx) {
    const token = await new Promise((resolve) => ctx.state.watch('holder-token', (v) => v !== undefined && resolve(v)));
    const client = globalThis[Symbol.for('drover.sharedClient')];
    ctx.log('thief release ' + (await client.call('lock.release', { name: 'L', token })));
  },
  async stop() {},
});
`;

interface LockRow {
  name: string;
  owner: string | null;
  token: number | null;
}

for (const backend of SHARED_BACKENDS) {
  test(`[${backend} backend] a worker cannot release a lock another worker holds, even with its token`, async () => {
    const dir = makeTmpDir();
    linkDrover(dir);
    const shared = await useSharedBackend(backend, dir);
    writeFileSync(join(dir, 'holder.mjs'), HOLDER);
    writeFileSync(join(dir, 'thief.mjs'), THIEF);
    const run = await startUp(
      writeConfig(
        dir,
        `${shared.section}[program:holder]
worker = ${join(dir, 'holder.mjs')}
autorestart = false

[program:thief]
worker = ${join(dir, 'thief.mjs')}
autorestart = false
`,
      ),
    );
    const ep = parseServerUrl(`unix://${join(dir, '.drover', 'drover.sock')}`);
    try {
      const held = Number((await run.waitForLine(/holder_0 \| holding token (\d+)/))[1]);
      const thief = await run.waitForLine(/thief_0 \| thief release (\w+)/);
      assert.equal(thief[1], 'false', 'the thief\'s release with the holder\'s token was refused');
      const locks = (await requestJson(ep, 'GET', '/api/locks')).body['locks'] as LockRow[];
      const l = locks.find((r) => r.name === 'L');
      assert.ok(l?.owner?.startsWith('holder:holder'), `L is still the holder's: ${JSON.stringify(locks)}`);
      assert.equal(l?.token, held, `L keeps the holder's token: ${JSON.stringify(locks)}`);
      await requestJson(ep, 'POST', '/api/queue/push', { queue: 'go', task: 1 });
      const own = await run.waitForLine(/holder_0 \| own release (\w+)/);
      assert.equal(own[1], 'true', 'the holder still held its lock and released it');
    } finally {
      await teardown(run, [], dir);
      await shared.stop();
    }
  });
}
