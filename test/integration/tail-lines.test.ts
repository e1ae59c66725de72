// `drover tail` and `drover logs`, three faults of the tail a review found:
// 1. -f lost what a program wrote between the tail and the follow: they were two requests. The follow routes
//    now start with the tail (`lines`), in one request, with no gap and no duplicate.
// 2. -n N printed fewer than N lines, the first a fragment, when lines were long: the tail was a fixed
//    budget of bytes. It is now N whole lines, as tail(1) prints them.
// 3. --raw (and a pipe) printed invalid UTF-8 as U+FFFD: the API sent log bytes as text. --raw now asks for
//    the bytes (`encoding=base64`), and the text form of a follow decodes it as one stream, so a character
//    split across two writes of the program is not two U+FFFD.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { Daemon, show } from '../helpers/daemon.js';
import { CliRun, fixture, TIMEOUT_SCALE, waitForCondition } from '../helpers/drover.js';
import { droverBin } from '../helpers/paths.js';

const TIMEOUT_MS = 15_000 * TIMEOUT_SCALE;

/** A program that writes `chunks` in turn, one per SIGUSR1 ("line k" when none: write-on-usr1.mjs). */
function writer(name: string, chunks: readonly Buffer[] = []): string {
  return `[program:${name}]
command = ${process.execPath} ${fixture('write-on-usr1.mjs')} ${chunks.map((c) => c.toString('hex')).join(' ')}
startsecs = 0
stdout_logfile = %(here)s/${name}.log
stderr_logfile = %(here)s/${name}.err
`;
}

function logOf(d: Daemon, name: string, ext = 'log'): Buffer {
  const f = join(d.dir, `${name}.${ext}`);
  return existsSync(f) ? readFileSync(f) : Buffer.alloc(0);
}

/** Starts drover and waits until the program has installed its SIGUSR1 handler. */
async function start(d: Daemon, name: string): Promise<void> {
  await d.up();
  await waitForCondition(() => logOf(d, name, 'err').includes('ready'), `${name} to be ready`, { describe: () => d.daemonStderr() });
}

/** Makes the program write its next chunk, and waits until its log file holds it (`written`). */
async function poke(d: Daemon, name: string, written: (log: Buffer) => boolean): Promise<void> {
  const r = await d.cli(['signal', 'USR1', name]);
  assert.equal(r.code, 0, show(['signal', 'USR1', name], r));
  await waitForCondition(() => written(logOf(d, name)), `${name}'s log to hold what it wrote`, {
    describe: () => `log: ${JSON.stringify(logOf(d, name).toString('latin1'))}\n${d.daemonStderr()}`,
  });
}

/** The numbers of the `line N` lines in `text`, in order. */
const numbers = (text: string): number[] => [...text.matchAll(/line (\d+)/g)].map((m) => Number(m[1]));

/**
 * A control-socket proxy that holds the first request for a log follow (`/api/logs/follow` or `/stream`)
 * until `beforeFollow` has run. What the program writes then falls between a tail and a follow asked in two
 * requests: the window the race left open, made wide and certain. `isFollowing`: drover has answered a
 * follow (its `: following` comment), so what the program writes from then on reaches the follower.
 */
async function holdingProxy(path: string, target: string, beforeFollow: () => Promise<void>): Promise<{ server: Server; isFollowing: () => boolean; failure: () => unknown }> {
  let held = false;
  let failure: unknown = null;
  let following = false;
  const server = createServer((client) => {
    const upstream = createConnection(target);
    upstream.on('data', (chunk: Buffer) => {
      if (chunk.includes(': following\n\n')) following = true;
      client.write(chunk);
    });
    upstream.on('end', () => client.end());
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    client.on('end', () => upstream.end());
    client.on('data', (chunk: Buffer) => {
      if (!held && /GET \/api\/logs\/(follow|stream)/.test(chunk.toString('latin1'))) {
        held = true;
        client.pause();
        beforeFollow().then(
          () => {
            upstream.write(chunk);
            client.resume();
          },
          (err: unknown) => {
            failure = err;
            client.destroy();
          },
        );
        return;
      }
      upstream.write(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return { server, isFollowing: () => following, failure: () => failure };
}

for (const args of [
  ['tail', '-f', 'w'],
  ['logs', '-f', 'w'],
]) {
  test(`drover ${args.join(' ')}: a line written while the follow starts is printed once, none is lost`, async (t) => {
    const d = new Daemon(writer('w'));
    t.after(async () => assert.deepEqual(await d.teardown(), [], 'nothing survives teardown'));
    await start(d, 'w');
    for (let i = 1; i <= 3; i++) await poke(d, 'w', (log) => log.includes(`line ${i}\n`));
    const sock = join(d.dir, 'proxy.sock');
    const proxy = await holdingProxy(sock, join(d.dir, '.drover', 'drover.sock'), () => poke(d, 'w', (log) => log.includes('line 4\n')));
    t.after(() => proxy.server.close());
    const run = new CliRun([...args, '-s', `unix://${sock}`], { cwd: d.dir, env: { NO_COLOR: '1' } });
    t.after(() => run.child.exitCode === null && run.child.kill('SIGKILL'));
    await run.waitUntil(() => (proxy.isFollowing() || proxy.failure() !== null ? true : null), 'drover to answer the follow');
    assert.equal(proxy.failure(), null, String(proxy.failure()));
    await poke(d, 'w', (log) => log.includes('line 5\n'));
    await run.waitForLine(/line 5\n/);
    run.child.kill('SIGTERM');
    await run.waitForExit();
    assert.deepEqual(numbers(run.stdout), [1, 2, 3, 4, 5], `every line once, in order\n${run.describe()}`);
  });
}

// --- whole lines ---

/** Line n of the long-line program: 1200 bytes with its newline, `L07 000…` */
const longLine = (n: number): string => `L${String(n).padStart(2, '0')} ${'0'.repeat(1195)}\n`;
const LONG = Array.from({ length: 30 }, (_, i) => longLine(i + 1)).join('');

/** The numbers of the whole long lines printed, after checking that every line printed is whole. */
function wholeLines(text: string, prefix = ''): number[] {
  // (stderr holds the program's "ready PID", which `drover logs` prints too)
  const lines = text.split('\n').filter((l) => l !== '' && !/ ! ready \d+$/.test(l));
  const whole = new RegExp(`^${prefix.replace(/[|\\]/g, '\\$&')}L\\d\\d 0{1195}$`);
  for (const l of lines) assert.match(l, whole, `a whole line, not a fragment: ${JSON.stringify(l.slice(0, 40))}… (${l.length} characters)`);
  return lines.map((l) => Number(l.slice(prefix.length + 1, prefix.length + 3)));
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

test('drover tail -n N and logs -n N print N whole lines however long the lines are', async (t) => {
  const d = new Daemon(writer('long', [Buffer.from(LONG)]));
  t.after(async () => assert.deepEqual(await d.teardown(), [], 'nothing survives teardown'));
  await start(d, 'long');
  await poke(d, 'long', (log) => log.length === LONG.length);
  const cases: [string[], number[], string?][] = [
    [['tail', 'long'], range(21, 30)],
    [['tail', '-n', '25', 'long'], range(6, 30)],
    [['tail', '-n', '1', 'long'], [30]],
    [['tail', '-n', '40', 'long'], range(1, 30)],
    [['logs', 'long'], range(21, 30), 'long:long | '],
    [['logs', '-n', '12', 'long'], range(19, 30), 'long:long | '],
  ];
  for (const [args, want, prefix] of cases) {
    const r = await d.cli(args);
    assert.equal(r.code, 0, show(args, r));
    // (the lines cut short in the message: they are 1200 characters)
    assert.deepEqual(wholeLines(r.stdout, prefix), want, show(args, { ...r, stdout: r.stdout.replace(/0{20,}/g, '0…') }));
  }
  const run = new CliRun(['tail', '-f', '-n', '15', 'long', '-c', d.file], { cwd: d.dir });
  t.after(() => run.child.exitCode === null && run.child.kill('SIGKILL'));
  await run.waitForLine(/L30 0+\n/);
  run.child.kill('SIGTERM');
  await run.waitForExit();
  assert.deepEqual(wholeLines(run.stdout), range(16, 30), run.describe());
});

// --- bytes ---

/** Invalid UTF-8 (a lone continuation byte, a truncated sequence), NUL, then a line of multibyte characters. */
const BIN = Buffer.concat([Buffer.from([0xff, 0xfe, 0x00]), Buffer.from('bin'), Buffer.from([0x80, 0xc3, 0x28, 0x0a]), Buffer.from('é€😀 multibyte\n')]);
/** "café ok\n" written in two parts that split the é: the first is written ahead as a partial line. */
const CAF = Buffer.from([0x63, 0x61, 0x66, 0xc3]);
const E_OK = Buffer.from([0xa9, 0x20, 0x6f, 0x6b, 0x0a]);

function cliBytes(d: Daemon, args: readonly string[]): Buffer {
  const r = spawnSync(process.execPath, [droverBin, ...args, '-c', d.file], { cwd: d.dir, timeout: TIMEOUT_MS, env: { ...process.env, NO_COLOR: '1' } });
  assert.equal(r.status, 0, `drover ${args.join(' ')} → ${String(r.status)}\n${r.stderr.toString()}`);
  return r.stdout;
}

/** A follower whose stdout is kept as bytes. */
function followBytes(d: Daemon, args: readonly string[]): { child: ChildProcess; out: () => Buffer; describe: () => string } {
  const child = spawn(process.execPath, [droverBin, ...args, '-c', d.file], { cwd: d.dir, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  let err = '';
  child.stdout.on('data', (c: Buffer) => out.push(c));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const all = (): Buffer => Buffer.concat(out);
  return { child, out: all, describe: () => `stdout: ${JSON.stringify(all().toString('latin1'))}\nstderr: ${err}` };
}

test('drover tail --raw, a pipe, logs --raw and tail -f --raw print the bytes as they are; the text form never splits a character', async (t) => {
  const d = new Daemon(writer('bin', [BIN, CAF, E_OK]));
  t.after(async () => assert.deepEqual(await d.teardown(), [], 'nothing survives teardown'));
  await start(d, 'bin');
  await poke(d, 'bin', (log) => log.equals(BIN));
  assert.deepEqual(cliBytes(d, ['tail', '--raw', 'bin']), BIN, 'tail --raw');
  assert.deepEqual(cliBytes(d, ['tail', 'bin']), BIN, 'tail into a pipe');
  const lines = [BIN.subarray(0, BIN.indexOf(0x0a) + 1), BIN.subarray(BIN.indexOf(0x0a) + 1)];
  const logs = cliBytes(d, ['logs', '--raw', 'bin']);
  const stdout = Buffer.concat(lines.flatMap((l) => [Buffer.from('bin:bin | '), l]));
  assert.deepEqual(logs.subarray(0, stdout.length), stdout, 'logs --raw');
  assert.match(logs.subarray(stdout.length).toString(), /^bin:bin ! ready \d+\n$/, 'logs --raw: then stderr');

  const raw = followBytes(d, ['tail', '-f', '--raw', 'bin']);
  t.after(() => raw.child.exitCode === null && raw.child.kill('SIGKILL'));
  const json = new CliRun(['tail', '-f', '--json', 'bin', '-c', d.file], { cwd: d.dir });
  t.after(() => json.child.exitCode === null && json.child.kill('SIGKILL'));
  await waitForCondition(() => raw.out().equals(BIN), 'the tail of tail -f --raw', { describe: raw.describe });
  await json.waitForLine(/multibyte/);
  // the tail came in the follow's own answer, so both follow from here on
  await poke(d, 'bin', (log) => log.length === BIN.length + CAF.length);
  await poke(d, 'bin', (log) => log.equals(Buffer.concat([BIN, CAF, E_OK])));
  await waitForCondition(() => raw.out().length >= BIN.length + CAF.length + E_OK.length, 'the new bytes', { describe: raw.describe });
  await json.waitForLine(/ ok"/);
  for (const c of [raw.child, json.child]) c.kill('SIGTERM');
  await json.waitForExit();
  assert.deepEqual(raw.out(), Buffer.concat([BIN, CAF, E_OK]), 'tail -f --raw');
  const shown = json.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => (JSON.parse(l) as { line: string }).line);
  assert.equal(shown.at(-1), 'café ok', json.describe());
});

/** Bytes waiting in the FIFO at `path` (FIONREAD), read through a non-blocking reader that takes none of them. */
function fifoHolds(path: string): number {
  const py = 'import fcntl, os, struct, sys, termios\nfd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)\nprint(struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"0000"))[0])';
  return Number(spawnSync('/usr/bin/python3', ['-c', py, path], { encoding: 'utf8' }).stdout.trim() || '-1');
}

// A review: the whole-line tail read back from the log at an offset, which fails on a FIFO (ESPIPE): `drover
// tail` answered an error, and `logs -f` left the follows it had set up registered, holding every chunk.
test('a log that is a FIFO (a collector reads it): tail -n and logs -n answer, with nothing to read back from it', async (t) => {
  const d = new Daemon(`${writer('w')}[program:fifo]
command = sh -c 'echo one; echo two; exec sleep 1000'
startsecs = 0
stdout_logfile = %(here)s/out.fifo
`);
  t.after(async () => assert.deepEqual(await d.teardown(), [], 'nothing survives teardown'));
  const fifo = join(d.dir, 'out.fifo');
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo');
  await start(d, 'w');
  // drover has written both lines into the FIFO: a tail that reads back from the file would read at an offset
  await waitForCondition(() => fifoHolds(fifo) >= 8, 'drover to write the two lines into the FIFO', { describe: () => `${fifoHolds(fifo)} bytes\n${d.daemonStderr()}` });
  for (const args of [['tail', '-n', '5', 'fifo'], ['logs', '-n', '5', 'fifo', 'w']]) {
    const r = await d.cli(args);
    assert.equal(r.code, 0, show(args, r));
  }
});
