// A drover daemon for CLI tests: `drover up -d --no-wait -c FILE` in a temp dir, the CLI run against it,
// and a teardown that leaves nothing running (down, then SIGKILL of drover and every pid seen).
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { livePids, makeTmpDir, runCli, waitForCondition, writeConfig } from './drover.js';

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly output: string;
}

/** Formats a CLI result for assertion messages. */
export function show(args: readonly string[], r: CliResult): string {
  return `drover ${args.join(' ')} → exit ${String(r.code)}\n--- stdout:\n${r.stdout}--- stderr:\n${r.stderr}---`;
}

export class Daemon {
  readonly dir: string;
  readonly file: string;
  /** every pid the tests saw (drover and children), killed at teardown if still alive */
  readonly seen = new Set<number>();
  pid = 0;

  constructor(config: string, opts: { dir?: string } = {}) {
    this.dir = opts.dir ?? makeTmpDir('drover-cli-');
    this.file = writeConfig(this.dir, config);
  }

  /** Runs `drover ARGS -c FILE` in the temp dir. */
  async cli(args: readonly string[], opts: { env?: Record<string, string | undefined>; noConfig?: boolean } = {}): Promise<CliResult> {
    const full = opts.noConfig ? [...args] : [...args, '-c', this.file];
    const r = await runCli(full, { cwd: this.dir, env: { NO_COLOR: '1', ...opts.env } });
    for (const m of r.stdout.matchAll(/"pid": (\d+)/g)) this.seen.add(Number(m[1]));
    return r;
  }

  /** Starts the daemon and waits until its autostart programs have settled. */
  async up(extra: readonly string[] = []): Promise<CliResult> {
    const r = await this.cli(['up', '-d', '--wait', ...extra]);
    if (r.code !== 0) throw new Error(`drover up failed\n${show(['up', '-d', '--wait', ...extra], r)}\n${this.daemonStderr()}`);
    this.pid = Number(readFileSync(join(this.dir, '.drover', 'drover.pid'), 'utf8').trim());
    this.seen.add(this.pid);
    return r;
  }

  /**
   * Starts the daemon as up() does, where some program is expected to fail to start: `up --wait` then
   * exits 1 with drover running (any other failure still throws).
   */
  async upWithFailures(): Promise<CliResult> {
    const r = await this.cli(['up', '-d', '--wait']);
    if (r.code !== 0 && r.code !== 1) throw new Error(`drover up failed\n${show(['up', '-d', '--wait'], r)}\n${this.daemonStderr()}`);
    this.pid = Number(readFileSync(join(this.dir, '.drover', 'drover.pid'), 'utf8').trim());
    this.seen.add(this.pid);
    return r;
  }

  /** The processes as `status --json` shows them, by name. */
  async processes(): Promise<Map<string, { state: string; pid: number | null; restarts: number }>> {
    const r = await this.cli(['status', '--json']);
    if (r.code !== 0 && r.code !== 3) throw new Error(`${show(['status', '--json'], r)}\n${this.daemonStderr()}`);
    const body = JSON.parse(r.stdout) as { processes: { name: string; state: string; pid: number | null; restarts: number }[] };
    return new Map(body.processes.map((p) => [p.name, p]));
  }

  /** drover's stderr and the end of its log, for failure messages. */
  daemonStderr(): string {
    const read = (name: string): string => {
      const f = join(this.dir, '.drover', name);
      return existsSync(f) ? `--- ${name}:\n${readFileSync(f, 'utf8').split('\n').slice(-30).join('\n')}\n` : '';
    };
    return read('daemon.stderr') + read('drover.log');
  }

  /** Stops drover (down --fast), kills whatever survived, removes the temp dir; returns the survivors. */
  async teardown(): Promise<number[]> {
    // a daemon started with `up -d --no-wait` left its pid only in the pidfile
    if (this.pid === 0) this.pid = this.pidFromFile();
    if (this.pid > 0) this.seen.add(this.pid);
    if (this.pid > 0 && livePids([this.pid]).length > 0) {
      await this.cli(['down', '--fast']).catch(() => undefined);
      await waitForCondition(() => livePids([this.pid]).length === 0, 'drover to exit', { timeoutMs: 10_000 }).catch(() => undefined);
    }
    const survivors = livePids([...this.seen]);
    for (const pid of survivors) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // ESRCH: ended meanwhile
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
    return survivors;
  }

  private pidFromFile(): number {
    try {
      return Number(readFileSync(join(this.dir, '.drover', 'drover.pid'), 'utf8').trim()) || 0;
    } catch {
      return 0;
    }
  }
}

/** A process as `drover status --json` shows it, the fields the orchestration tests read. */
export interface ProcView {
  readonly state: string;
  readonly pid: number | null;
  readonly waiting: string | null;
  readonly blocked: boolean;
}

/** `drover status --json` of `d`, by process name (`group:name`). */
export async function processViews(d: Daemon): Promise<Map<string, ProcView>> {
  const r = await d.cli(['status', '--json']);
  const body = JSON.parse(r.stdout) as { processes: (ProcView & { name: string })[] };
  return new Map(body.processes.map((p) => [p.name, p]));
}
