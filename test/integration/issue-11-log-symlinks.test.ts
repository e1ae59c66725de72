// Issue 11, finding 3 of the security review: drover (root) opened, reopened, read and gzipped log files
// by name, following whatever link the owner of the log directory had planted. Here an unprivileged user
// plants links to root-only files and shows that nothing is created, appended, truncated or read through them.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { Daemon, show } from '../helpers/daemon.js';
import { CliRun, makeTmpDir, runCli, teardown, waitForAsync, waitForCondition, writeConfig } from '../helpers/drover.js';
import { canCreateUsers, createTestUser, type TestUser } from '../helpers/users.js';

const SKIP = !canCreateUsers() && 'needs root and useradd (throw-away users)';
const SECRET = 'TOPSECRET-root-only\n';

let user: TestUser;
/** root 0700: the targets of the planted links, out of the test user's reach */
let rootDir: string;

before(() => {
  if (SKIP) return;
  user = createTestUser('drvsb');
  rootDir = makeTmpDir('drover-sb-root-');
});

after(() => {
  if (SKIP) return;
  user.remove();
  rmSync(rootDir, { recursive: true, force: true });
});

/** Runs a command as the test user and fails the test if it fails. */
function asUser(argv: readonly string[]): void {
  const r = user.run(argv);
  assert.equal(r.code, 0, `as ${user.name}: ${argv.join(' ')} → ${String(r.code)}\n${r.stdout}${r.stderr}`);
}

/** A root-only file holding SECRET; returns its path. */
function rootSecret(name: string): string {
  const file = join(rootDir, name);
  writeFileSync(file, SECRET, { mode: 0o600 });
  return file;
}

/** The file's text, or null when there is no file (also when a rotation renames it between a check and a read). */
function contentOf(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** A fresh log directory of the test user's own (the usual `user=` + log in its home setup). */
function userLogDir(name: string): string {
  const dir = join(user.home, name);
  asUser(['mkdir', '-p', dir]);
  return dir;
}

function programConfig(logDir: string, command: string, extra = ''): string {
  return `[program:app]
command = ${command}
user = ${user.name}
directory = ${user.home}
startsecs = 0
autorestart = false
stdout_logfile = ${logDir}/app.log
${extra}`;
}

/** drover's own log of a daemon (where it reports refused log files). */
function droverLog(d: Daemon): string {
  return contentOf(join(d.dir, '.drover', 'drover.log')) ?? '';
}

test('a link planted as the log file before start: nothing is created or appended through it', { skip: SKIP }, async () => {
  const logDir = userLogDir('logs-start');
  const created = join(rootDir, 'created-by-drover');
  const secret = rootSecret('secret-start');
  asUser(['ln', '-s', created, join(logDir, 'app.log')]);
  asUser(['ln', '-s', secret, join(logDir, 'err.log')]);
  const d = new Daemon(
    programConfig(logDir, `/bin/sh -c 'echo "* * * * * root /tmp/evil.sh"; echo to-stderr >&2; exec sleep 100000'`, `stderr_logfile = ${logDir}/err.log\n`),
  );
  try {
    // the program cannot start: a log it cannot open fails its spawn (FATAL), as under supervisord
    await d.upWithFailures();
    await waitForCondition(
      () => existsSync(created) || contentOf(secret) !== SECRET || (d.daemonStderr().match(/cannot open log file .*(app|err)\.log/g)?.length ?? 0) >= 2,
      'drover to refuse both planted links (or to write through them)',
      { describe: () => d.daemonStderr() },
    );
    assert.equal(existsSync(created), false, `drover created ${created} through the planted link`);
    assert.equal(contentOf(secret), SECRET, 'drover appended to a root-only file through the planted link');
    // refused while the log sink starts, before drover's logger exists: the message goes to drover's stderr
    assert.match(d.daemonStderr(), /cannot open log file .*app\.log: .*symbolic link/);
    // and the reading API has nothing to read through the link either
    const tail = await d.cli(['tail', 'app', 'stderr']);
    assert.doesNotMatch(tail.output, /TOPSECRET/, show(['tail', 'app', 'stderr'], tail));
  } finally {
    await d.teardown();
  }
});

test('the log file replaced by a link while drover runs: USR1 reopen does not append through it', { skip: SKIP }, async () => {
  const logDir = userLogDir('logs-reopen');
  const secret = rootSecret('secret-reopen');
  const log = join(logDir, 'app.log');
  const d = new Daemon(programConfig(logDir, `/bin/sh -c 'i=0; while :; do echo tick-$i; i=$((i+1)); sleep 0.05; done'`));
  try {
    await d.up();
    await waitForCondition(() => (contentOf(log) ?? '').includes('tick-'), 'the program to write its log', { describe: () => d.daemonStderr() });
    asUser(['ln', '-sf', secret, log]);
    process.kill(d.pid, 'SIGUSR1');
    await waitForCondition(
      () => contentOf(secret) !== SECRET || /cannot open log file .*app\.log/.test(droverLog(d)),
      'drover to refuse the planted link on reopen (or to append through it)',
      { describe: () => d.daemonStderr() },
    );
    assert.equal(contentOf(secret), SECRET, 'drover appended to a root-only file after SIGUSR1');
    assert.match(droverLog(d), /cannot open log file .*app\.log: .*symbolic link/);
  } finally {
    await d.teardown();
  }
});

test('the log file replaced by a link to a root-only file: the API reads the file drover writes, not the link', { skip: SKIP }, async () => {
  const logDir = userLogDir('logs-read');
  const secret = rootSecret('secret-read');
  const log = join(logDir, 'app.log');
  const d = new Daemon(programConfig(logDir, `/bin/sh -c 'echo first-line; exec sleep 100000'`));
  try {
    await d.up();
    await waitForCondition(() => (contentOf(log) ?? '').includes('first-line'), 'the program to write its log', { describe: () => d.daemonStderr() });
    asUser(['ln', '-sf', secret, log]);
    for (const args of [['tail', 'app'], ['tail', '-n', '5', 'app']]) {
      const r = await d.cli(args);
      assert.doesNotMatch(r.output, /TOPSECRET/, `the API served a root-only file through the link\n${show(args, r)}`);
      assert.match(r.stdout, /first-line/, show(args, r));
    }
  } finally {
    await d.teardown();
  }
});

test('links planted under the gzip temp names: rotation truncates nothing through them', { skip: SKIP }, async () => {
  const logDir = userLogDir('logs-gzip');
  const secret = rootSecret('secret-gzip');
  const log = join(logDir, 'app.log');
  // the program waits for USR2 before it writes enough for a dozen rotations
  const program = `/bin/sh -c 'trap "go=1" USR2; go=0; echo ready; while [ $go = 0 ]; do sleep 0.02; done; i=0; while [ $i -lt 300 ]; do echo line-$i-padding-padding-padding-padding; i=$((i+1)); done; echo done; exec sleep 100000'`;
  const d = new Daemon(programConfig(logDir, program, 'stdout_logfile_maxbytes = 1KB\nstdout_logfile_backups = 3\nlogfile_gzip = true\n'));
  try {
    await d.up();
    await waitForCondition(() => (contentOf(log) ?? '').includes('ready'), 'the program to be ready', { describe: () => d.daemonStderr() });
    // the temp names drover used before the fix: FILE.gz-tmp-<drover pid>-<sequence>
    for (let seq = 1; seq <= 30; seq++) asUser(['ln', '-s', secret, `${log}.gz-tmp-${d.pid}-${seq}`]);
    const go = await d.cli(['signal', 'USR2', 'app']);
    assert.equal(go.code, 0, show(['signal', 'USR2', 'app'], go));
    const gz = (n: number): string => `${log}.${n}.gz`;
    await waitForCondition(
      () =>
        contentOf(secret) !== SECRET ||
        ((contentOf(log) ?? '').includes('done') && [1, 2, 3].every((n) => existsSync(gz(n)) && !existsSync(`${log}.${n}`))),
      'three gzipped backups after the burst (or a truncated root-only file)',
      { describe: () => d.daemonStderr() },
    );
    assert.equal(contentOf(secret), SECRET, 'gzip output went into a root-only file through a planted temp name');
    for (const n of [1, 2, 3]) {
      assert.ok(lstatSync(gz(n)).isFile(), `${gz(n)} is a regular file, not a planted link`);
      assert.match(gunzipSync(readFileSync(gz(n))).toString(), /^line-\d+-padding/m);
    }
  } finally {
    await d.teardown();
  }
});

test('a log in a sticky shared directory (supervisor\'s logfile=/tmp/supervisord.log): a planted link is refused', { skip: SKIP }, async () => {
  const top = makeTmpDir('drover-sb-sticky-');
  chmodSync(top, 0o755);
  const shared = join(top, 'tmp');
  mkdirSync(shared);
  chmodSync(shared, 0o1777);
  const secret = rootSecret('secret-sticky');
  asUser(['ln', '-s', secret, join(shared, 'supervisord.log')]);
  const d = new Daemon(`[supervisord]
logfile = ${shared}/supervisord.log

[program:app]
command = /bin/sh -c 'exec sleep 100000'
startsecs = 0
stdout_logfile = NONE
stderr_logfile = NONE
`);
  try {
    // the link is not followed (the kernel's protected_symlinks, and drover's own check): drover's own log
    // cannot be opened, and since the twenty-eighth session that fails the start, as supervisord's
    // PermissionError does (it used to run on without its log)
    const up = await d.cli(['up', '-d', '--wait']);
    assert.equal(up.code, 1, show(['up', '-d', '--wait'], up));
    assert.match(up.stderr, /\[supervisord\] logfile: cannot open log file .*supervisord\.log: .*drover does not start without its own log/, show(['up'], up));
    assert.equal(contentOf(secret), SECRET, 'drover wrote its own log into a root-only file through a link in a shared directory');
    // nothing runs on: the daemon that refused is gone
    let last = '';
    await waitForAsync(
      async () => {
        const r = await d.cli(['status']);
        last = show(['status'], r);
        return r.code === 7;
      },
      'the refused daemon to be gone',
      { describe: () => `${last}\n${d.daemonStderr()}` },
    );
  } finally {
    await d.teardown();
    rmSync(top, { recursive: true, force: true });
  }
});

test('check and up refuse a log directory that another user controls, naming the file and line', { skip: SKIP }, async () => {
  const dir = makeTmpDir('drover-sb-check-');
  const userDir = userLogDir('logs-check');
  const open = join(dir, 'open');
  mkdirSync(open);
  chmodSync(open, 0o777);
  const sticky = join(dir, 'sticky');
  mkdirSync(sticky);
  chmodSync(sticky, 0o1777);
  asUser(['ln', '-s', dir, join(user.home, 'link-to-root-dir')]);
  const cases: { name: string; config: string; ok: boolean; line?: number; why?: RegExp }[] = [
    {
      name: 'a root program logging into a user\'s directory',
      config: `[program:p]\ncommand = /bin/true\nstdout_logfile = ${userDir}/p.log\n`,
      ok: false,
      line: 3,
      why: new RegExp(`stdout_logfile: .*${userDir}.* belongs to uid ${user.uid}`),
    },
    {
      name: 'drover\'s own log in a user\'s directory',
      config: `[supervisord]\nlogfile = ${userDir}/drover.log\n\n[program:p]\ncommand = /bin/true\n`,
      ok: false,
      line: 2,
      why: /logfile: .* belongs to uid/,
    },
    {
      name: 'a world-writable directory without the sticky bit',
      config: `[program:p]\ncommand = /bin/true\nstderr_logfile = ${open}/p.log\n`,
      ok: false,
      line: 3,
      why: /stderr_logfile: .*writable by every user/,
    },
    {
      name: 'a path through a link in a directory the program\'s user can change',
      config: `[program:p]\ncommand = /bin/true\nuser = ${user.name}\nstdout_logfile = ${user.home}/link-to-root-dir/p.log\n`,
      ok: false,
      line: 4,
      why: /stdout_logfile: .*symbolic link/,
    },
    { name: 'a user= program logging into its own directory', config: `[program:p]\ncommand = /bin/true\nuser = ${user.name}\nstdout_logfile = ${userDir}/p.log\n`, ok: true },
    { name: 'a sticky shared directory such as /tmp', config: `[supervisord]\nlogfile = ${sticky}/drover.log\n\n[program:p]\ncommand = /bin/true\nstdout_logfile = ${sticky}/p.log\n`, ok: true },
  ];
  try {
    for (const c of cases) {
      const file = writeConfig(dir, c.config, `${c.ok ? 'ok' : 'bad'}-${cases.indexOf(c)}.conf`);
      const r = await runCli(['check', '-c', file], { cwd: dir });
      if (c.ok) {
        assert.equal(r.code, 0, `${c.name}: accepted\n${r.output}`);
        continue;
      }
      assert.equal(r.code, 2, `${c.name}: refused with exit 2\n${r.output}`);
      assert.ok(r.stderr.includes(`${file}:${String(c.line)}:`), `${c.name}: the error names ${file}:${String(c.line)}\n${r.output}`);
      assert.match(r.stderr, c.why as RegExp, `${c.name}: the error says why\n${r.output}`);
    }
    // `drover up` refuses the same config before it starts anything
    const bad = writeConfig(dir, cases[0]?.config ?? '', 'up.conf');
    const up = await runCli(['up', '-d', '-c', bad], { cwd: dir });
    assert.equal(up.code, 2, `drover up refuses it with exit 2\n${up.output}`);
    assert.match(up.stderr, /belongs to uid/);
  } finally {
    // only reached with a running drover when the refusal is missing (before the fix)
    await runCli(['down', '-c', join(dir, 'up.conf')], { cwd: dir }).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('drover\'s own descriptors as log files (stdout_logfile=/dev/fd/1, as in Docker setups) still work', async () => {
  const dir = makeTmpDir('drover-sb-fd-');
  const run = new CliRun(
    [
      'up',
      '-c',
      writeConfig(
        dir,
        `[supervisord]
silent = true

[program:app]
command = /bin/sh -c 'echo through-dev-fd-1; echo through-proc-self-fd-2 >&2; exec sleep 100000'
startsecs = 0
stdout_logfile = /dev/fd/1
stdout_logfile_maxbytes = 0
stderr_logfile = /proc/self/fd/2
stderr_logfile_maxbytes = 0
`,
      ),
    ],
    // a real pipe in between, as a container runtime gives: Node's own stdio pipes are socket pairs, which
    // cannot be opened through /proc (ENXIO), with or without this change
    { cwd: dir, wrapper: ['/bin/sh', '-c', '"$@" 2>&1 | cat', 'sh'] },
  );
  try {
    await run.waitForLine(/^through-dev-fd-1$/m);
    await run.waitForLine(/^through-proc-self-fd-2$/m);
    assert.doesNotMatch(run.output, /cannot open log file/, run.describe());
  } finally {
    await teardown(run, [], dir);
  }
});
