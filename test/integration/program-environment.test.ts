// What a program's environment holds when drover runs it through a shell wrapper (`user=` with `directory=`
// enters the directory as the user; `sockets =` sets LISTEN_PID): variables whose names are not shell
// identifiers, and PWD/OLDPWD, reach the program as supervisord passes them (dash dropped the first and set
// the second).
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CliRun, fixture, makeTmpDir, runCli, startUp, teardown, writeConfig } from '../helpers/drover.js';
import { canCreateUsers, createTestUser, type TestUser } from '../helpers/users.js';

const skip = !canCreateUsers() && 'needs root and useradd to create a throw-away user';

test('user= with directory=, and sockets=: every variable reaches the program as given', { skip }, async () => {
  const user: TestUser = createTestUser('drenv');
  const dir = makeTmpDir();
  const conf = writeConfig(
    dir,
    `[socket:s]
bind = 127.0.0.1:0

[program:ud]
command = ${process.execPath} ${fixture('print-env.mjs')}
user = ${user.name}
directory = /tmp
environment = spring.profiles.active="prod",my-var="x",PWD="/custom"
startsecs = 0
autorestart = false

[program:ls]
command = ${process.execPath} ${fixture('print-env.mjs')}
sockets = s
environment = a.b="1"
startsecs = 0
autorestart = false
`,
  );
  // inherited from drover's own environment too
  const run = await startUp(conf, { 'INH.DOT': '1', OLDPWD: '/previous' });
  try {
    const seen = async (name: string): Promise<Record<string, string>> =>
      (JSON.parse((await run.waitForLine(new RegExp(`^${name} \\| ENV (.*)$`, 'm')))[1] as string) as { env: Record<string, string> }).env;
    const ud = await seen('ud');
    const want = { 'spring.profiles.active': 'prod', 'my-var': 'x', 'INH.DOT': '1', PWD: '/custom', OLDPWD: '/previous', USER: user.name };
    for (const [k, v] of Object.entries(want)) assert.equal(ud[k], v, `ud's ${k}: ${JSON.stringify(ud)}\n${run.describe()}`);
    const ls = await seen('ls');
    assert.equal(ls['a.b'], '1', JSON.stringify(ls));
    assert.equal(ls['INH.DOT'], '1', JSON.stringify(ls));
    assert.equal(ls['LISTEN_FDS'], '1', JSON.stringify(ls));
    assert.match(ls['LISTEN_PID'] ?? '', /^\d+$/, JSON.stringify(ls));
  } finally {
    await teardown(run, [], dir);
    user.remove();
  }
});

test('[supervisord] user: drover becomes that user first, its programs run as it, and one of another user cannot start', { skip }, async () => {
  const user: TestUser = createTestUser('drsup');
  const dir = makeTmpDir();
  // the config is read again (HUP) by the master as that user; its runtime directory is that user's
  chmodSync(dir, 0o755);
  const runtime = join(dir, 'rt');
  mkdirSync(runtime, { mode: 0o700 });
  chownSync(runtime, user.uid, user.gid);
  const conf = writeConfig(
    dir,
    `[supervisord]
user = ${user.name}
runtime_dir = ${runtime}
logfile = ${runtime}/drover.log
childlogdir = ${runtime}

[program:mine]
command = ${process.execPath} ${fixture('print-env.mjs')}
startsecs = 0
autorestart = false

[program:other]
command = /bin/sleep 1000
user = root
startretries = 0
`,
  );
  chmodSync(conf, 0o644);
  const run = await startUp(conf);
  try {
    const status = readFileSync(`/proc/${run.pid}/status`, 'utf8');
    assert.match(status, new RegExp(`^Uid:\\s+${user.uid}\\s+${user.uid}\\s+${user.uid}\\s+${user.uid}$`, 'm'), `drover's ids\n${status}`);
    const seen = JSON.parse((await run.waitForLine(/^mine \| ENV (.*)$/m))[1] as string) as { uid: number; gid: number };
    assert.equal(seen.uid, user.uid, run.describe());
    assert.equal(seen.gid, user.gid, run.describe());
    // a program of another user cannot start under a drover that is not root (supervisord: "Can't drop
    // privilege as nonroot user"), and the config said so as it was read
    await run.waitForLine(/other: .*cannot run as user root: drover is not running as root/);
    assert.match(run.output, /\[program:other\] user: drover runs as uid \d+, not as root/);
  } finally {
    await teardown(run, [], dir);
    user.remove();
  }
});

test('[supervisord] user naming nobody known: drover does not start (exit 2), as supervisord', async () => {
  const dir = makeTmpDir();
  const conf = writeConfig(dir, '[supervisord]\nuser = no_such_user_x\n\n[program:a]\ncommand = /bin/sleep 1000\n');
  const r = await runCli(['up', '-c', conf], { cwd: dir });
  assert.equal(r.code, 2, r.output);
  assert.match(r.stderr, /:2: \[supervisord\] user: no such user \(got "no_such_user_x"/, r.output);
});

/** A process's soft and hard limit of `what` ("Max processes", "Max open files"), from /proc/PID/limits. */
function limitOf(pid: number, what: string): [string, string] {
  const line = readFileSync(`/proc/${pid}/limits`, 'utf8').split('\n').find((l) => l.startsWith(what)) ?? '';
  const [soft = '', hard = ''] = line.slice(what.length).trim().split(/\s+/);
  return [soft, hard];
}

test('minprocs raises the process limit drover and its programs start with, as supervisord does', async () => {
  const dir = makeTmpDir();
  const conf = writeConfig(dir, `[supervisord]\nminprocs = 300\n\n[program:p]\ncommand = /bin/sleep 1000\nstartsecs = 0\n`);
  // started with a soft limit below minprocs (prlimit execs drover with it)
  // (the soft limit only: raising a hard one needs CAP_SYS_RESOURCE, which root may not have here)
  const [, hard] = limitOf(process.pid, 'Max processes');
  const run = new CliRun(['up', '-c', conf], { cwd: dir, wrapper: ['prlimit', '--nproc=100:', '--'] });
  try {
    const pid = Number((await run.waitForLine(/spawned: p with pid (\d+)/))[1]);
    assert.deepEqual(limitOf(pid, 'Max processes'), ['300', hard], run.describe());
  } finally {
    await teardown(run, [], dir);
  }
});

test('a minfds past what the system allows fails the start (exit 2), naming the key and the limit', async () => {
  const dir = makeTmpDir();
  // more than fs.nr_open allows anyone, root included
  const conf = writeConfig(dir, `[supervisord]\nminfds = 100000000\n\n[program:p]\ncommand = /bin/sleep 1000\n`);
  const r = await runCli(['up', '-c', conf], { cwd: dir });
  assert.equal(r.code, 2, r.output);
  assert.match(r.stderr, /\[supervisord\] minfds = 100000000: this environment allows at most \d+ open files, and raising that failed \(E\w+\)/, r.output);
});

// From a review of reloads: the launcher laid the [supervisord] environment of the config in force under each
// program's own (which already holds it, as the config resolved it). A scoped reload (`drover reload NAME`,
// supervisorctl update GROUP) does not replace the config in force, so a variable removed from the file
// stayed in the restarted program. supervisord's update gives it the file's environment.
test('a variable removed from [supervisord] environment is gone from a program restarted by a scoped reload', async () => {
  const dir = makeTmpDir();
  const program = `[program:envp]\ncommand = /bin/sh -c 'echo "FOO=$FOO BAR=\${BAR-unset}"; exec sleep 1000'\nstartsecs = 0\n`;
  const conf = writeConfig(dir, `[supervisord]\nenvironment = FOO="one",BAR="bar"\n\n${program}`);
  const run = await startUp(conf);
  try {
    await run.waitForLine(/envp \| FOO=one BAR=bar/);
    writeFileSync(conf, `[supervisord]\nenvironment = FOO="two"\n\n${program}`);
    const r = await runCli(['reload', 'envp', '-c', conf]);
    assert.equal(r.code, 0, r.output);
    await run.waitForLine(/envp \| FOO=two BAR=unset/);
  } finally {
    await teardown(run, [], dir);
  }
});
