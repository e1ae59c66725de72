// Followers at a shutdown: `drover down` (graceful or --fast) ends every event stream with its final chunk,
// so `drover tail -f` and `drover logs -f` exit 0 ("drover stopped") and an /api/events client sees a
// complete response. They printed "the log stream broke: aborted" and exited 1 (curl: exit 18), because the
// shutdown destroyed the connections mid-response. A connection that really breaks (drover SIGKILLed) is
// still exit 1.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { Daemon, show } from '../helpers/daemon.js';
import { CliRun, fixture, livePids, waitForCondition } from '../helpers/drover.js';

const CONFIG = `[program:talker]
command = ${process.execPath} ${fixture('report-signals.mjs')}
startsecs = 0
stdout_logfile = %(here)s/talker.log
`;

/** `drover ARGS -c FILE` left running in the daemon's dir. */
function follower(d: Daemon, args: readonly string[]): CliRun {
  return new CliRun([...args, '-c', d.file], { cwd: d.dir, env: { NO_COLOR: '1' } });
}

/**
 * Waits until every follower prints what the program writes after it connected: USR1 makes the program
 * print "got USR1", once per round, until each follower has shown one (a follower's stream may open after
 * the first signal).
 */
async function waitFollowing(d: Daemon, runs: readonly CliRun[]): Promise<void> {
  // A tail first prints the end of the log file, which may hold the line already: a line seen after an
  // earlier one was seen came through the stream, so two rounds in a row that each show a new line are needed.
  let shown = 0;
  for (let round = 0; shown < 2; round++) {
    assert.ok(round < 30, `the followers never showed the program's output\n${runs.map((r) => r.describe()).join('\n')}`);
    const seen = runs.map((run) => run.count(/got USR1/g));
    const r = await d.cli(['signal', 'USR1', 'talker']);
    assert.equal(r.code, 0, show(['signal', 'USR1', 'talker'], r));
    try {
      await Promise.all(runs.map((run, i) => run.waitForCount(/got USR1/g, (seen[i] ?? 0) + 1, 1000)));
      shown++;
    } catch {
      shown = 0; // not connected yet: signal again
    }
  }
}

/** An /api/events client: resolves with how the response ended, 'end' (complete) or the error. */
function eventsClient(d: Daemon): Promise<{ snapshot: Promise<void>; ended: Promise<string> }> {
  return new Promise((resolveOpen, rejectOpen) => {
    const socketPath = join(d.dir, '.drover', 'drover.sock');
    const req = request({ socketPath, path: '/api/events', headers: { accept: 'text/event-stream' }, agent: false }, (res) => {
      let text = '';
      let gotSnapshot: () => void = () => undefined;
      const snapshot = new Promise<void>((r) => (gotSnapshot = r));
      const ended = new Promise<string>((resolveEnd) => {
        res.setEncoding('utf8');
        res.on('data', (s: string) => {
          text += s;
          if (text.includes('event: snapshot')) gotSnapshot();
        });
        res.on('end', () => resolveEnd('end'));
        res.on('error', (err) => resolveEnd(`error: ${err.message}`));
      });
      resolveOpen({ snapshot, ended });
    });
    req.on('error', rejectOpen);
    req.end();
  });
}

for (const fast of [false, true]) {
  const down = fast ? ['down', '--fast'] : ['down'];
  test(`drover ${down.join(' ')} ends tail -f, logs -f and /api/events cleanly: the followers exit 0`, async (t) => {
    const d = new Daemon(CONFIG);
    t.after(async () => assert.deepEqual(await d.teardown(), [], 'nothing survives teardown'));
    await d.up();
    const tail = follower(d, ['tail', '-f', 'talker']);
    const logs = follower(d, ['logs', '-f', 'talker']);
    t.after(() => [tail, logs].forEach((r) => r.child.exitCode === null && r.child.kill('SIGKILL')));
    const events = await eventsClient(d);
    await events.snapshot;
    await waitFollowing(d, [tail, logs]);

    const r = await d.cli(down);
    assert.equal(r.code, 0, show(down, r));
    for (const [name, run] of [['tail -f', tail], ['logs -f', logs]] as const) {
      const exit = await run.waitForExit(10_000);
      assert.deepEqual(exit, { code: 0, signal: null }, `${name} exits 0 when drover ends the stream\n${run.describe()}`);
      assert.match(run.stderr, /drover stopped/, `${name} says why it ended\n${run.describe()}`);
      assert.doesNotMatch(run.stderr, /broke/, `${name}\n${run.describe()}`);
    }
    assert.equal(await events.ended, 'end', 'the /api/events response is complete (its final chunk sent)');
  });
}

test('a follower whose connection breaks (drover SIGKILLed) still exits 1', async (t) => {
  const d = new Daemon(CONFIG);
  t.after(async () => assert.deepEqual(await d.teardown(), [], 'nothing survives teardown'));
  await d.up();
  await d.processes(); // records the program's pid for teardown: drover's SIGKILL leaves it running
  const tail = follower(d, ['tail', '-f', 'talker']);
  t.after(() => tail.child.exitCode === null && tail.child.kill('SIGKILL'));
  await waitFollowing(d, [tail]);

  process.kill(d.pid, 'SIGKILL');
  await waitForCondition(() => livePids([d.pid]).length === 0, 'drover to be gone');
  const exit = await tail.waitForExit(10_000);
  assert.deepEqual(exit, { code: 1, signal: null }, `a broken stream is exit 1\n${tail.describe()}`);
  assert.match(tail.stderr, /the log stream broke/, tail.describe());
  assert.doesNotMatch(tail.stderr, /drover stopped/, tail.describe());
});
