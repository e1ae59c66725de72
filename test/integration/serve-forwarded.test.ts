// gunicorn's forwarded_allow_ips and secure_scheme_headers: a fetch() app behind a TLS-terminating front end
// sees https:// in request.url when a trusted front end says so (X-Forwarded-Proto: https and the like),
// and not when anyone else does.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { CliRun, makeTmpDir, runCli, teardown, writeConfig } from '../helpers/drover.js';

/** GET `/p` with `headers`, over TCP (`port`) or a unix socket (`socketPath`): status and body. */
function get(to: { port: number } | { socketPath: string }, headers: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ ...('port' in to ? { host: '127.0.0.1', port: to.port } : { socketPath: to.socketPath }), path: '/p', headers: { host: 'app.example', ...headers }, agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve(`${res.statusCode} ${body.trim()}`));
    });
    req.on('timeout', () => req.destroy(new Error('no answer in 10 s')));
    req.on('error', reject);
    req.end();
  });
}

function pids(run: CliRun): number[] {
  return [...run.output.matchAll(/spawned: \S+ with pid (\d+)/g)].map((m) => Number(m[1]));
}

const APP = `export default { fetch: (request) => new Response(request.url) };\n`;

test('a fetch() app follows X-Forwarded-Proto and its kin from a trusted front end (127.0.0.1 by default); headers that disagree get 400', async () => {
  const dir = makeTmpDir();
  writeFileSync(join(dir, 'app.mjs'), APP);
  const run = new CliRun(['serve', join(dir, 'app.mjs'), '-w', '1', '-b', '127.0.0.1:0', '--runtime-dir', join(dir, '.drover')], { cwd: dir, env: { FORWARDED_ALLOW_IPS: undefined } });
  try {
    const port = Number((await run.waitForLine(/listening on 127\.0\.0\.1:(\d+)/))[1]);
    await run.waitForLine(/app_0: starting → running/, { timeoutMs: 15_000 });
    const to = { port };
    assert.equal(await get(to, {}), '200 http://app.example/p', run.describe());
    assert.equal(await get(to, { 'x-forwarded-proto': 'https' }), '200 https://app.example/p');
    assert.equal(await get(to, { 'x-forwarded-ssl': 'on' }), '200 https://app.example/p');
    assert.equal(await get(to, { 'x-forwarded-protocol': 'ssl', 'x-forwarded-proto': 'https' }), '200 https://app.example/p');
    assert.equal(await get(to, { 'x-forwarded-proto': 'http' }), '200 http://app.example/p');
    assert.match(await get(to, { 'x-forwarded-proto': 'https', 'x-forwarded-ssl': 'off' }), /^400 bad request: the secure scheme headers .* disagree/);
  } finally {
    await teardown(run, pids(run), dir);
  }
});

test('--forwarded-allow-ips: headers from an address it does not name are ignored; a unix socket is trusted; networks and * are read', async () => {
  const dir = makeTmpDir();
  writeFileSync(join(dir, 'app.mjs'), APP);
  const sock = join(dir, 'app.sock');
  // 127.0.0.1 is not in 10.0.0.0/8, so the TCP peer is not trusted
  const run = new CliRun(['serve', join(dir, 'app.mjs'), '-w', '1', '-b', '127.0.0.1:0', '-b', `unix:${sock}`, '--forwarded-allow-ips', '10.0.0.0/8', '--runtime-dir', join(dir, '.drover')], { cwd: dir });
  try {
    const port = Number((await run.waitForLine(/listening on 127\.0\.0\.1:(\d+)/))[1]);
    await run.waitForLine(/app_0: starting → running/, { timeoutMs: 15_000 });
    assert.equal(await get({ port }, { 'x-forwarded-proto': 'https' }), '200 http://app.example/p', run.describe());
    assert.equal(await get({ socketPath: sock }, { 'x-forwarded-proto': 'https' }), '200 https://app.example/p', run.describe());
  } finally {
    await teardown(run, pids(run), undefined);
  }
  // in a config: a network that holds 127.0.0.1, and a header of one's own
  writeFileSync(join(dir, 'app.ini'), `[program:app]\nworker = app.mjs\nsockets = web\nforwarded_allow_ips = 10.1.2.3, 127.0.0.0/8\nsecure_scheme_headers = X-Scheme=https\n\n[socket:web]\nbind = 127.0.0.1:0\n`);
  const up = new CliRun(['up', '-c', join(dir, 'app.ini')], { cwd: dir });
  try {
    const port = Number((await up.waitForLine(/listening on 127\.0\.0\.1:(\d+)/))[1]);
    await up.waitForLine(/app_0: starting → running/, { timeoutMs: 15_000 });
    assert.equal(await get({ port }, { 'x-scheme': 'https' }), '200 https://app.example/p', up.describe());
    // the default headers are replaced, not added to
    assert.equal(await get({ port }, { 'x-forwarded-proto': 'https' }), '200 http://app.example/p', up.describe());
  } finally {
    await teardown(up, pids(up), dir);
  }
});

test('forwarded_allow_ips and secure_scheme_headers: a bad address, network or header is refused at check; on a command program, a warning', async () => {
  const dir = makeTmpDir();
  const check = async (section: string, code = 2): Promise<string> => {
    const r = await runCli(['check', '-c', writeConfig(dir, section)], { cwd: dir });
    assert.equal(r.code, code, r.output);
    return r.stderr;
  };
  writeFileSync(join(dir, 'app.mjs'), APP);
  assert.match(await check(`[program:web]\nworker = app.mjs\nforwarded_allow_ips = 127.0.0.1, 10.0.0.0/33\n`), /supervisord\.conf:3: \[program:web\] forwarded_allow_ips: not an IP address or network: "10\.0\.0\.0\/33"/);
  assert.match(await check(`[program:web]\nworker = app.mjs\nforwarded_allow_ips = proxy.local\n`), /forwarded_allow_ips: not an IP address or network: "proxy\.local" \(got "proxy\.local", expected addresses such as 127\.0\.0\.1/);
  assert.match(await check(`[program:web]\nworker = app.mjs\nsecure_scheme_headers = X:Proto=https\n`), /secure_scheme_headers: not a header name: "X:Proto"/);
  assert.match(await check(`[program:web]\ncommand = /bin/sleep 5\nforwarded_allow_ips = *\n`, 0), /supervisord\.conf:3: warning: \[program:web\] forwarded_allow_ips: applies to the fetch\(\) apps of worker = programs/);
  const serve = await runCli(['serve', join(dir, 'app.mjs'), '--forwarded-allow-ips', '300.1.1.1'], { cwd: dir });
  assert.equal(serve.code, 2, serve.output);
  assert.match(serve.stderr, /--forwarded-allow-ips 300\.1\.1\.1: not an IP address or network: "300\.1\.1\.1"/);
  // gunicorn's default comes from FORWARDED_ALLOW_IPS; so does serve's
  const fromEnv = await runCli(['serve', join(dir, 'app.mjs')], { cwd: dir, env: { FORWARDED_ALLOW_IPS: '127.0.0.1,nowhere' } });
  assert.equal(fromEnv.code, 2, fromEnv.output);
  assert.match(fromEnv.stderr, /not an IP address or network: "nowhere"/);
});
