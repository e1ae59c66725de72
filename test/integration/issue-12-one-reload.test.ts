// Issue 12: one reload. SIGHUP, `drover reload`, `POST /api/update` and supervisorctl's update (XML-RPC
// reloadConfig + group calls) all run the same implementation: re-read the config and roll worker pools onto
// new code, each replacement ready before an old worker leaves. Under a client that keeps requesting, each
// entry point must fail no request, and afterwards only the new code answers.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { CliRun, makeTmpDir, runCli, teardown, TIMEOUT_SCALE, writeConfig } from '../helpers/drover.js';
import { startLoad } from '../helpers/load.js';

async function freePort(): Promise<number> {
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  const port = (blocker.address() as { port: number }).port;
  await new Promise<void>((r) => blocker.close(() => r()));
  return port;
}

/** POST /api/update on the control socket; resolves with the HTTP status and body. */
function postUpdate(socketPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method: 'POST', path: '/api/update', headers: { 'content-type': 'application/json' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.setTimeout(60_000, () => req.destroy(new Error('no answer to POST /api/update within 60 s')));
    req.on('error', reject);
    req.end('{}');
  });
}

function supervisorctl(configFile: string, socketPath: string, args: readonly string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    execFile('/usr/bin/supervisorctl', ['-c', configFile, '-s', `unix://${socketPath}`, ...args], { timeout: 60_000 * TIMEOUT_SCALE }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, out: stdout + stderr }),
    );
  });
}

test('every reload entry point rolls worker programs onto new code with no failed request', async () => {
  const dir = makeTmpDir();
  const port = await freePort();
  const app = join(dir, 'app.mjs');
  const writeApp = (version: string): void => writeFileSync(app, `export default (req, res) => res.end('${version}');\n`);
  writeApp('v1');
  const file = writeConfig(
    dir,
    `[supervisorctl]
serverurl = unix://%(here)s/.drover/drover.sock

[socket:web]
bind = 127.0.0.1:${port}

[program:web]
worker = ${app}
sockets = web
numprocs = 2
`,
  );
  const socketPath = join(dir, '.drover', 'drover.sock');
  const run = new CliRun(['up', '-c', file], { cwd: dir });
  const entryPoints: { name: string; trigger: () => Promise<void> }[] = [
    {
      name: 'SIGHUP',
      trigger: async () => {
        process.kill(run.pid, 'SIGHUP');
      },
    },
    {
      name: 'drover reload',
      trigger: async () => {
        const r = await runCli(['reload', '-c', file], { cwd: dir, timeoutMs: 60_000 });
        assert.equal(r.code, 0, `drover reload → exit ${String(r.code)}\n${r.output}`);
      },
    },
    {
      name: 'POST /api/update',
      trigger: async () => {
        const r = await postUpdate(socketPath);
        assert.equal(r.status, 200, r.body);
      },
    },
    {
      name: 'supervisorctl update',
      trigger: async () => {
        const r = await supervisorctl(file, socketPath, ['update']);
        assert.equal(r.code, 0, `supervisorctl update → exit ${String(r.code)}\n${r.out}`);
      },
    },
  ];
  try {
    await run.waitForCount(/starting → running \(worker reported ready\)/g, 2);
    let version = 1;
    for (const entry of entryPoints) {
      version += 1;
      const load = startLoad(port, { concurrency: 3 });
      await load.waitForMore(50);
      const from = run.output.length;
      writeApp(`v${version}`);
      await entry.trigger();
      // the reload has finished once drover says so (HUP and XML-RPC do not wait for the roll)
      await run.waitForLine(/reload: done/, { from, timeoutMs: 30_000 });
      await load.waitForMore(50);
      const during = await load.stop();
      assert.equal(during.failed, 0, `${entry.name}: ${during.failed} failed request(s): ${during.errors.join('; ')}\n${run.describe()}`);
      // afterwards only the new code answers
      const after = startLoad(port, { concurrency: 3 });
      await after.waitForMore(40);
      const result = await after.stop();
      assert.deepEqual([...result.byPid.keys()], [`v${version}`], `${entry.name}: answers after the reload: ${JSON.stringify([...result.byPid])}\n${run.describe()}`);
      assert.equal(result.failed, 0, result.errors.join('; '));
    }
  } finally {
    await teardown(run, [...run.output.matchAll(/spawned: \S+ with pid (\d+)/g)].map((m) => Number(m[1])), dir);
  }
});
