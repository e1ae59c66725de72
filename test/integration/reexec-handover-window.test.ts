// The window of a USR2 re-exec between the new master taking over and the old one exiting: the old master
// is still stopping the programs that serve no socket (here one that ignores SIGTERM, held up to its
// stopwaitsecs), and the new master starts them only once it has gone. Meanwhile the new master refuses to
// start them (CLI, JSON API, XML-RPC) and says why in status, and takes no USR2 of its own: either would run
// a second copy beside the old one. And a serving program an operator stopped does not make a USR2 wait for it.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseServerUrl, requestJson } from '../../src/control/client.js';
import type { XmlRpcStruct } from '../../src/control/xmlrpc/codec.js';
import { CliRun, fixture, livePids, makeTmpDir, runCli, startUp, teardown, waitForCondition, writeConfig } from '../helpers/drover.js';
import { rpc, rpcValue } from '../helpers/xmlrpc.js';

const node = process.execPath;

/** stubborn ignores SIGTERM: the old master holds it for stopwaitsecs (the test ends that with SIGKILL). */
const CONFIG = `[program:stubborn]
command = ${node} ${fixture('ignore-term.mjs')}
startsecs = 0
stopwaitsecs = 60

[program:sleeper]
command = ${node} ${fixture('forever.mjs')}
startsecs = 0
`;

/** Started by hand, and needs stubborn running. */
const DEPENDENT = `
[program:app]
command = ${node} ${fixture('forever.mjs')}
startsecs = 0
autostart = false
depends_on = stubborn
`;

/** Every pid drover logged as spawned and every new master, for teardown (they are not in the test's group). */
function spawned(run: CliRun): number[] {
  return [
    ...[...run.output.matchAll(/spawned: \w+ with pid (\d+)/g)].map((m) => Number(m[1])),
    ...[...run.output.matchAll(/the new master \(pid (\d+)\)/g)].map((m) => Number(m[1])),
  ];
}

/** USR2 to the first master; resolves once the new one has taken over and the old one is stopping stubborn. */
async function intoTheWindow(run: CliRun): Promise<{ successor: number; oldStubborn: number; from: number }> {
  const oldStubborn = Number((await run.waitForLine(/spawned: stubborn with pid (\d+)/))[1]);
  await run.waitForLine(/stubborn: starting → running/);
  const from = run.output.length;
  run.signal('SIGUSR2');
  const successor = Number((await run.waitForLine(/the new master \(pid (\d+)\) is ready/, { from, timeoutMs: 20_000 }))[1]);
  await run.waitForLine(/stubborn: running → stopping/, { from });
  return { successor, oldStubborn, from };
}

test('during a USR2 hand-over, a program the old master still stops is shown as such and its start is refused; it starts once the old master has gone', async () => {
  const dir = makeTmpDir();
  const file = writeConfig(dir, CONFIG + DEPENDENT);
  const sock = join(dir, '.drover', 'drover.sock');
  const ep = parseServerUrl(`unix://${sock}`);
  const run = await startUp(file);
  const old = run.pid;
  try {
    const { successor, oldStubborn } = await intoTheWindow(run);
    const status = await runCli(['status', '-c', file]);
    assert.equal(status.code, 3, status.output);
    assert.match(status.stdout, new RegExp(`stubborn .*stopped.*being stopped by the previous master \\(pid ${old}\\)`, 'i'), status.output);
    const start = await runCli(['start', 'stubborn', '-c', file]);
    assert.equal(start.code, 1, start.output);
    assert.match(start.stdout, new RegExp(`E_PREVIOUS_MASTER .*previous master \\(pid ${old}\\).*wait for pid ${old} to exit`), start.output);
    const restart = await runCli(['restart', 'stubborn', '--json', '-c', file]);
    assert.equal(restart.code, 1, restart.output);
    assert.match(restart.stdout, /"code":\s*"E_PREVIOUS_MASTER"/, restart.output);
    const one = await rpc(sock, 'supervisor.startProcess', ['stubborn', false]);
    assert.ok(one.type === 'fault' && one.faultCode === 60 && one.faultString.includes(`previous master (pid ${old})`), JSON.stringify(one));
    // a program that depends on stubborn waits for it, instead of starting a second stubborn
    const app = await requestJson(ep, 'POST', '/api/start', { patterns: ['app'], wait: false });
    assert.match(JSON.stringify(app.body), /waiting for stubborn:started \(stubborn is still run by the previous master\)/);
    const all = (await rpcValue(sock, 'supervisor.startAllProcesses', [false])) as XmlRpcStruct[];
    assert.deepEqual(all.map((r) => [r['name'], r['status']]).sort(), [['app', 80], ['sleeper', 60], ['stubborn', 60]], JSON.stringify(all));
    const info = (await rpcValue(sock, 'supervisor.getProcessInfo', ['stubborn'])) as XmlRpcStruct;
    assert.equal(info['statename'], 'STOPPED', 'the state name stays supervisor\'s');
    assert.match(String(info['description']), /being stopped by the previous master/);
    assert.equal(run.count(/spawned: stubborn with pid/g), 1, `one stubborn only\n${run.describe()}`);
    // the old master's stubborn ends: the old master exits, and the new one starts stubborn and sleeper
    const gone = run.output.length;
    process.kill(oldStubborn, 'SIGKILL');
    await run.waitForExit(15_000, { drained: false });
    await run.waitForLine(/stubborn: starting → running/, { from: gone, timeoutMs: 10_000 });
    await run.waitForLine(/sleeper: starting → running/, { from: gone, timeoutMs: 10_000 });
    await run.waitForLine(/app: starting → running/, { from: gone, timeoutMs: 10_000 });
    assert.equal(run.count(/spawned: stubborn with pid/g), 2, run.describe());
    const after = await runCli(['status', '-c', file]);
    assert.equal(after.code, 0, after.output);
    assert.doesNotMatch(after.stdout, /previous master/, after.output);
    // the new master's stubborn ignores TERM too: end it first, so the shutdown is quick
    const mine = Number((run.output.slice(gone).match(/spawned: stubborn with pid (\d+)/) ?? [])[1]);
    process.kill(mine, 'SIGKILL');
    await requestJson(ep, 'POST', '/api/shutdown', {});
    await waitForCondition(() => livePids([successor]).length === 0, 'the new master to exit', { timeoutMs: 15_000, describe: () => run.describe() });
  } finally {
    await teardown(run, spawned(run), dir);
  }
});

test('a second USR2 while the previous master still stops its programs is ignored with a log line; one after it has gone re-execs', async () => {
  const dir = makeTmpDir();
  const file = writeConfig(dir, CONFIG);
  const run = await startUp(file);
  const old = run.pid;
  try {
    const { successor, oldStubborn } = await intoTheWindow(run);
    const second = run.output.length;
    process.kill(successor, 'SIGUSR2');
    await run.waitForLine(new RegExp(`SIGUSR2: the previous master \\(pid ${old}\\) has not exited yet.*ignored`), { from: second });
    assert.doesNotMatch(run.output.slice(second), /re-executing the master/, run.describe());
    // once the old master has gone, a USR2 goes ahead
    const gone = run.output.length;
    process.kill(oldStubborn, 'SIGKILL');
    await run.waitForExit(15_000, { drained: false });
    await run.waitForLine(/stubborn: starting → running/, { from: gone, timeoutMs: 10_000 });
    const third = run.output.length;
    process.kill(successor, 'SIGUSR2');
    await run.waitForLine(/the new master \(pid (\d+)\) is ready/, { from: third, timeoutMs: 20_000 });
    // one stubborn per master so far: the first's (killed), the second's (being stopped now)
    assert.equal(run.count(/spawned: stubborn with pid/g), 2, run.describe());
  } finally {
    await teardown(run, spawned(run), dir);
  }
});

test('a USR2 after an operator stopped a socket-serving program: the new master does not wait for it and takes over', async () => {
  const dir = makeTmpDir();
  const file = writeConfig(
    dir,
    `[supervisord]\nreexec_timeout = 3s\n\n[socket:web]\nbind = 127.0.0.1:0\n\n[program:web]\ncommand = ${node} ${fixture('forever.mjs')}\nsockets = web\nstartsecs = 0\n`,
  );
  const run = await startUp(file);
  try {
    await run.waitForLine(/web: starting → running/);
    const stop = await runCli(['stop', 'web', '-c', file]);
    assert.equal(stop.code, 0, stop.output);
    const from = run.output.length;
    run.signal('SIGUSR2');
    const outcome = await run.waitForLine(/the new master \(pid (\d+)\) is ready|SIGUSR2: .*this master keeps running/, { from, timeoutMs: 20_000 });
    assert.match(outcome[0], /is ready/, run.describe());
    const successor = Number(outcome[1]);
    await run.waitForExit(15_000, { drained: false });
    const info = await requestJson(parseServerUrl(`unix://${join(dir, '.drover', 'drover.sock')}`), 'GET', '/api/info');
    assert.equal(info.body['pid'], successor);
    const status = await runCli(['status', 'web', '-c', file]);
    assert.match(status.stdout, /web .*stopped/i, `the operator's stop holds under the new master\n${status.output}`);
    await requestJson(parseServerUrl(`unix://${join(dir, '.drover', 'drover.sock')}`), 'POST', '/api/shutdown', {});
    await waitForCondition(() => livePids([successor]).length === 0, 'the new master to exit', { timeoutMs: 15_000, describe: () => run.describe() });
  } finally {
    await teardown(run, spawned(run), dir);
  }
});
