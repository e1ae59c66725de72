// Malformed requests to the JSON API: a seeded generator sends well over 1000 of them (bad JSON, wrong
// types, unknown endpoints and methods, bodies over the 1 MiB cap, bad patterns, bad signals, bad scale
// counts, raw HTTP garbage). Each must get an error answer with a code; drover must stay up and no process
// may change (compared through /api/processes before and after). On TCP, authentication is required.
import assert from 'node:assert/strict';
import { request, type OutgoingHttpHeaders } from 'node:http';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { Daemon, show } from '../helpers/daemon.js';

interface Answer {
  readonly status: number;
  readonly text: string;
}

type Target = { socketPath: string } | { host: string; port: number };

function send(target: Target, method: string, path: string, body: Buffer | string | null, headers: OutgoingHttpHeaders = {}): Promise<Answer> {
  return sendOnce(target, method, path, body, headers).catch((err: Error) => {
    throw new Error(`${method} ${path} (${body === null ? 'no body' : `${body.length} bytes`}): ${err.message}`);
  });
}

function sendOnce(target: Target, method: string, path: string, body: Buffer | string | null, headers: OutgoingHttpHeaders): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = body === null ? null : Buffer.isBuffer(body) ? body : Buffer.from(body);
    const req = request(
      {
        ...target,
        method,
        path,
        agent: false,
        headers: {
          ...(payload ? { 'content-type': 'application/json' } : {}),
          ...(payload && headers['transfer-encoding'] === undefined ? { 'content-length': payload.length } : {}),
          ...headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer to ${method} ${path}`)));
    req.on('error', reject);
    req.end(payload ?? undefined);
  });
}

/** Sends raw bytes on a fresh connection; resolves with the status line drover (Node's parser) answers. */
function sendRaw(socketPath: string, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(socketPath);
    let got = '';
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => (got += d));
    sock.on('end', () => resolve(got.split('\r\n')[0] ?? ''));
    sock.on('close', () => resolve(got.split('\r\n')[0] ?? ''));
    sock.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' || err.code === 'EPIPE' ? resolve(got.split('\r\n')[0] ?? '') : reject(err)));
    sock.setTimeout(5000, () => sock.destroy());
    sock.end(bytes);
  });
}

/** mulberry32: small, seeded, reproducible. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Case {
  readonly method: string;
  readonly path: string;
  readonly body: string | Buffer | null;
  /** acceptable HTTP statuses */
  readonly statuses: readonly number[];
  readonly what: string;
}

const POST_ENDPOINTS = ['/api/start', '/api/stop', '/api/restart', '/api/signal', '/api/shutdown', '/api/update', '/api/add', '/api/remove', '/api/scale', '/api/logs/clear', '/api/logs/reopen', '/api/reread'];
const GET_ENDPOINTS = ['/api/info', '/api/processes', '/api/avail', '/api/logs/read', '/api/logs/tail', '/api/logs/follow', '/api/logs/stream', '/api/events'];

/** Generates `n` requests that must all fail. */
function generate(n: number, seed: number): Case[] {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const junkString = (): string => {
    const alphabet = 'ab:*,{}[]"\\\u0000\u00ff\u2028é 🙂%/.';
    return Array.from({ length: 1 + Math.floor(r() * 20) }, () => pick([...alphabet])).join('');
  };
  const badPattern = (): unknown =>
    pick<unknown>([
      'nosuch',
      'a:nosuch',
      'nosuch:*',
      ':',
      ':*',
      'x'.repeat(257),
      '',
      5,
      null,
      true,
      {},
      [],
      ['x'.repeat(300)],
      [''],
      [1, 2],
      [null],
      [{}],
      ['nosuch', 'a'],
      `${junkString()}zz`,
    ]);
  const wrongValue = (): unknown => pick<unknown>([5, -1, 1.5, 'maybe', null, [], {}, [[]], '', 'x'.repeat(300), 1e300, true]);
  const makers: (() => Case)[] = [
    // not JSON at all
    () => ({
      method: 'POST',
      path: pick(POST_ENDPOINTS),
      body: pick(['{', '[', '{"patterns":', 'nul', "{'a':1}", '{"a":1,}', '\u0000\u0001', '}{', '"unterminated', junkString() + '{']),
      statuses: [400],
      what: 'bad JSON',
    }),
    // JSON that is not an object
    () => ({ method: 'POST', path: pick(POST_ENDPOINTS), body: pick(['null', '1', '"str"', '[]', '[{"patterns":["all"]}]', 'true']), statuses: [400], what: 'not an object' }),
    // missing or wrongly typed patterns
    () => ({
      method: 'POST',
      path: pick(['/api/start', '/api/stop', '/api/restart', '/api/logs/clear']),
      body: JSON.stringify(r() < 0.2 ? {} : { patterns: badPattern(), wait: r() < 0.5 ? wrongValue() : false }),
      statuses: [400, 404],
      what: 'bad patterns',
    }),
    // valid patterns with a wrongly typed wait: rejected before anything is done
    () => ({ method: 'POST', path: pick(['/api/start', '/api/stop', '/api/restart']), body: JSON.stringify({ patterns: ['all'], wait: pick(['maybe', 2, [], {}, null]) }), statuses: [400], what: 'bad wait' }),
    // bad signals (and bad patterns with them)
    () => ({
      method: 'POST',
      path: '/api/signal',
      body: JSON.stringify({ patterns: r() < 0.7 ? ['all'] : badPattern(), signal: pick<unknown>(['FOO', 'SIGFOO', '999', '-1', '', 5.5, 99, null, 'KILL KILL', 'x'.repeat(300), junkString() + 'Q']) }),
      statuses: [400, 404],
      what: 'bad signal',
    }),
    // shutdown with a wrongly typed `fast`
    () => ({ method: 'POST', path: '/api/shutdown', body: JSON.stringify({ fast: pick(['maybe', 2, [], {}, null, 'yes']) }), statuses: [400], what: 'bad fast' }),
    // update/add/remove with bad groups
    () => ({
      method: 'POST',
      path: pick(['/api/update', '/api/add', '/api/remove']),
      body: JSON.stringify({ groups: pick<unknown>([5, true, {}, [1], [''], [null], [[]]]) }),
      statuses: [400],
      what: 'bad groups',
    }),
    // scale: bad program or count
    () => ({
      method: 'POST',
      path: '/api/scale',
      body: JSON.stringify(
        r() < 0.5
          ? { program: pick<unknown>(['w', 'a']), count: pick<unknown>([0, -1, 10_001, 1e9, 1.5, '2x', null, [], {}, 'many']) }
          : { program: pick<unknown>([5, null, '', [], 'nosuch', 'x'.repeat(300), {}]), count: 2 },
      ),
      statuses: [400, 404],
      what: 'bad scale',
    }),
    // logs with bad parameters (404 unknown process, 400 bad stream or number, 409 no log access)
    () => ({
      method: 'GET',
      path: `${pick(['/api/logs/read', '/api/logs/tail', '/api/logs/follow'])}?${pick([
        'process=nosuch',
        'process=',
        `process=${encodeURIComponent(junkString())}zz`,
        'process=all',
        'process=w:*',
        'process=a&stream=stdin',
        'process=a&offset=abc',
        'process=a&length=1.5',
        'stream=stdout',
      ])}`,
      body: null,
      statuses: [400, 404, 409],
      what: 'bad log query',
    }),
    // processes with bad patterns in the query
    () => ({ method: 'GET', path: `/api/processes?patterns=${encodeURIComponent(pick(['nosuch', 'a,nosuch', ':*', 'zz:*']))}`, body: null, statuses: [404], what: 'bad query patterns' }),
    // unknown endpoints
    () => ({
      method: pick(['GET', 'POST']),
      path: pick(['/api/nosuch', '/api/', '/api', '/api/start/x', '/api/../etc/passwd', '/api/%2e%2e/x', `/api/${encodeURIComponent(junkString())}`, '/nothing', '/api/processes/..', '/api/constructor', '/api/__proto__']),
      body: pick([null, '{}']),
      statuses: [404],
      what: 'unknown endpoint',
    }),
    // wrong methods on known endpoints
    () => {
      const method = pick(['PUT', 'DELETE', 'PATCH', 'OPTIONS', 'GET', 'POST']);
      const path = method === 'GET' ? pick(POST_ENDPOINTS) : method === 'POST' ? pick(GET_ENDPOINTS) : pick([...POST_ENDPOINTS, ...GET_ENDPOINTS]);
      return { method, path, body: null, statuses: [405], what: 'wrong method' };
    },
  ];
  const out: Case[] = [];
  for (let i = 0; i < n; i++) out.push(pick(makers)());
  return out;
}

const CONFIG = `[program:a]
command = sleep 1000
startsecs = 0

[program:w]
command = sleep 1000
process_name = %(program_name)s_%(process_num)02d
numprocs = 2
startsecs = 0

[program:off]
command = sleep 1000
autostart = false
`;

function stateOf(text: string): string {
  const body = JSON.parse(text) as { processes: { name: string; state: string; pid: number | null; restarts: number }[] };
  return JSON.stringify(body.processes.map((p) => [p.name, p.state, p.pid, p.restarts]));
}

test('≥ 1000 malformed JSON-API requests: each an error with a code, drover stays up, nothing changes', async () => {
  const d = new Daemon(CONFIG);
  try {
    await d.up();
    const target = { socketPath: join(d.dir, '.drover', 'drover.sock') };
    const before = await send(target, 'GET', '/api/processes', null);
    for (const m of before.text.matchAll(/"pid":(\d+)/g)) d.seen.add(Number(m[1]));
    const cases = generate(1200, 20261122);
    const failures: string[] = [];
    const byWhat = new Map<string, number>();
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let i = next++; i < cases.length; i = next++) {
        const c = cases[i] as Case;
        const a = await send(target, c.method, c.path, c.body);
        byWhat.set(c.what, (byWhat.get(c.what) ?? 0) + 1);
        let parsed: { ok?: unknown; code?: unknown } | null = null;
        try {
          parsed = c.method === 'HEAD' ? null : (JSON.parse(a.text) as { ok?: unknown; code?: unknown });
        } catch {
          parsed = null;
        }
        const good = c.statuses.includes(a.status) && parsed !== null && parsed.ok === false && typeof parsed.code === 'string' && /^E_[A-Z_]+$/.test(parsed.code);
        if (!good) failures.push(`#${i} ${c.what}: ${c.method} ${c.path} ${String(c.body).slice(0, 80)} → ${a.status} ${a.text.slice(0, 200)}`);
      }
    };
    await Promise.all(Array.from({ length: 6 }, worker));
    // bodies over the 1 MiB cap, declared and chunked
    const huge = Buffer.alloc(1024 * 1024 + 10, 0x61);
    for (const path of ['/api/start', '/api/signal', '/api/nosuch']) {
      // a declared length over the cap is refused at once, before the body: send only the headers (Node's
      // client drops the answer when the server closes while it is still writing the body)
      const line = await sendRaw(target.socketPath, `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${huge.length}\r\n\r\n`);
      if (line !== 'HTTP/1.1 413 Payload Too Large') failures.push(`declared huge body to ${path} → ${JSON.stringify(line)}`);
      const b = await send(target, 'POST', path, huge, { 'transfer-encoding': 'chunked' });
      if (b.status !== 413) failures.push(`huge chunked body to ${path} → ${b.status} ${b.text.slice(0, 200)}`);
    }
    // raw HTTP garbage: Node's parser answers 400 and closes
    for (const raw of ['GARBAGE\r\n\r\n', 'GET /api/info HTTP/9.9\r\n\r\n', 'POST /api/start HTTP/1.1\r\nContent-Length: -5\r\n\r\n', `GET /${'x'.repeat(20_000)} HTTP/1.1\r\n${'X-A: b\r\n'.repeat(2000)}\r\n`]) {
      const line = await sendRaw(target.socketPath, raw);
      if (!/^HTTP\/1\.1 4\d\d/.test(line)) failures.push(`raw ${JSON.stringify(raw.slice(0, 40))} → ${JSON.stringify(line)}`);
    }
    assert.deepEqual(failures, [], `${failures.length} requests were not answered with an error and a code:\n${failures.slice(0, 30).join('\n')}`);
    assert.ok(cases.length >= 1000);
    assert.ok(byWhat.size >= 10, `every kind of bad request was tried: ${JSON.stringify([...byWhat])}`);

    const after = await send(target, 'GET', '/api/processes', null);
    assert.equal(after.status, 200, 'drover still answers');
    assert.equal(stateOf(after.text), stateOf(before.text), 'no process changed state, pid or restart count');
    const r = await d.cli(['status']);
    assert.equal(r.code, 3, `drover is up (off is stopped, so 3)\n${show(['status'], r)}`);
  } finally {
    assert.deepEqual(await d.teardown(), []);
  }
});

test('TCP control port: unauthenticated and wrongly authenticated requests get 401', async () => {
  const port = await freePort();
  const d = new Daemon(`[inet_http_server]
port = 127.0.0.1:${port}
username = admin
password = {SHA}${'5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8'}

${CONFIG}`);
  try {
    await d.up();
    const target = { host: '127.0.0.1', port };
    const basic = (s: string): string => `Basic ${Buffer.from(s).toString('base64')}`;
    const bad: [string, OutgoingHttpHeaders][] = [
      ['none', {}],
      ['wrong password', { authorization: basic('admin:wrong') }],
      ['wrong user', { authorization: basic('root:password') }],
      ['the hash as password', { authorization: basic('admin:{SHA}5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8') }],
      ['no colon', { authorization: basic('admin') }],
      ['not base64', { authorization: 'Basic !!!' }],
      ['bearer', { authorization: 'Bearer password' }],
      ['empty', { authorization: '' }],
    ];
    for (const [what, headers] of bad) {
      for (const [method, path, body] of [['GET', '/api/processes', null], ['POST', '/api/shutdown', '{}'], ['POST', '/api/stop', '{"patterns":["all"]}'], ['GET', '/nothing', null]] as const) {
        const a = await send(target, method, path, body, headers);
        assert.equal(a.status, 401, `${what}: ${method} ${path} → ${a.status} ${a.text}`);
        assert.match(a.text, /"code":"E_UNAUTHORIZED"/);
      }
    }
    const ok = await send(target, 'GET', '/api/processes', null, { authorization: basic('admin:password') });
    assert.equal(ok.status, 200, ok.text);
    let r = await d.cli(['status', '-s', `http://127.0.0.1:${port}`], { noConfig: true });
    assert.equal(r.code, 4, `no credentials: no permission\n${show(['status', '-s', 'http://…'], r)}`);
    r = await d.cli(['status', '-s', `http://127.0.0.1:${port}`, '-u', 'admin', '-p', 'password'], { noConfig: true });
    assert.equal(r.code, 3, `authenticated: status answers (off is stopped)\n${show(['status', '-s', 'http://…', '-u', 'admin'], r)}`);
    const procs = await d.processes();
    assert.equal(procs.get('a:a')?.state, 'running', 'nothing was stopped');
    for (const p of procs.values()) if (p.pid) d.seen.add(p.pid);
  } finally {
    assert.deepEqual(await d.teardown(), []);
  }
});

// supervisor's parser refuses port 0, so pick a free port first
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}
