// Event pools follow the config through `drover reload` and SIGHUP, not only through supervisorctl's
// remove/add: a group that becomes an [eventlistener:x] gets its pool and one that stops being one loses it
// (its counters come back with it); a pool that stays takes its new `events` and `buffer_size` at the reload,
// even while its listener is stopped, keeping its counters. Before, a reload made or removed no pool (a
// listener got nothing, a ghost pool queued and overflowed) and settings waited for a listener's state change.
// supervisorctl update (removeProcessGroup + addProcessGroup) keeps doing the same.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { eventRecords, makeTmpDir, runCli, startUp, teardown, TIMEOUT_SCALE, waitForCondition, writeConfig, type CliRun } from '../helpers/drover.js';
import { fixturesDir } from '../helpers/paths.js';
import { rawRequest, rpcValue } from '../helpers/xmlrpc.js';

const recorder = join(fixturesDir, 'listeners', 'record-raw.py');

interface Recorded {
  readonly header: string;
  readonly body: string;
}

const typeOf = (r: Recorded): string => /(?:^| )eventname:(\S+)/.exec(r.header)?.[1] ?? '';

/** [eventlistener:rec] recording to DIR/events.jsonl (record-raw.py), with `extra` keys; `slowSecs` over each event. */
function listenerSection(dir: string, extra: string, slowSecs = 0): string {
  return `[eventlistener:rec]
command = /usr/bin/python3 ${recorder}
startsecs = 0
environment = REC_OUT="${dir}/events.jsonl",SLOW="${slowSecs}"
${extra}
`;
}

/** The same group as a plain program. */
const programSection = '[program:rec]\ncommand = /bin/sleep 1000\nstartsecs = 0\n';

/** Runs drover on `text` (after a control socket section) and hands the test its run, directory and socket. */
async function withDrover(text: (dir: string) => string, body: (run: CliRun, dir: string, sock: string, reconfigure: (text: string) => void) => Promise<void>): Promise<void> {
  const dir = makeTmpDir('drover-evreload-');
  const sock = join(dir, 'ctl.sock');
  const withSocket = (t: string): string => `[unix_http_server]\nfile = ${sock}\n\n${t}`;
  const run = await startUp(writeConfig(dir, withSocket(text(dir))));
  try {
    await body(run, dir, sock, (t) => writeConfig(dir, withSocket(t)));
  } finally {
    const pids = [...run.output.matchAll(/spawned: \S+ with pid (\d+)/g)].map((m) => Number(m[1]));
    assert.deepEqual(await teardown(run, pids, dir), [], 'processes left behind');
  }
}

async function reload(dir: string): Promise<void> {
  const r = await runCli(['reload', '-c', join(dir, 'supervisord.conf')]);
  assert.equal(r.code, 0, r.output);
}

const send = (sock: string, data: string): Promise<unknown> => rpcValue(sock, 'supervisor.sendRemoteCommEvent', ['t', data]);

/** The value of the series `name` of pool rec in /metrics; null when the pool has none. */
async function metric(sock: string, name: string): Promise<{ value: number | null; metrics: string }> {
  const metrics = await get(sock, '/metrics');
  const m = new RegExp(`^${name}\\{pool="rec"\\} (\\S+)$`, 'm').exec(metrics);
  return { value: m ? Number(m[1]) : null, metrics };
}

async function assertMetric(sock: string, name: string, want: number | null, why: string): Promise<void> {
  const { value, metrics } = await metric(sock, name);
  assert.equal(value, want, `${name}: ${why}\n${metrics}`);
}

function waitRecorded(dir: string, run: CliRun, n: number): Promise<void> {
  return waitForCondition(() => eventRecords<Recorded>(dir).length >= n, `${n} recorded events`, {
    describe: () => `${JSON.stringify(eventRecords<Recorded>(dir), null, 1)}\n${run.describe()}`,
  });
}

test('drover reload turning a program into an event listener gives it its pool: it gets the events it subscribes to', async () => {
  await withDrover(
    () => programSection,
    async (run, dir, sock, reconfigure) => {
      await run.waitForLine(/rec: starting → running/);
      await assertMetric(sock, 'drover_event_queue_size', null, 'a program has no pool');
      reconfigure(listenerSection(dir, 'events = REMOTE_COMMUNICATION'));
      await reload(dir);
      await run.waitForCount(/rec: starting → running/, 2);
      await send(sock, 'hello');
      await waitRecorded(dir, run, 1);
      assert.deepEqual(
        eventRecords<Recorded>(dir).map((r) => [typeOf(r), r.body]),
        [['REMOTE_COMMUNICATION', 'type:t\nhello']],
      );
      await assertMetric(sock, 'drover_event_queue_size', 10, 'the listener has its pool, with the default buffer_size');
    },
  );
});

test('SIGHUP turning an event listener into a program removes its pool; turned back, it counts on', async () => {
  await withDrover(
    (dir) => listenerSection(dir, 'events = REMOTE_COMMUNICATION'),
    async (run, dir, sock, reconfigure) => {
      await run.waitForLine(/rec: starting → running/);
      await send(sock, 'one');
      await waitRecorded(dir, run, 1);
      await assertMetric(sock, 'drover_events_sent_total', 1, 'one event sent');
      reconfigure(programSection);
      const from = run.output.length;
      process.kill(run.pid, 'SIGHUP');
      await run.waitForLine(/reload: done/, { from });
      await assertMetric(sock, 'drover_event_queue_depth', null, 'a program has no pool left in /metrics');
      // nothing queues for it any more: no ghost pool fills up and overflows
      for (const n of ['2', '3', '4']) await send(sock, n);
      await assertMetric(sock, 'drover_event_queue_depth', null, 'still no pool after events it once took');
      // a listener again: its pool counts on from where it stood
      reconfigure(listenerSection(dir, 'events = REMOTE_COMMUNICATION'));
      await reload(dir);
      await run.waitForCount(/rec: starting → running/, 3);
      await assertMetric(sock, 'drover_events_sent_total', 1, 'the counters of the removed pool come back');
      await send(sock, 'five');
      await waitRecorded(dir, run, 2);
      assert.deepEqual(eventRecords<Recorded>(dir).map((r) => r.body), ['type:t\none', 'type:t\nfive']);
      await assertMetric(sock, 'drover_events_queued_total', 2, 'the events queued while it was a program never counted');
      assert.doesNotMatch(run.output, /pool rec event buffer overflowed/);
    },
  );
});

test('a stopped listener takes its new events at the reload: it starts with those, not with what the old ones queued', async () => {
  await withDrover(
    (dir) => listenerSection(dir, 'events = REMOTE_COMMUNICATION\nautostart = false'),
    async (run, dir, sock, reconfigure) => {
      await send(sock, 'queued before');
      await assertMetric(sock, 'drover_event_queue_depth', 1, 'the stopped listener queued the event');
      reconfigure(listenerSection(dir, 'events = PROCESS_STATE_RUNNING\nautostart = false'));
      await reload(dir);
      await assertMetric(sock, 'drover_event_queue_depth', 0, 'the event its new events do not subscribe to left the queue');
      await assertMetric(sock, 'drover_events_queued_total', 1, 'the pool stayed: its counters go on');
      await send(sock, 'sent after');
      await assertMetric(sock, 'drover_event_queue_depth', 0, 'REMOTE_COMMUNICATION is no longer queued');
      const r = await runCli(['start', 'rec', '-c', join(dir, 'supervisord.conf')]);
      assert.equal(r.code, 0, r.output);
      await waitRecorded(dir, run, 1);
      const got = eventRecords<Recorded>(dir);
      assert.deepEqual(got.map(typeOf), ['PROCESS_STATE_RUNNING'], JSON.stringify(got));
      assert.match(got[0]?.body ?? '', /^processname:rec groupname:rec from_state:STARTING /);
    },
  );
});

test('a running listener whose events change restarts with them: what its old events took meanwhile is not sent to it', async () => {
  await withDrover(
    (dir) => listenerSection(dir, 'events = PROCESS_STATE'),
    async (run, dir, sock, reconfigure) => {
      await run.waitForLine(/rec: starting → running/);
      // its own STARTING and RUNNING, raised before it was ready
      await waitRecorded(dir, run, 2);
      const before = eventRecords<Recorded>(dir).length;
      reconfigure(listenerSection(dir, 'events = REMOTE_COMMUNICATION'));
      await reload(dir);
      await run.waitForCount(/rec: starting → running/, 2);
      await send(sock, 'after');
      await waitRecorded(dir, run, before + 1);
      const got = eventRecords<Recorded>(dir).slice(before);
      // its own STOPPING (queued under the old events, dropped at the reload), STOPPED and STARTING: none reach it
      assert.deepEqual(got.map(typeOf), ['REMOTE_COMMUNICATION'], JSON.stringify(got));
    },
  );
});

test('an event a listener held when the reload changed its events is not sent again to the restarted listener', async () => {
  await withDrover(
    (dir) => `[supervisord]\nloglevel = debug\n\n${listenerSection(dir, 'events = REMOTE_COMMUNICATION', 60)}`,
    async (run, dir, sock, reconfigure) => {
      await run.waitForLine(/rec: starting → running/);
      await send(sock, 'held');
      // the listener takes 60 s over it: the reload's stop ends it with the event in hand
      await run.waitForLine(/pool rec: event \d+ \(REMOTE_COMMUNICATION\) sent to listener rec/);
      reconfigure(`[supervisord]\nloglevel = debug\n\n${listenerSection(dir, 'events = PROCESS_STATE_RUNNING')}`);
      await reload(dir);
      await run.waitForCount(/rec: starting → running/, 2);
      await waitRecorded(dir, run, 1);
      const got = eventRecords<Recorded>(dir);
      assert.deepEqual(got.map(typeOf), ['PROCESS_STATE_RUNNING'], `${JSON.stringify(got)}\n${run.describe()}`);
    },
  );
});

test('supervisorctl update makes and removes the pool of a group that changes kind, as before', async () => {
  await withDrover(
    () => programSection,
    async (run, dir, sock, reconfigure) => {
      const ctlSection = `[supervisorctl]\nserverurl = unix://${sock}\n\n`;
      const update = async (): Promise<void> => {
        const r = await supervisorctl(join(dir, 'supervisord.conf'), 'update');
        assert.equal(r.code, 0, r.out);
      };
      await run.waitForLine(/rec: starting → running/);
      reconfigure(ctlSection + listenerSection(dir, 'events = REMOTE_COMMUNICATION'));
      await update();
      await run.waitForCount(/rec: starting → running/, 2);
      await send(sock, 'hello');
      await waitRecorded(dir, run, 1);
      await assertMetric(sock, 'drover_events_sent_total', 1, 'the pool update made');
      reconfigure(ctlSection + programSection);
      await update();
      await assertMetric(sock, 'drover_event_queue_depth', null, 'the pool update removed');
    },
  );
});

test('a lowered buffer_size applies at the reload: the oldest queued events beyond it are dropped, logged and counted', async () => {
  await withDrover(
    (dir) => listenerSection(dir, 'events = REMOTE_COMMUNICATION\nautostart = false'),
    async (run, dir, sock, reconfigure) => {
      for (const n of ['1', '2', '3', '4', '5']) await send(sock, n);
      await assertMetric(sock, 'drover_event_queue_depth', 5, 'five events wait for the stopped listener');
      reconfigure(listenerSection(dir, 'events = REMOTE_COMMUNICATION\nautostart = false\nbuffer_size = 2'));
      await reload(dir);
      await assertMetric(sock, 'drover_event_queue_size', 2, 'the new buffer_size');
      await assertMetric(sock, 'drover_event_queue_depth', 2, 'the queue brought down to it');
      await assertMetric(sock, 'drover_events_dropped_total', 3, 'the three oldest dropped');
      await run.waitForCount(/pool rec event buffer overflowed, discarding event \d+ \(REMOTE_COMMUNICATION; buffer_size 2\)/, 3);
      const r = await runCli(['start', 'rec', '-c', join(dir, 'supervisord.conf')]);
      assert.equal(r.code, 0, r.output);
      await waitRecorded(dir, run, 2);
      assert.deepEqual(eventRecords<Recorded>(dir).map((e) => e.body), ['type:t\n4', 'type:t\n5']);
    },
  );
});

/** Debian's supervisorctl (supervisor 4.2.5) with `line`; stdout and stderr together. */
function supervisorctl(conf: string, line: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    execFile('/usr/bin/supervisorctl', ['-c', conf, ...line.split(' ')], { timeout: 20_000 * TIMEOUT_SCALE, env: { ...process.env, LANG: 'C.UTF-8' } }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, out: stdout + stderr });
    });
  });
}

const get = async (sock: string, path: string): Promise<string> => (await rawRequest(sock, { method: 'GET', path })).body;
