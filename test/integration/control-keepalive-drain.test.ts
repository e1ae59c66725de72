// A keep-alive API client and a master that is going away: after a USR2 hand-over the old master stops its
// programs (for as long as their stopwaitsecs) and answered a client that kept its connection open as a
// master shutting down (E_SHUTTING_DOWN to a start). It now closes idle connections and answers with
// `Connection: close` from the moment it begins to go, so the client's next request reaches the new master.
import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { fixture, livePids, makeTmpDir, runCli, startUp, teardown, writeConfig } from '../helpers/drover.js';

interface Info {
  readonly pid: number;
  readonly reused: boolean;
}

function info(socketPath: string, agent: Agent): Promise<Info> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: '/api/info', agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ pid: (JSON.parse(body) as { pid: number }).pid, reused: req.reusedSocket }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('a USR2: a keep-alive API client is moved off the old master while it stops its programs, to the new one', async () => {
  const dir = makeTmpDir();
  const file = writeConfig(dir, `[program:slow]\ncommand = ${process.execPath} ${fixture('ignore-term.mjs')}\nstartsecs = 0\nstopwaitsecs = 5\n`);
  const run = await startUp(file);
  const socketPath = join(dir, '.drover', 'drover.sock');
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  let newPid = 0;
  try {
    await run.waitForLine(/slow \| ready \d+/);
    const before = await info(socketPath, agent);
    assert.equal(before.pid, run.pid, run.describe());
    run.signal('SIGUSR2');
    newPid = Number((await run.waitForLine(/SIGUSR2: the new master \(pid (\d+)\) is ready; draining and exiting/, { timeoutMs: 20_000 }))[1]);
    // the old master now stops slow, which ignores TERM, for up to 5 s; asked meanwhile, the kept connection
    // must not reach it (a connection closed under a request is retried once, as by any keep-alive client)
    let after: Info;
    try {
      after = await info(socketPath, agent);
    } catch (err) {
      if (!['ECONNRESET', 'EPIPE'].includes((err as NodeJS.ErrnoException).code ?? '') && (err as Error).message !== 'socket hang up') throw err;
      after = await info(socketPath, agent);
    }
    assert.equal(after.pid, newPid, `answered by the new master, not by the old one (${run.pid}) stopping its programs\n${run.describe()}`);
    const down = await runCli(['down', '-c', file], { timeoutMs: 30_000 });
    assert.equal(down.code, 0, down.output);
  } finally {
    agent.destroy();
    if (newPid > 0 && livePids([newPid]).length > 0) process.kill(newPid, 'SIGKILL');
    await teardown(run, [...run.output.matchAll(/slow \| ready (\d+)/g)].map((m) => Number(m[1])), dir);
  }
});
