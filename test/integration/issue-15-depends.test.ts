// Issue 15, depends_on: the issue's scenario — a web app that needs its database listening and a migration
// finished — starts once, in order, with no restart (and, as a negative control, restarts when only
// priorities order it); dependents wait with a reason in status and XML-RPC; a failed job keeps them stopped
// and `drover start` says why; `drover start web` starts what web needs first; a shutdown stops dependents
// before what they depend on; cycles and unknown names are config errors with FILE:LINE.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Daemon, show } from '../helpers/daemon.js';
import { fixture, makeTmpDir, runCli, startUp, teardown, writeConfig } from '../helpers/drover.js';
import { freePort, waitForValue } from '../helpers/web.js';
import { rpcValue } from '../helpers/xmlrpc.js';

const node = process.execPath;

interface Status {
  readonly pid: number | null;
  readonly name: string;
  readonly state: string;
  readonly restarts: number;
  readonly exit_status: number | null;
  readonly depends_on: readonly string[];
  readonly waiting: string | null;
  readonly blocked: boolean;
}

async function statuses(file: string): Promise<Map<string, Status>> {
  const r = await runCli(['status', '--json', '-c', file]);
  const body = JSON.parse(r.stdout) as { processes: Status[] };
  return new Map(body.processes.map((p) => [p.name, p]));
}

/**
 * db listens after 1.5 s (or once `opts.dbGate` exists); migrate (needs db) writes the marker after 0.4 s;
 * web needs both at its start.
 */
function scenario(dir: string, port: number, opts: { depends: boolean; migrateCode?: number; dbGate?: string }): string {
  const marker = join(dir, 'migrated');
  return `[supervisorctl]
serverurl = unix://%(here)s/.drover/drover.sock

[program:db]
command = ${node} ${fixture('serve.mjs')} tcp ${port} ${opts.dbGate === undefined ? '1500' : `file:${opts.dbGate}`}
ready = tcp://127.0.0.1:${port}
ready_interval = 50ms
priority = 900

[program:migrate]
command = ${node} ${fixture('needs-db.mjs')} migrate ${port} ${marker} 400 ${opts.migrateCode ?? 0}
${opts.depends ? 'depends_on = db:ready' : ''}
startsecs = 0
autorestart = false
priority = 1

[program:web]
command = ${node} ${fixture('needs-db.mjs')} ${port} ${marker}
${opts.depends ? 'depends_on = db:ready, migrate:completed' : ''}
startretries = 10
priority = 1
`;
}

test('the issue: web waits for db:ready and migrate:completed, starts once, never restarts; stops first', async () => {
  const dir = makeTmpDir();
  const port = await freePort();
  const dbGate = join(dir, 'db-go');
  const file = writeConfig(dir, scenario(dir, port, { depends: true, dbGate }));
  const run = await startUp(file);
  try {
    await run.waitForLine(/db \| started/);
    const early = await statuses(file);
    assert.equal(early.get('web:web')?.state, 'stopped');
    assert.match(early.get('web:web')?.waiting ?? '', /^waiting for db:ready \(db is starting\)$/);
    assert.match(early.get('migrate:migrate')?.waiting ?? '', /^waiting for db:ready/);
    // supervisorctl's status column shows the same reason
    const info = (await rpcValue(join(dir, '.drover', 'drover.sock'), 'supervisor.getProcessInfo', ['web'])) as Record<string, unknown>;
    assert.equal(info['statename'], 'STOPPED');
    assert.match(String(info['description']), /^waiting for db:ready/);
    // and Debian's real supervisorctl: db STARTING until its check passes, web STOPPED with the reason
    const ctl = spawnSync('/usr/bin/supervisorctl', ['-c', file, 'status'], { encoding: 'utf8', env: { ...process.env, LANG: 'C.UTF-8' } });
    assert.match(ctl.stdout, /^db\s+STARTING\s*$/m, `${ctl.stdout}${ctl.stderr}\n${run.describe()}`);
    assert.match(ctl.stdout, /^web\s+STOPPED\s+waiting for db:ready/m, ctl.stdout);
    writeFileSync(dbGate, '');

    await run.waitForLine(/web \| up \d+/, { timeoutMs: 10_000 });
    await run.waitForLine(/web: starting → running/);
    const out = run.output;
    const order = ['db: starting → running', 'migrate: stopped → starting', 'migrate: running → exited (exit status 0; expected)', 'web: stopped → starting'].map((s) => out.indexOf(s));
    assert.ok(order.every((i, n) => i >= 0 && (n === 0 || i > (order[n - 1] as number))), `start order\n${out}`);
    assert.equal(run.count(/spawned: web with pid/), 1, 'web spawned once');
    assert.doesNotMatch(out, /web \| (db not up|not migrated)/);
    const settled = await statuses(file);
    assert.equal(settled.get('web:web')?.restarts, 0);
    assert.equal(settled.get('web:web')?.waiting, null);
    assert.equal(settled.get('migrate:migrate')?.state, 'exited');

    // shutdown: by priority db (900) would stop before web (1); web depends on db, so it stops first
    run.signal('SIGTERM');
    assert.equal((await run.waitForExit(10_000)).code, 0, run.describe());
    const end = run.output;
    const webStopped = end.indexOf('web: stopping → stopped');
    const dbStopping = end.indexOf('db: running → stopping');
    assert.ok(webStopped >= 0 && dbStopping > webStopped, `web stopped before db was asked to stop\n${end}`);
  } finally {
    await teardown(run, [], dir);
  }
});

test('negative control: ordered by priority alone, the same web fails and restarts', async () => {
  const dir = makeTmpDir();
  const port = await freePort();
  const run = await startUp(writeConfig(dir, scenario(dir, port, { depends: false })));
  try {
    await run.waitForLine(/web \| (db not up|not migrated)/);
    await run.waitForCount(/spawned: web with pid/, 2);
  } finally {
    await teardown(run, [], dir);
  }
});

test('a failed job keeps its dependents stopped with the reason; drover start runs it again and reports the failure', async () => {
  const port = await freePort();
  const d = new Daemon('');
  const file = writeConfig(d.dir, scenario(d.dir, port, { depends: true, migrateCode: 3 }));
  try {
    // up -d --wait follows the waiting web until its dependency failed, and says so
    const up = await d.cli(['up', '-d', '--wait']);
    d.pid = Number(readFileSync(join(d.dir, '.drover', 'drover.pid'), 'utf8'));
    d.seen.add(d.pid);
    assert.equal(up.code, 1, show(['up', '-d', '--wait'], up));
    assert.match(up.stderr, /drover up: web did not start: migrate failed \(exit 3\)/);
    let last = new Map<string, Status>();
    const s = await waitForValue(
      async () => {
        last = await statuses(file);
        return last.get('web:web')?.blocked ? last : null;
      },
      'web to be held back by the failed migration',
      10_000,
      () => JSON.stringify([...last.values()], null, 1) + d.daemonStderr(),
    );
    assert.equal(s.get('migrate:migrate')?.exit_status, 3);
    assert.equal(s.get('web:web')?.state, 'stopped');
    assert.equal(s.get('web:web')?.waiting, 'migrate failed (exit 3)');
    assert.equal(s.get('web:web')?.blocked, true);
    const text = await d.cli(['status', 'web']);
    assert.match(text.stdout, /web\s+stopped.*migrate failed \(exit 3\)/, show(['status', 'web'], text));

    const r = await d.cli(['start', 'web']);
    assert.equal(r.code, 1, show(['start', 'web'], r));
    assert.match(r.stdout, /^web: ERROR E_DEPENDENCY \(not started: migrate failed \(exit 3\)\)/m);
    const log = d.daemonStderr();
    assert.equal([...log.matchAll(/spawned: migrate with pid/g)].length, 2, `migrate ran again for the start\n${log}`);
    assert.equal([...log.matchAll(/spawned: web with pid/g)].length, 0, log);
  } finally {
    assert.deepEqual(await d.teardown(), []);
  }
});

test('drover start web starts what it depends on first (a group, a program), then web', async () => {
  const port = await freePort();
  const d = new Daemon('');
  const marker = join(d.dir, 'migrated');
  const file = writeConfig(
    d.dir,
    `[group:data]
programs = db

[program:db]
command = ${node} ${fixture('serve.mjs')} tcp ${port} 300
ready = tcp://127.0.0.1:${port}
ready_interval = 50ms
autostart = false

[program:migrate]
command = ${node} ${fixture('needs-db.mjs')} migrate ${port} ${marker} 100 0
depends_on = data:ready
startsecs = 0
autorestart = false
autostart = false

[program:web]
command = ${node} ${fixture('needs-db.mjs')} ${port} ${marker}
depends_on = data:ready, migrate:completed
autostart = false
`,
  );
  try {
    await d.up();
    const before = await statuses(file);
    assert.ok([...before.values()].every((p) => p.state === 'stopped'), 'nothing autostarts');
    const r = await d.cli(['start', 'web']);
    assert.equal(r.code, 0, `${show(['start', 'web'], r)}\n${d.daemonStderr()}`);
    const s = await statuses(file);
    assert.equal(s.get('web:web')?.state, 'running');
    assert.equal(s.get('web:web')?.restarts, 0);
    assert.equal(s.get('data:db')?.state, 'running');
    assert.equal(s.get('migrate:migrate')?.state, 'exited');
    const log = d.daemonStderr();
    const at = (re: RegExp): number => log.search(re);
    assert.ok(at(/db: starting → running/) < at(/spawned: migrate/) && at(/migrate: running → exited/) < at(/spawned: web/), log);
  } finally {
    assert.deepEqual(await d.teardown(), []);
  }
});

test('cycles, unknown names and impossible conditions are config errors with FILE:LINE (exit 2)', async () => {
  const dir = makeTmpDir();
  const file = writeConfig(
    dir,
    `[program:a]
command = /bin/sleep 100
depends_on = b

[program:b]
command = /bin/sleep 100
depends_on = a:started

[program:c]
command = /bin/sleep 100
depends_on = dbx:ready

[program:d]
command = /bin/sleep 100
depends_on = c:ready

[program:e]
command = /bin/sleep 100
depends_on = c:done

[program:f]
command = /bin/sleep 100
depends_on = backend:*
`,
  );
  try {
    for (const args of [['check'], ['up']]) {
      const r = await runCli([...args, '-c', file]);
      assert.equal(r.code, 2, r.output);
      assert.match(r.stderr, new RegExp(`${file}:3: \\[program:a\\] depends_on: a cycle: a → b → a`));
      assert.match(r.stderr, new RegExp(`${file}:11: \\[program:c\\] depends_on: names no program or group \\(got "dbx"`));
      assert.match(r.stderr, new RegExp(`${file}:15: \\[program:d\\] depends_on: c:ready can never hold: c has no ready check`));
      assert.match(r.stderr, new RegExp(`${file}:19: \\[program:e\\] depends_on: "c:done": "done" is not a condition`));
      assert.match(r.stderr, new RegExp(`${file}:23: \\[program:f\\] depends_on: "backend:\\*": "\\*" is not a condition \\(started, ready or completed\\); a group is named by its name alone \\(backend\\) and a program by its program name, each with an optional :CONDITION`), r.output);
    }
  } finally {
    const { rmSync } = await import('node:fs');
    rmSync(dir, { recursive: true, force: true });
  }
});

// A `:completed` job with autorestart = unexpected that exits non-zero ran again at once, for ever, and its
// dependents waited with no word of the failure; nothing said so before it started.
test('a :completed job with autorestart = unexpected: check warns at its autorestart line', async () => {
  const dir = makeTmpDir();
  const file = writeConfig(
    dir,
    `[program:migrate]
command = /bin/sh -c 'exit 5'
startsecs = 0
autorestart = unexpected
autostart = false

[program:web]
command = /bin/sleep 100
depends_on = migrate:completed
autostart = false
`,
  );
  try {
    const r = await runCli(['check', '-c', file]);
    assert.equal(r.code, 0, r.output);
    assert.match(r.stderr, new RegExp(`${file}:4: warning: \\[program:migrate\\] autorestart: autorestart = unexpected on a job others wait for \\(migrate:completed\\): it runs again at once after every exit with a code not in its exitcodes, and its dependents wait while it does, never told it failed; set autorestart = false in \\[program:migrate\\] for a job others wait on`), r.output);
  } finally {
    const { rmSync } = await import('node:fs');
    rmSync(dir, { recursive: true, force: true });
  }
});

// restart and stop of several processes follow depends_on as a start and a shutdown do: `restart all`
// answered "db is starting" (exit 1) because web's start had pulled db in before db's own start came, and
// `stop all` sent TERM to web and db in the same moment.
test('restart all and stop all: what a process depends on starts before it and stops after it; exit 0', async () => {
  const d = new Daemon('');
  // each program takes a moment to stop, so an order that is not waited for shows
  const slowStop = `/bin/sh -c 'trap "sleep 0.3; exit 0" TERM; while :; do sleep 0.05; done'`;
  const file = writeConfig(
    d.dir,
    `[program:app]
command = ${slowStop}
startsecs = 0
depends_on = store

[program:store]
command = ${slowStop}
startsecs = 1
`,
  );
  try {
    await d.up();
    let r = await d.cli(['restart', 'all']);
    assert.equal(r.code, 0, `${show(['restart', 'all'], r)}\n${d.daemonStderr()}`);
    assert.doesNotMatch(r.output, /ERROR|failed/, show(['restart', 'all'], r));
    r = await d.cli(['restart', 'app', 'store']);
    assert.equal(r.code, 0, `${show(['restart', 'app', 'store'], r)}\n${d.daemonStderr()}`);
    const s = await statuses(file);
    assert.equal(s.get('app:app')?.state, 'running');
    assert.equal(s.get('store:store')?.state, 'running');
    const logFile = join(d.dir, '.drover', 'drover.log');
    const from = readFileSync(logFile, 'utf8').length;
    r = await d.cli(['stop', 'all']);
    assert.equal(r.code, 0, `${show(['stop', 'all'], r)}\n${d.daemonStderr()}`);
    const log = readFileSync(logFile, 'utf8').slice(from);
    const at = (re: RegExp): number => log.search(re);
    assert.ok(at(/app: stopping → stopped/) >= 0 && at(/app: stopping → stopped/) < at(/store: running → stopping/), `app stopped before store was asked to stop\n${log}`);
  } finally {
    assert.deepEqual(await d.teardown(), []);
  }
});

// `up -d --wait` follows the autostart programs until each is running or failed. It stopped as soon as the
// dependency was running: the dependent, no longer "waiting" but starting, was in neither list it looked at.
test('up -d --wait returns once the dependents of a dependency have started too', async () => {
  const d = new Daemon(`[program:db]
command = sleep 1000
startsecs = 1

[program:client]
command = sleep 1000
startsecs = 1
depends_on = db
`);
  try {
    const r = await d.up();
    assert.match(r.stdout, /2 running/, show(['up', '-d', '--wait'], r));
    const s = await statuses(d.file);
    assert.equal(s.get('client:client')?.state, 'running', `client had started when up returned\n${show(['up', '-d', '--wait'], r)}`);
  } finally {
    assert.deepEqual(await d.teardown(), []);
  }
});

// A stop that waits for the programs depending on it is called off by a start that comes meanwhile: the
// later command wins, as when every stop began at once (a review found the delayed stop of store undoing a
// `start all` sent while app was still stopping).
test('stop --no-wait all, then start all while a dependent is still stopping: everything ends up running', async () => {
  const d = new Daemon('');
  writeConfig(
    d.dir,
    `[program:app]
command = /bin/sh -c 'trap "sleep 1; exit 0" TERM; while :; do sleep 0.05; done'
startsecs = 0
depends_on = store

[program:store]
command = sleep 1000
startsecs = 0
`,
  );
  try {
    await d.up();
    const logFile = join(d.dir, '.drover', 'drover.log');
    const from = readFileSync(logFile, 'utf8').length;
    let r = await d.cli(['stop', '--no-wait', 'all']);
    assert.equal(r.code, 0, show(['stop', '--no-wait', 'all'], r));
    assert.match(r.stdout, /^store: stops once the programs that depend on it have stopped/m, show(['stop', '--no-wait', 'all'], r));
    r = await d.cli(['start', 'all']);
    assert.equal(r.code, 0, `${show(['start', 'all'], r)}\n${d.daemonStderr()}`);
    // start all waited for app to stop and start again; a stop of store still due would have begun with
    // app's stop, before that
    const log = (): string => readFileSync(logFile, 'utf8').slice(from);
    assert.match(log(), /app: stopping → stopped[^]*app: \w+ → running/, log());
    assert.doesNotMatch(log(), /store: running → stopping/, `store was not stopped by the stop that start called off\n${log()}`);
    const s = await statuses(d.file);
    assert.equal(s.get('app:app')?.state, 'running', log());
    assert.equal(s.get('store:store')?.state, 'running', log());
  } finally {
    assert.deepEqual(await d.teardown(), []);
  }
});

// An audit (seventeenth session): adding depends_on by update restarted a running program, which then
// waited on its dependency; an essential one that could not start again shut drover down, and update said 0.
// depends_on gates starts only, and essential is read when a process ends: a running program runs on.
test('update that adds depends_on (on a FATAL program) or essential to a running program leaves it running', async () => {
  const base = `[program:db]
command = /bin/sh -c 'exit 1'
startretries = 0
autostart = false

[program:web]
command = sleep 1000
startsecs = 0
`;
  const d = new Daemon(base);
  try {
    await d.up();
    await d.cli(['start', 'db']);
    await waitForValue(async () => ((await statuses(d.file)).get('db:db')?.state === 'fatal' ? true : null), 'db to be FATAL', 15_000);
    const pid = (await statuses(d.file)).get('web:web')?.pid;
    writeFileSync(d.file, base.replace('startsecs = 0\n', 'startsecs = 0\ndepends_on = db\nessential = true\n'));
    const r = await d.cli(['update']);
    assert.equal(r.code, 0, show(['update'], r));
    const web = (await statuses(d.file)).get('web:web');
    assert.equal(web?.state, 'running', show(['update'], r));
    assert.equal(web?.pid, pid, 'the same process: not restarted');
    assert.deepEqual(web?.depends_on, ['db:started'], 'the new depends_on is in effect');
    assert.equal((await d.cli(['status'])).code === 7, false, 'drover is still running');
  } finally {
    assert.deepEqual(await d.teardown(), []);
  }
});

// An audit (seventeenth session): a dependency stopped by hand will not start by itself, so a dependent
// waiting for it is blocked, not on its way: `drover start web`, which pulled db, hung for ever once db was
// stopped, and `up -d --wait` waited out its whole timeout for web when db had been stopped by hand before.
test('a dependency stopped by hand blocks its dependents: start web answers E_DEPENDENCY, up --wait says so at once', async () => {
  const port = await freePort();
  const d = new Daemon('');
  const gate = join(d.dir, 'db-may-listen');
  writeConfig(
    d.dir,
    `[program:db]
command = ${node} ${fixture('serve.mjs')} tcp ${port} file:${gate}
ready = tcp://127.0.0.1:${port}
ready_interval = 50ms
autostart = false

[program:web]
command = sleep 1000
depends_on = db:ready
autostart = false
`,
  );
  try {
    await d.up();
    const start = d.cli(['start', 'web']);
    let last = new Map<string, Status>();
    await waitForValue(
      async () => {
        last = await statuses(d.file);
        return last.get('db:db')?.state === 'starting' ? true : null;
      },
      'db to be starting, pulled by `drover start web`',
      10_000,
      () => JSON.stringify([...last.values()], null, 1) + d.daemonStderr(),
    );
    const stop = await d.cli(['stop', 'db']);
    assert.equal(stop.code, 0, show(['stop', 'db'], stop));
    let timer: NodeJS.Timeout | undefined;
    const r = await Promise.race([start, new Promise<null>((res) => (timer = setTimeout(() => res(null), 15_000)))]);
    clearTimeout(timer);
    assert.ok(r !== null, `drover start web still waits 15 s after db was stopped by hand\n${d.daemonStderr()}`);
    assert.equal(r.code, 1, show(['start', 'web'], r));
    // answered as soon as the stop was asked for (db on its way down at an operator's word), not once it ended
    assert.match(r.stdout, /^web: ERROR E_DEPENDENCY \(not started: db is stopping \(stopped by hand\)\)/m, show(['start', 'web'], r));
    const s = await waitForValue(
      async () => {
        last = await statuses(d.file);
        return last.get('db:db')?.state === 'stopped' ? last : null;
      },
      'db to have stopped',
      10_000,
      () => JSON.stringify([...last.values()], null, 1) + d.daemonStderr(),
    );
    assert.equal(s.get('web:web')?.state, 'stopped');
    assert.equal(s.get('web:web')?.blocked, true);
    assert.equal(s.get('web:web')?.waiting, 'db is stopped');

    // the same with autostart: db stopped by hand is remembered across a restart of drover and not pulled
    writeFileSync(d.file, readFileSync(d.file, 'utf8').replace(/autostart = false/g, 'autostart = true'));
    for (const args of [['down'], ['up', '-d', '--no-wait'], ['stop', 'db'], ['down']]) {
      const step = await d.cli(args);
      assert.equal(step.code, 0, `${show(args, step)}\n${d.daemonStderr()}`);
    }
    const began = Date.now();
    const up = await d.cli(['up', '-d', '--wait', '--wait-timeout', '60']);
    d.pid = Number(readFileSync(join(d.dir, '.drover', 'drover.pid'), 'utf8'));
    d.seen.add(d.pid);
    assert.equal(up.code, 1, show(['up', '-d', '--wait'], up));
    assert.match(up.stderr, /drover up: web did not start: db is stopped/, show(['up', '-d', '--wait'], up));
    assert.ok(Date.now() - began < 30_000, `up --wait returned after ${Date.now() - began} ms, not at once\n${show(['up', '-d', '--wait'], up)}`);
    // blocked, not given up: once db is started by hand and ready, web starts
    writeFileSync(gate, '');
    const db = await d.cli(['start', 'db']);
    assert.equal(db.code, 0, show(['start', 'db'], db));
    await waitForValue(
      async () => {
        last = await statuses(d.file);
        return last.get('web:web')?.state === 'running' ? true : null;
      },
      'web to start once db is ready',
      10_000,
      () => JSON.stringify([...last.values()], null, 1) + d.daemonStderr(),
    );
  } finally {
    assert.deepEqual(await d.teardown(), []);
  }
});

test('a failure two steps up a chain blocks the end of it: start a answers E_DEPENDENCY; a starts once c is fixed', async () => {
  const d = new Daemon('');
  const gate = join(d.dir, 'c-may-run');
  // a → b → c and aj → j (a job) → c; c exits at once (FATAL after its one retry) until the gate exists
  writeConfig(
    d.dir,
    `[program:c]
command = /bin/sh -c 'test -e ${gate} && exec sleep 1000; exit 1'
startsecs = 1
startretries = 1
autostart = false

[program:b]
command = sleep 1000
depends_on = c:started
autostart = false

[program:a]
command = sleep 1000
depends_on = b:started
autostart = false

[program:j]
command = true
depends_on = c:started
startsecs = 0
autorestart = false
autostart = false

[program:aj]
command = sleep 1000
depends_on = j:completed
autostart = false
`,
  );
  let last = new Map<string, Status>();
  const lastSeen = (): string => JSON.stringify([...last.values()], null, 1) + d.daemonStderr();
  try {
    await d.up();
    // both starts pull their chain and wait; c's failure two steps down answers them
    const bounded = async (args: string[]) => {
      let timer: NodeJS.Timeout | undefined;
      const r = await Promise.race([d.cli(args), new Promise<null>((res) => (timer = setTimeout(() => res(null), 10_000)))]);
      clearTimeout(timer);
      if (r === null) last = await statuses(d.file);
      assert.ok(r !== null, `drover ${args.join(' ')} still waits 10 s (c goes FATAL within about 2 s)\n${lastSeen()}`);
      return r;
    };
    const [a, aj] = await Promise.all([bounded(['start', 'a']), bounded(['start', 'aj'])]);
    assert.equal(a.code, 1, show(['start', 'a'], a));
    assert.match(a.stdout, /^a: ERROR E_DEPENDENCY \(not started: b cannot start: c is FATAL/m, show(['start', 'a'], a));
    assert.equal(aj.code, 1, show(['start', 'aj'], aj));
    assert.match(aj.stdout, /^aj: ERROR E_DEPENDENCY \(not started: j cannot start: c is FATAL/m, show(['start', 'aj'], aj));
    last = await statuses(d.file);
    assert.equal(last.get('c:c')?.state, 'fatal', lastSeen());
    for (const [name, via] of [['a:a', 'b'], ['aj:aj', 'j']] as const) {
      assert.equal(last.get(name)?.state, 'stopped', lastSeen());
      assert.equal(last.get(name)?.blocked, true, lastSeen());
      assert.match(last.get(name)?.waiting ?? '', new RegExp(`^${via} cannot start: c is FATAL`), lastSeen());
    }
    assert.match(last.get('b:b')?.waiting ?? '', /^c is FATAL/, lastSeen());

    // blocked, not given up: c fixed and started by hand, the whole chain starts (and a is no longer blocked)
    writeFileSync(gate, '');
    const c = await d.cli(['start', 'c']);
    assert.equal(c.code, 0, show(['start', 'c'], c));
    await waitForValue(
      async () => {
        last = await statuses(d.file);
        return last.get('a:a')?.state === 'running' && last.get('aj:aj')?.state === 'running' ? true : null;
      },
      'a and aj to start once c runs',
      15_000,
      lastSeen,
    );
    assert.equal(last.get('j:j')?.state, 'exited', lastSeen());
  } finally {
    assert.deepEqual(await d.teardown(), []);
  }
});

test('a FATAL second process of a numprocs dependency blocks at once, while the first is still starting', async () => {
  const d = new Daemon('');
  // db_0 stays STARTING for 60 s (startsecs); db_1 exits at once and, with no retry, is FATAL within moments
  writeConfig(
    d.dir,
    `[program:db]
command = /bin/sh -c 'test %(process_num)s = 1 && exit 1; exec sleep 1000'
process_name = %(program_name)s_%(process_num)s
numprocs = 2
startsecs = 60
startretries = 0
autostart = false

[program:web]
command = sleep 1000
depends_on = db:started
autostart = false
`,
  );
  let last = new Map<string, Status>();
  const lastSeen = (): string => JSON.stringify([...last.values()], null, 1) + d.daemonStderr();
  try {
    await d.up();
    let timer: NodeJS.Timeout | undefined;
    const r = await Promise.race([d.cli(['start', 'web']), new Promise<null>((res) => (timer = setTimeout(() => res(null), 10_000)))]);
    clearTimeout(timer);
    last = await statuses(d.file);
    assert.ok(r !== null, `drover start web still waits 10 s, though db_1 is FATAL (db_0 is starting for 60 s)\n${lastSeen()}`);
    assert.equal(r.code, 1, show(['start', 'web'], r));
    assert.match(r.stdout, /^web: ERROR E_DEPENDENCY \(not started: db_1 is FATAL/m, show(['start', 'web'], r));
    assert.equal(last.get('db:db_0')?.state, 'starting', lastSeen());
    assert.equal(last.get('web:web')?.blocked, true, lastSeen());
    assert.match(last.get('web:web')?.waiting ?? '', /^db_1 is FATAL/, lastSeen());
  } finally {
    assert.deepEqual(await d.teardown(), []);
  }
});

test('remove of a group others depend on warns, naming them (text, --json, log), and still removes it', async () => {
  const d = new Daemon('');
  writeConfig(
    d.dir,
    `[program:db]
command = sleep 1000
autostart = false

[program:web]
command = sleep 1000
depends_on = db:started
autostart = false

[program:api]
command = sleep 1000
depends_on = db
autostart = false

[program:other]
command = sleep 1000
autostart = false
`,
  );
  try {
    await d.up();
    let r = await d.cli(['remove', 'db']);
    assert.equal(r.code, 0, show(['remove', 'db'], r));
    assert.match(r.stdout, /^db: removed process group \(warning: api, web depend on it; their next start fails until it is added again\)$/m, show(['remove', 'db'], r));
    assert.match(d.daemonStderr(), /WARN removed process group db, which api, web depend on; their next start fails until it is added again/, d.daemonStderr());
    r = await d.cli(['add', 'db']);
    assert.equal(r.code, 0, show(['add', 'db'], r));
    r = await d.cli(['remove', 'db', '--json']);
    assert.equal(r.code, 0, show(['remove', 'db', '--json'], r));
    const body = JSON.parse(r.stdout) as { ok: boolean; results: { key: string; ok: boolean; message?: string }[] };
    assert.equal(body.ok, true, r.stdout);
    assert.match(body.results[0]?.message ?? '', /^warning: api, web depend on it; their next start fails until it is added again$/, r.stdout);
    // a group nothing depends on is removed as before, without a warning
    r = await d.cli(['remove', 'other']);
    assert.equal(r.stdout, 'other: removed process group\n', show(['remove', 'other'], r));
  } finally {
    assert.deepEqual(await d.teardown(), []);
  }
});
