// The event listener protocol with real listener processes: a rejected event (FAIL) comes again with the
// same serial; an event in flight when its listener dies goes to the next listener process; a listener that
// breaks the protocol is UNKNOWN (gets nothing) until its autorestart policy replaces it; a full queue drops
// its oldest events (logged, counted in /metrics); a pool that update removes leaves /metrics and, put back,
// counts on from its old figures; a pool's processes share one queue; a listener's parent is drover itself
// and it is told where to call back; its stdout is the protocol, kept in its log file only.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { request } from 'node:http';
import { assertStaysFor, eventRecords, livePids, makeTmpDir, runCli, startUp, teardown, waitForCondition, writeConfig, type CliRun } from '../helpers/drover.js';
import { fixturesDir } from '../helpers/paths.js';
import { rpcValue } from '../helpers/xmlrpc.js';

const listeners = join(fixturesDir, 'listeners');

interface Recorded {
  readonly pid: number;
  readonly header: string;
  readonly body: string;
  readonly answer: string;
}

function recorded(dir: string): Recorded[] {
  return eventRecords<Recorded>(dir);
}

function header(r: Recorded, field: string): string {
  return new RegExp(`(?:^| )${field}:(\\S+)`).exec(r.header)?.[1] ?? '';
}

/** A listener section; REC_OUT points into the test's directory. */
function listener(dir: string, command: string, extra = ''): string {
  return `[unix_http_server]
file = ${dir}/ctl.sock

[eventlistener:rec]
command = ${command}
events = REMOTE_COMMUNICATION
startsecs = 0
environment = REC_OUT="${dir}/events.jsonl"
${extra}
`;
}

/** Runs drover on `text` and hands the test its run, directory and socket; nothing may survive it. */
async function withDrover(text: (dir: string) => string, body: (run: CliRun, dir: string, sock: string) => Promise<void>): Promise<void> {
  const dir = makeTmpDir('drover-ev-');
  const run = await startUp(writeConfig(dir, text(dir)));
  const pids: number[] = [];
  try {
    await body(run, dir, join(dir, 'ctl.sock'));
  } finally {
    for (const m of run.output.matchAll(/spawned: \S+ with pid (\d+)/g)) pids.push(Number(m[1]));
    assert.deepEqual(await teardown(run, pids, dir), [], 'processes left behind');
  }
}

function waitRecorded(dir: string, run: CliRun, n: number, what = `${n} recorded events`): Promise<void> {
  return waitForCondition(() => recorded(dir).length >= n, what, { describe: () => `${JSON.stringify(recorded(dir), null, 1)}\n${run.describe()}` });
}

const send = (sock: string, type: string, data: string): Promise<unknown> => rpcValue(sock, 'supervisor.sendRemoteCommEvent', [type, data]);

test('an event answered FAIL comes again, with the same serial, until it is answered OK', async () => {
  await withDrover(
    (dir) => listener(dir, `/usr/bin/python3 ${listeners}/record-raw.py`, 'environment = REC_OUT="%(here)s/events.jsonl",FAIL_FIRST="1"'),
    async (run, dir, sock) => {
      await run.waitForLine(/rec: starting → running/);
      await send(sock, 'a', 'first');
      await send(sock, 'b', 'second');
      await waitRecorded(dir, run, 4);
      const got = recorded(dir).map((r) => [header(r, 'serial'), header(r, 'poolserial'), r.body, r.answer]);
      assert.deepEqual(got, [
        ['0', '0', 'type:a\nfirst', 'FAIL'],
        ['0', '0', 'type:a\nfirst', 'OK'],
        ['1', '1', 'type:b\nsecond', 'FAIL'],
        ['1', '1', 'type:b\nsecond', 'OK'],
      ]);
      // drover's log line may reach us after the listener's record: wait for it, then check there are no more
      await run.waitForCount(/rec: event was rejected: event \d+/, 2);
      assert.equal(run.count(/rec: event was rejected: event \d+/), 2, run.describe());
    },
  );
});

test('an event in flight when its listener dies goes back to the head and reaches the next process', async () => {
  await withDrover(
    (dir) => listener(dir, `${listeners}/die-once.sh %(here)s/died`),
    async (run, dir, sock) => {
      await run.waitForLine(/rec: starting → running/);
      await send(sock, 'x', 'one');
      await send(sock, 'y', 'two');
      await waitRecorded(dir, run, 2);
      const died = Number((await run.waitForLine(/spawned: rec with pid (\d+)/))[1]);
      const got = recorded(dir);
      assert.deepEqual(
        got.map((r) => [header(r, 'serial'), r.body]),
        [
          ['0', 'type:x\none'],
          ['1', 'type:y\ntwo'],
        ],
      );
      assert.ok(got.every((r) => r.pid !== died), `the dead listener ${died} recorded nothing`);
      await run.waitForLine(/dying with ver:3\.0 server:supervisor serial:0 pool:rec poolserial:0 eventname:REMOTE_COMMUNICATION len:10/);
    },
  );
});

// supervisord gets EPIPE writing to a listener that closed its stdin, leaves it as it was and offers the
// event to the next process of the pool (observed with supervisord 4.2.5: the other listener got all three)
test('an event that cannot be written to a listener (it closed its stdin) goes to the next process of its pool', async () => {
  const closer = `if [ "$SUPERVISOR_PROCESS_NAME" = rec_0 ]; then exec 0<&-; printf "READY\\n"; exec sleep 1000; fi; exec /usr/bin/python3 ${listeners}/record-raw.py`;
  await withDrover(
    (dir) => listener(dir, `sh -c '${closer}'`, 'numprocs = 2\nprocess_name = %(program_name)s_%(process_num)s'),
    async (run, dir, sock) => {
      await run.waitForCount(/rec:rec_\d: starting → running|rec_\d: starting → running/g, 2);
      for (const data of ['e0', 'e1', 'e2']) await send(sock, 't', data);
      await waitRecorded(dir, run, 3);
      assert.deepEqual(
        recorded(dir).map((r) => [header(r, 'serial'), r.body]),
        [
          ['0', 'type:t\ne0'],
          ['1', 'type:t\ne1'],
          ['2', 'type:t\ne2'],
        ],
        run.describe(),
      );
    },
  );
});

// supervisord passes the arguments through Python's str(): observed with supervisord 4.2.5
test('sendRemoteCommEvent takes a number or a boolean as supervisord does, in its str() form', async () => {
  await withDrover(
    (dir) => listener(dir, `/usr/bin/python3 ${listeners}/record-raw.py`),
    async (run, dir, sock) => {
      await run.waitForLine(/rec: starting → running/);
      await rpcValue(sock, 'supervisor.sendRemoteCommEvent', [5, 6]);
      await rpcValue(sock, 'supervisor.sendRemoteCommEvent', ['t', true]);
      await waitRecorded(dir, run, 2);
      assert.deepEqual(
        recorded(dir).map((r) => r.body),
        ['type:5\n6', 'type:t\nTrue'],
      );
    },
  );
});

test('a listener that breaks the protocol is UNKNOWN and gets nothing; once it exits, its autorestart brings events back', async () => {
  await withDrover(
    (dir) => listener(dir, `${listeners}/garbage-once.sh %(here)s/broken`),
    async (run, dir, sock) => {
      await run.waitForLine(/rec: has entered the UNKNOWN state and will no longer receive events/);
      const first = Number((await run.waitForLine(/spawned: rec with pid (\d+)/))[1]);
      await send(sock, 'z', 'queued');
      await assertStaysFor(500, () => recorded(dir).length === 0, 'an UNKNOWN listener to get no event');
      // its log keeps what it wrote on stdout, as supervisor keeps it; drover's own output does not show it
      assert.doesNotMatch(run.output, /rec \| Starting up/);
      process.kill(first, 'SIGKILL');
      await waitRecorded(dir, run, 1);
      const [r] = recorded(dir);
      assert.ok(r && r.pid !== first, 'a new listener process got the event');
      assert.equal(r?.body, 'type:z\nqueued');
      await run.waitForLine(/rec: running → exited \(terminated by SIGKILL; not expected\)[^]*rec: exited → starting/);
    },
  );
});

test('a full queue drops its oldest event, logged and counted in /metrics; the listener then gets the rest in order', async () => {
  await withDrover(
    (dir) => listener(dir, `/usr/bin/python3 ${listeners}/wait-usr1.py`, 'buffer_size = 3'),
    async (run, dir, sock) => {
      await run.waitForLine(/rec \! waiting for SIGUSR1/);
      for (const n of ['1', '2', '3', '4', '5']) await send(sock, 'n', n);
      await run.waitForCount(/pool rec event buffer overflowed, discarding event \d+ \(\w+; buffer_size 3\)/, 2);
      assert.match(run.output, /discarding event 0 \(REMOTE_COMMUNICATION; [^]*discarding event 1 \(REMOTE_COMMUNICATION; /);
      const metrics = await get(sock, '/metrics');
      assert.match(metrics, /^drover_events_dropped_total\{pool="rec"\} 2$/m, metrics);
      assert.match(metrics, /^drover_event_queue_depth\{pool="rec"\} 3$/m, metrics);
      const r = await runCli(['signal', 'USR1', 'rec', '-c', join(dir, 'supervisord.conf')]);
      assert.equal(r.code, 0, r.output);
      await waitRecorded(dir, run, 3);
      assert.deepEqual(recorded(dir).map((e) => [header(e, 'serial'), e.body]), [
        ['2', 'type:n\n3'],
        ['3', 'type:n\n4'],
        ['4', 'type:n\n5'],
      ]);
      assert.match(await get(sock, '/metrics'), /^drover_event_queue_depth\{pool="rec"\} 0$/m);
    },
  );
});

test("a pool that update removes leaves /metrics; put back, its counters go on from where they were", async () => {
  const poolSeries = (metrics: string): string[] => metrics.split('\n').filter((l) => l.includes('{pool="rec"}'));
  const value = (metrics: string, name: string): number | null => {
    const m = new RegExp(`^${name}\\{pool="rec"\\} (\\S+)$`, 'm').exec(metrics);
    return m ? Number(m[1]) : null;
  };
  const withPool = (dir: string): string => listener(dir, `/usr/bin/python3 ${listeners}/record-raw.py`);
  await withDrover(withPool, async (run, dir, sock) => {
    const conf = join(dir, 'supervisord.conf');
    await run.waitForLine(/rec: starting → running/);
    for (const n of ['1', '2']) await send(sock, 'n', n);
    await waitRecorded(dir, run, 2);
    const before = await get(sock, '/metrics');
    assert.equal(value(before, 'drover_events_queued_total'), 2, before);
    assert.equal(value(before, 'drover_events_sent_total'), 2, before);
    // the section goes: every series of the pool goes with it, as a removed program's do
    writeConfig(dir, `[unix_http_server]\nfile = ${sock}\n`);
    const removed = await runCli(['update', '-c', conf]);
    assert.equal(removed.code, 0, removed.output);
    const gone = await get(sock, '/metrics');
    assert.deepEqual(poolSeries(gone), [], `no series of the removed pool\n${gone}`);
    // back again: the counters take up from the removed pool's, never below what was scraped
    writeConfig(dir, withPool(dir));
    const added = await runCli(['update', '-c', conf]);
    assert.equal(added.code, 0, added.output);
    await run.waitForCount(/rec: starting → running/, 2);
    const back = await get(sock, '/metrics');
    assert.equal(value(back, 'drover_events_queued_total'), 2, back);
    assert.equal(value(back, 'drover_events_sent_total'), 2, back);
    assert.equal(value(back, 'drover_event_queue_size'), 10, back);
    await send(sock, 'n', '3');
    await waitRecorded(dir, run, 3);
    const after = await get(sock, '/metrics');
    assert.equal(value(after, 'drover_events_queued_total'), 3, after);
    assert.equal(value(after, 'drover_events_sent_total'), 3, after);
  });
});

test("a pool's processes share one queue: each event reaches exactly one of them", async () => {
  await withDrover(
    (dir) => listener(dir, `/usr/bin/python3 ${listeners}/record-raw.py`, 'numprocs = 2\nprocess_name = %(program_name)s_%(process_num)d\nenvironment = REC_OUT="%(here)s/events.jsonl",SLOW="0.3"'),
    async (run, dir, sock) => {
      await run.waitForCount(/rec_\d: starting → running/, 2);
      for (const n of ['1', '2', '3', '4']) await send(sock, 'n', n);
      await waitRecorded(dir, run, 4);
      const got = recorded(dir);
      assert.deepEqual(got.map((r) => header(r, 'serial')).sort(), ['0', '1', '2', '3']);
      assert.equal(new Set(got.map((r) => r.pid)).size, 2, `both listeners took events: ${JSON.stringify(got)}`);
      await assertStaysFor(400, () => recorded(dir).length === 4, 'no event to be delivered twice');
    },
  );
});

test('a listener is a child of drover itself, told where to call back (with the socket credentials)', async () => {
  await withDrover(
    (dir) => `[unix_http_server]
file = ${dir}/ctl.sock
username = ops
password = s3cret

[eventlistener:rec]
command = /usr/bin/python3 ${listeners}/record.py
events = PROCESS_STATE_RUNNING
environment = REC_OUT="${dir}/events.jsonl"
`,
    async (run, dir) => {
      const drover = Number((await run.waitForLine(/drover up: pid (\d+)/))[1]);
      const listenerPid = Number((await run.waitForLine(/spawned: rec with pid (\d+)/))[1]);
      await waitForCondition(() => readRecords(dir).length > 0, 'the listener to start', { describe: () => run.describe() });
      const start = readRecords(dir)[0] as { start: number; ppid: number; env: Record<string, string> };
      assert.equal(start.start, listenerPid, 'setpriv execs: the pid drover recorded is the listener');
      assert.equal(start.ppid, drover, 'its parent is drover (kill -15 $PPID reaches drover)');
      assert.deepEqual(start.env, {
        SUPERVISOR_ENABLED: '1',
        SUPERVISOR_GROUP_NAME: 'rec',
        SUPERVISOR_PASSWORD: 's3cret',
        SUPERVISOR_PROCESS_NAME: 'rec',
        SUPERVISOR_SERVER_URL: `unix://${dir}/ctl.sock`,
        SUPERVISOR_USERNAME: 'ops',
      });
      // its own RUNNING, through supervisor.childutils
      await waitForCondition(() => readRecords(dir).length > 1, 'its own RUNNING event', { describe: () => run.describe() });
      assert.equal(livePids([listenerPid]).length, 1);
    },
  );
});

/** A listener taking `slowSecs` over each event of `events` and the shutdown's STOPPING, beside one sleeper. */
function slowListenerConfig(dir: string, events: string, slowSecs: number): string {
  return `[eventlistener:rec]
command = /usr/bin/python3 ${listeners}/record-raw.py
events = ${events}, SUPERVISOR_STATE_CHANGE_STOPPING
startsecs = 0
environment = REC_OUT="${dir}/events.jsonl",SLOW="${slowSecs}"

[program:sleeper]
command = /bin/sleep 1000
startsecs = 0
`;
}

test('a graceful shutdown lets a slow listener answer the events it raised before stopping it (2 s at most)', async () => {
  const dir = makeTmpDir('drover-ev-');
  const run = await startUp(writeConfig(dir, slowListenerConfig(dir, 'PROCESS_STATE_STOPPED', 0.3)));
  try {
    await run.waitForLine(/rec: starting → running/);
    await run.waitForLine(/sleeper: starting → running/);
    run.signal('SIGTERM');
    assert.equal((await run.waitForExit(10_000)).code, 0, run.describe());
    // each event takes the listener 0.3 s: supervisor would have stopped it before the second
    assert.deepEqual(
      recorded(dir).map((r) => header(r, 'eventname') + (/processname:(\S+)/.exec(r.body)?.[1] ?? '')),
      ['SUPERVISOR_STATE_CHANGE_STOPPING', 'PROCESS_STATE_STOPPEDsleeper'],
      run.describe(),
    );
  } finally {
    const pids = [...run.output.matchAll(/spawned: \S+ with pid (\d+)/g)].map((m) => Number(m[1]));
    assert.deepEqual(await teardown(run, pids, dir), []);
  }
});

test('a listener still answering an event from before the shutdown is kept for the STOPPING event that waits for it', async () => {
  const dir = makeTmpDir('drover-ev-');
  // debug: the listener's own state changes are logged (ready → busy)
  // 0.35 s an event: with up to three events to answer, the last (STOPPING) still fits the 2 s hold with
  // room for a loaded machine
  const run = await startUp(writeConfig(dir, `[supervisord]\nloglevel = debug\n\n${slowListenerConfig(dir, 'PROCESS_STATE_RUNNING', 0.35)}`));
  try {
    const at = (await run.waitForLine(/sleeper: starting → running/)).index ?? 0;
    // the listener takes sleeper's RUNNING (it may first finish an earlier one): the shutdown comes while it
    // is busy with an event from before it
    await run.waitForLine(/rec: listener ready → busy/, { from: at });
    run.signal('SIGTERM');
    assert.equal((await run.waitForExit(10_000)).code, 0, run.describe());
    const got = recorded(dir).map((r) => header(r, 'eventname') + (/processname:(\S+)/.exec(r.body)?.[1] ?? ''));
    assert.ok(got.includes('PROCESS_STATE_RUNNINGsleeper'), `${JSON.stringify(got)}\n${run.describe()}`);
    assert.equal(got.at(-1), 'SUPERVISOR_STATE_CHANGE_STOPPING', `the STOPPING event reached it after the older one: ${JSON.stringify(got)}\n${run.describe()}`);
  } finally {
    const pids = [...run.output.matchAll(/spawned: \S+ with pid (\d+)/g)].map((m) => Number(m[1]));
    assert.deepEqual(await teardown(run, pids, dir), []);
  }
});

function readRecords(dir: string): Record<string, unknown>[] {
  return eventRecords<Record<string, unknown>>(dir);
}

/** GET on the control socket. */
function get(sock: string, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: sock, path, method: 'GET', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end();
  });
}
