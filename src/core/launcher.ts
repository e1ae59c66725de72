// Launching and ending processes: environment, spawn through the kind's plan, output, exit as an event; stop
// and kill signals with group semantics; after an exit, what it left behind goes to leftovers.ts.
import type { ChildProcess } from 'node:child_process';
import { stripAnsiStream } from '../logs/strip-ansi.js';
import type { ProcessSpec } from '../config/types.js';
import type { OutputSink, StreamName } from '../logs/output.js';
import type { OrphanGuard } from '../os/guard.js';
import { descendantsOf, listProcesses, readStat, type ProcStat } from '../os/proc.js';
import { endOf, type OutputStream } from '../os/pipe-reader.js';
import { childExit, resolveExecutable, sendSignal, spawnProcess } from '../os/spawn.js';
import { lookupUser, type UserInfo } from '../os/users.js';
import type { CoreHost } from './_host.js';
import type { Follower } from './follower.js';
import { isRefusal, type LaunchPlan, type LaunchRefusal, type ProcessKind } from './kind.js';
import { goneExit, Leftovers, reportEnd } from './leftovers.js';
import type { ProcessEntry } from './table.js';
import type { SupervisorEvent } from './types.js';

/** Server hooks the launcher fires (gunicorn's pre_spawn, post_spawn, worker_exit), without waiting. */
export interface LaunchHooks {
  fire(name: 'pre_spawn' | 'post_spawn' | 'worker_exit', ...args: unknown[]): void;
}

/** Sees each process's output on its way to the log sink (event listeners' PROCESS_LOG and capture mode). */
export interface OutputTap {
  /** The stream the sink reads instead of `source`: `source` itself when there is nothing to see. */
  tap(spec: ProcessSpec, pid: number, stream: StreamName, source: OutputStream): OutputStream;
}

/**
 * How long an exit waits for the output it reads to end (a listener's protocol stdout, a stream that raises
 * events): a grandchild may hold the pipe open for ever.
 */
const OUTPUT_DRAIN_MS = 500;

/** The master's listening sockets, by name ([socket:x]); fds are handed to the programs that name them. */
export interface SocketFds {
  fd(name: string): number | null;
}

/** Environment a layer above core adds to each launch of a process (a ready check's NOTIFY_SOCKET). */
export interface LaunchEnv {
  /** Called right before `key` is spawned; the variables override the program's own. */
  envFor(key: string, spec: ProcessSpec): Readonly<Record<string, string>>;
}

export interface LauncherOptions {
  readonly output: OutputSink;
  readonly guard: OrphanGuard | null;
  /** environment the programs inherit before their own `environment` */
  readonly baseEnv: Readonly<Record<string, string | undefined>>;
  readonly kinds: readonly ProcessKind[];
  readonly sockets: SocketFds | null;
  readonly hooks: LaunchHooks | null;
  readonly launchEnv: LaunchEnv | null;
  readonly outputTap: OutputTap | null;
  /**
   * where programs reach drover (SUPERVISOR_SERVER_URL when a program sets no `serverurl`, as supervisord
   * passes its own server's URL); null: not set
   */
  readonly serverUrl?: () => string | null;
  /** the active config's `[supervisord] strip_ansi`: escape sequences leave programs' output */
  readonly stripAnsi?: () => boolean;
}

export class Launcher {
  /** one /proc snapshot shared by everything done in the same turn (a shutdown stops hundreds at once); null when stale */
  private procTableCache: ProcStat[] | null = null;
  /** what ended processes left behind: swept, warned about, or given the rest of their stopwaitsecs */
  readonly leftovers: Leftovers;

  constructor(
    private readonly host: CoreHost,
    private readonly follower: Follower,
    private readonly o: LauncherOptions,
  ) {
    this.leftovers = new Leftovers(host, o.guard, () => this.procTable());
  }

  /** The kind of a process (a drover worker, …); null for a plain command. */
  kindOf(spec: ProcessSpec): ProcessKind | null {
    return this.o.kinds.find((k) => k.claims(spec)) ?? null;
  }

  /**
   * Whether a plain program's command can be found and run, checked when a start is asked for: supervisor's
   * startProcess answers NO_FILE or NOT_EXECUTABLE and changes nothing when it cannot (no backoff, no
   * retries for a file that is not there). null when it can, or when only the spawn can tell (a kind's own
   * command line, a user that cannot be looked up).
   */
  preflight(spec: ProcessSpec): { readonly reason: string; readonly message: string } | null {
    const command = spec.argv[0];
    if (this.kindOf(spec) !== null || command === undefined || command === '') return null;
    const user = this.userFor(spec);
    if (typeof user === 'string') return null;
    const exe = resolveExecutable(command, { ...this.environmentFor(spec, user) }, spec.directory);
    // ENOEXEC (a text file without #!) is supervisord's exec failing in the child: a failed spawn, with
    // backoff and fatal, not a start refused beforehand
    return exe.ok || exe.reason === 'ENOEXEC' ? null : { reason: exe.reason, message: exe.message };
  }

  /** Spawns the process of `entry` (the reducer's `spawn` effect); a failure is fed back as spawnFailed. */
  spawn(entry: ProcessEntry): void {
    const { spec } = entry;
    const fail = (reason: string, message: string): void => {
      entry.spawnFailure = reason;
      this.host.logger.error(`${spec.name}: cannot start: ${message}`);
      this.host.dispatch(entry, { type: 'spawnFailed', reason, message });
    };
    const user = this.userFor(spec);
    if (typeof user === 'string') {
      fail(user === 'missing' ? 'EUSER' : 'EPERM', user === 'missing' ? `user ${spec.user ?? ''} does not exist` : `cannot run as user ${spec.user ?? ''}: drover is not running as root`);
      return;
    }
    // a log that cannot be opened fails the spawn (supervisord: "unknown error making dispatchers")
    const logProblem = this.o.output.unwritable(entry.key);
    if (logProblem !== null) {
      fail('ELOG', logProblem);
      return;
    }
    this.o.hooks?.fire('pre_spawn', hookProcess(spec, null));
    const kind = this.kindOf(spec);
    const plan: LaunchPlan | LaunchRefusal = kind ? kind.prepare(spec) : { argv: spec.argv, env: {}, ipc: false };
    if (isRefusal(plan)) {
      fail(plan.reason, plan.message);
      return;
    }
    /** the spawn failed after the kind prepared it: the kind gives back what it took (an fcgi socket's reference) */
    const abandon = (reason: string, message: string): void => {
      kind?.abandon?.(spec, plan);
      fail(reason, message);
    };
    const listenFds: { fd: number; name: string }[] = [...(plan.listenFds ?? [])];
    for (const name of plan.listenFds ? [] : spec.sockets) {
      const fd = this.o.sockets?.fd(name) ?? null;
      if (fd === null) {
        abandon('ENOTSOCK', `its socket ${name} is not bound`);
        return;
      }
      listenFds.push({ fd, name });
    }
    const result = spawnProcess({
      argv: plan.argv,
      env: { ...this.environmentFor(spec, user), ...this.o.launchEnv?.envFor(entry.key, spec), ...plan.env },
      cwd: spec.directory,
      umask: spec.umask,
      user,
      pdeathsig: spec.pdeathsig,
      stdinPipe: true,
      ...(plan.stdinFd !== undefined ? { stdinFd: plan.stdinFd } : {}),
      listenFds,
      ipc: plan.ipc,
      // redirect_stderr in text logs: one pipe, as supervisord's, so the order written stays; JSON lines need two
      mergeStderr: spec.redirectStderr && spec.logFormat === 'text' && plan.stdout !== 'protocol',
    });
    if (!result.ok) {
      abandon(result.reason, result.message);
      return;
    }
    const { child, pid, stdin, stdout, stderr } = result;
    entry.child = child;
    entry.stdin = stdin;
    entry.spawnedPid = pid;
    entry.spawnedStartTicks = readStat(pid)?.startTicks ?? 0;
    entry.executable = result.executable;
    entry.stopSnapshot = [];
    this.o.guard?.add(pid, entry.spawnedStartTicks);
    // with redirect_stderr in JSON lines the sink writes stderr into the stdout log, still knowing which
    // stream a line came from; in text there is no stderr stream here (the program writes it into stdout's pipe)
    const protocol = plan.stdout === 'protocol';
    const strip = this.o.stripAnsi?.() === true;
    // what the exit waits for: a listener's protocol stdout, and streams whose reads raise events, so that
    // the last output is read (and its events raised) before the exit's state event, as supervisord's
    // finish drains the pipes before it changes the state. Other programs' exits do not wait.
    const drained: OutputStream[] = protocol && stdout ? [stdout] : [];
    const tap = (stream: StreamName, raw: OutputStream): OutputStream => {
      // stripped before the events see it, as supervisord strips before it logs or raises anything
      const source = strip ? stripAnsiStream(raw) : raw;
      const tapped = this.o.outputTap?.tap(spec, pid, stream, source) ?? source;
      if (tapped !== source) drained.push(tapped);
      return tapped;
    };
    if (stdout) this.o.output.attach(entry.key, 'stdout', protocol ? stdout : tap('stdout', stdout), { echo: !protocol });
    if (stderr) this.o.output.attach(entry.key, 'stderr', tap('stderr', stderr));
    this.onExit(entry, child, pid, stdin, drained.length > 0 ? endOf(drained) : null);
    kind?.attach(entry, child, pid, { stdout, stderr });
    this.host.logger.info(`spawned: ${spec.name} with pid ${pid}`);
    this.o.hooks?.fire('post_spawn', hookProcess(spec, pid));
    this.host.dispatch(entry, { type: 'spawned', pid });
  }

  /**
   * Feeds the child's exit to the reducer (after `outputEnd`: the output it waits for has ended). A method of
   * its own, so that the listener, which lives as long as the child, holds only these and not everything the
   * spawn used (its plan, environment and failure callbacks).
   */
  private onExit(entry: ProcessEntry, child: ChildProcess, pid: number, stdin: ProcessEntry['stdin'], outputEnd: ReturnType<typeof endOf> | null): void {
    // on, not once: a child exits once, and once() keeps a wrapper and a bound function per child
    child.on('exit', (code, signal) => {
      // as Node closes a child's stdin stream when it exits
      stdin?.close();
      if (entry.stdin === stdin) entry.stdin = null;
      const exited = (): void => this.host.push({ type: 'childExited', key: entry.key, pid, ...childExit(pid, code, signal) });
      if (outputEnd) outputEnd.wait(OUTPUT_DRAIN_MS, exited);
      else exited();
    });
  }

  /** Sends a stop or kill signal; with group semantics it also reaches descendants that left the group. */
  signalForStop(entry: ProcessEntry, signal: string, toGroup: boolean): void {
    const pid = this.follower.signalTarget(entry);
    if (pid === null) {
      this.follower.deferStop(entry, signal, toGroup);
      return;
    }
    if ((toGroup || entry.spec.killAsGroup) && entry.stopSnapshot.length === 0) entry.stopSnapshot = descendantsOf(pid, this.procTable());
    this.signalTree(entry, pid, signal, toGroup);
  }

  /**
   * SIGKILL to the whole group of `entry`'s process, if it has one (fast shutdown, internal error), and to
   * its descendants that left the group (setsid), as a graceful stop with group semantics reaches them.
   */
  killNow(entry: ProcessEntry): void {
    this.signalForStop(entry, 'KILL', true);
  }

  /** A child exited: classify it (pidfile launcher, leftovers) and feed the reducer. */
  childExited(ev: Extract<SupervisorEvent, { type: 'childExited' }>): void {
    // before anything else, and for a process already dropped too: what it held must not wait for a lease
    for (const kind of this.o.kinds) kind.detach(ev.key, ev.pid, ev.code);
    const entry = this.host.table.get(ev.key);
    if (!entry || entry.spawnedPid !== ev.pid) return;
    const { spec } = entry;
    entry.child = null;
    entry.spawnedPid = 0;
    // A program that forked a daemon and exited: follow its pidfile when configured. A launcher that a stop
    // ended, however it ended, may have forked its daemon already: it is followed too, and given the stop
    // signal unless stopasgroup gave it already (to the launcher's descendants: a second SIGINT would make
    // many a graceful stop a fast one)
    const stopping = entry.record.stopRequested;
    if (spec.pidfile !== null && entry.followedPid === 0 && (stopping || (ev.code !== null && spec.exitCodes.includes(ev.code)))) {
      this.follower.waitForPidfile(entry, ev.pid, stopping);
      if (stopping && !spec.stopAsGroup) this.follower.deferStop(entry, spec.stopSignal, false);
      return;
    }
    // What is known of the ended process, before a respawn replaces it (sweepLeftovers, the daemonizing check)
    const gone = goneExit(entry, ev.pid, entry.spawnedStartTicks, ev.code);
    this.o.guard?.remove(ev.pid);
    this.o.hooks?.fire('worker_exit', hookProcess(spec, ev.pid), { code: ev.code, signal: ev.signal });
    reportEnd(this.host, entry, gone, ev, ev.pid);
    if (!spec.killAsGroup) this.leftovers.warnIfDaemonized(spec, gone);
  }

  /**
   * Who runs a command on the program's behalf (an exec check) and with what environment: its user and the
   * environment its process gets (without what a launch adds for one spawn: NOTIFY_SOCKET, a kind's
   * variables), or why it cannot run as that user. One code path, so a check never runs as the program's
   * user with drover's HOME.
   */
  runAs(spec: ProcessSpec): { readonly user: UserInfo | null; readonly env: Record<string, string> } | { readonly refused: string } {
    const user = this.userFor(spec);
    if (user === 'missing') return { refused: `user ${spec.user ?? ''} does not exist` };
    if (user === 'not-root') return { refused: `cannot run as user ${spec.user ?? ''}: drover is not running as root` };
    return { user, env: this.environmentFor(spec, user) };
  }

  /** killasgroup: kill what the ended leader left (its group, recorded descendants) before any respawn. */
  sweepLeftovers(entry: ProcessEntry): void {
    if (entry.gone !== null) this.leftovers.sweep(entry.spec, entry.gone);
  }

  // --- internal ---

  /** The user to switch to, null when none (or when drover already is that user), or why it cannot. */
  private userFor(spec: ProcessSpec): UserInfo | null | 'missing' | 'not-root' {
    if (spec.user === null) return null;
    const user = lookupUser(spec.user);
    if (!user) return 'missing';
    const uid = process.getuid?.() ?? -1;
    if (uid === user.uid) return null; // already that user: nothing to drop
    return uid === 0 ? user : 'not-root';
  }

  /**
   * The child's environment: drover's, then supervisor's markers, then the program's own keys, which hold
   * `[supervisord] environment` under its own, as the config resolved them (the config in force may be older:
   * a scoped reload or update does not replace it, so a variable removed from the file stayed in the programs).
   */
  private environmentFor(spec: ProcessSpec, user: { name: string; home: string } | null): Record<string, string> {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(this.o.baseEnv)) if (v !== undefined) env[k] = v;
    env['SUPERVISOR_ENABLED'] = '1';
    env['SUPERVISOR_PROCESS_NAME'] = spec.name;
    env['SUPERVISOR_GROUP_NAME'] = spec.group;
    const serverUrl = spec.serverUrl ?? this.o.serverUrl?.() ?? null;
    if (serverUrl !== null) env['SUPERVISOR_SERVER_URL'] = serverUrl;
    if (user) {
      // supervisor leaves HOME/USER/LOGNAME as drover's own; programs then read root's dotfiles
      env['HOME'] = user.home;
      env['USER'] = user.name;
      env['LOGNAME'] = user.name;
    }
    Object.assign(env, spec.environment);
    return env;
  }

  private signalTree(entry: ProcessEntry, pid: number, signal: string, toGroup: boolean): void {
    const pgid = entry.followedPid === pid && entry.followedPgid > 0 ? entry.followedPgid : pid;
    if (sendSignal(toGroup ? pgid : pid, signal, toGroup) === 'denied') {
      // supervisord crashed here once, then made it UNKNOWN: the reducer says so (through the queue: this
      // runs among a reduction's effects); what else the group holds is not this signal's to reach
      const event = { type: 'signalDenied', signal: `SIG${signal}`, error: 'EPERM' } as const;
      this.host.push({ type: 'checkReported', key: entry.key, spawn: entry.record.spawns, event });
      return;
    }
    if (!toGroup) return;
    for (const d of entry.stopSnapshot) {
      // descendants that moved to another group or session; pid reuse is ruled out by start time
      if (d.pgrp !== pgid && readStat(d.pid)?.startTicks === d.startTicks) sendSignal(d.pid, signal, false);
    }
  }

  /** The process table, read at most once per turn of the event loop. */
  private procTable(): ProcStat[] {
    if (this.procTableCache === null) {
      this.procTableCache = listProcesses();
      setImmediate(() => (this.procTableCache = null));
    }
    return this.procTableCache;
  }
}

/** What a server hook learns about a process. */
function hookProcess(spec: ProcessSpec, pid: number | null): Record<string, unknown> {
  return { name: spec.name, group: spec.group, program: spec.programName, processNum: spec.processNum, pid };
}
