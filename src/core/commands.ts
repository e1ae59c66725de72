// Control commands: start, stop, signal, apply a config, add or remove a group, scale a program. Each runs
// inside the supervisor's event loop and answers one outcome per process (or group), with supervisor's
// error meanings. Commands that wait resolve when their process reaches the state they wait for.
import { diffConfigs, listenerOf, onlyStartGatesDiffer, processKey } from '../config/diff.js';
import type { Config, ProcessSpec } from '../config/types.js';
import type { OutputSink } from '../logs/output.js';
import { sendSignal } from '../os/spawn.js';
import type { CoreHost } from './_host.js';
import { clearHistory } from './fresh-records.js';
import type { Follower } from './follower.js';
import type { Orchestration } from './orchestration.js';
import { startInOrder, stopEachInOrder, stopInOrder, type OneByOne, type StopBy } from './ordered.js';
import { notReadyInTime } from './policy.js';
import { SIGNALLABLE_STATES, STARTABLE_STATES, STOPPED_STATES } from './states.js';
import { clearTimers, compareRank, timerOf, type ProcessEntry } from './table.js';
import { spawnFailureCode, type CommandOutcome, type ControlCommand, type DesiredStateStore } from './types.js';

export interface CommandsOptions {
  readonly output: OutputSink;
  /** where manual starts and stops are remembered; null: not remembered */
  readonly desired: DesiredStateStore | null;
  /** the active config, and replacing it once an update applies to every group */
  readonly config: { get(): Config; set(config: Config): void };
  /** why a process's command cannot run, checked before a start is requested (Launcher.preflight) */
  readonly preflight: (spec: ProcessSpec) => { readonly reason: string; readonly message: string } | null;
}

/** A command waiting for a process to reach a state. */
interface Waiter {
  readonly key: string;
  readonly check: (entry: ProcessEntry) => CommandOutcome | null;
  readonly resolve: (o: CommandOutcome) => void;
}

export class Commands {
  /** commands waiting for a process to reach a state; checked after each state change */
  private readonly waiters = new Set<Waiter>();
  /** stops that wait for the programs depending on them (stopInOrder), by key, with the command's token */
  private readonly delayedStops = new Map<string, symbol>();
  /** what the ordered start and stop of several processes use of this (ordered.ts) */
  private readonly ordered: OneByOne;
  /** processes an update or scale is stopping to drop or to give a new config: a start waits until that is done */
  private readonly leaving = new WeakSet<ProcessEntry>();

  constructor(
    private readonly host: CoreHost,
    private readonly follower: Follower,
    private readonly orch: Orchestration,
    private readonly o: CommandsOptions,
  ) {
    this.ordered = {
      get table() {
        return host.table;
      },
      orch,
      delayedStops: this.delayedStops,
      startOne: (key, wait, forUpdate) => this.startOne(key, wait, true, forUpdate),
      stopOne: (key, wait, by) => this.stopOne(key, wait, by),
      whenStopped: (entry) => this.waitFor(entry, (e) => (STOPPED_STATES.has(e.record.state) ? { key: e.key, ok: true } : null)),
    };
  }

  /** Runs one command; resolves with its outcomes. */
  run(cmd: Exclude<ControlCommand, { type: 'shutdown' }>): Promise<CommandOutcome[]> {
    switch (cmd.type) {
      case 'start':
        return startInOrder(this.ordered, cmd.keys, cmd.wait, cmd.forUpdate === true);
      case 'stop':
        return stopInOrder(this.ordered, cmd.keys, cmd.wait, cmd.forRestart === true ? 'restart' : 'operator');
      case 'signal':
        return Promise.resolve(cmd.keys.map((key) => this.signalOne(key, cmd.signal)));
      case 'applyConfig':
        return this.applyConfig(cmd.config, cmd.groups, cmd.managedElsewhere ?? (() => false));
      case 'clearHistory':
        return Promise.resolve(clearHistory(this.host, cmd.keys));
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

  /** Registers a process (at construction, or when an update adds it). */
  addProcess(spec: ProcessSpec): ProcessEntry {
    this.o.output.register(spec);
    this.orch.invalidate();
    return this.host.table.add(spec);
  }

  /**
   * Starts processes that should run: autostart (unless stopped by hand earlier) or started by hand earlier,
   * in ascending group priority, then priority; one whose dependencies do not hold yet waits, and they are
   * started first (unless stopped by hand).
   */
  startAutostart(list: readonly ProcessEntry[]): void {
    const table = this.host.table;
    const order = list
      .filter((e) => this.wantsRunning(e.key, e.spec))
      .sort((a, b) => compareRank(table.rank(a.spec), table.rank(b.spec)));
    // each process is asked to start once in a pass: one that failed at once (FATAL: it cannot exec) is not
    // started again because a dependent pulls it, or comes next in the order
    const asked = new Set<string>();
    const pull = (dep: ProcessEntry): boolean => {
      if (asked.has(dep.key) || this.o.desired?.get(dep.key) === 'stopped') return false;
      asked.add(dep.key);
      return true;
    };
    for (const e of order) {
      if (!STARTABLE_STATES.has(e.record.state) || asked.has(e.key)) continue;
      asked.add(e.key);
      this.orch.requestStart(e, pull);
    }
    this.orch.settle();
  }

  /** Whether a process should run: autostart, unless stopped by hand earlier, or started by hand earlier. */
  wantsRunning(key: string, spec: ProcessSpec): boolean {
    const want = this.o.desired?.get(key) ?? null;
    return want === 'started' || (want === null && spec.autostart);
  }

  startOne(key: string, wait: boolean, remember = true, forUpdate = false): Promise<CommandOutcome> {
    this.delayedStops.delete(key); // a stop still waiting for the programs that depend on this one is called off
    const entry = this.host.table.get(key);
    if (!entry) return Promise.resolve({ key, ok: false, code: 'E_BAD_NAME', message: `no such process: ${key}` });
    // the start a restart (or an earlier start, while it was stopping) promised its dependents: this one
    this.orch.startCame(entry);
    if (this.host.mood !== 'running') {
      return Promise.resolve({ key, ok: false, code: 'E_SHUTTING_DOWN', message: 'drover is shutting down' });
    }
    // a command that is not there or not executable: say so and change nothing, as supervisor's startProcess
    // does (before it looks at the state)
    const cannot = this.o.preflight(entry.spec);
    if (cannot !== null) {
      this.orch.settle(); // dependents that waited for the start promised now see it will not come
      return Promise.resolve({ key, ok: false, code: spawnFailureCode(cannot.reason), message: cannot.message });
    }
    if (entry.record.state === 'stopping' || this.leaving.has(entry)) {
      // A start while the process is on its way down starts it once it is no longer stopping (an unhealthy stop
      // goes on to starting: the start finds it started) or an update or scale is done with it (dropped: told so;
      // a new config: starts with that). Its dependents wait for it; an operator's stop after it calls it off.
      this.orch.startAfterStop(entry);
      if (remember) this.orch.stoppedByHand.delete(entry); // the later word wins: see the called-off start below
      const later = this.waitFor(entry, (e) => (e.record.state === 'stopping' || this.leaving.has(e) ? null : { key, ok: true })).then((o): CommandOutcome | Promise<CommandOutcome> => {
        if (!o.ok || !this.orch.stoppedByHand.has(entry)) return o.ok ? this.startOne(key, wait, remember, forUpdate) : o;
        this.orch.startCalledOff(entry); // dependents see the stop by hand again
        return { key, ok: false, code: 'E_ABNORMAL_TERMINATION', message: `${key} was not started: it was stopped again meanwhile` };
      });
      if (wait) return later;
      void later;
      return Promise.resolve({ key, ok: true, message: `starts once ${entry.record.state === 'stopping' ? 'stopped' : 'updated'}` });
    }
    if (!STARTABLE_STATES.has(entry.record.state)) {
      return Promise.resolve(entry.record.state === 'unknown' ? { key, ok: false, code: 'E_FAILED', message: `${key} is unknown: its process, out of drover's reach, may still run` } : { key, ok: false, code: 'E_ALREADY_STARTED', message: `${key} is ${entry.record.state}` });
    }
    if (remember) {
      this.o.desired?.set(key, entry.spec.autostart ? null : 'started');
      this.orch.stoppedByHand.delete(entry);
    }
    entry.spawnFailure = null;
    const spawns = entry.record.spawns;
    // `drover start web` starts what web depends on first (an update's, as `up`, not one an operator stopped); web
    // starts when that holds. A dependency on its way down (not by an operator, nor restarting) starts once stopped.
    const how = this.orch.requestStart(entry, (dep) => {
      if (forUpdate && (this.orch.stoppedByHand.has(dep) || this.o.desired?.get(dep.key) === 'stopped')) return false;
      if (dep.record.state === 'stopping') void this.startOne(dep.key, false, false);
      return dep.record.state !== 'stopping';
    });
    this.orch.settle();
    if (entry.spawnFailure !== null) {
      // the spawn failed synchronously: say why, as supervisor's startProcess does (NO_FILE, NOT_EXECUTABLE)
      return Promise.resolve({ key, ok: false, code: spawnFailureCode(entry.spawnFailure), message: entry.record.spawnError ?? 'spawn failed' });
    }
    if (!wait) return Promise.resolve(how === 'waiting' && this.orch.isWaiting(entry) ? { key, ok: true, message: this.orch.waitingReason(entry) ?? 'waiting' } : { key, ok: true });
    return this.waitFor(entry, (e) => {
      if (e.record.spawns === spawns) {
        // not spawned yet: waiting for its dependencies, stuck behind a failed one, or cancelled
        if (this.orch.isWaiting(e)) {
          const blocked = this.orch.blockedReason(e);
          return blocked === null ? null : { key, ok: false, code: 'E_DEPENDENCY', message: `not started: ${blocked}` };
        }
        return { key, ok: false, code: 'E_ABNORMAL_TERMINATION', message: `${key} was not started (${this.host.mood === 'running' ? 'cancelled' : 'drover is shutting down'})` };
      }
      if (e.record.spawns !== spawns + 1) return { key, ok: false, code: 'E_ABNORMAL_TERMINATION', message: `${key} restarted while starting` };
      const st = e.record.state;
      if (st === 'running') return { key, ok: true };
      if (st === 'starting') return null;
      if (e.record.spawnError !== null) return { key, ok: false, code: 'E_SPAWN', message: e.record.spawnError };
      const notReady = st === 'stopping' && e.record.stopCause === 'readyTimeout'; // on its way to BACKOFF: say why
      return { key, ok: false, code: 'E_ABNORMAL_TERMINATION', message: notReady ? notReadyInTime(e.spec) : `${key} is ${st}` };
    });
  }

  /** `by`: an operator's stop is remembered and holds dependents back; a restart's announces its start; drover's (update, scale) neither. */
  stopOne(key: string, wait: boolean, by: StopBy = 'operator'): Promise<CommandOutcome> {
    const entry = this.host.table.get(key);
    if (!entry) return Promise.resolve({ key, ok: false, code: 'E_BAD_NAME', message: `no such process: ${key}` });
    const st = entry.record.state;
    const cooling = st === 'fatal' && timerOf(entry, 'fatalCooldown') !== undefined;
    // a start still waiting for its dependencies is called off
    const cancelled = this.orch.cancel(entry);
    if (cancelled) this.changed(entry);
    if (STOPPED_STATES.has(st) && !cooling) {
      if (cancelled) {
        if (by === 'operator') this.o.desired?.set(key, entry.spec.autostart ? 'stopped' : null);
        return Promise.resolve({ key, ok: true, message: 'start called off' });
      }
      return Promise.resolve({ key, ok: false, code: 'E_NOT_RUNNING', message: `${key} is ${st}` });
    }
    if (by === 'operator') {
      this.o.desired?.set(key, entry.spec.autostart ? 'stopped' : null);
      this.orch.stoppedByHand.add(entry);
    } else if (by === 'restart') {
      this.orch.startAfterStop(entry);
    }
    // also while stopping: a stop begun for being unhealthy or not ready in time would start it again after
    if (st !== 'stopping' || entry.record.stopCause === 'unhealthy' || entry.record.stopCause === 'readyTimeout') this.host.dispatch(entry, { type: 'stopRequested' });
    if (!wait) return Promise.resolve({ key, ok: true });
    return this.waitFor(entry, (e) => (e.record.state === 'unknown' ? { key, ok: false, code: 'E_FAILED', message: `${key} could not be stopped: its stop signal was refused (EPERM)` } : STOPPED_STATES.has(e.record.state) ? { key, ok: true } : null));
  }

  /** Forgets a stopped process; commands waiting on it are told it was removed. */
  drop(entry: ProcessEntry): void {
    clearTimers(entry);
    this.follower.stopFollowing(entry);
    this.orch.cancel(entry);
    this.host.table.delete(entry.key);
    this.o.output.forget(entry.key);
    this.orch.remove(entry);
    this.o.desired?.set(entry.key, null);
    for (const w of [...this.waiters]) {
      if (w.key === entry.key) {
        this.waiters.delete(w);
        w.resolve({ key: entry.key, ok: false, code: 'E_BAD_NAME', message: `${entry.key} was removed` });
      }
    }
  }

  /** After each state change of `entry`: resolve the commands waiting for it. */
  changed(entry: ProcessEntry): void {
    for (const w of [...this.waiters]) {
      if (w.key !== entry.key) continue;
      const outcome = w.check(entry);
      if (outcome) {
        this.waiters.delete(w);
        w.resolve(outcome);
      }
    }
  }

  // --- internal ---

  /** Resolves when `check` returns an outcome for the process (checked now and after each change). */
  private waitFor(entry: ProcessEntry, check: (e: ProcessEntry) => CommandOutcome | null): Promise<CommandOutcome> {
    const now = check(entry);
    if (now) return Promise.resolve(now);
    return new Promise((resolve) => this.waiters.add({ key: entry.key, check, resolve }));
  }

  private signalOne(key: string, signal: string): CommandOutcome {
    const entry = this.host.table.get(key);
    if (!entry) return { key, ok: false, code: 'E_BAD_NAME', message: `no such process: ${key}` };
    const pid = this.follower.signalTarget(entry); // never a reaped launcher's
    if (!SIGNALLABLE_STATES.has(entry.record.state) || pid === null) {
      return { key, ok: false, code: 'E_NOT_RUNNING', message: `${key} is ${entry.record.state}` };
    }
    if (sendSignal(pid, signal, entry.spec.stopAsGroup) !== 'denied') return { key, ok: true };
    return { key, ok: false, code: 'E_FAILED', message: `SIG${signal} to pid ${pid} refused (EPERM): it runs as a user drover may not signal` };
  }

  /**
   * Applies a new config to the given groups (null: all): removed processes are stopped and dropped,
   * changed ones stopped and started again with their new config, added ones started if autostart.
   * Processes whose own config did not change keep running, even in a changed group. Programs that
   * `managedElsewhere` claims (worker pools, rolled by their owner) are left out on both sides.
   */
  private async applyConfig(config: Config, groups: readonly string[] | null, managedElsewhere: (spec: ProcessSpec) => boolean): Promise<CommandOutcome[]> {
    if (this.host.mood !== 'running') return [{ key: '*', ok: false, code: 'E_SHUTTING_DOWN', message: 'drover is shutting down' }];
    const { table } = this.host;
    const inScope = (group: string): boolean => groups === null || groups.includes(group);
    const current: Config = {
      ...this.o.config.get(),
      groups: table.activeGroups(),
      processes: table.entries().map((e) => e.spec).filter((p) => !managedElsewhere(p)),
    };
    const diff = diffConfigs(current, { ...config, processes: config.processes.filter((p) => !managedElsewhere(p)) });
    const outcomes: CommandOutcome[] = [];
    const restart: ProcessEntry[] = [];
    const removed = diff.removedProcesses.filter((p) => inScope(p.group)).map((spec) => {
      outcomes.push({ key: processKey(spec), ok: true, message: 'removed' });
      const entry = table.get(processKey(spec)) as ProcessEntry;
      this.leaving.add(entry);
      this.orch.remove(entry);
      return entry;
    });
    const changed: { entry: ProcessEntry; after: ProcessSpec; wasUp: boolean }[] = [];
    for (const { before, after } of diff.changedProcesses) {
      if (!inScope(after.group)) continue;
      const entry = table.get(processKey(before)) as ProcessEntry;
      if (onlyStartGatesDiffer(before, after)) {
        // depends_on gates starts only, essential is read when a process ends: a running one runs on
        entry.spec = after;
        this.orch.specChanged(entry); // a start waiting under the old depends_on goes by the new one
        outcomes.push({ key: entry.key, ok: true, message: 'changed (depends_on or essential: applied without a restart)' });
        continue;
      }
      // up: running or on its way, not on its way down at an operator's word (nor stopped by one meanwhile)
      const st = entry.record.state;
      const wasUp = !STOPPED_STATES.has(st) && !(st === 'stopping' && this.orch.stoppedByHand.has(entry));
      this.leaving.add(entry);
      // a start follows the stop: its dependents wait for it to run with its new config, not held back by the stop
      if (wasUp || this.wantsRunning(entry.key, after)) this.orch.startAfterStop(entry);
      changed.push({ entry, after, wasUp });
      outcomes.push({ key: entry.key, ok: true, message: 'changed' });
    }
    // removed and changed processes stop as a shutdown stops them: each once those among them that depend on
    // it have stopped (they used to stop all at once: db went while web, which needs it, still drained)
    const stopped = stopEachInOrder(this.ordered, [...removed, ...changed.map((c) => c.entry)].map((e) => e.key), true, 'drover');
    const removals = removed.map((entry, i) => (stopped[i] as Promise<CommandOutcome>).then(() => this.drop(entry)));
    const stops = changed.map(({ entry, after, wasUp }, i) =>
      (stopped[removed.length + i] as Promise<CommandOutcome>).then(() => {
        entry.spec = after;
        this.orch.specChanged(entry);
        this.o.output.register(after); // its log settings may have changed too
        this.leaving.delete(entry);
        if ((wasUp && !this.orch.stoppedByHand.has(entry)) || this.wantsRunning(entry.key, after)) restart.push(entry);
        else this.orch.startCalledOff(entry); // stopped by hand meanwhile
        this.changed(entry); // a start that waited for the update goes on, with the new config
      }),
    );
    const removedGroups = diff.removedGroups.filter(inScope);
    for (const name of removedGroups) table.deleteGroup(name);
    const addedGroups = config.groups.filter((g) => inScope(g.name) && !table.hasGroup(g.name)).map((g) => g.name);
    // a whole reload orders the groups as a fresh start would (supervisord re-execs on SIGHUP)
    if (groups === null) for (const g of config.groups) table.deleteGroup(g.name);
    for (const g of config.groups) if (inScope(g.name)) table.setGroup(g);
    const added: ProcessEntry[] = [];
    for (const spec of diff.addedProcesses) {
      if (!inScope(spec.group)) continue;
      const entry = this.addProcess(spec);
      added.push(entry);
      outcomes.push({ key: entry.key, ok: true, message: 'added' });
    }
    for (const name of removedGroups) this.host.groupChanged(name, { how: 'removed', listener: null });
    for (const { name } of config.groups.filter((g) => inScope(g.name))) this.host.groupChanged(name, { how: addedGroups.includes(name) ? 'added' : 'updated', listener: listenerOf(config, name) });
    if (groups === null) this.o.config.set(config);
    // what replaces a removed process (moved to another group: both may want a port) starts once it is gone, as in supervisorctl's update
    if (removals.length > 0) await Promise.all(removals);
    if (this.host.mood === 'running') this.startAutostart(added.filter((e) => table.get(e.key) === e)); // none removed meanwhile
    await Promise.all(stops);
    // the stops resolved outside the queue; start through it so starts stay ordered with everything else.
    // A shutdown begun meanwhile (`drover down` during a slow stop) refuses: the caller is told, not "changed"
    const started = restart.length > 0 ? await this.enqueue({ type: 'start', keys: restart.map((e) => e.key), wait: false, forUpdate: true }) : [];
    const refused = new Set(started.filter((o) => o.code === 'E_SHUTTING_DOWN').map((o) => o.key));
    const cut = 'stopped for its new config and not started again: drover is shutting down';
    return outcomes.map((o) => (refused.has(o.key) ? { key: o.key, ok: false, code: 'E_SHUTTING_DOWN', message: cut } : o));
  }

  private addGroup(config: Config, group: string): CommandOutcome {
    const { table } = this.host;
    if (table.hasGroup(group)) return { key: group, ok: false, code: 'E_ALREADY_ADDED', message: `${group} is already active` };
    const spec = config.groups.find((g) => g.name === group);
    if (!spec) return { key: group, ok: false, code: 'E_BAD_NAME', message: `no group ${group} in the config as last read (run reread after editing the file)` };
    table.setGroup(spec);
    const added = config.processes.filter((p) => p.group === group).map((p) => this.addProcess(p));
    this.host.groupChanged(group, { how: 'added', listener: listenerOf(config, group) });
    this.startAutostart(added);
    return { key: group, ok: true };
  }

  private removeGroup(group: string): CommandOutcome {
    const { table } = this.host;
    if (!table.hasGroup(group)) return { key: group, ok: false, code: 'E_BAD_NAME', message: `no active group ${group}` };
    const members = table.entries().filter((e) => e.spec.group === group);
    const busy = members.filter((e) => !STOPPED_STATES.has(e.record.state));
    if (busy.length > 0) {
      return { key: group, ok: false, code: 'E_STILL_RUNNING', message: `${busy.map((e) => e.key).join(', ')} still running` };
    }
    // removed all the same (as supervisorctl's remove), but said: a later start of a program that depends on
    // it fails ("db is not in the active config"), and an essential one waiting for it ends drover
    const names = new Set([group, ...members.map((e) => e.spec.programName)]);
    const dependents = [...new Set(table.entries().filter((e) => e.spec.group !== group && e.spec.dependsOn.some((d) => names.has(d.name))).map((e) => e.spec.programName))];
    for (const e of members) this.drop(e);
    table.deleteGroup(group);
    this.host.groupChanged(group, { how: 'removed', listener: null });
    if (dependents.length === 0) return { key: group, ok: true };
    const warning = `${dependents.join(', ')} depend${dependents.length === 1 ? 's' : ''} on it; their next start fails until it is added again`;
    this.host.logger.warn(`removed process group ${group}, which ${dependents.join(', ')} depend${dependents.length === 1 ? 's' : ''} on; their next start fails until it is added again`);
    return { key: group, ok: true, message: `warning: ${warning}` };
  }

  /** Converges one program's processes to `specs`; processes that stay keep running untouched. */
  private async scale(group: string, programName: string, specs: readonly ProcessSpec[], wait: boolean): Promise<CommandOutcome[]> {
    if (this.host.mood !== 'running') return [{ key: '*', ok: false, code: 'E_SHUTTING_DOWN', message: 'drover is shutting down' }];
    const { table } = this.host;
    const wanted = new Set(specs.map((p) => processKey(p)));
    const current = table.programEntries(group, programName);
    const added = specs.filter((p) => !table.has(processKey(p))).map((p) => this.addProcess(p));
    // keep the program's processes together and in number order, as the config lists them
    table.regroupProgram(group, programName);
    const work: Promise<CommandOutcome>[] = [];
    for (const entry of current) if (!wanted.has(entry.key)) work.push(this.remove(entry).then(() => ({ key: entry.key, ok: true, message: 'removed' })));
    for (const entry of added) work.push(this.startOne(entry.key, wait, false).then((o) => (o.ok ? { ...o, message: 'added' } : o)));
    return Promise.all(work);
  }

  /** Stops `entry` and drops it (an update or scale removes it); what depends on its program no longer counts it. */
  private remove(entry: ProcessEntry): Promise<void> {
    this.leaving.add(entry);
    this.orch.remove(entry);
    return this.stopOne(entry.key, true, 'drover').then(() => this.drop(entry));
  }

  /** Runs a command through the event queue (after work done outside it), resolving with its outcomes. */
  private enqueue(command: ControlCommand): Promise<readonly CommandOutcome[]> {
    return new Promise((reply) => this.host.push({ type: 'commandReceived', command, reply }));
  }
}

function assertNever(x: never): never {
  throw new Error(`unhandled command ${JSON.stringify(x)}`);
}
