// Issue 11, finding 5: drover uses a runtime directory only when it is its own. A directory another user
// created (or could write, or could swap for another) is refused with exit 2 before drover writes
// anything into it; `drover serve` no longer writes serve.ini through a planted symlink.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, lchownSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CliRun, fixture, livePids, makeTmpDir, runCli, teardown, waitForCondition, writeConfig } from '../helpers/drover.js';
import { canCreateUsers, createTestUser, type TestUser } from '../helpers/users.js';
import { freePort } from '../helpers/web.js';

let user: TestUser | null = null;

before(() => {
  if (canCreateUsers()) user = createTestUser('drvd5');
});

after(() => {
  user?.remove();
});

/** The test user, or a loud skip where users cannot be created (not root, no useradd). */
function needUser(t: { skip: (m: string) => void }): TestUser | null {
  if (user === null) t.skip('needs root and useradd to create a throw-away user');
  return user;
}

/** A temp dir the test user can reach (mkdtemp makes it 0700). */
function reachableTmpDir(): string {
  const dir = makeTmpDir('drover-rtdir-');
  chmodSync(dir, 0o755);
  return dir;
}

/** Runs drover until it exits or reports that it is up (then it is a failure of the test: it used the dir). */
async function settle(run: CliRun): Promise<{ code: number | null; started: boolean }> {
  return run.waitUntil(
    () => {
      if (run.child.exitCode !== null || run.child.signalCode !== null) return { code: run.child.exitCode, started: false };
      return /drover up: pid \d+/.test(run.output) ? { code: null, started: true } : null;
    },
    'drover to exit or to start',
    15_000,
  );
}

/**
 * Ends the run, and a daemon it may have started (only where drover wrongly used the directory: then its
 * pidfile is there), then removes the temp dir.
 */
async function cleanUp(run: CliRun | null, base: string, pidfile?: string): Promise<void> {
  if (pidfile !== undefined && existsSync(pidfile)) {
    const pid = Number(readFileSync(pidfile, 'utf8').trim());
    if (pid > 0 && livePids([pid]).length > 0) {
      process.kill(pid, 'SIGTERM');
      await waitForCondition(() => livePids([pid]).length === 0, `the daemon ${pid} to exit`, { timeoutMs: 10_000 });
    }
  }
  if (run) await teardown(run, [], base);
  else rmSync(base, { recursive: true, force: true });
}

function upConfig(dir: string, runtimeDir: string): string {
  return writeConfig(dir, `[supervisord]\nruntime_dir = ${runtimeDir}\n\n[program:p]\ncommand = /bin/sleep 1000\nstartsecs = 0\n`);
}

test('drover serve refuses a .drover another user planted in a shared sticky directory, and writes nothing through it', async (t) => {
  const u = needUser(t);
  if (!u) return;
  const base = reachableTmpDir();
  // a world-writable sticky directory standing in for /tmp
  const shared = join(base, 'shared');
  mkdirSync(shared);
  chmodSync(shared, 0o1777);
  const evil = join(u.home, 'evil.ini');
  const port = await freePort();
  let run: CliRun | null = null;
  try {
    const planted = u.run(['/bin/sh', '-c', `mkdir "$1/.drover" && chmod 777 "$1/.drover" && ln -s "$2" "$1/.drover/serve.ini"`, 'sh', shared, evil]);
    assert.equal(planted.code, 0, planted.stderr);
    run = new CliRun(['serve', fixture('worker-app.mjs'), '-w', '1', '-b', `127.0.0.1:${port}`], { cwd: shared });
    const r = await settle(run);
    assert.equal(r.started, false, `drover must not start in a directory ${u.name} owns\n${run.describe()}`);
    assert.equal(r.code, 2, run.describe());
    assert.match(run.stderr, new RegExp(`runtime directory ${join(shared, '.drover')} belongs to uid ${u.uid}`), run.describe());
    assert.equal(existsSync(evil), false, `serve.ini was written through ${u.name}'s symlink`);
  } finally {
    await cleanUp(run, base);
  }
});

test('drover up -d refuses a runtime_dir another user created with mode 0777, before opening daemon.stderr in it', async (t) => {
  const u = needUser(t);
  if (!u) return;
  const base = reachableTmpDir();
  const shared = join(base, 'shared');
  mkdirSync(shared);
  chmodSync(shared, 0o1777);
  const rt = join(shared, 'rt');
  const target = join(base, 'root-only-file');
  let run: CliRun | null = null;
  try {
    const planted = u.run(['/bin/sh', '-c', `mkdir -m 777 "$1" && ln -s "$2" "$1/daemon.stderr"`, 'sh', rt, target]);
    assert.equal(planted.code, 0, planted.stderr);
    run = new CliRun(['up', '-d', '--no-wait', '-c', upConfig(base, rt)], { cwd: base });
    const exit = await run.waitForExit(15_000);
    assert.equal(exit.code, 2, run.describe());
    assert.match(run.stderr, new RegExp(`runtime directory ${rt} belongs to uid ${u.uid} \\(${u.name}\\), not to drover's user \\(uid 0\\)`), run.describe());
    assert.equal(existsSync(target), false, 'root created a file through the planted daemon.stderr symlink');
  } finally {
    await cleanUp(run, base, join(rt, 'drover.pid'));
  }
});

test('a runtime directory that is a symbolic link is refused, even one pointing at a private directory', async () => {
  const base = makeTmpDir('drover-rtdir-');
  const real = join(base, 'real');
  mkdirSync(real, { mode: 0o700 });
  const link = join(base, 'rt');
  symlinkSync(real, link);
  const conf = upConfig(base, link);
  const run = new CliRun(['up', '-c', conf], { cwd: base });
  try {
    // check reports what up refuses, with the same message, and creates nothing
    const checked = await runCli(['check', '-c', conf], { cwd: base });
    assert.equal(checked.code, 2, `check of a symlinked runtime_dir\n${checked.output}`);
    assert.match(checked.stderr, new RegExp(`runtime directory ${link} is a symbolic link \\(to ${real}\\)`), checked.output);
    const json = await runCli(['check', '-c', conf, '--json'], { cwd: base });
    assert.equal(json.code, 2, json.output);
    const answer = JSON.parse(json.stdout) as { ok: boolean; code: string; problems: string[] };
    assert.deepEqual([answer.ok, answer.code, answer.problems.length], [false, 'E_CONFIG', 1], json.output);
    assert.deepEqual(readdirSync(real), [], 'check wrote nothing into the directory');
    const r = await settle(run);
    assert.equal(r.code, 2, run.describe());
    assert.match(run.stderr, new RegExp(`runtime directory ${link} is a symbolic link`), run.describe());
  } finally {
    await teardown(run, [], base);
  }
});

test('a runtime directory that group or others can write is refused, even when drover owns it', async () => {
  const base = makeTmpDir('drover-rtdir-');
  const rt = join(base, 'rt');
  mkdirSync(rt);
  chmodSync(rt, 0o777);
  // what another user could have planted while the directory was open
  writeFileSync(join(rt, 'planted'), 'x');
  const run = new CliRun(['up', '-c', upConfig(base, rt)], { cwd: base });
  try {
    const r = await settle(run);
    assert.equal(r.code, 2, run.describe());
    assert.match(run.stderr, new RegExp(`runtime directory ${rt} is writable by group or others \\(mode 0777\\)`), run.describe());
    assert.equal(statSync(rt).mode & 0o777, 0o777, 'drover left the directory as it was');
  } finally {
    await teardown(run, [], base);
  }
});

test('a runtime directory inside a directory anyone can write without the sticky bit is refused', async () => {
  const base = makeTmpDir('drover-rtdir-');
  const open = join(base, 'open');
  mkdirSync(open);
  chmodSync(open, 0o777);
  const rt = join(open, 'rt');
  const run = new CliRun(['up', '-c', upConfig(base, rt)], { cwd: base });
  try {
    const r = await settle(run);
    assert.equal(r.code, 2, run.describe());
    assert.match(run.stderr, new RegExp(`runtime directory ${rt}: ${open} is writable by others \\(mode 0777\\) without the sticky bit`), run.describe());
  } finally {
    await teardown(run, [], base);
  }
});

test('a runtime directory reached through a symlink that another user owns is refused', async (t) => {
  const u = needUser(t);
  if (!u) return;
  const base = reachableTmpDir();
  const real = join(base, 'real');
  mkdirSync(real, { mode: 0o755 });
  const link = join(base, 'link');
  symlinkSync(real, link);
  // its owner could point it elsewhere at any time
  lchownSync(link, u.uid, u.gid);
  const rt = join(link, 'rt');
  const run = new CliRun(['up', '-c', upConfig(base, rt)], { cwd: base });
  try {
    const r = await settle(run);
    assert.equal(r.code, 2, run.describe());
    assert.match(run.stderr, new RegExp(`runtime directory ${rt}: ${link} is a symbolic link owned by uid ${u.uid}`), run.describe());
  } finally {
    await teardown(run, [], base);
  }
});

test('control: a missing runtime directory in a sticky shared directory is created 0700 and used', async () => {
  const base = makeTmpDir('drover-rtdir-');
  const shared = join(base, 'shared');
  mkdirSync(shared);
  chmodSync(shared, 0o1777);
  const rt = join(shared, 'rt');
  const run = new CliRun(['up', '-c', upConfig(base, rt)], { cwd: base });
  try {
    const r = await settle(run);
    assert.equal(r.started, true, run.describe());
    assert.equal(statSync(rt).mode & 0o7777, 0o700);
    assert.match(readFileSync(join(rt, 'drover.pid'), 'utf8'), /^\d+/);
    run.signal('SIGTERM');
    assert.equal((await run.waitForExit(10_000)).code, 0, run.describe());
  } finally {
    await teardown(run, [], base);
  }
});
