// HTTPS from drover's workers (gunicorn's --certfile and --keyfile): `drover serve --certfile --keyfile`
// and certfile/keyfile on a worker = program; a bad pair is refused with the file, the key and why.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { get } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
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

/** A certificate for `cn` signed by the CA `ca` (selfSigned's), and its key. */
function signedBy(dir: string, ca: { cert: string; key: string }, cn: string): { cert: string; key: string } {
  const cert = join(dir, `${cn}.crt`);
  const key = join(dir, `${cn}.key`);
  const csr = join(dir, `${cn}.csr`);
  const req = spawnSync('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${cn}`], { encoding: 'utf8' });
  assert.equal(req.status, 0, `openssl req: ${req.stderr}`);
  const sign = spawnSync('openssl', ['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-out', cert, '-days', '2'], { encoding: 'utf8' });
  assert.equal(sign.status, 0, `openssl x509: ${sign.stderr}`);
  return { cert, key };
}

/** GET over HTTPS, trusting only `ca`, with `client`'s certificate if given: the status, the body and the server certificate's subject. */
function httpsGet(port: number, path: string, ca: string, client?: { cert: string; key: string }): Promise<{ status: number; body: string; subject: string }> {
  return new Promise((resolve, reject) => {
    const mine = client === undefined ? {} : { cert: readFileSync(client.cert), key: readFileSync(client.key) };
    const req = get({ host: '127.0.0.1', port, path, ca: readFileSync(ca), servername: 'localhost', agent: false, timeout: 10_000, ...mine }, (res) => {
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

/** `drover serve` of DIR/app.mjs on 127.0.0.1:0 with `args` (-w, the TLS options), its runtime files in DIR/.drover. */
function serveApp(dir: string, args: readonly string[]): CliRun {
  return new CliRun(['serve', join(dir, 'app.mjs'), '-b', '127.0.0.1:0', '--runtime-dir', join(dir, '.drover'), ...args], { cwd: dir });
}

/** The port `run` listens on, once its worker `last` runs (every worker before it has started too). */
async function servingPort(run: CliRun, last = 'app_0'): Promise<number> {
  const port = Number((await run.waitForLine(/listening on 127\.0\.0\.1:(\d+)/))[1]);
  await run.waitForLine(new RegExp(`${last}: starting → running`), { timeoutMs: 15_000 });
  return port;
}

test('drover serve --certfile --keyfile: the workers answer over HTTPS with that certificate', async () => {
  const dir = makeTmpDir();
  const { cert, key } = selfSigned(dir, 'site');
  writeFileSync(join(dir, 'app.mjs'), `export default (req, res) => res.end('tls ' + process.pid + ' ' + req.url);\n`);
  const run = serveApp(dir, ['-w', '2', '--certfile', cert, '--keyfile', key]);
  try {
    const port = await servingPort(run, 'app_1');
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
  const run = serveApp(dir, ['-w', '1', '--certfile', cert, '--keyfile', key]);
  try {
    const port = await servingPort(run);
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
  const run = serveApp(dir, ['-w', '1', '--certfile', a.cert, '--keyfile', b.key]);
  try {
    await run.waitForLine(new RegExp(`certfile ${a.cert.replace(/\./g, '\\.')} and keyfile ${b.key.replace(/\./g, '\\.')}: .*(key values mismatch|KEY_VALUES_MISMATCH)`, 'i'), { timeoutMs: 15_000 });
  } finally {
    await teardown(run, pids(run), dir);
  }
});

test('--cert-reqs with --ca-certs: a client certificate the CA signed is answered and the app sees it; one another CA signed is refused; without one, required refuses and optional answers', async () => {
  const dir = makeTmpDir();
  const site = selfSigned(dir, 'site');
  const ca = selfSigned(dir, 'ca');
  const alice = signedBy(dir, ca, 'alice');
  const eve = selfSigned(dir, 'eve'); // not signed by ca
  writeFileSync(join(dir, 'app.mjs'), `export default (req, res) => res.end('client ' + (req.socket.getPeerCertificate().subject?.CN ?? 'none'));\n`);
  const outcome = (p: Promise<{ status: number; body: string }>): Promise<string> => p.then((r) => `${r.status} ${r.body}`, (err: NodeJS.ErrnoException) => `refused (${err.code ?? err.message})`);
  for (const reqs of ['required', '1'] as const) {
    const run = serveApp(dir, ['-w', '1', '--certfile', site.cert, '--keyfile', site.key, '--ca-certs', ca.cert, '--cert-reqs', reqs]);
    try {
      const port = await servingPort(run);
      assert.equal(await outcome(httpsGet(port, '/', site.cert, alice)), '200 client alice', run.describe());
      assert.match(await outcome(httpsGet(port, '/', site.cert, eve)), /^refused /, run.describe());
      const without = await outcome(httpsGet(port, '/', site.cert));
      if (reqs === 'required') assert.match(without, /^refused /, run.describe());
      else assert.equal(without, '200 client none', run.describe());
    } finally {
      await teardown(run, pids(run), reqs === '1' ? dir : undefined); // the files serve the next round
    }
  }
});

test('ca_certs and cert_reqs: without certfile, required without ca_certs, a bad value or a missing file is refused at check; ca_certs alone is a warning', async () => {
  const dir = makeTmpDir();
  const site = selfSigned(dir, 'site');
  const ca = selfSigned(dir, 'ca');
  writeFileSync(join(dir, 'app.mjs'), `export default (req, res) => res.end('ok');\n`);
  const https = `worker = app.mjs\ncertfile = ${site.cert}\nkeyfile = ${site.key}\n`;
  const check = async (section: string, code = 2): Promise<string> => {
    const r = await runCli(['check', '-c', writeConfig(dir, section)], { cwd: dir });
    assert.equal(r.code, code, r.output);
    return r.stderr;
  };
  assert.match(await check(`[program:web]\nworker = app.mjs\nca_certs = ${ca.cert}\ncert_reqs = required\n`), /supervisord\.conf:3: \[program:web\] ca_certs: ca_certs needs certfile and keyfile/);
  assert.match(await check(`[program:web]\n${https}cert_reqs = required\n`), /supervisord\.conf:5: \[program:web\] cert_reqs: cert_reqs = required needs ca_certs: .*\(got "required", expected ca_certs = /);
  assert.match(await check(`[program:web]\n${https}ca_certs = ${ca.cert}\ncert_reqs = 3\n`), /\[program:web\] cert_reqs: not a client certificate requirement \(got "3", expected none, optional or required \(or 0, 1, 2\)\)/);
  assert.match(await check(`[program:web]\n${https}ca_certs = nowhere.pem\ncert_reqs = 2\n`), new RegExp(`\\[program:web\\] ca_certs: the CA certificates file does not exist \\(got "${dir}/nowhere\\.pem"`));
  assert.match(await check(`[program:web]\n${https}ca_certs = ${ca.cert}\n`, 0), /supervisord\.conf:5: warning: \[program:web\] ca_certs: has no effect with cert_reqs = none/);
  const serve = async (...args: string[]): Promise<string> => {
    const r = await runCli(['serve', join(dir, 'app.mjs'), ...args], { cwd: dir });
    assert.equal(r.code, 2, r.output);
    return r.stderr;
  };
  assert.match(await serve('--ca-certs', ca.cert, '--cert-reqs', '2'), /--ca-certs needs --certfile and --keyfile/);
  assert.match(await serve('--certfile', site.cert, '--keyfile', site.key, '--cert-reqs', 'required'), /--cert-reqs required needs --ca-certs/);
  assert.match(await serve('--certfile', site.cert, '--keyfile', site.key, '--ca-certs', ca.cert, '--cert-reqs', 'always'), /--cert-reqs wants none, optional or required \(or 0, 1, 2\), got "always"/);
});

/** A TLS 1.2 handshake with `port`, offering `ciphers` if given: the cipher agreed on, or why it failed. */
function handshake(port: number, ca: string, ciphers?: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca: readFileSync(ca), servername: 'localhost', maxVersion: 'TLSv1.2', ...(ciphers ? { ciphers } : {}), timeout: 10_000 }, () => {
      resolve(socket.getCipher().name);
      socket.end();
    });
    socket.on('timeout', () => socket.destroy(new Error('no handshake in 10 s')));
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(`refused (${err.code ?? err.message})`));
  });
}

test('--ciphers: the workers offer only those suites; a list OpenSSL does not take, or ciphers without certfile, is refused', async () => {
  const dir = makeTmpDir();
  const site = selfSigned(dir, 'site');
  writeFileSync(join(dir, 'app.mjs'), `export default (req, res) => res.end('ok');\n`);
  const check = await runCli(['check', '-c', writeConfig(dir, `[program:web]\nworker = app.mjs\ncertfile = ${site.cert}\nkeyfile = ${site.key}\nciphers = NO-SUCH-CIPHER\n`)], { cwd: dir });
  assert.equal(check.code, 2, check.output);
  assert.match(check.stderr, /supervisord\.conf:5: \[program:web\] ciphers: not a cipher list OpenSSL takes \(.*\) \(got "NO-SUCH-CIPHER"/);
  const plain = await runCli(['check', '-c', writeConfig(dir, `[program:web]\nworker = app.mjs\nciphers = ECDHE+AESGCM\n`)], { cwd: dir });
  assert.equal(plain.code, 2, plain.output);
  assert.match(plain.stderr, /\[program:web\] ciphers: ciphers needs certfile and keyfile/);
  const cli = await runCli(['serve', join(dir, 'app.mjs'), '--ciphers', 'ECDHE+AESGCM'], { cwd: dir });
  assert.equal(cli.code, 2, cli.output);
  assert.match(cli.stderr, /--ciphers needs --certfile and --keyfile/);

  const run = serveApp(dir, ['-w', '1', '--certfile', site.cert, '--keyfile', site.key, '--ciphers', 'ECDHE-ECDSA-AES128-GCM-SHA256']);
  try {
    const port = await servingPort(run);
    assert.equal(await handshake(port, site.cert), 'ECDHE-ECDSA-AES128-GCM-SHA256', run.describe());
    assert.match(await handshake(port, site.cert, 'ECDHE-ECDSA-AES256-GCM-SHA384'), /^refused /, run.describe());
  } finally {
    await teardown(run, pids(run), dir);
  }
});
