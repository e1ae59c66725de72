// Log capture through the real `drover up`: size rotation at full speed loses, duplicates and tears no line;
// a line longer than maxbytes goes whole into one file; timestamps; JSON; gzip; AUTO names; /dev/stdout.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkNumberedLines, describeCheck, logAndBackups, readLogText } from '../helpers/log-lines.js';
import { Daemon } from '../helpers/daemon.js';
import { fixture, makeTmpDir, runToExit, startUp, teardown, waitForCondition, writeConfig } from '../helpers/drover.js';

const node = process.execPath;

test('size rotation many times at full speed: every line exactly once across the file and its backups, none torn', async () => {
  const dir = makeTmpDir();
  const count = 20_000;
  const maxBytes = 8192;
  const log = join(dir, 'w.log');
  // every 2500th line is 20 000 bytes: longer than maxbytes, so it must sit whole in a file of its own
  await runToExit(
    dir,
    `command = ${node} ${fixture('numbered-lines.mjs')} ${count} 2500 20000
stdout_logfile = ${log}
stdout_logfile_maxbytes = ${maxBytes}
stdout_logfile_backups = 1000`,
  );
  const files = logAndBackups(log);
  assert.ok(files.length > 100, `rotated many times: ${files.length} files`);
  const check = checkNumberedLines(files.map(readLogText), count, { longEvery: 2500, longBytes: 20_000 });
  assert.equal(check.torn.length + check.missing.length + check.duplicated.length, 0, describeCheck(check));
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    const lines = text.split('\n').length - 1;
    assert.ok(text.length <= maxBytes || lines === 1, `${f}: ${text.length} bytes in ${lines} lines exceeds maxbytes with more than one line`);
  }
  await teardown({ child: { exitCode: 0, signalCode: null } } as never, [], dir);
});

test('backups: only the newest N are kept, named file.1 … file.N', async () => {
  const dir = makeTmpDir();
  const log = join(dir, 'w.log');
  await runToExit(
    dir,
    `command = ${node} ${fixture('numbered-lines.mjs')} 5000
stdout_logfile = ${log}
stdout_logfile_maxbytes = 4096
stdout_logfile_backups = 3`,
  );
  assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('w.log')).sort(), ['w.log', 'w.log.1', 'w.log.2', 'w.log.3']);
  // the newest lines survive, in order: the live file holds the last line
  const check = checkNumberedLines(logAndBackups(log).map(readLogText), 5000);
  assert.equal(check.torn.length + check.duplicated.length, 0, describeCheck(check));
  assert.equal(check.seen.get(5000), 1);
  assert.ok(readFileSync(log, 'utf8').endsWith(`L5000 ${'abcdefghij'.repeat(9).slice(0, ((5000 * 7) % 90) + 1)}\n`));
  await teardown({ child: { exitCode: 0, signalCode: null } } as never, [], dir);
});

test('timestamps, json, gzip of rotated files, redirect_stderr, AUTO names in childlogdir', async () => {
  const dir = makeTmpDir();
  const count = 3000;
  const output = await runToExit(
    dir,
    `command = ${node} ${fixture('numbered-lines.mjs')} ${count}
stdout_logfile = ${join(dir, 'ts.log')}
stdout_logfile_maxbytes = 20000
stdout_logfile_backups = 100
logfile_gzip = true
timestamps = true
stderr_logfile = AUTO`,
  );
  // the foreground echo keeps the plain `NAME | line` form
  assert.match(output, /^w \| L1 abcdefgh$/m);
  const files = logAndBackups(join(dir, 'ts.log'));
  assert.ok(files.some((f) => f.endsWith('.1.gz')) && files.every((f) => f.endsWith('.gz') || f.endsWith('ts.log')), `gzipped: ${files.join(' ')}`);
  assert.equal(readdirSync(dir).filter((f) => f.includes('gz-tmp')).length, 0, 'no temporary gzip file left');
  const texts = files.map(readLogText);
  const iso = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /;
  for (const t of texts) for (const l of t.split('\n').filter(Boolean)) assert.match(l, iso);
  const check = checkNumberedLines(texts, count, { strip: iso });
  assert.equal(check.torn.length + check.missing.length + check.duplicated.length, 0, describeCheck(check));
  const auto = readdirSync(join(dir, '.drover', 'logs'));
  assert.equal(auto.length, 1, auto.join(' '));
  assert.match(auto[0] ?? '', /^w-stderr---supervisor-[a-z0-9_]{8}\.log$/);
  // readable by drover's user only, as supervisor's mkstemp makes it; a named log gets 0644 (less the umask)
  assert.equal(statSync(join(dir, '.drover', 'logs', auto[0] ?? '')).mode & 0o777, 0o600);
  assert.equal(statSync(join(dir, 'ts.log')).mode & 0o777, 0o666 & ~process.umask());
  await teardown({ child: { exitCode: 0, signalCode: null } } as never, [], dir);
});

test('redirect_stderr: stdout and stderr reach the log in the order the program wrote them (one pipe, as 2>&1)', async () => {
  const dir = makeTmpDir();
  const count = 6000;
  const log = join(dir, 'merged.log');
  // odd lines to stdout and even ones to stderr, one write(2) each, at full speed: two pipes read 64 KiB at
  // a time put runs of hundreds of lines out of order; one pipe cannot
  await runToExit(dir, `command = ${node} ${fixture('write-lines.mjs')} ${count}\nredirect_stderr = true\nstdout_logfile = ${log}`);
  const lines = readFileSync(log, 'utf8').replace(/\n$/, '').split('\n');
  const numbers = lines.map((l) => Number(/^L(\d+) /.exec(l)?.[1] ?? Number.NaN));
  const firstOff = numbers.findIndex((n, i) => n !== i + 1);
  assert.equal(firstOff, -1, `line ${firstOff + 1} of ${lines.length} is ${JSON.stringify(lines[firstOff])}, not L${firstOff + 1}`);
  assert.equal(lines.length, count);
  await teardown({ child: { exitCode: 0, signalCode: null } } as never, [], dir);
});

test('json lines, redirect_stderr keeps the stream, /dev/stdout prints with the prefix, drover has its own log', async () => {
  const dir = makeTmpDir();
  const log = join(dir, 'j.log');
  const run = await startUp(
    writeConfig(
      dir,
      `[program:j]
command = /bin/sh -c 'echo "out \\"quoted\\""; echo err >&2; printf "no newline"'
startsecs = 0
autorestart = false
redirect_stderr = true
log_format = json
stdout_logfile = ${log}
[program:d]
command = /bin/echo to-dev-stdout
startsecs = 0
autorestart = false
stdout_logfile = /dev/stdout
`,
    ),
  );
  try {
    await run.waitForLine(/j: running → exited/);
    await run.waitForLine(/d: running → exited/);
    run.signal('SIGTERM');
    assert.equal((await run.waitForExit()).code, 0, run.describe());
  } finally {
    await teardown(run);
  }
  const objs = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, string>);
  assert.deepEqual(
    objs.map((o) => [o['process'], o['stream'], o['message']]).sort(),
    [['j', 'stderr', 'err'], ['j', 'stdout', 'no newline'], ['j', 'stdout', 'out "quoted"']],
  );
  for (const o of objs) assert.ok(!Number.isNaN(Date.parse(o['time'] ?? '')), JSON.stringify(o));
  assert.deepEqual(Object.keys(objs[0] ?? {}), ['time', 'process', 'stream', 'message']);
  // /dev/stdout: once, with the prefix (not echoed a second time)
  assert.equal(run.count(/^d \| to-dev-stdout$/gm), 1, run.describe());
  const own = readFileSync(join(dir, '.drover', 'drover.log'), 'utf8');
  assert.match(own, /INFO drover up: pid \d+/);
  assert.match(own, /INFO all processes stopped/);
  assert.ok(statSync(join(dir, '.drover', 'drover.log')).size > 0);
  await teardown({ child: { exitCode: 0, signalCode: null } } as never, [], dir);
});

test('file modes as supervisord makes them under [supervisord] umask = 002: a named log 0664, an AUTO log 0600, drover\'s own log 0644', async () => {
  const d = new Daemon('[supervisord]\numask = 002\n[program:w]\ncommand = /bin/sh -c "echo hello; echo there >&2; exec sleep 1000"\nstdout_logfile = named.log\nstartsecs = 0\n');
  try {
    await d.up();
    const named = join(d.dir, 'named.log');
    await waitForCondition(() => existsSync(named) && readLogText(named) === 'hello\n', 'the named log', { describe: () => (existsSync(named) ? readLogText(named) : '(none)') });
    // before, 0644 less the umask: a group that was to write the logs (umask 002) could not
    assert.equal(statSync(named).mode & 0o777, 0o664);
    const logs = join(d.dir, '.drover', 'logs');
    const auto = readdirSync(logs).filter((f) => f.startsWith('w-stderr---'));
    assert.equal(auto.length, 1, readdirSync(logs).join(' '));
    assert.equal(statSync(join(logs, auto[0]!)).mode & 0o777, 0o600);
    assert.equal(statSync(join(d.dir, '.drover', 'drover.log')).mode & 0o777, 0o644);
  } finally {
    await d.teardown();
  }
});

test('a log file that cannot be opened fails the spawn, as under supervisord (FATAL after the retries), and a start after the cause is gone runs', async () => {
  // stdout_logfile names a directory (EISDIR). Before, drover ran the program, RUNNING, its output lost
  const d = new Daemon('[program:isdir]\ncommand = /bin/sh -c "echo out; exec sleep 1000"\nstdout_logfile = adir\nstartretries = 1\n');
  mkdirSync(join(d.dir, 'adir'));
  try {
    // drover runs on; `up --wait` says a program failed to start (exit 1)
    const up = await d.upWithFailures();
    assert.equal(up.code, 1, `${up.stdout}${up.stderr}`);
    // named as status names it (not isdir:isdir)
    assert.match(up.stdout, /^isdir: backoff \(spawn error: cannot open log file .*adir: EISDIR: illegal operation on a directory\)/m);
    const log = (): string => readFileSync(join(d.dir, '.drover', 'drover.log'), 'utf8');
    await waitForCondition(() => /isdir: backoff → fatal/.test(log()), 'isdir FATAL', { timeoutMs: 20_000, describe: () => d.daemonStderr() });
    assert.equal((await d.processes()).get('isdir:isdir')?.state, 'fatal');
    assert.match(log(), /isdir: cannot start: cannot open log file .*adir: EISDIR/);
    rmdirSync(join(d.dir, 'adir'));
    const r = await d.cli(['start', 'isdir']);
    assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
    const named = join(d.dir, 'adir');
    await waitForCondition(() => existsSync(named) && readLogText(named) === 'out\n', 'the log, once it can be opened', { describe: () => d.daemonStderr() });
  } finally {
    await d.teardown();
  }
});

test('a reload that finds drover\'s own log settings changed says they wait for the next start', async () => {
  const config = (level: string): string => `[supervisord]\nloglevel = ${level}\n[program:p]\ncommand = sleep 1000\nstartsecs = 0\n`;
  const d = new Daemon(config('info'));
  try {
    await d.up();
    writeConfig(d.dir, config('debug'));
    const r = await d.cli(['reload']);
    assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
    const log = (): string => readFileSync(join(d.dir, '.drover', 'drover.log'), 'utf8');
    // before, the change was ignored without a word (supervisord re-execs on a reload and applies it)
    await waitForCondition(() => /\[supervisord\] loglevel changed in the file; drover's own log keeps what it started with/.test(log()), 'the warning', { describe: log });
  } finally {
    await d.teardown();
  }
});
