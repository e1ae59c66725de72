// depends_on across `scale`, `reload` and a start's answer, from a review of orchestration: a dependency
// removed by a scale-down or a reload no longer holds its dependent back; a reload that drops a waiting
// program's depends_on starts it; a reload restarting a dependency is waited for by a dependent's start; a
// reload restarting a dependent does not start a dependency an operator stopped; a start that ends on
// ready_timeout says so. Each test synchronises on `status --json` and the CLI's answers, never on time.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Daemon, processViews, show, type CliResult, type ProcView } from '../helpers/daemon.js';
import { fixture, runCli } from '../helpers/drover.js';
import { waitForValue } from '../helpers/web.js';

type Proc = ProcView;
const procs = processViews;

/** Waits until `name` passes `ok` (status --json); fails with the last status and drover's log. */
async function waitForProc(d: Daemon, name: string, what: string, ok: (p: Proc) => boolean, timeoutMs = 15_000): Promise<Proc> {
  let last = new Map<string, Proc>();
  return waitForValue(
    async () => {
      last = await procs(d);
      const p = last.get(name);
      return p !== undefined && ok(p) ? p : null;
    },
    `${name} ${what}`,
    timeoutMs,
    () => JSON.stringify([...last.entries()], null, 1) + d.daemonStderr(),
  );
}

/** `drover ARGS` against `d` in the background, allowed to wait as long as the test needs. */
function background(d: Daemon, args: readonly string[]): Promise<CliResult> {
  return runCli([...args, '-c', d.file], { cwd: d.dir, env: { NO_COLOR: '1' }, timeoutMs: 60_000 });
}

async function ok(d: Daemon, args: readonly string[]): Promise<CliResult> {
  const r = await d.cli(args);
  assert.equal(r.code, 0, `${show(args, r)}\n${d.daemonStderr()}`);
  return r;
}

function log(d: Daemon): string {
  return readFileSync(join(d.dir, '.drover', 'drover.log'), 'utf8');
}

// db_0 is ready at once; any other process of db never is (it stays STARTING, its ready_timeout far off)
const scaled = `[program:db]
command = /bin/sh -c 'if [ %(process_num)d = 0 ]; then echo up; fi; exec sleep 1000'
process_name = %(program_name)s_%(process_num)d
ready = log:up
ready_timeout = 120s
startsecs = 0

[program:web]
command = sleep 1000
depends_on = db
autostart = false
startsecs = 0
`;

// A start of web waiting for db_1 was answered E_DEPENDENCY ("db_1 is stopped") when a scale-down removed
// db_1, and without a waiting start web stayed "about to start" for good once db_1 was gone.
for (const removal of [['scale', 'db', '1'], ['reload', '--no-wait']]) {
  test(`start web waits for db_1; ${removal.join(' ')} removes db_1: web starts, over db_0 alone`, async () => {
    const d = new Daemon(scaled);
    try {
      await d.up();
      await ok(d, ['scale', 'db', '2', '--no-wait']);
      await waitForProc(d, 'db:db_1', 'to be starting', (p) => p.state === 'starting');
      const start = background(d, ['start', 'web']);
      const waiting = await waitForProc(d, 'web:web', 'to wait for db', (p) => p.waiting !== null);
      assert.equal(waiting.waiting, 'waiting for db:started (db_1 is starting)');
      // reload goes back to the file's numprocs (1): db_1 is removed, as by the scale
      const r = await ok(d, removal);
      assert.match(r.stdout, /^db:db_1: removed$/m, show(removal, r));
      const s = await start;
      assert.equal(s.code, 0, `${show(['start', 'web'], s)}\n${d.daemonStderr()}`);
      assert.match(s.stdout, /^web: started$/m, show(['start', 'web'], s));
      const after = await procs(d);
      assert.equal(after.get('web:web')?.state, 'running');
      assert.equal(after.get('db:db_0')?.state, 'running');
      assert.equal(after.has('db:db_1'), false);
    } finally {
      assert.deepEqual(await d.teardown(), []);
    }
  });
}

test('start web --no-wait waits for db_1; scale db 1: web starts (it stayed "about to start")', async () => {
  const d = new Daemon(scaled);
  try {
    await d.up();
    await ok(d, ['scale', 'db', '2', '--no-wait']);
    await waitForProc(d, 'db:db_1', 'to be starting', (p) => p.state === 'starting');
    const start = await ok(d, ['start', 'web', '--no-wait']);
    assert.match(start.stdout, /^web: waiting for db:started \(db_1 is starting\)$/m, show(['start', 'web', '--no-wait'], start));
    await ok(d, ['scale', 'db', '1']);
    await waitForProc(d, 'web:web', 'to be running', (p) => p.state === 'running');
  } finally {
    assert.deepEqual(await d.teardown(), []);
  }
});

// reload said "changed (depends_on or essential: applied without a restart)" and web went on waiting for
// the FATAL db it no longer depends on. update's text said "web: updated process group", which reads as a
// restart, where its --json said what reload says.
for (const verb of [['reload', '--no-wait'], ['update']]) {
  test(`${verb[0]} that removes the depends_on of a program held back by a FATAL dependency starts it, and says it applied it without a restart`, async () => {
    const config = `[program:db]
command = /bin/sh -c 'exit 3'
startretries = 0

[program:web]
command = sleep 1000
depends_on = db
startsecs = 0
`;
    const d = new Daemon(config);
    try {
      await d.upWithFailures();
      const held = await waitForProc(d, 'web:web', 'to be held back by db', (p) => p.blocked);
      assert.match(held.waiting ?? '', /^db is FATAL/);
      writeFileSync(d.file, config.replace('depends_on = db\n', ''));
      const r = await ok(d, verb);
      assert.match(r.stdout, /^web:web: changed \(depends_on or essential: applied without a restart\)$/m, show(verb, r));
      assert.doesNotMatch(r.stdout, /updated process group/, show(verb, r));
      await waitForProc(d, 'web:web', 'to be running', (p) => p.state === 'running');
    } finally {
      assert.deepEqual(await d.teardown(), []);
    }
  });
}

// docs/orchestration.md: a start of web while an update restarts db waits for db to run with its new config.
// Between db's stop and its new start it answered E_DEPENDENCY ("db is stopped"), and web started later anyway.
test('start web waits for db:ready; reload restarts db: the start waits for the new db, then web starts', async () => {
  const config = (command: string): string => `[program:db]
command = ${command}
ready = exec:test -f %(here)s/flag
ready_interval = 50ms
ready_timeout = 120s
startsecs = 0
autostart = false

[program:web]
command = sleep 1000
depends_on = db:ready
autostart = false
startsecs = 0
`;
  const d = new Daemon(config('sleep 1000'));
  try {
    await d.up();
    const start = background(d, ['start', 'web']);
    // web's start pulled db, which stays STARTING until the flag exists
    const waiting = await waitForProc(d, 'web:web', 'to wait for db', (p) => p.waiting !== null);
    assert.equal(waiting.waiting, 'waiting for db:ready (db is starting)');
    const oldPid = (await procs(d)).get('db:db')?.pid ?? 0;
    writeFileSync(d.file, config('sleep 1001'));
    const r = await ok(d, ['reload', '--no-wait']);
    assert.match(r.stdout, /^db:db: changed$/m, show(['reload', '--no-wait'], r));
    await waitForProc(d, 'db:db', 'to start again with its new config', (p) => p.state === 'starting' && p.pid !== oldPid);
    const still = (await procs(d)).get('web:web');
    assert.equal(still?.blocked, false, JSON.stringify(still));
    assert.equal(still?.waiting, 'waiting for db:ready (db is starting)');
    writeFileSync(join(d.dir, 'flag'), '');
    const s = await start;
    assert.equal(s.code, 0, `${show(['start', 'web'], s)}\n${d.daemonStderr()}`);
    assert.match(s.stdout, /^web: started$/m, show(['start', 'web'], s));
    assert.equal((await procs(d)).get('web:web')?.state, 'running');
  } finally {
    assert.deepEqual(await d.teardown(), []);
  }
});

// docs/orchestration.md: a dependency stopped by hand is pulled only by an explicit `drover start` of its
// dependent. A reload restarting web (a changed key) started db again, and db's remembered state stayed
// "stopped", so the next `down; up` left it down.
test('reload restarts web, whose dependency db an operator stopped: db stays stopped, web waits for it, blocked', async () => {
  const config = (stopWaitSecs: number): string => `[program:db]
command = sleep 1000
startsecs = 0

[program:web]
command = sleep 1000
depends_on = db
startsecs = 0
stopwaitsecs = ${stopWaitSecs}
`;
  const d = new Daemon(config(10));
  try {
    await d.up();
    await ok(d, ['stop', 'db']);
    assert.equal((await procs(d)).get('web:web')?.state, 'running', 'a stop does not cascade to dependents');
    const from = log(d).length;
    writeFileSync(d.file, config(11));
    const r = await ok(d, ['reload', '--no-wait']);
    assert.match(r.stdout, /^web:web: changed$/m, show(['reload', '--no-wait'], r));
    // the restart of web has been asked for when reload answers: web is waiting, or db was pulled
    const s = await procs(d);
    assert.equal(s.get('db:db')?.state, 'stopped', `db stays stopped\n${JSON.stringify([...s.entries()], null, 1)}\n${d.daemonStderr()}`);
    assert.equal(s.get('web:web')?.state, 'stopped');
    assert.equal(s.get('web:web')?.waiting, 'db is stopped');
    assert.equal(s.get('web:web')?.blocked, true);
    assert.doesNotMatch(log(d).slice(from), /db: stopped → starting/, 'db was not started');
    // blocked, not given up: an explicit start of db lets web follow
    await ok(d, ['start', 'db']);
    await waitForProc(d, 'web:web', 'to be running', (p) => p.state === 'running');
  } finally {
    assert.deepEqual(await d.teardown(), []);
  }
});

// The answer said "E_ABNORMAL_TERMINATION (a:a is stopping)": the state it passed through, not why.
test('drover start of a program whose ready check never passes answers the ready_timeout, as the log does', async () => {
  const d = new Daemon(`[program:a]
command = sleep 1000
ready = exec:/bin/false
ready_interval = 50ms
ready_timeout = 1s
startretries = 0
autostart = false
`);
  try {
    await d.up();
    const r = await d.cli(['start', 'a']);
    assert.equal(r.code, 1, `${show(['start', 'a'], r)}\n${d.daemonStderr()}`);
    assert.match(r.stdout, /^a: ERROR E_ABNORMAL_TERMINATION \(not ready within ready_timeout \(1s\)\)$/m, show(['start', 'a'], r));
    assert.match(log(d), /a: starting → stopping \(not ready within ready_timeout \(1s\): a failed start\)/);
  } finally {
    assert.deepEqual(await d.teardown(), []);
  }
});

// A reload changing both web and the db it depends on stopped them at once: db was gone while web (slow
// to stop) still drained. `stop all`, `restart all` and `down` stop web first; a reload now does too.
for (const how of ['changed', 'removed'] as const) {
  test(`reload that restarts db and ${how === 'changed' ? 'restarts' : 'removes'} web, which depends on it: db stops only once web has stopped`, async () => {
    const config = (n: number, withWeb: boolean): string => `[program:db]
command = sleep ${1000 + n}
startsecs = 0
${withWeb ? `
[program:web]
command = ${process.execPath} ${fixture('ignore-term.mjs')} ${n}
depends_on = db
startsecs = 0
stopwaitsecs = 120
` : ''}`;
    const d = new Daemon(config(0, true));
    try {
      await d.up();
      const from = log(d).length;
      writeFileSync(d.file, config(1, how === 'changed'));
      const reload = background(d, ['reload']);
      // web ignores TERM: it stays STOPPING until it is killed, and db waits for it
      await waitForProc(d, 'web:web', 'to be stopping', (p) => p.state === 'stopping');
      const during = await procs(d);
      assert.equal(during.get('db:db')?.state, 'running', `db waits for web to stop\n${JSON.stringify([...during.entries()], null, 1)}\n${log(d).slice(from)}`);
      await ok(d, ['signal', 'KILL', 'web']);
      const r = await reload;
      assert.equal(r.code, 0, `${show(['reload'], r)}\n${d.daemonStderr()}`);
      assert.match(r.stdout, /^db:db: changed$/m, show(['reload'], r));
      const lines = log(d).slice(from);
      const webStopped = lines.indexOf('web: stopping → stopped');
      const dbStopping = lines.indexOf('db: running → stopping');
      assert.ok(webStopped >= 0 && dbStopping > webStopped, `web stopped before db's stop began\n${lines}`);
      assert.equal((await procs(d)).get('db:db')?.state, 'running');
    } finally {
      assert.deepEqual(await d.teardown(), []);
    }
  });
}
