// gunicorn's access log and keep-alive for HTTP workers: `access_log` / `access_log_format` and
// `keep_alive` in a config, `--access-logfile`, `--access-logformat` and `--keep-alive` on `drover serve`.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { CliRun, makeTmpDir, runCli, startUp, teardown, waitForAsync, waitForCondition, writeConfig } from '../helpers/drover.js';

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

function get(port: number, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer to GET ${path} within 10 s`)));
    req.on('error', reject);
    req.end();
  });
}

function lines(file: string): string[] {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l !== '') : [];
}

async function waitForLines(file: string, n: number, run: CliRun): Promise<string[]> {
  await waitForCondition(() => lines(file).length >= n, `${n} line(s) in ${file}`, { describe: () => `${file}: ${JSON.stringify(lines(file))}\n${run.describe()}` });
  return lines(file);
}

function workerPids(run: CliRun): number[] {
  return [...run.output.matchAll(/spawned: \S+ with pid (\d+)/g)].map((m) => Number(m[1]));
}

/** Resolves once the server closes an idle keep-alive connection after one request; rejects after `limitMs`. */
function idleClose(port: number, limitMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    let answeredAt = 0;
    socket.on('data', () => (answeredAt ||= Date.now()));
    socket.on('error', () => undefined);
    socket.on('close', () => (answeredAt ? resolve(Date.now() - answeredAt) : reject(new Error('closed before an answer'))));
    setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server kept the idle connection open for ${limitMs} ms`));
    }, limitMs).unref();
  });
}

const APP = `export default (req, res) => {
  res.setHeader('x-out', 'yes');
  res.statusCode = req.url.startsWith('/created') ? 201 : 200;
  res.write('hel');
  res.end('lo');
};
`;

test('access_log: a line per request in gunicorn\'s default format and in one with every atom, in stdout_logfile', async () => {
  const dir = makeTmpDir();
  writeFileSync(join(dir, 'app.mjs'), APP);
  const log = join(dir, 'access.log');
  const run = await startUp(
    writeConfig(
      dir,
      `[socket:web]
bind = 127.0.0.1:0

[program:web]
worker = app.mjs
sockets = web
access_log = true
stdout_logfile = ${log}

[program:atoms]
worker = app.mjs
sockets = web2
access_log = true
access_log_format = %%(h)s|%%(l)s|%%(u)s|%%(r)s|%%(m)s|%%(U)s|%%(q)s|%%(H)s|%%(s)s|%%(b)s|%%(B)s|%%(f)s|%%(a)s|%%(p)s|%%({x-test}i)s|%%({x-out}o)s|%%(zz)s|100%%%%|%%(M)s
stdout_logfile = ${log}.atoms

[socket:web2]
bind = 127.0.0.1:0
`,
    ),
  );
  try {
    const port = Number((await run.waitForLine(/socket web: listening on 127\.0\.0\.1:(\d+)/))[1]);
    const port2 = Number((await run.waitForLine(/socket web2: listening on 127\.0\.0\.1:(\d+)/))[1]);
    await run.waitForCount(/web\S*: starting → running/g, 1);
    await run.waitForCount(/atoms\S*: starting → running/g, 1);
    assert.equal((await get(port, '/')).body, 'hello');
    const [line] = await waitForLines(log, 1, run);
    assert.match(line as string, /^127\.0\.0\.1 - - \[\d\d\/[A-Z][a-z]{2}\/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "GET \/ HTTP\/1\.1" 200 5 "-" "-"$/, `${line}\n${run.describe()}`);

    const auth = `Basic ${Buffer.from('alice:secret').toString('base64')}`;
    await get(port2, '/created/x?a=1&b=2', { 'x-test': 'abc', referer: 'http://r/', 'user-agent': 'ua/1', authorization: auth });
    const [atoms] = await waitForLines(`${log}.atoms`, 1, run);
    const pid = run.output.match(/spawned: '?atoms\S* with pid (\d+)/)?.[1];
    const f = (atoms as string).split('|');
    assert.deepEqual(f.slice(0, 17), ['127.0.0.1', '-', 'alice', 'GET /created/x?a=1&b=2 HTTP/1.1', 'GET', '/created/x', 'a=1&b=2', 'HTTP/1.1', '201', '5', '5', 'http://r/', 'ua/1', `<${pid}>`, 'abc', 'yes', '-'], `${atoms}\n${run.describe()}`);
    assert.equal(f[17], '100%', atoms);
    assert.match(f[18] as string, /^\d+$/, atoms);
  } finally {
    await teardown(run, workerPids(run), dir);
  }
});

test('keep_alive: an idle keep-alive connection is closed after it; 0 closes each one after its response', async () => {
  const dir = makeTmpDir();
  writeFileSync(join(dir, 'app.mjs'), APP);
  const run = await startUp(
    writeConfig(
      dir,
      `[socket:short]
bind = 127.0.0.1:0

[socket:none]
bind = 127.0.0.1:0

[program:short]
worker = app.mjs
sockets = short
keep_alive = 1s

[program:none]
worker = app.mjs
sockets = none
keep_alive = 0
`,
    ),
  );
  try {
    const short = Number((await run.waitForLine(/socket short: listening on 127\.0\.0\.1:(\d+)/))[1]);
    const none = Number((await run.waitForLine(/socket none: listening on 127\.0\.0\.1:(\d+)/))[1]);
    await run.waitForCount(/: starting → running/g, 2);
    // Node's own keep-alive is 5 s: closed within 4 s only when keep_alive = 1s took
    const idleMs = await idleClose(short, 4000);
    assert.ok(idleMs >= 900, `closed ${idleMs} ms after the answer (keep_alive = 1s)`);
    const answer = await get(none, '/');
    assert.equal(answer.headers['connection'], 'close', JSON.stringify(answer.headers));
  } finally {
    await teardown(run, workerPids(run), dir);
  }
});

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

test('drover serve --access-logfile FILE --access-logformat FMT --keep-alive 0 --error-logfile FILE --log-level warning', async () => {
  const dir = makeTmpDir();
  writeFileSync(join(dir, 'app.mjs'), APP);
  const port = await freePort();
  const log = join(dir, 'access.log');
  const run = new CliRun(
    ['serve', join(dir, 'app.mjs'), '-w', '1', '-b', `127.0.0.1:${port}`, '--runtime-dir', join(dir, '.drover'), '--access-logfile', log, '--access-logformat', '%(m)s %(U)s %(s)s 50%', '--keep-alive', '0', '--error-logfile', 'err.log', '--log-level', 'warning'],
    { cwd: dir },
  );
  try {
    // --log-level warning: no "starting → running" line to wait for; the first answer is the sign
    let answer: Answer | null = null;
    await waitForAsync(async () => {
      answer = await get(port, '/created').catch(() => null);
      return answer !== null;
    }, `an answer on port ${port}`, { timeoutMs: 10_000, describe: () => run.describe() });
    answer = answer as unknown as Answer;
    assert.equal(answer.status, 201);
    assert.equal(answer.headers['connection'], 'close', JSON.stringify(answer.headers));
    assert.deepEqual(await waitForLines(log, 1, run), ['GET /created 201 50%']);
    // gunicorn's error log is drover's own log; its "warning" is supervisor's "warn"
    assert.match(readFileSync(join(dir, '.drover', 'serve.ini'), 'utf8'), new RegExp(`^logfile = ${join(dir, 'err.log')}\n(?:.*\n)*?loglevel = warn$`, 'm'));
    assert.ok(existsSync(join(dir, 'err.log')), `drover's log is err.log\n${run.describe()}`);
  } finally {
    await teardown(run, workerPids(run), dir);
  }
});

test('access_log: a request the client gave up on before any answer logs its address and 499, not 200', async () => {
  const dir = makeTmpDir();
  writeFileSync(
    join(dir, 'app.mjs'),
    `export default (req, res) => {
  if (req.url === '/never') return console.error('never answering'); // the client leaves first
  res.end('ok');
};
`,
  );
  const log = join(dir, 'access.log');
  const run = await startUp(writeConfig(dir, `[socket:web]\nbind = 127.0.0.1:0\n\n[program:web]\nworker = app.mjs\nsockets = web\naccess_log = true\nstdout_logfile = ${log}\n`));
  try {
    const port = Number((await run.waitForLine(/socket web: listening on 127\.0\.0\.1:(\d+)/))[1]);
    await run.waitForLine(/web_0: starting → running/);
    const client = connect(port, '127.0.0.1', () => client.write('GET /never HTTP/1.1\r\nHost: x\r\n\r\n'));
    client.on('error', () => undefined);
    await run.waitForLine(/web_0 ! never answering/);
    client.destroy();
    const [line] = await waitForLines(log, 1, run);
    assert.match(line as string, /^127\.0\.0\.1 - - \[[^\]]+\] "GET \/never HTTP\/1\.1" 499 0 "-" "-"$/, `${line}\n${run.describe()}`);
  } finally {
    await teardown(run, workerPids(run), dir);
  }
});

// A reviewer found requests whose connection the app takes over (a WebSocket's 'upgrade', 'connect') neither
// logged nor counted toward max_requests: http emits those instead of 'request'. A WebSocket service had an
// empty access log and its workers were never recycled.
const UPGRADING_APP = `import { createServer } from 'node:http';
const server = createServer((req, res) => res.end('plain\\n'));
server.on('upgrade', (req, socket) => {
  socket.write('HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: x-test\\r\\nConnection: Upgrade\\r\\n\\r\\n');
  socket.write('hi!');
  socket.on('data', () => socket.end());
  socket.on('end', () => socket.destroy());
});
export default server;
`;

/** Sends an Upgrade request on a new connection, reads the 101 and the app's greeting, says bye; what came back. */
function upgrade(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write('GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: x-test\r\nConnection: Upgrade\r\n\r\n'));
    let got = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      got += d;
      if (got.endsWith('hi!')) socket.write('bye');
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(got));
    socket.setTimeout(10_000, () => socket.destroy(new Error(`no end to the upgraded connection: ${JSON.stringify(got)}`)));
  });
}

test('access_log and max_requests count a request whose connection the app took over (upgrade); an app without an upgrade listener answers it as before', async () => {
  const dir = makeTmpDir();
  writeFileSync(join(dir, 'upgrading.mjs'), UPGRADING_APP);
  writeFileSync(join(dir, 'app.mjs'), APP);
  const log = join(dir, 'access.log');
  const run = await startUp(
    writeConfig(
      dir,
      `[socket:ws]
bind = 127.0.0.1:0

[socket:plain]
bind = 127.0.0.1:0

[program:ws]
worker = upgrading.mjs
sockets = ws
access_log = true
max_requests = 2
stdout_logfile = ${log}

[program:plain]
worker = app.mjs
sockets = plain
access_log = true
stdout_logfile = ${log}.plain
`,
    ),
  );
  try {
    const port = Number((await run.waitForLine(/socket ws: listening on 127\.0\.0\.1:(\d+)/))[1]);
    const plain = Number((await run.waitForLine(/socket plain: listening on 127\.0\.0\.1:(\d+)/))[1]);
    await run.waitForCount(/: starting → running/g, 2);
    assert.match(await upgrade(port), /^HTTP\/1\.1 101 Switching Protocols\r\n[^]*\r\n\r\nhi!$/);
    const [line] = await waitForLines(log, 1, run);
    assert.match(line as string, /^127\.0\.0\.1 - - \[[^\]]+\] "GET \/ws HTTP\/1\.1" 101 3 "-" "-"$/, `${line}\n${run.describe()}`);
    // the second takes the worker to max_requests: it is recycled
    const from = run.output.length;
    await upgrade(port);
    await run.waitForLine(/recycling worker \d+ \(served 2 requests/, { from });
    await waitForLines(log, 2, run);

    // no 'upgrade' listener: http answers the Upgrade request as an ordinary one, as without drover
    const r = await get(plain, '/ws', { upgrade: 'x-test', connection: 'Upgrade' });
    assert.equal(r.body, 'hello');
    const [plainLine] = await waitForLines(`${log}.plain`, 1, run);
    assert.match(plainLine as string, /"GET \/ws HTTP\/1\.1" 200 5 /, plainLine);
  } finally {
    await teardown(run, workerPids(run), dir);
  }
});

// A code review found three ways the listeners beside the app went wrong: an app whose checkContinue hands
// the request on to 'request' (as Node's docs show) was counted and logged twice; an app's `once`
// checkContinue, once spent, left drover's listeners alone there, so every later Expect request hung
// unanswered; and an upgraded connection closed during a drain lost its access line (the worker exited
// between its server's 'close' and the socket's).
const HANDING_ON_APP = `import { createServer } from 'node:http';
const server = createServer((req, res) => res.end('ok\\n'));
server.on('checkContinue', (req, res) => {
  res.writeContinue();
  server.emit('request', req, res);
});
export default server;
`;

const ONCE_APP = `import { createServer } from 'node:http';
const server = createServer((req, res) => res.end('plain\\n'));
server.once('checkContinue', (req, res) => {
  res.writeContinue();
  req.resume();
  req.on('end', () => res.end('first\\n'));
});
export default server;
`;

/** A POST with `Expect: 100-continue` that sends its body once told to continue; the whole answer. */
function expectContinue(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write('POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n'));
    let got = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      const first = got === '';
      got += d;
      if (first && got.startsWith('HTTP/1.1 100 Continue\r\n')) socket.write('abc');
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(got));
    socket.setTimeout(5_000, () => socket.destroy(new Error(`no answer within 5 s: ${JSON.stringify(got)}`)));
  });
}

test('beside the app: a checkContinue handed on to request counts once; a spent once listener leaves Expect to http; an upgrade closed in a drain is logged', async () => {
  const dir = makeTmpDir();
  writeFileSync(join(dir, 'handing-on.mjs'), HANDING_ON_APP);
  writeFileSync(join(dir, 'once.mjs'), ONCE_APP);
  writeFileSync(join(dir, 'upgrading.mjs'), UPGRADING_APP);
  const log = join(dir, 'access.log');
  const conf = writeConfig(
    dir,
    `[socket:a]
bind = 127.0.0.1:0

[socket:b]
bind = 127.0.0.1:0

[socket:c]
bind = 127.0.0.1:0

[program:handing]
worker = handing-on.mjs
sockets = a
access_log = true
max_requests = 2
stdout_logfile = ${log}.handing

[program:once]
worker = once.mjs
sockets = b

[program:ws]
worker = upgrading.mjs
sockets = c
access_log = true
stdout_logfile = ${log}.ws
graceful_timeout = 30s
`,
  );
  const run = await startUp(conf);
  try {
    const port = (name: string) => run.waitForLine(new RegExp(`socket ${name}: listening on 127\\.0\\.0\\.1:(\\d+)`)).then((m) => Number(m[1]));
    const [a, b, c] = [await port('a'), await port('b'), await port('c')];
    await run.waitForCount(/: starting → running/g, 3);

    // handed on: one line and one request each; the second request is the one that reaches max_requests
    assert.match(await expectContinue(a), /\r\n\r\nok\n$/);
    const from = run.output.length;
    assert.match(await expectContinue(a), /\r\n\r\nok\n$/);
    await run.waitForLine(/recycling worker \d+ \(served 2 requests/, { from });
    // once the recycled worker is gone, its output is all in
    await run.waitForLine(/handing_0: stopping → stopped/, { from });
    assert.equal(lines(`${log}.handing`).length, 2, `${JSON.stringify(lines(`${log}.handing`))}\n${run.describe()}`);

    // the app's once listener takes the first; http answers the next Expect itself
    assert.match(await expectContinue(b), /\r\n\r\nfirst\n$/);
    assert.match(await expectContinue(b), /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 [^]*\r\n\r\nplain\n$/);

    // an upgraded connection that closes while its worker drains: its line is written before the exit
    const socket = connect(c, '127.0.0.1', () => socket.write('GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: x-test\r\nConnection: Upgrade\r\n\r\n'));
    let got = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (got += d));
    const closed = new Promise((resolve) => socket.on('close', resolve));
    await waitForCondition(() => got.endsWith('hi!'), 'the upgraded connection\'s greeting', { describe: () => `${JSON.stringify(got)}\n${run.describe()}` });
    const stopFrom = run.output.length;
    const stop = runCli(['stop', 'ws', '-c', conf], { timeoutMs: 40_000 });
    await run.waitForLine(/ws_0: running → stopping/, { from: stopFrom });
    // the client ends it (the app ends its side in turn)
    socket.end();
    await closed;
    await run.waitForLine(/ws_0: stopping → stopped \(exit status 0\)/, { from: stopFrom });
    assert.equal((await stop).code, 0, run.describe());
    assert.match(lines(`${log}.ws`).join('\n'), /"GET \/ws HTTP\/1\.1" 101 3 /, `${JSON.stringify(lines(`${log}.ws`))}\n${run.describe()}`);
  } finally {
    await teardown(run, workerPids(run), dir);
  }
});
