// The supervisor: owns every process, feeds the pure reducer one event at a time, and runs its effects.
// Every input — signals, child exits, timers, commands — is pushed on one queue; one consumer handles them
// in order, so a SIGTERM never interleaves with a half-done start (STYLE §4).
import type { ChildProcess } from 'node:child_process';
import { readFileSync, realpathSync } from 'node:fs';
import type { Config, ProcessSpec } from '../config/types.js';
import { InvariantError } from '../errors.js';
import type { Logger } from '../logs/logger.js';
import type { OutputSink } from '../logs/output.js';
import type { OrphanGuard } from '../os/guard.js';
import { descendantsOf, listProcesses, readExe, readStat, type ProcStat } from '../os/proc.js';
import { pidExists, sendSignal, spawnProcess } from '../os/spawn.js';
import { lookupUser } from '../os/users.js';
import { initialRecord, reduce, type Effect, type ProcessRecord, type Step, type TimerName } from './program.js';
import { SIGNALLABLE_STATES, STARTABLE_STATES, STOPPED_STATES, type ProcessEvent } from './states.js';

export type Mood = 'running' | 'shuttingDown' | 'stopped';

export type ControlCommand =
  | { readonly type: 'start'; readonly names: readonly string[] }
  | { readonly type: 'stop'; readonly names: readonly string[] }
  | { readonly type: 'signal'; readonly names: readonly string[]; readonly signal: string }
  | { readonly type: 'shutdown'; readonly fast: boolean };

export interface CommandOutcome {
  readonly name: string;
  readonly ok: boolean;
  readonly code?: string;
  readonly message?: string;
}

export type SupervisorEvent =
  | { readonly type: 'signalReceived'; readonly signal: string }
  | {
      readonly type: 'childExited';
      readonly name: string;
      readonly pid: number;
      readonly code: number | null;
      readonly signal: string | null;
    }
  | { readonly type: 'timerFired'; readonly name: string; readonly timer: TimerName; readonly gen: number }
  | { readonly type: 'pidfileChecked'; readonly name: string; readonly launcherPid: number; readonly pid: number | null }
  | { readonly type: 'followedPidGone'; readonly name: string; readonly pid: number }
  | {
      readonly type: 'commandReceived';
      readonly command: ControlCommand;
      readonly reply: (outcomes: readonly CommandOutcome[]) => void;
    };

/** What a listener hears about each state change. */
export interface ChangeEvent {
  readonly name: string;
  readonly group: string;
  readonly step: Step;
  readonly record: ProcessRecord;
}

/** One supervised process: its config, its state-machine record and the OS handles behind it. */
interface Managed {
  spec: ProcessSpec;
  /** the reducer's record; replaced only in `dispatch` */
  record: ProcessRecord;
  /** the Node child handle of the current process; null when none */
  child: ChildProcess | null;
  /** pid we spawned (the launcher for pidfile programs); 0 when none */
  spawnedPid: number;
  /** start ticks of spawnedPid, to recognise it in /proc */
  spawnedStartTicks: number;
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
}

export interface SupervisorOptions {
  readonly config: Config;
  readonly logger: Logger;
  readonly output: OutputSink;
  readonly guard: OrphanGuard | null;
  /** environment the programs inherit before their own `environment` (default: drover's) */
  readonly baseEnv?: Readonly<Record<string, string | undefined>>;
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
  /** priority levels still to stop during a shutdown, highest first */
  private stopLevels: number[] = [];
  /** change listeners */
  private readonly listeners = new Set<(e: ChangeEvent) => void>();
  /** counter for timer generations */
  private timerGen = 0;
  /** settles when the shutdown has finished; failed when it ended through an internal error */
  private readonly stopped: Promise<{ failed: boolean }>;
  private resolveStopped!: (r: { failed: boolean }) => void;
  /** keeps the event loop alive while supervising: signal listeners alone do not, so with every program
   * exited or fatal Node would otherwise end the process */
  private keepAlive: NodeJS.Timeout | null = null;
  /** INT signals seen; the second one turns a graceful shutdown into a fast one */
  private interrupts = 0;
  private readonly config: Config;
  private readonly logger: Logger;
  private readonly output: OutputSink;
  private readonly guard: OrphanGuard | null;
  private readonly baseEnv: Readonly<Record<string, string | undefined>>;

  constructor(opts: SupervisorOptions) {
    this.config = opts.config;
    this.logger = opts.logger;
    this.output = opts.output;
    this.guard = opts.guard;
    this.baseEnv = opts.baseEnv ?? process.env;
    this.stopped = new Promise((resolve) => (this.resolveStopped = resolve));
    const now = Date.now();
    for (const spec of opts.config.processes) {
      this.procs.set(spec.name, {
        spec,
        record: initialRecord(now),
        child: null,
        spawnedPid: 0,
        spawnedStartTicks: 0,
        executable: '',
        timers: new Map(),
        stopSnapshot: [],
        follow: null,
        followedPid: 0,
        followedPgid: 0,
      });
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
  start(): void {
    this.keepAlive ??= setInterval(() => undefined, 1 << 30);
    const order = [...this.procs.values()]
      .filter((m) => m.spec.autostart)
      .sort((a, b) => a.spec.priority - b.spec.priority);
    for (const m of order) this.dispatch(m, { type: 'startRequested' });
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

  /** A snapshot of every process, for status. */
  snapshot(): { spec: ProcessSpec; record: ProcessRecord }[] {
    return [...this.procs.values()].map((m) => ({ spec: m.spec, record: m.record }));
  }

  /** Runs a control command through the queue and resolves with one outcome per process. */
  command(command: ControlCommand): Promise<readonly CommandOutcome[]> {
    return new Promise((reply) => this.push({ type: 'commandReceived', command, reply }));
  }

  // --- internal ---

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
        const m = this.procs.get(ev.name);
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
        const m = this.procs.get(ev.name);
        if (!m || m.followedPid !== ev.pid) return;
        this.guard?.remove(m.followedPgid);
        this.stopFollowing(m);
        this.dispatch(m, { type: 'childExited', code: null, signal: null });
        break;
      }
      case 'commandReceived':
        ev.reply(this.runCommand(ev.command));
        break;
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
      HUP: () => this.logger.warn('SIGHUP received: configuration reload is not available yet; ignored'),
      USR1: () => {
        this.output.reopen();
        this.logger.info('SIGUSR1 received: reopened the log files');
      },
    };
    const handler = handlers[signal];
    if (handler) handler();
    else this.logger.warn(`SIG${signal} received: no action for it in this mode; ignored`);
  }

  private runCommand(cmd: ControlCommand): CommandOutcome[] {
    switch (cmd.type) {
      case 'shutdown':
        this.beginShutdown(cmd.fast, 'shutdown requested');
        return [{ name: '*', ok: true }];
      case 'start':
        return cmd.names.map((name) => this.startOne(name));
      case 'stop':
        return cmd.names.map((name) => this.stopOne(name));
      case 'signal':
        return cmd.names.map((name) => this.signalOne(name, cmd.signal));
      default:
        return assertNever(cmd);
    }
  }

  private startOne(name: string): CommandOutcome {
    const m = this.procs.get(name);
    if (!m) return { name, ok: false, code: 'E_BAD_NAME', message: `no such process: ${name}` };
    if (this.mood !== 'running') return { name, ok: false, code: 'E_SHUTTING_DOWN', message: 'shutting down' };
    if (!STARTABLE_STATES.has(m.record.state)) {
      return { name, ok: false, code: 'E_ALREADY_STARTED', message: `${name} is ${m.record.state}` };
    }
    this.dispatch(m, { type: 'startRequested' });
    return { name, ok: true };
  }

  private stopOne(name: string): CommandOutcome {
    const m = this.procs.get(name);
    if (!m) return { name, ok: false, code: 'E_BAD_NAME', message: `no such process: ${name}` };
    const st = m.record.state;
    const cooling = st === 'fatal' && m.timers.has('fatalCooldown');
    if (st === 'stopping') return { name, ok: true };
    if (STOPPED_STATES.has(st) && !cooling) {
      return { name, ok: false, code: 'E_NOT_RUNNING', message: `${name} is ${st}` };
    }
    this.dispatch(m, { type: 'stopRequested' });
    return { name, ok: true };
  }

  private signalOne(name: string, signal: string): CommandOutcome {
    const m = this.procs.get(name);
    if (!m) return { name, ok: false, code: 'E_BAD_NAME', message: `no such process: ${name}` };
    const pid = m.record.pid;
    if (!SIGNALLABLE_STATES.has(m.record.state) || pid === null) {
      return { name, ok: false, code: 'E_NOT_RUNNING', message: `${name} is ${m.record.state}` };
    }
    sendSignal(pid, signal, m.spec.stopAsGroup);
    return { name, ok: true };
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
    const e: ChangeEvent = { name: m.spec.name, group: m.spec.group, step, record: m.record };
    for (const l of this.listeners) l(e);
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
          () => this.push({ type: 'timerFired', name: m.spec.name, timer: effect.timer, gen }),
          effect.ms,
        );
        m.timers.set(effect.timer, { handle, gen });
        break;
      }
      case 'cancelTimer':
        this.cancelTimer(m, effect.timer);
        break;
      case 'sweepLeftovers':
        // done in handleExit, which knows the pid that just ended
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
    const env = this.environmentFor(spec, user);
    const result = spawnProcess({
      argv: spec.argv,
      env,
      cwd: spec.directory,
      umask: spec.umask,
      user,
      pdeathsig: spec.pdeathsig,
      stdinPipe: true,
    });
    if (!result.ok) {
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
    this.guard?.add(pid);
    child.stdin?.on('error', () => undefined); // EPIPE when the program closes its stdin: harmless
    // with redirect_stderr the sink writes stderr into the stdout log, still knowing which stream a line came from
    if (child.stdout) this.output.attach(spec.name, 'stdout', child.stdout);
    if (child.stderr) this.output.attach(spec.name, 'stderr', child.stderr);
    child.once('exit', (code, signal) =>
      this.push({ type: 'childExited', name: spec.name, pid, code, signal: signal ? signal.slice(3) : null }),
    );
    this.logger.info(`spawned: ${spec.name} with pid ${pid}`);
    this.dispatch(m, { type: 'spawned', pid });
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
    if ((toGroup || m.spec.killAsGroup) && m.stopSnapshot.length === 0) m.stopSnapshot = descendantsOf(pid);
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
    const m = this.procs.get(ev.name);
    if (!m || m.spawnedPid !== ev.pid) return;
    const spec = m.spec;
    m.child = null;
    m.spawnedPid = 0;
    const requested = m.record.stopRequested;
    // A program that forked a daemon and exited: follow its pidfile when configured.
    if (!requested && spec.pidfile !== null && m.followedPid === 0 && ev.code !== null && spec.exitCodes.includes(ev.code)) {
      this.waitForPidfile(m, ev.pid);
      return;
    }
    const leftovers = this.leftBehind(m, ev.pid);
    if (spec.killAsGroup) {
      if (leftovers.length > 0) {
        this.logger.warn(
          `${spec.name}: killing ${leftovers.length} process(es) left behind in its group: ${leftovers.map((p) => p.pid).join(', ')}`,
        );
        sendSignal(ev.pid, 'KILL', true);
        for (const p of leftovers) if (p.pgrp !== ev.pid) sendSignal(p.pid, 'KILL', false);
      }
    } else if (leftovers.length > 0 && !requested) {
      const pids = leftovers.map((p) => `${p.pid} (${p.comm})`).join(', ');
      this.logger.warn(
        `${spec.name}: exited but left ${pids} running: the program seems to daemonize itself. ` +
          `Run it in the foreground (e.g. nginx "daemon off;", redis "daemonize no") or set pidfile= so drover follows it.`,
      );
    }
    this.guard?.remove(ev.pid);
    this.dispatch(m, { type: 'childExited', code: ev.code, signal: ev.signal });
  }

  /**
   * Processes the ended pid left behind: members of its group or session, the descendants recorded when
   * a stop began, and orphans of the same executable started since it was spawned (a daemon's child has
   * left the group by the time the exit is seen, so the executable and start time are what is left).
   */
  private leftBehind(m: Managed, pid: number): ProcStat[] {
    const table = listProcesses();
    let exe: string | null = null;
    try {
      exe = realpathSync(m.executable);
    } catch {
      exe = null; // the program file was removed since; skip that criterion
    }
    const me = process.pid;
    const snap = new Map(m.stopSnapshot.map((p) => [p.pid, p.startTicks]));
    return table.filter((p) => {
      if (p.state === 'Z' || p.pid === me) return false;
      if (p.pgrp === pid || p.session === pid) return true;
      if (snap.get(p.pid) === p.startTicks) return true;
      return (
        exe !== null &&
        p.ppid === 1 &&
        p.startTicks >= m.spawnedStartTicks &&
        m.spawnedStartTicks > 0 &&
        readExe(p.pid) === exe
      );
    });
  }

  /** Polls the pidfile for up to max(startsecs, 3) s after a launcher exits, then reports what it found. */
  private waitForPidfile(m: Managed, launcherPid: number): void {
    m.follow = null;
    const file = m.spec.pidfile as string;
    const deadline = Date.now() + Math.max(m.spec.startSecs, 3) * 1000;
    const launcherStart = m.spawnedStartTicks;
    const check = (): void => {
      const pid = readPidfile(file);
      // A pidfile left by the previous daemon names a dead (or zombie, when init is slow to reap) process
      // started before this launcher: wait for the new daemon to write its own.
      const st = pid !== null ? readStat(pid) : null;
      if (pid !== null && st !== null && st.state !== 'Z' && st.startTicks >= launcherStart) {
        this.push({ type: 'pidfileChecked', name: m.spec.name, launcherPid, pid });
      } else if (Date.now() >= deadline) {
        this.push({ type: 'pidfileChecked', name: m.spec.name, launcherPid, pid: null });
      } else {
        m.follow = setTimeout(check, 50);
      }
    };
    check();
  }

  private handlePidfile(ev: Extract<SupervisorEvent, { type: 'pidfileChecked' }>): void {
    const m = this.procs.get(ev.name);
    if (!m) return;
    this.guard?.remove(ev.launcherPid);
    if (ev.pid === null) {
      this.logger.warn(`${m.spec.name}: launcher exited but pidfile ${m.spec.pidfile ?? ''} names no live process`);
      this.dispatch(m, { type: 'childExited', code: null, signal: null });
      return;
    }
    m.followedPid = ev.pid;
    m.followedPgid = readStat(ev.pid)?.pgrp ?? ev.pid;
    this.guard?.add(m.followedPgid);
    this.logger.info(`${m.spec.name}: following pid ${ev.pid} from ${m.spec.pidfile ?? ''}`);
    this.dispatch(m, { type: 'pidFollowed', pid: ev.pid });
    const pid = ev.pid;
    // Not our child, so no exit event: poll. 100 ms keeps restarts prompt at negligible cost.
    const poll = (): void => {
      if (pidExists(pid) && readStat(pid)?.state !== 'Z') m.follow = setTimeout(poll, 100);
      else this.push({ type: 'followedPidGone', name: m.spec.name, pid });
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

function readPidfile(file: string): number | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    // ENOENT: not written yet
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

function assertNever(x: never): never {
  throw new InvariantError(`unhandled case ${JSON.stringify(x)}`);
}
