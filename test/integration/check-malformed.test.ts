// Malformed configs through the real CLI: each must exit 2 and name the file, line, section, key,
// the bad value and what was expected.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { droverBin } from '../helpers/paths.js';

const TIMEOUT_MS = 10_000 * Number(process.env['DROVER_TEST_TIMEOUT_SCALE'] ?? '1');
const dir = mkdtempSync(join(tmpdir(), 'drover-check-bad-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

interface Case {
  readonly name: string;
  readonly text: string;
  readonly line: number;
  readonly section: string;
  readonly key: string | null;
  readonly message: RegExp;
  /** the bad value as it should appear after `got` */
  readonly got?: string;
  /** a fragment of the `expected …` part */
  readonly expected?: string;
}

const P = '[supervisord]\n\n[program:app]\n'; // program keys start on line 4

const CASES: readonly Case[] = [
  { name: 'priority-not-integer', text: `${P}command=/bin/true\npriority=high\n`, line: 5, section: 'program:app', key: 'priority', message: /not an integer/, got: 'high', expected: 'an integer' },
  { name: 'autostart-not-boolean', text: `${P}command=/bin/true\nautostart=maybe\n`, line: 5, section: 'program:app', key: 'autostart', message: /not a boolean/, got: 'maybe', expected: 'true/false' },
  { name: 'autorestart-bad', text: `${P}command=/bin/true\nautorestart=always\n`, line: 5, section: 'program:app', key: 'autorestart', message: /not an autorestart value/, got: 'always', expected: 'true, false or unexpected' },
  { name: 'stopsignal-bad-name', text: `${P}command=/bin/true\nstopsignal=TERMINATE\n`, line: 5, section: 'program:app', key: 'stopsignal', message: /not a signal name/, got: 'TERMINATE', expected: 'a signal name' },
  { name: 'stopsignal-bad-number', text: `${P}command=/bin/true\nstopsignal=99\n`, line: 5, section: 'program:app', key: 'stopsignal', message: /not a signal number/, got: '99' },
  { name: 'umask-not-octal', text: `${P}command=/bin/true\numask=089\n`, line: 5, section: 'program:app', key: 'umask', message: /not an octal number/, got: '089', expected: 'an octal number' },
  { name: 'exitcode-out-of-range', text: `${P}command=/bin/true\nexitcodes=0,256\n`, line: 5, section: 'program:app', key: 'exitcodes', message: /exit code 256 is out of range/, got: '0,256', expected: '0-255' },
  { name: 'exitcodes-not-numbers', text: `${P}command=/bin/true\nexitcodes=ok,fail\n`, line: 5, section: 'program:app', key: 'exitcodes', message: /not a list of exit codes/, got: 'ok,fail' },
  { name: 'bytes-bad-suffix', text: `${P}command=/bin/true\nstdout_logfile_maxbytes=50XB\n`, line: 5, section: 'program:app', key: 'stdout_logfile_maxbytes', message: /not a byte size/, got: '50XB', expected: 'KB, MB or GB' },
  { name: 'numprocs-without-process-num', text: `${P}command=/bin/true\nnumprocs=2\n`, line: 5, section: 'program:app', key: 'numprocs', message: /process_name must contain %\(process_num\)/, got: '%(program_name)s' },
  { name: 'process-name-without-process-num', text: `${P}command=/bin/true\nnumprocs=3\nprocess_name=app\n`, line: 6, section: 'program:app', key: 'process_name', message: /must contain %\(process_num\)/, got: 'app' },
  { name: 'stopasgroup-without-killasgroup', text: `${P}command=/bin/true\nstopasgroup=true\nkillasgroup=false\n`, line: 6, section: 'program:app', key: 'killasgroup', message: /stopasgroup=true needs killasgroup=true/, got: 'false' },
  { name: 'missing-command', text: `${P}autostart=true\n`, line: 3, section: 'program:app', key: 'command', message: /every program needs a command/ },
  { name: 'unknown-env-expansion', text: `${P}command=/bin/echo %(ENV_DROVER_SURELY_UNSET)s\n`, line: 4, section: 'program:app', key: 'command', message: /cannot expand %\(ENV_DROVER_SURELY_UNSET\)/, got: '/bin/echo %(ENV_DROVER_SURELY_UNSET)s', expected: 'program_name' },
  { name: 'unknown-name-expansion', text: `${P}command=/bin/echo %(prog)s\n`, line: 4, section: 'program:app', key: 'command', message: /cannot expand %\(prog\)/, expected: 'here' },
  { name: 'process-num-before-loop', text: `${P}command=/bin/true\npriority=%(process_num)d\n`, line: 5, section: 'program:app', key: 'priority', message: /cannot expand %\(process_num\)/ },
  { name: 'string-as-number', text: `${P}command=/bin/echo %(program_name)d\n`, line: 4, section: 'program:app', key: 'command', message: /needs a number/ },
  { name: 'lone-percent', text: `${P}command=/bin/echo 100%\n`, line: 4, section: 'program:app', key: 'command', message: /lone "%"/, got: '/bin/echo 100%', expected: '%%' },
  { name: 'unclosed-quote', text: `${P}command=/bin/sh -c "echo hi\n`, line: 4, section: 'program:app', key: 'command', message: /no closing quotation/, got: '/bin/sh -c "echo hi' },
  { name: 'comment-cuts-quote', text: `${P}command=/bin/sh -c "echo a ; echo b"\n`, line: 4, section: 'program:app', key: 'command', message: /no closing quotation/, got: '/bin/sh -c "echo a' },
  { name: 'empty-command', text: `${P}command=\n`, line: 4, section: 'program:app', key: 'command', message: /the command is empty/ },
  { name: 'environment-missing-value', text: `${P}command=/bin/true\nenvironment=A=1,B\n`, line: 5, section: 'program:app', key: 'environment', message: /unexpected end of KEY=value pairs/, got: 'A=1,B', expected: 'KEY=value' },
  { name: 'environment-unclosed-quote', text: `${P}command=/bin/true\nenvironment=A="1\n`, line: 5, section: 'program:app', key: 'environment', message: /no closing quotation/, got: 'A="1' },
  { name: 'group-unknown-program', text: `[supervisord]\n\n[group:g]\nprograms=app,ghost\n\n[program:app]\ncommand=/bin/true\n`, line: 4, section: 'group:g', key: 'programs', message: /no \[program:ghost\] or \[fcgi-program:ghost\] section/, got: 'ghost', expected: 'one of: app' },
  { name: 'bad-program-name', text: '[supervisord]\n\n[program:my app]\ncommand=/bin/true\n', line: 3, section: 'program:my app', key: null, message: /bad name in section header/, got: 'my app' },
  // an empty name made a process no name or pattern could reach (supervisord takes it and runs a process named "")
  { name: 'empty-program-name', text: '[supervisord]\n\n[program:]\ncommand=/bin/true\n', line: 3, section: 'program:', key: null, message: /bad name in section header: the name is empty/, got: '', expected: '[program:web]' },
  { name: 'empty-group-name', text: '[supervisord]\n\n[program:a]\ncommand=/bin/true\n\n[group:]\nprograms=a\n', line: 6, section: 'group:', key: null, message: /bad name in section header: the name is empty/, got: '' },
  { name: 'empty-eventlistener-name', text: '[supervisord]\n\n[eventlistener:]\ncommand=/bin/cat\nevents=TICK_5\n', line: 3, section: 'eventlistener:', key: null, message: /bad name in section header: the name is empty/, got: '' },
  { name: 'empty-fcgi-program-name', text: '[supervisord]\n\n[fcgi-program:]\ncommand=/bin/cat\nsocket=unix:///tmp/drover-empty-fcgi.sock\n', line: 3, section: 'fcgi-program:', key: null, message: /bad name in section header: the name is empty/, got: '' },
  { name: 'empty-process-name', text: `${P}command=/bin/true\nprocess_name=\n`, line: 5, section: 'program:app', key: 'process_name', message: /a process name must not be empty/, got: '' },
  { name: 'process-name-expands-empty', text: `${P}command=/bin/true\nprocess_name=%(ENV_DROVER_EMPTY_NAME)s\n`, line: 5, section: 'program:app', key: 'process_name', message: /expands to an empty name/, got: '' },
  { name: 'key-before-section', text: 'command=/bin/true\n[supervisord]\n', line: 1, section: '', key: null, message: /before any \[section\]/, got: 'command=/bin/true' },
  { name: 'not-a-key-value-line', text: `${P}command=/bin/true\njust some words\n`, line: 5, section: 'program:app', key: null, message: /neither a \[section\], a key = value/, got: 'just some words' },
  { name: 'no-such-user', text: `${P}command=/bin/true\nuser=drover-no-such-user\n`, line: 5, section: 'program:app', key: 'user', message: /no such user/, got: 'drover-no-such-user' },
  { name: 'logfile-dir-missing', text: `${P}command=/bin/true\nstdout_logfile=/nonexistent-drover-dir/out.log\n`, line: 5, section: 'program:app', key: 'stdout_logfile', message: /does not exist/, got: '/nonexistent-drover-dir/out.log' },
  { name: 'inet-port-out-of-range', text: '[supervisord]\n\n[inet_http_server]\nport=127.0.0.1:70000\n', line: 4, section: 'inet_http_server', key: 'port', message: /port out of range/, got: '127.0.0.1:70000', expected: 'host:port' },
  { name: 'inet-missing-port', text: '[supervisord]\n\n[inet_http_server]\nusername=a\npassword=b\n', line: 3, section: 'inet_http_server', key: 'port', message: /needs a port/ },
  { name: 'unix-username-without-password', text: '[supervisord]\n\n[unix_http_server]\nfile=/tmp/drover-test.sock\nusername=admin\n', line: 3, section: 'unix_http_server', key: 'password', message: /username and password must be given together/ },
  { name: 'unix-chmod-bad', text: '[supervisord]\n\n[unix_http_server]\nfile=/tmp/drover-test.sock\nchmod=rwx\n', line: 5, section: 'unix_http_server', key: 'chmod', message: /not an octal number/, got: 'rwx' },
  { name: 'backoff-unknown', text: `${P}command=/bin/true\nbackoff=fast\n`, line: 5, section: 'program:app', key: 'backoff', message: /not a backoff kind/, got: 'fast', expected: 'linear or exponential' },
  { name: 'backoff-max-bad-duration', text: `${P}command=/bin/true\nbackoff_max=10 parsecs\n`, line: 5, section: 'program:app', key: 'backoff_max', message: /not a duration/, got: '10 parsecs', expected: '500ms' },
  { name: 'fatal-cooldown-negative', text: `${P}command=/bin/true\nfatal_cooldown=-5s\n`, line: 5, section: 'program:app', key: 'fatal_cooldown', message: /not a duration/, got: '-5s' },
  { name: 'pdeathsig-bad', text: `${P}command=/bin/true\npdeathsig=sometimes\n`, line: 5, section: 'program:app', key: 'pdeathsig', message: /not a boolean/, got: 'sometimes' },
  { name: 'startsecs-negative', text: `${P}command=/bin/true\nstartsecs=-1\n`, line: 5, section: 'program:app', key: 'startsecs', message: /must not be negative/, got: '-1' },
  { name: 'loglevel-bad', text: '[supervisord]\nloglevel=loud\n', line: 2, section: 'supervisord', key: 'loglevel', message: /not a log level/, got: 'loud', expected: 'critical, error' },
  { name: 'childlogdir-missing', text: '[drover]\nchildlogdir=/nonexistent-drover-logs\n', line: 2, section: 'drover', key: 'childlogdir', message: /not an existing directory/, got: '/nonexistent-drover-logs' },
  { name: 'include-without-files', text: '[supervisord]\n\n[include]\nfile=*.conf\n', line: 3, section: 'include', key: 'files', message: /^[^[]*\[include\] files: missing: the section names no files to read; line 4 sets "file" — did you mean "files"\?/, expected: 'files = GLOB' },
  { name: 'logfile-dir-missing-expanded', text: `${P}command=/bin/true\nstdout_logfile=/nonexistent-drover-dir/%(program_name)s-%(process_num)d.log\n`, line: 5, section: 'program:app', key: 'stdout_logfile', message: /does not exist/, got: '/nonexistent-drover-dir/app-0.log' },
  { name: 'not-utf8', text: '[supervisord]\n\n[program:caf\u00e9]\ncommand=/bin/true\n', line: 3, section: '', key: null, message: /the file is not UTF-8: byte 0xE9 at column 13/, expected: 'UTF-8 text' },
  { name: 'fcgi-missing-socket', text: '[supervisord]\n\n[fcgi-program:php]\ncommand=/usr/bin/php-cgi\n', line: 3, section: 'fcgi-program:php', key: 'socket', message: /an fcgi-program needs a socket/, expected: 'socket = tcp://' },
  { name: 'fcgi-bad-socket', text: '[supervisord]\n\n[fcgi-program:php]\ncommand=/usr/bin/php-cgi\nsocket=http://127.0.0.1:9000\n', line: 5, section: 'fcgi-program:php', key: 'socket', message: /not a FastCGI socket address/, got: 'http://127.0.0.1:9000', expected: 'tcp://HOST:PORT' },
  { name: 'fcgi-relative-unix', text: '[supervisord]\n\n[fcgi-program:php]\ncommand=/usr/bin/php-cgi\nsocket=unix://run/php.sock\n', line: 5, section: 'fcgi-program:php', key: 'socket', message: /needs an absolute path/, got: 'unix://run/php.sock' },
  { name: 'fcgi-port-out-of-range', text: '[supervisord]\n\n[fcgi-program:php]\ncommand=/usr/bin/php-cgi\nsocket=tcp://127.0.0.1:70000\n', line: 5, section: 'fcgi-program:php', key: 'socket', message: /port out of range/, got: 'tcp://127.0.0.1:70000', expected: '1 to 65535' },
  { name: 'fcgi-mode-on-tcp', text: '[supervisord]\n\n[fcgi-program:php]\ncommand=/usr/bin/php-cgi\nsocket=tcp://127.0.0.1:9000\nsocket_mode=0660\n', line: 6, section: 'fcgi-program:php', key: 'socket_mode', message: /applies to unix sockets only/, got: '0660' },
  { name: 'fcgi-backlog-out-of-range', text: '[supervisord]\n\n[fcgi-program:php]\ncommand=/usr/bin/php-cgi\nsocket=tcp://127.0.0.1:9000\nsocket_backlog=0\n', line: 6, section: 'fcgi-program:php', key: 'socket_backlog', message: /out of range/, got: '0', expected: '1 to 65535' },
  { name: 'fcgi-owner-unknown', text: '[supervisord]\n\n[fcgi-program:php]\ncommand=/usr/bin/php-cgi\nsocket=unix:///tmp/drover-test-php.sock\nsocket_owner=drover-no-such-user\n', line: 6, section: 'fcgi-program:php', key: 'socket_owner', message: /no such user/, got: 'drover-no-such-user' },
  { name: 'fcgi-same-address', text: '[supervisord]\n\n[fcgi-program:a]\ncommand=/usr/bin/php-cgi\nsocket=tcp://127.0.0.1:9000\n\n[fcgi-program:b]\ncommand=/usr/bin/php-cgi\nsocket=tcp://0.0.0.0:9000\n', line: 9, section: 'fcgi-program:b', key: 'socket', message: /\[fcgi-program:a\] uses the same address/, got: 'tcp://0.0.0.0:9000' },
  { name: 'fcgi-ambiguous-in-group', text: '[supervisord]\n\n[group:g]\nprograms=php\n\n[program:php]\ncommand=/bin/true\n\n[fcgi-program:php]\ncommand=/usr/bin/php-cgi\nsocket=tcp://127.0.0.1:9000\n', line: 4, section: 'group:g', key: 'programs', message: /"php" is ambiguous/, got: 'php' },
  { name: 'fcgi-worker', text: '[supervisord]\n\n[fcgi-program:php]\nworker=app.mjs\nsocket=tcp://127.0.0.1:9000\n', line: 4, section: 'fcgi-program:php', key: 'worker', message: /runs a command, not a drover worker module/ },
  // `up` refuses it when it listens (exit 2): check says so first, at the line
  { name: 'unix-socket-dir-missing', text: '[supervisord]\n\n[unix_http_server]\nfile=/nonexistent-drover-dir/drover.sock\n', line: 4, section: 'unix_http_server', key: 'file', message: /its directory \/nonexistent-drover-dir does not exist/, got: '/nonexistent-drover-dir/drover.sock', expected: 'a path in an existing directory' },
  // supervisord keeps the first group of a name and silently drops the other (add_process_group)
  { name: 'program-named-like-group', text: '[supervisord]\n\n[group:a]\nprograms=b\n\n[program:a]\ncommand=/bin/sleep 31\n\n[program:b]\ncommand=/bin/sleep 34\n', line: 6, section: 'program:a', key: null, message: /makes a group named "a", as \[group:a\] at \S+drover\.ini:3 does: supervisor would run only one of the two/, got: 'a', expected: 'a name no other [program:x] or [group:x] uses' },
  { name: 'program-name-trailing-space', text: '[supervisord]\n\n[program:a]\ncommand=/bin/sleep 31\n\n[program:a ]\ncommand=/bin/sleep 34\n', line: 6, section: 'program:a ', key: null, message: /makes a group named "a", as \[program:a\] at \S+drover\.ini:3 does \(supervisor strips the spaces around a name\): supervisor would run only one of the two/, got: 'a' },
  { name: 'bad-value-in-included-file', text: '[supervisord]\n\n[include]\nfiles=inc/*.ini\n', line: 2, section: 'program:inc', key: 'autostart', message: /not a boolean/, got: 'perhaps' },
];

function run(args: string[], cwd: string): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [droverBin, 'check', ...args], { cwd, encoding: 'utf8', timeout: TIMEOUT_MS, env: { ...process.env, DROVER_SURELY_UNSET: undefined, DROVER_EMPTY_NAME: '' } });
}

function describe(r: SpawnSyncReturns<string>): string {
  return `exit ${String(r.status)} signal ${String(r.signal)}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

test('at least 30 malformed configs', () => {
  assert.ok(CASES.length >= 30);
});

for (const c of CASES) {
  test(`malformed config: ${c.name}`, () => {
    const caseDir = join(dir, c.name);
    mkdirSync(caseDir, { recursive: true });
    const file = join(caseDir, 'drover.ini');
    // not-utf8: the same text with its one non-ASCII character as a single Latin-1 byte
    writeFileSync(file, c.name === 'not-utf8' ? Buffer.from(c.text, 'latin1') : c.text);
    let where = file;
    if (c.name === 'bad-value-in-included-file') {
      mkdirSync(join(caseDir, 'inc'));
      where = join(caseDir, 'inc', 'a.ini');
      writeFileSync(where, '[program:inc]\nautostart=perhaps\ncommand=/bin/true\n');
    }
    const r = run(['-c', file], caseDir);
    assert.equal(r.status, 2, `expected exit 2\n${describe(r)}`);
    const head = `${where}:${c.line}:${c.section ? ` [${c.section}]` : ''}${c.key ? ` ${c.key}:` : ''} `;
    const line = r.stderr.split('\n').find((l) => l.startsWith(head) && !l.includes(': warning:'));
    assert.ok(line, `no error line starting with ${JSON.stringify(head)}\n${describe(r)}`);
    assert.match(line, c.message, describe(r));
    if (c.got !== undefined) assert.ok(line.includes(`got ${JSON.stringify(c.got)}`), `missing got ${JSON.stringify(c.got)}\n${describe(r)}`);
    if (c.expected !== undefined) assert.ok(line.includes(`expected ${c.expected}`) || line.includes(c.expected), `missing expected ${c.expected}\n${describe(r)}`);
    assert.equal(r.stdout, '', describe(r));
  });
}

test('missing -c file: exit 2 and a clear message', () => {
  const r = run(['-c', join(dir, 'nope.ini')], dir);
  assert.equal(r.status, 2, describe(r));
  assert.match(r.stderr, /nope\.ini: config file not found/, describe(r));
});

test('no config in the directory: exit 2 and the names looked for', () => {
  const empty = join(dir, 'empty');
  mkdirSync(empty, { recursive: true });
  const r = run([], empty);
  assert.equal(r.status, 2, describe(r));
  assert.match(r.stderr, /no config file found .*drover\.ini, drover\.conf, supervisord\.conf/, describe(r));
});

test('an unknown option is a usage error', () => {
  const r = run(['--bogus'], dir);
  assert.equal(r.status, 2, describe(r));
});

test('a comment that cuts a quoted command also warns why', () => {
  const file = join(dir, 'comment-warning.ini');
  writeFileSync(file, `${P}command=/bin/sh -c "echo a ; echo b"\n`);
  const r = run(['-c', file], dir);
  assert.equal(r.status, 2, describe(r));
  assert.match(r.stderr, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:4: warning: \\[program:app\\] command: .*starts a comment`), describe(r));
});

// what `up` refuses when it opens its control listeners, `check` reports too (it said "config OK")
test('a TCP control port without credentials, or with an empty password: check exits 2 as up does', () => {
  for (const [name, section] of [
    ['inet-no-credentials', '[inet_http_server]\nport = 127.0.0.1:19001\n'],
    ['inet-empty-password', '[inet_http_server]\nport = 127.0.0.1:19001\nusername = ops\npassword =\n'],
  ] as const) {
    const file = join(dir, `${name}.ini`);
    writeFileSync(file, `${section}\n[program:app]\ncommand=/bin/true\n`);
    const r = run(['-c', file], dir);
    assert.equal(r.status, 2, describe(r));
    assert.match(r.stderr, /\[inet_http_server\] (needs username and password|password is empty)/, describe(r));
  }
});

// docs/cli.md: --json is machine-readable output on stdout, errors too
test('check --json of a bad config, or with an unknown option, prints the error as JSON on stdout', () => {
  const file = join(dir, 'json-bad.ini');
  writeFileSync(file, `${P}command=/bin/true\npriority=high\n`);
  const r = run(['-c', file, '--json'], dir);
  assert.equal(r.status, 2, describe(r));
  const body = JSON.parse(r.stdout) as { ok: boolean; code: string; problems: string[] };
  assert.equal(body.ok, false);
  assert.equal(body.code, 'E_CONFIG');
  assert.match(body.problems[0] ?? '', /json-bad\.ini:5: \[program:app\] priority: not an integer/);
  const u = run(['--json', '--bogus'], dir);
  assert.equal(u.status, 2, describe(u));
  assert.equal((JSON.parse(u.stdout) as { code: string }).code, 'E_USAGE');
});

// supervisord refuses such a start too ("Can't drop privilege as nonroot user"); check and up now say so
// before anything starts. The same user as drover's is fine, as in supervisord.
test('user= of another user while drover is not root: a warning naming the line; drover\'s own user: none', () => {
  const own = mkdtempSync(join(tmpdir(), 'drover-check-user-'));
  try {
    const file = join(own, 'users.ini');
    writeFileSync(file, `[program:a]\ncommand = sleep 1\nuser = root\n\n[program:b]\ncommand = sleep 1\nuser = nobody\n`);
    spawnSync('chown', ['-R', 'nobody', own]);
    const r = spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, droverBin, 'check', '-c', file], { cwd: own, encoding: 'utf8', timeout: TIMEOUT_MS });
    assert.equal(r.status, 0, describe(r));
    assert.match(r.stderr, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:3: warning: \\[program:a\\] user: drover runs as uid \\d+, not as root, so it cannot run this program as root`), describe(r));
    assert.doesNotMatch(r.stderr, /\[program:b\] user/, describe(r));
  } finally {
    rmSync(own, { recursive: true, force: true });
  }
});
