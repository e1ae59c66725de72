// Issue 11, finding 9 of the security review: the pidfile (and the desired-state file) were written through
// a temp name that anyone could predict (FILE.<pid>.tmp) and that was opened following links and truncated.
// With `pidfile=/tmp/…` (supervisor's sample config) any local user could make root overwrite a file.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Daemon, show } from '../helpers/daemon.js';
import { CliRun, makeTmpDir, teardown, waitForCondition, writeConfig } from '../helpers/drover.js';
import { canCreateUsers, createTestUser, type TestUser } from '../helpers/users.js';

const SKIP = !canCreateUsers() && 'needs root and useradd (throw-away users)';
const SECRET = 'ROOT FILE CONTENT\n';

let user: TestUser;
/** root 0700: the targets of the planted links */
let rootDir: string;

before(() => {
  if (SKIP) return;
  user = createTestUser('drvsp');
  rootDir = makeTmpDir('drover-sp-root-');
});

after(() => {
  if (SKIP) return;
  user.remove();
  rmSync(rootDir, { recursive: true, force: true });
});

function contentOf(file: string): string | null {
  return existsSync(file) ? readFileSync(file, 'utf8') : null;
}

/** The one-letter state of a process (T when stopped), or null once it is gone. */
function procState(pid: number): string | null {
  const stat = contentOf(`/proc/${pid}/stat`);
  return stat === null ? null : stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
}

test('pidfile in a sticky shared directory: a link planted under the temp name is not written through', { skip: SKIP }, async () => {
  const top = makeTmpDir('drover-sp-');
  chmodSync(top, 0o755);
  const shared = join(top, 'tmp');
  mkdirSync(shared);
  chmodSync(shared, 0o1777);
  const secret = join(rootDir, 'target');
  writeFileSync(secret, SECRET, { mode: 0o600 });
  const pidfile = join(shared, 'x.pid');
  const file = writeConfig(
    top,
    `[supervisord]
pidfile = ${pidfile}
runtime_dir = ${join(top, 'run')}

[program:app]
command = /bin/sh -c 'exec sleep 100000'
startsecs = 0
`,
  );
  // drover's pid is known before it runs: a shell stops itself, the test plants the link under the name
  // that pid would use, and the shell then execs drover (same pid)
  const run = new CliRun(['up', '-c', file], { cwd: top, wrapper: ['/bin/sh', '-c', 'kill -STOP $$; exec "$@"', 'sh'] });
  try {
    await waitForCondition(() => procState(run.pid) === 'T', 'the wrapper shell to stop itself', { describe: () => run.describe() });
    const planted = user.run(['ln', '-s', secret, `${pidfile}.${run.pid}.tmp`]);
    assert.equal(planted.code, 0, planted.stderr);
    process.kill(run.pid, 'SIGCONT');
    const m = await run.waitForLine(/drover up: pid (\d+)/);
    assert.equal(Number(m[1]), run.pid, 'drover kept the shell\'s pid');
    await waitForCondition(() => contentOf(pidfile) === `${run.pid}\n` || contentOf(secret) !== SECRET, 'the pidfile', { describe: () => run.describe() });
    assert.equal(contentOf(secret), SECRET, 'drover wrote its pid into a root-only file through the planted link');
    assert.ok(lstatSync(pidfile).isFile(), 'the pidfile is a regular file, not the planted link');
    assert.equal(lstatSync(pidfile).mode & 0o777, 0o644);
  } finally {
    await teardown(run, [], top);
  }
});

test('desired-state file: a link under the old temp name is not written through', { skip: SKIP }, async () => {
  const d = new Daemon(`[program:app]
command = /bin/sh -c 'exec sleep 100000'
startsecs = 0
`);
  const victim = join(rootDir, 'state-victim');
  writeFileSync(victim, SECRET, { mode: 0o600 });
  try {
    await d.up();
    const state = join(d.dir, '.drover', 'desired-state.json');
    // planted by root here: the runtime directory is root's 0700 one (finding 5 keeps it so); this shows the
    // write itself no longer follows a link or trusts a predictable name
    symlinkSync(victim, `${state}.${d.pid}.tmp`);
    const r = await d.cli(['stop', 'app']);
    assert.equal(r.code, 0, show(['stop', 'app'], r));
    assert.equal(contentOf(victim), SECRET, 'drover wrote its desired state into another file through a link');
    assert.ok(lstatSync(state).isFile(), 'desired-state.json is a regular file');
    assert.deepEqual(JSON.parse(contentOf(state) ?? 'null'), { 'app:app': 'stopped' });
    assert.equal(lstatSync(state).mode & 0o777, 0o600);
  } finally {
    await d.teardown();
  }
});

test('journal in a sticky shared directory: a link planted under the old compaction temp name is not written through', { skip: SKIP }, async () => {
  const top = makeTmpDir('drover-sp-');
  chmodSync(top, 0o755);
  const shared = join(top, 'tmp');
  mkdirSync(shared);
  chmodSync(shared, 0o1777);
  const secret = join(rootDir, 'journal-target');
  writeFileSync(secret, SECRET, { mode: 0o600 });
  const journal = join(shared, 'tasks.journal');
  const file = writeConfig(
    top,
    `[supervisord]
journal = ${journal}
runtime_dir = ${join(top, 'run')}
`,
  );
  // the journal is compacted at start-up, through what used to be JOURNAL.<pid>.tmp
  const run = new CliRun(['up', '-c', file], { cwd: top, wrapper: ['/bin/sh', '-c', 'kill -STOP $$; exec "$@"', 'sh'] });
  try {
    await waitForCondition(() => procState(run.pid) === 'T', 'the wrapper shell to stop itself', { describe: () => run.describe() });
    const planted = user.run(['ln', '-s', secret, `${journal}.${run.pid}.tmp`]);
    assert.equal(planted.code, 0, planted.stderr);
    process.kill(run.pid, 'SIGCONT');
    await run.waitForLine(/journal .*: 0 task\(s\) restored/);
    assert.equal(contentOf(secret), SECRET, 'drover wrote its journal into a root-only file through the planted link');
    assert.ok(lstatSync(journal).isFile(), 'the journal is a regular file, not the planted link');
  } finally {
    await teardown(run, [], top);
  }
});
