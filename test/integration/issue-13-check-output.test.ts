// What `drover check` says about a config (issue 13): log paths expanded as supervisord expands them, each
// fcgi-program's socket, "config OK" only when every section will be acted on, and no warning about an AUTO
// log that a redirected stderr never writes.
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeTmpDir, TIMEOUT_SCALE, writeConfig } from '../helpers/drover.js';
import { droverBin } from '../helpers/paths.js';

const dir = makeTmpDir('drover-check-out-');
test.after(() => rmSync(dir, { recursive: true, force: true }));

function check(name: string, text: string): SpawnSyncReturns<string> {
  const file = writeConfig(dir, text, name);
  return spawnSync(process.execPath, [droverBin, 'check', '-c', file], { cwd: dir, encoding: 'utf8', timeout: 10_000 * TIMEOUT_SCALE });
}

function describe(r: SpawnSyncReturns<string>): string {
  return `exit ${String(r.status)}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

test('log paths are shown expanded, per process, and fcgi-programs with their socket', () => {
  const r = check(
    'logs.conf',
    `[supervisord]
childlogdir = %(here)s

[program:web]
command = /bin/sleep 100
numprocs = 2
process_name = %(program_name)s_%(process_num)d
stdout_logfile = %(here)s/%(program_name)s-%(process_num)d.out
redirect_stderr = true

[fcgi-program:php]
command = /usr/bin/php-cgi
socket = unix://%(here)s/%(program_name)s.sock
stdout_logfile = NONE
`,
  );
  assert.equal(r.status, 0, describe(r));
  assert.match(r.stdout, new RegExp(`^web:web_0 +${join(dir, 'web-0.out')} +\\(into stdout\\)$`, 'm'), describe(r));
  assert.match(r.stdout, new RegExp(`^web:web_1 +${join(dir, 'web-1.out')} +\\(into stdout\\)$`, 'm'), describe(r));
  assert.match(r.stdout, new RegExp(`^php +NONE +AUTO in ${dir}$`, 'm'), describe(r));
  assert.match(r.stdout, new RegExp(`^fcgi-program php: socket unix://${join(dir, 'php.sock')} \\(backlog SOMAXCONN, mode 0700\\) as stdin of its 1 process$`, 'm'), describe(r));
  assert.match(r.stdout, /^3 processes in 2 groups; config OK$/m, describe(r));
  assert.doesNotMatch(r.stdout + r.stderr, /%\(/, 'no expansion left unexpanded');
});

test('a section drover ignores means no "config OK" (exit 0 all the same)', () => {
  const base = '[supervisord]\n\n[program:a]\ncommand = /bin/true\n';
  let r = check('ok.conf', base);
  assert.match(r.stdout, /; config OK$/m, describe(r));

  // event listeners and fcgi programs run now: a config with them is OK
  r = check('listener.conf', `${base}\n[eventlistener:crash]\ncommand = /bin/cat\nevents = PROCESS_STATE_FATAL\n`);
  assert.equal(r.status, 0, describe(r));
  assert.match(r.stdout, /^2 processes in 2 groups; config OK$/m, describe(r));

  r = check('typo.conf', `${base}\n[programs:b]\ncommand = /bin/true\n`);
  assert.equal(r.status, 0, describe(r));
  assert.doesNotMatch(r.stdout, /config OK/, describe(r));
  assert.match(r.stdout, /config read, but a section is ignored: \[programs:b\]/, describe(r));
  assert.match(r.stderr, /warning: \[programs:b\] unknown section, ignored \(did you mean \[program:b\]\?\)/, describe(r));
});

test('no "AUTO log can fill the disk" warning for a stderr redirected into stdout (there is no such file)', () => {
  const program = '[supervisord]\n\n[program:a]\ncommand = /bin/true\nstderr_logfile_maxbytes = 0\n';
  const redirected = check('redirected.conf', `${program}redirect_stderr = true\n`);
  assert.equal(redirected.status, 0, describe(redirected));
  assert.doesNotMatch(redirected.stderr, /can fill the disk/, describe(redirected));
  // control: the same stderr log, not redirected, is warned about
  const own = check('own.conf', program);
  assert.match(own.stderr, /\[program:a\] stderr_logfile: AUTO log without rotation \(stderr_logfile_maxbytes = 0\) can fill the disk/, describe(own));
});
