// A draining HTTP worker waits for the requests in flight, not for connections with nothing in progress
// (reviewer's report): one that has sent nothing, one that stalled in its headers, a TLS connection still
// in its handshake. Node's closeIdleConnections() leaves those open (a connection is active from its accept
// until its first response), so a reload took graceful_timeout (30 s) and drover logged the worker as cut
// off with requests in flight, exit status 75. A request whose body is still coming is in flight: kept.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { assertStaysFor, CliRun, makeTmpDir, runCli, startUp, teardown, waitForCondition, writeConfig } from '../helpers/drover.js';

const APP = `export default (req, res) => {
  if (req.url !== '/upload') return res.end('ok\\n');
  console.log('upload started');
  let got = '';
  req.setEncoding('utf8');
  req.on('data', (d) => (got += d));
  req.on('end', () => res.end('got ' + got + '\\n'));
};
`;

/** A self-signed certificate for 127.0.0.1 and its key, made with openssl in `dir`. */
function selfSigned(dir: string): { cert: string; key: string } {
  const cert = join(dir, 'site.crt');
  const key = join(dir, 'site.key');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1'], { encoding: 'utf8' });
  assert.equal(r.status, 0, `openssl: ${r.stderr}`);
  return { cert, key };
}

/** A client connection that records what came back and whether the server closed it. */
interface Client {
  readonly socket: Socket;
  readonly name: string;
  received: string;
  closed: boolean;
}

function watched(name: string, socket: Socket): Client {
  const c: Client = { socket, name, received: '', closed: false };
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => (c.received += d));
  socket.on('error', () => undefined); // a reset is a close too
  socket.on('close', () => (c.closed = true));
  return c;
}

function tcp(name: string, port: number, send = ''): Promise<Client> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      if (send !== '') socket.write(send);
      resolve(watched(name, socket));
    });
    socket.once('error', reject);
  });
}

function tls(name: string, port: number, ca: string, send: string): Promise<Client> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca: [readFileSync(ca)] }, () => {
      socket.write(send);
      resolve(watched(name, socket));
    });
    socket.once('error', reject);
  });
}

function state(clients: readonly Client[], run: CliRun): string {
  return `${clients.map((c) => `${c.name}: ${c.closed ? 'closed' : 'open'}, got ${JSON.stringify(c.received)}`).join('\n')}\n${run.describe()}`;
}

test('a draining worker closes connections with no request in progress (none sent, headers stalled, TLS handshake) and keeps one whose body is coming', async () => {
  const dir = makeTmpDir();
  const { cert, key } = selfSigned(dir);
  writeFileSync(join(dir, 'app.mjs'), APP);
  const conf = writeConfig(
    dir,
    `[socket:web]
bind = 127.0.0.1:0

[socket:tls]
bind = 127.0.0.1:0

[socket:short]
bind = 127.0.0.1:0

[program:web]
worker = app.mjs
sockets = web
graceful_timeout = 30s

[program:tls]
worker = app.mjs
sockets = tls
certfile = ${cert}
keyfile = ${key}
graceful_timeout = 30s

; gone before an idle connection's second is up: its exit must not say requests were cut off
[program:short]
worker = app.mjs
sockets = short
graceful_timeout = 1s
`,
  );
  const run = await startUp(conf);
  const clients: Client[] = [];
  try {
    const port = (name: string) => run.waitForLine(new RegExp(`socket ${name}: listening on 127\\.0\\.0\\.1:(\\d+)`)).then((m) => Number(m[1]));
    const [web, secure, short] = [await port('web'), await port('tls'), await port('short')];
    await run.waitForCount(/: starting → running/g, 3);
    clients.push(
      await tcp('silent', web),
      await tcp('stalled headers', web, 'GET / HTTP/1.1\r\nHost: x\r\nUser-Ag'),
      await tcp('TLS handshake never begun', secure),
      await tls('TLS stalled headers', secure, cert, 'GET / HTTP/1.1\r\nHost: x\r\n'),
      await tcp('short: silent', short),
    );
    const upload = await tcp('upload', web, 'POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nabc');
    await run.waitForLine(/web_0 \| upload started/);

    const stop = runCli(['stop', 'web', 'tls', 'short', '-c', conf], { timeoutMs: 40_000 });
    await waitForCondition(() => clients.every((c) => c.closed), 'the connections with no request in progress to be closed', { describe: () => state([...clients, upload], run) });
    assert.equal(upload.closed, false, `the upload is in flight: kept\n${state([...clients, upload], run)}`);
    upload.socket.write('def');
    // answered; then its connection has nothing in progress and is closed in turn
    await waitForCondition(() => upload.closed, 'the upload to be answered and its connection closed', { describe: () => state([upload], run) });
    assert.match(upload.received, /^HTTP\/1\.1 200 [^]*\r\n\r\ngot abcdef\n$/, upload.received);

    assert.equal((await stop).code, 0, run.describe());
    for (const p of ['web', 'tls', 'short']) await run.waitForLine(new RegExp(`${p}_0: stopping → stopped \\(exit status 0\\)`));
    assert.doesNotMatch(run.output, /cut off|graceful_timeout \(\d+ ms\) ran out/, run.describe());
  } finally {
    for (const c of clients) c.socket.destroy();
    await teardown(run, [], dir);
  }
});

// A review found requests taken through 'checkContinue' (an app that answers `Expect: 100-continue` itself)
// not counted: http emits that event instead of 'request', so a drain saw the connection as idle and closed
// it under a request whose body was still to come. Counted now, without changing what http does for an app
// that does not listen for it (http then answers 100 Continue itself).
const EXPECTING_APP = `import { createServer } from 'node:http';
const server = createServer((req, res) => res.end('plain ' + req.url + '\\n'));
server.on('checkContinue', (req, res) => {
  console.log('asked to continue');
  res.writeContinue();
  let got = '';
  req.setEncoding('utf8');
  req.on('data', (d) => (got += d));
  req.on('end', () => res.end('got ' + got + '\\n'));
});
export default server;
`;

test('a draining worker keeps a connection whose request came through the app\'s checkContinue; without one, http still answers 100 Continue', async () => {
  const dir = makeTmpDir();
  writeFileSync(join(dir, 'expecting.mjs'), EXPECTING_APP);
  writeFileSync(join(dir, 'app.mjs'), APP);
  const conf = writeConfig(
    dir,
    `[socket:web]
bind = 127.0.0.1:0

[socket:plain]
bind = 127.0.0.1:0

[program:web]
worker = expecting.mjs
sockets = web
graceful_timeout = 30s

[program:plain]
worker = app.mjs
sockets = plain
`,
  );
  const run = await startUp(conf);
  const clients: Client[] = [];
  try {
    const port = (name: string) => run.waitForLine(new RegExp(`socket ${name}: listening on 127\\.0\\.0\\.1:(\\d+)`)).then((m) => Number(m[1]));
    const [web, plain] = [await port('web'), await port('plain')];
    await run.waitForCount(/: starting → running/g, 2);
    const head = (path: string): string => `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nExpect: 100-continue\r\n\r\n`;
    // no checkContinue listener in this app: http answers the Expect itself, as without drover
    const auto = await tcp('plain expect', plain, head('/auto'));
    clients.push(auto);
    await waitForCondition(() => auto.received.startsWith('HTTP/1.1 100 Continue\r\n'), 'http to answer 100 Continue', { describe: () => state([auto], run) });
    auto.socket.write('abcdef');
    await waitForCondition(() => /\r\n\r\nok\n$/.test(auto.received), 'the plain app to answer', { describe: () => state([auto], run) });

    const upload = await tcp('upload', web, head('/upload'));
    clients.push(upload);
    await run.waitForLine(/web_0 \| asked to continue/);
    await waitForCondition(() => upload.received.startsWith('HTTP/1.1 100 Continue\r\n'), 'the app to answer 100 Continue', { describe: () => state([upload], run) });
    const from = run.output.length;
    const stop = runCli(['stop', 'web', '-c', conf], { timeoutMs: 40_000 });
    await run.waitForLine(/web_0: running → stopping/, { from });
    // a drain closes a connection with nothing in progress after 1 s: this one has a request in progress
    await assertStaysFor(1_800, () => !upload.closed, 'the connection of the request awaiting its body to stay open');
    upload.socket.write('abcdef');
    await waitForCondition(() => upload.closed, 'the upload to be answered and its connection closed', { describe: () => state([upload], run) });
    assert.match(upload.received, /\r\n\r\ngot abcdef\n$/, upload.received);
    assert.equal((await stop).code, 0, run.describe());
    assert.doesNotMatch(run.output, /cut off|graceful_timeout \(\d+ ms\) ran out/, run.describe());
  } finally {
    for (const c of clients) c.socket.destroy();
    await teardown(run, [], dir);
  }
});

// What a request costs was cut (issue 17): a response in progress is read from http's own mark on its
// connection, and followed only once the drain has begun. One held across the drain's start, and a
// pipelined one queued behind it since before the drain (http answers it only after the first), must both
// keep their connection and be answered, in order.
const HOLDING_APP = `import { existsSync } from 'node:fs';
export default (req, res) => {
  console.log('asked for ' + req.url);
  if (req.url !== '/hold') return res.end('after\\n');
  const poll = setInterval(() => {
    if (!existsSync(process.env.RELEASE_FILE)) return;
    clearInterval(poll);
    res.end('held\\n');
  }, 20);
};
`;

test('a draining worker answers a request held across the drain and the pipelined request queued behind it, then closes', async () => {
  const dir = makeTmpDir();
  const release = join(dir, 'release');
  writeFileSync(join(dir, 'app.mjs'), HOLDING_APP);
  const conf = writeConfig(
    dir,
    `[socket:web]
bind = 127.0.0.1:0

[program:web]
worker = app.mjs
sockets = web
graceful_timeout = 30s
environment = RELEASE_FILE="${release}"
`,
  );
  const run = await startUp(conf);
  const clients: Client[] = [];
  try {
    const port = Number((await run.waitForLine(/socket web: listening on 127\.0\.0\.1:(\d+)/))[1]);
    await run.waitForLine(/web_0: starting → running/);
    const piped = await tcp('pipelined', port, 'GET /hold HTTP/1.1\r\nHost: x\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n');
    clients.push(piped);
    await run.waitForLine(/web_0 \| asked for \/after/);
    const from = run.output.length;
    const stop = runCli(['stop', 'web', '-c', conf], { timeoutMs: 40_000 });
    await run.waitForLine(/web_0: running → stopping/, { from });
    // a drain closes a connection with nothing in progress after 1 s: this one has two requests in progress
    await assertStaysFor(1_800, () => !piped.closed, 'the connection of the held request to stay open');
    assert.equal(piped.received, '', 'nothing is answered before the held request');
    writeFileSync(release, '');
    await waitForCondition(() => piped.closed, 'both requests to be answered and the connection closed', { describe: () => state([piped], run) });
    assert.match(piped.received, /^HTTP\/1\.1 200 [^]*\r\n\r\nheld\nHTTP\/1\.1 200 [^]*\r\n\r\nafter\n$/, piped.received);
    assert.equal((await stop).code, 0, run.describe());
    assert.doesNotMatch(run.output, /cut off|graceful_timeout \(\d+ ms\) ran out/, run.describe());
  } finally {
    for (const c of clients) c.socket.destroy();
    await teardown(run, [], dir);
  }
});
