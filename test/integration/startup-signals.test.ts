// Signals that come while drover starts. A foreground `drover up` replaces itself once (execve, for the
// master's V8 flags): a TERM that came before the exec was queued in JavaScript and lost with the old
// program, so drover went on to start everything (a `docker stop` or `systemctl stop` during a slow start
// then waited out its timeout and killed it). And `drover up -d --wait` ignored Ctrl-C while it waited.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CliRun, livePids, makeTmpDir, teardown, waitForCondition, writeConfig } from '../helpers/drover.js';
import { Daemon } from '../helpers/daemon.js';
import { droverBin, fixturesDir } from '../helpers/paths.js';

/** Whether `pid` has a handler for signal `num` (SigCgt in /proc/PID/status); false once it is gone. */
function catches(pid: number, num: number): boolean {
  try {
    const m = /^SigCgt:\s*([0-9a-f]+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m !== null && (BigInt(`0x${m[1] ?? '0'}`) & (1n << BigInt(num - 1))) !== 0n;
  } catch {
    return false;
  }
}

/** Whether `pid`'s environment holds `name` (the mark a drover that exec'd itself leaves). */
function environHas(pid: number, name: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').some((e) => e.startsWith(`${name}=`));
  } catch {
    return false;
  }
}

test('a TERM while a foreground drover loads its config, before it replaces itself, is kept: a graceful exit 0', async () => {
  const dir = makeTmpDir();
  // a config that takes a moment to load, so the TERM lands in it
  const many = Array.from({ length: 3000 }, (_, i) => `[program:p${i}]\ncommand = sleep 1\nautostart = false\n`).join('\n');
  const conf = writeConfig(dir, `[program:app]\ncommand = sleep 1000\nstartsecs = 0\n\n${many}`);
  const run = new CliRun(['up', '-c', conf], { cwd: dir, env: { DROVER_V8_FLAGS: undefined } });
  try {
    // drover's first program has its listeners (bin/drover.js's, then up's relay) and has not exec'd yet.
    // TTIN tells: Node itself catches TERM from its start (to restore the terminal, then die of it)
    await waitForCondition(() => catches(run.pid, 21) && !environHas(run.pid, 'DROVER_V8_FLAGS_APPLIED'), 'drover to listen for its signals before its exec', {
      describe: () => run.describe(),
    });
    run.signal('SIGTERM');
    const exit = await run.waitForExit(20_000);
    assert.equal(exit.code, 0, `a graceful exit, not death by the signal nor a drover left running\n${run.describe()}`);
    assert.match(run.output, /SIGTERM: graceful shutdown/, run.describe());
    assert.match(run.output, /node v[\d.]+, flags/, 'it did replace itself (the case under test)');
    const spawned = [...run.output.matchAll(/spawned: \w+ with pid (\d+)/g)].map((m) => Number(m[1]));
    assert.deepEqual(livePids(spawned), [], 'nothing it started is left');
  } finally {
    await teardown(run, [], dir);
  }
});

test('drover up -d --wait: Ctrl-C ends the wait at once; the daemon runs on', async () => {
  const d = new Daemon(`[program:slow]\ncommand = sleep 1000\nstartsecs = 30\n`);
  const run = new CliRun(['up', '-d', '--wait', '-c', d.file], { cwd: d.dir });
  try {
    const daemonPid = Number((await run.waitForLine(/drover started: pid (\d+)/))[1]);
    run.signal('SIGINT');
    const exit = await run.waitForExit(5000);
    assert.equal(exit.signal, 'SIGINT', `the launcher ended by Ctrl-C, long before startsecs\n${run.describe()}`);
    assert.deepEqual(livePids([daemonPid]), [daemonPid], 'the daemon runs on');
    d.pid = daemonPid;
  } finally {
    await teardown(run);
    await d.teardown();
  }
});

// The exec for the V8 flags ignores SIGUSR1 across it (a handled signal would be fatal in the new program's
// first milliseconds) and must put libuv's handler back when it fails: else drover runs on with SIGUSR1
// ignored for good, and logrotate's postrotate reopens nothing. The exec is made to fail with E2BIG: under a
// 2 MiB stack limit the kernel takes 512 KiB of arguments and environment, and the environment is padded so
// that drover's own start fits with a few bytes to spare and its exec, with the flags added, does not.
test('a failed exec for the V8 flags: drover runs on without them, and SIGUSR1 still reopens the logs', async () => {
  const dir = makeTmpDir();
  // (a program would inherit the padded environment and fail to start with E2BIG too)
  const conf = writeConfig(dir, `[program:app]\ncommand = sleep 1000\nautostart = false\n`);
  const args = ['up', '-c', conf];
  const stack = 2 * 1024 * 1024;
  const limit = stack / 4;
  // what the kernel counts for the exec of node: the file name, each argument and variable with its NUL,
  // and a pointer for each (CliRun's environment: this one's, the options', and its mark)
  const bytes = (s: string): number => Buffer.byteLength(s) + 1;
  const base: Record<string, string | undefined> = { ...process.env, DROVER_V8_FLAGS: undefined, DROVER_TEST_MARK: 'x'.repeat(36) };
  const argv = [process.execPath, droverBin, ...args];
  const entries = Object.entries(base).filter(([, v]) => v !== undefined) as [string, string][];
  let used = bytes(process.execPath) + argv.reduce((n, a) => n + bytes(a) + 8, 0) + entries.reduce((n, [k, v]) => n + bytes(`${k}=${v}`) + 8, 0);
  const pad: Record<string, string> = {};
  // the exec adds more than 100 bytes (flags and a mark); leave 48 of room
  for (let i = 0; limit - 48 - used > 0; i++) {
    const name = `DROVER_PAD_${i}`;
    const room = limit - 48 - used - bytes(`${name}=`) - 8;
    if (room <= 0) break;
    pad[name] = 'p'.repeat(Math.min(room, 100_000));
    used += bytes(`${name}=${pad[name]}`) + 8;
  }
  const run = new CliRun(args, { cwd: dir, env: { DROVER_V8_FLAGS: undefined, ...pad }, wrapper: ['prlimit', `--stack=${stack}:`, '--'] });
  try {
    await run.waitForLine(/drover up: cannot restart with .* \(.*E2BIG.*\); running without them/, { timeoutMs: 15_000 });
    const pid = Number((await run.waitForLine(/drover up: pid (\d+)/))[1]);
    process.kill(pid, 'SIGUSR1');
    await run.waitForLine(/SIGUSR1 received: reopened the log files/, { timeoutMs: 5000 });
    process.kill(pid, 'SIGTERM');
    assert.equal((await run.waitForExit(15_000)).code, 0, run.describe());
  } finally {
    await teardown(run, [], dir);
  }
});

/** What one start with a signal sent at a given loop turn came to. */
interface TurnRun {
  /** the signal was sent (false: the exec, or the launcher's release, came first: the sweep is over) */
  readonly sent: boolean;
  readonly exit: { code: number | null; signal: NodeJS.Signals | null } | null;
  /** what drover spawned (programs, or the daemon `up -d` started) */
  readonly started: number[];
  readonly output: string;
}

/**
 * Starts `drover ARGS` with test/fixtures/signal-at-turn.cjs preloaded: signal `num` goes to the first Node
 * `turns` turns of its event loop after the relay began to listen. Waits until drover has exited or has
 * started something, then ends whatever is left.
 */
async function startWithSignalAt(args: readonly string[], dir: string, num: number, turns: number): Promise<TurnRun> {
  const run = new CliRun(args, {
    cwd: dir,
    env: {
      DROVER_V8_FLAGS: undefined,
      NODE_OPTIONS: `--require=${join(fixturesDir, 'signal-at-turn.cjs')}`,
      DROVER_TEST_SIGNAL: String(num),
      DROVER_TEST_TURNS: String(turns),
    },
  });
  const started = (): number[] => [...run.output.matchAll(/spawned: \w+ with pid (\d+)|drover started: pid (\d+)/g)].map((m) => Number(m[1] ?? m[2]));
  const ended = (): boolean => run.child.exitCode !== null || run.child.signalCode !== null;
  try {
    await run.waitUntil(() => (ended() || started().length > 0 ? true : null), 'drover to exit or to start something', 20_000);
    const exit = ended() ? { code: run.child.exitCode, signal: run.child.signalCode } : null;
    if (exit !== null && !run.child.stderr?.readableEnded) await once(run.child.stderr as NodeJS.ReadableStream, 'end');
    return { sent: /sent signal \d+ after \d+ turns/.test(run.output), exit, started: started(), output: run.output };
  } finally {
    const pids = started();
    await teardown(run, pids, undefined);
    // a daemon `up -d` started is in a session of its own: teardown's group signal does not reach it
    for (const pid of livePids(pids, run.mark)) process.kill(pid, 'SIGTERM');
    await waitForCondition(() => livePids(pids, run.mark).length === 0, `what drover started (${pids.join(' ')}) to end`, { describe: () => run.describe() });
  }
}

/**
 * Sends `num` at each loop turn from the relay's install on, one start per turn, until a start gets past the
 * point where it hands its signals on before the signal is sent; each start with the signal must end with
 * nothing started, in a way `how` names (null: not a way it may end). Returns "turn: how" for each.
 */
async function sweepTurns(args: (conf: string) => string[], num: number, how: (r: TurnRun) => string | null): Promise<string[]> {
  const dir = makeTmpDir();
  const conf = writeConfig(dir, `[program:a]\ncommand = sleep 1000\nstartsecs = 0\n\n[program:b]\ncommand = sleep 1000\nstartsecs = 0\n`);
  const seen: string[] = [];
  try {
    for (let turns = 0; ; turns++) {
      assert.ok(turns < 40, `the signal was still sent before the hand-over after 40 turns: ${seen.join('; ')}`);
      const r = await startWithSignalAt(args(conf), dir, num, turns);
      if (!r.sent) {
        assert.ok(turns > 0 && r.started.length > 0, `without the signal, drover started: turn ${turns}\n${r.output}`);
        return seen;
      }
      const ended = r.exit === null ? null : how(r);
      seen.push(`${turns}: ${ended ?? JSON.stringify(r.exit)}`);
      assert.deepEqual(r.started, [], `signal ${num} sent ${turns} turns after the relay listened: nothing may start (${seen.join('; ')})\n${r.output}`);
      assert.ok(ended !== null, `signal ${num} after ${turns} turns: drover ended by it, or gracefully (${seen.join('; ')})\n${r.output}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// Before the exec for the V8 flags, `up` let one turn of the event loop deliver what libuv had caught, then
// read the relay's queue: a signal libuv's handler caught after that turn's poll phase sat in its pipe, its
// listener never run, and the exec discarded it; drover started every program and ran on (a `systemctl
// stop` or a `docker stop` while it started, lost). Each turn between the relay's install and the exec gets
// a signal here. Before the fix the first was lost every time (it came before the turn `up` waited for,
// which ran before any poll phase); after it, a signal is carried over (a graceful exit 0) or, in the last
// turn before the exec, ends drover by its default action, nothing started.
for (const [name, num] of [['TERM', 15], ['QUIT', 3], ['RTMIN+3', 37]] as const) {
  test(`a foreground drover given SIG${name} at any turn of its start before its exec ends with nothing started`, async (t) => {
    const seen = await sweepTurns((conf) => ['up', '-c', conf], num, (r) => {
      if (r.exit?.code === 0 && new RegExp(`SIG${name.replace('+', '\\+')} came while drover was starting: no program is started`).test(r.output)) return 'graceful';
      // Node names no real-time signal: a child it ended is reported as exit 0 (the new master said nothing)
      if (r.exit?.signal === `SIG${name}` || (num > 31 && r.exit?.code === 0 && !/drover up: pid/.test(r.output))) return 'by the signal';
      return null;
    });
    t.diagnostic(`turn: how drover ended; ${seen.join('; ')}`);
    assert.ok(seen.some((s) => s.endsWith('graceful')), `a signal caught before the exec is carried over: a graceful exit (${seen.join('; ')})`);
  });
}

// The `up -d` launcher read its queue the same way before it gave the signals back to their default
// actions: a TERM in that turn was lost, and the launcher started the daemon and its programs.
test('the up -d launcher given SIGTERM at any turn before it lets go of its signals starts no daemon', async (t) => {
  const seen = await sweepTurns((conf) => ['up', '-d', '--no-wait', '-c', conf], 15, (r) => (r.exit?.signal === 'SIGTERM' ? 'by the signal' : null));
  t.diagnostic(`turn: how the launcher ended; ${seen.join('; ')}`);
});
