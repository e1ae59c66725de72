// A log that is a FIFO read by a collector (docs/logs.md). A review found two faults:
// 1. a FIFO whose reader stops reading (or never came) froze logging: drover wrote it blocking, from the
//    thread pool, so a full pipe held a thread for ever; four such logs held all four threads and every log
//    stopped, drover's own too, and `drover down` could never end (only kill -9 did). Now the FIFO is written
//    without blocking: lines wait up to a bound, then are dropped and counted, and shutdown does not wait.
// 2. SIGUSR1 closed drover's descriptor of the FIFO before opening its name again: the last descriptor
//    closed, the kernel discarded what the pipe held. Now the new descriptor is opened first.
// A second review found three more:
// 3. the fix dropped lines of a reader that reads, only slower than the program writes (past 1 MiB held),
//    and at close all that the pipe did not hold: a FIFO or device now holds up its programs as a slow file
//    does while its reader takes something, drops only once it has taken nothing for 5 s, and close writes
//    on while it takes something (at most 5 s).
// 4. SIGUSR1 could not move a stalled FIFO log to a new FIFO: the reopen waited behind the held lines, which
//    waited for the old, full pipe. Now a device's or FIFO's reopen goes first and the held lines follow.
// 5. the drop reports were paced on Date.now(), the other loss reports on the steady clock: after a step of
//    the wall clock one kind silenced the other (or itself) for the step's length.
// Negative controls: each test below fails with the fix it names taken out of dist/src/logs/log-file.js.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { Daemon, show } from '../helpers/daemon.js';
import { livePids, TIMEOUT_SCALE, waitForCondition } from '../helpers/drover.js';
import { SteppableClock } from '../helpers/faketime.js';

/** A pipe's capacity on Linux unless changed (F_SETPIPE_SZ): what a FIFO with no reader takes before it is full. */
const PIPE_BYTES = 64 * 1024;

/** Bytes waiting in the FIFO at `path` (FIONREAD), through a non-blocking reader that takes none of them. */
function fifoHolds(path: string): number {
  const py = 'import fcntl, os, struct, sys, termios\nfd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)\nprint(struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"0000"))[0])';
  return Number(spawnSync('/usr/bin/python3', ['-c', py, path], { encoding: 'utf8' }).stdout.trim() || '-1');
}

/** What the FIFO at `path` holds now, read by a reader that opens it only now (non-blocking: no waiting for more). */
function fifoRead(path: string): string {
  const py = 'import os, sys\nfd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)\ntry:\n  sys.stdout.write(os.read(fd, 1 << 20).decode())\nexcept BlockingIOError:\n  pass';
  return spawnSync('/usr/bin/python3', ['-c', py, path], { encoding: 'utf8' }).stdout;
}

function mkfifo(path: string): void {
  assert.equal(spawnSync('mkfifo', [path]).status, 0, `mkfifo ${path}`);
}

const size = (path: string): number => (existsSync(path) ? statSync(path).size : 0);
const ownLog = (d: Daemon): string => {
  const f = join(d.dir, '.drover', 'drover.log');
  return existsSync(f) ? readFileSync(f, 'utf8') : '';
};

/**
 * `fifos` programs writing 2.7 MB each into a FIFO nobody reads, and one (`b`) writing a line every 50 ms
 * into a regular file: once every FIFO is full, b's log still grows, drover says what it dropped, and
 * `drover down` ends it in its usual time.
 */
async function fifoWithoutReader(t: TestContext, fifos: number): Promise<void> {
  let config = '';
  for (let i = 1; i <= fifos; i++) {
    config += `[program:a${i}]
command = bash -c 'seq 1 400000; exec sleep 1000'
startsecs = 0
stdout_logfile = %(here)s/a${i}.fifo
stdout_logfile_maxbytes = 0
`;
  }
  config += `[program:b]
command = bash -c 'i=0; while :; do i=$((i+1)); echo "b $i"; sleep 0.05; done'
startsecs = 0
stdout_logfile = %(here)s/b.log
`;
  const d = new Daemon(config);
  t.after(async () => assert.deepEqual(await d.teardown(), [], 'nothing survives teardown'));
  const paths = Array.from({ length: fifos }, (_, i) => join(d.dir, `a${i + 1}.fifo`));
  for (const p of paths) mkfifo(p);
  await d.up();
  for (const p of paths) {
    await waitForCondition(() => fifoHolds(p) >= PIPE_BYTES - 4096, `${p} to be full`, { describe: () => `${fifoHolds(p)} bytes\n${d.daemonStderr()}` });
  }
  // the other program's log goes on growing although every FIFO is full
  const blog = join(d.dir, 'b.log');
  const before = size(blog);
  await waitForCondition(() => size(blog) >= before + 20, "b's log to grow while the FIFOs are full", {
    describe: () => `b.log ${before} → ${size(blog)} bytes\n${d.daemonStderr()}`,
  });
  for (let i = 1; i <= fifos; i++) {
    const said = new RegExp(`a${i}\\.fifo: \\d+ bytes not written to FIFO: its reader is not reading`);
    // lines are dropped only once the FIFO has taken nothing for 5 s (reader-pace.ts)
    await waitForCondition(() => said.test(ownLog(d)), `drover's log to say what a${i}'s FIFO dropped`, { timeoutMs: 15_000, describe: () => d.daemonStderr() });
  }
  const startedMs = Date.now();
  const down = await d.cli(['down']);
  assert.equal(down.code, 0, `${show(['down'], down)}\n${d.daemonStderr()}`);
  await waitForCondition(() => livePids([d.pid]).length === 0, 'drover to exit', { describe: () => d.daemonStderr() });
  // `down` waits for the programs' stop (bash and sleep end at once on TERM), never for the FIFOs
  assert.ok(Date.now() - startedMs < 8000 * TIMEOUT_SCALE, `down took ${Date.now() - startedMs} ms`);
}

test('a FIFO log nobody reads: the other logs go on, its lines are dropped and said, `down` exits 0', async (t) => {
  await fifoWithoutReader(t, 1);
});

// four is the thread pool's size (UV_THREADPOOL_SIZE): four blocked writes once stopped every log of drover
test('four FIFO logs nobody reads: the other logs go on, `down` exits 0', async (t) => {
  await fifoWithoutReader(t, 4);
});

test('SIGUSR1 keeps what the FIFO holds: a reader that opens afterwards gets the lines', async (t) => {
  const d = new Daemon(`[program:c]
command = sh -c 'echo one; echo two; exec sleep 1000'
startsecs = 0
stdout_logfile = %(here)s/c.fifo
`);
  t.after(async () => assert.deepEqual(await d.teardown(), [], 'nothing survives teardown'));
  const fifo = join(d.dir, 'c.fifo');
  mkfifo(fifo);
  await d.up();
  await waitForCondition(() => fifoHolds(fifo) >= 8, 'drover to write the two lines into the FIFO', { describe: () => `${fifoHolds(fifo)} bytes\n${d.daemonStderr()}` });
  process.kill(d.pid, 'SIGUSR1');
  await waitForCondition(() => /SIGUSR1 received: reopened the log files/.test(ownLog(d)), 'the reopen', { describe: () => d.daemonStderr() });
  assert.equal(fifoRead(fifo), 'one\ntwo\n', `what the FIFO held after the reopen\n${d.daemonStderr()}`);
});

/** `seq 1 n`'s output. */
const seq = (from: number, to: number): string => Array.from({ length: to - from + 1 }, (_, i) => `${from + i}\n`).join('');

const text = (path: string): string => (existsSync(path) ? readFileSync(path, 'latin1') : '');

/**
 * A reader of the FIFO at `path` that copies it into `out`, `chunk` bytes every 50 ms (slower than a program
 * writes), until its end (drover closed it); killed after the test if still running.
 */
function slowReader(t: TestContext, path: string, out: string, chunk: number): void {
  const py = 'import os, sys, time\nfd = os.open(sys.argv[1], os.O_RDONLY)\nout = open(sys.argv[2], "wb")\nwhile True:\n  b = os.read(fd, int(sys.argv[3]))\n  if not b: break\n  out.write(b); out.flush()\n  time.sleep(0.05)';
  const reader = spawn('/usr/bin/python3', ['-c', py, path, out, String(chunk)], { stdio: 'ignore' });
  t.after(() => {
    if (reader.exitCode === null && reader.signalCode === null) reader.kill('SIGKILL');
  });
}

const DROPPED = /not written to FIFO/;

/** Waits until `out` holds `want`; fails at once when drover's log says the FIFO dropped lines. */
async function readerGets(d: Daemon, out: string, want: string, timeoutMs: number): Promise<void> {
  await waitForCondition(
    () => {
      assert.doesNotMatch(ownLog(d), DROPPED, `lines dropped although the reader reads (${size(out)} of ${want.length} bytes read)\n${d.daemonStderr()}`);
      return size(out) >= want.length;
    },
    `the reader to get all ${want.length} bytes`,
    { timeoutMs, describe: () => `${size(out)} bytes read\n${d.daemonStderr()}` },
  );
  assert.ok(text(out) === want, `the reader got other bytes than the program wrote (${size(out)} bytes)`);
}

// negative control: queueCopy as before the fix (a device or FIFO never answers false and drops past the
// high-water mark, `!this.regular` for `this.reader?.stalled === true`) drops about 1.6 MB here
test('a FIFO whose reader is slower than its program: the program is held up, the reader gets every line', async (t) => {
  const d = new Daemon(`[program:fast]
command = bash -c 'seq 1 400000; exec sleep 1000'
startsecs = 0
stdout_logfile = %(here)s/fast.fifo
`);
  t.after(async () => assert.deepEqual(await d.teardown(), [], 'nothing survives teardown'));
  const fifo = join(d.dir, 'fast.fifo');
  const out = join(d.dir, 'read.txt');
  mkfifo(fifo);
  // 64 KiB every 50 ms: at most 1.3 MB/s, against seq's tens of MB/s
  slowReader(t, fifo, out, 64 * 1024);
  await d.up();
  await readerGets(d, out, seq(1, 400000), 30_000);
});

// negative control: close() dropping what waits at the first EAGAIN (waitForReader releasing the idle
// waiters whatever the reader does) loses most of the burst
test('a burst just before `drover down` reaches a FIFO reader that reads slowly', async (t) => {
  const d = new Daemon(`[program:burst]
command = bash -c 'seq 1 60000; touch %(here)s/written; exec sleep 1000'
startsecs = 0
stdout_logfile = %(here)s/burst.fifo
`);
  t.after(async () => assert.deepEqual(await d.teardown(), [], 'nothing survives teardown'));
  const fifo = join(d.dir, 'burst.fifo');
  const out = join(d.dir, 'read.txt');
  mkfifo(fifo);
  // 8 KiB every 50 ms, 160 KB/s: the burst's 350 KB take two seconds, most of them after `down` began
  slowReader(t, fifo, out, 8 * 1024);
  await d.up();
  await waitForCondition(() => existsSync(join(d.dir, 'written')), 'the burst to be written', { describe: () => d.daemonStderr() });
  const down = await d.cli(['down']);
  assert.equal(down.code, 0, `${show(['down'], down)}\n${d.daemonStderr()}`);
  await readerGets(d, out, seq(1, 60000), 15_000);
});

// negative control: reopen() queueing the reopen behind the held lines, as for a regular file
test('SIGUSR1 moves a FIFO log whose reader stopped to a new FIFO: the held lines follow, in order, none twice', async (t) => {
  const d = new Daemon(`[program:c]
command = bash -c 'seq 1 52000; touch %(here)s/written; while [ ! -e %(here)s/go ]; do sleep 0.05; done; seq 52001 52010; exec sleep 1000'
startsecs = 0
stdout_logfile = %(here)s/c.fifo
`);
  t.after(async () => assert.deepEqual(await d.teardown(), [], 'nothing survives teardown'));
  const fifo = join(d.dir, 'c.fifo');
  const out = join(d.dir, 'read.txt');
  mkfifo(fifo);
  await d.up();
  // ~300 KB with no reader: 64 KiB in the pipe, the rest held by drover
  await waitForCondition(() => existsSync(join(d.dir, 'written')) && fifoHolds(fifo) >= PIPE_BYTES - 4096, 'the FIFO to be full', {
    describe: () => `${fifoHolds(fifo)} bytes in the FIFO\n${d.daemonStderr()}`,
  });
  rmSync(fifo);
  mkfifo(fifo);
  const outFd = openSync(out, 'w');
  const cat = spawn('cat', [fifo], { stdio: ['ignore', outFd, 'ignore'] });
  closeSync(outFd);
  t.after(() => {
    if (cat.exitCode === null && cat.signalCode === null) cat.kill('SIGKILL');
  });
  process.kill(Number(readFileSync(join(d.dir, '.drover', 'drover.pid'), 'utf8')), 'SIGUSR1');
  await waitForCondition(() => /SIGUSR1 received: reopened the log files/.test(ownLog(d)), 'the reopen', { describe: () => d.daemonStderr() });
  writeFileSync(join(d.dir, 'go'), '');
  await waitForCondition(() => text(out).endsWith('52010\n'), 'the new FIFO to get the lines written after the reopen', {
    timeoutMs: 10_000,
    describe: () => `${size(out)} bytes read, ending ${JSON.stringify(text(out).slice(-40))}\n${d.daemonStderr()}`,
  });
  // what the old pipe held went with it (it may end inside a line); what drover held follows, then the new lines
  const got = text(out);
  const all = seq(1, 52010);
  assert.ok(all.endsWith(got), `the lines in order, each once, expected; got ${got.length} bytes starting ${JSON.stringify(got.slice(0, 20))}`);
  assert.ok(all.length - got.length <= PIPE_BYTES, `only what the old FIFO held may be lost: ${all.length - got.length} bytes lost`);
});

// negative control: Date.now() back in reportReaderDrops, dropForReader and waitForReader (as before the
// fix): after the step back no report comes for an hour
test('the drop reports of a FIFO nobody reads go on after a step back of the wall clock', async (t) => {
  const d = new Daemon(`[program:w]
command = bash -c 'while :; do seq 1 2000; sleep 0.02; done'
startsecs = 0
stdout_logfile = %(here)s/w.fifo
`);
  t.after(async () => assert.deepEqual(await d.teardown(), [], 'nothing survives teardown'));
  mkfifo(join(d.dir, 'w.fifo'));
  const clock = new SteppableClock(d.dir);
  const up = await d.cli(['up', '-d', '--wait'], { env: clock.env() });
  assert.equal(up.code, 0, `${show(['up'], up)}\n${d.daemonStderr()}`);
  const reports = (): number => ownLog(d).match(/w\.fifo: \d+ bytes not written to FIFO/g)?.length ?? 0;
  await waitForCondition(() => reports() > 0, 'the first report of dropped lines', { timeoutMs: 15_000, describe: () => d.daemonStderr() });
  clock.set(-3600);
  const before = reports();
  // one a second while lines are dropped
  await waitForCondition(() => reports() > before, 'a report of dropped lines after the step', { describe: () => `${reports()} reports\n${d.daemonStderr()}` });
});
