// Bad input found by the thirty-sixth session's review: each surface names a bad value in its own terms
// (the CLI its option or argument, the JSON API its field), a JSON body's number is a JSON number, and the
// config refuses or warns about what drover cannot honour instead of passing over it in silence.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Daemon, show } from '../helpers/daemon.js';
import { runCli } from '../helpers/drover.js';
import { rawRequest } from '../helpers/xmlrpc.js';

const CONFIG = `[program:ok]
command = /bin/sleep 600
startsecs = 0
stopwaitsecs = 1
`;

let d: Daemon;

before(async () => {
  d = new Daemon(CONFIG);
  await d.up();
});

after(async () => {
  const left = await d.teardown();
  assert.deepEqual(left, [], 'no process is left behind');
});

/** One request to the JSON API on the daemon's control socket. */
async function api(method: 'GET' | 'POST', path: string, body = ''): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await rawRequest(join(d.dir, '.drover', 'drover.sock'), { method, path, headers: { 'content-type': 'application/json' }, body });
  return { status: r.status, body: JSON.parse(r.body) as Record<string, unknown> };
}

/** The queue `name`'s stats as GET /api/queue/stats answers them. */
async function queueStats(name: string): Promise<Record<string, unknown>> {
  const r = await api('GET', `/api/queue/stats?queue=${name}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const queues = r.body['queues'] as Record<string, unknown>[];
  return queues[0] ?? {};
}

test('drover queue push names its own options when a value is out of range, and never the API\'s fields', async () => {
  for (const [args, expected] of [
    [['--delay=-1'], /^drover queue: --delay must be an integer ≥ 0, got "-1"$/m],
    [['--max-attempts', '0'], /^drover queue: --max-attempts must be an integer ≥ 1, got "0"$/m],
    [['--delay', '99999999999999999999'], /^drover queue: --delay must be an integer ≥ 0, got "99999999999999999999"$/m],
  ] as const) {
    const argv = ['queue', 'push', 'q1', '1', ...args];
    const r = await d.cli(argv);
    assert.equal(r.code, 2, show(argv, r));
    assert.match(r.stderr, expected, show(argv, r));
    assert.doesNotMatch(r.output, /delayMs|maxAttempts|delay_ms|max_attempts/, show(argv, r));
  }
  assert.equal((await queueStats('q1'))['pushed'] ?? 0, 0, 'nothing was pushed');
});

test('POST /api/queue/push names delay_ms and max_attempts as the API spells them, and refuses the worker API\'s delayMs', async () => {
  for (const [body, field] of [
    ['{"queue":"q2","task":1,"delay_ms":1e300}', '"delay_ms" must be an integer ≥ 0'],
    ['{"queue":"q2","task":1,"delay_ms":-1}', '"delay_ms" must be an integer ≥ 0, got -1'],
    ['{"queue":"q2","task":1,"max_attempts":0}', '"max_attempts" must be an integer ≥ 1, got 0'],
    ['{"queue":"q2","task":1,"delayMs":60000}', 'unknown parameter "delayMs": the JSON API calls it "delay_ms"'],
    ['{"queue":"q2","task":1,"maxAttempts":1}', 'unknown parameter "maxAttempts": the JSON API calls it "max_attempts"'],
  ] as const) {
    const r = await api('POST', '/api/queue/push', body);
    assert.equal(r.status, 400, `${body} → ${JSON.stringify(r.body)}`);
    assert.equal(r.body['ok'], false);
    assert.equal(r.body['code'], 'E_BAD_REQUEST', `${body} → ${JSON.stringify(r.body)}`);
    assert.ok(String(r.body['message']).includes(field), `${body} → ${JSON.stringify(r.body)}`);
  }
  assert.equal((await queueStats('q2'))['pushed'] ?? 0, 0, 'nothing was pushed');
  // the API's own names still reach the queue
  const ok = await api('POST', '/api/queue/push', '{"queue":"q2","task":1,"delay_ms":600000,"max_attempts":2}');
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  assert.equal((await queueStats('q2'))['delayed'], 1);
});

test('drover up -d --wait --no-wait is a usage error (exit 2), as --json --wait is, and starts nothing', async () => {
  const other = new Daemon(CONFIG);
  try {
    const argv = ['up', '-d', '--wait', '--no-wait'];
    const r = await other.cli(argv);
    assert.equal(r.code, 2, show(argv, r));
    assert.match(r.stderr, /^drover up: --wait and --no-wait do not go together/m, show(argv, r));
    assert.doesNotMatch(r.output, /drover started/, show(argv, r));
  } finally {
    assert.deepEqual(await other.teardown(), [], 'no process is left behind');
  }
});

test('a JSON body\'s integer must be a JSON number and its boolean a JSON boolean (400 E_BAD_REQUEST); a query string\'s digits still count', async () => {
  for (const [path, body, message] of [
    ['/api/scale', '{"program":"ok","count":"3"}', '"count" must be an integer (a JSON number), got "3"'],
    ['/api/stop', '{"patterns":["ok"],"wait":"true"}', '"wait" must be true or false (a JSON boolean), got "true"'],
    ['/api/shutdown', '{"fast":"1"}', '"fast" must be true or false (a JSON boolean), got "1"'],
    ['/api/queue/push', '{"queue":"q3","task":1,"priority":"5"}', '"priority" must be an integer, got "5"'],
    ['/api/queue/push', '{"queue":"q3","task":1,"delay_ms":"600000"}', '"delay_ms" must be an integer ≥ 0, got "600000"'],
  ] as const) {
    const r = await api('POST', path, body);
    assert.equal(r.status, 400, `${path} ${body} → ${JSON.stringify(r.body)}`);
    assert.deepEqual(r.body, { ok: false, code: 'E_BAD_REQUEST', message }, `${path} ${body}`);
  }
  // nothing was done: ok still runs, alone, and drover did not shut down
  const procs = await d.processes();
  assert.deepEqual([...procs.keys()], ['ok:ok'], JSON.stringify([...procs]));
  assert.equal(procs.get('ok:ok')?.state, 'running');
  assert.equal((await queueStats('q3'))['pushed'] ?? 0, 0, 'nothing was pushed');
  // a query string's values are strings by nature: its numbers and booleans are still read from them
  const indented = await rawRequest(join(d.dir, '.drover', 'drover.sock'), { method: 'GET', path: '/api/processes?indent=2&patterns=ok', headers: {}, body: '' });
  assert.equal(indented.status, 200, indented.body);
  assert.match(indented.body, /^\{\n {2}"ok": true/);
  assert.equal((await api('GET', '/api/status?color=false')).status, 200);
  assert.equal((await api('GET', '/api/queue/dead?queue=q3&limit=5')).status, 200);
  // and a body's JSON numbers and booleans are taken
  const scaled = await api('POST', '/api/scale', '{"program":"ok","count":1,"wait":true}');
  assert.deepEqual(scaled, { status: 200, body: { ok: true, results: [] } });
});

test('drover scale names its argument N, not the API\'s "count", when N is out of range (exit 2)', async () => {
  for (const n of ['99999', '10001', '0', 'three']) {
    const argv = ['scale', 'ok', n];
    const r = await d.cli(argv);
    assert.equal(r.code, 2, show(argv, r));
    assert.match(r.stderr, new RegExp(`^drover scale: N must be an integer from 1 to 10000, got "${n}"$`, 'm'), show(argv, r));
    assert.doesNotMatch(r.output, /count/, show(argv, r));
  }
  assert.deepEqual([...(await d.processes()).keys()], ['ok:ok'], 'nothing was scaled');
});

test('drover up refuses a program with an empty name, [program:], with the file and line (exit 2), and starts nothing', async () => {
  const other = new Daemon('[program:]\ncommand = /bin/sleep 600\nstartsecs = 0\n');
  try {
    const argv = ['up', '-d', '--no-wait'];
    const r = await other.cli(argv);
    assert.equal(r.code, 2, show(argv, r));
    assert.ok(r.stderr.includes(`${other.file}:1: [program:] bad name in section header: the name is empty`), show(argv, r));
    assert.doesNotMatch(r.output, /drover started/, show(argv, r));
  } finally {
    assert.deepEqual(await other.teardown(), [], 'no process is left behind');
  }
});

test('an [rpcinterface:x] drover cannot load is a warning at load naming file and line (check and up); supervisor\'s standard one stays silent', async () => {
  const standard = '[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n';
  const foreign = `${standard}\n[rpcinterface:x]\nsupervisor.rpcinterface_factory = nope.mod:make\n\n[rpcinterface:y]\n\n[program:ok]\ncommand = /bin/sleep 600\nstartsecs = 0\n`;
  const other = new Daemon(foreign);
  const x = `${other.file}:5: warning: [rpcinterface:x] supervisor.rpcinterface_factory: "nope.mod:make" is a Python RPC interface, which drover cannot load: the section is ignored (drover's XML-RPC serves supervisor's standard interface, supervisor.rpcinterface:make_main_rpcinterface, only)`;
  const y = `${other.file}:7: warning: [rpcinterface:y] sets no supervisor.rpcinterface_factory: the section is ignored`;
  try {
    const plain = join(other.dir, 'standard.conf');
    writeFileSync(plain, `${standard}\n[program:a]\ncommand = /bin/true\n`);
    const ok = await runCli(['check', '-c', plain], { cwd: other.dir });
    assert.equal(ok.code, 0, ok.output);
    assert.equal(ok.stderr, '', ok.output);
    assert.match(ok.stdout, /1 process in 1 group; config OK\n$/, ok.output);

    const check = await other.cli(['check']);
    assert.equal(check.code, 0, show(['check'], check));
    const lines = check.stderr.split('\n').filter((l) => l !== '');
    assert.equal(lines.length, 2, show(['check'], check));
    assert.equal(lines[0], x, show(['check'], check));
    assert.ok(lines[1]?.startsWith(y), show(['check'], check));
    assert.match(check.stdout, /config read, but 2 sections are ignored: \[rpcinterface:x\], \[rpcinterface:y\]/, show(['check'], check));
    const up = await other.cli(['up', '-d', '--no-wait']);
    assert.equal(up.code, 0, show(['up'], up));
    assert.ok(up.stderr.includes(x), show(['up'], up));
    assert.doesNotMatch(up.stderr, /rpcinterface:supervisor/, show(['up'], up));
  } finally {
    assert.deepEqual(await other.teardown(), [], 'no process is left behind');
  }
});
