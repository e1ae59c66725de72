// Handing work to a new, detached process and waiting for it to say how it went: `drover up -d` (the daemon
// child reports ready or failed to the launching CLI) and USR2 (the new master reports to the old one). Both
// are one detached spawn with an IPC channel used for a single report, bounded in time; the child's parent
// may exit right after, leaving it to init (or to drover's subreaper, when there is one).
import { spawn, type ChildProcess } from 'node:child_process';
import { recordSpawned } from './children.js';
import { timerDelay } from './timers.js';

export interface HandoffRequest {
  readonly file: string;
  readonly args: readonly string[];
  readonly cwd?: string;
  readonly env: Readonly<Record<string, string>>;
  /** fd 0–2: 'ignore', 'inherit' or an open fd */
  readonly stdio: readonly ['ignore', 'ignore' | 'inherit' | number, 'ignore' | 'inherit' | number];
  /** fds passed as 3, 4, … (systemd's LISTEN_FDS convention; 'ignore' leaves that number closed); the IPC channel follows them */
  readonly passFds?: readonly (number | 'ignore')[];
  /**
   * variables to set to the child's own pid, which is unknown before the fork (a shell sets them from $$):
   * LISTEN_PID, WATCHDOG_PID. Names only of the form [A-Z_]+
   */
  readonly ownPidVars?: readonly string[];
  /** keep the IPC channel open after the report: the child learns of the parent's exit from its closing */
  readonly keepChannel?: boolean;
  readonly timeoutMs: number;
  /**
   * a message that sets the time left: the child says how long it will take at most (the number of ms it
   * returns, from now); null for any other message
   */
  readonly extend?: (message: unknown) => number | null;
  /**
   * sent to the child when it is given up on (timeout), before SIGTERM and the channel's close: a child
   * that takes the close for its parent's exit learns otherwise first (messages arrive in order)
   */
  readonly abandoned?: unknown;
  /** called with the child's pid as soon as it is spawned (before any report) */
  readonly onSpawned?: (pid: number) => void;
}

/** How a child ended: its exit code, or the signal that killed it. */
export interface ChildEnd {
  readonly code: number | null;
  readonly signal: string | null;
}

export type HandoffOutcome<R> =
  | {
      readonly type: 'reported';
      readonly report: R;
      readonly pid: number;
      /** sends a message on to the child, while the channel is open (`keepChannel`) */
      readonly send: (message: unknown) => void;
      /** settles when the child exits while this process, its parent, still runs (never, if it outlives us) */
      readonly ended: Promise<ChildEnd>;
    }
  | { readonly type: 'exited'; readonly code: number | null; readonly signal: string | null; readonly pid: number }
  | { readonly type: 'timeout'; readonly pid: number }
  | { readonly type: 'error'; readonly message: string };

/**
 * Spawns the child in a session of its own and resolves with the first message `accept` recognises, or
 * with its exit, a spawn error, or a timeout (then the child is sent SIGTERM). The IPC channel is closed
 * (unless `keepChannel`) and the child unref'd before the promise settles, so the parent can exit and leave
 * it running.
 */
export function spawnAndAwaitReport<R>(req: HandoffRequest, accept: (message: unknown) => R | null): Promise<HandoffOutcome<R>> {
  return new Promise((resolve) => {
    let file = req.file;
    let args = [...req.args];
    const ownPidVars = req.ownPidVars ?? [];
    if (ownPidVars.length > 0) {
      if (ownPidVars.some((v) => !/^[A-Z_]+$/.test(v))) throw new RangeError(`ownPidVars: not a variable name in ${ownPidVars.join(' ')}`);
      // exec keeps the pid, so the program sees LISTEN_PID (…) equal to its own
      args = ['-c', `${ownPidVars.map((v) => `${v}=$$; export ${v}; `).join('')}exec "$@"`, 'sh', file, ...args];
      file = '/bin/sh';
    }
    let child: ChildProcess;
    try {
      child = spawn(file, args, {
        ...(req.cwd !== undefined ? { cwd: req.cwd } : {}),
        env: req.env,
        detached: true,
        stdio: [...req.stdio, ...(req.passFds ?? []), 'ipc'],
      });
    } catch (err) {
      resolve({ type: 'error', message: (err as Error).message });
      return;
    }
    recordSpawned(child);
    // this process stays the child's parent until it exits, so it alone learns the child's status
    const ended = new Promise<ChildEnd>((resolveEnd) => child.once('exit', (code, signal) => resolveEnd({ code, signal })));
    const pid = child.pid ?? 0;
    if (pid > 0) req.onSpawned?.(pid);
    let settled = false;
    const finish = (outcome: HandoffOutcome<R>): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (outcome.type === 'timeout' && req.abandoned !== undefined && child.connected) child.send(req.abandoned as object);
      if (outcome.type === 'timeout' && child.exitCode === null) child.kill('SIGTERM');
      if (child.connected && (!req.keepChannel || outcome.type !== 'reported')) child.disconnect();
      child.unref();
      resolve(outcome);
    };
    let timer = setTimeout(() => finish({ type: 'timeout', pid }), timerDelay(req.timeoutMs));
    child.on('message', (m: unknown) => {
      const ms = req.extend?.(m) ?? null;
      if (ms !== null && !settled) {
        clearTimeout(timer);
        timer = setTimeout(() => finish({ type: 'timeout', pid }), timerDelay(ms));
        return;
      }
      const report = accept(m);
      if (report !== null) finish({ type: 'reported', report, pid, send: (msg) => void (child.connected && child.send(msg as object)), ended });
    });
    child.on('exit', (code, signal) => {
      const exited = (): void => finish({ type: 'exited', code, signal, pid });
      // the exit (SIGCHLD) can be seen before a report the child sent just before it exited is read from the
      // channel: the report says more, so it gets until the channel's end (bounded: a grandchild may hold it)
      if (!child.connected) return exited();
      const bound = setTimeout(exited, timerDelay(EXIT_REPORT_MS));
      child.once('disconnect', () => {
        clearTimeout(bound);
        exited();
      });
    });
    child.on('error', (err) => finish({ type: 'error', message: err.message }));
  });
}

/**
 * In the child: sends the one report to the parent, then closes the channel so nothing ties them.
 * `onSent` runs once the message has been handed to the kernel (or could not be): a child about to exit
 * waits for it, since process.exit drops what the channel still holds.
 */
export function reportToParent(message: unknown, opts: { disconnect: boolean; onSent?: () => void }): void {
  if (!process.send || !process.connected) {
    opts.onSent?.();
    return;
  }
  process.send(message, () => {
    if (opts.disconnect && process.connected) process.disconnect();
    opts.onSent?.();
  });
}

// --- internal ---

/** After the child's exit: how long a report still in its channel may take to be read. */
const EXIT_REPORT_MS = 1000;
