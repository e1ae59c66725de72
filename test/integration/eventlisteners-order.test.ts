// The order of events against supervisord 4.2.5 (a reviewer's report): a program's PROCESS_LOG events for
// its last output come before its PROCESS_STATE_EXITED (supervisord's finish drains the pipes first), also
// across an autorestart, and a grandchild holding the pipe open delays the exit by the drain bound only;
// an event a listener left unfinished by exiting reaches the next listener before that exit's own event.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { eventRecords, waitForCondition, withDrover as withDroverIn, type CliRun } from '../helpers/drover.js';
import { fixturesDir } from '../helpers/paths.js';
import { rpcValue } from '../helpers/xmlrpc.js';

const recorder = join(fixturesDir, 'listeners', 'record-raw.py');

interface Recorded {
  readonly pid: number;
  readonly header: string;
  readonly body: string;
}

/** One recorded event: its name, serial and the fields of its payload's first line. */
interface Event {
  readonly listenerPid: number;
  readonly name: string;
  readonly serial: number;
  readonly fields: Readonly<Record<string, string>>;
}

function events(dir: string): Event[] {
  return eventRecords<Recorded>(dir).map((r) => ({
    listenerPid: r.pid,
    name: /eventname:(\S+)/.exec(r.header)?.[1] ?? '',
    serial: Number(/serial:(\d+)/.exec(r.header)?.[1]),
    fields: Object.fromEntries((r.body.split('\n')[0] ?? '').split(' ').map((f) => f.split(':', 2) as [string, string])),
  }));
}

const withDrover = (text: (dir: string) => string, body: (run: CliRun, dir: string) => Promise<void>): Promise<void> => withDroverIn('drover-evorder-', text, body);

function waitEvents(dir: string, run: CliRun, what: string, done: (evs: Event[]) => boolean): Promise<void> {
  return waitForCondition(() => done(events(dir)), what, { describe: () => `${JSON.stringify(events(dir))}\n${run.describe()}` });
}

const PROGRAMS = Array.from({ length: 12 }, (_, i) => `p${String(i).padStart(2, '0')}`);

test("a program's last output events come before its PROCESS_STATE_EXITED, and a restarted process's after its STARTING", async () => {
  await withDrover(
    (dir) => `[eventlistener:rec]
command = /usr/bin/python3 ${recorder}
events = PROCESS_LOG,PROCESS_STATE
buffer_size = 1000
startsecs = 0
environment = REC_OUT="${dir}/events.jsonl"
${PROGRAMS.map(
  (p) => `
[program:${p}]
command = sh -c 'echo out-${p}; echo err-${p} >&2; exit 1'
stdout_events_enabled = true
stderr_events_enabled = true
autorestart = false
startsecs = 0
`,
).join('')}
[program:again]
command = sh -c 'echo out-again; echo err-again >&2; mkdir ${dir}/again.mark 2>/dev/null && exit 1; exec sleep 1000'
stdout_events_enabled = true
stderr_events_enabled = true
startsecs = 0
`,
    async (run, dir) => {
      const of = (evs: Event[], name: string): Event[] => evs.filter((e) => e.fields['processname'] === name);
      const count = (evs: Event[], name: string, type: string): number => of(evs, name).filter((e) => e.name === type).length;
      await waitEvents(dir, run, 'every program exited, and again restarted with its output', (evs) =>
        [...PROGRAMS, 'again'].every((p) => count(evs, p, 'PROCESS_STATE_EXITED') === 1) && count(evs, 'again', 'PROCESS_LOG_STDERR') === 2,
      );
      const evs = events(dir);
      assert.deepEqual(evs.map((e) => e.serial), evs.map((e) => e.serial).sort((a, b) => a - b), 'recorded in serial order');
      const order = (p: string): string[] => of(evs, p).map((e) => `${e.name} ${e.fields['pid'] ?? ''}`);
      for (const p of PROGRAMS) {
        const mine = of(evs, p);
        const pid = mine.find((e) => e.name === 'PROCESS_STATE_EXITED')?.fields['pid'];
        const exitedAt = mine.findIndex((e) => e.name === 'PROCESS_STATE_EXITED');
        const logs = mine.flatMap((e, i) => (e.name.startsWith('PROCESS_LOG') ? [i] : []));
        assert.equal(logs.length, 2, `${p}: ${JSON.stringify(order(p))}`);
        assert.ok(logs.every((i) => i < exitedAt && mine[i]?.fields['pid'] === pid), `${p}: its output events before its exit: ${JSON.stringify(order(p))}`);
      }
      // the first process's output before its exit; the second's after the STARTING of the restart
      const again = of(evs, 'again');
      const exited = again.findIndex((e) => e.name === 'PROCESS_STATE_EXITED');
      const restarted = again.findIndex((e, i) => i > exited && e.name === 'PROCESS_STATE_STARTING');
      const firstPid = again[exited]?.fields['pid'];
      const logsOf = (pid: string | undefined): number[] => again.flatMap((e, i) => (e.name.startsWith('PROCESS_LOG') && e.fields['pid'] === pid ? [i] : []));
      const secondPid = again.find((e, i) => i > restarted && e.name.startsWith('PROCESS_LOG'))?.fields['pid'];
      assert.ok(exited >= 0 && restarted > exited && secondPid !== firstPid, JSON.stringify(order('again')));
      assert.equal(logsOf(firstPid).length, 2, JSON.stringify(order('again')));
      assert.ok(logsOf(firstPid).every((i) => i < exited), `the first process's output before its exit: ${JSON.stringify(order('again'))}`);
      assert.ok(logsOf(secondPid).every((i) => i > restarted), `the second process's output after its STARTING: ${JSON.stringify(order('again'))}`);
    },
  );
});

test('a grandchild holding the pipe of a program with output events delays its exit by the drain bound only', async () => {
  await withDrover(
    (dir) => `[eventlistener:rec]
command = /usr/bin/python3 ${recorder}
events = PROCESS_LOG,PROCESS_STATE_EXITED
startsecs = 0
environment = REC_OUT="${dir}/events.jsonl"

[program:holder]
command = sh -c 'echo out-holder; sleep 1000 & exit 1'
stdout_events_enabled = true
autorestart = false
startsecs = 0
killasgroup = true
`,
    async (run, dir) => {
      // the sleep keeps stdout open for ever: the exit is announced once the bound has passed
      await run.waitForLine(/holder: running → exited/);
      await waitEvents(dir, run, 'holder exited', (evs) => evs.some((e) => e.name === 'PROCESS_STATE_EXITED'));
      assert.deepEqual(
        events(dir).map((e) => e.name),
        ['PROCESS_LOG_STDOUT', 'PROCESS_STATE_EXITED'],
      );
    },
  );
});

test('an event left unfinished by an exiting listener reaches the next listener before the exit\'s own event', async () => {
  await withDrover(
    (dir) => `[unix_http_server]
file = ${dir}/ctl.sock

[eventlistener:lis]
command = /usr/bin/python3 ${recorder}
events = PROCESS_STATE,REMOTE_COMMUNICATION
numprocs = 2
process_name = %(program_name)s_%(process_num)d
startsecs = 0
environment = REC_OUT="${dir}/events.jsonl",DIE_ON="REMOTE_COMMUNICATION:${dir}/died"
`,
    async (run, dir) => {
      // both running, and the four start-up events answered: both listeners are idle
      await waitEvents(dir, run, 'the start-up events', (evs) => evs.filter((e) => e.name === 'PROCESS_STATE_RUNNING').length === 2);
      await rpcValue(join(dir, 'ctl.sock'), 'supervisor.sendRemoteCommEvent', ['t', 'hello']);
      // whichever listener took it died; the other gets it, and then the exit of the one that died
      await waitEvents(dir, run, 'the event and the exit', (evs) => evs.some((e) => e.name === 'REMOTE_COMMUNICATION') && evs.some((e) => e.name === 'PROCESS_STATE_EXITED'));
      const evs = events(dir);
      const remote = evs.find((e) => e.name === 'REMOTE_COMMUNICATION');
      const exited = evs.find((e) => e.name === 'PROCESS_STATE_EXITED');
      const got = evs.filter((e) => e === remote || e === exited).map((e) => `${e.serial} ${e.name}`);
      assert.ok(remote && exited && remote.serial < exited.serial, JSON.stringify(evs));
      assert.deepEqual(got, [`${remote.serial} REMOTE_COMMUNICATION`, `${exited.serial} PROCESS_STATE_EXITED`], JSON.stringify(evs));
    },
  );
});
