// `drover up -d`: one detached spawn of the master (new session, no controlling terminal, stdio away from
// the terminal) with an IPC channel used once: the child reports "ready" or "failed", then the channel
// closes and the launching CLI exits with the result. The child's parent becomes init.
import { closeSync } from 'node:fs';
import { reportToParent, spawnAndAwaitReport, type ChildEnd } from '../os/handoff.js';

export type DaemonReport =
  | { readonly type: 'ready'; readonly pid: number; readonly urls: readonly string[]; readonly processes: number }
  | { readonly type: 'failed'; readonly message: string; readonly exitCode: number };

/**
 * Sent by the daemon before a step that has a limit of its own (the on_starting hook): the launcher then
 * waits that long, and its own start timeout after it, before it gives up on the daemon
 */
export interface DaemonWaiting {
  readonly type: 'waiting';
  readonly ms: number;
}

/** What the launcher learns: the report, and for a daemon that is ready, how it ends (while the launcher runs). */
export type DaemonLaunch =
  | (Extract<DaemonReport, { type: 'ready' }> & { readonly ended: Promise<ChildEnd> })
  | Extract<DaemonReport, { type: 'failed' }>;

/** Spawns the daemon child and waits for its report (bounded). */
export async function spawnDaemon(opts: {
  /** Node flags for the daemon beyond this process's own */
  readonly nodeFlags?: readonly string[];
  readonly cliArgs: readonly string[];
  readonly cwd: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** the child's stderr (a crash before its logger exists lands there), closed here once given; null: /dev/null */
  readonly stderrFd: number | null;
  /**
   * `[supervisord] logfile = /dev/stdout` (or stderr): the daemon keeps this launcher's stdout (or stderr) for
   * its log, as supervisord opens its log before it forks (a redirect, or the journal under Type=forking)
   */
  readonly ownLog?: 'stdout' | 'stderr' | null;
  /** inherited fds (3 and up) the daemon gets as the same numbers: the sockets of `bind = fd://N` */
  readonly keepFds?: readonly number[];
  /** how long the daemon may be silent; a `waiting` message adds the time it names */
  readonly timeoutMs: number;
}): Promise<DaemonLaunch> {
  // O_NOCTTY is implied: the child calls setsid() (detached) before it could acquire a terminal, and it
  // never opens a tty; stderr goes to a regular file.
  const errFd = opts.stderrFd;
  const keep = opts.keepFds ?? [];
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(opts.env)) if (v !== undefined) env[k] = v;
  const outcome = await spawnAndAwaitReport<DaemonReport>(
    {
      file: process.execPath,
      args: [...process.execArgv, ...(opts.nodeFlags ?? []), process.argv[1] ?? '', 'up', ...opts.cliArgs, '--daemon-child'],
      cwd: opts.cwd,
      env,
      stdio: ['ignore', opts.ownLog === 'stdout' ? 1 : 'ignore', opts.ownLog === 'stderr' ? 2 : (errFd ?? 'ignore')],
      // fd N as the same number: the slots before it stay closed
      passFds: Array.from({ length: Math.max(0, ...keep.map((fd) => fd - 2)) }, (_, i) => (keep.includes(3 + i) ? 3 + i : 'ignore')),
      timeoutMs: opts.timeoutMs,
      extend: (m) => {
        const w = m as DaemonWaiting | null;
        return w?.type === 'waiting' && typeof w.ms === 'number' && w.ms >= 0 ? w.ms + opts.timeoutMs : null;
      },
    },
    (m) => {
      const r = m as DaemonReport | null;
      return r && (r.type === 'ready' || r.type === 'failed') ? r : null;
    },
  ).finally(() => {
    if (errFd !== null) closeSync(errFd);
  });
  switch (outcome.type) {
    case 'reported':
      return outcome.report.type === 'ready' ? { ...outcome.report, ended: outcome.ended } : outcome.report;
    case 'timeout':
      return { type: 'failed', message: `drover up: the daemon did not report within ${opts.timeoutMs} ms of its last word (pid ${outcome.pid}; stopped it); \`--start-timeout\` allows more`, exitCode: 1 };
    case 'exited':
      return {
        type: 'failed',
        message: `drover up: the daemon exited before it was ready (${outcome.signal ? `signal ${outcome.signal}` : `exit status ${outcome.code ?? '?'}`})`,
        exitCode: outcome.code && outcome.code > 0 ? outcome.code : 1,
      };
    case 'error':
      return { type: 'failed', message: `drover up: cannot start the daemon: ${outcome.message}`, exitCode: 1 };
    default:
      return assertNever(outcome);
  }
}

/** In the daemon child: send the report to the launcher, then drop the channel so nothing ties us to it. */
export function reportToLauncher(r: DaemonReport): void {
  reportToParent(r, { disconnect: true });
}

/** In the daemon child: tell the launcher that the next step may take `ms` (the channel stays open). */
export function tellLauncherWaiting(ms: number): void {
  reportToParent({ type: 'waiting', ms } satisfies DaemonWaiting, { disconnect: false });
}

function assertNever(x: never): never {
  throw new Error(`unhandled case ${JSON.stringify(x)}`);
}
