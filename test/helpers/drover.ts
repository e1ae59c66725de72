// Running the real drover CLI in tests: start it in its own process group, wait on its output lines,
// and tear it down so that nothing it started survives.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { droverBin, repoRoot } from './paths.js';

/** Multiplies every wait; CI may set DROVER_TEST_TIMEOUT_SCALE=2 on a slow machine. */
export const TIMEOUT_SCALE = Number(process.env['DROVER_TEST_TIMEOUT_SCALE'] ?? '1') || 1;
export const DEFAULT_TIMEOUT_MS = 5000;

/** A per-test temporary directory, removed by `cleanup`. */
export function makeTmpDir(prefix = 'drover-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Writes a config file into `dir` and returns its path. */
export function writeConfig(dir: string, text: string, name = 'supervisord.conf'): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A running CLI process with its captured output. */
export class CliRun {
  readonly child: ChildProcess;
  /** set in drover's environment and so in every program's: teardown kills only processes carrying it */
  readonly mark = randomUUID();
  /** stdout and stderr interleaved as received */
  private text = '';
  /** the same, as the chunks arrived: waits that count read only what is new (see waitForCount) */
  private readonly chunks: string[] = [];
  private stdoutText = '';
  private stderrText = '';
  private exit: ExitInfo | null = null;
  private readonly waiters = new Set<() => void>();

  /**
   * `wrapper`: a command that runs drover as its child (e.g. strace with its options and `--`); `pid` is
   * then the wrapper's, and drover's own pid is the one its start-up line names.
   */
  constructor(args: readonly string[], opts: { cwd?: string; env?: Record<string, string | undefined>; wrapper?: readonly string[] } = {}) {
    const argv = [...(opts.wrapper ?? []), process.execPath, droverBin, ...args];
    this.child = spawn(argv[0] as string, argv.slice(1), {
      cwd: opts.cwd ?? repoRoot,
      env: { ...process.env, ...opts.env, DROVER_TEST_MARK: this.mark },
      // own process group, so teardown can signal drover and anything left in its group at once
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      this.text += d;
      this.chunks.push(d);
      this.stdoutText += d;
      this.notify();
    });
    this.child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      this.text += d;
      this.chunks.push(d);
      this.stderrText += d;
      this.notify();
    });
    this.child.on('exit', (code, signal) => {
      this.exit = { code, signal };
      this.notify();
    });
    // 'close' after the pipes drain: the last output lines are in `text` before waiters resolve
    this.child.on('close', () => this.notify());
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get output(): string {
    return this.text;
  }

  get stdout(): string {
    return this.stdoutText;
  }

  get stderr(): string {
    return this.stderrText;
  }

  /** Resolves with the first match of `re` in the output at or after `from` (an offset in `output`). */
  waitForLine(re: RegExp, opts: { timeoutMs?: number; from?: number } = {}): Promise<RegExpMatchArray> {
    const from = opts.from ?? 0;
    return this.waitUntil(
      () => this.text.slice(from).match(re) ?? null,
      `a line matching ${re}`,
      opts.timeoutMs,
    );
  }

  /**
   * Resolves when the process has exited and its output is drained. `drained: false` resolves on the exit
   * alone, for a process whose stdout lives on in another (a USR2 successor inherits it).
   */
  waitForExit(timeoutMs?: number, opts: { drained?: boolean } = {}): Promise<ExitInfo> {
    const drained = opts.drained ?? true;
    return this.waitUntil(
      () => (this.exit && (!drained || this.child.stdout?.readableEnded !== false) ? this.exit : null),
      'drover to exit',
      timeoutMs,
    );
  }

  /** Counts the matches of `re` (with the g flag) in the output. */
  count(re: RegExp): number {
    return [...this.text.matchAll(new RegExp(re.source, re.flags.includes('g') ? re.flags : `${re.flags}g`))].length;
  }

  /**
   * Resolves once `re` has matched at least `n` times in the output, each match within one line. Each check
   * reads only the chunks that arrived since the last one: a program writing at full speed through drover's
   * foreground output makes megabytes, and counting over all of it at every chunk took seconds on a loaded
   * machine (a wait timed out with the lines there).
   */
  waitForCount(re: RegExp, n: number, timeoutMs?: number): Promise<number> {
    const g = new RegExp(re.source, re.flags.includes('g') ? re.flags : `${re.flags}g`);
    const countIn = (s: string): number => [...s.matchAll(g)].length;
    let read = 0; // chunks read so far
    let whole = 0; // matches in the complete lines read so far
    let partial = ''; // the last line read, not yet complete
    const seen = (): number => {
      for (; read < this.chunks.length; read++) {
        const s = partial + (this.chunks[read] as string);
        const end = s.lastIndexOf('\n') + 1;
        whole += countIn(s.slice(0, end));
        partial = s.slice(end);
      }
      return whole + countIn(partial);
    };
    return this.waitUntil(
      () => {
        const c = seen();
        return c >= n ? c : null;
      },
      () => `${n} matches of ${re} (have ${seen()})`,
      timeoutMs,
    );
  }

  /**
   * Waits until `probe` returns a non-null value; checked on every output chunk and every 20 ms. `what`
   * names what was awaited in the timeout's message; a function is asked at the timeout.
   */
  waitUntil<T>(probe: () => T | null, what: string | (() => string), timeoutMs = DEFAULT_TIMEOUT_MS): Promise<T> {
    const limit = timeoutMs * TIMEOUT_SCALE;
    return new Promise<T>((resolve, reject) => {
      const check = (): boolean => {
        const v = probe();
        if (v !== null) {
          done();
          resolve(v);
          return true;
        }
        return false;
      };
      const tick = setInterval(check, 20);
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${limit} ms waiting for ${typeof what === 'string' ? what : what()}\n${this.describe()}`));
      }, limit);
      const done = (): void => {
        clearInterval(tick);
        clearTimeout(timer);
        this.waiters.delete(waiter);
      };
      const waiter = (): void => void check();
      this.waiters.add(waiter);
      check();
    });
  }

  /** The last state and captured output, for failure messages. */
  describe(): string {
    const state = this.exit ? `exited ${JSON.stringify(this.exit)}` : `running as pid ${this.pid}`;
    return `--- drover ${state}; output:\n${this.text}--- end of output`;
  }

  signal(sig: NodeJS.Signals): void {
    process.kill(this.pid, sig);
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }
}

/** Runs the CLI to completion (for check, status and other short commands). */
export async function runCli(
  args: readonly string[],
  opts: { cwd?: string; env?: Record<string, string | undefined>; timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string; output: string }> {
  const run = new CliRun(args, opts);
  const exit = await run.waitForExit(opts.timeoutMs ?? 15_000);
  return { code: exit.code, stdout: run.stdout, stderr: run.stderr, output: run.output };
}

/** Starts `drover up -c FILE` and waits for its start-up line. */
export async function startUp(configFile: string, env: Record<string, string | undefined> = {}): Promise<CliRun> {
  const run = new CliRun(['up', '-c', configFile], { env });
  await run.waitForLine(/drover up: pid \d+/);
  return run;
}

/**
 * /proc/PID/stat's fields after the command name, so [0] is the state letter (Z: zombie), [1] the parent,
 * [2] the process group, [3] the session, [11] and [12] user and system CPU ticks, [21] the RSS in pages;
 * null once the process is gone. Tests read /proc themselves rather than through drover's own reader.
 */
export function statFields(pid: number | string): string[] | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null; // no /proc entry: gone
  }
}

/** The one-letter state of a process (Z: zombie, T: stopped), or null once it is gone (reaped). */
export function procState(pid: number): string | null {
  return statFields(pid)?.[0] ?? null;
}

/**
 * The pids among `pids` that are live (not zombies) and were started by a test's drover — their
 * environment carries DROVER_TEST_MARK (that run's, when `mark` is given). With pids recycled quickly on a
 * busy machine, a pid read from a log minutes ago may belong to an unrelated process by now: it must never
 * be reported alive, let alone killed.
 */
export function livePids(pids: readonly number[], mark?: string): number[] {
  const want = mark ? `DROVER_TEST_MARK=${mark}\0` : 'DROVER_TEST_MARK=';
  return pids.filter((pid) => {
    const state = procState(pid);
    if (state === null || state === 'Z') return false;
    try {
      return (readFileSync(`/proc/${pid}/environ`, 'utf8') + '\0').includes(want);
    } catch {
      return false; // no /proc entry (gone), or not readable: not one of ours
    }
  });
}

/** Zombie children of a pid. */
export function zombieChildren(ppid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const f = statFields(name); // null: ended while we listed
    if (f?.[0] === 'Z' && Number(f[1]) === ppid) out.push(Number(name));
  }
  return out;
}

/** Polls a condition on OS state (e.g. /proc) until true, within a bounded time. */
export async function waitForCondition(
  probe: () => boolean,
  what: string,
  opts: { timeoutMs?: number; describe?: () => string } = {},
): Promise<void> {
  const limit = (opts.timeoutMs ?? DEFAULT_TIMEOUT_MS) * TIMEOUT_SCALE;
  const deadline = Date.now() + limit;
  while (!probe()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${limit} ms waiting for ${what}${opts.describe ? `\n${opts.describe()}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** waitForCondition for a probe that must ask something (a status call): one probe at a time until it holds. */
export async function waitForAsync(
  probe: () => Promise<boolean>,
  what: string,
  opts: { timeoutMs?: number; describe?: () => string } = {},
): Promise<void> {
  const limit = (opts.timeoutMs ?? DEFAULT_TIMEOUT_MS) * TIMEOUT_SCALE;
  const deadline = Date.now() + limit;
  while (!(await probe())) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${limit} ms waiting for ${what}${opts.describe ? `\n${opts.describe()}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Proves absence: `predicate` stays true for the whole of `ms`. The only place a test waits on time. */
export async function assertStaysFor(ms: number, predicate: () => boolean, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!predicate()) throw new Error(`expected ${what} to hold for ${ms} ms, but it stopped holding`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Ends a drover run and everything it started: SIGTERM, then SIGKILL to its group after a bound, and
 * SIGKILL to any listed pid still alive. Returns the pids that had to be killed here (should be none).
 */
export async function teardown(run: CliRun, extraPids: readonly number[] = [], dir?: string): Promise<number[]> {
  const survivors: number[] = [];
  if (run.child.exitCode === null && run.child.signalCode === null) {
    try {
      process.kill(-run.pid, 'SIGTERM');
    } catch {
      // ESRCH: already gone
    }
    try {
      await run.waitForExit(10_000);
    } catch {
      try {
        process.kill(-run.pid, 'SIGKILL');
      } catch {
        // ESRCH: already gone
      }
    }
  }
  for (const pid of livePids(extraPids, run.mark)) {
    survivors.push(pid);
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // ESRCH: ended meanwhile
    }
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
  return survivors;
}

/** Path of a fixture program. */
export function fixture(name: string): string {
  return join(repoRoot, 'test', 'fixtures', 'programs', name);
}

/** The records a listener fixture appended to DIR/events.jsonl so far, up to its last complete line. */
export function eventRecords<T>(dir: string): T[] {
  const file = join(dir, 'events.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    // the last piece is '' or a line the listener is still writing
    .slice(0, -1)
    .map((l) => JSON.parse(l) as T);
}

/**
 * Runs `body` against a drover started in the foreground on `text` (given the scratch directory), then tears
 * it down and asserts that none of the processes it spawned is left.
 */
export async function withDrover(prefix: string, text: (dir: string) => string, body: (run: CliRun, dir: string) => Promise<void>): Promise<void> {
  const dir = makeTmpDir(prefix);
  const run = await startUp(writeConfig(dir, text(dir)));
  try {
    await body(run, dir);
  } finally {
    const pids = [...run.output.matchAll(/spawned: \S+ with pid (\d+)/g)].map((m) => Number(m[1]));
    const left = await teardown(run, pids, dir);
    if (left.length > 0) throw new Error(`processes left behind: ${left.join(', ')}`);
  }
}

/**
 * Runs one program (`program`: the lines of its section) to its exit under `drover up`, then stops drover,
 * which writes out and closes every log; returns drover's output.
 */
export async function runToExit(dir: string, program: string): Promise<string> {
  const run = await startUp(writeConfig(dir, `[program:w]\n${program}\nstartsecs = 0\nautorestart = false\n`));
  try {
    await run.waitForLine(/w: running → exited/, { timeoutMs: 30_000 });
    run.signal('SIGTERM');
    const exit = await run.waitForExit(10_000);
    if (exit.code !== 0) throw new Error(`drover exited with ${exit.code}, not 0\n${run.describe()}`);
    return run.output;
  } finally {
    await teardown(run);
  }
}

/** `drover serve worker-app.mjs ARGS` in `dir` to its end (nothing should start; what did is ended): exit code and output. */
export async function serveToEnd(dir: string, args: readonly string[]): Promise<{ code: number | null; stderr: string; output: string }> {
  const run = new CliRun(['serve', fixture('worker-app.mjs'), ...args, '--runtime-dir', join(dir, '.drover')], { cwd: dir });
  try {
    const { code } = await run.waitForExit(15_000);
    return { code, stderr: run.stderr, output: run.describe() };
  } finally {
    await teardown(run);
  }
}
