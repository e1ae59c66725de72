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

// 512 KiB values: 5 fit in shared_max_bytes = 3MB (each counts its JSON, its key and 100 bytes), a 6th does not
const FILLER = `import { defineWorker } from 'drover';
const v = 'x'.repeat(512 * 1024);
export default defineWorker({
  async run(ctx) {
    let n = 0;
    for (; n < 100; n++) {
      try {
        await ctx.state.set('big' + n, v);
      } catch (err) {
        ctx.log('state refused after ' + n + ' ' + err.code + ': ' + err.message);
        break;
      }
    }
    if (n === 100) ctx.log('state never refused');
    try {
      await ctx.queue('q').push(v);
      ctx.log('push accepted');
    } catch (err) {
      ctx.log('push refused ' + err.code);
    }
    // what is deleted no longer counts; nor does an acked task
    await ctx.state.delete('big0');
    await ctx.state.delete('big1');
    await ctx.queue('q').push(v);
    const t = await ctx.queue('q').take({ signal: ctx.signal });
    ctx.log('acked ' + (await t.ack()));
    await ctx.queue('q').push(v);
    await ctx.state.set('big0', v);
    ctx.log('refilled');
    await new Promise((r) => ctx.signal.addEventListener('abort', r));
  },
});
`;

test('[memory backend] state values and queued tasks are bounded by shared_max_bytes: past it a set or push is refused with E_QUOTA', async () => {
  const dir = makeTmpDir();
  linkDrover(dir);
  writeFileSync(join(dir, 'filler.mjs'), FILLER);
  const run = await startUp(
    writeConfig(
      dir,
      `[drover]
shared_max_bytes = 3MB

[program:filler]
worker = ${join(dir, 'filler.mjs')}
autorestart = false
`,
    ),
  );
  const ep = parseServerUrl(`unix://${join(dir, '.drover', 'drover.sock')}`);
  try {
    const refused = await run.waitForLine(/filler_0 \| state (refused after (\d+) (\w+): (.*)|never refused)/);
    assert.equal(refused[2], '5', `five 512 KiB values fit in 3 MB, the sixth does not: ${refused[0]}`);
    assert.equal(refused[3], 'E_QUOTA');
    assert.match(refused[4] ?? '', /state "big5": refused, the master would hold more than shared_max_bytes \(3145728 bytes\)/);
    assert.equal((await run.waitForLine(/filler_0 \| push (accepted|refused \w+)/))[1], 'refused E_QUOTA');
    assert.equal((await run.waitForLine(/filler_0 \| acked (\w+)/))[1], 'true');
    await run.waitForLine(/filler_0 \| refilled/);
    // the JSON API's push is bounded by the same count, and says so with its own status
    const api = await requestJson(ep, 'POST', '/api/queue/push', { queue: 'q', task: 'y'.repeat(600_000) });
    assert.equal(api.status, 507, JSON.stringify(api.body));
    assert.equal(api.body['code'], 'E_QUOTA');
    const small = await requestJson(ep, 'POST', '/api/queue/push', { queue: 'q', task: 'y'.repeat(1000) });
    assert.equal(small.status, 200, `what still fits is accepted: ${JSON.stringify(small.body)}`);
  } finally {
    await teardown(run, [], dir);
  }
});

// Locks, waits for a task and state watches hold memory in the master too, by name: each counts its name and
// 100 bytes (a queue, kept once named, its name and 1024 bytes), so a worker naming new ones without end is
// refused with E_QUOTA at shared_max_bytes as a push or a set is.
const NAMER = `import { defineWorker } from 'drover';
export default defineWorker({
  async run(ctx) {
    const held = [];
    let n = 0;
    for (; n < 20000; n++) {
      try {
        held.push(await ctx.lock('lock-' + 'x'.repeat(200) + n));
      } catch (err) {
        ctx.log('locks refused after ' + n + ' ' + err.code + ': ' + err.message);
        break;
      }
    }
    if (n === 20000) ctx.log('locks never refused');
    for (const l of held) await l.release();
    // released, they no longer count: as many again fit
    const heldAgain = [];
    try {
      while (heldAgain.length < n) heldAgain.push(await ctx.lock('relk-' + 'x'.repeat(200) + heldAgain.length));
    } catch (err) {
      ctx.log('relock refused after ' + heldAgain.length + ' ' + err.code);
    }
    ctx.log('relocked ' + heldAgain.length);
    for (const l of heldAgain) await l.release();
    const stop = new AbortController();
    let refusedAt = -1;
    const refused = new Promise((resolve) => {
      for (let i = 0; i < 5000; i++) {
        ctx.queue('wait-' + 'y'.repeat(200) + i).take({ signal: stop.signal }).catch((err) => {
          if (refusedAt < 0) {
            refusedAt = i;
            resolve(err);
          }
        });
      }
      setTimeout(() => resolve(null), 20000).unref();
    });
    const err = await refused;
    ctx.log(err === null ? 'takes never refused' : 'takes refused at ' + refusedAt + ' ' + err.code);
    stop.abort();
    await new Promise((r) => ctx.signal.addEventListener('abort', r));
  },
});
`;

test('[memory backend] locks and waits are bounded by shared_max_bytes too: a worker naming new ones without end is refused with E_QUOTA', async () => {
  const dir = makeTmpDir();
  linkDrover(dir);
  writeFileSync(join(dir, 'namer.mjs'), NAMER);
  const run = await startUp(
    writeConfig(
      dir,
      `[drover]
shared_max_bytes = 1MB

[program:namer]
worker = ${join(dir, 'namer.mjs')}
autorestart = false
`,
    ),
  );
  try {
    // a lock of a 206-character name counts 306 bytes: about 3400 fit in 1 MiB
    const locks = await run.waitForLine(/namer_0 \| locks (refused after (\d+) (\w+): (.*)|never refused)/, { timeoutMs: 60_000 });
    assert.equal(locks[3], 'E_QUOTA', locks[0]);
    assert.ok(Number(locks[2]) > 3000 && Number(locks[2]) < 3500, `about 3400 locks fit: ${locks[0]}`);
    assert.match(locks[4] ?? '', /lock "lock-x+\d+": refused, the master would hold more than shared_max_bytes \(1048576 bytes\)/);
    // released, they no longer count
    // released, they no longer count: as many locks of the same length fit again (give or take a few)
    const relocked = Number((await run.waitForLine(/namer_0 \| relocked (\d+)/))[1]);
    assert.ok(relocked >= Number(locks[2]) - 5, `${relocked} locks after the release, ${locks[2]} before`);
    // a waiting take on a new queue counts the queue (1024 bytes and its name) and the wait (100 and the name)
    const takes = await run.waitForLine(/namer_0 \| takes (refused at (\d+) (\w+)|never refused)/, { timeoutMs: 60_000 });
    assert.equal(takes[3], 'E_QUOTA', takes[0]);
    assert.ok(Number(takes[2]) > 500 && Number(takes[2]) < 700, `about 620 waiting takes on new queues fit: ${takes[0]}`);
  } finally {
    await teardown(run, [], dir);
  }
});
