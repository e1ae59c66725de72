// The HTTP probe of health checks (src/checks/probes.ts) against real local servers: a 2xx passes, another
// status fails with it in the message, and https works against a self-signed certificate (the probe asks
// whether a local service answers; it verifies nothing). node:https is loaded by the first https probe only.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { probeHttp } from '../../../src/checks/probes.js';

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

test('http probe: 200 passes, 500 fails and says so, a given status must match', async () => {
  const server = createHttpServer((req, res) => {
    res.statusCode = req.url === '/bad' ? 500 : 200;
    res.end('x');
  });
  const port = await listen(server);
  try {
    assert.deepEqual(await probeHttp(`http://127.0.0.1:${port}/`, null, 2000), { ok: true, detail: 'HTTP 200' });
    const bad = await probeHttp(`http://127.0.0.1:${port}/bad`, null, 2000);
    assert.equal(bad.ok, false);
    assert.match((bad as { error: string }).error, /HTTP 500, expected 2xx/);
    assert.equal((await probeHttp(`http://127.0.0.1:${port}/bad`, 500, 2000)).ok, true);
  } finally {
    server.close();
  }
});

test('https probe: passes against a self-signed certificate', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'drover-probe-'));
  try {
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost'], { encoding: 'utf8' });
    assert.equal(r.status, 0, `openssl: ${r.stderr}`);
    const server = createHttpsServer({ key: readFileSync(key), cert: readFileSync(cert) }, (_req, res) => res.end('ok'));
    const port = await listen(server);
    try {
      assert.deepEqual(await probeHttp(`https://127.0.0.1:${port}/`, null, 5000), { ok: true, detail: 'HTTP 200' });
    } finally {
      server.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
