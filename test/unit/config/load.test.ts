import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigProblems, findConfigFile, loadConfig } from '../../../src/config/load.js';

// loadConfig reads files, but nothing here spawns or signals: it is the pure resolution step.
const dir = mkdtempSync(join(tmpdir(), 'drover-load-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function load(name: string, text: string, env: Record<string, string> = {}) {
  const file = join(dir, name);
  writeFileSync(file, text);
  return loadConfig(file, { env, hostname: 'box' });
}

test('numprocs expands names and numbers per process, sorted as supervisor sorts', () => {
  const c = load('a.ini', '[program:w]\ncommand=run %(process_num)d of %(numprocs)d on %(host_node_name)s\nnumprocs=11\nprocess_name=w%(process_num)d\n');
  assert.deepEqual(c.processes.map((p) => p.name).slice(0, 4), ['w0', 'w1', 'w10', 'w2']);
  assert.equal(c.processes[0]?.command, 'run 0 of 11 on box');
  assert.deepEqual(c.processes[0]?.argv, ['run', '0', 'of', '11', 'on', 'box']);
});

test('ready and healthcheck expand per process: with numprocs each may probe its own port', () => {
  const c = load('ready-num.ini', '[program:web]\ncommand=serve 187%(process_num)02d\nprocess_name=web_%(process_num)d\nnumprocs=2\nready=tcp://127.0.0.1:187%(process_num)02d\nhealthcheck=http://127.0.0.1:187%(process_num)02d/health\n');
  assert.deepEqual(
    c.processes.map((p) => [p.name, p.ready, p.healthcheck, p.readiness]),
    [
      ['web_0', { type: 'tcp', host: '127.0.0.1', port: 18700 }, { type: 'http', url: 'http://127.0.0.1:18700/health', status: null }, 'reported'],
      ['web_1', { type: 'tcp', host: '127.0.0.1', port: 18701 }, { type: 'http', url: 'http://127.0.0.1:18701/health', status: null }, 'reported'],
    ],
  );
});

test('drover additions have defaults that keep supervisor behaviour', () => {
  const c = load('b.ini', '[drover]\n[program:x]\ncommand=/bin/true\n');
  const p = c.processes[0];
  assert.equal(p?.backoff, 'linear');
  assert.equal(p?.backoffMaxSecs, 60);
  assert.equal(p?.fatalCooldownSecs, null);
  assert.equal(p?.pdeathsig, true);
  assert.equal(c.supervisord.runtimeDir, join(dir, '.drover'));
});

test('drover additions parse durations', () => {
  const c = load('c.ini', '[program:x]\ncommand=/bin/true\nbackoff=exponential\nbackoff_max=5m\nfatal_cooldown=500ms\npdeathsig=false\npidfile=/run/x.pid\n');
  const p = c.processes[0];
  assert.equal(p?.backoff, 'exponential');
  assert.equal(p?.backoffMaxSecs, 300);
  assert.equal(p?.fatalCooldownSecs, 0.5);
  assert.equal(p?.pdeathsig, false);
  assert.equal(p?.pidfile, '/run/x.pid');
});

test('journal_fsync: false by default, a boolean when set, a warning without a journal', () => {
  assert.equal(load('j1.ini', '[drover]\njournal = q.journal\n').supervisord.journalFsync, false);
  const on = load('j2.ini', '[supervisord]\njournal = q.journal\njournal_fsync = true\n');
  assert.equal(on.supervisord.journalFsync, true);
  assert.equal(on.supervisord.journal, join(dir, 'q.journal'));
  assert.deepEqual(on.warnings, []);
  assert.equal(load('j3.ini', '[drover]\njournal = q.journal\njournal_fsync = off\n').supervisord.journalFsync, false);
  try {
    load('j4.ini', '[drover]\njournal = q.journal\njournal_fsync = always\n');
    assert.fail('expected ConfigProblems');
  } catch (e) {
    assert.ok(e instanceof ConfigProblems);
    assert.deepEqual(e.problems.map((p) => [p.section, p.key]), [['drover', 'journal_fsync']]);
  }
  const alone = load('j5.ini', '[drover]\njournal_fsync = true\n');
  assert.equal(alone.supervisord.journal, null);
  assert.match(alone.warnings.map((w) => `${w.key}: ${w.message}`).join('\n'), /^journal_fsync: has no effect without journal/);
});

test('shared_backend: memory by default; Redis URLs checked; not with a journal', () => {
  const d = load('s1.ini', '[drover]\n');
  assert.deepEqual([d.supervisord.sharedBackend, d.supervisord.sharedPrefix, d.supervisord.sharedLivenessMs], ['memory', 'drover', 10_000]);
  for (const url of ['redis://127.0.0.1:6379/2', 'rediss://u:p%%40ss@cache.example:6380', 'redis://[::1]', 'unix:/run/redis/redis.sock?db=3']) {
    // a percent sign is written %% in the file, as everywhere in supervisor's format
    assert.equal(load('s2.ini', `[supervisord]\nshared_backend = ${url}\nshared_prefix = app\nshared_liveness = 3s\n`).supervisord.sharedBackend, url.replace('%%', '%'));
  }
  const r = load('s3.ini', '[drover]\nshared_backend = redis://h\nshared_liveness = 1500ms\n');
  assert.equal(r.supervisord.sharedLivenessMs, 1500);
  const bad: [string, string][] = [
    ['shared_backend = mysql://h/1', 'shared_backend'],
    ['shared_backend = redis://h/x', 'shared_backend'],
    ['shared_backend = unix:relative.sock', 'shared_backend'],
    ['shared_backend = localhost:6379', 'shared_backend'],
    ['shared_prefix =', 'shared_prefix'],
    ['shared_liveness = 10ms', 'shared_liveness'],
    ['shared_backend = redis://h\njournal = q.journal', 'journal'],
  ];
  for (const [line, key] of bad) {
    try {
      load('s4.ini', `[drover]\n${line}\n`);
      assert.fail(`expected ConfigProblems for ${line}`);
    } catch (e) {
      assert.ok(e instanceof ConfigProblems, String(e));
      assert.deepEqual(e.problems.map((p) => [p.section, p.key]), [['drover', key]], line);
      assert.ok(e.problems[0]?.expected, `${line}: says what was expected`);
    }
  }
});

test('all problems are collected', () => {
  try {
    load('d.ini', '[program:x]\ncommand=/bin/true\npriority=a\nautostart=b\n');
    assert.fail('expected ConfigProblems');
  } catch (e) {
    assert.ok(e instanceof ConfigProblems);
    assert.deepEqual(e.problems.map((p) => p.key), ['priority', 'autostart']);
  }
});

test('unknown keys warn with the nearest known key', () => {
  const c = load('e.ini', '[program:x]\ncommand=/bin/true\nautostrat=true\n');
  assert.match(c.warnings[0]?.message ?? '', /did you mean "autostart"/);
});

test('an eventlistener is a pool of its own, first by default, with its events, buffer_size and supervisor priority', () => {
  const c = load('f.ini', '[eventlistener:l]\ncommand=/bin/true\nevents=tick_5, PROCESS_STATE,TICK_5\n[program:x]\ncommand=/bin/true\n');
  assert.deepEqual(c.processes.map((p) => [p.group, p.name, p.priority]), [['l', 'l', -1], ['x', 'x', 999]]);
  assert.deepEqual(c.groups.map((g) => [g.name, g.priority]), [['l', -1], ['x', 999]]);
  assert.deepEqual(c.processes[0]?.eventListener, { events: ['PROCESS_STATE', 'TICK_5'], bufferSize: 10, processPriority: 999 });
  assert.equal(c.processes[1]?.eventListener, null);
  assert.ok(!c.warnings.some((w) => /eventlistener/.test(w.message)), JSON.stringify(c.warnings));
});

test('an eventlistener without events, with an unknown event, redirect_stderr or another result_handler is refused', () => {
  try {
    load('g.ini', '[eventlistener:a]\ncommand=/bin/cat\n[eventlistener:b]\ncommand=/bin/cat\nevents=PROCES_STATE\n[eventlistener:c]\ncommand=/bin/cat\nevents=TICK_5\nresult_handler=superlance.x:h\nbuffer_size=0\nredirect_stderr=true\n');
    assert.fail('expected ConfigProblems');
  } catch (e) {
    assert.ok(e instanceof ConfigProblems);
    const got = e.problems.map((p) => `${p.line} ${p.section} ${p.key ?? ''}`).sort();
    assert.deepEqual(got, ['1 eventlistener:a events', '10 eventlistener:c buffer_size', '11 eventlistener:c redirect_stderr', '5 eventlistener:b events', '9 eventlistener:c result_handler']);
    assert.match(e.message, /did you mean PROCESS_STATE\?/);
  }
  // the default written with spaces around the colon is still the default, as supervisor reads it
  const spaced = load('h.ini', '[eventlistener:d]\ncommand=/bin/cat\nevents=TICK_5\nresult_handler = supervisor.dispatchers : default_handler\n');
  assert.equal(spaced.processes[0]?.eventListener?.events[0], 'TICK_5');
});

test('an unknown section is marked ignored; supervisor plugin sections are not', () => {
  const c = load('ign.ini', '[programs:x]\ncommand=/bin/true\n[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n');
  assert.deepEqual(c.warnings.filter((w) => w.sectionIgnored).map((w) => w.section), ['programs:x']);
});

test('an fcgi-program is a group of its own whose processes share one socket, with supervisor defaults', () => {
  const c = load('fcgi1.ini', '[fcgi-program:php]\ncommand=/usr/bin/php-cgi\nsocket=unix:///run//x/../%(program_name)s.sock\nnumprocs=2\nprocess_name=%(program_name)s_%(process_num)d\n[fcgi-program:api]\ncommand=/bin/api\nsocket=tcp://LOCALHOST:09000\npriority=5\n');
  assert.deepEqual(c.groups.map((g) => g.name), ['api', 'php']);
  assert.deepEqual(c.processes.map((p) => `${p.group}:${p.name}`), ['api:api', 'php:php_0', 'php:php_1']);
  const [api, php] = [c.processes[0], c.processes[1]];
  assert.deepEqual(api?.fcgiSocket, { url: 'tcp://localhost:9000', bind: { kind: 'tcp', host: 'localhost', port: 9000 }, backlog: null, mode: null, owner: null });
  assert.deepEqual(php?.fcgiSocket, { url: 'unix:///run/php.sock', bind: { kind: 'unix', path: '/run/php.sock' }, backlog: null, mode: 0o700, owner: null });
  assert.equal(c.warnings.length, 0, JSON.stringify(c.warnings));
});

test('an fcgi-program named in a [group:x] is a plain member without a socket, as in supervisor, with a warning', () => {
  const c = load('fcgi2.ini', '[group:site]\nprograms=php\n[fcgi-program:php]\ncommand=/usr/bin/php-cgi\nsocket=tcp://127.0.0.1:9000\n');
  assert.deepEqual(c.processes.map((p) => [p.group, p.name, p.fcgiSocket]), [['site', 'php', null]]);
  assert.ok(c.warnings.some((w) => w.section === 'group:site' && /without its socket/.test(w.message)));
});

test('a redirected stderr gets no warning about an AUTO log without rotation (it has no file)', () => {
  const c = load('redir.ini', '[program:x]\ncommand=/bin/true\nredirect_stderr=true\nstderr_logfile_maxbytes=0\nstdout_logfile_maxbytes=0\n');
  assert.deepEqual(c.warnings.map((w) => w.key), ['stdout_logfile']);
});

test('findConfigFile looks for drover.ini, drover.conf, supervisord.conf in that order', () => {
  const d = mkdtempSync(join(dir, 'find-'));
  assert.equal(findConfigFile(d), null);
  writeFileSync(join(d, 'supervisord.conf'), '');
  assert.equal(findConfigFile(d), join(d, 'supervisord.conf'));
  writeFileSync(join(d, 'drover.conf'), '');
  assert.equal(findConfigFile(d), join(d, 'drover.conf'));
  writeFileSync(join(d, 'drover.ini'), '');
  assert.equal(findConfigFile(d), join(d, 'drover.ini'));
});

// worker modules must exist for a `worker =` program to load
for (const m of ['app.mjs', 'a.mjs', 'b.mjs']) writeFileSync(join(dir, m), 'export default () => undefined;\n');

test('reuse_port and spare_workers: off by default, read when set', () => {
  const off = load('rp0.ini', '[socket:web]\nbind = 127.0.0.1:8000\n[program:web]\nworker = app.mjs\nsockets = web\n');
  assert.equal(off.sockets[0]?.reusePort, false);
  assert.equal(off.processes[0]?.spareWorkers, 0);
  const on = load('rp1.ini', '[socket:web]\nbind = 127.0.0.1:8000\nreuse_port = true\n[program:web]\nworker = app.mjs\nsockets = web\nspare_workers = 2\n');
  assert.equal(on.sockets[0]?.reusePort, true);
  assert.equal(on.processes[0]?.spareWorkers, 2);
});

/** The problems of a config that must not load, as [section, key, line]. */
function problemsOf(name: string, text: string): [string, string | null, number][] {
  try {
    load(name, text);
  } catch (e) {
    assert.ok(e instanceof ConfigProblems, String(e));
    return e.problems.map((p) => [p.section, p.key, p.line]);
  }
  return assert.fail('expected ConfigProblems');
}

test('a unix socket path over 107 bytes is refused, naming the line: Node 20 and 22 would listen on a shorter path', () => {
  const long = `/tmp/${'d'.repeat(100)}/x.sock`; // 112 bytes
  assert.deepEqual(problemsOf('us1.ini', `[unix_http_server]\nfile = ${long}\n`), [['unix_http_server', 'file', 2]]);
  assert.deepEqual(problemsOf('us2.ini', `[socket:u]\nbind = unix:${long}\n`), [['socket:u', 'bind', 2]]);
  assert.deepEqual(problemsOf('us3.ini', `[fcgi-program:f]\ncommand = /bin/true\nsocket = unix://${long}\n`), [['fcgi-program:f', 'socket', 3]]);
  // bytes, not characters: 65 two-byte letters
  assert.deepEqual(problemsOf('us4.ini', `[unix_http_server]\nfile = /tmp/${'é'.repeat(65)}\n`), [['unix_http_server', 'file', 2]]);
  // a relative path counts once resolved against the config's directory
  const rel = 'r'.repeat(108 - dir.length);
  assert.deepEqual(problemsOf('us5.ini', `[unix_http_server]\nfile = ${rel}\n`), [['unix_http_server', 'file', 2]]);
  const max = `/tmp/${'e'.repeat(102)}`; // exactly 107 bytes
  const c = load('us6.ini', `[unix_http_server]\nfile = ${max}\n[socket:u]\nbind = unix:${max}\n`);
  assert.equal(c.unixHttpServer?.file, max);
  assert.throws(() => load('us7.ini', `[unix_http_server]\nfile = ${long}\n`), /us7\.ini:2.*at most 107 bytes, and this one is 112/s);
});

test('a control socket in a directory that does not exist is refused at its line, as up refuses it; the runtime directory, which up creates, is not', () => {
  const missing = join(dir, 'no-such-dir');
  assert.deepEqual(problemsOf('sd1.ini', `[supervisord]\n[unix_http_server]\nfile = ${missing}/x.sock\n`), [['unix_http_server', 'file', 3]]);
  assert.throws(() => load('sd2.ini', `[unix_http_server]\nfile = ${missing}/x.sock\n`), (e: unknown) => {
    assert.ok(e instanceof ConfigProblems);
    assert.equal(e.problems[0]?.got, `${missing}/x.sock`);
    assert.match(e.problems[0]?.message ?? '', new RegExp(`its directory ${missing} does not exist`));
    assert.match(e.problems[0]?.expected ?? '', /a path in an existing directory/);
    return true;
  });
  // in the runtime directory, or in one up creates on the way to it: neither exists yet, both will
  const c = load('sd3.ini', `[supervisord]\nruntime_dir = ${missing}/run\n[unix_http_server]\nfile = ${missing}/run/x.sock\n`);
  assert.equal(c.unixHttpServer?.file, `${missing}/run/x.sock`);
  load('sd4.ini', `[supervisord]\nruntime_dir = ${missing}/run/deeper\n[unix_http_server]\nfile = ${missing}/x.sock\n`);
  load('sd5.ini', `[unix_http_server]\nfile = %(here)s/.drover/x.sock\n`);
  // a sibling of the runtime directory is not made
  assert.deepEqual(problemsOf('sd6.ini', `[supervisord]\nruntime_dir = ${missing}/run\n[unix_http_server]\nfile = ${missing}/other/x.sock\n`), [['unix_http_server', 'file', 4]]);
});

test('reuse_port: refused on a unix socket and an inherited fd, naming the line', () => {
  assert.deepEqual(problemsOf('rp2.ini', '[socket:u]\nbind = unix:/run/x.sock\nreuse_port = true\n'), [['socket:u', 'reuse_port', 3]]);
  assert.deepEqual(problemsOf('rp3.ini', '[socket:f]\nbind = fd://3\nreuse_port = yes\n'), [['socket:f', 'reuse_port', 3]]);
});

test('reuse_port: a balanced socket belongs to one worker program; a command program or a second pool is refused', () => {
  const base = '[socket:web]\nbind = 127.0.0.1:0\nreuse_port = true\n';
  assert.deepEqual(problemsOf('rp4.ini', `${base}[program:py]\ncommand = /usr/bin/python3 s.py\nsockets = web\n`), [['socket:web', 'reuse_port', 3]]);
  assert.deepEqual(problemsOf('rp5.ini', `${base}[program:a]\nworker = a.mjs\nsockets = web\n[program:b]\nworker = b.mjs\nsockets = web\n`), [['socket:web', 'reuse_port', 3]]);
  try {
    load('rp6.ini', `${base}[program:py]\ncommand = /usr/bin/python3 s.py\nsockets = web\n`);
  } catch (e) {
    assert.ok(e instanceof ConfigProblems);
    assert.match(e.problems[0]?.message ?? '', /command program\(s\) py/);
  }
});

test('spare_workers: a negative count is refused', () => {
  assert.deepEqual(problemsOf('sw1.ini', '[program:web]\nworker = app.mjs\nspare_workers = -1\n'), [['program:web', 'spare_workers', 3]]);
});

test('every problem is reported once, in line order: a bad key does not hide an expansion error read per process', () => {
  const text = [
    '[supervisord]',
    'logfile = %(bogus)s/x', // 2
    '[program:b]', // 3
    'command = x %(nope)s', // 4
    'stdout_logfile = %(nope2)s', // 5
    'directory = %(nope3)s', // 6
    'startsecs = soon', // 7
    'numprocs = 2', // 8
    'process_name = %(program_name)s_%(process_num)s', // 9
    '[program:a]', // 10: no command
    'startsecs = later', // 11
  ].join('\n');
  assert.deepEqual(problemsOf('order.ini', text), [
    ['supervisord', 'logfile', 2],
    ['program:b', 'command', 4],
    ['program:b', 'stdout_logfile', 5],
    ['program:b', 'directory', 6],
    ['program:b', 'startsecs', 7],
    ['program:a', 'command', 10],
    ['program:a', 'startsecs', 11],
  ]);
});

test('environment: the "silently drops" warning only where supervisor does drop, never beside the error for the same value', () => {
  // supervisor 4.2's dict_of_key_value_pairs: 'A=a b' gives {'A': 'a'} (b dropped); 'A=a b,B=x' raises
  const dropped = load('env-drop.ini', '[program:a]\ncommand=true\nenvironment=A=a b\n');
  assert.deepEqual(dropped.processes[0]?.environment, { A: 'a' });
  assert.deepEqual(dropped.warnings.map((w) => [w.key, w.message]), [
    ['environment', 'supervisor reads A="a" and silently drops "b" after it (quote values containing spaces, $, * or other punctuation)'],
  ]);
  try {
    load('env-drop-error.ini', '[program:a]\ncommand=true\nenvironment=A=a b,B=x\n');
    assert.fail('expected ConfigProblems');
  } catch (e) {
    assert.ok(e instanceof ConfigProblems, String(e));
    assert.deepEqual(e.problems.map((p) => [p.key, p.message]), [['environment', 'unexpected end of KEY=value pairs near ", B = x"']]);
    assert.deepEqual(e.warnings.map((w) => `${w.key}: ${w.message}`), []);
  }
});

test('numprocs: 10000 (drover scale\'s limit) is taken, 10001 is refused at its line saying the limit', () => {
  const many = load('np-max.ini', '[program:w]\ncommand=/bin/true\nprocess_name=w%(process_num)d\nnumprocs=10000\n');
  assert.equal(many.processes.length, 10000);
  assert.deepEqual(problemsOf('np-over.ini', '[program:w]\ncommand=/bin/true\nprocess_name=w%(process_num)d\nnumprocs=10001\n'), [['program:w', 'numprocs', 4]]);
  try {
    load('np-huge.ini', '[program:w]\ncommand=/bin/true\nprocess_name=w%(process_num)d\nnumprocs=100000000\n');
    assert.fail('expected ConfigProblems');
  } catch (e) {
    assert.ok(e instanceof ConfigProblems, String(e));
    assert.deepEqual(e.problems.map((p) => [p.message, p.got, p.expected]), [['at most 10000 processes per section, as drover scale allows', '100000000', 'an integer up to 10000']]);
  }
});

test('[ctlplugin:x] warns at its header that drover does nothing with it, and counts as an ignored section', () => {
  const c = load('ctl.ini', '[program:x]\ncommand=/bin/true\n\n[ctlplugin:w]\nsupervisor.ctl_factory = w:make\n');
  assert.deepEqual(c.warnings.map((w) => [w.section, w.key, w.line, w.sectionIgnored]), [['ctlplugin:w', null, 4, true]]);
  assert.match(c.warnings[0]?.message ?? '', /supervisorctl plugin: drover does nothing with it/);
});

test('[socket:x] sections on one address: the later is refused at its bind line; port 0 twice and reuse_port around a wildcard are not', () => {
  assert.deepEqual(problemsOf('sk-same.ini', '[socket:a]\nbind = 127.0.0.1:8000\n[socket:b]\nbind = 127.0.0.1:8000\n[socket:c]\nbind = 127.0.0.1:8000\n'), [['socket:b', 'bind', 4], ['socket:c', 'bind', 6]]);
  assert.deepEqual(problemsOf('sk-unix.ini', '[socket:a]\nbind = unix:/run/a.sock\n[socket:b]\nbind = unix:/run//a.sock\n'), [['socket:b', 'bind', 4]]);
  assert.deepEqual(problemsOf('sk-v6.ini', '[socket:a]\nbind = [::]:8000\n[socket:b]\nbind = [::0]:8000\n'), [['socket:b', 'bind', 4]]);
  assert.deepEqual(problemsOf('sk-rp.ini', '[socket:a]\nbind = 127.0.0.1:8000\nreuse_port = true\n[socket:b]\nbind = 127.0.0.1:8000\nreuse_port = true\n'), [['socket:b', 'bind', 5]]);
  assert.deepEqual(problemsOf('sk-wild.ini', '[socket:a]\nbind = 127.0.0.1:8000\n[socket:b]\nbind = 0.0.0.0:8000\n'), [['socket:b', 'bind', 4]]);
  const fine = load('sk-fine.ini', '[socket:a]\nbind = 127.0.0.1:0\n[socket:b]\nbind = 127.0.0.1:0\n[socket:c]\nbind = 0.0.0.0:8000\nreuse_port = true\n[socket:d]\nbind = 127.0.0.1:8000\nreuse_port = true\n[socket:e]\nbind = 127.0.0.1:8001\n');
  assert.equal(fine.sockets.length, 5);
});

test('[socket:x] label: read, trimmed, left out when unset', () => {
  const c = load('sk-label.ini', '[socket:a]\nbind = 127.0.0.1:0\nlabel = -b :0 (#1)\n[socket:b]\nbind = 127.0.0.1:0\n');
  assert.deepEqual(c.sockets.map((s) => s.label), ['-b :0 (#1)', undefined]);
});
