// The process table: every supervised process with its config, its state-machine record and the OS handles
// behind it, in config order; and the active groups. Plain data with lookups: the supervisor and its
// collaborators (commands, launcher, follower) change entries; only Supervisor.dispatch replaces a record.
import type { ChildProcess } from 'node:child_process';
import { processKey } from '../config/diff.js';
import type { GroupSpec, ProcessSpec } from '../config/types.js';
import type { GoneProcess } from '../os/leftovers.js';
import type { ChildStdin } from '../os/stdin-pipe.js';
import type { ProcStat } from '../os/proc.js';
import { steadyNowMs } from '../os/clock.js';
import { initialRecord, type ProcessRecord, type TimerName } from './program.js';
import type { ProcessSnapshot } from './types.js';

/** What is known of a process that has just exited. */
export interface GoneExit extends GoneProcess {
  readonly startedAtMs: number;
  /** the exit was a requested stop */
  readonly requested: boolean;
  /**
   * when the stop that ended it will have lasted stopwaitsecs, for a requested stop whose signal went to the
   * whole group (stopasgroup): what is left of the group gets until then to finish; null otherwise
   */
  readonly graceUntilMs: number | null;
  readonly code: number | null;
}

/** One supervised process. */
export interface ProcessEntry {
  /** "group:name": unique across groups */
  readonly key: string;
  spec: ProcessSpec;
  /** the reducer's record; replaced only in Supervisor.dispatch */
  record: ProcessRecord;
  /** the Node child handle of the current process; null when none */
  child: ChildProcess | null;
  /** the current process's stdin (closed when it exits); null when none */
  stdin: ChildStdin | null;
  /** pid we spawned (the launcher for pidfile programs); 0 when none */
  spawnedPid: number;
  /** start ticks of spawnedPid, to recognise it in /proc; 0 when none */
  spawnedStartTicks: number;
  /** errno-style reason of the last synchronous spawn failure (ENOENT, EACCES, …), or null */
  spawnFailure: string | null;
  /** resolved executable of the current process, for spotting self-daemonizing programs; '' when none */
  executable: string;
  /**
   * pending timers with a generation each, so a timer that fires after being replaced is ignored; null while
   * none is pending (most of the time: a Map costs ~300 bytes, read them through timerOf/setTimer/dropTimer)
   */
  timers: Map<TimerName, PendingTimer> | null;
  /** descendants seen when a stop began, so those that left the group can be reached too; [] when none */
  stopSnapshot: ProcStat[];
  /** polling handle for a followed pid (pidfile programs); null when none */
  follow: NodeJS.Timeout | null;
  /** pid being followed through a pidfile; 0 when none */
  followedPid: number;
  /** process group of the followed pid, as registered with the orphan guard; 0 when none */
  followedPgid: number;
  /** the process whose exit is being handled right now; null otherwise */
  gone: GoneExit | null;
  /** pid drover killed without a stop (a stuck worker's SIGKILL): its exit is no failed start; 0 when none */
  killedPid: number;
}

/**
 * A process's place in start and stop order: its group's priority, then its own. supervisord starts and
 * stops whole groups in group-priority order, so an explicit [group:x] with `priority = 1` starts before
 * and stops after programs of priority 100 whatever its members' own priorities; for a program's own group
 * the two numbers are the same.
 */
export type Rank = readonly [group: number, own: number];

/** Orders ranks ascending (the start order; a shutdown stops the highest first). */
export function compareRank(a: Rank, b: Rank): number {
  return a[0] - b[0] || a[1] - b[1];
}

export class ProcessTable {
  /** every process by key, in config order */
  private readonly procs = new Map<string, ProcessEntry>();
  /** active groups by name, in the order they were activated (supervisord's process_groups dict) */
  private readonly groups = new Map<string, GroupSpec>();

  /** Registers a process for `spec` (stopped, nothing spawned); its record's times are steadyNowMs()'s, as the reducer's. */
  add(spec: ProcessSpec, nowMs = steadyNowMs()): ProcessEntry {
    const entry: ProcessEntry = {
      key: processKey(spec),
      spec,
      record: initialRecord(nowMs),
      child: null,
      stdin: null,
      spawnedPid: 0,
      spawnedStartTicks: 0,
      spawnFailure: null,
      executable: '',
      timers: null,
      stopSnapshot: [],
      follow: null,
      followedPid: 0,
      followedPgid: 0,
      gone: null,
      killedPid: 0,
    };
    this.procs.set(entry.key, entry);
    return entry;
  }

  get(key: string): ProcessEntry | undefined {
    return this.procs.get(key);
  }

  has(key: string): boolean {
    return this.procs.has(key);
  }

  delete(key: string): void {
    this.procs.delete(key);
  }

  /** Every process, in config order. */
  entries(): ProcessEntry[] {
    return [...this.procs.values()];
  }

  get size(): number {
    return this.procs.size;
  }

  /** Processes of one program, in table order. */
  programEntries(group: string, programName: string): ProcessEntry[] {
    return this.entries().filter((e) => e.spec.group === group && e.spec.programName === programName);
  }

  /** Keeps one program's processes together, in process-number order, where the program first appears. */
  regroupProgram(group: string, programName: string): void {
    const order = this.entries();
    const isMine = (e: ProcessEntry): boolean => e.spec.group === group && e.spec.programName === programName;
    const first = order.findIndex(isMine);
    if (first < 0) return;
    const mine = order.filter(isMine).sort((a, b) => a.spec.processNum - b.spec.processNum);
    const rest = order.filter((e) => !isMine(e));
    this.procs.clear();
    for (const e of [...rest.slice(0, first), ...mine, ...rest.slice(first)]) this.procs.set(e.key, e);
  }

  /** A snapshot of every process, in table order, for status. */
  snapshot(): ProcessSnapshot[] {
    return this.entries().map((e) => ({ key: e.key, spec: e.spec, record: e.record }));
  }

  setGroup(group: GroupSpec): void {
    this.groups.set(group.name, group);
  }

  deleteGroup(name: string): void {
    this.groups.delete(name);
  }

  hasGroup(name: string): boolean {
    return this.groups.has(name);
  }

  group(name: string): GroupSpec | undefined {
    return this.groups.get(name);
  }

  /** Where `spec` stands in start and stop order (see Rank). */
  rank(spec: ProcessSpec): Rank {
    return [this.groups.get(spec.group)?.priority ?? spec.priority, spec.priority];
  }

  /**
   * The active groups as supervisord orders them for its "all" commands: by priority, then
   * in the order they were activated (a start activates them by priority and name; a group added later,
   * by supervisorctl add or update, comes after the others of its priority).
   */
  activeGroups(): GroupSpec[] {
    // Array.prototype.sort is stable: equal priorities keep activation order, as Python's sort does
    return [...this.groups.values()].sort((a, b) => a.priority - b.priority);
  }
}

/** Cancels every pending timer of an entry (it is dropped, or the shutdown has finished). */
export function clearTimers(entry: ProcessEntry): void {
  for (const t of entry.timers?.values() ?? []) clearTimeout(t.handle);
  entry.timers = null;
}

/** A timer of an entry that is set and has not fired. */
export interface PendingTimer {
  readonly handle: NodeJS.Timeout;
  readonly gen: number;
}

/** The entry's pending timer `name`, if any. */
export function timerOf(entry: ProcessEntry, name: TimerName): PendingTimer | undefined {
  return entry.timers?.get(name);
}

export function setTimer(entry: ProcessEntry, name: TimerName, timer: PendingTimer): void {
  (entry.timers ??= new Map()).set(name, timer);
}

/** Forgets the entry's pending timer `name` (without clearing it) and returns it. */
export function dropTimer(entry: ProcessEntry, name: TimerName): PendingTimer | undefined {
  const t = entry.timers?.get(name);
  if (t === undefined || entry.timers === null) return undefined;
  entry.timers.delete(name);
  if (entry.timers.size === 0) entry.timers = null;
  return t;
}
