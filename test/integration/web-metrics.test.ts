// /metrics, /healthz, /readyz and the web page's fixed asset table, against a real daemon on its TCP
// listener (issue 6). /metrics is read with an independent Prometheus text-format parser.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { request as httpRequest } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import parsePrometheusTextFormat, { type ParsedFamily } from 'parse-prometheus-text-format';
import { Daemon, show } from '../helpers/daemon.js';
import { fixture, makeTmpDir, runCli, startUp, teardown, writeConfig } from '../helpers/drover.js';
import { freePort, getJson, inetSection, request, waitForValue, WEB_PASSWORD, WEB_USER } from '../helpers/web.js';

interface ProcessJson {
  name: string;
  state: string;
  pid: number | null;
  restarts: number;
}

async function processes(port: number): Promise<Map<string, ProcessJson>> {
  const { body } = await getJson(port, '/api/processes');
  return new Map((body['processes'] as ProcessJson[]).map((p) => [p.name, p]));
}

async function scrape(port: number): Promise<ParsedFamily[]> {
  const r = await request(port, '/metrics');
  assert.equal(r.status, 200, r.text);
  assert.match(r.type, /^text\/plain; version=0\.0\.4/);
  return parsePrometheusTextFormat(r.text);
}

/** The value of one series: family `name` with exactly these labels (a subset match). */
function valueOf(families: readonly ParsedFamily[], name: string, labels: Record<string, string> = {}): number | null {
  const fam = families.find((f) => f.name === name);
  const hit = fam?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  return hit?.value === undefined ? null : Number(hit.value);
}

/** Starts the daemon without waiting for programs to settle (some are meant to fail). */
async function upNoWait(d: Daemon): Promise<void> {
  const r = await d.cli(['up', '-d', '--no-wait']);
  if (r.code !== 0) throw new Error(`drover up failed\n${show(['up', '-d', '--no-wait'], r)}\n${d.daemonStderr()}`);
  const m = /pid (\d+)/.exec(r.stdout);
  d.pid = Number(m?.[1] ?? 0);
  d.seen.add(d.pid);
}

test('/metrics parses as Prometheus text and follows a restart after kill -9', async () => {
  const port = await freePort();
  const d = new Daemon(`${inetSection(port)}
[program:alpha]
command = ${process.execPath} ${fixture('forever.mjs')}
startsecs = 0

[program:pool]
command = sleep 1000
process_name = %(program_name)s_%(process_num)02d
numprocs = 2
startsecs = 0
`);
  try {
    await d.up();
    const before = await scrape(port);
    const alpha = { name: 'alpha:alpha' };
    assert.equal(valueOf(before, 'drover_process_state', { ...alpha, state: 'running' }), 1);
    assert.equal(valueOf(before, 'drover_process_state', { ...alpha, state: 'stopped' }), 0);
    assert.equal(valueOf(before, 'drover_process_state', { name: 'pool:pool_01', group: 'pool', process: 'pool_01', state: 'running' }), 1);
    assert.equal(before.find((f) => f.name === 'drover_process_restarts_total')?.type, 'COUNTER');
    assert.equal(valueOf(before, 'drover_process_restarts_total', alpha), 0);
    assert.ok((valueOf(before, 'drover_process_resident_memory_bytes', alpha) ?? 0) > 1024 * 1024, 'alpha has an RSS');
    assert.ok((valueOf(before, 'drover_process_open_fds', alpha) ?? 0) >= 3, 'alpha has stdio open at least');
    assert.ok((valueOf(before, 'drover_process_cpu_seconds_total', alpha) ?? -1) >= 0);
    assert.ok((valueOf(before, 'drover_process_uptime_seconds', alpha) ?? -1) >= 0);
    assert.equal(valueOf(before, 'drover_process_up', alpha), 1);
    assert.ok((valueOf(before, 'drover_resident_memory_bytes') ?? 0) > 10 * 1024 * 1024, "drover's own RSS");
    for (const n of ['drover_event_loop_lag_mean_seconds', 'drover_event_loop_lag_p99_seconds', 'drover_event_loop_lag_max_seconds']) {
      const v = valueOf(before, n);
      assert.ok(v !== null && v >= 0 && v < 5, `${n} = ${String(v)}`);
    }
    const started = valueOf(before, 'drover_process_start_time_seconds', alpha) ?? 0;

    const pid = (await processes(port)).get('alpha:alpha')?.pid;
    assert.ok(pid, 'alpha has a pid');
    d.seen.add(pid);
    process.kill(pid, 'SIGKILL');
    const restarted = await waitForValue(
      async () => {
        const p = (await processes(port)).get('alpha:alpha');
        return p && p.state === 'running' && p.pid !== pid && p.pid !== null ? p : null;
      },
      'alpha to run again with a new pid',
      10_000,
    );
    d.seen.add(restarted.pid as number);
    const after = await scrape(port);
    assert.equal(valueOf(after, 'drover_process_restarts_total', alpha), 1, 'the restart is counted');
    assert.equal(valueOf(after, 'drover_process_state', { ...alpha, state: 'running' }), 1);
    assert.ok((valueOf(after, 'drover_process_start_time_seconds', alpha) ?? 0) > started, 'a new start time');
    assert.equal(valueOf(after, 'drover_process_restarts_total', { name: 'pool:pool_00' }), 0, 'the others are untouched');

    // the master's task queues: depth and pushes as tasks arrive (nobody takes them here)
    for (const task of ['one', 'two']) {
      const pushed = await request(port, '/api/queue/push', { method: 'POST', body: { queue: 'jobs', task } });
      assert.equal(pushed.status, 200, pushed.text);
    }
    const queued = await scrape(port);
    assert.equal(valueOf(queued, 'drover_queue_depth', { queue: 'jobs' }), 2);
    assert.equal(valueOf(queued, 'drover_queue_in_flight', { queue: 'jobs' }), 0);
    assert.equal(valueOf(queued, 'drover_queue_pushed_total', { queue: 'jobs' }), 2);

    // a stopped process keeps its state series and loses its per-pid ones
    const r = await d.cli(['stop', 'pool:pool_00']);
    assert.equal(r.code, 0, show(['stop', 'pool:pool_00'], r));
    const stopped = await scrape(port);
    assert.equal(valueOf(stopped, 'drover_process_state', { name: 'pool:pool_00', state: 'stopped' }), 1);
    assert.equal(valueOf(stopped, 'drover_process_up', { name: 'pool:pool_00' }), 0);
    assert.equal(valueOf(stopped, 'drover_process_resident_memory_bytes', { name: 'pool:pool_00' }), null);
  } finally {
    const survivors = await d.teardown();
    assert.deepEqual(survivors, [], 'nothing survives the teardown');
  }
});

test('prefork metrics: every request served is counted, across a recycle and a stop; recycles are counted', async () => {
  const port = await freePort();
  const dir = makeTmpDir('drover-metrics-prefork-');
  // heartbeats every timeout/4 carry a worker's count: 7.5 s here, so within this test only the counts a
  // worker sends as it asks to be recycled and as it leaves can reach the master
  const conf = writeConfig(
    dir,
    `${inetSection(port)}
[socket:web]
bind = 127.0.0.1:0

[program:web]
worker = ${fixture('worker-app.mjs')}
sockets = web
numprocs = 1
max_requests = 20
timeout = 30s
graceful_timeout = 5s
`,
  );
  const run = await startUp(conf);
  try {
    const appPort = Number((await run.waitForLine(/socket web: listening on 127\.0\.0\.1:(\d+)/))[1]);
    await run.waitForLine(/web_\d+: starting → running/, { timeoutMs: 10_000 });
    const requests = async (): Promise<number | null> => valueOf(await scrape(port), 'drover_worker_requests_total', { group: 'web', program: 'web' });
    assert.equal(await requests(), 0, 'the series exists from the start');
    const hit = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i++) {
        const r = await fetch(`http://127.0.0.1:${appPort}/`, { headers: { connection: 'close' } });
        assert.equal(r.status, 200);
        await r.text();
      }
    };
    const first = [...(await processes(port)).keys()];
    assert.equal(first.length, 1);
    await hit(20); // reaches max_requests = 20: the worker asks to be recycled
    await waitForValue(
      async () => ((valueOf(await scrape(port), 'drover_worker_recycles_total', { program: 'web' }) ?? 0) >= 1 ? true : null),
      'a recycle to be counted',
      15_000,
    );
    await run.waitForLine(/recycling worker \d+ \(served 20 requests \(max_requests\)\)/);
    await waitForValue(async () => {
      const names = [...(await processes(port)).keys()];
      return names.length === 1 && names[0] !== first[0] ? true : null;
    }, 'the recycled worker to be replaced', 15_000);
    await waitForValue(async () => ((await requests()) === 20 ? true : null), 'the 20 requests of the recycled worker to be counted', 5000);
    // the new worker serves 3, then stops: its count goes with it
    await hit(3);
    const stopped = await runCli(['stop', 'web:*', '-c', conf]);
    assert.equal(stopped.code, 0, stopped.output);
    await waitForValue(async () => ((await requests()) === 23 ? true : null), 'all 23 requests to be counted once the worker stopped', 5000);
    // the program removed by an update: its series go, the counters of recycles and takeovers too
    writeConfig(dir, `${inetSection(port)}\n[socket:web]\nbind = 127.0.0.1:0\n`);
    const updated = await runCli(['update', '-c', conf]);
    assert.equal(updated.code, 0, updated.output);
    const left = await scrape(port);
    for (const name of ['drover_worker_requests_total', 'drover_worker_recycles_total', 'drover_worker_takeovers_total']) {
      assert.equal(valueOf(left, name, { program: 'web' }), null, `${name} of the removed program`);
    }
  } finally {
    const survivors = await teardown(run, [], dir);
    assert.deepEqual(survivors, []);
  }
});

test('/healthz answers while drover runs; /readyz is 503 while a program is in backoff, 200 once all run', async () => {
  const port = await freePort();
  const d = new Daemon(`${inetSection(port)}
[program:steady]
command = ${process.execPath} ${fixture('forever.mjs')}
startsecs = 0

[program:oneshot]
command = ${process.execPath} ${fixture('exit-with.mjs')} 0
autorestart = false
startsecs = 0

[program:flaky]
command = /bin/sh -c 'test -f %(here)s/go || exit 1; exec sleep 1000'
startsecs = 1
startretries = 100
`);
  try {
    await upNoWait(d);
    const health = await getJson(port, '/healthz');
    assert.equal(health.status, 200);
    assert.equal(health.body['status'], 'alive');
    assert.equal(health.body['pid'], d.pid);
    assert.equal((await request(port, '/healthz', { auth: false })).status, 401, 'the TCP listener always wants credentials');

    // flaky cannot start until the file exists: backoff, and drover is not ready
    const notReady = await waitForValue(
      async () => {
        const r = await getJson(port, '/readyz');
        const list = (r.body['not_ready'] as { name: string; state: string }[] | undefined) ?? [];
        return r.status === 503 && list.some((p) => p.name === 'flaky:flaky' && p.state === 'backoff') ? r.body : null;
      },
      '/readyz to report flaky in backoff',
      10_000,
    );
    const names = (notReady['not_ready'] as { name: string }[]).map((p) => p.name);
    assert.ok(!names.includes('oneshot:oneshot'), `a one-shot that exited 0 is ready: ${JSON.stringify(notReady)}`);
    assert.equal(notReady['ok'], false);

    writeFileSync(join(d.dir, 'go'), '');
    const ready = await waitForValue(
      async () => {
        const r = await getJson(port, '/readyz');
        return r.status === 200 ? r.body : null;
      },
      '/readyz to answer 200 once flaky runs',
      15_000,
      () => d.daemonStderr(),
    );
    assert.deepEqual(ready, { ok: true, status: 'ready', not_ready: [] });
    const procs = await processes(port);
    assert.equal(procs.get('flaky:flaky')?.state, 'running');
    assert.equal(procs.get('oneshot:oneshot')?.state, 'exited');
    for (const p of procs.values()) if (p.pid) d.seen.add(p.pid);

    // stopping an autostart program makes drover not ready again
    const r = await d.cli(['stop', 'steady']);
    assert.equal(r.code, 0, show(['stop', 'steady'], r));
    const again = await getJson(port, '/readyz');
    assert.equal(again.status, 503);
    assert.deepEqual(again.body['not_ready'], [{ name: 'steady:steady', state: 'stopped', reason: 'stopped by hand' }]);
  } finally {
    const survivors = await d.teardown();
    assert.deepEqual(survivors, [], 'nothing survives the teardown');
  }
});

test('the web page is a fixed set of assets, behind the same authentication; cross-origin POSTs are refused', async () => {
  const port = await freePort();
  const d = new Daemon(`${inetSection(port)}
[program:a]
command = sleep 1000
startsecs = 0
`);
  try {
    await d.up();
    const page = await request(port, '/');
    assert.equal(page.status, 200);
    assert.match(page.type, /^text\/html/);
    assert.match(page.text, /<script src="\/ui\/app\.js"/);
    for (const [path, type] of [
      ['/ui/app.js', /^text\/javascript/],
      ['/ui/style.css', /^text\/css/],
      ['/ui/icon.svg', /^image\/svg\+xml/],
    ] as const) {
      const r = await request(port, path);
      assert.equal(r.status, 200, path);
      assert.match(r.type, type, path);
    }
    assert.equal((await request(port, '/', { auth: false })).status, 401);
    assert.equal((await request(port, '/ui/app.js', { auth: false })).status, 401);
    assert.equal((await request(port, '/ui/nosuch.js')).status, 404);
    // supervisord's bookmarks: its page, and its tail page of one process (this page with that log open)
    const index = await request(port, '/index.html');
    assert.equal(index.status, 200);
    assert.match(index.type, /^text\/html/);
    const tailPage = await fetch(`http://127.0.0.1:${port}/tail.html?processname=a%3Aa`, { headers: authHeader(), redirect: 'manual' });
    await tailPage.text();
    assert.equal(tailPage.status, 302);
    assert.equal(tailPage.headers.get('location'), '/?log=a%3Aa');
    // JSON answers are never sniffed as HTML by a browser
    for (const path of ['/api/processes', '/api/nosuch']) {
      const r = await fetch(`http://127.0.0.1:${port}${path}`, { headers: authHeader() });
      await r.text();
      assert.equal(r.headers.get('x-content-type-options'), 'nosniff', path);
    }
    assert.equal((await request(port, '/', { method: 'POST' })).status, 405);
    // 405 says what the path takes (RFC 9110)
    for (const [path, method, allow] of [['/', 'POST', 'GET, HEAD'], ['/metrics', 'DELETE', 'GET, HEAD'], ['/api/processes', 'DELETE', 'GET'], ['/api/stop', 'GET', 'POST']] as const) {
      const r = await fetch(`http://127.0.0.1:${port}${path}`, { method, headers: authHeader() });
      await r.text();
      assert.equal(r.status, 405, `${method} ${path}`);
      assert.equal(r.headers.get('allow'), allow, `${method} ${path}`);
    }
    // a request target in absolute form is served as its path
    assert.equal(await rawGet(port, `http://127.0.0.1:${port}/healthz`), 200);
    assert.equal(await rawGet(port, `http://127.0.0.1:${port}`), 200, 'the page, for an empty path');
    // and its path is taken as written, as in origin form: no dot segment is resolved
    for (const path of ['/ui/%2e%2e/healthz', '/ui/../healthz']) assert.equal(await rawGet(port, `http://127.0.0.1:${port}${path}`), 404, path);
    // one process, or patterns: not both
    const both = await request(port, '/api/logs/stream?process=a&patterns=a');
    assert.equal(both.status, 400, both.text);
    assert.match(both.text, /not both/);
    // a raw request line: fetch would normalise the dots away
    for (const path of ['/ui/../../../../etc/passwd', '/ui/%2e%2e/%2e%2e/etc/passwd', '/ui//etc/passwd', '/ui/app.js/']) {
      const status = await rawGet(port, path);
      assert.equal(status, 404, path);
    }
    const csp = await fetch(`http://127.0.0.1:${port}/`, { headers: authHeader() });
    assert.match(csp.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    assert.equal(csp.headers.get('x-frame-options'), 'DENY');

    const evil = await request(port, '/api/stop', { method: 'POST', body: { patterns: ['all'] }, headers: { origin: 'http://evil.example' } });
    assert.equal(evil.status, 403, evil.text);
    assert.equal(JSON.parse(evil.text).code, 'E_CROSS_ORIGIN');
    assert.equal((await processes(port)).get('a:a')?.state, 'running', 'nothing was stopped');
    const same = await request(port, '/api/stop', { method: 'POST', body: { patterns: ['a'] }, headers: { origin: `http://127.0.0.1:${port}` } });
    assert.equal(same.status, 200, same.text);
  } finally {
    const survivors = await d.teardown();
    assert.deepEqual(survivors, [], 'nothing survives the teardown');
  }
});

function authHeader(): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(`${WEB_USER}:${WEB_PASSWORD}`).toString('base64')}` };
}

function rawGet(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, headers: authHeader() }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

// A review found /readyz answering 200 most of the time for a process that failed every health check: it
// counted as ready whenever it was running between its restarts.
test('/readyz is 503 while a process is unhealthy (restarted for its health check, no pass since), 200 once a check passes', async () => {
  const port = await freePort();
  const d = new Daemon(`${inetSection(port)}
[program:sick]
command = ${process.execPath} ${fixture('forever.mjs')}
startsecs = 0
stopwaitsecs = 1
healthcheck = exec:/bin/sh -c 'test -f %(here)s/healthy'
healthcheck_interval = 100ms
healthcheck_retries = 2
`);
  try {
    await upNoWait(d);
    // restarted for its check, it runs again between failures: 503 then too, as unhealthy until a check passes
    const sick = await waitForValue(
      async () => {
        const r = await getJson(port, '/readyz');
        const list = (r.body['not_ready'] as { name: string; state: string; reason: string }[] | undefined) ?? [];
        return r.status === 503 ? (list.find((p) => p.name === 'sick:sick' && p.state === 'running') ?? null) : null;
      },
      '/readyz to report sick, running, as not ready',
      15_000,
      () => d.daemonStderr(),
    );
    assert.match(sick.reason, /^unhealthy: restarted \d+ time\(s\) for failed health checks; ready once a check passes$/);
    writeFileSync(join(d.dir, 'healthy'), '');
    const ready = await waitForValue(
      async () => {
        const a = await getJson(port, '/readyz');
        return a.status === 200 ? a.body : null;
      },
      '/readyz to answer 200 once a check passes',
      15_000,
      () => d.daemonStderr(),
    );
    assert.deepEqual(ready, { ok: true, status: 'ready', not_ready: [] });
  } finally {
    const survivors = await d.teardown();
    assert.deepEqual(survivors, [], 'nothing survives the teardown');
  }
});

/** A daemon on a TCP listener with one program, `talk`, and the Authorization header its API wants. */
async function talkDaemon(): Promise<{ port: number; d: Daemon; auth: string }> {
  const port = await freePort();
  const d = new Daemon(`${inetSection(port)}
[program:talk]
command = ${process.execPath} ${fixture('forever.mjs')}
startsecs = 0
`);
  return { port, d, auth: `Basic ${Buffer.from(`${WEB_USER}:${WEB_PASSWORD}`).toString('base64')}` };
}

// A streaming answer holds subscriptions in the daemon (a log follower, a state listener, a ping timer). They
// are released when the client leaves; they used to wait for the request's close, which had come already
// (once its body was read), so every `drover tail -f`, `logs -f` and web page that left was kept for good.
test('streams a client left release what they held: drover_control_streams goes back to 0', async () => {
  const { port, d, auth } = await talkDaemon();
  const streams = (families: readonly ParsedFamily[]): number | null => valueOf(families, 'drover_control_streams');
  let last: number | null = null;
  const paths = ['/api/logs/follow?process=talk', '/api/logs/stream?process=talk', '/api/events'];
  const open: ReturnType<typeof httpRequest>[] = [];
  try {
    await d.up();
    assert.equal(streams(await scrape(port)), 0);
    // three of each, each open once its answer's headers have come
    for (let i = 0; i < 3; i++) {
      for (const path of paths) {
        await new Promise<void>((resolve, reject) => {
          const req = httpRequest({ host: '127.0.0.1', port, path, headers: { authorization: auth } }, (res) => {
            assert.equal(res.statusCode, 200, path);
            res.resume();
            resolve();
          });
          req.on('error', (err) => (open.includes(req) ? undefined : reject(err)));
          req.end();
          open.push(req);
        });
      }
    }
    last = streams(await scrape(port));
    assert.equal(last, 9, 'nine streams open');
    for (const req of open) req.destroy();
    await waitForValue(
      async () => {
        last = streams(await scrape(port));
        return last === 0 ? true : null;
      },
      'drover_control_streams to go back to 0 once the clients have gone',
      5_000,
      () => `drover_control_streams ${last}\n${d.daemonStderr()}`,
    );
  } finally {
    for (const req of open) req.destroy();
    const survivors = await d.teardown();
    assert.deepEqual(survivors, [], 'nothing survives the teardown');
  }
});

// A streaming request pipelined behind another on one connection: its response gets the socket only once the
// answer before it is done. It used to be taken for a client that had left: its subscription was dropped at
// once, and the stream, answered 200 with its snapshot, never carried an event.
test('a pipelined event stream carries events and counts as open until its connection closes', async () => {
  const { port, d, auth } = await talkDaemon();
  let sock: ReturnType<typeof connect> | null = null;
  let got = '';
  try {
    await d.up();
    sock = connect(port, '127.0.0.1');
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => (got += chunk));
    await new Promise<void>((resolve, reject) => {
      sock?.once('connect', resolve);
      sock?.once('error', reject);
    });
    const head = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: ${auth}\r\n\r\n`;
    sock.write(head('/api/processes') + head('/api/events'));
    await waitForValue(async () => (got.includes('event: snapshot') ? true : null), 'the pipelined stream to send its snapshot', 5_000, () => got.slice(-2000));
    assert.equal(valueOf(await scrape(port), 'drover_control_streams'), 1, 'the stream counts as open');
    const r = await d.cli(['restart', 'talk']);
    assert.equal(r.code, 0, show(['restart', 'talk'], r));
    await waitForValue(async () => (/event: state\ndata: .*"to":"running"/.test(got) ? true : null), 'a state event on the pipelined stream', 5_000, () => got.slice(-2000));
    sock.destroy();
    await waitForValue(async () => (valueOf(await scrape(port), 'drover_control_streams') === 0 ? true : null), 'the stream to be released once its connection closed', 5_000, () => d.daemonStderr());
  } finally {
    sock?.destroy();
    const survivors = await d.teardown();
    assert.deepEqual(survivors, [], 'nothing survives the teardown');
  }
});
