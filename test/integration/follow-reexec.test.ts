// Clients of a master that re-execs (USR2). `drover tail -f` and `drover logs -f` ended at every USR2 with
// "drover stopped: the log stream has ended" (exit 0), so a `drover logs -f | shipper` pipeline stopped at
// every deploy; and a `drover reload` under way when the hand-over came said "cut short: drover is shutting
// down" though drover ran on with the new master. Now the old master's streams end with `event: end`
// saying `reexec` and where each log stood; the followers go on with the new master, reading the log
// files in between, and print every line the files hold once. A reload cut short says it was a re-exec.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Daemon, show } from '../helpers/daemon.js';
import { CliRun, fixture, livePids, waitForAsync, waitForCondition } from '../helpers/drover.js';

const PROGRAM = (name: string, log: string): string => `[program:${name}]
command = ${process.execPath} ${fixture('pid-lines.mjs')} 1000
startsecs = 0
stdout_logfile = ${log}
`;

function follower(d: Daemon, args: readonly string[]): CliRun {
  return new CliRun([...args, '-c', d.file], { cwd: d.dir, env: { NO_COLOR: '1' } });
}

/** The complete lines `run` printed on stdout. */
function printed(run: CliRun): string[] {
  const lines = run.stdout.split('\n');
  lines.pop(); // '' or a line still being written
  return lines;
}

/** `lines` are one contiguous run of `file`'s lines: none twice, none of the file's left out in between. */
function assertSliceOf(lines: readonly string[], file: readonly string[], what: string): void {
  assert.ok(lines.length > 0, `${what}: nothing printed`);
  const at = file.indexOf(lines[0] as string);
  assert.ok(at >= 0, `${what}: the first line printed (${lines[0]}) is not in the log file`);
  const expected = file.slice(at, at + lines.length);
  const firstDiff = lines.findIndex((l, i) => l !== expected[i]);
  assert.equal(firstDiff, -1, `${what}: line ${firstDiff} printed ${JSON.stringify(lines[firstDiff])}, the file has ${JSON.stringify(expected[firstDiff])} there\n--- printed around it:\n${lines.slice(Math.max(0, firstDiff - 3), firstDiff + 3).join('\n')}\n--- file around it:\n${expected.slice(Math.max(0, firstDiff - 3), firstDiff + 3).join('\n')}`);
}

/** USR2 to the master; resolves with the new master's pid once the old one has exited. */
async function reexec(d: Daemon): Promise<number> {
  const old = d.pid;
  process.kill(old, 'SIGUSR2');
  await waitForCondition(() => livePids([old]).length === 0, 'the old master to exit after the hand-over', { timeoutMs: 30_000, describe: () => d.daemonStderr() });
  const pidfile = join(d.dir, '.drover', 'drover.pid');
  const next = Number(readFileSync(pidfile, 'utf8').trim());
  assert.notEqual(next, old, `the pidfile names the new master\n${d.daemonStderr()}`);
  d.pid = next;
  d.seen.add(next);
  return next;
}

/** The pid drover runs `name` under now. */
async function pidOf(d: Daemon, name: string): Promise<number> {
  let pid = 0;
  await waitForAsync(async () => {
    const p = (await d.processes()).get(`${name}:${name}`);
    pid = p?.state === 'running' ? (p.pid ?? 0) : 0;
    return pid > 0;
  }, `${name} to run`, { timeoutMs: 20_000, describe: () => d.daemonStderr() });
  d.seen.add(pid);
  return pid;
}

test('tail -f and logs -f go on across a USR2: every line the log files hold, printed once', async (t) => {
  const d = new Daemon(`${PROGRAM('counter', '%(here)s/counter.log')}\n${PROGRAM('auto', 'AUTO')}`);
  t.after(async () => assert.deepEqual(await d.teardown(), [], 'nothing survives teardown'));
  await d.up();
  const oldCounter = await pidOf(d, 'counter');
  const oldAuto = await pidOf(d, 'auto');
  const tail = follower(d, ['tail', '-f', '-n', '3', 'counter']);
  const logs = follower(d, ['logs', '-f', '-n', '3']);
  t.after(() => [tail, logs].forEach((r) => r.child.exitCode === null && r.child.kill('SIGKILL')));
  await tail.waitForLine(new RegExp(`^${oldCounter} \\d+ x+$`, 'm'));
  await logs.waitForLine(new RegExp(`^auto:auto +\\| ${oldAuto} \\d+ x+$`, 'm'));

  // The followers' stdout is not read during the hand-over: they stop reading their streams (backpressure),
  // so they reach the new master only after it has run the programs a while, and what those wrote in
  // between is in the files alone: read from them at the offsets the old master's `end` gave
  for (const run of [tail, logs]) run.child.stdout?.pause();
  await reexec(d);
  const newCounter = await pidOf(d, 'counter');
  const newAuto = await pidOf(d, 'auto');
  assert.notEqual(newCounter, oldCounter, 'the new master started counter anew');
  await waitForCondition(() => readFileSync(join(d.dir, 'counter.log'), 'utf8').includes(`\n${newCounter} 20 x`), 'the new counter to write 20 lines', { describe: () => d.daemonStderr() });
  for (const run of [tail, logs]) run.child.stdout?.resume();
  // the new processes' output reaches the followers: 30 lines in, the hand-over is well behind them
  await tail.waitForLine(new RegExp(`^${newCounter} 30 x+$`, 'm'), { timeoutMs: 20_000 });
  await logs.waitForLine(new RegExp(`^counter:counter \\| ${newCounter} 30 x+$`, 'm'), { timeoutMs: 20_000 });
  await logs.waitForLine(new RegExp(`^auto:auto +\\| ${newAuto} 30 x+$`, 'm'), { timeoutMs: 20_000 });
  for (const [name, run] of [['tail -f', tail], ['logs -f', logs]] as const) {
    assert.equal(run.child.exitCode, null, `${name} still follows\n${run.describe()}`);
    assert.match(run.stderr, /re-executed \(USR2\): following on with the new master/, run.describe());
    assert.doesNotMatch(run.stderr, /drover stopped|broke|skipped/, run.describe());
  }

  // counter's log is one file both masters wrote: the old process's last lines (written while it was being
  // stopped) and the new one's first are printed, each once, in the file's order
  const shownByTail = printed(tail);
  const shownByLogs = printed(logs);
  // a follower gets each chunk before drover writes it to the file: the file is read once it holds the
  // last line either follower printed
  const counterLog = join(d.dir, 'counter.log');
  const lastPrinted = [shownByTail.at(-1) ?? '', (shownByLogs.filter((l) => l.startsWith('counter:counter |')).at(-1) ?? '').slice('counter:counter | '.length)];
  await waitForCondition(() => lastPrinted.every((l) => readFileSync(counterLog, 'utf8').split('\n').includes(l)), 'the log file to hold the last lines the followers printed', { describe: () => `${JSON.stringify(lastPrinted)}\n${d.daemonStderr()}` });
  const file = readFileSync(counterLog, 'utf8').split('\n');
  assertSliceOf(shownByTail, file, 'tail -f counter');
  assertSliceOf(shownByLogs.filter((l) => l.startsWith('counter:counter |')).map((l) => l.slice('counter:counter | '.length)), file, 'logs -f, counter');
  assert.ok(shownByTail.includes(`${oldCounter} bye 5`) && shownByTail.some((l) => l.startsWith(`${newCounter} 1 `)), `both processes' lines around the hand-over\n${tail.describe()}`);

  // auto's logs are two files (AUTO: each master names its own): the new file is printed from its start
  const auto = shownByLogs.filter((l) => l.startsWith('auto:auto')).map((l) => l.replace(/^auto:auto +\| /, ''));
  assert.equal(new Set(auto).size, auto.length, `no auto line twice\n${logs.describe()}`);
  const mine = auto.filter((l) => l.startsWith(`${newAuto} `)).map((l) => Number(l.split(' ')[1]));
  assert.deepEqual(mine.slice(0, 30), Array.from({ length: 30 }, (_, i) => i + 1), `the new auto process's lines from its first\n${logs.describe()}`);
  assert.ok(auto.includes(`${oldAuto} bye 5`), `the old auto process's last line\n${logs.describe()}`);

  // a true shutdown still ends the follow as before
  const r = await d.cli(['down']);
  assert.equal(r.code, 0, show(['down'], r));
  for (const run of [tail, logs]) {
    assert.deepEqual(await run.waitForExit(10_000), { code: 0, signal: null }, run.describe());
    assert.match(run.stderr, /drover stopped: the log stream has ended/, run.describe());
  }
});

test('a reload under way when a USR2 hands over says it was cut short by the re-exec, not by a shutdown', async (t) => {
  const slow = (env: string): string => `[program:slow]
command = ${process.execPath} ${fixture('ignore-term.mjs')}
startsecs = 0
stopwaitsecs = 6
environment = V="${env}"
`;
  const d = new Daemon(slow('1'));
  t.after(async () => assert.deepEqual(await d.teardown(), [], 'nothing survives teardown'));
  await d.up();
  d.seen.add(await pidOf(d, 'slow'));
  writeFileSync(d.file, slow('2'));
  // the reload restarts slow, whose stop (it ignores TERM) takes stopwaitsecs: the hand-over comes meanwhile
  const reload = follower(d, ['reload']);
  t.after(() => reload.child.exitCode === null && reload.child.kill('SIGKILL'));
  await waitForAsync(async () => (await d.processes()).get('slow:slow')?.state === 'stopping', 'the reload to stop slow', { describe: () => d.daemonStderr() });
  await reexec(d);
  assert.equal((await reload.waitForExit(20_000)).code, 1, reload.describe());
  assert.match(reload.stdout, /cut short by a re-exec \(USR2\): the new master read the config file when it started/, reload.describe());
  assert.match(reload.stdout, /E_REEXEC/, reload.describe());
  assert.doesNotMatch(reload.output, /shutting down/, reload.describe());
  // the new master runs the config the reload was to apply
  d.seen.add(await pidOf(d, 'slow'));
});
