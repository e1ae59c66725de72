// Debian's real logrotate moving drover's log files while a writer runs, with `postrotate` sending SIGUSR1:
// drover reopens its files by name and not one line is lost. Also: SIGUSR1 does not start Node's inspector.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkNumberedLines, describeCheck, logAndBackups, readLogText } from '../helpers/log-lines.js';
import { fixture, makeTmpDir, runCli, startUp, teardown, waitForCondition, writeConfig } from '../helpers/drover.js';

const LOGROTATE = '/usr/sbin/logrotate';

test('logrotate with create and postrotate kill -USR1, five times while a writer runs: no line lost', { skip: !existsSync(LOGROTATE) && 'logrotate is not installed (scripts/install-test-deps.sh)' }, async () => {
  const dir = makeTmpDir();
  const log = join(dir, 'w.log');
  const run = await startUp(
    writeConfig(
      dir,
      `[program:w]
command = ${process.execPath} ${fixture('numbered-lines.mjs')} 0
startsecs = 0
stdout_logfile = ${log}
stdout_logfile_maxbytes = 0
stderr_logfile = NONE
`,
    ),
  );
  try {
    const conf = join(dir, 'logrotate.conf');
    writeFileSync(
      conf,
      `${log} {
  rotate 20
  create 0644
  nocompress
  missingok
  postrotate
    kill -USR1 ${run.pid}
  endscript
}
`,
      { mode: 0o644 },
    );
    const size = (): number => (existsSync(log) ? statSync(log).size : 0);
    await waitForCondition(() => size() > 0, 'the writer to start writing', { describe: () => run.describe() });
    for (let i = 1; i <= 5; i++) {
      const r = spawnSync(LOGROTATE, ['-f', '-s', join(dir, 'logrotate.state'), conf], { encoding: 'utf8' });
      assert.equal(r.status, 0, `logrotate: ${r.stderr}`);
      await run.waitForCount(/SIGUSR1 received: reopened the log files/g, i);
      // the new file, created by logrotate, is where the lines go now
      await waitForCondition(() => size() > 0, `lines in the new ${log} after rotation ${i}`, { describe: () => run.describe() });
    }
    run.signal('SIGTERM');
    assert.equal((await run.waitForExit(10_000)).code, 0, run.describe());
    const last = Number(/^w ! END (\d+)$/m.exec(run.output)?.[1]);
    assert.ok(last > 0, `the writer reported its last line\n${run.describe()}`);
    const files = logAndBackups(log);
    assert.equal(files.length, 6, `w.log and five rotated files: ${files.join(' ')}`);
    const check = checkNumberedLines(files.map(readLogText), last);
    assert.equal(check.torn.length + check.missing.length + check.duplicated.length, 0, describeCheck(check));
    // Node's default for SIGUSR1 is to start the inspector; drover's listener must have prevented it
    assert.doesNotMatch(run.output, /Debugger listening/);
  } finally {
    await teardown(run, [], dir);
  }
});

// supervisord opens a program's log anew at every spawn and reopens everything on HUP: a log moved away (a
// rotation whose postrotate restarts the program or sends HUP, an `rm` to free the disk) is made again.
// drover kept writing into the moved file until a USR1.
test('a log moved away is made again at the program\'s next spawn, and at a HUP', async () => {
  const dir = makeTmpDir();
  const log = join(dir, 'tick.log');
  const own = join(dir, 'drover.log');
  const run = await startUp(
    writeConfig(
      dir,
      `[supervisord]
logfile = ${own}

[program:tick]
command = /bin/sh -c 'echo started $$; exec sleep 1000'
startsecs = 0
stdout_logfile = ${log}
`,
    ),
  );
  try {
    await waitForCondition(() => existsSync(log) && /started/.test(readFileSync(log, 'utf8')), 'the first line in tick.log', { describe: () => run.describe() });
    renameSync(log, `${log}.moved`);
    const restarted = await runCli(['restart', 'tick', '-c', join(dir, 'supervisord.conf')]);
    assert.equal(restarted.code, 0, restarted.output);
    await waitForCondition(() => existsSync(log) && /started/.test(readFileSync(log, 'utf8')), 'tick.log made again at the spawn', { describe: () => run.describe() });
    assert.equal(readFileSync(`${log}.moved`, 'utf8').match(/started/g)?.length, 1, 'the moved file got nothing more');
    // HUP: every log, drover's own too
    renameSync(own, `${own}.moved`);
    run.signal('SIGHUP');
    await run.waitForLine(/reload: done/);
    await waitForCondition(() => existsSync(own) && /reload: done/.test(readFileSync(own, 'utf8')), "drover's own log made again at the HUP", { describe: () => run.describe() });
  } finally {
    await teardown(run, [], dir);
  }
});

// An audit against supervisord 4.2.5 (eighteenth session): a live log removed without a reopen made the next
// rotation fail (ENOENT), which held rotation for 60 s with an ERROR while the new file grew ~20× past its
// limit; supervisord starts a new file. And a log whose directory was removed left the restarted program
// RUNNING with every line dropped; supervisord fails the spawn (FATAL).
test('a removed live log: the next rotation starts a new file at once; a removed log directory fails the next spawn', async () => {
  const dir = makeTmpDir();
  const log = join(dir, 'w.log');
  const sub = join(dir, 'sub');
  mkdirSync(sub);
  const own = join(dir, 'drover.log');
  const run = await startUp(
    writeConfig(
      dir,
      `[supervisord]
logfile = ${own}

[program:w]
command = /bin/sh -c 'i=0; while :; do i=$((i+1)); echo "line $i of the writer, padded to some forty bytes"; sleep 0.02; done'
startsecs = 0
stdout_logfile = ${log}
stdout_logfile_maxbytes = 2000
stdout_logfile_backups = 5

[program:b]
command = /bin/sh -c 'echo up; exec sleep 1000'
startsecs = 1
startretries = 1
stdout_logfile = ${sub}/b.log
`,
    ),
  );
  try {
    await waitForCondition(() => existsSync(`${log}.2`), 'two rotations', { describe: () => run.describe() });
    const firstBackup = statSync(`${log}.1`).ino;
    // the oldest backup, by its first line: the rotations after the removal must keep it (a review found the
    // next one renamed a backup onto it)
    const oldest = readFileSync(`${log}.2`, 'utf8').split('\n')[0] as string;
    rmSync(log);
    // the deleted file fills to its limit, then a new one is started: no ERROR, and the new one rotates in turn
    const files = (): string => ['', '.1', '.2', '.3', '.4', '.5'].map((x) => `w.log${x}: ${existsSync(log + x) ? statSync(log + x).size : '-'}`).join(', ');
    // a rotation may rename w.log.1 between the two looks: a file gone meanwhile is "not yet"
    const inoOf = (path: string): number | null => {
      try {
        return statSync(path).ino;
      } catch {
        return null;
      }
    };
    await waitForCondition(() => existsSync(log) && ![null, firstBackup].includes(inoOf(`${log}.1`)), 'the new w.log rotated in its turn', {
      timeoutMs: 10_000,
      describe: () => `${files()}\n${run.describe()}`,
    });
    assert.ok(statSync(`${log}.1`).size <= 2000 + 100, `w.log.1 near the limit of 2000: ${files()}`);
    const kept = [2, 3, 4, 5].filter((n) => existsSync(`${log}.${n}`) && readFileSync(`${log}.${n}`, 'utf8').startsWith(`${oldest}\n`));
    assert.equal(kept.length, 1, `the backup that began with ${JSON.stringify(oldest)} is kept: ${files()}`);
    assert.doesNotMatch(readFileSync(own, 'utf8'), /ERROR rotating/, readFileSync(own, 'utf8'));

    rmSync(sub, { recursive: true });
    const restarted = await runCli(['restart', 'b', '-c', join(dir, 'supervisord.conf')]);
    assert.notEqual(restarted.code, 0, restarted.output);
    await run.waitForLine(/b: backoff → fatal/, { timeoutMs: 15_000 });
    assert.match(readFileSync(own, 'utf8'), /sub\/b\.log/, 'the reason names the log');
  } finally {
    await teardown(run, [], dir);
  }
});

// A progress bar redrawn with \r never left the pipe quiet for 500 ms, so nothing of its line reached the
// file (or tail -f) until its newline; supervisord writes what it reads.
test('a partial line that keeps growing reaches the file within about 2 s, without waiting for its newline', async () => {
  const dir = makeTmpDir();
  const log = join(dir, 'p.log');
  const run = await startUp(
    writeConfig(
      dir,
      `[program:p]
command = /bin/sh -c 'printf downloading; i=0; while :; do i=$((i+1)); printf "\\r %%d%%%%" $i; sleep 0.1; done'
startsecs = 0
stdout_logfile = ${log}
`,
    ),
  );
  try {
    await waitForCondition(() => existsSync(log) && /\r \d+%/.test(readFileSync(log, 'latin1')), 'the progress in p.log', {
      timeoutMs: 5000,
      describe: () => `${existsSync(log) ? JSON.stringify(readFileSync(log, 'latin1')) : 'no p.log'}\n${run.describe()}`,
    });
  } finally {
    await teardown(run, [], dir);
  }
});
