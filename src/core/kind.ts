// Kinds of process: what a kind supplies to the supervisor, so that core knows how to launch and listen to a
// process without knowing what it is. A plain `command =` program is the default kind (nothing to add); a
// drover worker (src/prefork/) adds its runtime's argv and environment, an IPC channel, heartbeats and its
// own readiness; a FastCGI program (src/prefork/fcgi.ts) its socket as stdin; event listeners (src/events/)
// own their stdin and stdout as a protocol channel. Kinds never assign a state: they feed events to the
// reducer through their context.
import type { ChildProcess } from 'node:child_process';
import type { ProcessSpec } from '../config/types.js';
import type { Logger } from '../logs/logger.js';
import type { OutputStream } from '../os/pipe-reader.js';
import type { ProcessEvent } from './states.js';
import type { ProcessEntry } from './table.js';

/** A spawned process's stdout and stderr as the master reads them (pipes; `child.stdout` is null then). */
export interface ChildOutput {
  readonly stdout: OutputStream | null;
  readonly stderr: OutputStream | null;
}

/** How to launch one process of a kind. */
export interface LaunchPlan {
  readonly argv: readonly string[];
  /** added to (and overriding) the environment core built */
  readonly env: Readonly<Record<string, string>>;
  /** open a Node IPC channel to the child */
  readonly ipc: boolean;
  /** an fd the child gets as its stdin (fd 0) instead of drover's pipe: a FastCGI program's listening socket */
  readonly stdinFd?: number;
  /**
   * 'protocol': the kind reads stdout in `attach` (event listeners). It still goes to the stdout log file,
   * as supervisor keeps it, but is neither echoed nor tapped as output, and the exit is handled only once
   * stdout has been read to its end, so that nothing the process wrote before exiting arrives after it.
   * Default 'output'.
   */
  readonly stdout?: 'output' | 'protocol';
  /**
   * the listening sockets to pass (fds 3, 4, … with LISTEN_FDS), when the kind chooses them itself (a worker's
   * slot of a balanced socket; none for a spare); absent: the fds of the spec's `sockets`, as for any program
   */
  readonly listenFds?: readonly { readonly fd: number; readonly name: string }[];
}

/** Why a process of this kind cannot be launched (counted as a failed start). */
export interface LaunchRefusal {
  readonly refused: true;
  /** errno-style reason, e.g. ENOEXEC */
  readonly reason: string;
  readonly message: string;
}

/** What a kind may do with the supervisor. */
export interface KindContext {
  readonly logger: Logger;
  /** Queues an event of the kind for the process `pid` of `key`; it reaches `handle` in order with every other event. */
  push(key: string, pid: number, event: unknown): void;
  /** Feeds a process event (readyReported, …) to the reducer for `entry`. */
  dispatch(entry: ProcessEntry, event: ProcessEvent): void;
}

export interface ProcessKind {
  /** A short name for logs ("worker"). */
  readonly name: string;
  /** Whether processes of `spec` are of this kind. */
  claims(spec: ProcessSpec): boolean;
  /** Called once, before anything starts. */
  bind(ctx: KindContext): void;
  /** The argv, extra environment and IPC of one launch, or why it cannot start. */
  prepare(spec: ProcessSpec): LaunchPlan | LaunchRefusal;
  /** The launch `prepare` planned did not happen (the spawn failed): give back what prepare took. */
  abandon?(spec: ProcessSpec, plan: LaunchPlan): void;
  /** The process was spawned: attach to its IPC channel and output (which the log sink reads too). */
  attach(entry: ProcessEntry, child: ChildProcess, pid: number, output: ChildOutput): void;
  /** An event this kind pushed, for the current process of `entry` (stale ones are dropped before this). */
  handle(entry: ProcessEntry, event: unknown): void;
  /** The process `pid` exited with `code` (null: by a signal); called before the exit is classified, also for entries already dropped. */
  detach(key: string, pid: number, code: number | null): void;
  /**
   * During a graceful shutdown, when its priority level is reached: true to keep the process running a
   * little longer (an event listener still working on the shutdown's events). Asked again after every
   * event, so the kind pushes one when the hold ends; a fast shutdown does not ask.
   */
  holdsStop?(entry: ProcessEntry): boolean;
}

/** Whether a plan is a refusal. */
export function isRefusal(plan: LaunchPlan | LaunchRefusal): plan is LaunchRefusal {
  return 'refused' in plan;
}
