// HTTPS from drover's workers (gunicorn's --certfile and --keyfile): `drover serve --certfile --keyfile`
// and certfile/keyfile on a worker = program; a bad pair is refused with the file, the key and why.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { get } from 'node:https';
import { join } from 'node:path';
import { test } from 'node:test';
import { CliRun, makeTmpDir, runCli, teardown, writeConfig } from '../helpers/drover.js';

/** A self-signed certificate for localhost and 127.0.0.1 and its key, made with openssl in `dir`. */
function selfSigned(dir: string, name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { encoding: 'utf8' });
  assert.equal(r.status, 0, `openssl: ${r.stderr}`);
  return { cert, key };
}

/** GET over HTTPS, trusting only `ca`: the status, the body and the certificate's subject. */
function httpsGet(port: number, path: string, ca: string): Promise<{ status: number; body: string; subject: string }> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path, ca: readFileSync(ca), servername: 'localhost', agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, subject: String((res.socket as import('node:tls').TLSSocket).getPeerCertificate().subject?.CN) }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from https://127.0.0.1:${port}${path} in 10 s`)));
    req.on('error', reject);
  });
}

function pids(run: CliRun): number[] {
  return [...run.output.matchAll(/spawned: \S+ with pid (\d+)/g)].map((m) => Number(m[1]));
}

test('drover serve --certfile --keyfile: the workers answer over HTTPS with that certificate', async () => {
  const dir = makeTmpDir();
  const { cert, key } = selfSigned(dir, 'site');
  writeFileSync(join(dir, 'app.mjs'), `export default (req, res) => res.end('tls ' + process.pid + ' ' + req.url);\n`);
  const run = new CliRun(['serve', join(dir, 'app.mjs'), '-w', '2', '-b', '127.0.0.1:0', '--certfile', cert, '--keyfile', key, '--runtime-dir', join(dir, '.drover')], { cwd: dir });
  try {
    const port = Number((await run.waitForLine(/listening on 127\.0\.0\.1:(\d+)/))[1]);
    await run.waitForLine(/app_1: starting → running/, { timeoutMs: 15_000 });
    for (let i = 0; i < 4; i++) {
      const r = await httpsGet(port, `/x${i}`, cert);
      assert.equal(r.status, 200, run.describe());
      assert.match(r.body, new RegExp(`^tls \\d+ /x${i}$`));
      assert.equal(r.subject, 'localhost');
    }
  } finally {
    await teardown(run, pids(run), dir);
  }
});

test('a fetch() app served with certfile sees an https:// URL', async () => {
  const dir = makeTmpDir();
  const { cert, key } = selfSigned(dir, 'site');
  writeFileSync(join(dir, 'app.mjs'), `export default { fetch: (request) => new Response('url ' + request.url) };\n`);
  const run = new CliRun(['serve', join(dir, 'app.mjs'), '-w', '1', '-b', '127.0.0.1:0', '--certfile', cert, '--keyfile', key, '--runtime-dir', join(dir, '.drover')], { cwd: dir });
  try {
    const port = Number((await run.waitForLine(/listening on 127\.0\.0\.1:(\d+)/))[1]);
    await run.waitForLine(/app_0: starting → running/, { timeoutMs: 15_000 });
    const r = await httpsGet(port, '/a?b=1', cert);
    assert.equal(r.status, 200, run.describe());
    assert.equal(r.body, `url https://127.0.0.1:${port}/a?b=1`);
  } finally {
    await teardown(run, pids(run), dir);
  }
});

test('certfile and keyfile: one without the other, on a command program, or a file that is not there is refused at check; a key of another certificate stops the worker with why', async () => {
  const dir = makeTmpDir();
  const a = selfSigned(dir, 'a');
  const b = selfSigned(dir, 'b');
  writeFileSync(join(dir, 'app.mjs'), `export default (req, res) => res.end('ok');\n`);
  const check = async (section: string): Promise<string> => {
    const r = await runCli(['check', '-c', writeConfig(dir, section)], { cwd: dir });
    assert.equal(r.code, 2, r.output);
    return r.stderr;
  };
  assert.match(await check(`[program:web]\nworker = app.mjs\ncertfile = ${a.cert}\n`), /supervisord\.conf:3: \[program:web\] certfile: certfile needs keyfile: HTTPS takes a certificate and its private key \(got ".*a\.crt", expected keyfile = /);
  assert.match(await check(`[program:web]\ncommand = /bin/sleep 5\ncertfile = ${a.cert}\nkeyfile = ${a.key}\n`), /\[program:web\] certfile: HTTPS is served by drover worker programs/);
  assert.match(await check(`[program:web]\nworker = app.mjs\ncertfile = missing.crt\nkeyfile = ${a.key}\n`), new RegExp(`\\[program:web\\] certfile: the certificate file does not exist \\(got "${dir}/missing\\.crt", expected a PEM file\\)`));
  const cli = await runCli(['serve', join(dir, 'app.mjs'), '--certfile', a.cert], { cwd: dir });
  assert.equal(cli.code, 2, cli.output);
  assert.match(cli.stderr, /--certfile needs --keyfile/);

  // a pair that does not match: the worker says so and does not start (so the program goes FATAL)
  const run = new CliRun(['serve', join(dir, 'app.mjs'), '-w', '1', '-b', '127.0.0.1:0', '--certfile', a.cert, '--keyfile', b.key, '--runtime-dir', join(dir, '.drover')], { cwd: dir });
  try {
    await run.waitForLine(new RegExp(`certfile ${a.cert.replace(/\./g, '\\.')} and keyfile ${b.key.replace(/\./g, '\\.')}: .*(key values mismatch|KEY_VALUES_MISMATCH)`, 'i'), { timeoutMs: 15_000 });
  } finally {
    await teardown(run, pids(run), dir);
  }
});
