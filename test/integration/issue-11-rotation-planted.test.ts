// Issue 11 (security review): in a shared directory (sticky /tmp, as in supervisor's sample config) anyone can
// create a log's backup names before drover does. A directory on `x.log.1` and `x.log.2` made every
// rotation fail (EISDIR) and the live file grew without bound: a user who controls a program's output could
// fill the disk through a root-owned file. The size limit now holds whatever sits on a backup name: the
// backups go to the names still usable, or the live file starts over when none is; drover says once, at
// ERROR, what is in the way, and never follows, moves or removes it. A symlink on a backup name is replaced
// as a link (rename never follows it): its target is untouched.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeTmpDir, runToExit } from '../helpers/drover.js';

const MAX_BYTES = 2048;
const LINES = 200; // of 101 bytes: ten times the limit
/** a program that writes LINES numbered lines of 100 digits, then END, then exits */
const WRITER = `/bin/sh -c 'i=0; while [ $i -lt ${LINES} ]; do printf "%%0100d\\n" $i; i=$((i+1)); done; echo END'`;

/** A sticky world-writable log directory, like /tmp; the config sits apart, in a directory of its own. */
function sharedLogDir(dir: string): string {
  const logs = join(dir, 'shared');
  mkdirSync(logs);
  chmodSync(logs, 0o1777);
  return logs;
}

/** Runs the writer to its exit under drover with x.log in `logs`, then stops drover; returns drover's output. */
async function writeThrough(dir: string, logs: string): Promise<string> {
  return runToExit(
    dir,
    `command = ${WRITER}
stdout_logfile = ${join(logs, 'x.log')}
stdout_logfile_maxbytes = ${MAX_BYTES}
stdout_logfile_backups = 2`,
  );
}

/** Asserts a log file holds at most the limit plus one line (a write that crosses it finishes its line). */
function assertWithinLimit(path: string, output: string): string {
  const text = readFileSync(path, 'utf8');
  assert.ok(text.length <= MAX_BYTES + 101, `${path} is ${text.length} bytes, past its limit of ${MAX_BYTES}\n${output}`);
  return text;
}

test('directories on every backup name: the live file starts over at its limit; one ERROR names what is in the way; the directories are left as they are', async () => {
  const dir = makeTmpDir('drover-planted-');
  try {
    const logs = sharedLogDir(dir);
    // what an unprivileged user can do in /tmp: mkdir -p /tmp/x.log.1/x /tmp/x.log.2/x
    for (const n of [1, 2]) mkdirSync(join(logs, `x.log.${n}`, 'x'), { recursive: true });
    const output = await writeThrough(dir, logs);
    const live = assertWithinLimit(join(logs, 'x.log'), output);
    assert.match(live, /END\n$/, 'the last line is in the live file');
    for (const n of [1, 2]) assert.ok(lstatSync(join(logs, `x.log.${n}`, 'x')).isDirectory(), `x.log.${n}/x is left as it was`);
    const errors = output.split('\n').filter((l) => /x\.log\.1/.test(l) && /ERROR|error/i.test(l));
    assert.equal(errors.length, 1, `one error about the planted names, got:\n${errors.join('\n')}\n--- output:\n${output}`);
    assert.match(errors[0] ?? '', /x\.log\.1.*directory/, output);
    assert.doesNotMatch(output, /past its size limit/, output);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a directory on backup 1 only: rotation goes on over backup 2, both files within the limit', async () => {
  const dir = makeTmpDir('drover-planted-');
  try {
    const logs = sharedLogDir(dir);
    mkdirSync(join(logs, 'x.log.1', 'x'), { recursive: true });
    const output = await writeThrough(dir, logs);
    assertWithinLimit(join(logs, 'x.log'), output);
    const backup = join(logs, 'x.log.2');
    assert.ok(lstatSync(backup).isFile(), `x.log.2 is a rotated file\n${output}`);
    assert.ok(assertWithinLimit(backup, output).length > 0, 'x.log.2 holds rotated lines');
    assert.ok(lstatSync(join(logs, 'x.log.1', 'x')).isDirectory(), 'x.log.1/x is left as it was');
    assert.doesNotMatch(output, /past its size limit/, output);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a symlink on a backup name is replaced as a link: its target is never written, moved or removed', async () => {
  const dir = makeTmpDir('drover-planted-');
  try {
    const logs = sharedLogDir(dir);
    const target = join(dir, 'precious');
    writeFileSync(target, 'untouched\n');
    symlinkSync(target, join(logs, 'x.log.1'));
    symlinkSync(target, join(logs, 'x.log.2'));
    const output = await writeThrough(dir, logs);
    assert.equal(readFileSync(target, 'utf8'), 'untouched\n');
    assertWithinLimit(join(logs, 'x.log'), output);
    for (const n of [1, 2]) {
      const backup = join(logs, `x.log.${n}`);
      assert.ok(lstatSync(backup).isFile(), `x.log.${n} is now a rotated file, not the link\n${output}`);
      assertWithinLimit(backup, output);
    }
    assert.ok(existsSync(target));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a FIFO on backup 1 is left as it is (rename would have replaced it): backup 2 is used instead', async () => {
  const dir = makeTmpDir('drover-planted-');
  try {
    const logs = sharedLogDir(dir);
    const fifo = join(logs, 'x.log.1');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
    const output = await writeThrough(dir, logs);
    assert.ok(lstatSync(fifo).isFIFO(), `x.log.1 is still the FIFO\n${output}`);
    assertWithinLimit(join(logs, 'x.log'), output);
    assert.ok(assertWithinLimit(join(logs, 'x.log.2'), output).length > 0, 'x.log.2 holds rotated lines');
    assert.match(output, /x\.log\.1 is a FIFO/, output);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
