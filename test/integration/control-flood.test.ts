// A flood of connections to the TCP control port, opened before any credential is checked (an audit of the
// seventeenth session): each held a descriptor, with no cap, so a program that restarted could not make its
// pipes (EMFILE: BACKOFF, then FATAL), and the status sampler's read of /proc then threw on a timer, which
// stopped drover and SIGKILLed every program. supervisord, under the same limit and flood, ran on.
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { test } from 'node:test';
import { CliRun, makeTmpDir, runCli, teardown, waitForCondition, writeConfig } from '../helpers/drover.js';
import { freePort } from '../helpers/web.js';

test('a flood of idle TCP connections under a low open-file limit: drover runs on, its program keeps restarting, status answers', async () => {
  const dir = makeTmpDir();
  const port = await freePort();
  const conf = writeConfig(
    dir,
    `[supervisord]\nminfds = 64\n\n[inet_http_server]\nport = 127.0.0.1:${port}\nusername = u\npassword = p\n\n` +
      `[program:flap]\ncommand = /bin/sh -c 'sleep 0.3; exit 1'\nstartsecs = 0\nautorestart = true\n`,
  );
  const run = new CliRun(['up', '-c', conf], { cwd: dir, wrapper: ['prlimit', '--nofile=256:256', '--'] });
  const flood: Socket[] = [];
  try {
    await run.waitForLine(/drover up: pid \d+/);
    // a status turns the CPU and memory sampler on for the next seconds
    const first = await runCli(['status', '-c', conf]);
    assert.ok(first.code === 0 || first.code === 3, first.output);
    // 400 connections that send nothing: more than the whole limit
    let settled = 0;
    for (let i = 0; i < 400; i++) {
      const s = connect(port, '127.0.0.1');
      s.on('connect', () => (settled += 1));
      s.on('error', () => (settled += 1));
      flood.push(s);
    }
    await waitForCondition(() => settled === 400, 'the 400 connections to connect', { timeoutMs: 10_000, describe: () => `${settled} of 400` });
    // three more restarts while they are held: each spawn needs its pipes, and each new pid is sampled
    const before = run.count(/spawned: flap with pid/g);
    await run.waitForCount(/spawned: flap with pid/g, before + 3, 15_000);
    const during = await runCli(['status', '-c', conf]);
    assert.ok(during.code === 0 || during.code === 3, during.output);
    assert.doesNotMatch(run.output, /internal error|EMFILE/, run.describe());
    assert.equal(run.child.exitCode, null, `drover runs on\n${run.describe()}`);
  } finally {
    for (const s of flood) s.destroy();
    await teardown(run, [], dir);
  }
});
