// The same config under the real supervisord 4.2 and under drover, driven the same way over XML-RPC: the
// event listener receives the same events, in the same order, with the same serials, headers and bodies,
// byte for byte — pids aside. The scenario covers groups added at start and at run time (supervisorctl
// update's addProcessGroup/removeProcessGroup), SUPERVISOR_STATE_CHANGE_*, PROCESS_STATE_* (with tries,
// expected, pid; a failing start through BACKOFF to FATAL), PROCESS_LOG and capture mode
// (PROCESS_COMMUNICATION) with non-ASCII text, and REMOTE_COMMUNICATION with non-ASCII text (its len
// counts code points).
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CliRun, eventRecords, makeTmpDir, teardown, waitForCondition, writeConfig } from '../helpers/drover.js';
import { fixturesDir } from '../helpers/paths.js';
import { Supervisord } from '../helpers/supervisord.js';
import { rpcValue } from '../helpers/xmlrpc.js';

const listeners = join(fixturesDir, 'listeners');

function config(dir: string, extra = ''): string {
  return `[unix_http_server]
file = ${dir}/ctl.sock

[supervisord]
logfile = ${dir}/daemon.log
pidfile = ${dir}/daemon.pid
childlogdir = ${dir}
loglevel = debug

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[eventlistener:rec]
command = /usr/bin/python3 ${listeners}/record-raw.py
events = PROCESS_STATE, PROCESS_GROUP, SUPERVISOR_STATE_CHANGE, REMOTE_COMMUNICATION, PROCESS_LOG, PROCESS_COMMUNICATION
buffer_size = 50
environment = REC_OUT="${dir}/events.jsonl"

[program:talker]
command = ${listeners}/talker.sh
stdout_events_enabled = true
stdout_capture_maxbytes = 1MB

[program:failer]
command = /bin/sh -c 'sleep 0.3; exit 1'
autostart = false
startretries = 1
; supervisord judges startsecs on its loop: with a program that dies at once it sometimes sees it RUNNING
startsecs = 2
${extra}`;
}

interface Recorded {
  readonly pid: number;
  readonly header: string;
  readonly body: string;
}

function recorded(dir: string): Recorded[] {
  return eventRecords<Recorded>(dir);
}

/** Drives one daemon through the scenario and returns what the listener recorded, pids replaced by PID. */
async function scenario(dir: string, describe: () => string, stop: () => Promise<void>): Promise<string[]> {
  const sock = join(dir, 'ctl.sock');
  const has = (re: RegExp): boolean => recorded(dir).some((r) => re.test(r.header + r.body));
  const wait = (re: RegExp, what: string): Promise<void> =>
    waitForCondition(() => has(re), what, { timeoutMs: 10_000, describe: () => `${JSON.stringify(recorded(dir), null, 1)}\n${describe()}` });
  await waitForCondition(() => existsSync(sock), 'the control socket', { describe });
  await wait(/PROCESS_STATE_RUNNING[^]*processname:talker/, 'talker RUNNING to reach the listener');
  await rpcValue(sock, 'supervisor.signalProcess', ['talker', 'USR1']);
  await wait(/PROCESS_COMMUNICATION_STDOUT/, 'the capture-mode event');
  await rpcValue(sock, 'supervisor.sendRemoteCommEvent', ['tÿpe', 'dätä 😀\nsecond line']);
  await wait(/REMOTE_COMMUNICATION/, 'the remote communication event');
  // a failing start: STARTING and BACKOFF with their tries, then FATAL
  await rpcValue(sock, 'supervisor.startProcess', ['failer', false]);
  await wait(/PROCESS_STATE_FATAL/, 'failer FATAL');
  // supervisorctl update's way of adding and removing a group
  writeFileSync(join(dir, 'supervisord.conf'), config(dir, '\n[program:extra]\ncommand = /bin/sleep 1000\nautostart = false\n'));
  await rpcValue(sock, 'supervisor.reloadConfig');
  await rpcValue(sock, 'supervisor.addProcessGroup', ['extra']);
  await wait(/PROCESS_GROUP_ADDED[^]*groupname:extra/, 'extra ADDED');
  await rpcValue(sock, 'supervisor.removeProcessGroup', ['extra']);
  await wait(/PROCESS_GROUP_REMOVED[^]*groupname:extra/, 'extra REMOVED');
  await rpcValue(sock, 'supervisor.stopProcess', ['talker']);
  await wait(/PROCESS_STATE_STOPPED[^]*processname:talker/, 'talker STOPPED to reach the listener');
  await stop();
  // pids differ between the two runs, in value and in length: the body's len is counted without them
  return recorded(dir).map((r) => {
    const pidChars = [...r.body.matchAll(/pid:(\d+)/g)].reduce((n, m) => n + (m[1] as string).length, 0);
    const header = r.header.replace(/ len:(\d+)/, (_, n: string) => ` len:${Number(n) - pidChars}+pids`);
    return `${header}${r.body}`.replace(/pid:\d+/g, 'pid:PID');
  });
}

test('a listener receives the same events from drover as from supervisord, byte for byte', async () => {
  const supDir = makeTmpDir('drover-sup-');
  const drvDir = makeTmpDir('drover-drv-');
  const env = { PYTHONIOENCODING: 'utf-8' };
  const sup = new Supervisord(writeConfig(supDir, config(supDir)), env);
  let expected: string[];
  try {
    expected = await scenario(supDir, () => `--- supervisord:\n${sup.output}\n${readLog(supDir)}`, async () => {
      process.kill(sup.pid, 'SIGTERM');
      await sup.waitForExit();
    });
  } finally {
    assert.deepEqual(await sup.teardown(), [], 'supervisord left processes behind');
  }
  const run = new CliRun(['up', '-c', writeConfig(drvDir, config(drvDir))], { env });
  let actual: string[];
  try {
    actual = await scenario(drvDir, () => run.describe(), async () => {
      run.signal('SIGTERM');
      await run.waitForExit(10_000);
    });
  } finally {
    assert.deepEqual(await teardown(run, [], undefined), [], 'drover left processes behind');
  }
  try {
    // what supervisord sent is the reference: check it has what the scenario is about before comparing
    assert.ok(expected.some((e) => e.includes('eventname:REMOTE_COMMUNICATION len:28+pids\ntype:tÿpe\ndätä 😀\nsecond line')), expected.join('\n---\n'));
    assert.deepEqual(actual, expected, `drover (actual) and supervisord (expected) differ:\n${actual.join('\n---\n')}`);
  } finally {
    rmSync(supDir, { recursive: true, force: true });
    rmSync(drvDir, { recursive: true, force: true });
  }
});

function readLog(dir: string): string {
  const f = join(dir, 'daemon.log');
  return existsSync(f) ? readFileSync(f, 'utf8').split('\n').slice(-40).join('\n') : '';
}
