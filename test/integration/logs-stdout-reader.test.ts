// drover in the foreground writes children's lines to its own stdout (the echo, and `stdout_logfile =
// /dev/stdout`, as in containers). Its reader is someone else's process, and may fall behind or go away:
// - behind: the programs writing only there wait (their pipes fill), drover's memory does not grow with
//   their output, supervision goes on, and once the reader catches up every line arrives, once, in order;
//   the echo of a program that logs to a file is left out meanwhile (that program never waits for it);
// - gone (EPIPE): drover says so in its log and keeps the programs running (it used to stop them all);
// - stalled when drover shuts down: drover exits all the same, saying how much it dropped.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeTmpDir, runCli, startUp, statFields, teardown, waitForCondition, writeConfig } from '../helpers/drover.js';

/** drover's own log file (the default `logfile` of a config in `dir`). */
function ownLog(dir: string): string {
  const file = join(dir, '.drover', 'drover.log');
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
}

/** The pid drover's log gives for the spawn of `name`, once it is there. */
async function spawnedPid(dir: string, name: string): Promise<number> {
  const re = new RegExp(`spawned: ${name} with pid (\\d+)`);
  await waitForCondition(() => re.test(ownLog(dir)), `the spawn of ${name} in drover's log`, { describe: () => ownLog(dir) });
  return Number(re.exec(ownLog(dir))?.[1]);
}

/** true while `pid` sleeps in a write to a full pipe (wchan `pipe_write`, `anon_pipe_write` on newer kernels). */
function blockedOnPipe(pid: number): boolean {
  try {
    return /pipe_write/.test(readFileSync(`/proc/${pid}/wchan`, 'utf8'));
  } catch {
    return false; // gone
  }
}

const LINES = 20_000;

test("a reader of drover's stdout that falls behind holds the programs writing there, and then gets every line", async () => {
  const dir = makeTmpDir();
  // 91-byte numbered lines, 1.8 MB in all: far more than the pipes between them hold (64 KiB each)
  const run = await startUp(
    writeConfig(dir, `[program:spew]\ncommand = seq -f "%%090g" 1 ${LINES}\nstartsecs = 0\nautorestart = false\nstdout_logfile = /dev/stdout\n`),
  );
  try {
    run.child.stdout?.pause();
    const pid = await spawnedPid(dir, 'spew');
    const rssBefore = Number(statFields(run.pid)?.[21] ?? 0) * 4096;
    // the program waits in write(2): drover stopped reading its pipe instead of queueing its output
    await waitForCondition(() => blockedOnPipe(pid), `spew (pid ${pid}) blocked on its full pipe`, {
      describe: () => `spew state ${statFields(pid)?.[0] ?? 'gone'}\n${ownLog(dir)}`,
    });
    const rssBlocked = Number(statFields(run.pid)?.[21] ?? 0) * 4096;
    assert.ok(rssBlocked - rssBefore < 8 * 1024 * 1024, `drover grew by ${rssBlocked - rssBefore} bytes while its stdout was not read`);
    // supervision goes on meanwhile: the control socket answers
    const status = await runCli(['status', '-c', join(dir, 'supervisord.conf')]);
    assert.match(status.stdout, /^spew\s+running/m, status.output);

    run.child.stdout?.resume();
    await run.waitForCount(/^spew \| \d{90}$/m, LINES, 10_000);
    await run.waitForLine(/spew: running → exited/);
    const got = run.stdout
      .split('\n')
      .filter((l) => l.startsWith('spew | '))
      .map((l) => Number(l.slice('spew | '.length)));
    assert.equal(got.length, LINES, 'every line, once');
    const misplaced = got.findIndex((n, i) => n !== i + 1);
    assert.equal(misplaced, -1, `line ${misplaced + 1} is ${got[misplaced]}`);
  } finally {
    run.child.stdout?.resume();
    await teardown(run, [], dir);
  }
});

test("a stalled reader of drover's stdout never holds up a program that logs to a file: its echo is left out, and drover says so", async () => {
  const dir = makeTmpDir();
  const log = join(dir, 'filer.log');
  const config = writeConfig(dir, `[program:filer]\ncommand = seq -f "%%090g" 1 ${LINES}\nstartsecs = 0\nautorestart = false\nstdout_logfile = ${log}\n`);
  const run = await startUp(config);
  try {
    run.child.stdout?.pause();
    // the program runs to its end although the echo of its 1.8 MB is not read
    await waitForCondition(() => /filer: running → exited/.test(ownLog(dir)), 'filer to exit', { timeoutMs: 15_000, describe: () => ownLog(dir) });
    await waitForCondition(() => existsSync(log) && readFileSync(log, 'utf8').split('\n').length === LINES + 1, `${LINES} lines in the log file`, {
      describe: () => `${existsSync(log) ? readFileSync(log, 'utf8').split('\n').length - 1 : 0} lines`,
    });
    run.child.stdout?.resume();
    await waitForCondition(() => /WARN drover's stdout fell behind: \d+ bytes of echoed lines were left out of it/.test(ownLog(dir)), 'the report of the echo left out', {
      describe: () => ownLog(dir),
    });
  } finally {
    run.child.stdout?.resume();
    await teardown(run, [], dir);
  }
});

test("a reader of drover's stdout that goes away stops nothing: drover logs it and the programs go on", async () => {
  const dir = makeTmpDir();
  const config = writeConfig(dir, `[program:talk]\ncommand = /bin/sh -c 'while :; do echo line; sleep 0.05; done'\nstartsecs = 0\nstdout_logfile = /dev/stdout\n`);
  const run = await startUp(config);
  try {
    const pid = await spawnedPid(dir, 'talk');
    run.child.stdout?.destroy(); // the read end closes: drover's next write fails with EPIPE
    await waitForCondition(() => /WARN drover's stdout cannot be written \(EPIPE\)/.test(ownLog(dir)), 'the EPIPE warning in drover\'s log', {
      describe: () => `${ownLog(dir)}\n${run.describe()}`,
    });
    assert.doesNotMatch(ownLog(dir), /internal error/);
    const status = await runCli(['status', '-c', config]);
    assert.match(status.stdout, new RegExp(`^talk\\s+running\\s+${pid}\\s`, 'm'), status.output);
    const down = await runCli(['down', '-c', config]);
    assert.equal(down.code, 0, down.output);
    assert.equal((await run.waitForExit(10_000, { drained: false })).code, 0, `${run.describe()}\n${ownLog(dir)}`);
  } finally {
    await teardown(run, [], dir);
  }
});

test("drover exits when told to even if the reader of its stdout has stalled", async () => {
  const dir = makeTmpDir();
  const config = writeConfig(dir, `[program:spew]\ncommand = yes a-line-for-a-reader-that-never-reads\nstartsecs = 0\nstdout_logfile = /dev/stdout\n`);
  const run = await startUp(config);
  try {
    run.child.stdout?.pause();
    const pid = await spawnedPid(dir, 'spew');
    await waitForCondition(() => blockedOnPipe(pid), `spew (pid ${pid}) blocked on its full pipe`, { describe: () => ownLog(dir) });
    const down = await runCli(['down', '-c', config], { timeoutMs: 20_000 });
    assert.equal(down.code, 0, `${down.output}\n${ownLog(dir)}`);
    assert.equal((await run.waitForExit(5000, { drained: false })).code, 0, run.describe());
    assert.match(ownLog(dir), /WARN drover's stdout took nothing for \d+ ms: \d+ bytes for it are dropped/);
  } finally {
    run.child.stdout?.resume();
    await teardown(run, [], dir);
  }
});

test('[supervisord] logfile = /dev/stdout (containers): drover\'s own lines once on its stdout, no error', async () => {
  const dir = makeTmpDir();
  const config = writeConfig(dir, `[supervisord]\nlogfile = /dev/stdout\nlogfile_maxbytes = 0\n\n[program:hi]\ncommand = /bin/sh -c 'echo hello; exec sleep 1000'\nstartsecs = 0\n`);
  const run = await startUp(config);
  try {
    await run.waitForLine(/^hi \| hello$/m);
    run.signal('SIGTERM');
    assert.equal((await run.waitForExit()).code, 0, run.describe());
    assert.equal(run.count(/INFO drover up: pid \d+/), 1, run.describe());
    assert.equal(run.count(/INFO all processes stopped/), 1, run.describe());
    assert.equal(run.stderr, '', 'nothing on stderr (it used to say /dev/stdout is a link it does not follow)');
  } finally {
    await teardown(run, [], dir);
  }
});
