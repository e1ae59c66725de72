// Issue 16: status answers are built from what is kept between requests — CPU and memory read from /proc at
// most once a second per process, each process's JSON and XML-RPC text kept until its record changes — and
// the CLI reads them over a plain socket. These tests show the answers stay exact: a state change shows at
// once, CPU% is measured from /proc, getAllProcessInfo is the getProcessInfo of every process encoded as the
// codec encodes it, and the CLI's HTTP reading copes with every framing a server may use.
import assert from 'node:assert/strict';
import { createServer as createNetServer, type Server as NetServer } from 'node:net';
import { createServer, type Server } from 'node:http';
import { mkdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseServerUrl, requestJson } from '../../src/control/client.js';
import { decodeMethodResponse, encodeMethodCall, encodeResponse, type XmlRpcValue } from '../../src/control/xmlrpc/codec.js';
import { statusText } from '../../src/control/status-text.js';
import { ProcessesJson, StatusJson, type ProcessJson } from '../../src/control/wire.js';
import { Daemon, show } from '../helpers/daemon.js';
import { makeTmpDir, runCli, statFields, waitForAsync, waitForCondition } from '../helpers/drover.js';
import { rawRequest } from '../helpers/xmlrpc.js';

const CONFIG = `[program:burn]
command = sh -c 'while :; do :; done'
startsecs = 0

[program:sleepy]
command = sleep 1000
startsecs = 0

[program:done]
command = true
startsecs = 0
autorestart = false

[program:idle]
command = sleep 1000
autostart = false

[program:bad]
command = /bin/true
directory = %(here)s/nonexistent
startretries = 0
autostart = false

[program:slow]
command = sleep 1000
startsecs = 1

[program:w]
command = sleep 1000
process_name = %(program_name)s_%(process_num)02d
numprocs = 3
startsecs = 0
`;

interface Proc {
  name: string;
  state: string;
  pid: number | null;
  cpu_percent: number | null;
  rss_bytes: number | null;
}

async function processes(d: Daemon): Promise<Map<string, Proc>> {
  const r = await rawRequest(socketOf(d), { method: 'GET', path: '/api/processes' });
  assert.equal(r.status, 200, r.body);
  const body: unknown = JSON.parse(r.body);
  assert.ok(ProcessesJson.is(body), ProcessesJson.problem(body) ?? '');
  return new Map((body as unknown as { processes: Proc[] }).processes.map((p) => [p.name, p]));
}

function socketOf(d: Daemon): string {
  return join(d.dir, '.drover', 'drover.sock');
}

/** utime + stime and rss pages of a process, straight from /proc. */
function procStat(pid: number): { ticks: number; rssPages: number } {
  const f = statFields(pid) ?? [];
  return { ticks: Number(f[11]) + Number(f[12]), rssPages: Number(f[21]) };
}

test('status shows a state change at once, and CPU and memory as /proc has them', async () => {
  const d = new Daemon(CONFIG);
  mkdirSync(join(d.dir, 'nonexistent'));
  try {
    await d.up();
    let procs = await processes(d);
    const sleepy = procs.get('sleepy:sleepy');
    assert.equal(sleepy?.state, 'running', JSON.stringify([...procs.values()]));
    assert.ok(sleepy.pid !== null);
    d.seen.add(sleepy.pid);
    assert.equal(sleepy.rss_bytes, procStat(sleepy.pid).rssPages * 4096, 'a sleeping process keeps its resident size');
    assert.equal(procs.get('done:done')?.state, 'exited');
    assert.equal(procs.get('idle:idle')?.state, 'stopped');

    // the views are kept per process record: a command's change is in the very next answer
    const r = await d.cli(['stop', 'sleepy']);
    assert.equal(r.code, 0, show(['stop', 'sleepy'], r));
    procs = await processes(d);
    assert.deepEqual([procs.get('sleepy:sleepy')?.state, procs.get('sleepy:sleepy')?.pid], ['stopped', null]);
    assert.equal((await d.cli(['start', 'idle'])).code, 0);
    procs = await processes(d);
    const idle = procs.get('idle:idle');
    assert.equal(idle?.state, 'running');
    assert.ok(idle.pid !== null && idle.rss_bytes !== null && idle.rss_bytes > 0, `a process started a moment ago has figures: ${JSON.stringify(idle)}`);
    d.seen.add(idle.pid);

    // starting → running keeps the pid (and often the figures): the state alone must move the answer
    const states = new Map<string, string>();
    let polling = true;
    const poller = (async () => {
      while (polling) {
        for (const [k, p] of await processes(d)) states.set(k, p.state);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    assert.equal((await d.cli(['restart', 'slow', '--no-wait'])).code, 0);
    await waitForCondition(() => states.get('slow:slow') === 'starting', 'slow to be starting', { timeoutMs: 5000, describe: () => JSON.stringify([...states]) });
    await waitForCondition(() => states.get('slow:slow') === 'running', 'slow to be running', { timeoutMs: 5000, describe: () => JSON.stringify([...states]) }).finally(() => {
      polling = false;
    });
    await poller;

    // CPU% over the last second: the busy loop is measured from /proc, the sleeper does not move
    const burn = procs.get('burn:burn');
    assert.ok(burn?.pid);
    d.seen.add(burn.pid);
    const t0 = procStat(burn.pid).ticks;
    let last: Proc | undefined;
    await waitForCondition(
      () => procStat(burn.pid as number).ticks - t0 >= 50, // it ran half a second since
      'the busy loop to use CPU',
      { timeoutMs: 20_000 },
    );
    // readings are at most a second old: within a few seconds the percentage reflects the loop
    await waitForAsync(
      async () => {
        last = (await processes(d)).get('burn:burn');
        return (last?.cpu_percent ?? 0) >= 5;
      },
      'the busy loop to show its CPU',
      { timeoutMs: 5000, describe: () => JSON.stringify(last) },
    );
    assert.equal((await processes(d)).get('w:w_01')?.cpu_percent, 0, 'a sleeper uses none');
  } finally {
    assert.deepEqual(await d.teardown(), []);
  }
});

test('getAllProcessInfo is every process\'s getProcessInfo, encoded as the codec encodes a value', async () => {
  const d = new Daemon(CONFIG);
  mkdirSync(join(d.dir, 'nonexistent'));
  try {
    await d.up();
    await d.cli(['stop', 'sleepy']);
    await startBad(d); // fails: fatal, with a spawn error
    for (let attempt = 0; ; attempt++) {
      const all = await rawRequest(socketOf(d), { body: encodeMethodCall('supervisor.getAllProcessInfo', []) });
      assert.equal(all.status, 200);
      const decoded = decodeMethodResponse(all.body);
      assert.equal(decoded.type, 'result', all.body.slice(0, 500));
      if (decoded.type !== 'result') return;
      assert.equal(all.body, encodeResponse(decoded.value), 'the kept parts make the same text as encoding the value');
      const infos = decoded.value as Record<string, XmlRpcValue>[];
      assert.deepEqual(infos.map((i) => `${String(i['group'])}:${String(i['name'])}`), ['bad:bad', 'burn:burn', 'done:done', 'idle:idle', 'sleepy:sleepy', 'slow:slow', 'w:w_00', 'w:w_01', 'w:w_02']);
      const one: Record<string, XmlRpcValue>[] = [];
      for (const i of infos) {
        const r = await rawRequest(socketOf(d), { body: encodeMethodCall('supervisor.getProcessInfo', [`${String(i['group'])}:${String(i['name'])}`]) });
        const v = decodeMethodResponse(r.body);
        assert.equal(v.type, 'result', r.body);
        if (v.type === 'result') one.push(v.value as Record<string, XmlRpcValue>);
      }
      // `now` and the uptime in a description move with the clock: compare within one second
      if (one.some((o, n) => o['now'] !== infos[n]?.['now']) && attempt < 5) continue;
      assert.deepEqual(infos, one);
      assert.equal(all.body, encodeResponse(one), 'member for member in getProcessInfo\'s order');
      assert.match(String(infos[1]?.['description']), /^pid \d+, uptime 0:00:\d\d$/);
      break;
    }
  } finally {
    assert.deepEqual(await d.teardown(), []);
  }
});

/** A server on a unix socket that answers every connection with `raw` and closes. */
async function rawServer(raw: string): Promise<{ path: string; server: NetServer }> {
  const path = join(makeTmpDir('drover-raw-'), 's.sock');
  const server = createNetServer((sock) => {
    sock.once('data', () => sock.end(raw));
    sock.on('error', () => undefined); // the client may close first
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return { path, server };
}

test('the CLI reads Content-Length, chunked and close-delimited answers, and refuses what is not HTTP', async () => {
  const body = JSON.stringify({ ok: true, text: 'é✓'.repeat(50_000) });
  const servers: (Server | NetServer)[] = [];
  try {
    // node's own server writing in pieces: chunked
    const path = join(makeTmpDir('drover-chunked-'), 's.sock');
    const http = createServer((req, res) => {
      assert.equal(req.headers['host'], 'localhost');
      assert.equal(req.headers['authorization'], `Basic ${Buffer.from('u:p w').toString('base64')}`);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(body.slice(0, 1000));
      res.end(body.slice(1000));
    });
    servers.push(http);
    await new Promise<void>((resolve) => http.listen(path, resolve));
    let got = await requestJson(parseServerUrl(`unix://${path}`, { username: 'u', password: 'p w' }), 'GET', '/x');
    assert.deepEqual(got, { status: 200, body: JSON.parse(body) });

    const bytes = Buffer.byteLength(body);
    const cases: [string, string | null][] = [
      [`HTTP/1.1 200 OK\r\nContent-Length: ${bytes}\r\nConnection: close\r\n\r\n${body}`, null],
      [`HTTP/1.0 404 Not Found\r\ncontent-type: application/json\r\n\r\n${JSON.stringify({ ok: false, code: 'E_X' })}`, null],
      [`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"ok"\r\n6;ext=1\r\n:true}\r\n0\r\n\r\n`, null],
      [`HTTP/1.1 200 OK\r\nContent-Length: ${bytes + 10}\r\n\r\n${body}`, 'ended after'],
      [`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nff\r\n{"ok"`, 'cut short'],
      ['SSH-2.0-OpenSSH_9.2\r\n', 'not HTTP'],
      [`HTTP/1.1 200 OK\r\n\r\n<html></html>`, 'not JSON'],
    ];
    for (const [raw, refusal] of cases) {
      const s = await rawServer(raw);
      servers.push(s.server);
      const ep = parseServerUrl(`unix://${s.path}`);
      if (refusal === null) {
        got = await requestJson(ep, 'POST', '/x', { a: 1 });
        assert.equal(got.body['ok'] !== undefined, true, raw.slice(0, 60));
      } else {
        await assert.rejects(requestJson(ep, 'GET', '/x'), new RegExp(refusal), raw.slice(0, 60));
      }
    }
    await assert.rejects(requestJson(parseServerUrl(`unix://${join(makeTmpDir('drover-none-'), 'none.sock')}`), 'GET', '/x'), { code: 'E_NOT_RUNNING' });
  } finally {
    for (const s of servers) s.close();
  }
});

test('status --json prints drover\'s indented answer as it comes, with the exit code from its header; an answer without the header is read and checked', async () => {
  const d = new Daemon(CONFIG);
  mkdirSync(join(d.dir, 'nonexistent'));
  const servers: NetServer[] = [];
  try {
    await d.up();
    let r = await d.cli(['status', '--json']);
    assert.equal(r.code, 3, `idle is stopped: exit 3\n${show(['status', '--json'], r)}`);
    const answer: unknown = JSON.parse(r.stdout);
    assert.ok(ProcessesJson.is(answer), ProcessesJson.problem(answer) ?? '');
    assert.equal(r.stdout, `${JSON.stringify(answer, null, 2)}\n`, 'indented as JSON.stringify(answer, null, 2) writes it');
    r = await d.cli(['status', '--json', 'sleepy', 'burn']);
    assert.equal(r.code, 0, show(['status', '--json', 'sleepy', 'burn'], r));
    assert.deepEqual((JSON.parse(r.stdout) as { processes: Proc[] }).processes.map((p) => p.name), ['burn:burn', 'sleepy:sleepy']);
    r = await d.cli(['status', '--json', 'nosuch']);
    assert.equal(r.code, 1, show(['status', '--json', 'nosuch'], r));
    assert.match(r.stderr, /no such process or group: nosuch/);
    const bad = await rawRequest(socketOf(d), { method: 'GET', path: '/api/processes?indent=11' });
    assert.equal(bad.status, 400, bad.body);

    // a drover from before the header answers compact JSON: the CLI parses, checks and indents it
    const procs = (answer as unknown as { processes: Proc[] }).processes;
    for (const [list, code] of [[procs, 3], [procs.filter((p) => p.state === 'running'), 0]] as const) {
      const body = JSON.stringify({ ok: true, processes: list });
      const s = await rawServer(`HTTP/1.1 200 OK\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      servers.push(s.server);
      const got = await runCli(['status', '--json', '-s', `unix://${s.path}`]);
      assert.equal(got.code, code, `${got.output}`);
      assert.equal(got.stdout, `${JSON.stringify({ ok: true, processes: list }, null, 2)}\n`);
    }
    const odd = '{"ok":true,"processes":[1]}';
    const s = await rawServer(`HTTP/1.1 200 OK\r\nContent-Length: ${odd.length}\r\n\r\n${odd}`);
    servers.push(s.server);
    const got = await runCli(['status', '--json', '-s', `unix://${s.path}`]);
    assert.notEqual(got.code, 0, got.output);
    assert.match(got.stderr, /not what this client reads/);
  } finally {
    for (const s of servers) s.close();
    assert.deepEqual(await d.teardown(), []);
  }
});

/** A server on a unix socket that answers each request by `answer(path)`: [status, JSON body]; it records the paths. */
async function routedServer(answer: (path: string) => [number, unknown]): Promise<{ path: string; server: Server; asked: string[] }> {
  const path = join(makeTmpDir('drover-routed-'), 's.sock');
  const asked: string[] = [];
  const server = createServer((req, res) => {
    asked.push(req.url ?? '');
    const [status, body] = answer(req.url ?? '');
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return { path, server, asked };
}

/**
 * Makes `bad` fatal with a spawn error. A missing command would not do: a start asked for checks the command
 * first and changes nothing when it is missing (as supervisord). Its directory, there when the config was
 * loaded, is removed before the start, so the spawn itself fails.
 */
async function startBad(d: Daemon): Promise<void> {
  rmdirSync(join(d.dir, 'nonexistent'));
  const r = await d.cli(['start', 'bad']);
  assert.match(r.output, /bad: ERROR E_SPAWN \(directory .*nonexistent does not exist/, r.output);
}

async function statusAnswer(d: Daemon, query = ''): Promise<StatusJson> {
  const r = await rawRequest(socketOf(d), { method: 'GET', path: `/api/status${query}` });
  assert.equal(r.status, 200, r.body);
  const body: unknown = JSON.parse(r.body);
  assert.ok(StatusJson.is(body), StatusJson.problem(body) ?? '');
  return body;
}

test('status prints the table drover writes, with the exit code drover counts; a drover without /api/status gets the same table written by the CLI', async () => {
  const d = new Daemon(CONFIG);
  mkdirSync(join(d.dir, 'nonexistent'));
  const servers: Server[] = [];
  try {
    await d.up();
    await startBad(d); // fatal, with a spawn error in the last column
    let r = await d.cli(['status']);
    assert.equal(r.code, 3, `idle is stopped: exit 3\n${show(['status'], r)}`);
    const lines = r.stdout.split('\n');
    assert.match(lines[0] ?? '', /^NAME {2,}STATE {2,}PID {2,}UPTIME {2,}RESTARTS {2,}CPU% {2,}RSS$/, r.stdout);
    assert.deepEqual(lines.slice(1, -1).map((l) => l.split(' ')[0]), ['bad', 'burn', 'done', 'idle', 'sleepy', 'slow', 'w:w_00', 'w:w_01', 'w:w_02'], r.stdout);
    assert.match(r.stdout, /^bad +fatal +- +- +0 +- +- +.*nonexistent/m, r.stdout);
    r = await d.cli(['status', 'sleepy', 'burn']);
    assert.equal(r.code, 0, show(['status', 'sleepy', 'burn'], r));
    assert.deepEqual(r.stdout.split('\n').slice(1, -1).map((l) => l.split(' ')[0]), ['burn', 'sleepy']);
    r = await d.cli(['status', 'nosuch']);
    assert.equal(r.code, 1, show(['status', 'nosuch'], r));
    assert.match(r.stderr, /no such process or group: nosuch/);
    const bad = await rawRequest(socketOf(d), { method: 'GET', path: '/api/status?color=yes' });
    assert.equal(bad.status, 400, bad.body);

    // drover's table is the CLI's table of the same records: compared when nothing moved between two
    // answers around the records (uptimes and CPU move with the clock)
    let records: ProcessJson[] = [];
    for (let attempt = 0; ; attempt++) {
      const before = await statusAnswer(d);
      const got = await rawRequest(socketOf(d), { method: 'GET', path: '/api/processes' });
      records = (JSON.parse(got.body) as { processes: ProcessJson[] }).processes;
      const after = await statusAnswer(d);
      if (before.text !== after.text && attempt < 10) continue;
      assert.equal(before.text, statusText(records, false));
      assert.equal(before.not_running, records.filter((p) => ['stopped', 'exited', 'fatal', 'backoff'].includes(p.state)).length);
      break;
    }
    // colour changes no column: the coloured table, stripped, is the plain one, compared when the plain
    // answers on either side of it agree (an uptime can tick between two answers)
    for (let attempt = 0; ; attempt++) {
      const before = await statusAnswer(d);
      const colored = await statusAnswer(d, '?color=1');
      const after = await statusAnswer(d);
      assert.match(colored.text, /\x1b\[32mrunning\x1b\[0m/);
      if (before.text !== after.text && attempt < 10) continue;
      assert.equal(colored.text.replace(/\x1b\[[0-9;]*m/g, ''), before.text, 'colour changes no column');
      break;
    }

    // a drover from before /api/status answers 404 E_NOT_FOUND: the CLI asks for the records and writes the table
    const old = await routedServer((path) =>
      path.startsWith('/api/status') ? [404, { ok: false, code: 'E_NOT_FOUND', message: 'no such endpoint: /api/status' }] : [200, { ok: true, processes: records }],
    );
    servers.push(old.server);
    let got = await runCli(['status', '-s', `unix://${old.path}`]);
    assert.equal(got.code, 3, got.output);
    assert.equal(got.stdout, statusText(records, false));
    assert.deepEqual(old.asked, ['/api/status', '/api/processes']);
    // an unknown name is a 404 too, but not "no such endpoint": said, not taken for an old drover
    const named = await routedServer(() => [404, { ok: false, code: 'E_BAD_NAME', message: 'no such process or group: x' }]);
    servers.push(named.server);
    got = await runCli(['status', 'x', '-s', `unix://${named.path}`]);
    assert.equal(got.code, 1, got.output);
    assert.match(got.stderr, /no such process or group: x/);
    assert.deepEqual(named.asked, ['/api/status?patterns=x']);
    // what drover writes is printed as it is, and its count decides the exit code
    for (const [notRunning, code] of [[0, 0], [2, 3]] as const) {
      const fresh = await routedServer(() => [200, { ok: true, text: 'as drover wrote it\n', not_running: notRunning }]);
      servers.push(fresh.server);
      got = await runCli(['status', '-s', `unix://${fresh.path}`]);
      assert.deepEqual([got.code, got.stdout], [code, 'as drover wrote it\n'], got.output);
    }
  } finally {
    for (const s of servers) s.close();
    assert.deepEqual(await d.teardown(), []);
  }
});
