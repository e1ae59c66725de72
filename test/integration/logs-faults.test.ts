// Program logs under file-system faults, through the real `drover up`: a live file whose rotation is refused
// keeps taking lines through the descriptor drover holds; a log whose directory went away resumes by itself
// once the directory is back; a removed live file is noticed and opened again by name (before, each lost
// every line until a reopen or the program's next spawn, the last without a word). And a full runtime
// directory (where drover's own log, pidfile and desired state live) fails no command and stops nothing.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { type CliRun, fixture, makeTmpDir, runCli, startUp, teardown, waitForCondition, writeConfig } from '../helpers/drover.js';

const node = process.execPath;

/** A size in bytes, 0 while the file does not exist. */
function sizeOf(path: string): number {
  return existsSync(path) ? statSync(path).size : 0;
}

/** Why an immutable file cannot be tried here, or null: needs root, a tmpfs mount and chattr support on it. */
function mountTmpfsWithChattr(dir: string): string | null {
  if (process.getuid?.() !== 0) return 'needs root (mount, chattr)';
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', dir], { stdio: 'pipe' });
  } catch (err) {
    return `cannot mount a tmpfs: ${(err as Error).message}`;
  }
  const probe = join(dir, 'probe');
  writeFileSync(probe, '');
  try {
    execFileSync('chattr', ['+i', probe], { stdio: 'pipe' });
    execFileSync('chattr', ['-i', probe], { stdio: 'pipe' });
    rmSync(probe);
    return null;
  } catch (err) {
    execFileSync('umount', [dir]);
    return `chattr +i not supported on tmpfs here: ${(err as Error).message}`;
  }
}

test('a live log made immutable: the refused rotation is reported once and lines go on into the file held', async (t) => {
  const dir = makeTmpDir();
  const logs = join(dir, 'logs');
  mkdirSync(logs);
  const skip = mountTmpfsWithChattr(logs);
  if (skip !== null) {
    rmSync(dir, { recursive: true, force: true });
    t.skip(skip);
    return;
  }
  const log = join(logs, 'w.log');
  const run = await startUp(
    writeConfig(dir, `[program:w]\ncommand = ${node} ${fixture('lines-forever.mjs')} 2 100\nstdout_logfile = ${log}\nstdout_logfile_maxbytes = 8KB\nstdout_logfile_backups = 2\nstartsecs = 0\n`),
  );
  try {
    await waitForCondition(() => sizeOf(log) > 1000, 'the first lines in w.log', { describe: () => run.describe() });
    execFileSync('chattr', ['+i', log]);
    // the rename to w.log.1 is refused (EPERM); opening w.log again would be refused as well
    await run.waitForLine(/rotating .*w\.log: EPERM.*past its size limit/);
    await waitForCondition(() => sizeOf(log) > 8192 + 4000, 'w.log growing past its limit through the descriptor held', {
      describe: () => `w.log: ${sizeOf(log)} bytes\n${run.describe()}`,
    });
    assert.doesNotMatch(run.output, /could not be written/, 'no line lost');
    assert.equal((run.output.match(/rotating .*w\.log/g) ?? []).length, 1, 'the refusal reported once');
  } finally {
    execFileSync('chattr', ['-i', log]);
    await teardown(run);
    execFileSync('umount', [logs]);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the log directory removed while the program runs: lines are reported lost, and logging resumes once it is back', async () => {
  const dir = makeTmpDir();
  const logs = join(dir, 'logs');
  mkdirSync(logs);
  const log = join(logs, 'w.log');
  const run = await startUp(
    writeConfig(dir, `[program:w]\ncommand = ${node} ${fixture('lines-forever.mjs')} 2 100\nstdout_logfile = ${log}\nstdout_logfile_maxbytes = 8KB\nstdout_logfile_backups = 2\nstartsecs = 0\n`),
  );
  try {
    await waitForCondition(() => sizeOf(log) > 1000, 'the first lines in w.log', { describe: () => run.describe() });
    // moved aside first, so that drover cannot create a new w.log in it between rm's unlink and its rmdir
    renameSync(logs, `${logs}.gone`);
    rmSync(`${logs}.gone`, { recursive: true });
    // the file held is gone with its directory: drover opens the name again (it has no name left, or it is
    // at its size limit), which fails
    await run.waitForLine(/cannot open log file .*w\.log: ENOENT/);
    await run.waitForLine(/w\.log: log bytes could not be written \(no open file\)/);
    mkdirSync(logs);
    // no reopen, no restart: the next lines open the file again by themselves
    await waitForCondition(() => sizeOf(log) > 1000, 'lines in the new w.log', { describe: () => `w.log: ${sizeOf(log)} bytes\n${run.describe()}` });
    await run.waitForLine(/w\.log: opened again, logging resumes; \d+ bytes lost so far/);
    // whole lines only: what was lost went a line at a time
    assert.match(readFileSync(log, 'utf8'), /^(L\d+ x{100}\n)+/);
    assert.equal((run.output.match(/cannot open log file/g) ?? []).length, 1, 'an unchanged reason is not repeated at every retry');
  } finally {
    await teardown(run, [], dir);
  }
});

test('a live log removed with maxbytes = 0: drover notices, says so and opens the name again', async () => {
  const dir = makeTmpDir();
  const log = join(dir, 'w.log');
  // maxbytes = 0 (logrotate does the rotating): with no size limit to reach, lines went into the removed
  // file, lost without a word, until a reopen or the program's next spawn
  const run = await startUp(
    writeConfig(dir, `[program:w]\ncommand = ${node} ${fixture('lines-forever.mjs')} 2 100\nstdout_logfile = ${log}\nstdout_logfile_maxbytes = 0\nstartsecs = 0\n`),
  );
  try {
    await waitForCondition(() => sizeOf(log) > 1000, 'the first lines in w.log', { describe: () => run.describe() });
    rmSync(log);
    await waitForCondition(() => sizeOf(log) > 1000, 'lines in a new w.log', { describe: () => `w.log: ${sizeOf(log)} bytes\n${run.describe()}` });
    await run.waitForLine(/w\.log: removed while drover was writing it; opening it again by name/);
    assert.match(readFileSync(log, 'utf8'), /^(L\d+ x{100}\n)+/);
  } finally {
    await teardown(run, [], dir);
  }
});

test('a full runtime directory: drover stop answers, the program is stopped and the others run on, the failure is logged', async (t) => {
  const dir = makeTmpDir();
  const runtime = join(dir, 'rt');
  mkdirSync(runtime);
  if (process.getuid?.() !== 0) {
    rmSync(dir, { recursive: true, force: true });
    t.skip('needs root (mount)');
    return;
  }
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k,mode=0700', 'tmpfs', runtime], { stdio: 'pipe' });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    t.skip(`cannot mount a tmpfs: ${(err as Error).message}`);
    return;
  }
  const config = writeConfig(
    dir,
    `[supervisord]
runtime_dir = ${runtime}

[program:a]
command = ${node} ${fixture('forever.mjs')}
startsecs = 0

[program:b]
command = ${node} ${fixture('forever.mjs')}
startsecs = 0
`,
  );
  let run: CliRun | null = null;
  try {
    run = await startUp(config);
    await run.waitForLine(/b: starting → running/);
    // fill the file system: the write stops at ENOSPC
    try {
      writeFileSync(join(runtime, 'fill'), Buffer.alloc(1024 * 1024));
    } catch (err) {
      assert.equal((err as NodeJS.ErrnoException).code, 'ENOSPC', String(err));
    }
    // `stop` records the operator's wish in desired-state.json, which cannot be written now: before, that
    // was an internal error that SIGKILLed every program and ended drover
    const stopped = await runCli(['stop', 'a', '-c', config]);
    assert.equal(stopped.code, 0, `${stopped.output}\n${run.describe()}`);
    await run.waitForLine(/cannot save .*desired-state\.json \(ENOSPC/);
    const status = await runCli(['status', '--json', '-c', config]);
    const states = Object.fromEntries((JSON.parse(status.stdout) as { processes: { process: string; state: string }[] }).processes.map((p) => [p.process, p.state]));
    assert.deepEqual(states, { a: 'stopped', b: 'running' }, `${status.output}\n${run.describe()}`);
    assert.doesNotMatch(run.output, /internal error/);
  } finally {
    if (run !== null) await teardown(run);
    execFileSync('umount', [runtime]);
    rmSync(dir, { recursive: true, force: true });
  }
});
