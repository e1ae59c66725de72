// What `drover check` says about a config (issue 13): log paths expanded as supervisord expands them, each
// fcgi-program's socket, "config OK" only when every section will be acted on, and no warning about an AUTO
// log that a redirected stderr never writes; nor a stopasgroup or killasgroup that a worker = program ignores
// without a word.
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fixture, makeTmpDir, startUp, teardown, TIMEOUT_SCALE, writeConfig } from '../helpers/drover.js';
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

// A pool always stops and kills its workers as a process group (a worker's children must not outlive it
// holding the socket: DESIGN §8), so `stopasgroup = false` or `killasgroup = false` on a worker = program
// has no effect; check and up said nothing about it.
const IGNORED_ON_WORKER = (key: string): RegExp =>
  new RegExp(`warning: \\[program:web\\] ${key}: ${key} = false has no effect on a worker = program: drover always stops and kills a pool's workers as a process group`);

test('stopasgroup = false or killasgroup = false on a worker = program warns that it has no effect (check and up)', async () => {
  const worker = `[socket:web]\nbind = 127.0.0.1:0\n\n[program:web]\nworker = ${fixture('worker-app.mjs')}\nsockets = web\nnumprocs = 1\n`;
  const both = check('worker-groups.conf', `${worker}stopasgroup = false\nkillasgroup = false\n`);
  assert.equal(both.status, 0, describe(both));
  assert.match(both.stderr, IGNORED_ON_WORKER('stopasgroup'), describe(both));
  assert.match(both.stderr, IGNORED_ON_WORKER('killasgroup'), describe(both));
  // `= true` says what a pool does anyway: no warning; nor for a command program, where false is the default
  const quiet = check('worker-groups-true.conf', `${worker}stopasgroup = true\nkillasgroup = true\n[program:cmd]\ncommand = /bin/true\nstopasgroup = false\nkillasgroup = false\n`);
  assert.equal(quiet.status, 0, describe(quiet));
  assert.doesNotMatch(quiet.stderr, /asgroup/, describe(quiet));
  // read to be warned about, the value is checked as on any program (it was not read at all)
  const bad = check('worker-groups-bad.conf', `${worker}stopasgroup = maybe\n`);
  assert.equal(bad.status, 2, describe(bad));
  assert.match(bad.stderr, /\[program:web\] stopasgroup: not a boolean \(got "maybe"/, describe(bad));

  const upDir = makeTmpDir();
  const run = await startUp(writeConfig(upDir, `${worker}killasgroup = false\n`));
  try {
    await run.waitForLine(IGNORED_ON_WORKER('killasgroup'));
    await run.waitForLine(/web_0: starting → running/);
  } finally {
    await teardown(run, [...run.output.matchAll(/spawned: web_\d+ with pid (\d+)/g)].map((m) => Number(m[1])), upDir);
  }
});
