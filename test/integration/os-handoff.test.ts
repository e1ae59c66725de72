// The handoff to a detached child (src/os/handoff.ts): a child given up on (timeout) gets the `abandoned`
// message before its channel closes and before SIGTERM can end it, so it can tell "my parent gave up on
// me" from "my parent has gone" (USR2: a new master must then take nothing over, docs/decisions.md).
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { spawnAndAwaitReport } from '../../src/os/handoff.js';
import { livePids, makeTmpDir, waitForCondition } from '../helpers/drover.js';

test('a child given up on gets the abandoned message first, then the close of its channel', async () => {
  const dir = makeTmpDir();
  const log = join(dir, 'events');
  const child = join(dir, 'child.cjs');
  // records what reaches it, in order; never reports, so the parent's wait times out
  writeFileSync(
    child,
    `const { appendFileSync } = require('node:fs');
const note = (s) => appendFileSync(${JSON.stringify(log)}, s + '\\n');
process.on('message', (m) => note('message ' + JSON.stringify(m)));
process.on('disconnect', () => note('disconnect'));
process.on('SIGTERM', () => {
  note('term');
  // once the channel's close is recorded too (its listener above runs first)
  if (process.connected) process.once('disconnect', () => process.exit(0));
  else process.exit(0);
});
note('ready');
setInterval(() => {}, 1000);
`,
  );
  let pid = 0;
  try {
    const outcome = await spawnAndAwaitReport(
      {
        file: process.execPath,
        args: [child],
        env: { ...(process.env as Record<string, string>) },
        stdio: ['ignore', 'ignore', 'ignore'],
        keepChannel: true,
        timeoutMs: 1500,
        abandoned: { t: 'given-up' },
        onSpawned: (p) => (pid = p),
      },
      () => null,
    );
    assert.equal(outcome.type, 'timeout');
    const events = (): string[] => {
      try {
        return readFileSync(log, 'utf8').trim().split('\n');
      } catch {
        return [];
      }
    };
    await waitForCondition(() => events().includes('disconnect') && events().includes('term'), 'the child to see the close and the TERM', { describe: () => events().join(', ') });
    const seen = events();
    const message = seen.indexOf('message {"t":"given-up"}');
    assert.ok(message > 0, `the abandoned message arrived: ${seen.join(', ')}`);
    assert.ok(message < seen.indexOf('disconnect'), `before the channel closed: ${seen.join(', ')}`);
    await waitForCondition(() => livePids([pid]).length === 0, 'the child to exit');
  } finally {
    if (pid > 0 && livePids([pid]).length > 0) process.kill(pid, 'SIGKILL');
  }
});

test('extend: a child that says how long it will take is waited for that long, not the first timeout', async () => {
  const dir = makeTmpDir();
  const child = join(dir, 'slow.cjs');
  // says at once that it needs up to 3 s, then reports after 1 s: past the parent's first 400 ms
  writeFileSync(child, `process.send({ t: 'waiting', ms: 3000 });\nsetTimeout(() => process.send({ t: 'done' }, () => process.exit(0)), 1000);\n`);
  const run = (extend: boolean) =>
    spawnAndAwaitReport(
      {
        file: process.execPath,
        args: [child],
        env: { ...(process.env as Record<string, string>) },
        stdio: ['ignore', 'ignore', 'ignore'],
        timeoutMs: 400,
        ...(extend ? { extend: (m: unknown) => ((m as { t?: string }).t === 'waiting' ? (m as { ms: number }).ms : null) } : {}),
      },
      (m) => ((m as { t?: string }).t === 'done' ? 'done' : null),
    );
  const extended = await run(true);
  assert.equal(extended.type, 'reported', JSON.stringify(extended));
  // the same child without extend: the first timeout stands
  const fixed = await run(false);
  assert.equal(fixed.type, 'timeout', JSON.stringify(fixed));
  await waitForCondition(() => livePids([fixed.type === 'timeout' ? fixed.pid : 0]).length === 0, 'the child given up on to exit');
});
