// A flood of connections to the TCP control port, opened before any credential is checked (an audit of the
// seventeenth session): each held a descriptor, with no cap, so a program that restarted could not make its
// pipes (EMFILE: BACKOFF, then FATAL), and the status sampler's read of /proc then threw on a timer, which
// stopped drover and SIGKILLed every program. supervisord, under the same limit and flood, ran on.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { Agent, get as httpGet } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { CliRun, makeTmpDir, runCli, teardown, waitForCondition, writeConfig } from '../helpers/drover.js';
import { fixturesDir } from '../helpers/paths.js';
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

// A review of the control surface: with the cap reached, Node refused each new connection, so one client
// holding idle connections and reopening them as they closed kept the port full, and 20 of 22
// authenticated /healthz probes failed (supervisord answered every one). Now a new connection past the cap
// closes the oldest idle unauthenticated one. The cap is a quarter of the open-file limit: 64 under
// `prlimit --nofile=256`. The flood runs in a process of its own (test/fixtures/idle-flood.mjs), as an
// attacker and a prober would.
test('a client keeping the TCP port full of idle connections: authenticated probes and a keep-alive client are still answered', async () => {
  const dir = makeTmpDir();
  const port = await freePort();
  const cap = 64;
  const conf = writeConfig(
    dir,
    `[supervisord]\nminfds = 64\n\n[inet_http_server]\nport = 127.0.0.1:${port}\nusername = u\npassword = p\n\n` +
      `[program:p]\ncommand = /bin/sleep 1000\nstartsecs = 0\n`,
  );
  const run = new CliRun(['up', '-c', conf], { cwd: dir, wrapper: ['prlimit', '--nofile=256:256', '--'] });
  const auth = `Basic ${Buffer.from('u:p').toString('base64')}`;
  const keepAlive = new Agent({ keepAlive: true, maxSockets: 1 });
  let flood: ChildProcess | null = null;
  let floodOut = '';
  try {
    await run.waitForLine(/drover up: pid \d+/);
    const first = await get(port, '/healthz', auth, keepAlive);
    assert.equal(first.status, 200, `before the flood\n${run.describe()}`);
    // twice the cap: the port is full, and half of them are closed and reopened every 20 ms
    flood = spawn(process.execPath, [join(fixturesDir, 'idle-flood.mjs'), String(port), String(2 * cap)], { stdio: ['pipe', 'pipe', 'inherit'] });
    flood.stdout?.on('data', (d: Buffer) => (floodOut += d.toString()));
    await waitForCondition(() => floodOut.includes('full'), 'the flood to hold its connections', { timeoutMs: 10_000, describe: () => `flood: ${floodOut}\n${run.describe()}` });
    // the keep-alive client authenticated on its connection: that one is never the one closed
    const again = await get(port, '/healthz', auth, keepAlive);
    assert.deepEqual(again, { status: 200, reused: true }, `keep-alive request during the flood\n${run.describe()}`);
    const probes: string[] = [];
    const probe = (): Promise<{ status: number | string }> => get(port, '/healthz', auth, false).catch((err: Error) => ({ status: err.message }));
    for (let i = 0; i < 10; i++) {
      // a probe whose connection a burst of the flood's reconnections pushed out before its request was read
      // costs a retry, as docs/security.md (19) says (CI on Node 22 saw one); refused at the cap, as before
      // the fix, the retry fails too
      let r = await probe();
      if (r.status !== 200) r = await probe();
      probes.push(String(r.status));
    }
    flood.kill('SIGTERM');
    await waitForCondition(() => /opened \d+ closed \d+/.test(floodOut), 'the flood to report', { describe: () => floodOut });
    assert.deepEqual(probes, Array(10).fill('200'), `probes during the flood (${floodOut.trim()})\n${run.describe()}`);
    assert.equal(run.child.exitCode, null, `drover runs on\n${run.describe()}`);
  } finally {
    if (flood !== null && flood.exitCode === null) flood.kill('SIGKILL');
    keepAlive.destroy();
    await teardown(run, [], dir);
  }
});

/** One GET with a 3 s bound; `reused`: it went over a connection the agent kept from an earlier request. */
function get(port: number, path: string, authorization: string, agent: Agent | false): Promise<{ status: number; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = httpGet({ host: '127.0.0.1', port, path, agent, headers: { authorization }, timeout: 3000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket }));
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 3 s')));
    req.on('error', reject);
  });
}
