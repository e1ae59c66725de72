// One task queue, pure: no timers, no I/O; time comes from an injected clock and advances through
// `tick()`. At-least-once: a task is leased to one owner (a worker process) when taken and leaves the
// queue only on its ack; a nack, an expired lease or the owner's death puts it back, until its attempts
// are used up and it moves to the dead-letter list.

import { Heap } from './heap.js';

export interface PushOptions {
  /** higher is taken first; default 0 */
  readonly priority?: number;
  /** not taken before this many ms from now; default 0 */
  readonly delayMs?: number;
  /** deliveries before the task is dead-lettered; default DEFAULT_MAX_ATTEMPTS */
  readonly maxAttempts?: number;
}

/** A task handed to a taker. */
export interface Delivery {
  readonly queue: string;
  readonly id: number;
  readonly data: unknown;
  readonly priority: number;
  /** 1 on the first delivery */
  readonly attempt: number;
  readonly maxAttempts: number;
}

/** `undeliverable`: the master could not send the task to the worker that took it (docs/shared.md). */
export const DEAD_REASONS = ['nacked', 'lease expired', 'worker exited', 'undeliverable'] as const;
export type DeadReason = (typeof DEAD_REASONS)[number];

export interface DeadTask {
  readonly id: number;
  readonly data: unknown;
  readonly priority: number;
  readonly attempts: number;
  readonly reason: DeadReason;
  /** the message given with the last nack, if any */
  readonly error: string | null;
  readonly deadAtMs: number;
}

export interface QueueStats {
  readonly name: string;
  /** can be taken now */
  readonly ready: number;
  /** pushed with a delay or nacked with retryInMs, not due yet */
  readonly delayed: number;
  /** taken, neither acked nor nacked */
  readonly leased: number;
  /** in the dead-letter list */
  readonly dead: number;
  /** takers waiting for a task */
  readonly waiting: number;
  readonly pushed: number;
  readonly acked: number;
  readonly nacked: number;
  /** leases that ended without an ack or nack: expired, or the holder exited */
  readonly lost: number;
}

export type NackResult = 'requeued' | 'dead' | 'lost';

export const DEFAULT_MAX_ATTEMPTS = 5;
export const DEFAULT_LEASE_MS = 60_000;

/** Deepest nesting of arrays and objects a task may have (JSON.stringify recurses: ~4,000 levels overflow it). */
export const MAX_TASK_DEPTH = 64;
/** Largest task, serialised as JSON. */
export const MAX_TASK_BYTES = 1024 * 1024;

/**
 * What is wrong with a task's data, or null when it can be queued: nested deeper than MAX_TASK_DEPTH,
 * larger than MAX_TASK_BYTES as JSON, or not serialisable. Every push path checks it (JSON API, CLI, a
 * worker's push, the master's service), since the master serialises each task again to hand it over.
 * Shared state's values have the same limits (`what` = 'value'): the master compares and sends them too.
 */
export function taskShapeProblem(data: unknown, what: 'task' | 'value' = 'task'): string | null {
  // Iterative, and bounded in steps: the values to refuse are those a recursive walk cannot handle, and a
  // value shared many times over (possible in a worker's own push) must not take exponential time. Every
  // array element or object entry costs at least one byte of JSON, so more of them than MAX_TASK_BYTES
  // already means too large.
  const pending: [unknown, number][] = [[data, 0]];
  let visited = 0;
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [v, depth] = next;
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= MAX_TASK_DEPTH) return `the ${what} is nested more than ${MAX_TASK_DEPTH} levels deep (arrays and objects); at most ${MAX_TASK_DEPTH} are accepted`;
    const children: unknown[] = Array.isArray(v) ? v : Object.values(v);
    visited += children.length;
    if (visited > MAX_TASK_BYTES) return `the ${what} is more than ${MAX_TASK_BYTES} bytes as JSON; at most ${MAX_TASK_BYTES} bytes are accepted`;
    for (const c of children) pending.push([c, depth + 1]);
  }
  let text: string | undefined;
  try {
    text = JSON.stringify(data);
  } catch (err) {
    // a BigInt, a cycle, a throwing toJSON: what the IPC channel would throw on later
    return `the ${what} cannot be serialised as JSON (${err instanceof Error ? err.message : String(err)})`;
  }
  if (text === undefined) return `the ${what} has no JSON form (undefined, a function or a symbol)`;
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_TASK_BYTES) return `the ${what} is ${bytes} bytes as JSON; at most ${MAX_TASK_BYTES} bytes are accepted`;
  return null;
}

/** What is wrong with a value for the state key `key` (taskShapeProblem's limits), or null: the client and the master word it alike. */
export function stateValueProblem(key: string, value: unknown): string | null {
  const problem = taskShapeProblem(value, 'value');
  return problem === null ? null : `state ${JSON.stringify(key)}: ${problem}`;
}

/** What the queue keeps of one task. */
export interface TaskRecord {
  readonly id: number;
  readonly data: unknown;
  readonly priority: number;
  readonly maxAttempts: number;
  /** deliveries so far */
  attempts: number;
  /** not before this time (ms); 0 when ready */
  dueAtMs: number;
  /** the last nack's error message */
  error: string | null;
}

interface Lease {
  readonly task: TaskRecord;
  readonly owner: string;
  /** the delivery this lease is for (the task's attempt number then): one process can hold two in turn */
  readonly attempt: number;
  untilMs: number;
}

interface Taker {
  readonly owner: string;
  readonly leaseMs: number;
  readonly deliver: (d: Delivery) => void;
}

export class TaskQueue {
  /** ready tasks: highest priority first, then oldest id (FIFO) */
  private readonly ready = new Heap<TaskRecord>((a, b) => a.priority > b.priority || (a.priority === b.priority && a.id < b.id));
  /** delayed tasks: earliest due first */
  private readonly delayed = new Heap<TaskRecord>((a, b) => a.dueAtMs < b.dueAtMs || (a.dueAtMs === b.dueAtMs && a.id < b.id));
  /** leased tasks by id */
  private readonly leases = new Map<number, Lease>();
  /** lease deadlines, earliest first; stale entries (acked, or extended) are skipped when popped */
  private deadlines = new Heap<{ id: number; untilMs: number }>((a, b) => a.untilMs < b.untilMs);
  /** entries of `deadlines` whose lease has ended: rebuilt away when they outnumber the live ones */
  private staleDeadlines = 0;
  /** task ids leased per owner, so an owner's exit returns them at once */
  private readonly byOwner = new Map<string, Set<number>>();
  /** waiting takers, first come first served (a Set iterates in insertion order) */
  private readonly takers = new Set<Taker>();
  /** the dead-letter list, oldest first */
  private readonly deadList: DeadTask[] = [];
  private pushed = 0;
  private acked = 0;
  private nacked = 0;
  private lost = 0;

  constructor(
    readonly name: string,
    private readonly now: () => number,
    private readonly nextId: () => number,
    /** told of every task moved to the dead letters (the journal records it) */
    private readonly onBury: (d: DeadTask) => void = () => {},
    /**
     * told of every deadline the queue sets (a lease granted or extended, a task delayed), whatever the
     * call that set it: the owner's timer must be armed for it, or `tick` is never called for it
     */
    private readonly onDeadline: (atMs: number) => void = () => {},
  ) {}

  /** Adds a task; returns its id. */
  push(data: unknown, opts: PushOptions = {}): number {
    const delayMs = opts.delayMs ?? 0;
    const task: TaskRecord = {
      id: this.nextId(),
      data,
      priority: opts.priority ?? 0,
      maxAttempts: opts.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
      attempts: 0,
      dueAtMs: delayMs > 0 ? this.now() + delayMs : 0,
      error: null,
    };
    this.pushed += 1;
    this.enqueue(task);
    return task.id;
  }

  /** Adds a task as it was (journal replay, a re-exec): keeps its id and attempts. */
  restore(task: TaskRecord): void {
    this.pushed += 1;
    this.enqueue(task);
  }

  /** Adds a dead letter as it was (journal replay). */
  restoreDead(d: DeadTask): void {
    this.deadList.push(d);
  }

  /**
   * Hands the next ready task to `deliver` (now, or when one becomes ready) under a lease of `leaseMs`;
   * returns a function that withdraws the request if it is still waiting.
   */
  take(owner: string, leaseMs: number, deliver: (d: Delivery) => void): () => void {
    const taker: Taker = { owner, leaseMs, deliver };
    this.takers.add(taker);
    this.serve();
    return () => this.takers.delete(taker);
  }

  /**
   * Removes a leased task for good. False when `owner` no longer holds it (the lease was lost), or holds a
   * later delivery than `attempt` (0: whichever it holds).
   */
  ack(id: number, owner: string, attempt = 0): boolean {
    const lease = this.held(id, owner, attempt);
    if (!lease) return false;
    this.endLease(id, lease);
    this.acked += 1;
    return true;
  }

  /** Gives a leased task back: retried after `retryInMs`, or dead-lettered when its attempts are used up. */
  nack(id: number, owner: string, retryInMs: number, error: string | null, attempt = 0): NackResult {
    const lease = this.held(id, owner, attempt);
    if (!lease) return 'lost';
    this.endLease(id, lease);
    this.nacked += 1;
    const task = lease.task;
    task.error = error;
    if (task.attempts >= task.maxAttempts) {
      this.bury(task, 'nacked');
      return 'dead';
    }
    task.dueAtMs = retryInMs > 0 ? this.now() + retryInMs : 0;
    this.enqueue(task);
    return 'requeued';
  }

  /** Moves a leased task to the dead letters at once: it could not be handed to its holder, nor would it be to another. */
  buryLeased(id: number, owner: string, error: string): boolean {
    const lease = this.leases.get(id);
    if (!lease || lease.owner !== owner) return false;
    this.endLease(id, lease);
    lease.task.error = error;
    this.bury(lease.task, 'undeliverable');
    return true;
  }

  /** Gives a leased task back as if it had never been delivered (a take withdrawn after it was answered). */
  release(id: number, owner: string, attempt = 0): boolean {
    const lease = this.held(id, owner, attempt);
    if (!lease) return false;
    this.endLease(id, lease);
    lease.task.attempts -= 1;
    lease.task.dueAtMs = 0;
    this.enqueue(lease.task);
    return true;
  }

  /** Extends a lease to `leaseMs` from now. False when `owner` no longer holds it. */
  extend(id: number, owner: string, leaseMs: number, attempt = 0): boolean {
    const lease = this.held(id, owner, attempt);
    if (!lease) return false;
    lease.untilMs = this.now() + leaseMs;
    this.deadlines.push({ id, untilMs: lease.untilMs });
    this.staleDeadlines += 1;
    this.onDeadline(lease.untilMs);
    return true;
  }

  /** The owner has exited: its waiting takes are dropped and its leased tasks go back (an attempt spent). */
  ownerGone(owner: string): void {
    for (const t of this.takers) if (t.owner === owner) this.takers.delete(t);
    const ids = this.byOwner.get(owner);
    if (!ids) return;
    for (const id of [...ids]) {
      const lease = this.leases.get(id);
      if (lease) this.loseLease(id, lease, 'worker exited');
    }
    this.byOwner.delete(owner);
  }

  /** Advances time: due delayed tasks become ready, expired leases go back. */
  tick(): void {
    const now = this.now();
    for (let top = this.deadlines.peek(); top && top.untilMs <= now; top = this.deadlines.peek()) {
      this.deadlines.pop();
      this.staleDeadlines = Math.max(0, this.staleDeadlines - 1);
      const lease = this.leases.get(top.id);
      // a stale entry: acked since, or extended (a later entry holds the new deadline)
      if (lease && lease.untilMs <= now) this.loseLease(top.id, lease, 'lease expired');
    }
    for (let top = this.delayed.peek(); top && top.dueAtMs <= now; top = this.delayed.peek()) {
      this.delayed.pop();
      top.dueAtMs = 0;
      this.ready.push(top);
    }
    this.serve();
  }

  /** When `tick` next has something to do (ms), or null. */
  nextDeadline(): number | null {
    let next: number | null = null;
    // stale lease entries only make the timer fire early, which is harmless
    const lease = this.deadlines.peek();
    if (lease) next = lease.untilMs;
    const due = this.delayed.peek();
    if (due && (next === null || due.dueAtMs < next)) next = due.dueAtMs;
    return next;
  }

  stats(): QueueStats {
    return {
      name: this.name,
      ready: this.ready.size,
      delayed: this.delayed.size,
      leased: this.leases.size,
      dead: this.deadList.length,
      waiting: this.takers.size,
      pushed: this.pushed,
      acked: this.acked,
      nacked: this.nacked,
      lost: this.lost,
    };
  }

  /** The dead-letter list, oldest first (at most `limit`). */
  dead(limit = Infinity): readonly DeadTask[] {
    return this.deadList.slice(0, limit);
  }

  /** Moves dead tasks back to the queue with fresh attempts; returns how many. */
  retryDead(): number {
    const n = this.deadList.length;
    for (const d of this.deadList.splice(0)) {
      this.enqueue({ id: d.id, data: d.data, priority: d.priority, maxAttempts: Math.max(1, d.attempts), attempts: 0, dueAtMs: 0, error: null });
    }
    return n;
  }

  /**
   * Every task not yet acked, for a snapshot (journal compaction): ready, delayed and leased alike. A leased
   * task is given with the attempts before its current delivery: deliveries are not journaled, and a nack
   * of that delivery recorded after the snapshot adds it on replay (counting it here too counted it twice).
   */
  pending(): TaskRecord[] {
    const leased = [...this.leases.values()].map((l) => ({ ...l.task, attempts: l.attempt - 1 }));
    return [...this.ready.values(), ...this.delayed.values(), ...leased];
  }

  /** Whether the queue holds nothing and nobody waits on it (it can be forgotten). */
  isIdle(): boolean {
    return this.ready.size === 0 && this.delayed.size === 0 && this.leases.size === 0 && this.takers.size === 0 && this.deadList.length === 0;
  }

  // --- internal ---

  /**
   * The lease of task `id` if `owner` holds it for delivery `attempt` (0: any). A process whose lease lapsed
   * can take the same task again (another of its loops): the late settling of the first delivery must not
   * end the second one, which is still running.
   */
  private held(id: number, owner: string, attempt: number): Lease | null {
    const lease = this.leases.get(id);
    if (!lease || lease.owner !== owner) return null;
    return attempt === 0 || lease.attempt === attempt ? lease : null;
  }

  private enqueue(task: TaskRecord): void {
    if (task.dueAtMs > this.now()) {
      this.delayed.push(task);
      this.onDeadline(task.dueAtMs);
    } else {
      task.dueAtMs = 0;
      this.ready.push(task);
      this.serve();
    }
  }

  /** Matches waiting takers with ready tasks, in order. */
  private serve(): void {
    while (this.takers.size > 0 && this.ready.size > 0) {
      const taker = this.takers.values().next().value as Taker;
      this.takers.delete(taker);
      const task = this.ready.pop() as TaskRecord;
      task.attempts += 1;
      const lease: Lease = { task, owner: taker.owner, attempt: task.attempts, untilMs: this.now() + taker.leaseMs };
      this.leases.set(task.id, lease);
      this.deadlines.push({ id: task.id, untilMs: lease.untilMs });
      this.onDeadline(lease.untilMs);
      let mine = this.byOwner.get(taker.owner);
      if (!mine) this.byOwner.set(taker.owner, (mine = new Set()));
      mine.add(task.id);
      taker.deliver({
        queue: this.name,
        id: task.id,
        data: task.data,
        priority: task.priority,
        attempt: task.attempts,
        maxAttempts: task.maxAttempts,
      });
    }
  }

  private endLease(id: number, lease: Lease): void {
    this.leases.delete(id);
    // An acked task's deadline stays in the heap until it is due; with many short tasks under a long lease
    // they would pile up, so the heap is rebuilt from the live leases once stale entries dominate.
    this.staleDeadlines += 1;
    if (this.staleDeadlines > 1024 && this.staleDeadlines > 2 * this.leases.size) {
      this.deadlines = new Heap((a, b) => a.untilMs < b.untilMs);
      for (const [lid, l] of this.leases) this.deadlines.push({ id: lid, untilMs: l.untilMs });
      this.staleDeadlines = 0;
    }
    const mine = this.byOwner.get(lease.owner);
    mine?.delete(id);
    if (mine?.size === 0) this.byOwner.delete(lease.owner);
  }

  /** A lease ended without an ack or nack: the task goes back at once, or to the dead letters. */
  private loseLease(id: number, lease: Lease, reason: DeadReason): void {
    this.endLease(id, lease);
    this.lost += 1;
    const task = lease.task;
    if (task.attempts >= task.maxAttempts) this.bury(task, reason);
    else {
      task.dueAtMs = 0;
      this.enqueue(task);
    }
  }

  private bury(task: TaskRecord, reason: DeadReason): void {
    const d: DeadTask = {
      id: task.id,
      data: task.data,
      priority: task.priority,
      attempts: task.attempts,
      reason,
      error: task.error,
      // a time of day (dead_at), shown to a person: the wall clock, not the deadline clock `now`
      deadAtMs: Date.now(),
    };
    this.deadList.push(d);
    this.onBury(d);
  }
}
