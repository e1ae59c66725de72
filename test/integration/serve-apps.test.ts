// What a gunicorn user expects of the app a worker serves (an audit against gunicorn 20.1, eighteenth
// session): an error in one request is that request's 500, not a dead worker and every request in flight
// on it; a fetch() app's URL comes from the request line, never from what a Host header smuggles in; an
// exported http.Server is the server on every bound address; `-b fd://N` works in the foreground.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, get } from 'node:http';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { CliRun, livePids, makeTmpDir, runCli, startUp, teardown, waitForCondition, writeConfig } from '../helpers/drover.js';
import { fetchText } from '../helpers/http.js';
import { droverBin } from '../helpers/paths.js';

const PYTHON = '/usr/bin/python3';

async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<ReturnType<typeof createServer>>((resolve) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => resolve(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/**
 * One request written as given (a Host header fetch() would not send), on its own connection; all that came
 * back until the server closed it (HTTP/1.0 requests get a body that is not chunked).
 */
function rawRequest(port: number, head: string, connection = 'close'): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.end(`${head}\r\nConnection: ${connection}\r\n\r\n`));
    let got = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (got += d));
    socket.on('error', () => undefined); // a reset ends the answer as a close does
    socket.on('close', () => (timedOut ? reject(new Error(`no answer to ${JSON.stringify(head)} within 10 s; got ${JSON.stringify(got)}`)) : resolve(got)));
    let timedOut = false;
    socket.setTimeout(10_000, () => {
      timedOut = true;
      socket.destroy();
    });
  });
}

function pids(run: CliRun): number[] {
  return [...run.output.matchAll(/spawned: \S+ with pid (\d+)/g)].map((m) => Number(m[1]));
}

function serve(dir: string, app: string, binds: readonly string[], extra: readonly string[] = []): CliRun {
  return new CliRun(['serve', join(dir, app), '-w', '1', ...binds.flatMap((b) => ['-b', b]), '--runtime-dir', join(dir, '.drover'), ...extra], { cwd: dir });
}

test('an app that throws, or whose promise rejects, answers that request 500; the worker and a request in flight on it go on', async () => {
  const dir = makeTmpDir();
  writeFileSync(
    join(dir, 'app.mjs'),
    `const SLOW_MS = 1500; // a request still in flight when the others fail
export default async (req, res) => {
  if (req.url === '/throw') throw new Error('thrown in the listener');
  if (req.url === '/slow') await new Promise((r) => setTimeout(r, SLOW_MS));
  if (req.url === '/reject') { await null; throw new Error('rejected later'); }
  if (req.url === '/late') { res.writeHead(200); res.write('part'); await null; throw new Error('after the head'); }
  res.end('ok ' + process.pid);
};
`,
  );
  const [port] = await freePorts(1);
  const run = serve(dir, 'app.mjs', [`127.0.0.1:${port}`]);
  try {
    await run.waitForLine(/app_0: starting → running/, { timeoutMs: 15_000 });
    const slow = fetchText(port as number, '/slow');
    assert.equal((await fetchText(port as number, '/throw')).status, 500);
    assert.equal((await fetchText(port as number, '/reject')).status, 500);
    // the head went out before the error: the connection is cut, not completed as if the body were whole
    const late = await rawRequest(port as number, 'GET /late HTTP/1.1\r\nHost: h');
    assert.match(late, /^HTTP\/1\.1 200 [^]*part/, late);
    assert.doesNotMatch(late, /\r\n0\r\n\r\n$/, `no last chunk: the body is not taken for whole\n${late}`);
    const s = await slow;
    assert.equal(s.status, 200, 'the request in flight on the same worker was answered');
    assert.match((await fetchText(port as number, '/')).body, /^ok \d+$/);
    await run.waitForLine(/error handling request GET \/throw: Error: thrown in the listener/);
    await run.waitForLine(/error handling request GET \/reject: Error: rejected later/);
    assert.doesNotMatch(run.output, /app_0: running → exited/, `the worker did not exit\n${run.describe()}`);
    assert.equal(run.count(/spawned: app_0 with pid/g), 1, run.describe());
  } finally {
    run.signal('SIGTERM');
    await teardown(run, pids(run), dir);
  }
});

test('a fetch() app sees the path of the request line: a Host header that would move it, or a dot segment, is 400', async () => {
  const dir = makeTmpDir();
  writeFileSync(join(dir, 'app.mjs'), `export default { fetch: (req) => { const u = new URL(req.url); return new Response(u.host + ' ' + u.pathname + u.search); } };\n`);
  const [port] = await freePorts(1);
  const run = serve(dir, 'app.mjs', [`tcp://127.0.0.1:${port}`]); // gunicorn's tcp:// form too
  try {
    await run.waitForLine(/app_0: starting → running/, { timeoutMs: 15_000 });
    const p = port as number;
    assert.match(await rawRequest(p, 'GET /public?a=1 HTTP/1.0\r\nHost: example.com:8080'), /\r\n\r\nexample\.com:8080 \/public\?a=1$/);
    assert.match(await rawRequest(p, 'GET /a\\b HTTP/1.0\r\nHost: h'), /\r\n\r\nh \/a%5Cb$/, 'a backslash stays in the path');
    for (const host of ['x/admin?', 'x\\admin?', 'x#', 'u:p@x', 'x?y']) {
      const answer = await rawRequest(p, `GET /public HTTP/1.0\r\nHost: ${host}`);
      assert.match(answer, /^HTTP\/1\.[01] 400 /, `Host: ${host}\n${answer}`);
    }
    for (const path of ['/public/../admin', '/public/%2e%2e/admin', '/public/.%2E/admin', '/./admin']) {
      const answer = await rawRequest(p, `GET ${path} HTTP/1.0\r\nHost: h`);
      assert.match(answer, /^HTTP\/1\.[01] 400 /, `${path}\n${answer}`);
    }
    // absolute form: the path and query as written, under the same rules (a ? or # ends the authority)
    assert.match(await rawRequest(p, 'GET http://h/abs HTTP/1.0\r\nHost: h'), /\r\n\r\nh \/abs$/);
    assert.match(await rawRequest(p, 'GET http://h?/admin HTTP/1.0\r\nHost: h'), /\r\n\r\nh \/\?\/admin$/);
    assert.match(await rawRequest(p, 'GET http://h?q=1 HTTP/1.0\r\nHost: h'), /\r\n\r\nh \/\?q=1$/);
    // an IPv6 address, an empty port, no Host at all (HTTP/1.0); a port out of range or an escape in the name is 400
    assert.match(await rawRequest(p, 'GET /v6 HTTP/1.0\r\nHost: [::1]:8080'), /\r\n\r\n\[::1\]:8080 \/v6$/);
    assert.match(await rawRequest(p, 'GET /e HTTP/1.0\r\nHost: h:'), /\r\n\r\nh \/e$/);
    assert.match(await rawRequest(p, 'GET /none HTTP/1.0'), /\r\n\r\nlocalhost \/none$/);
    for (const host of ['x:99999', 'x%2fadmin', '[zz]']) {
      const answer = await rawRequest(p, `GET / HTTP/1.0\r\nHost: ${host}`);
      assert.match(answer, /^HTTP\/1\.[01] 400 /, `Host: ${host}\n${answer}`);
    }
    assert.doesNotMatch(run.output, /error handling request/, 'nothing reached the app to fail in it');
    assert.doesNotMatch(run.output, /running → exited/, run.describe());
  } finally {
    run.signal('SIGTERM');
    await teardown(run, pids(run), dir);
  }
});

test('a fetch() app whose client goes away: request.signal aborts, and the cut body is no app error', async () => {
  const dir = makeTmpDir();
  writeFileSync(
    join(dir, 'app.mjs'),
    `export default {
  async fetch(request) {
    const path = new URL(request.url).pathname;
    if (path === '/slow') {
      console.error('slow started');
      await new Promise((resolve) => request.signal.addEventListener('abort', resolve, { once: true }));
      console.error('slow aborted: ' + request.signal.aborted);
      return new Response('too late');
    }
    if (path === '/stream') {
      let first = true;
      return new Response(new ReadableStream({
        pull(c) {
          if (first) { first = false; c.enqueue(new TextEncoder().encode('first\\n')); return; }
          return new Promise(() => {}); // the rest never comes: the client leaves first
        },
        cancel() { console.error('stream cancelled, signal aborted: ' + request.signal.aborted); },
      }));
    }
    console.error('answered ' + path);
    return new Response('ok');
  },
};
`,
  );
  const [port] = await freePorts(1);
  const run = serve(dir, 'app.mjs', [`127.0.0.1:${port}`]);
  try {
    await run.waitForLine(/app_0: starting → running/, { timeoutMs: 15_000 });
    const slow = connect(port as number, '127.0.0.1', () => slow.write('GET /slow HTTP/1.1\r\nHost: h\r\n\r\n'));
    slow.on('error', () => undefined);
    await run.waitForLine(/app_0 ! slow started/);
    slow.destroy();
    await run.waitForLine(/app_0 ! slow aborted: true/);

    const stream = connect(port as number, '127.0.0.1', () => stream.write('GET /stream HTTP/1.1\r\nHost: h\r\n\r\n'));
    stream.on('error', () => undefined);
    stream.on('data', (d: Buffer) => {
      if (d.toString().includes('first')) stream.destroy();
    });
    await run.waitForLine(/app_0 ! stream cancelled, signal aborted: true/);
    // a request after both: its line comes after anything the worker wrote about them
    assert.equal((await fetchText(port as number, '/after')).status, 200);
    await run.waitForLine(/app_0 ! answered \/after/);
    assert.doesNotMatch(run.output, /error handling request|ERR_STREAM_PREMATURE_CLOSE|went away/, run.describe());
    assert.equal(run.count(/spawned: app_0 with pid/g), 1, run.describe());
  } finally {
    run.signal('SIGTERM');
    await teardown(run, pids(run), dir);
  }
});

/**
 * Writes `data` on one keep-alive connection and resolves with all that came back once `done` holds of it;
 * rejects after `ms` with what came so far.
 */
function exchange(port: number, data: string | Buffer[], done: (got: string) => boolean, ms = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      for (const d of typeof data === 'string' ? [data] : data) socket.write(d);
    });
    let got = '';
    const finish = (err: Error | null): void => {
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(got);
    };
    const timer = setTimeout(() => finish(new Error(`not done within ${ms} ms; got ${JSON.stringify(got.slice(0, 2000))}`)), ms);
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      got += d;
      if (done(got)) finish(null);
    });
    socket.on('error', (err) => finish(new Error(`${err.message}; got ${JSON.stringify(got.slice(0, 2000))}`)));
    socket.on('close', () => finish(done(got) ? null : new Error(`closed; got ${JSON.stringify(got.slice(0, 2000))}`)));
  });
}

test('a fetch() app: a body it leaves unread does not hold up the next request on the connection; HEAD does not wait for the body; TRACE is 501', async () => {
  const dir = makeTmpDir();
  writeFileSync(
    join(dir, 'app.mjs'),
    `export default {
  async fetch(request) {
    const path = new URL(request.url).pathname;
    if (path === '/upload') return new Response('unauthorized', { status: 401 }); // the body is never read
    if (path === '/events') {
      return new Response(new ReadableStream({
        pull() { return new Promise(() => {}); }, // an event stream: never ends
        cancel() { console.error('events cancelled'); },
      }), { headers: { 'content-type': 'text/event-stream' } });
    }
    if (path === '/echo') return new Response('read ' + (await request.arrayBuffer()).byteLength);
    return new Response('answered ' + path);
  },
};
`,
  );
  const [port] = await freePorts(1);
  // a keep-alive longer than any wait below: a connection held up is not closed under the test
  const run = serve(dir, 'app.mjs', [`127.0.0.1:${port}`], ['--keep-alive', '60']);
  const heads = (got: string): number => (got.match(/HTTP\/1\.1 \d{3}/g) ?? []).length;
  try {
    await run.waitForLine(/app_0: starting → running/, { timeoutMs: 15_000 });
    // 1 MB: more than the request stream buffers, so the socket stops being read while the app ignores it
    const body = Buffer.alloc(1 << 20, 'x');
    for (const method of ['POST', 'DELETE']) {
      const got = await exchange(
        port as number,
        [Buffer.from(`${method} /upload HTTP/1.1\r\nHost: h\r\nContent-Length: ${body.length}\r\n\r\n`), body, Buffer.from('GET /second HTTP/1.1\r\nHost: h\r\n\r\n')],
        (g) => g.includes('answered /second'),
      );
      assert.match(got, /^HTTP\/1\.1 401 [^]*HTTP\/1\.1 200 /, `${method}: ${got}`);
    }
    // an app that reads the body still gets all of it
    const echoed = await exchange(
      port as number,
      [Buffer.from(`PUT /echo HTTP/1.1\r\nHost: h\r\nContent-Length: ${body.length}\r\n\r\n`), body, Buffer.from('GET /third HTTP/1.1\r\nHost: h\r\n\r\n')],
      (g) => g.includes('answered /third'),
    );
    assert.match(echoed, new RegExp(`read ${body.length}`));

    // HEAD of a response whose body never ends: the head comes at once, and the request behind it is served
    const head = await exchange(port as number, 'HEAD /events HTTP/1.1\r\nHost: h\r\n\r\nGET /after HTTP/1.1\r\nHost: h\r\n\r\n', (g) => g.includes('answered /after'));
    assert.equal(heads(head), 2, head);
    assert.match(head, /^HTTP\/1\.1 200 [^]*content-type: text\/event-stream/i);
    await run.waitForLine(/app_0 ! events cancelled/);

    // TRACE: a method a fetch() Request cannot carry; the app is never called, and it is no error of the app's
    const trace = await rawRequest(port as number, 'TRACE /x HTTP/1.1\r\nHost: h');
    assert.match(trace, /^HTTP\/1\.1 501 /, trace);
    assert.doesNotMatch(run.output, /error handling request/, run.describe());
    assert.equal(run.count(/spawned: app_0 with pid/g), 1, run.describe());
  } finally {
    run.signal('SIGTERM');
    await teardown(run, pids(run), dir);
  }
});

test("the master SIGKILLed: a WebSocket app's SIGTERM listener runs, and its clients get its goodbye before the worker exits", async () => {
  // what the README tells a WebSocket app to do at a stop, when the stop comes from the master's death
  const dir = makeTmpDir();
  writeFileSync(
    join(dir, 'app.mjs'),
    `import { createServer } from 'node:http';
const open = new Set();
const server = createServer((req, res) => res.end('plain'));
server.on('upgrade', (req, socket) => {
  socket.write('HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: test\\r\\nConnection: Upgrade\\r\\n\\r\\n');
  open.add(socket);
  socket.on('close', () => open.delete(socket));
});
process.on('SIGTERM', () => {
  for (const socket of open) socket.end('going away\\n');
});
export default server;
`,
  );
  const [port] = await freePorts(1);
  const run = serve(dir, 'app.mjs', [`127.0.0.1:${port}`]);
  let worker = 0;
  try {
    worker = Number((await run.waitForLine(/spawned: app_0 with pid (\d+)/, { timeoutMs: 15_000 }))[1]);
    await run.waitForLine(/app_0: starting → running/, { timeoutMs: 15_000 });
    let got = '';
    const closed = new Promise<void>((resolve) => {
      const socket = connect(port as number, '127.0.0.1', () => socket.write('GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n'));
      socket.setEncoding('utf8');
      socket.on('data', (d: string) => {
        got += d;
        if (got.includes('101 Switching Protocols') && run.child.exitCode === null && run.child.signalCode === null) run.signal('SIGKILL');
      });
      socket.on('error', () => undefined);
      socket.on('close', () => resolve());
    });
    await Promise.race([closed, new Promise((_, reject) => setTimeout(() => reject(new Error(`the upgraded connection did not close within 10 s; got ${JSON.stringify(got)}\n${run.describe()}`)), 10_000))]);
    assert.match(got, /101 Switching Protocols[^]*going away\n$/, `the app's goodbye, then the close: ${JSON.stringify(got)}`);
    await waitForCondition(() => livePids([worker]).length === 0, 'the worker to exit', { timeoutMs: 5000 });
  } finally {
    await teardown(run, worker ? [worker] : [], dir);
  }
});

test("the master SIGKILLed: each worker runs the app's SIGTERM listeners once, not twice and not never", async () => {
  // A worker hears of its master's death up to three ways: its IPC channel closes, the kernel's pdeathsig,
  // the orphan guard's TERM. The two signals each ran the app's listeners, and a worker with nothing in
  // flight could exit on the channel's close before either signal was handled, running them never.
  const dir = makeTmpDir();
  const said = join(dir, 'sigterm.log');
  writeFileSync(
    join(dir, 'app.mjs'),
    `import { appendFileSync } from 'node:fs';
process.on('SIGTERM', () => appendFileSync(${JSON.stringify(said)}, process.pid + '\\n'));
export default (req, res) => res.end('ok');
`,
  );
  const [port] = await freePorts(1);
  const run = serve(dir, 'app.mjs', [`127.0.0.1:${port}`], ['-w', '2']);
  const workers: number[] = [];
  try {
    for (const n of [0, 1]) workers.push(Number((await run.waitForLine(new RegExp(`spawned: app_${n} with pid (\\d+)`), { timeoutMs: 15_000 }))[1]));
    for (const n of [0, 1]) await run.waitForLine(new RegExp(`app_${n}: starting → running`), { timeoutMs: 15_000 });
    run.signal('SIGKILL');
    const calls = (): string[] => (existsSync(said) ? readFileSync(said, 'utf8').split('\n').filter(Boolean) : []);
    await waitForCondition(() => livePids(workers).length === 0, 'both workers to exit', { timeoutMs: 5000, describe: () => `listener calls ${JSON.stringify(calls())}\n${run.describe()}` });
    assert.deepEqual(calls().map(Number).sort(), [...workers].sort(), `one call of the app's SIGTERM listener per worker (workers ${workers.join(', ')})\n${run.describe()}`);
  } finally {
    await teardown(run, workers, dir);
  }
});

test("a SIGTERM listener a preload added (NODE_OPTIONS=--require, as APM agents do) runs once, and the worker's stop still begins", async () => {
  // Node binds process.emit for a signal when its first listener is added: a preload's listener came before
  // the worker's routing of SIGTERM, and the worker's own stop then never began (SIGKILL at graceful_timeout)
  const dir = makeTmpDir();
  const said = join(dir, 'sigterm.log');
  writeFileSync(join(dir, 'pre.cjs'), `process.on('SIGTERM', () => require('node:fs').appendFileSync(${JSON.stringify(said)}, 'preload\\n'));\n`);
  writeFileSync(
    join(dir, 'app.mjs'),
    `import { appendFileSync } from 'node:fs';
process.on('SIGTERM', () => appendFileSync(${JSON.stringify(said)}, 'app\\n'));
export default (req, res) => res.end('ok');
`,
  );
  const [port] = await freePorts(1);
  const file = writeConfig(
    dir,
    `[socket:web]
bind = 127.0.0.1:${port}

[program:w]
worker = ${join(dir, 'app.mjs')}
sockets = web
graceful_timeout = 60s
environment = NODE_OPTIONS="--require ${join(dir, 'pre.cjs')}"
`,
  );
  const run = await startUp(file);
  try {
    await run.waitForLine(/w_0: starting → running/, { timeoutMs: 15_000 });
    const stop = await runCli(['stop', 'w', '-c', file], { timeoutMs: 15_000 });
    assert.equal(stop.code, 0, stop.output);
    await run.waitForLine(/w_0: stopping → stopped \(exit status 0\)/, { timeoutMs: 5000 });
    const calls = readFileSync(said, 'utf8').split('\n').filter(Boolean).sort();
    assert.deepEqual(calls, ['app', 'preload'], `each listener once:\n${run.describe()}`);
  } finally {
    await teardown(run, [], dir);
  }
});

test('an exported http.Server serves every -b address with its own settings and upgrade handler', async () => {
  const dir = makeTmpDir();
  writeFileSync(
    join(dir, 'app.mjs'),
    `import { createServer } from 'node:http';
const server = createServer();
let first = 0;
server.once('request', () => (first += 1));
server.on('request', (req, res) => {
  res.setHeader('x-once', String(first));
  res.end('server');
});
server.keepAliveTimeout = 65000;
server.on('upgrade', (req, socket) => socket.end('HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: test\\r\\nConnection: Upgrade\\r\\n\\r\\n'));
export default server;
`,
  );
  const ports = await freePorts(2);
  const run = serve(dir, 'app.mjs', ports.map((p) => `127.0.0.1:${p}`));
  try {
    await run.waitForLine(/app_0: starting → running/, { timeoutMs: 15_000 });
    for (const port of ports) {
      const agent = new Agent({ keepAlive: true });
      const headers = await new Promise<Record<string, unknown>>((resolve, reject) => {
        get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.headers));
        }).on('error', reject);
      });
      agent.destroy();
      assert.equal(headers['keep-alive'], 'timeout=65', `port ${port}: the exported server's keepAliveTimeout`);
      assert.equal(headers['x-once'], '1', `port ${port}: its once('request') listener ran once, for the first request`);
      const up = await rawRequest(port, 'GET / HTTP/1.1\r\nHost: h\r\nUpgrade: test', 'Upgrade');
      assert.match(up, /^HTTP\/1\.1 101 /, `port ${port}: ${up}`);
    }
  } finally {
    run.signal('SIGTERM');
    await teardown(run, pids(run), dir);
  }
});

/** Runs `drover serve APP -b fd://5 ARGS` from a parent that bound a socket and moved it to fd 5, as a socket-passing supervisor does. */
function serveOnFd5(dir: string, port: number, args: readonly string[]): { child: ReturnType<typeof spawn>; output: () => string } {
  writeFileSync(join(dir, 'app.mjs'), `export default (req, res) => res.end('fd ' + process.pid);\n`);
  writeFileSync(
    join(dir, 'launch.py'),
    `import os, socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', ${port}))
s.listen(64)
os.dup2(s.fileno(), 5)
os.set_inheritable(5, True)
os.execv(sys.argv[1], sys.argv[1:])
`,
  );
  const argv = [join(dir, 'launch.py'), process.execPath, droverBin, 'serve', join(dir, 'app.mjs'), '-w', '2', '-b', 'fd://5', '--runtime-dir', join(dir, '.drover'), ...args];
  // the mark lets livePids tell this test's processes (drover, its successor, the workers) from others
  const child = spawn(PYTHON, argv, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DROVER_TEST_MARK: `fd5-${process.pid}` } });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  return { child, output: () => output };
}

/** Refused: nothing holds the socket any more (the master, its successor and every worker are gone). */
async function portClosed(port: number): Promise<boolean> {
  return fetchText(port, '/').then(
    () => false,
    () => true,
  );
}

test('drover serve -b fd://5 in the foreground serves the socket its parent bound (the V8-flags exec keeps fd 5), and so does the master a USR2 makes', { skip: !existsSync(PYTHON) && `${PYTHON} is not installed` }, async () => {
  const dir = makeTmpDir();
  const [port] = await freePorts(1) as [number];
  const { child, output } = serveOnFd5(dir, port, []);
  const workers = (): number[] => [...output().matchAll(/spawned: \S+ with pid (\d+)/g)].map((m) => Number(m[1]));
  let successor = 0;
  try {
    await waitForCondition(() => (output().match(/starting → running/g) ?? []).length >= 2 || child.exitCode !== null, 'two workers running on fd://5', {
      timeoutMs: 20_000,
      describe: output,
    });
    const first = await fetchText(port, '/');
    assert.match(first.body, /^fd \d+$/, output());
    const before = workers();
    // the new master gets the socket among the fds passed at 3, 4, … (where fd 5 is something else)
    child.kill('SIGUSR2');
    await waitForCondition(() => /SIGUSR2: the new master \(pid \d+\) is ready/.test(output()) || /SIGUSR2: .*(failed|could not)/.test(output()), 'the new master to be ready', {
      timeoutMs: 20_000,
      describe: output,
    });
    successor = Number(/SIGUSR2: the new master \(pid (\d+)\) is ready/.exec(output())?.[1] ?? 0);
    assert.ok(successor > 0, output());
    // the old master leaves once its workers have drained: then only the new master's workers hold the socket
    await waitForCondition(() => child.exitCode !== null, 'the old master to leave', { timeoutMs: 20_000, describe: output });
    const after = await fetchText(port, '/');
    assert.match(after.body, /^fd \d+$/, output());
    assert.ok(!before.includes(Number(after.body.slice(3))), `a worker of the new master answered\n${output()}`);
    assert.doesNotMatch(output(), /ENOTSOCK|EINVAL|fatal/, output());
    const down = await runCli(['down', '-c', join(dir, '.drover', 'serve.ini')], { cwd: dir });
    assert.equal(down.code, 0, `${down.output}\n${output()}`);
    assert.equal(await portClosed(port), true, 'nothing holds the socket after down');
    await waitForCondition(() => livePids([successor, ...workers()]).length === 0, 'no master or worker left', { timeoutMs: 10_000, describe: output });
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    for (const pid of livePids([successor, ...workers()].filter((p) => p > 0))) process.kill(pid, 'SIGKILL');
  }
});

test('drover serve -D -b fd://5: the daemon gets fd 5 as the same number and serves it', { skip: !existsSync(PYTHON) && `${PYTHON} is not installed` }, async () => {
  const dir = makeTmpDir();
  const [port] = await freePorts(1) as [number];
  const { child, output } = serveOnFd5(dir, port, ['-D']);
  try {
    await waitForCondition(() => child.exitCode !== null, 'the launching drover to return', { timeoutMs: 30_000, describe: output });
    assert.equal(child.exitCode, 0, output());
    const r = await fetchText(port, '/');
    assert.match(r.body, /^fd \d+$/, output());
    const down = await runCli(['down', '-c', join(dir, '.drover', 'serve.ini')], { cwd: dir });
    assert.equal(down.code, 0, `${down.output}\n${output()}`);
    assert.equal(await portClosed(port), true, 'nothing holds the socket after down');
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    const pidfile = join(dir, '.drover', 'drover.pid');
    if (existsSync(pidfile)) for (const pid of livePids([Number(readFileSync(pidfile, 'utf8'))])) process.kill(pid, 'SIGKILL');
  }
});

// gunicorn exits 3 when a worker fails to boot; drover kept the others serving but left the pool a worker
// short for good, with nothing to retry it. Now the FATAL worker is tried again while its siblings serve.
test('a worker that cannot load the app while the others serve is FATAL, then tried again: the pool is whole again', async () => {
  const dir = makeTmpDir();
  const fail = join(dir, 'FAIL');
  writeFileSync(join(dir, 'app.mjs'), `import { existsSync } from 'node:fs';\nif (existsSync(${JSON.stringify(fail)})) throw new Error('cannot load: FAIL exists');\nexport default (req, res) => res.end('ok');\n`);
  const run = await startUp(
    writeConfig(
      dir,
      `[socket:web]
bind = 127.0.0.1:0

[program:web]
worker = ${join(dir, 'app.mjs')}
sockets = web
numprocs = 2
startretries = 0
`,
    ),
  );
  try {
    await run.waitForCount(/starting → running \(worker reported ready\)/g, 2, 15_000);
    const first = Number((await run.waitForLine(/spawned: web_0 with pid (\d+)/))[1]);
    writeFileSync(fail, '');
    process.kill(first, 'SIGKILL');
    await run.waitForLine(/web_0: FATAL while the other workers of web serve; it is tried again in 10 s/, { timeoutMs: 15_000 });
    rmSync(fail);
    await run.waitForLine(/web_0: fatal → starting/, { timeoutMs: 15_000 });
    await run.waitForCount(/web_0: starting → running/g, 2, 15_000);
    assert.equal(run.child.exitCode, null, run.describe());
  } finally {
    await teardown(run, pids(run), dir);
  }
});

// The retry of a FATAL pool worker lived in the arbiter, out of the state machine's reach: `drover stop` of
// that worker answered E_NOT_RUNNING and it started again 10 s later all the same. It is the process's own
// fatal_cooldown timer now, which a stop cancels. web_1 goes FATAL after web_0, so its retry, seen to come,
// shows that web_0's would have come by then.
test('drover stop of a FATAL pool worker awaiting its retry stops it for good', async () => {
  const dir = makeTmpDir();
  const fail = join(dir, 'FAIL');
  writeFileSync(join(dir, 'app.mjs'), `import { existsSync } from 'node:fs';\nif (existsSync(${JSON.stringify(fail)})) throw new Error('cannot load: FAIL exists');\nexport default (req, res) => res.end('ok');\n`);
  const conf = writeConfig(
    dir,
    `[socket:web]
bind = 127.0.0.1:0

[program:web]
worker = ${join(dir, 'app.mjs')}
sockets = web
numprocs = 3
startretries = 0
; the kills below come just after the workers are ready: an ordinary exit, not a failed start (backoff)
startsecs = 0
`,
  );
  const run = await startUp(conf);
  try {
    await run.waitForCount(/starting → running \(worker reported ready\)/g, 3, 15_000);
    writeFileSync(fail, '');
    for (const name of ['web_0', 'web_1']) {
      const pid = Number((await run.waitForLine(new RegExp(`spawned: ${name} with pid (\\d+)`)))[1]);
      process.kill(pid, 'SIGKILL');
      await run.waitForLine(new RegExp(`${name}: FATAL while the other workers of web serve; it is tried again in 10 s`), { timeoutMs: 15_000 });
    }
    const stop = await runCli(['stop', '-c', conf, 'web:web_0']);
    assert.equal(stop.code, 0, `${stop.output}\n${run.describe()}`);
    rmSync(fail);
    await run.waitForLine(/web_1: fatal → starting/, { timeoutMs: 15_000 });
    await run.waitForCount(/web_1: starting → running/g, 2, 15_000);
    const status = await runCli(['status', '-c', conf, 'web:web_0']);
    assert.match(status.stdout, /web:web_0\s+stopped/i, `${status.output}\n${run.describe()}`);
    assert.equal(run.output.match(/spawned: web_0 with pid/g)?.length, 2, `web_0 was not started again after the stop:\n${run.describe()}`);
  } finally {
    await teardown(run, pids(run), dir);
  }
});

// gunicorn reads an address alone as that address on port 8000; so does drover. Port 8000 may be taken on
// the machine that runs this: a bind that fails must then name HOST:8000, which shows the reading as well.
test('drover serve -b with an address alone (IPv4, [IPv6]) binds port 8000 of that address', async () => {
  for (const [bind, shown] of [['127.0.0.1', '127\\.0\\.0\\.1:8000'], ['[::1]', '\\[::1\\]:8000']] as const) {
    const dir = makeTmpDir();
    writeFileSync(join(dir, 'app.mjs'), `export default (req, res) => res.end('ok');\n`);
    const run = serve(dir, 'app.mjs', [bind]);
    try {
      const line = await run.waitForLine(new RegExp(`listening on ${shown} |cannot bind ${shown}: `), { timeoutMs: 15_000 });
      if (line[0].startsWith('listening')) {
        await run.waitForLine(/app_0: starting → running/, { timeoutMs: 15_000 });
        const down = await runCli(['down', '-c', join(dir, '.drover', 'serve.ini')], { cwd: dir });
        assert.equal(down.code, 0, `${down.output}\n${run.describe()}`);
      } else {
        assert.equal((await run.waitForExit(15_000)).code, 1, run.describe());
      }
    } finally {
      await teardown(run, pids(run), dir);
    }
  }
});
