// Orchestration across processes: `depends_on` (a process starts only once what it depends on holds, and
// starting it starts those first), the order of a graceful shutdown (dependents before what they depend on,
// then by priority), and `essential` programs (one that stops for good ends drover with its status). The
// reducer decides each process's state; this file decides only *when* to ask for a start or a stop.
import { signalNumber } from '../os/signals.js';
import type { CoreHost } from './_host.js';
import { holds, unmet, type DependencyView } from './dependencies.js';
import { STARTABLE_STATES, STOPPED_STATES } from './states.js';
import { compareRank, type ProcessEntry } from './table.js';

/** How drover ends because an essential program stopped for good. */
export interface Ending {
  readonly exitCode: number;
  readonly why: string;
}

export class Orchestration {
  /** processes whose start waits for their dependencies, by key, in the order they were asked to start */
  private readonly waiting = new Map<string, ProcessEntry>();
  /** program and group names whose processes changed state since the last `settle`; also the keys of waiting processes whose spec changed (a key has a colon, a name never) */
  private readonly dirty = new Set<string>();
  /** processes by program name and by group name; null when the table changed and it must be rebuilt */
  private members: Map<string, ProcessEntry[]> | null = null;
  /** keys of the processes that depend on a name, by that name; rebuilt with `members` */
  private dependents = new Map<string, Set<string>>();
  /** the first essential program that stopped for good; null until one does */
  ending: Ending | null = null;
  /**
   * processes whose last command was an operator's stop (not followed by a start): on their way down or
   * stopped, they hold their dependents back, and neither a dependent's start nor an update starts them again
   */
  readonly stoppedByHand = new WeakSet<ProcessEntry>();
  /** processes on their way down that a command starts again once they have stopped (a restart, a start that came meanwhile) */
  private readonly restarting = new WeakSet<ProcessEntry>();
  /** processes an update or scale is stopping to drop: no longer members of their program or group */
  private readonly removing = new WeakSet<ProcessEntry>();
  /**
   * the failure last seen holding back each waiting process (absent: not blocked): when it changes, the
   * processes that depend on that one are looked at again, so a failure (or its fix) two steps down a chain
   * reaches the waiting start at its top
   */
  private readonly blockedSeen = new Map<string, string>();
  /** what `unmet` reads beyond the processes' records */
  private readonly view: DependencyView = {
    membersOf: (name) => this.membersOf(name),
    isWaiting: (e) => this.waiting.has(e.key),
    isRestarting: (e) => this.restarting.has(e),
    isStoppedByHand: (e) => this.stoppedByHand.has(e),
    heldByPredecessor: (e) => this.host.predecessor.holds(e.key),
  };

  constructor(
    private readonly host: CoreHost,
    /** a waiting process's outlook changed (started, blocked, cancelled): commands waiting on it look again */
    private readonly notify: (entry: ProcessEntry) => void,
  ) {}

  /** The table or a spec changed: the name index is rebuilt when next needed. */
  invalidate(): void {
    this.members = null;
  }

  /** `entry` has a new spec: a start waiting under its old `depends_on` is looked at again under the new one. */
  specChanged(entry: ProcessEntry): void {
    this.invalidate();
    if (this.waiting.has(entry.key)) this.dirty.add(entry.key);
  }

  /**
   * `entry` leaves: an update or scale stops it to drop it, or it was dropped. From now on a condition on its
   * program holds over the processes that stay (a dependent waited for one on its way out, held back by its
   * stop, and nothing looked at it again once it was gone), and its dependents are looked at again.
   */
  remove(entry: ProcessEntry): void {
    this.removing.add(entry);
    this.invalidate();
    this.touch(entry);
  }

  /**
   * Starts `entry` if what it depends on holds; otherwise it waits (stopped, with a reason) and its
   * dependencies that are not on their way are started first, where `pull` allows. A dependency on its way
   * down is offered to `pull` too, unless an operator is stopping it or a start already follows its stop:
   * `pull` then starts it once it has stopped (its caller's job: `startAfterStop`), and answers false.
   */
  requestStart(entry: ProcessEntry, pull: (dep: ProcessEntry) => boolean): 'started' | 'waiting' {
    // iterative: a chain of thousands declared in reverse is pulled without deep recursion
    const todo = [entry];
    const seen = new Set<string>([entry.key]);
    for (let e = todo.pop(); e !== undefined; e = todo.pop()) {
      if (unmet(this.view, e) === null) {
        this.waiting.delete(e.key);
        this.host.dispatch(e, { type: 'startRequested' });
        continue;
      }
      this.waiting.set(e.key, e);
      for (const dep of e.spec.dependsOn) {
        for (const m of this.membersOf(dep.name)) {
          if (seen.has(m.key) || holds(m, dep) || this.waiting.has(m.key)) continue;
          const down = m.record.state === 'stopping';
          if (down ? this.stoppedByHand.has(m) || this.restarting.has(m) : !STARTABLE_STATES.has(m.record.state)) continue;
          seen.add(m.key);
          if (pull(m) && !down && !this.host.predecessor.holds(m.key)) todo.push(m); // held: it starts once the previous master has gone
        }
      }
    }
    return this.waiting.has(entry.key) ? 'waiting' : 'started';
  }

  /** A command starts `entry` once it has stopped: until then its dependents wait for it, not held back by its stop. */
  startAfterStop(entry: ProcessEntry): void {
    this.restarting.add(entry);
    this.touch(entry);
  }

  /** The start `startAfterStop` announced has come (or will not: the process is gone, drover is stopping). */
  startCame(entry: ProcessEntry): void {
    if (this.restarting.delete(entry)) this.touch(entry);
  }

  /** The start `startAfterStop` announced will not come (called from outside an event): its dependents see that now. */
  startCalledOff(entry: ProcessEntry): void {
    this.startCame(entry);
    this.settle();
  }

  /** Forgets a waiting start (a stop by hand, a removal); true when there was one. */
  cancel(entry: ProcessEntry): boolean {
    return this.waiting.delete(entry.key);
  }

  isWaiting(entry: ProcessEntry): boolean {
    return this.waiting.has(entry.key);
  }

  /** Why a process has not started: "waiting for db:ready (db is starting)", "migrate failed (exit 1)"; null when it is not waiting. */
  waitingReason(entry: ProcessEntry): string | null {
    if (!this.waiting.has(entry.key)) return null;
    const u = unmet(this.view, entry);
    if (u === null) return 'about to start';
    return u.blocked ? u.detail : `waiting for ${u.dep.name}:${u.dep.condition} (${u.detail})`;
  }

  /** The failure that keeps a waiting process from starting, or null when it may still start by itself. */
  blockedReason(entry: ProcessEntry): string | null {
    if (!this.waiting.has(entry.key)) return null;
    const u = unmet(this.view, entry);
    return u?.blocked ? u.detail : null;
  }

  /** After a state change of `entry`: its dependents are looked at in `settle`; an essential end is noted. */
  changed(entry: ProcessEntry): void {
    this.touch(entry);
    if (!entry.spec.essential || this.ending !== null || this.host.mood !== 'running') return;
    const r = entry.record;
    // the state after the whole move: an exit followed by an autorestart is already STARTING again
    if (r.state === 'exited') {
      const sig = r.exitSignal !== null ? signalNumber(r.exitSignal) : null;
      const exitCode = sig !== null ? 128 + sig : (r.exitStatus ?? 0);
      const how = r.exitSignal !== null ? `was killed by SIG${r.exitSignal}` : `exited with status ${r.exitStatus ?? '?'}`;
      this.ending = { exitCode, why: `essential program ${entry.spec.name} ${how} and is not restarted` };
    } else if (r.state === 'fatal' && entry.spec.fatalCooldownSecs === null && !this.poolStillServes(entry)) {
      this.ending = { exitCode: 1, why: `essential program ${entry.spec.name} is FATAL (${r.spawnError ?? 'could not start'})` };
    }
  }

  /**
   * For a worker pool (`worker =`), one process is not the program: a replacement that cannot load the new
   * code during a HUP is FATAL while the old workers serve on. The pool has stopped for good only when none
   * of its processes runs or is on its way up (starting, or in backoff between retries).
   */
  private poolStillServes(entry: ProcessEntry): boolean {
    if (entry.spec.worker === null) return false;
    return this.host.table
      .entries()
      .some((e) => e !== entry && e.spec.group === entry.spec.group && e.spec.programName === entry.spec.programName && !STOPPED_STATES.has(e.record.state));
  }

  /** After each event: start the waiting processes whose dependencies now hold; tell waiters about the rest. */
  settle(): void {
    if (this.waiting.size === 0) {
      this.dirty.clear();
      this.blockedSeen.clear();
      return;
    }
    if (this.host.mood !== 'running') {
      // nothing starts once a shutdown has begun
      const cancelled = [...this.waiting.values()];
      this.waiting.clear();
      this.dirty.clear();
      this.blockedSeen.clear();
      for (const e of cancelled) this.notify(e);
      return;
    }
    this.index();
    // starting one process changes its state, which can free the next: go on until nothing moves
    while (this.dirty.size > 0) {
      const names = [...this.dirty];
      this.dirty.clear();
      // a key names the waiting process itself (specChanged); a name, the processes that depend on it
      const affected = new Set<ProcessEntry>(names.map((n) => this.waiting.get(n)).filter((e) => e !== undefined));
      for (const n of names) for (const key of this.dependents.get(n) ?? []) {
        const e = this.waiting.get(key);
        if (e) affected.add(e);
      }
      for (const e of affected) {
        if (!this.waiting.has(e.key)) continue;
        const u = unmet(this.view, e);
        if (u === null) {
          this.waiting.delete(e.key);
          if (STARTABLE_STATES.has(e.record.state)) this.host.dispatch(e, { type: 'startRequested' });
        } else if ((u.blocked ? u.detail : undefined) !== this.blockedSeen.get(e.key)) {
          // blocked, or no longer: its own waiting dependents see it through it (`unmet`), so they look again;
          // only on a change, so a long chain starting is not looked through again at every step
          if (u.blocked) this.blockedSeen.set(e.key, u.detail);
          else this.blockedSeen.delete(e.key);
          this.touch(e);
        }
        this.notify(e);
      }
    }
    for (const key of this.blockedSeen.keys()) if (!this.waiting.has(key)) this.blockedSeen.delete(key);
    this.endIfEssentialBlocked();
  }

  /**
   * An essential program that waits for a dependency that failed for good will never start by itself: as an
   * essential program that ends, that ends drover (exit 1), instead of leaving it running with nothing to do
   * (as `docker compose up` ends on "dependency failed to start"). A retry coming (fatal_cooldown) is waited for.
   */
  private endIfEssentialBlocked(): void {
    if (this.ending !== null || this.host.mood !== 'running') return;
    for (const e of this.waiting.values()) {
      if (!e.spec.essential) continue;
      const u = unmet(this.view, e);
      if (u?.blocked && u.forGood) {
        this.ending = { exitCode: 1, why: `essential program ${e.spec.name} cannot start: ${u.detail}` };
        return;
      }
    }
  }

  /**
   * The next processes a graceful shutdown stops: among those still up whose dependents have all stopped,
   * the ones of the highest rank (group priority, then priority: see Rank in table.ts). Empty when everything has stopped.
   */
  nextStopBatch(): ProcessEntry[] {
    const up = this.host.table.entries().filter((e) => !STOPPED_STATES.has(e.record.state));
    if (up.length === 0) return [];
    this.index();
    const upKeys = new Set(up.map((e) => e.key));
    const dependentUp = (e: ProcessEntry): boolean => {
      for (const name of [e.spec.programName, e.spec.group]) {
        for (const k of this.dependents.get(name) ?? []) if (k !== e.key && upKeys.has(k)) return true;
      }
      return false;
    };
    let free = up.filter((e) => !dependentUp(e));
    // only a cycle brought in at run time leaves nothing free: then priority alone decides
    if (free.length === 0) free = up;
    const table = this.host.table;
    const level = free.map((e) => table.rank(e.spec)).reduce((hi, r) => (compareRank(r, hi) > 0 ? r : hi));
    return free.filter((e) => compareRank(table.rank(e.spec), level) === 0);
  }

  /**
   * `entries` in an order to start them in: what a process depends on (directly or through others) before
   * it, otherwise as given. A start command then starts a dependency itself rather than finding it already
   * pulled in by a dependent's start.
   */
  startOrder(entries: readonly ProcessEntry[]): ProcessEntry[] {
    this.index();
    const depth = new Map<string, number>();
    const visiting = new Set<string>();
    // the longest chain of dependencies below `e` (0: it depends on nothing); a cycle brought in at run time counts once
    const depthOf = (e: ProcessEntry): number => {
      const known = depth.get(e.key);
      if (known !== undefined) return known;
      if (visiting.has(e.key)) return 0;
      visiting.add(e.key);
      let d = 0;
      for (const dep of e.spec.dependsOn) for (const m of this.membersOf(dep.name)) if (m.key !== e.key) d = Math.max(d, depthOf(m) + 1);
      visiting.delete(e.key);
      depth.set(e.key, d);
      return d;
    };
    return entries
      .map((e, i) => ({ e, i, d: depthOf(e) }))
      .sort((a, b) => a.d - b.d || a.i - b.i)
      .map((x) => x.e);
  }

  /**
   * For a stop of `entries`: each one's level, the longest chain of entries among them that depend on it
   * (directly or through processes not in the stop) and must stop first. 0: nothing among them depends on
   * it. One pass over the dependency graph, memoised: linear in processes and dependency links.
   */
  stopLevels(entries: readonly ProcessEntry[]): Map<string, number> {
    this.index();
    const table = this.host.table;
    const requested = new Set(entries.map((e) => e.key));
    const memo = new Map<string, number>();
    const visiting = new Set<string>();
    const above = (e: ProcessEntry): number => {
      const known = memo.get(e.key);
      if (known !== undefined) return known;
      if (visiting.has(e.key)) return 0; // a cycle brought in at run time: its members do not wait for each other
      visiting.add(e.key);
      let h = 0;
      for (const name of new Set([e.spec.programName, e.spec.group])) {
        for (const k of this.dependents.get(name) ?? []) {
          const d = k === e.key ? undefined : table.get(k);
          if (d) h = Math.max(h, above(d) + (requested.has(k) ? 1 : 0));
        }
      }
      visiting.delete(e.key);
      memo.set(e.key, h);
      return h;
    };
    return new Map(entries.map((e) => [e.key, above(e)]));
  }

  // --- internal ---

  /** Has the dependents of `entry` looked at again in the next `settle`. */
  private touch(entry: ProcessEntry): void {
    this.dirty.add(entry.spec.programName);
    this.dirty.add(entry.spec.group);
  }

  private membersOf(name: string): readonly ProcessEntry[] {
    this.index();
    return (this.members as Map<string, ProcessEntry[]>).get(name) ?? [];
  }

  /** Builds the name index (once per change of the table): linear in processes and dependencies. */
  private index(): void {
    if (this.members !== null) return;
    const members = new Map<string, ProcessEntry[]>();
    const dependents = new Map<string, Set<string>>();
    const add = (name: string, e: ProcessEntry): void => {
      const list = members.get(name);
      if (list) list.push(e);
      else members.set(name, [e]);
    };
    for (const e of this.host.table.entries()) {
      // one being removed still counts as a dependent (a shutdown stops it before what it depends on)
      if (!this.removing.has(e)) {
        add(e.spec.programName, e);
        if (e.spec.group !== e.spec.programName) add(e.spec.group, e);
      }
      for (const dep of e.spec.dependsOn) {
        let set = dependents.get(dep.name);
        if (!set) dependents.set(dep.name, (set = new Set()));
        set.add(e.key);
      }
    }
    this.members = members;
    this.dependents = dependents;
  }
}
