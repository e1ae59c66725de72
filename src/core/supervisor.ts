// The supervisor: owns every process, feeds the pure reducer one event at a time, and runs its effects.
// Every input — signals, child exits, timers, commands — is pushed on one queue; one consumer handles them
// in order, so a SIGTERM never interleaves with a half-done start (STYLE §4).
import type { ChildProcess } from 'node:child_process';
import { diffConfigs, processKey } from '../config/diff.js';
import type { Config, GroupSpec, ProcessSpec } from '../config/types.js';
import { InvariantError } from '../errors.js';
import type { Logger } from '../logs/logger.js';
import type { OutputSink } from '../logs/output.js';
import { followRefusal } from '../os/follow-check.js';
import type { OrphanGuard } from '../os/guard.js';
import { findLeftBehind, type GoneProcess } from '../os/leftovers.js';
import { descendantsOf, listProcesses, readStat, type ProcStat } from '../os/proc.js';
import { processEnded, sendSignal, spawnProcess } from '../os/spawn.js';
import { readPidfile } from '../os/pidfile.js';
import { lookupUser } from '../os/users.js';
import { parseSharedRequest, parseWorkerMessage, type SharedCall, type SharedReplyMessage, type StuckReport, type WorkerMessage } from '../ipc/protocol.js';
import { Arbiter } from '../prefork/arbiter.js';
import type { SocketSet } from '../prefork/sockets.js';
import { reportFrames, stuckReportScanner } from '../prefork/inspector.js';
import { canStripTypes, isTypeScript, workerArgv, workerEnv } from '../prefork/worker-spawn.js';
import { initialRecord, reduce, type Effect, type ProcessRecord, type Step, type TimerName } from './program.js';
import { SIGNALLABLE_STATES, STARTABLE_STATES, STOPPED_STATES, type ProcessEvent } from './states.js';

export type Mood = 'running' | 'shuttingDown' | 'stopped';

export type ControlCommand =
  | { readonly type: 'start'; readonly keys: readonly string[]; readonly wait: boolean }
  | { readonly type: 'stop'; readonly keys: readonly string[]; readonly wait: boolean }
  | { readonly type: 'signal'; readonly keys: readonly string[]; readonly signal: string }
  | { readonly type: 'shutdown'; readonly fast: boolean }
  /** drover's fine-grained update: only processes whose own config changed are restarted */
  | { readonly type: 'applyConfig'; readonly config: Config; readonly groups: readonly string[] | null }
  /** supervisor's addProcessGroup: activate a group of `config` that is not active yet */
  | { readonly type: 'addGroup'; readonly config: Config; readonly group: string }
  /** supervisor's removeProcessGroup: drop a group whose processes are all stopped */
  | { readonly type: 'removeGroup'; readonly group: string }
  /** drover scale: make `specs` the processes of one program, adding and starting missing ones and
   * stopping and dropping the others (the highest-numbered, when scaling down) */
  | {
      readonly type: 'scale';
      readonly group: string;
      readonly programName: string;
      readonly specs: readonly ProcessSpec[];
      readonly wait: boolean;
    };

/** Error codes of control commands; stable, never reused (docs/api.md). */
export type CommandErrorCode =
  | 'E_BAD_NAME'
  | 'E_ALREADY_STARTED'
  | 'E_NOT_RUNNING'
  | 'E_SPAWN'
  | 'E_NO_FILE'
  | 'E_NOT_EXECUTABLE'
  | 'E_ABNORMAL_TERMINATION'
  | 'E_SHUTTING_DOWN'
  | 'E_STILL_RUNNING'
  | 'E_ALREADY_ADDED'
  | 'E_FAILED';

export interface CommandOutcome {
  /** "group:name", or the group name for group commands, or "*" */
  readonly key: string;
  readonly ok: boolean;
  readonly code?: CommandErrorCode;
  readonly message?: string;
}

/** Remembers what an operator started or stopped by hand, so it survives a restart of drover. */
export interface DesiredStateStore {
  /** "started", "stopped", or null when the config's autostart decides */
  get(key: string): 'started' | 'stopped' | null;
  set(key: string, want: 'started' | 'stopped' | null): void;
}

export type SupervisorEvent =
  | { readonly type: 'signalReceived'; readonly signal: string }
  | {
      readonly type: 'childExited';
      readonly key: string;
      readonly pid: number;
      readonly code: number | null;
      readonly signal: string | null;
    }
  | { readonly type: 'timerFired'; readonly key: string; readonly timer: TimerName; readonly gen: number }
  /** `refused`: why the pid last read from the pidfile was not followed (section 6 of docs/security.md) */
  | { readonly type: 'pidfileChecked'; readonly key: string; readonly launcherPid: number; readonly pid: number | null; readonly refused: string | null }
  | { readonly type: 'followedPidGone'; readonly key: string; readonly pid: number }
  | { readonly type: 'workerMessage'; readonly key: string; readonly pid: number; readonly msg: WorkerMessage }
  /** queue, state or lock requests from a worker (src/shared) */
  | { readonly type: 'workerRequest'; readonly key: string; readonly pid: number; readonly calls: readonly SharedCall[] }
  | { readonly type: 'heartbeatMissed'; readonly key: string; readonly pid: number }
  | { readonly type: 'diagnosticTaken'; readonly key: string; readonly pid: number; readonly report: StuckReport | null }
  | {
      readonly type: 'commandReceived';
      readonly command: ControlCommand;
      readonly reply: (outcomes: readonly CommandOutcome[]) => void;
    };

/** What is known of a process that has just exited. */
interface GoneExit extends GoneProcess {
  readonly startedAtMs: number;
  /** the exit was a requested stop */
  readonly requested: boolean;
  readonly code: number | null;
}

/** What a listener hears about each state change. */
export interface ChangeEvent {
  /** "group:name" */
  readonly key: string;
  readonly name: string;
  readonly group: string;
  readonly step: Step;
  readonly record: ProcessRecord;
}

/** One supervised process: its config, its state-machine record and the OS handles behind it. */
interface Managed {
  /** "group:name": unique across groups */
  key: string;
  spec: ProcessSpec;
  /** the reducer's record; replaced only in `dispatch` */
  record: ProcessRecord;
  /** the Node child handle of the current process; null when none */
  child: ChildProcess | null;
  /** pid we spawned (the launcher for pidfile programs); 0 when none */
  spawnedPid: number;
  /** start ticks of spawnedPid, to recognise it in /proc */
  spawnedStartTicks: number;
  /** errno-style reason of the last synchronous spawn failure (ENOENT, EACCES, …), or null */
  spawnFailure: string | null;
  /** resolved executable of the current process, for spotting self-daemonizing programs */
  executable: string;
  /** pending timers with a generation each, so a timer that fires after being replaced is ignored */
  timers: Map<TimerName, { handle: NodeJS.Timeout; gen: number }>;
  /** descendants seen when a stop began, so those that left the group can be reached too */
  stopSnapshot: ProcStat[];
  /** polling handle for a followed pid (pidfile programs) */
  follow: NodeJS.Timeout | null;
  /** pid being followed through a pidfile; 0 when none */
  followedPid: number;
  /** process group of the followed pid, as registered with the orphan guard */
  followedPgid: number;
  /** the process whose exit is being handled right now; null otherwise */
  gone: GoneExit | null;
  /** workers: last heartbeat (ms since epoch), requests served and RSS it reported; 0 before the first */
  lastHeartbeatMs: number;
  requests: number;
  rssBytes: number;
  /** workers: watchdog timer for the heartbeat */
  heartbeat: NodeJS.Timeout | null;
  /** workers: a replacement is on its way; this one leaves when it is ready */
  retiring: boolean;
  /** workers: the stuck report (JS stack) its watchdog wrote on stderr since its last heartbeat; null when none */
  stuckReport: StuckReport | null;
}

export interface SupervisorOptions {
  readonly config: Config;
  readonly logger: Logger;
  readonly output: OutputSink;
  readonly guard: OrphanGuard | null;
  /** where manual starts and stops are remembered; null: not remembered */
  readonly desired?: DesiredStateStore | null;
  /** environment the programs inherit before their own `environment` (default: drover's) */
  readonly baseEnv?: Readonly<Record<string, string | undefined>>;
  /** the master's listening sockets ([socket:x]); null when there are none */
  readonly sockets?: SocketSet | null;
  /** builds the spec of process number `processNum` of `spec`'s program (TTIN, worker replacement) */
  readonly respawnSpec?: (spec: ProcessSpec, processNum: number) => ProcessSpec | null;
  /** SIGHUP: re-read the config and apply it (the owner has the config file); workers are rolled here */
  readonly onReload?: () => Promise<void>;
  /** SIGUSR2: re-exec the master (the owner spawns the successor and, once it is ready, shuts this one down) */
  readonly onReexec?: () => Promise<void>;
  /** server hooks (pre_spawn, post_spawn, worker_exit), called without waiting */
  readonly hooks?: { fire(name: 'pre_spawn' | 'post_spawn' | 'worker_exit', ...args: unknown[]): void } | null;
  /** shared primitives (src/shared): a worker's requests, with a function that sends it the answers */
  readonly onWorkerRequest?: (key: string, pid: number, calls: readonly SharedCall[], reply: (m: SharedReplyMessage) => void) => void;
  /** shared primitives: a process has exited (its leases and locks are released at once) */
  readonly onWorkerExit?: (key: string, pid: number) => void;
}

export class Supervisor {
  /** supervisor's mood: running until a shutdown begins */
  private mood: Mood = 'running';
  /** the single event queue; handled strictly in order by `drain` */
  private readonly queue: SupervisorEvent[] = [];
  /** true while `drain` is working through the queue */
  private draining = false;
  /** every process by name, in config order */
  private readonly procs = new Map<string, Managed>();
  /** active groups by name */
  private readonly groups = new Map<string, GroupSpec>();
  /** worker programs ("group:program") → how many workers to run (numprocs, changed by TTIN/TTOU and updates) */
  /** requests served by every worker a prefork program ever had, per "group:program" (from heartbeats) */
  private readonly requestsServed = new Map<string, number>();
  /** the prefork pool policy (recycling, TTIN/TTOU, rolling restarts); see src/prefork/arbiter.ts */
  private readonly arbiter: Arbiter;
  /** commands waiting for a process to reach a state */
  private readonly waiters = new Set<{
    key: string;
    check: (m: Managed) => CommandOutcome | null;
    resolve: (o: CommandOutcome) => void;
  }>();
  /** priority levels still to stop during a shutdown, highest first */
  private stopLevels: number[] = [];
  /** change listeners */
  private readonly listeners = new Set<(e: ChangeEvent) => void>();
  /** counter for timer generations */
  private timerGen = 0;
  /** settles when the shutdown has finished; failed when it ended through an internal error */
  private readonly stopped: Promise<{ failed: boolean }>;
  private resolveStopped!: (r: { failed: boolean }) => void;
  /** one /proc snapshot shared by everything done in the same turn (a shutdown stops hundreds at once) */
  private procTableCache: ProcStat[] | null = null;
  /** keeps the event loop alive while supervising: signal listeners alone do not, so with every program
   * exited or fatal Node would otherwise end the process */
  private keepAlive: NodeJS.Timeout | null = null;
  /** INT signals seen; the second one turns a graceful shutdown into a fast one */
  private interrupts = 0;
  /** the active config; replaced when an update applies to every group */
  private config: Config;
  private readonly logger: Logger;
  private readonly output: OutputSink;
  private readonly guard: OrphanGuard | null;
  private readonly baseEnv: Readonly<Record<string, string | undefined>>;
  private readonly desired: DesiredStateStore | null;
  private readonly sockets: SocketSet | null;
  private readonly respawnSpec: ((spec: ProcessSpec, processNum: number) => ProcessSpec | null) | null;
  private readonly onReload: (() => Promise<void>) | null;
  private readonly onReexec: (() => Promise<void>) | null;
  private readonly hooks: SupervisorOptions['hooks'] | null;
  private readonly onWorkerRequest: SupervisorOptions['onWorkerRequest'] | null;
  private readonly onWorkerExit: SupervisorOptions['onWorkerExit'] | null;
  /** a re-exec is under way: a second USR2 is ignored */
  private reexecing = false;
  /** workers recycled (max_requests, max_memory, asked by the worker) per "group:program"; for metrics */

  constructor(opts: SupervisorOptions) {
    this.config = opts.config;
    this.logger = opts.logger;
    this.output = opts.output;
    this.guard = opts.guard;
    this.baseEnv = opts.baseEnv ?? process.env;
    this.desired = opts.desired ?? null;
    this.sockets = opts.sockets ?? null;
    this.respawnSpec = opts.respawnSpec ?? null;
    this.onReload = opts.onReload ?? null;
    this.onReexec = opts.onReexec ?? null;
    this.hooks = opts.hooks ?? null;
    this.onWorkerRequest = opts.onWorkerRequest ?? null;
    this.arbiter = new Arbiter({
      logger: this.logger,
      isRunning: () => this.mood === 'running',
      members: () => this.procs.values(),
      isCurrent: (m) => this.procs.get(m.key) === m,
      buildSpec: (spec, num) => this.respawnSpec?.(spec, num) ?? null,
      add: (spec) => (this.procs.has(processKey(spec)) ? null : this.addProcess(spec)),
      startNow: (m) => this.dispatch(m as Managed, { type: 'startRequested' }),
      start: async (m) => (await this.command({ type: 'start', keys: [m.key], wait: true }))[0] ?? { ok: false, message: 'no answer' },
      stop: (m) => this.stopOne(m.key, true, false),
      drop: (m) => this.dropProcess(m as Managed),
    });
    this.onWorkerExit = opts.onWorkerExit ?? null;
    this.stopped = new Promise((resolve) => (this.resolveStopped = resolve));
    for (const g of opts.config.groups) this.groups.set(g.name, g);
    for (const spec of opts.config.processes) {
      this.addProcess(spec);
      if (spec.worker !== null) this.arbiter.setTarget(spec.group, spec.programName, spec.numprocs);
    }
  }

  /** Pushes an event; listeners call only this and return (no logging, no awaits). */
  push(event: SupervisorEvent): void {
    this.queue.push(event);
    if (!this.draining) {
      this.draining = true;
      setImmediate(() => void this.drain());
    }
  }

  /** Starts every autostart process in ascending priority (config order breaks ties). */
  start(only?: (spec: ProcessSpec) => boolean): void {
    this.keepAlive ??= setInterval(() => undefined, 1 << 30);
    this.startAutostart([...this.procs.values()].filter((m) => !only || only(m.spec)));
  }

  /** Starts the autostart processes that `start(only)` left out (after a re-exec handover). */
  startRemaining(): void {
    if (this.mood === 'running') this.startAutostart([...this.procs.values()]);
  }

  /** Settles once a shutdown has stopped every process. */
  whenStopped(): Promise<{ failed: boolean }> {
    return this.stopped;
  }

  /** Subscribes to state changes; returns an unsubscribe function. */
  onChange(listener: (e: ChangeEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** A snapshot of every process, in group order, for status. */
  snapshot(): { key: string; spec: ProcessSpec; record: ProcessRecord }[] {
    return [...this.procs.values()].map((m) => ({ key: m.key, spec: m.spec, record: m.record }));
  }

  /**
   * Prefork workers: requests served per current process (from heartbeats), and per "group:program" the
   * requests served since start by every worker it ever had, and its recycles.
   */
  workerStats(): {
    workers: { key: string; pid: number; requests: number }[];
    requestsServed: ReadonlyMap<string, number>;
    recycles: ReadonlyMap<string, number>;
  } {
    const workers = [...this.procs.values()]
      .filter((m) => m.spec.worker !== null)
      .map((m) => ({ key: m.key, pid: m.spawnedPid, requests: m.requests }));
    return { workers, requestsServed: this.requestsServed, recycles: this.arbiter.recycles };
  }

  /** Rolls every worker program (HUP, drover reload): see Arbiter.rollWorkers. */
  rollWorkers(): Promise<void> {
    return this.arbiter.rollWorkers();
  }

  /** The active groups, sorted as supervisor sorts them (priority, then name). */
  activeGroups(): GroupSpec[] {
    return [...this.groups.values()].sort((a, b) => a.priority - b.priority || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** The supervisor's mood, as supervisor's getState reports it. */
  get state(): Mood {
    return this.mood;
  }

  /** The Node handle of a process's stdin, for sendProcessStdin; null when it has none. */
  stdinOf(key: string): NodeJS.WritableStream | null {
    return this.procs.get(key)?.child?.stdin ?? null;
  }

  /** Runs a control command through the queue and resolves with one outcome per process. */
  command(command: ControlCommand): Promise<readonly CommandOutcome[]> {
    return new Promise((reply) => this.push({ type: 'commandReceived', command, reply }));
  }

  /** Registers a process (at construction, or when a config update adds it). */
  private addProcess(spec: ProcessSpec): Managed {
    const m: Managed = {
      key: `${spec.group}:${spec.name}`,
      spec,
      record: initialRecord(Date.now()),
      child: null,
      spawnedPid: 0,
      spawnedStartTicks: 0,
      spawnFailure: null,
      executable: '',
      timers: new Map(),
      stopSnapshot: [],
      follow: null,
      followedPid: 0,
      followedPgid: 0,
      gone: null,
      lastHeartbeatMs: 0,
      requests: 0,
      rssBytes: 0,
      heartbeat: null,
      retiring: false,
      stuckReport: null,
    };
    this.output.register(spec);
    this.procs.set(m.key, m);
    return m;
  }

  /** Starts processes that should run: autostart (unless stopped by hand earlier) or started by hand earlier. */
  private startAutostart(list: readonly Managed[]): void {
    const order = list
      .filter((m) => {
        const want = this.desired?.get(m.key) ?? null;
        return want === 'started' || (want === null && m.spec.autostart);
      })
      .sort((a, b) => a.spec.priority - b.spec.priority);
    for (const m of order) if (STARTABLE_STATES.has(m.record.state)) this.dispatch(m, { type: 'startRequested' });
  }

  // --- internal ---

  /** The process table, read at most once per turn of the event loop. */
  private procTable(): ProcStat[] {
    if (this.procTableCache === null) {
      this.procTableCache = listProcesses();
      setImmediate(() => (this.procTableCache = null));
    }
    return this.procTableCache;
  }

  private releaseKeepAlive(): void {
    if (this.keepAlive) clearInterval(this.keepAlive);
    this.keepAlive = null;
  }

  private async drain(): Promise<void> {
    try {
      for (let ev = this.queue.shift(); ev !== undefined; ev = this.queue.shift()) {
        try {
          this.handle(ev);
        } catch (err) {
          this.crash(err);
          return;
        }
      }
    } finally {
      this.draining = false;
    }
  }

  /** Last resort: log the stack, kill every process group, and let the caller exit non-zero. */
  /** An error nothing else caught (a throw in a timer or a microtask): handled like an internal error. */
  failUnexpectedly(err: unknown): void {
    if (this.mood !== 'stopped') this.crash(err);
  }

  private crash(err: unknown): void {
    this.logger.error(`internal error, stopping everything: ${(err as Error).stack ?? String(err)}`);
    for (const m of this.procs.values()) {
      const pid = m.record.pid;
      if (pid !== null) sendSignal(pid, 'KILL', true);
    }
    this.mood = 'stopped';
    this.guard?.close();
    this.releaseKeepAlive();
    this.resolveStopped({ failed: true });
  }

  private handle(ev: SupervisorEvent): void {
    switch (ev.type) {
      case 'signalReceived':
        this.handleSignal(ev.signal);
        break;
      case 'childExited':
        this.handleExit(ev);
        break;
      case 'timerFired': {
        const m = this.procs.get(ev.key);
        const t = m?.timers.get(ev.timer);
        if (!m || !t || t.gen !== ev.gen) return; // cancelled or replaced after it was queued
        m.timers.delete(ev.timer);
        this.dispatch(m, timerEvent(ev.timer));
        break;
      }
      case 'pidfileChecked':
        this.handlePidfile(ev);
        break;
      case 'followedPidGone': {
        const m = this.procs.get(ev.key);
        if (!m || m.followedPid !== ev.pid) return;
        this.guard?.remove(m.followedPgid);
        this.stopFollowing(m);
        this.dispatch(m, { type: 'childExited', code: null, signal: null });
        break;
      }
      case 'commandReceived':
        // a command that throws (even after an await) is an internal error: stop everything, never leave
        // the rejection unhandled (which would end drover without stopping its children)
        void this.runCommand(ev.command).then(ev.reply, (err: unknown) => this.crash(err));
        break;
      case 'workerMessage':
        this.handleWorkerMessage(ev.key, ev.pid, ev.msg);
        break;
      case 'workerRequest':
        this.handleWorkerRequest(ev.key, ev.pid, ev.calls);
        break;
      case 'heartbeatMissed':
        this.handleHeartbeatMissed(ev.key, ev.pid);
        break;
      case 'diagnosticTaken': {
        const m = this.procs.get(ev.key);
        if (!m || m.spawnedPid !== ev.pid) return;
        const stack = ev.report ? reportFrames(ev.report) : null;
        if (stack) this.logger.error(`${m.spec.name}: JavaScript stack of the stuck worker ${ev.pid}:\n    ${stack.split('\n').join('\n    ')}`);
        else if (ev.report && 'error' in ev.report) this.logger.error(`${m.spec.name}: no JavaScript stack of the stuck worker ${ev.pid}: ${ev.report.error}`);
        else this.logger.error(`${m.spec.name}: the stuck worker's watchdog sent no report within 3 s`);
        this.logger.warn(`${m.spec.name}: killing worker ${ev.pid} (heartbeat timeout)`);
        sendSignal(ev.pid, 'KILL', true);
        break;
      }
      default:
        assertNever(ev);
    }
    this.advanceShutdown();
  }

  private handleSignal(signal: string): void {
    const handlers: Record<string, () => void> = {
      TERM: () => this.beginShutdown(false, 'SIGTERM'),
      INT: () => {
        this.interrupts += 1;
        this.beginShutdown(this.interrupts > 1, this.interrupts > 1 ? 'second SIGINT' : 'SIGINT');
      },
      QUIT: () => this.beginShutdown(true, 'SIGQUIT'),
      HUP: () => {
        this.logger.info('SIGHUP: re-reading the config and rolling the workers');
        const reload = this.onReload ? this.onReload() : this.arbiter.rollWorkers();
        void reload.catch((err: unknown) => this.logger.error(`reload failed: ${(err as Error).message}`));
      },
      USR2: () => {
        if (!this.onReexec || this.reexecing || this.mood !== 'running') {
          this.logger.warn('SIGUSR2: a re-exec is already under way or not possible now; ignored');
          return;
        }
        this.reexecing = true;
        this.logger.info('SIGUSR2: re-executing the master; the sockets stay open');
        void this.onReexec()
          .catch((err: unknown) => this.logger.error(`re-exec failed: ${(err as Error).message}`))
          .finally(() => (this.reexecing = false));
      },
      TTIN: () => this.arbiter.addWorkers(),
      TTOU: () => this.arbiter.removeWorkers(),
      WINCH: () => this.arbiter.stopWorkers(),
      USR1: () => {
        this.output.reopen();
        this.logger.info('SIGUSR1 received: reopened the log files');
      },
    };
    const handler = handlers[signal];
    if (handler) handler();
    else this.logger.warn(`SIG${signal} received: no action for it in this mode; ignored`);
  }

  private runCommand(cmd: ControlCommand): Promise<CommandOutcome[]> {
    switch (cmd.type) {
      case 'shutdown':
        this.beginShutdown(cmd.fast, 'shutdown requested');
        return Promise.resolve([{ key: '*', ok: true }]);
      case 'start':
        return Promise.all(cmd.keys.map((key) => this.startOne(key, cmd.wait)));
      case 'stop':
        return Promise.all(cmd.keys.map((key) => this.stopOne(key, cmd.wait)));
      case 'signal':
        return Promise.resolve(cmd.keys.map((key) => this.signalOne(key, cmd.signal)));
      case 'applyConfig':
        return this.applyConfig(cmd.config, cmd.groups);
      case 'addGroup':
        return Promise.resolve([this.addGroup(cmd.config, cmd.group)]);
      case 'removeGroup':
        return Promise.resolve([this.removeGroup(cmd.group)]);
      case 'scale':
        return this.scale(cmd.group, cmd.programName, cmd.specs, cmd.wait);
      default:
        return assertNever(cmd);
    }
  }

  /** Resolves when `check` returns an outcome for the process (checked now and after each change). */
  private waitFor(m: Managed, check: (m: Managed) => CommandOutcome | null): Promise<CommandOutcome> {
    const now = check(m);
    if (now) return Promise.resolve(now);
    return new Promise((resolve) => this.waiters.add({ key: m.key, check, resolve }));
  }

  private startOne(key: string, wait: boolean, remember = true): Promise<CommandOutcome> {
    const m = this.procs.get(key);
    if (!m) return Promise.resolve({ key, ok: false, code: 'E_BAD_NAME', message: `no such process: ${key}` });
    if (this.mood !== 'running') {
      return Promise.resolve({ key, ok: false, code: 'E_SHUTTING_DOWN', message: 'drover is shutting down' });
    }
    if (!STARTABLE_STATES.has(m.record.state)) {
      return Promise.resolve({ key, ok: false, code: 'E_ALREADY_STARTED', message: `${key} is ${m.record.state}` });
    }
    if (remember) this.desired?.set(key, m.spec.autostart ? null : 'started');
    m.spawnFailure = null;
    this.dispatch(m, { type: 'startRequested' });
    if (m.spawnFailure !== null) {
      // the spawn failed synchronously: say why, as supervisor's startProcess does (NO_FILE, NOT_EXECUTABLE)
      const code = m.spawnFailure === 'ENOENT' ? 'E_NO_FILE' : m.spawnFailure === 'EACCES' ? 'E_NOT_EXECUTABLE' : 'E_SPAWN';
      return Promise.resolve({ key, ok: false, code, message: m.record.spawnError ?? 'spawn failed' });
    }
    if (!wait) return Promise.resolve({ key, ok: true });
    const started = m.record.spawns;
    return this.waitFor(m, (p) => {
      if (p.record.spawns !== started) return { key, ok: false, code: 'E_ABNORMAL_TERMINATION', message: `${key} restarted while starting` };
      const st = p.record.state;
      if (st === 'running') return { key, ok: true };
      if (st === 'starting') return null;
      if (p.record.spawnError !== null) return { key, ok: false, code: 'E_SPAWN', message: p.record.spawnError };
      return { key, ok: false, code: 'E_ABNORMAL_TERMINATION', message: `${key} is ${st}` };
    });
  }

  private stopOne(key: string, wait: boolean, remember = true): Promise<CommandOutcome> {
    const m = this.procs.get(key);
    if (!m) return Promise.resolve({ key, ok: false, code: 'E_BAD_NAME', message: `no such process: ${key}` });
    const st = m.record.state;
    const cooling = st === 'fatal' && m.timers.has('fatalCooldown');
    if (STOPPED_STATES.has(st) && !cooling) {
      return Promise.resolve({ key, ok: false, code: 'E_NOT_RUNNING', message: `${key} is ${st}` });
    }
    if (remember) this.desired?.set(key, m.spec.autostart ? 'stopped' : null);
    if (st !== 'stopping') this.dispatch(m, { type: 'stopRequested' });
    if (!wait) return Promise.resolve({ key, ok: true });
    return this.waitFor(m, (p) => (STOPPED_STATES.has(p.record.state) ? { key, ok: true } : null));
  }

  private signalOne(key: string, signal: string): CommandOutcome {
    const m = this.procs.get(key);
    if (!m) return { key, ok: false, code: 'E_BAD_NAME', message: `no such process: ${key}` };
    const pid = m.record.pid;
    if (!SIGNALLABLE_STATES.has(m.record.state) || pid === null) {
      return { key, ok: false, code: 'E_NOT_RUNNING', message: `${key} is ${m.record.state}` };
    }
    sendSignal(pid, signal, m.spec.stopAsGroup);
    return { key, ok: true };
  }

  /**
   * Applies a new config to the given groups (null: all): removed processes are stopped and dropped,
   * changed ones stopped and started again with their new config, added ones started if autostart.
   * Processes whose own config did not change keep running, even in a changed group.
   */
  private async applyConfig(config: Config, groups: readonly string[] | null): Promise<CommandOutcome[]> {
    if (this.mood !== 'running') return [{ key: '*', ok: false, code: 'E_SHUTTING_DOWN', message: 'drover is shutting down' }];
    // Worker programs present before and after are a pool, not named processes: their processes are
    // renumbered as workers are recycled, so they are left out of the diff and rolled instead
    // (Arbiter.rollWorkers), each replacement ready before an old worker leaves.
    const programKey = (p: ProcessSpec): string => `${p.group}:${p.programName}`;
    const oldPools = new Set([...this.procs.values()].filter((m) => m.spec.worker !== null).map((m) => programKey(m.spec)));
    const pooled = new Set(config.processes.filter((p) => p.worker !== null && oldPools.has(programKey(p))).map(programKey));
    const inScope = (group: string): boolean => groups === null || groups.includes(group);
    const current: Config = {
      ...this.config,
      groups: this.activeGroups(),
      processes: [...this.procs.values()].map((m) => m.spec).filter((p) => !pooled.has(programKey(p))),
    };
    const diff = diffConfigs(current, { ...config, processes: config.processes.filter((p) => !pooled.has(programKey(p))) });
    for (const p of config.processes) if (pooled.has(programKey(p))) this.arbiter.setTarget(p.group, p.programName, p.numprocs);
    const outcomes: CommandOutcome[] = [];
    const stops: Promise<unknown>[] = [];
    const restart: Managed[] = [];
    for (const spec of diff.removedProcesses) {
      if (!inScope(spec.group)) continue;
      const m = this.procs.get(processKey(spec)) as Managed;
      stops.push(this.stopOne(m.key, true, false).then(() => this.dropProcess(m)));
      outcomes.push({ key: m.key, ok: true, message: 'removed' });
    }
    for (const { before, after } of diff.changedProcesses) {
      if (!inScope(after.group)) continue;
      const m = this.procs.get(processKey(before)) as Managed;
      const wasUp = !STOPPED_STATES.has(m.record.state);
      stops.push(
        this.stopOne(m.key, true, false).then(() => {
          m.spec = after;
          this.output.register(after); // its log settings may have changed too
          if (wasUp || after.autostart) restart.push(m);
        }),
      );
      outcomes.push({ key: m.key, ok: true, message: 'changed' });
    }
    for (const name of diff.removedGroups) if (inScope(name)) this.groups.delete(name);
    for (const g of config.groups) if (inScope(g.name)) this.groups.set(g.name, g);
    const added: Managed[] = [];
    for (const spec of diff.addedProcesses) {
      if (!inScope(spec.group)) continue;
      const m = this.addProcess(spec);
      added.push(m);
      outcomes.push({ key: m.key, ok: true, message: 'added' });
    }
    if (groups === null) this.config = config;
    this.startAutostart(added);
    await Promise.all(stops);
    // the stops resolved outside the queue; start through it so starts stay ordered with everything else
    if (restart.length > 0) await this.command({ type: 'start', keys: restart.map((m) => m.key), wait: false });
    return outcomes;
  }

  private addGroup(config: Config, group: string): CommandOutcome {
    if (this.groups.has(group)) return { key: group, ok: false, code: 'E_ALREADY_ADDED', message: `${group} is already active` };
    const spec = config.groups.find((g) => g.name === group);
    if (!spec) return { key: group, ok: false, code: 'E_BAD_NAME', message: `no group ${group} in the config` };
    this.groups.set(group, spec);
    const added = config.processes.filter((p) => p.group === group).map((p) => this.addProcess(p));
    this.startAutostart(added);
    return { key: group, ok: true };
  }

  /** Converges one program's processes to `specs`; processes that stay keep running untouched. */
  private async scale(group: string, programName: string, specs: readonly ProcessSpec[], wait: boolean): Promise<CommandOutcome[]> {
    if (this.mood !== 'running') return [{ key: '*', ok: false, code: 'E_SHUTTING_DOWN', message: 'drover is shutting down' }];
    const wanted = new Set(specs.map((p) => processKey(p)));
    const current = [...this.procs.values()].filter((m) => m.spec.group === group && m.spec.programName === programName);
    const added = specs.filter((p) => !this.procs.has(processKey(p))).map((p) => this.addProcess(p));
    // keep the program's processes together and in number order, as the config lists them
    const order = [...this.procs.values()];
    const first = order.findIndex((m) => m.spec.group === group && m.spec.programName === programName);
    const mine = order.filter((m) => m.spec.group === group && m.spec.programName === programName);
    mine.sort((a, b) => a.spec.processNum - b.spec.processNum);
    const rest = order.filter((m) => !(m.spec.group === group && m.spec.programName === programName));
    this.procs.clear();
    for (const m of [...rest.slice(0, first), ...mine, ...rest.slice(first)]) this.procs.set(m.key, m);
    const work: Promise<CommandOutcome>[] = [];
    for (const m of current) {
      if (wanted.has(m.key)) continue;
      work.push(
        this.stopOne(m.key, true, false).then(() => {
          this.dropProcess(m);
          return { key: m.key, ok: true, message: 'removed' };
        }),
      );
    }
    for (const m of added) {
      work.push(this.startOne(m.key, wait, false).then((o) => (o.ok ? { ...o, message: 'added' } : o)));
    }
    return Promise.all(work);
  }

  private removeGroup(group: string): CommandOutcome {
    if (!this.groups.has(group)) return { key: group, ok: false, code: 'E_BAD_NAME', message: `no active group ${group}` };
    const members = [...this.procs.values()].filter((m) => m.spec.group === group);
    const busy = members.filter((m) => !STOPPED_STATES.has(m.record.state));
    if (busy.length > 0) {
      return { key: group, ok: false, code: 'E_STILL_RUNNING', message: `${busy.map((m) => m.key).join(', ')} still running` };
    }
    for (const m of members) this.dropProcess(m);
    this.groups.delete(group);
    return { key: group, ok: true };
  }

  /** Forgets a stopped process. */
  private dropProcess(m: Managed): void {
    this.clearTimers(m);
    this.stopFollowing(m);
    this.procs.delete(m.key);
    this.desired?.set(m.key, null);
    for (const w of [...this.waiters]) {
      if (w.key === m.key) {
        this.waiters.delete(w);
        w.resolve({ key: m.key, ok: false, code: 'E_BAD_NAME', message: `${m.key} was removed` });
      }
    }
  }

  /** Begins (or hurries) a shutdown: stop by descending priority level, one level at a time. */
  private beginShutdown(fast: boolean, why: string): void {
    if (this.mood === 'stopped') return;
    const first = this.mood === 'running';
    this.mood = 'shuttingDown';
    this.logger.info(`${why}: ${fast ? 'fast' : 'graceful'} shutdown${first ? '' : ' (was already shutting down)'}`);
    // Processes with nothing running (backoff, fatal with a pending retry) stop at once, at any level.
    for (const m of this.procs.values()) {
      const st = m.record.state;
      if (st === 'backoff' || (st === 'fatal' && m.timers.has('fatalCooldown'))) {
        this.dispatch(m, { type: 'stopRequested' });
      }
    }
    if (fast) {
      for (const m of this.procs.values()) {
        if (m.record.state === 'starting' || m.record.state === 'running') this.dispatch(m, { type: 'stopRequested' });
        const pid = m.record.pid;
        if (pid !== null) this.killAll(m, pid, 'KILL');
      }
      this.stopLevels = [];
    } else if (first) {
      const levels = new Set([...this.procs.values()].map((m) => m.spec.priority));
      this.stopLevels = [...levels].sort((a, b) => b - a);
      this.stopNextLevel();
    }
  }

  private stopNextLevel(): void {
    const level = this.stopLevels[0];
    if (level === undefined) return;
    for (const m of this.procs.values()) {
      if (m.spec.priority !== level) continue;
      const st = m.record.state;
      if (st === 'starting' || st === 'running') this.dispatch(m, { type: 'stopRequested' });
    }
  }

  /** After every event: move the shutdown on when the current level has stopped; finish when all have. */
  private advanceShutdown(): void {
    if (this.mood !== 'shuttingDown') return;
    while (this.stopLevels.length > 0) {
      const level = this.stopLevels[0];
      const busy = [...this.procs.values()].some((m) => m.spec.priority === level && !STOPPED_STATES.has(m.record.state));
      if (busy) return;
      this.stopLevels.shift();
      this.stopNextLevel();
    }
    if ([...this.procs.values()].every((m) => STOPPED_STATES.has(m.record.state))) {
      this.mood = 'stopped';
      for (const m of this.procs.values()) this.clearTimers(m);
      this.guard?.close();
      this.logger.info('all processes stopped');
      this.releaseKeepAlive();
      this.resolveStopped({ failed: false });
    }
  }

  /** Feeds one event to the reducer, records the result, logs each change and runs the effects. */
  private dispatch(m: Managed, event: ProcessEvent): void {
    const result = reduce(m.spec, m.record, event, {
      nowMs: Date.now(),
      shuttingDown: this.mood !== 'running',
      random: Math.random(),
    });
    m.record = result.record;
    for (const step of result.steps) this.changeState(m, step);
    for (const effect of result.effects) this.runEffect(m, effect);
  }

  /** The one place a change is announced: log line `name: from → to (reason)` and one event. */
  private changeState(m: Managed, step: Step): void {
    const level = step.to === 'fatal' || step.to === 'backoff' ? 'warn' : 'info';
    this.logger.log(level, `${m.spec.name}: ${step.from} → ${step.to} (${step.reason})`);
    const e: ChangeEvent = { key: m.key, name: m.spec.name, group: m.spec.group, step, record: m.record };
    for (const l of this.listeners) l(e);
    for (const w of [...this.waiters]) {
      if (w.key !== m.key) continue;
      const outcome = w.check(m);
      if (outcome) {
        this.waiters.delete(w);
        w.resolve(outcome);
      }
    }
  }

  private runEffect(m: Managed, effect: Effect): void {
    switch (effect.type) {
      case 'spawn':
        this.spawn(m);
        break;
      case 'sendSignal':
        this.signalForStop(m, effect.signal, effect.toGroup);
        break;
      case 'startTimer': {
        this.cancelTimer(m, effect.timer);
        const gen = ++this.timerGen;
        const handle = setTimeout(
          () => this.push({ type: 'timerFired', key: m.key, timer: effect.timer, gen }),
          effect.ms,
        );
        m.timers.set(effect.timer, { handle, gen });
        break;
      }
      case 'cancelTimer':
        this.cancelTimer(m, effect.timer);
        break;
      case 'sweepLeftovers':
        if (m.gone) this.sweepLeftovers(m.spec, m.gone);
        break;
      default:
        assertNever(effect);
    }
  }

  private cancelTimer(m: Managed, timer: TimerName): void {
    const t = m.timers.get(timer);
    if (t) clearTimeout(t.handle);
    m.timers.delete(timer);
  }

  private clearTimers(m: Managed): void {
    for (const t of m.timers.values()) clearTimeout(t.handle);
    m.timers.clear();
  }

  private spawn(m: Managed): void {
    const spec = m.spec;
    let user = null;
    if (spec.user !== null) {
      user = lookupUser(spec.user);
      if (!user) {
        this.dispatch(m, { type: 'spawnFailed', reason: 'EUSER', message: `user ${spec.user} does not exist` });
        return;
      }
      const uid = process.getuid?.() ?? -1;
      if (uid !== 0 && uid !== user.uid) {
        this.dispatch(m, {
          type: 'spawnFailed',
          reason: 'EPERM',
          message: `cannot run as user ${spec.user}: drover is not running as root`,
        });
        return;
      }
      if (uid === user.uid) user = null; // already that user: nothing to drop
    }
    this.hooks?.fire('pre_spawn', hookProcess(spec, null));
    const env = this.environmentFor(spec, user);
    const isWorker = spec.worker !== null;
    if (isWorker && isTypeScript(spec.worker as string) && !canStripTypes()) {
      const message = `${spec.worker ?? ''} is TypeScript: worker modules in .ts need Node ≥ 22.6 (this is ${process.version}); compile it to .js or upgrade Node`;
      this.logger.error(`${spec.name}: cannot start: ${message}`);
      this.dispatch(m, { type: 'spawnFailed', reason: 'ENOEXEC', message });
      return;
    }
    if (isWorker) Object.assign(env, workerEnv(spec, Math.random()));
    let listenFds: { fd: number; name: string }[] = [];
    if (spec.sockets.length > 0) {
      if (!this.sockets) {
        this.dispatch(m, { type: 'spawnFailed', reason: 'ENOTSOCK', message: 'its sockets are not bound' });
        return;
      }
      listenFds = spec.sockets.map((name) => ({ fd: this.sockets?.get(name)?.fd ?? -1, name }));
    }
    const result = spawnProcess({
      argv: isWorker ? workerArgv(spec) : spec.argv,
      env,
      cwd: spec.directory,
      umask: spec.umask,
      user,
      pdeathsig: spec.pdeathsig,
      stdinPipe: true,
      listenFds,
      ipc: isWorker,
    });
    if (!result.ok) {
      m.spawnFailure = result.reason;
      this.logger.error(`${spec.name}: cannot start: ${result.message}`);
      this.dispatch(m, { type: 'spawnFailed', reason: result.reason, message: result.message });
      return;
    }
    const { child, pid } = result;
    m.child = child;
    m.spawnedPid = pid;
    m.spawnedStartTicks = readStat(pid)?.startTicks ?? 0;
    m.executable = result.executable;
    m.stopSnapshot = [];
    this.guard?.add(pid, m.spawnedStartTicks);
    child.stdin?.on('error', () => undefined); // EPIPE when the program closes its stdin: harmless
    // with redirect_stderr the sink writes stderr into the stdout log, still knowing which stream a line came from
    if (child.stdout) this.output.attach(m.key, 'stdout', child.stdout);
    if (child.stderr) this.output.attach(m.key, 'stderr', child.stderr);
    child.once('exit', (code, signal) =>
      this.push({ type: 'childExited', key: m.key, pid, code, signal: signal ? signal.slice(3) : null }),
    );
    if (isWorker) {
      m.requests = 0;
      m.rssBytes = 0;
      m.lastHeartbeatMs = Date.now();
      m.retiring = false;
      child.on('message', (raw: unknown) => {
        const msg = parseWorkerMessage(raw);
        if (msg) this.push({ type: 'workerMessage', key: m.key, pid, msg });
        else if (this.onWorkerRequest) {
          const calls = parseSharedRequest(raw);
          if (calls) this.push({ type: 'workerRequest', key: m.key, pid, calls });
        }
      });
      // EPIPE/ERR_IPC_CHANNEL_CLOSED when the worker is gone: its exit event tells the rest
      child.on('error', () => undefined);
      m.stuckReport = null;
      child.stderr?.on(
        'data',
        stuckReportScanner((report) => {
          if (m.spawnedPid === pid) m.stuckReport = report;
        }),
      );
      this.armHeartbeat(m, pid);
    }
    this.logger.info(`spawned: ${spec.name} with pid ${pid}`);
    this.hooks?.fire('post_spawn', hookProcess(spec, pid));
    this.dispatch(m, { type: 'spawned', pid });
  }

  // --- prefork workers ---

  /** (Re)arms the heartbeat watchdog of a worker; a stuck event loop stops the heartbeats. */
  private armHeartbeat(m: Managed, pid: number): void {
    if (m.heartbeat) clearTimeout(m.heartbeat);
    m.heartbeat = null;
    const ms = m.spec.heartbeatTimeoutSecs * 1000;
    if (ms <= 0) return;
    m.heartbeat = setTimeout(() => this.push({ type: 'heartbeatMissed', key: m.key, pid }), ms);
  }

  private handleWorkerMessage(key: string, pid: number, msg: WorkerMessage): void {
    const m = this.procs.get(key);
    if (!m || m.spawnedPid !== pid) return; // from a worker that has been replaced meanwhile
    switch (msg.t) {
      case 'ready':
        this.armHeartbeat(m, pid);
        if (m.record.state === 'starting' || m.record.state === 'running') this.dispatch(m, { type: 'readyReported' });
        break;
      case 'hb':
        m.lastHeartbeatMs = Date.now();
        m.stuckReport = null;
        // heartbeats carry a worker's running count: add what it served since the last one
        if (msg.requests > m.requests) {
          const program = `${m.spec.group}:${m.spec.programName}`;
          this.requestsServed.set(program, (this.requestsServed.get(program) ?? 0) + msg.requests - m.requests);
        }
        m.requests = msg.requests;
        m.rssBytes = msg.rss;
        this.armHeartbeat(m, pid);
        if (m.spec.maxMemoryBytes > 0 && msg.rss > m.spec.maxMemoryBytes && !m.retiring) {
          this.arbiter.retire(m, `RSS ${Math.round(msg.rss / 1048576)} MiB over max_memory ${Math.round(m.spec.maxMemoryBytes / 1048576)} MiB`);
        }
        break;
      case 'retire':
        this.arbiter.retire(m, msg.reason);
        break;
      default:
        assertNever(msg);
    }
  }

  /** Shared primitives: hands a worker's requests to the owner, with a reply path to that very process. */
  private handleWorkerRequest(key: string, pid: number, calls: readonly SharedCall[]): void {
    const m = this.procs.get(key);
    const child = m?.child;
    if (!m || !child || m.spawnedPid !== pid) return; // from a worker that has exited meanwhile
    this.onWorkerRequest?.(key, pid, calls, (reply) => {
      // the worker may be gone by the time an answer is ready: its exit event tells the rest
      if (child.connected) child.send(reply, () => undefined);
    });
  }

  /** No heartbeat within `timeout`: wait for the worker's stuck report (its JS stack), then SIGKILL. */
  private handleHeartbeatMissed(key: string, pid: number): void {
    const m = this.procs.get(key);
    if (!m || m.spawnedPid !== pid || (m.record.state !== 'starting' && m.record.state !== 'running')) return;
    m.heartbeat = null;
    this.logger.error(
      `${m.spec.name}: worker ${pid} sent no heartbeat for ${m.spec.heartbeatTimeoutSecs}s (its event loop is stuck); waiting for its watchdog's report`,
    );
    // The worker's watchdog thread writes the report once the loop has been stuck for the same timeout, as
    // measured in the worker: a little before or after this. Nothing is sent to the worker (SIGUSR1, as
    // drover once did, would open Node's inspector).
    const deadline = Date.now() + 3000;
    const read = async (): Promise<StuckReport | null> => {
      while (m.stuckReport === null && m.spawnedPid === pid && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      return m.spawnedPid === pid ? m.stuckReport : null;
    };
    void read().then((report) => this.push({ type: 'diagnosticTaken', key, pid, report }));
  }

  /** The child's environment: drover's, then supervisor's markers, then the program's own keys. */
  private environmentFor(spec: ProcessSpec, user: { name: string; home: string } | null): Record<string, string> {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(this.baseEnv)) if (v !== undefined) env[k] = v;
    Object.assign(env, this.config.supervisord.environment);
    env['SUPERVISOR_ENABLED'] = '1';
    env['SUPERVISOR_PROCESS_NAME'] = spec.name;
    env['SUPERVISOR_GROUP_NAME'] = spec.group;
    if (spec.serverUrl !== null) env['SUPERVISOR_SERVER_URL'] = spec.serverUrl;
    if (user) {
      // supervisor leaves HOME/USER/LOGNAME as drover's own; programs then read root's dotfiles
      env['HOME'] = user.home;
      env['USER'] = user.name;
      env['LOGNAME'] = user.name;
    }
    Object.assign(env, spec.environment);
    return env;
  }

  /** Sends a stop or kill signal; with group semantics it also reaches descendants that left the group. */
  private signalForStop(m: Managed, signal: string, toGroup: boolean): void {
    const pid = m.record.pid;
    if (pid === null) return;
    if ((toGroup || m.spec.killAsGroup) && m.stopSnapshot.length === 0) m.stopSnapshot = descendantsOf(pid, this.procTable());
    this.killAll(m, pid, signal, toGroup);
  }

  private killAll(m: Managed, pid: number, signal: string, toGroup = true): void {
    const pgid = m.followedPid === pid && m.followedPgid > 0 ? m.followedPgid : pid;
    if (toGroup) {
      sendSignal(pgid, signal, true);
      for (const d of m.stopSnapshot) {
        // descendants that moved to another group or session; pid reuse is ruled out by start time
        if (d.pgrp !== pgid && readStat(d.pid)?.startTicks === d.startTicks) sendSignal(d.pid, signal, false);
      }
    } else {
      sendSignal(pid, signal, false);
    }
  }

  private handleExit(ev: Extract<SupervisorEvent, { type: 'childExited' }>): void {
    // before anything else, and for a process already dropped too: what it held must not wait for a lease
    this.onWorkerExit?.(ev.key, ev.pid);
    const m = this.procs.get(ev.key);
    if (!m || m.spawnedPid !== ev.pid) return;
    const spec = m.spec;
    if (m.heartbeat) clearTimeout(m.heartbeat);
    m.heartbeat = null;
    m.child = null;
    m.spawnedPid = 0;
    const requested = m.record.stopRequested;
    // A program that forked a daemon and exited: follow its pidfile when configured.
    if (!requested && spec.pidfile !== null && m.followedPid === 0 && ev.code !== null && spec.exitCodes.includes(ev.code)) {
      this.waitForPidfile(m, ev.pid);
      return;
    }
    // What is known of the ended process, before a respawn replaces it: the reducer's sweepLeftovers effect
    // (killasgroup) and the self-daemonizing check below read it.
    m.gone = {
      pid: ev.pid,
      snapshot: m.stopSnapshot,
      startTicks: m.spawnedStartTicks,
      executable: m.executable,
      startedAtMs: m.record.startedAtMs ?? 0,
      requested,
      code: ev.code,
    };
    const gone = m.gone;
    this.guard?.remove(ev.pid);
    this.hooks?.fire('worker_exit', hookProcess(spec, ev.pid), { code: ev.code, signal: ev.signal });
    this.dispatch(m, { type: 'childExited', code: ev.code, signal: ev.signal });
    m.gone = null;
    if (!spec.killAsGroup) this.warnIfDaemonized(spec, gone);
  }

  /**
   * Whether an ended process can have left anything behind, so that the full /proc scan is worth it: its
   * group still has members, a stop recorded descendants, or it exited soon after starting with an
   * expected code (how a self-daemonizing program looks).
   */
  private mayHaveLeftovers(spec: ProcessSpec, gone: GoneExit): boolean {
    const quickExpected =
      !gone.requested && gone.code !== null && spec.exitCodes.includes(gone.code) && Date.now() - gone.startedAtMs < (spec.startSecs + 1) * 1000;
    return groupHasMembers(gone.pid) || gone.snapshot.length > 0 || quickExpected;
  }

  /** killasgroup: kill what the ended leader left (its group, recorded descendants) before any respawn. */
  private sweepLeftovers(spec: ProcessSpec, gone: GoneExit): void {
    if (!this.mayHaveLeftovers(spec, gone)) return;
    // only what is provably its own: the group, the session, the descendants a stop recorded
    const leftovers = this.leftBehind(gone, false);
    if (leftovers.length === 0) return;
    this.logger.warn(`${spec.name}: killing ${leftovers.length} process(es) left behind in its group: ${leftovers.map((p) => p.pid).join(', ')}`);
    sendSignal(gone.pid, 'KILL', true);
    for (const p of leftovers) if (p.pgrp !== gone.pid) sendSignal(p.pid, 'KILL', false);
  }

  /** Without killasgroup: warn about a program that left processes behind, as a self-daemonizing one does. */
  private warnIfDaemonized(spec: ProcessSpec, gone: GoneExit): void {
    if (gone.requested || !this.mayHaveLeftovers(spec, gone)) return;
    const leftovers = this.leftBehind(gone, true);
    if (leftovers.length === 0) return;
    const pids = leftovers.map((p) => `${p.pid} (${p.comm})`).join(', ');
    this.logger.warn(
      `${spec.name}: exited but left ${pids} running: the program seems to daemonize itself. ` +
        `Run it in the foreground (e.g. nginx "daemon off;", redis "daemonize no") or set pidfile= so drover follows it.`,
    );
  }

  private leftBehind(gone: GoneProcess, sameExecutable: boolean): ProcStat[] {
    return findLeftBehind(gone, this.procTable(), { sameExecutable });
  }

  /**
   * Polls the pidfile for up to max(startsecs, 3) s after a launcher exits, then reports what it found: a
   * pid that descends from the launcher and, with `user=`, runs as that user (whoever writes the pidfile
   * must not choose what root signals), or null with the reason the last pid read was refused.
   */
  private waitForPidfile(m: Managed, launcherPid: number): void {
    m.follow = null;
    const file = m.spec.pidfile as string;
    const deadline = Date.now() + Math.max(m.spec.startSecs, 3) * 1000;
    const launcher = { pid: launcherPid, startTicks: m.spawnedStartTicks };
    // the launcher ran as this user (spawn refuses a user= it cannot switch to), so must its daemon
    const uid = m.spec.user !== null ? (lookupUser(m.spec.user)?.uid ?? null) : null;
    let refused: string | null = null;
    const check = (): void => {
      const pid = readPidfile(file);
      // A pidfile left by the previous daemon names a dead (or zombie, when init is slow to reap) process
      // started before this launcher: wait for the new daemon to write its own.
      const st = pid !== null ? readStat(pid) : null;
      if (pid !== null && st !== null && st.state !== 'Z' && st.startTicks >= launcher.startTicks) {
        refused = followRefusal(pid, launcher, uid);
        if (refused === null) {
          this.push({ type: 'pidfileChecked', key: m.key, launcherPid, pid, refused });
          return;
        }
      }
      if (Date.now() >= deadline) {
        this.push({ type: 'pidfileChecked', key: m.key, launcherPid, pid: null, refused });
      } else {
        m.follow = setTimeout(check, 50);
      }
    };
    check();
  }

  private handlePidfile(ev: Extract<SupervisorEvent, { type: 'pidfileChecked' }>): void {
    const m = this.procs.get(ev.key);
    if (!m) return;
    this.guard?.remove(ev.launcherPid);
    if (ev.pid === null) {
      if (ev.refused !== null) this.logger.warn(`${m.spec.name}: launcher exited; not following the pid in ${m.spec.pidfile ?? ''}: ${ev.refused}`);
      else this.logger.warn(`${m.spec.name}: launcher exited but pidfile ${m.spec.pidfile ?? ''} names no live process`);
      this.dispatch(m, { type: 'childExited', code: null, signal: null });
      return;
    }
    m.followedPid = ev.pid;
    m.followedPgid = readStat(ev.pid)?.pgrp ?? ev.pid;
    this.guard?.add(m.followedPgid, readStat(m.followedPgid)?.startTicks ?? 0);
    this.logger.info(`${m.spec.name}: following pid ${ev.pid} from ${m.spec.pidfile ?? ''}`);
    this.dispatch(m, { type: 'pidFollowed', pid: ev.pid });
    const pid = ev.pid;
    // Not our child, so no exit event: poll. 100 ms keeps restarts prompt at negligible cost.
    const poll = (): void => {
      if (!processEnded(pid)) m.follow = setTimeout(poll, 100);
      else this.push({ type: 'followedPidGone', key: m.key, pid });
    };
    m.follow = setTimeout(poll, 100);
  }

  private stopFollowing(m: Managed): void {
    if (m.follow) clearTimeout(m.follow);
    m.follow = null;
    m.followedPid = 0;
    m.followedPgid = 0;
  }
}

// --- helpers ---

function timerEvent(timer: TimerName): ProcessEvent {
  switch (timer) {
    case 'startSecs':
      return { type: 'startSecsElapsed' };
    case 'backoff':
      return { type: 'backoffElapsed' };
    case 'stopTimeout':
      return { type: 'stopTimeoutElapsed' };
    case 'fatalCooldown':
      return { type: 'fatalCooldownElapsed' };
    default:
      return assertNever(timer);
  }
}

/** What a server hook learns about a process. */
function hookProcess(spec: ProcessSpec, pid: number | null): Record<string, unknown> {
  return { name: spec.name, group: spec.group, program: spec.programName, processNum: spec.processNum, pid };
}

/** Whether a process group still has members (signal 0 to -pgid: ESRCH when it is empty). */
function groupHasMembers(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    // ESRCH: no process left in the group; EPERM: members exist but belong to another user
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}


function assertNever(x: never): never {
  throw new InvariantError(`unhandled case ${JSON.stringify(x)}`);
}
