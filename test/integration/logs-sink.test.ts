// The log sink in-process with real child processes and real files: follow across rotations, time-based
// rotation through an injected clock, gzip, back-pressure, and the reading API checked against
// supervisor 4.2's own readFile/tailFile.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import { LogSink } from '../../src/logs/sink.js';
import { checkNumberedLines, describeCheck, logAndBackups, readLogText } from '../helpers/log-lines.js';
import { fixture, makeTmpDir, waitForCondition, writeConfig } from '../helpers/drover.js';
import { rmSync } from 'node:fs';

const quiet = { write: (): boolean => true };

function sinkFor(dir: string, programKeys: string, opts: { now?: () => number; highWaterMark?: number } = {}): LogSink {
  const file = writeConfig(dir, `[program:w]\ncommand = /bin/true\n${programKeys}\n`);
  const config = loadConfig(file, { env: process.env });
  return new LogSink({ config, echo: null, stdout: quiet, stderr: quiet, ...opts });
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => child.once('close', () => resolve()));
}

test('follow from the start across 100+ size rotations: every byte once, in order, same as the files', async () => {
  const dir = makeTmpDir();
  const log = join(dir, 'w.log');
  const sink = sinkFor(dir, `stdout_logfile = ${log}\nstdout_logfile_maxbytes = 4096\nstdout_logfile_backups = 1000`);
  const chunks: Buffer[] = [];
  const unfollow = sink.follow('w', 'stdout', (c) => chunks.push(c));
  const child = spawn(process.execPath, [fixture('numbered-lines.mjs'), '10000'], { stdio: ['ignore', 'pipe', 'ignore'] });
  sink.attach('w', 'stdout', child.stdout);
  await exited(child);
  await sink.close();
  unfollow();
  const followed = Buffer.concat(chunks).toString('utf8');
  const files = logAndBackups(log);
  assert.ok(files.length > 100, `${files.length} files`);
  assert.equal(followed, files.map(readLogText).join(''), 'follow saw exactly what the files hold, in order');
  const check = checkNumberedLines([followed], 10_000);
  assert.equal(check.torn.length + check.missing.length + check.duplicated.length, 0, describeCheck(check));
  rmSync(dir, { recursive: true, force: true });
});

test('follow with tailBytes starts with the end of what is already logged, then continues without a gap', async () => {
  const dir = makeTmpDir();
  const log = join(dir, 'w.log');
  const sink = sinkFor(dir, `stdout_logfile = ${log}`);
  const child = spawn('/bin/cat', [], { stdio: ['pipe', 'pipe', 'ignore'] });
  after(() => child.kill());
  sink.attach('w', 'stdout', child.stdout);
  child.stdin.write('one\ntwo\nthree\nfour\n');
  await waitForCondition(() => existsSync(log) && readFileSync(log, 'utf8') === 'one\ntwo\nthree\nfour\n', 'four lines in the file');
  const chunks: Buffer[] = [];
  sink.follow('w', 'stdout', (c) => chunks.push(c), { tailBytes: 10 });
  child.stdin.end('five\n');
  await exited(child);
  await sink.close();
  assert.equal(Buffer.concat(chunks).toString(), 'hree\nfour\nfive\n');
  rmSync(dir, { recursive: true, force: true });
});

test('hourly rotation by an injected clock, with gzip of the rotated file', async () => {
  const dir = makeTmpDir();
  const log = join(dir, 'w.log');
  let now = new Date(2024, 0, 1, 10, 0, 0).getTime();
  const sink = sinkFor(dir, `stdout_logfile = ${log}\nlogfile_rotate = hourly\nlogfile_gzip = true\ntimestamps = true`, { now: () => now });
  const child = spawn('/bin/cat', [], { stdio: ['pipe', 'pipe', 'ignore'] });
  after(() => child.kill());
  sink.attach('w', 'stdout', child.stdout);
  const content = (f: string): string => (existsSync(f) ? readLogText(f) : '');
  child.stdin.write('a1\n');
  await waitForCondition(() => content(log).endsWith('a1\n'), 'a1 logged');
  now += 30 * 60_000; // 10:30, same hour
  child.stdin.write('a2\n');
  await waitForCondition(() => content(log).endsWith('a2\n'), 'a2 logged');
  assert.equal(existsSync(`${log}.1`) || existsSync(`${log}.1.gz`), false, 'no rotation within the hour');
  now += 35 * 60_000; // 11:05: the next line starts a new file
  child.stdin.write('b1\n');
  await waitForCondition(() => existsSync(`${log}.1.gz`) && !existsSync(`${log}.1`), 'the rotated file gzipped', {
    describe: () => logAndBackups(log).join(' '),
  });
  const stamp = (h: number, m: number): string => new Date(2024, 0, 1, h, m, 0).toISOString();
  assert.equal(readLogText(`${log}.1.gz`), `${stamp(10, 0)} a1\n${stamp(10, 30)} a2\n`);
  now += 24 * 3600_000; // a day later: rotates again, the first backup moves to .2.gz
  child.stdin.end('c1\n');
  await exited(child);
  await sink.close();
  assert.deepEqual(logAndBackups(log).map((f) => f.slice(log.length)), ['.2.gz', '.1.gz', '']);
  assert.equal(readLogText(`${log}.1.gz`), `${stamp(11, 5)} b1\n`);
  assert.equal(readLogText(log), `${new Date(now).toISOString()} c1\n`);
  rmSync(dir, { recursive: true, force: true });
});

test('back-pressure: with a tiny queue the pipe is paused and resumed many times, and nothing is lost', async () => {
  const dir = makeTmpDir();
  const log = join(dir, 'w.log');
  const sink = sinkFor(dir, `stdout_logfile = ${log}\nstdout_logfile_maxbytes = 65536\nstdout_logfile_backups = 100`, { highWaterMark: 1 });
  const child = spawn(process.execPath, [fixture('numbered-lines.mjs'), '20000'], { stdio: ['ignore', 'pipe', 'ignore'] });
  sink.attach('w', 'stdout', child.stdout);
  await exited(child);
  await sink.close();
  assert.ok(sink.pauses > 10, `paused ${sink.pauses} times`);
  const check = checkNumberedLines(logAndBackups(log).map(readLogText), 20_000);
  assert.equal(check.torn.length + check.missing.length + check.duplicated.length, 0, describeCheck(check));
  rmSync(dir, { recursive: true, force: true });
});

test('readLog and tailLog answer like supervisor 4.2 readFile/tailFile on the same file', { skip: !existsSync('/usr/lib/python3/dist-packages/supervisor/options.py') && 'supervisor is not installed' }, async () => {
  const dir = makeTmpDir();
  const log = join(dir, 'w.log');
  const sink = sinkFor(dir, `stdout_logfile = ${log}\nstderr_logfile = NONE`);
  writeFileSync(log, Array.from({ length: 100 }, (_, i) => `line ${i}\n`).join(''));
  const size = readFileSync(log).length;
  const cases: [number, number][] = [];
  for (const offset of [0, 1, 10, size - 1, size, size + 5, -1, -10, -size, -size - 10]) {
    for (const length of [0, 1, 7, size, size + 100, -1, -5]) cases.push([offset, length]);
  }
  const py = `
import json, sys
from supervisor.options import readFile, tailFile
out = []
for off, ln in json.loads(sys.argv[2]):
    try:
        r = readFile(sys.argv[1], off, ln)
        rd = r.decode()
    except ValueError as e:
        rd = 'E_' + e.args[0]
    t = tailFile(sys.argv[1], off, ln)
    out.append([rd, t[0], t[1], t[2]])
print(json.dumps(out))
`;
  const r = spawnSync('/usr/bin/python3', ['-c', py, log, JSON.stringify(cases)], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const expected = JSON.parse(r.stdout) as [string, string, number, boolean][];
  for (const [i, [offset, length]] of cases.entries()) {
    let read: string;
    try {
      read = (await sink.readLog('w', 'stdout', offset, length)).toString();
    } catch (err) {
      read = (err as { code: string }).code;
    }
    const t = await sink.tailLog('w', 'stdout', offset, length);
    assert.deepEqual([read, t.bytes.toString(), t.offset, t.overflow], expected[i], `offset ${offset}, length ${length}`);
  }
  await assert.rejects(sink.readLog('nope', 'stdout', 0, 0), { code: 'E_BAD_NAME' });
  await assert.rejects(sink.readLog('w', 'stderr', 0, 0), { code: 'E_NO_FILE' }); // NONE
  assert.equal(sink.logPath('w', 'stdout'), log);
  assert.equal(sink.logPath('w:w', 'stdout'), log, 'group:name is accepted');
  await sink.clearLog('w');
  assert.equal(readFileSync(log, 'utf8'), '', 'clearLog removes the file and starts a new one');
  await sink.close();
  rmSync(dir, { recursive: true, force: true });
});
