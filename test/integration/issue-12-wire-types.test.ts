// Issue 12: the CLI reads the JSON API through its wire types (src/control/wire.ts), checked at the
// boundary. Against a stand-in drover on a real unix socket, the real CLI prints a well-formed answer as
// usual; an answer of another shape (a drover of another version, a proxy in between) fails with exit 1
// and a message naming the field, instead of printing a wrong value and exiting 0.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeTmpDir, runCli } from '../helpers/drover.js';

const PROCESS = {
  name: 'web:web_00', group: 'web', process: 'web_00', program: 'web', state: 'running', pid: 4242, uptime_ms: 61234,
  started_at: '2026-01-01T10:00:00.000Z', stopped_at: null, restarts: 0, exit_status: null, spawn_error: null,
  cpu_percent: 0.4, rss_bytes: 31457280, stdout_logfile: null, stderr_logfile: null,
};

/** A stand-in drover on a unix socket that answers each path with the JSON given for it. */
async function standIn(answers: Record<string, unknown>): Promise<{ url: string; server: Server }> {
  const path = join(makeTmpDir('drover-wire-'), 'drover.sock');
  const server = createServer((req, res) => {
    const route = (req.url ?? '').split('?')[0] ?? '';
    const body = JSON.stringify(Object.hasOwn(answers, route) ? answers[route] : { ok: false, code: 'E_NOT_FOUND', message: route });
    res.writeHead(Object.hasOwn(answers, route) ? 200 : 404, { 'content-type': 'application/json' });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return { url: `unix://${path}`, server };
}

test('well-formed answers print as usual', async () => {
  const { url, server } = await standIn({
    '/api/info': { ok: true, pid: 777, version: '0.1.0', identification: 'drover', state: 'running', config_file: '/x.ini' },
    '/api/processes': { ok: true, processes: [PROCESS] },
  });
  try {
    let r = await runCli(['pid', '-s', url]);
    assert.deepEqual([r.code, r.stdout], [0, '777\n'], r.output);
    r = await runCli(['status', '-s', url]);
    assert.equal(r.code, 0, r.output);
    assert.match(r.stdout, /^web:web_00\s+running\s+4242\s+1m 1s\s+0\s+0\.4\s+30\.0M/m);
  } finally {
    server.close();
  }
});

test('an answer of another shape fails with exit 1 and names the field and what was expected', async () => {
  const { url, server } = await standIn({
    '/api/info': { ok: true, pid: '777', version: '0.1.0', identification: 'drover', state: 'running', config_file: '/x.ini' },
    '/api/processes': { ok: true, processes: [PROCESS, { ...PROCESS, name: 'web:web_01', state: 'RUNNING' }] },
    '/api/update': { ok: true, added: [], changed: [], removed: [], processes: { added: [], changed: [], removed: [] }, results: [] },
  });
  try {
    let r = await runCli(['pid', '-s', url]);
    assert.equal(r.code, 1, r.output);
    assert.equal(r.stdout, '', 'no pid printed from an answer that does not have one');
    assert.equal(r.stderr, `drover pid: drover's answer to GET /api/info is not what this client reads: pid: expected a number, got "777"\n`);

    r = await runCli(['status', '-s', url, '--json']);
    assert.equal(r.code, 1, r.output);
    const out = JSON.parse(r.stdout) as { ok: boolean; code: string; message: string };
    assert.equal(out.ok, false);
    assert.equal(out.code, 'E_FAILED');
    assert.match(out.message, /GET \/api\/processes .*: processes\[1\]\.state: expected "stopped" or .* got "RUNNING"$/);

    r = await runCli(['reload', '--no-wait', '-s', url]);
    assert.equal(r.code, 1, r.output);
    assert.match(r.stderr, /POST \/api\/update is not what this client reads: rolled: expected a list, got nothing/);
  } finally {
    server.close();
  }
});
