// The supervisor: owns the process table, feeds the pure reducer one event at a time, and runs its effects.
// Every input — signals, child exits, timers, kind events, commands — is pushed on one queue; one consumer
// handles them in order, so a SIGTERM never interleaves with a half-done start (STYLE §4). What happens to
// a process is decided by the reducer; how it is launched and ended by the launcher; pidfile programs by the
// follower; control commands by Commands. Signals other than TERM/INT/QUIT are handled by whoever the
// daemon registers for them (reload, re-exec, the prefork arbiter, the log sink).
import { steadyNowMs } from '../os/clock.js';
import { timerDelay } from '../os/timers.js';
import type { Config, ProcessSpec } from '../config/types.js';
import { InvariantError } from '../errors.js';
import type { Logger } from '../logs/logger.js';
import type { OutputSink } from '../logs/output.js';
import type { OrphanGuard } from '../os/guard.js';
import type { CoreHost } from './_host.js';
import { Commands } from './commands.js';
import { Follower } from './follower.js';
import type { KindContext, ProcessKind } from './kind.js';
import { Listeners } from './_listeners.js';
import { Launcher, type LaunchEnv, type LaunchHooks, type OutputTap, type SocketFds } from './launcher.js';
import { Orchestration } from './orchestration.js';
import { PredecessorHold } from './predecessor.js';
import { Shutdown, type StopResult } from './shutdown.js';
export type { StopResult } from './shutdown.js';
import { reduce, stepLevel, timerEvent, type Effect, type Step, type TimerName } from './program.js';
import type { ProcessEvent } from './states.js';
import { dropTimer, ProcessTable, setTimer, timerOf, type ProcessEntry } from './table.js';
import type { ChangeEvent, CommandOutcome, ControlCommand, DesiredStateStore, GroupChange, Mood, ProcessSnapshot, SupervisorEvent } from './types.js';

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
  readonly sockets?: SocketFds | null;
  /** kinds of process beyond plain commands (drover workers, …) */
  readonly kinds?: readonly ProcessKind[];
  /** server hooks (pre_spawn, post_spawn, worker_exit), called without waiting */
  readonly hooks?: LaunchHooks | null;
  /** environment added to each launch by a layer above (a ready check's NOTIFY_SOCKET) */
  readonly launchEnv?: LaunchEnv | null;
  /** sees every process's output on its way to the logs (event listeners' PROCESS_LOG); null: none */
  readonly outputTap?: OutputTap | null;
  /** drover's own URL, for programs' SUPERVISOR_SERVER_URL (src/daemon/listeners.ts) */
  readonly serverUrl?: () => string | null;
}

/** A handler for a signal to the master; runs inside the event loop, in order with everything else. */
export type SignalHandler = () => void;

export class Supervisor implements CoreHost {
  readonly table = new ProcessTable();
  readonly logger: Logger;
  /** the single event queue; handled strictly in order by `drain` */
  private readonly queue: SupervisorEvent[] = [];
  /** true while `drain` is working through the queue */
  private draining = false;
  /** inside `handle`: a dispatch is followed by the settling every event ends with */
  private handling = false;
  /** a `settle` event is on the queue for a dispatch made outside `handle` */
  private settleQueued = false;
  /** listeners to state changes, to the supervisor's own mood, and to groups coming and going */
  private readonly listeners = new Listeners<[ChangeEvent]>();
  private readonly moodListeners = new Listeners<[Mood]>();
  private readonly groupListeners = new Listeners<[string, GroupChange]>();
  /** signal name (without SIG) → handler; TERM, INT and QUIT are the supervisor's own */
  private readonly signalHandlers = new Map<string, SignalHandler>();
  /** counter for timer generations */
  private timerGen = 0;
  /** INT signals seen; the second one turns a graceful shutdown into a fast one */
  private interrupts = 0;
  /** the active config; replaced when an update applies to every group */
  private config: Config;
  private readonly follower: Follower;
  private readonly launcher: Launcher;
  private readonly commands: Commands;
  private readonly orchestration: Orchestration;
  private readonly shutdown: Shutdown;
  /** after a USR2: the processes the previous master still stops, until it exits (none otherwise) */
  readonly predecessor = new PredecessorHold();

  constructor(opts: SupervisorOptions) {
    this.config = opts.config;
    this.logger = opts.logger;
    const kinds = opts.kinds ?? [];
    this.follower = new Follower(this, opts.guard, (e, signal, toGroup) => this.launcher.signalForStop(e, signal, toGroup));
    this.launcher = new Launcher(this, this.follower, {
      output: opts.output,
      guard: opts.guard,
      baseEnv: opts.baseEnv ?? process.env,
      kinds,
      sockets: opts.sockets ?? null,
      hooks: opts.hooks ?? null,
      launchEnv: opts.launchEnv ?? null,
      outputTap: opts.outputTap ?? null,
      stripAnsi: () => this.config.supervisord.strip_ansi,
      serverUrl: () => opts.serverUrl?.() ?? null,
    });
    this.orchestration = new Orchestration(this, (e) => this.commands.changed(e));
    this.commands = new Commands(this, this.follower, this.orchestration, {
      output: opts.output,
      desired: opts.desired ?? null,
      config: { get: () => this.config, set: (c) => (this.config = c) },
      preflight: (spec) => this.predecessor.refusal(spec) ?? this.launcher.preflight(spec),
    });
    this.shutdown = new Shutdown({
      table: this.table,
      logger: this.logger,
      guard: opts.guard,
      leftovers: this.launcher.leftovers,
      orchestration: this.orchestration,
      dispatch: (e, ev) => this.dispatch(e, ev),
      killNow: (e) => this.launcher.killNow(e),
      holdsStop: (e) => this.launcher.kindOf(e.spec)?.holdsStop?.(e) ?? false,
      onMood: (mood) => this.moodListeners.emit(mood),
    });
    for (const sig of ['TERM', 'PWR', 'RTMIN+3', 'RTMIN+4']) this.onSignal(sig, () => this.shutdown.begin(false, `SIG${sig}`)); // docs/containers.md
    this.onSignal('INT', () => {
      this.interrupts += 1;
      this.shutdown.begin(this.interrupts > 1, this.interrupts > 1 ? 'second SIGINT' : 'SIGINT');
    });
    this.onSignal('QUIT', () => this.shutdown.begin(true, 'SIGQUIT'));
    const ctx: KindContext = {
      logger: this.logger,
      push: (key, pid, event) => this.push({ type: 'kindEvent', key, pid, event }),
      dispatch: (entry, event) => this.dispatch(entry, event),
    };
    for (const kind of kinds) kind.bind(ctx);
    for (const g of opts.config.groups) this.table.setGroup(g);
    for (const spec of opts.config.processes) this.commands.addProcess(spec);
  }

  get mood(): Mood {
    return this.shutdown.mood;
  }

  /** Pushes an event; listeners call only this and return (no logging, no awaits). */
  push(event: SupervisorEvent): void {
    this.queue.push(event);
    if (!this.draining) {
      this.draining = true;
      setImmediate(() => void this.drain());
    }
  }

  /** Handles SIG`name` with `handler` (replacing an earlier one); unknown signals are logged and ignored. */
  onSignal(name: string, handler: SignalHandler): void {
    this.signalHandlers.set(name, handler);
  }

  /** Starts every autostart process matching `only`, in ascending priority (config order breaks ties). */
  start(only?: (spec: ProcessSpec) => boolean): void {
    this.shutdown.hold();
    this.commands.startAutostart(this.table.entries().filter((e) => !only || only(e.spec)));
  }

  /** Starts the autostart processes that `start(only)` left out (after a re-exec handover). */
  startRemaining(): void {
    if (this.shutdown.mood === 'running') this.commands.startAutostart(this.table.entries());
  }

  /** Settles once a shutdown has stopped every process. */
  whenStopped(): Promise<StopResult> {
    return this.shutdown.stopped;
  }

  /** Why a stopped process has not started yet (its dependencies), and whether one failed; null: it does not wait. */
  waitingFor(key: string): { waiting: string | null; blocked: boolean } {
    const entry = this.table.get(key);
    if (!entry) return { waiting: null, blocked: false };
    return { waiting: this.predecessor.detail(key) ?? this.orchestration.waitingReason(entry), blocked: this.orchestration.blockedReason(entry) !== null };
  }

  /** The user and environment a command run for the program (an exec check) gets: the program's own. */
  runAs(spec: ProcessSpec): ReturnType<Launcher['runAs']> {
    return this.launcher.runAs(spec);
  }

  /** A check's verdict on the process `spawn` (its spawn count) of `key`, from a layer above; queued. */
  report(key: string, spawn: number, event: Extract<ProcessEvent, { type: 'readyReported' | 'healthCheckPassed' | 'healthCheckFailed' }>): void {
    this.push({ type: 'checkReported', key, spawn, event });
  }

  /** Subscribes to state changes; returns an unsubscribe function. */
  onChange(listener: (e: ChangeEvent) => void): () => void {
    return this.listeners.add(listener);
  }

  /** Why the shutdown began ('SIGTERM', 'SIGQUIT', …); null while running. */
  get shutdownCause(): string | null {
    return this.shutdown.cause;
  }

  /** Subscribes to the supervisor's mood (a shutdown beginning, ending); returns an unsubscribe function. */
  onMoodChange(listener: (mood: Mood) => void): () => void {
    return this.moodListeners.add(listener);
  }

  /** Subscribes to groups added, removed or updated at run time (not the ones of the first config). */
  onGroupChange(listener: (name: string, change: GroupChange) => void): () => void {
    return this.groupListeners.add(listener);
  }

  /** Tells the group listeners (called by commands once a group's processes are registered or dropped). */
  groupChanged(name: string, change: GroupChange): void {
    this.groupListeners.emit(name, change);
  }

  /** A snapshot of every process, in table order, for status. */
  snapshot(): ProcessSnapshot[] {
    return this.table.snapshot();
  }

  /** The active groups, sorted as supervisord sorts them (priority, then activation order). */
  activeGroups(): ReturnType<ProcessTable['activeGroups']> {
    return this.table.activeGroups();
  }

  /** The supervisor's mood, as supervisor's getState reports it. */
  get state(): Mood {
    return this.shutdown.mood;
  }

  /** The active config (the file as last applied to every group). */
  get activeConfig(): Config {
    return this.config;
  }

  /** A process's stdin, for sendProcessStdin; null when it has none or it is closed. */
  stdinOf(key: string): NodeJS.WritableStream | null {
    return this.table.get(key)?.stdin?.stream() ?? null;
  }

  /** Runs a control command through the queue and resolves with one outcome per process. */
  command(command: ControlCommand): Promise<readonly CommandOutcome[]> {
    return new Promise((reply) => this.push({ type: 'commandReceived', command, reply }));
  }

  // --- for process kinds and pool owners (src/prefork), from inside the event loop ---

  /** Registers (without starting) a process for `spec`; null when its key is taken. */
  addProcess(spec: ProcessSpec): ProcessEntry | null {
    return this.table.has(`${spec.group}:${spec.name}`) ? null : this.commands.addProcess(spec);
  }

  /** Whether a process stays stopped until started by hand: an operator stopped it, or autostart=false and not started. */
  keptStopped(p: { readonly key: string; readonly spec: ProcessSpec }): boolean {
    return !this.commands.wantsRunning(p.key, p.spec);
  }

  /** Starts `entry` now, from inside the event being handled. */
  startNow(entry: ProcessEntry): void {
    this.dispatch(entry, { type: 'startRequested' });
  }

  /** Stops `entry` (gracefully, not remembered as an operator's stop) and resolves once it has stopped. */
  stopEntry(entry: ProcessEntry): Promise<CommandOutcome> {
    return this.commands.stopOne(entry.key, true, 'drover');
  }

  /** Tries a FATAL `entry` again after `ms`, as its own `fatal_cooldown` would; a stop, start or shutdown calls it off. */
  coolDown(entry: ProcessEntry, ms: number): void {
    if (entry.record.state === 'fatal') this.runEffect(entry, { type: 'startTimer', timer: 'fatalCooldown', ms });
  }

  /** Forgets a stopped process. */
  drop(entry: ProcessEntry): void {
    this.commands.drop(entry);
  }

  /** An error nothing else caught (a throw in a timer or a microtask): handled like an internal error; `source` says whose code threw, when known. */
  failUnexpectedly(err: unknown, source: string | null = null): void {
    if (this.shutdown.mood !== 'stopped') this.shutdown.crash(err, source);
  }

  /** Feeds one event to the reducer, records the result, logs each change and runs the effects. */
  dispatch(entry: ProcessEntry, event: ProcessEvent): void {
    // steady: a record's times are the base of its uptime, startsecs and group grace, which a clock step must not move
    const result = reduce(entry.spec, entry.record, event, { nowMs: steadyNowMs(), shuttingDown: this.shutdown.mood !== 'running', random: Math.random() });
    entry.record = result.record;
    for (const step of result.steps) this.changeState(entry, step);
    for (const effect of result.effects) this.runEffect(entry, effect);
    // a change outside an event (a FATAL spawn failure at start-up, a command's step after an await): what
    // follows every event (dependents started, an essential program's end acted on) follows it too, once
    if (!this.handling && !this.settleQueued) {
      this.settleQueued = true;
      this.push({ type: 'settle' });
    }
  }

  // --- internal ---

  private async drain(): Promise<void> {
    try {
      for (let ev = this.queue.shift(); ev !== undefined; ev = this.queue.shift()) {
        try {
          this.handle(ev);
        } catch (err) {
          this.shutdown.crash(err);
          return;
        }
      }
    } finally {
      this.draining = false;
    }
  }

  private handle(ev: SupervisorEvent): void {
    this.handling = true;
    try {
      this.handleOne(ev);
    } finally {
      this.handling = false;
    }
  }

  private handleOne(ev: SupervisorEvent): void {
    switch (ev.type) {
      case 'settle':
        this.settleQueued = false; // what every event ends with, below, is all it asks for
        break;
      case 'signalReceived': {
        const handler = this.signalHandlers.get(ev.signal);
        if (handler) handler();
        else this.logger.warn(`SIG${ev.signal} received: no action for it in this mode; ignored`);
        break;
      }
      case 'childExited':
        this.launcher.childExited(ev);
        break;
      case 'timerFired': {
        const entry = this.table.get(ev.key);
        const t = entry && timerOf(entry, ev.timer);
        if (!entry || !t || t.gen !== ev.gen) return; // cancelled or replaced after it was queued
        dropTimer(entry, ev.timer);
        this.dispatch(entry, timerEvent(ev.timer));
        break;
      }
      case 'leftoversDue':
        this.launcher.leftovers.due(ev.pgid);
        break;
      case 'pidfileChecked':
        this.follower.pidfileChecked(ev);
        break;
      case 'followedPidGone':
        this.follower.followedPidGone(ev);
        break;
      case 'checkReported': {
        const entry = this.table.get(ev.key);
        // from a process that has ended or been replaced meanwhile
        if (!entry || entry.record.spawns !== ev.spawn || entry.record.pid === null) return;
        this.dispatch(entry, ev.event);
        break;
      }
      case 'kindEvent': {
        const entry = this.table.get(ev.key);
        if (!entry || entry.spawnedPid !== ev.pid) return; // from a process that has been replaced meanwhile
        this.launcher.kindOf(entry.spec)?.handle(entry, ev.event);
        break;
      }
      case 'commandReceived':
        // a command that throws (even after an await) is an internal error: stop everything, never leave
        // the rejection unhandled (which would end drover without stopping its children)
        if (ev.command.type === 'shutdown') {
          this.shutdown.begin(ev.command.fast, 'shutdown requested');
          ev.reply([{ key: '*', ok: true }]);
        } else {
          void this.commands.run(ev.command).then(ev.reply, (err: unknown) => this.shutdown.crash(err));
        }
        break;
      default:
        assertNever(ev);
    }
    this.orchestration.settle();
    const ending = this.orchestration.ending;
    if (ending !== null && this.shutdown.mood === 'running') this.shutdown.begin(false, ending.why);
    this.shutdown.advance();
  }

  /** The one place a change is announced: log line `name: from → to (reason)` and one event. */
 private changeState(entry: ProcessEntry, step: Step): void {
    this.logger.log(stepLevel(entry.spec, step), `${entry.spec.name}: ${step.from} → ${step.to} (${step.reason})`);
    const e: ChangeEvent = { key: entry.key, name: entry.spec.name, group: entry.spec.group, step, record: entry.record, spec: entry.spec };
    this.listeners.emit(e);
    this.orchestration.changed(entry);
    this.commands.changed(entry);
  }

  private runEffect(entry: ProcessEntry, effect: Effect): void {
    switch (effect.type) {
      case 'spawn':
        this.launcher.spawn(entry);
        break;
      case 'sendSignal':
        if (effect.overdue) {
          // a worker program's stop wait is its graceful_timeout (--graceful-timeout in drover serve)
          const key = entry.spec.worker ? 'graceful_timeout, --graceful-timeout' : 'stopwaitsecs';
          this.logger.warn(`${entry.spec.name}: still running ${entry.spec.stopWaitSecs}s after its stop signal (${key}): SIGKILL to pid ${entry.record.pid ?? '?'}${effect.toGroup ? ' and its process group' : ''}`);
        }
        this.launcher.signalForStop(entry, effect.signal, effect.toGroup);
        break;
      case 'startTimer': {
        this.cancelTimer(entry, effect.timer);
        const gen = ++this.timerGen;
        const handle = setTimeout(() => this.push({ type: 'timerFired', key: entry.key, timer: effect.timer, gen }), timerDelay(effect.ms));
        setTimer(entry, effect.timer, { handle, gen });
        break;
      }
      case 'cancelTimer':
        this.cancelTimer(entry, effect.timer);
        break;
      case 'sweepLeftovers':
        this.launcher.sweepLeftovers(entry);
        break;
      default:
        assertNever(effect);
    }
  }

  private cancelTimer(entry: ProcessEntry, timer: TimerName): void {
    const t = dropTimer(entry, timer);
    if (t) clearTimeout(t.handle);
  }
}

function assertNever(x: never): never {
  throw new InvariantError(`unhandled case ${JSON.stringify(x)}`);
}
