// depends_on and a dependency on its way down: `drover start web` while db is STOPPING. An operator's stop
// (finished or not) holds web back at once (E_DEPENDENCY); a stop that a command will follow with a start —
// a restart, an update that gives db a new config — is waited for, and web starts after it, every time.
// db ignores SIGTERM and stops only at SIGKILL after stopwaitsecs, so its STOPPING lasts seconds; the tests
// synchronise on `status --json` saying `stopping`, never on time.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Daemon, processViews, show, type CliResult, type ProcView } from '../helpers/daemon.js';
import { fixture, runCli } from '../helpers/drover.js';
import { waitForValue } from '../helpers/web.js';

const node = process.execPath;

/** `drover ARGS` against `d`, allowed to take as long as a stop (the tests end the stop with SIGKILL). */
async function slowCli(d: Daemon, args: readonly string[]): Promise<CliResult> {
  return runCli([...args, '-c', d.file], { cwd: d.dir, env: { NO_COLOR: '1' }, timeoutMs: 60_000 });
}

function config(stopWaitSecs: number): string {
  return `[program:db]
command = ${node} ${fixture('ignore-term.mjs')}
; RUNNING once it ignores SIGTERM
ready = log:ready
startsecs = 0
stopwaitsecs = ${stopWaitSecs}
environment = GENERATION="1"

[program:web]
command = ${node} ${fixture('forever.mjs')}
depends_on = db
startsecs = 0
autostart = false
`;
}

type Proc = ProcView;
const procs = processViews;

/** Waits until `name` is in `state` (status --json). */
async function waitForState(d: Daemon, name: string, state: string, timeoutMs = 15_000): Promise<void> {
  let last = new Map<string, Proc>();
  await waitForValue(
    async () => {
      last = await procs(d);
      return last.get(name)?.state === state ? true : null;
    },
    `${name} to be ${state}`,
    timeoutMs,
    () => JSON.stringify([...last.entries()], null, 1) + d.daemonStderr(),
  );
}

/** Starts db, then has `begin` put it on its way down; resolves once db is STOPPING, with the command `begin` ran. */
async function whileStopping(d: Daemon, begin: () => Promise<CliResult>): Promise<{ readonly command: Promise<CliResult> }> {
  await d.up();
  await waitForState(d, 'db:db', 'running');
  const command = begin();
  await waitForState(d, 'db:db', 'stopping');
  return { command };
}

/**
 * Runs `drover start web ARGS` and waits until drover has taken it (web waits for db: status --json says
 * why); then ends db's stop with SIGKILL (it ignores SIGTERM and has stopwaitsecs = 30) and returns the answer.
 */
async function startWebWhileStopping(d: Daemon, args: readonly string[]): Promise<CliResult> {
  const start = slowCli(d, ['start', 'web', ...args]);
  let last = new Map<string, Proc>();
  await waitForValue(
    async () => {
      last = await procs(d);
      return last.get('web:web')?.waiting != null ? true : null;
    },
    'web to wait for db (the start taken while db is stopping)',
    15_000,
    () => JSON.stringify([...last.entries()], null, 1) + d.daemonStderr(),
  );
  assert.equal(last.get('db:db')?.state, 'stopping', 'start web was taken while db was stopping');
  const kill = await d.cli(['signal', 'KILL', 'db']);
  assert.equal(kill.code, 0, show(['signal', 'KILL', 'db'], kill));
  return start;
}

for (const wait of [true, false]) {
  const flag = wait ? [] : ['--no-wait'];
  const how = wait ? 'start web' : 'start web --no-wait';

  test(`${how} during restart db: web starts once db has restarted, every time`, async () => {
    const d = new Daemon(config(30));
    try {
      const { command: restart } = await whileStopping(d, () => slowCli(d, ['restart', 'db']));
      const start = await startWebWhileStopping(d, flag);
      assert.equal(start.code, 0, `${show(['start', 'web', ...flag], start)}\n${d.daemonStderr()}`);
      assert.match(start.stdout, wait ? /^web: started$/m : /^web: waiting for db:started \(db is restarting\)$/m, show(['start', 'web', ...flag], start));
      const r = await restart;
      assert.equal(r.code, 0, `${show(['restart', 'db'], r)}\n${d.daemonStderr()}`);
      assert.match(r.stdout, /^db: restarted$/m, show(['restart', 'db'], r));
      await waitForState(d, 'web:web', 'running');
      assert.equal((await procs(d)).get('db:db')?.state, 'running');
      const log = readFileSync(join(d.dir, '.drover', 'drover.log'), 'utf8');
      assert.ok(log.indexOf('web: stopped → starting') > log.lastIndexOf('db: starting → running'), `web started after db's restart\n${log}`);
    } finally {
      assert.deepEqual(await d.teardown(), []);
    }
  });

  test(`${how} while db is stopping for an update: web starts once db runs with its new config`, async () => {
    const d = new Daemon(config(30));
    try {
      const { command: update } = await whileStopping(d, () => {
        writeFileSync(d.file, readFileSync(d.file, 'utf8').replace('GENERATION="1"', 'GENERATION="2"'));
        return slowCli(d, ['update']);
      });
      const start = await startWebWhileStopping(d, flag);
      assert.equal(start.code, 0, `${show(['start', 'web', ...flag], start)}\n${d.daemonStderr()}`);
      assert.match(start.stdout, wait ? /^web: started$/m : /^web: waiting for db:started \(db is restarting\)$/m, show(['start', 'web', ...flag], start));
      const u = await update;
      assert.equal(u.code, 0, `${show(['update'], u)}\n${d.daemonStderr()}`);
      await waitForState(d, 'web:web', 'running');
      const db = (await d.processes()).get('db:db');
      assert.equal(db?.state, 'running');
      assert.match(readFileSync(`/proc/${db?.pid ?? 0}/environ`, 'utf8'), /(^|\0)GENERATION=2\0/, 'db runs with its new config');
    } finally {
      assert.deepEqual(await d.teardown(), []);
    }
  });

  test(`${how} while db is being stopped by hand: answered at once, as once db has stopped`, async () => {
    // stopwaitsecs 30: db is still stopping when the answer comes, however slow the machine
    const d = new Daemon(config(30));
    try {
      const stop = await (await whileStopping(d, () => d.cli(['stop', 'db', '--no-wait']))).command;
      assert.equal(stop.code, 0, show(['stop', 'db', '--no-wait'], stop));
      const start = slowCli(d, ['start', 'web', ...flag]);
      let last = new Map<string, Proc>();
      await waitForValue(
        async () => {
          last = await procs(d);
          return last.get('web:web')?.waiting != null ? true : null;
        },
        'web to be held back by db',
        15_000,
        () => JSON.stringify([...last.entries()], null, 1) + d.daemonStderr(),
      );
      // held back at once (it waited for db's stop to end, then was held back by the same stop)
      assert.equal(last.get('web:web')?.blocked, true, JSON.stringify([...last.entries()], null, 1));
      assert.equal(last.get('web:web')?.waiting, 'db is stopping (stopped by hand)');
      const r = await start;
      if (wait) {
        assert.equal(r.code, 1, `${show(['start', 'web'], r)}\n${d.daemonStderr()}`);
        assert.match(r.stdout, /^web: ERROR E_DEPENDENCY \(not started: db is stopping \(stopped by hand\)\)$/m, show(['start', 'web'], r));
      } else {
        assert.equal(r.code, 0, `${show(['start', 'web', '--no-wait'], r)}\n${d.daemonStderr()}`);
        assert.match(r.stdout, /^web: db is stopping \(stopped by hand\)$/m, show(['start', 'web', '--no-wait'], r));
      }
      const s = await procs(d);
      assert.equal(s.get('db:db')?.state, 'stopping', 'answered before db stopped');
      assert.equal(s.get('web:web')?.state, 'stopped');
      // once stopped, the same decision
      const kill = await d.cli(['signal', 'KILL', 'db']);
      assert.equal(kill.code, 0, show(['signal', 'KILL', 'db'], kill));
      await waitForState(d, 'db:db', 'stopped');
      const after = (await procs(d)).get('web:web');
      assert.equal(after?.blocked, true);
      assert.equal(after?.waiting, 'db is stopped');
      // blocked, not given up: started by hand, db runs again and web follows
      const db = await d.cli(['start', 'db']);
      assert.equal(db.code, 0, `${show(['start', 'db'], db)}\n${d.daemonStderr()}`);
      await waitForState(d, 'web:web', 'running');
    } finally {
      assert.deepEqual(await d.teardown(), []);
    }
  });
}

// The later word wins: `stop db; start db; stop db` while db is still stopping left db starting once it had
// stopped (the start, deferred until then, did not hear the second stop), and web, waiting for that start,
// with it.
test('stop db, start db, stop db while db is stopping: db stays stopped, and web stays held back', async () => {
  const d = new Daemon(config(30));
  try {
    const stop = await (await whileStopping(d, () => d.cli(['stop', 'db', '--no-wait']))).command;
    assert.equal(stop.code, 0, show(['stop', 'db', '--no-wait'], stop));
    const start = await d.cli(['start', 'db', '--no-wait']);
    assert.equal(start.code, 0, show(['start', 'db', '--no-wait'], start));
    assert.match(start.stdout, /^db: starts once stopped$/m, show(['start', 'db', '--no-wait'], start));
    const web = await d.cli(['start', 'web', '--no-wait']);
    assert.match(web.stdout, /^web: waiting for db:started \(db is restarting\)$/m, show(['start', 'web', '--no-wait'], web));
    const again = await d.cli(['stop', 'db', '--no-wait']);
    assert.equal(again.code, 0, show(['stop', 'db', '--no-wait'], again));
    const kill = await d.cli(['signal', 'KILL', 'db']);
    assert.equal(kill.code, 0, show(['signal', 'KILL', 'db'], kill));
    await waitForState(d, 'db:db', 'stopped');
    // one more round trip through drover's event queue: a deferred start would have begun by now
    const s = await procs(d);
    assert.equal(s.get('db:db')?.state, 'stopped', `db stays stopped\n${JSON.stringify([...s.entries()], null, 1)}\n${d.daemonStderr()}`);
    assert.equal(s.get('web:web')?.state, 'stopped');
    assert.equal(s.get('web:web')?.waiting, 'db is stopped', JSON.stringify([...s.entries()], null, 1));
    const log = readFileSync(join(d.dir, '.drover', 'drover.log'), 'utf8');
    assert.equal(log.match(/spawned: db with pid/g)?.length, 1, `db was spawned once\n${log}`);
  } finally {
    assert.deepEqual(await d.teardown(), []);
  }
});
