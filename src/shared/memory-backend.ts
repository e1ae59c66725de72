// The default backend: queues, state and locks in the master's memory. One timer, armed for the earliest
// deadline (a delayed task falling due, a lease or a lock ttl lapsing), drives the pure cores' `tick`.
// Everything here is synchronous, so no request interleaves with another: each is atomic.
import type { Slot, SharedBackend } from './backend.js';
import { LockTable, type LockInfo } from './lock-core.js';
import { StateStore } from './state-core.js';
import { TaskQueue, type DeadTask, type Delivery, type NackResult, type PushOptions, type QueueStats } from './queue-core.js';

export class MemoryBackend implements SharedBackend {
  /** queues by name, created on first use */
  private readonly queues = new Map<string, TaskQueue>();
  private readonly state = new StateStore();
  private readonly lockTable: LockTable;
  /** last task id handed out (ids are unique across queues) */
  private lastId = 0;
  /** the armed timer and when it fires; null when none */
  private timer: { handle: NodeJS.Timeout; atMs: number } | null = null;

  constructor(private readonly now: () => number = Date.now) {
    this.lockTable = new LockTable(now);
  }

  push(queue: string, data: unknown, opts: PushOptions): number {
    const id = this.queue(queue).push(data, opts);
    this.schedule();
    return id;
  }

  take(queue: string, owner: string, leaseMs: number, deliver: (d: Delivery) => void): () => void {
    const cancel = this.queue(queue).take(owner, leaseMs, deliver);
    this.schedule();
    return cancel;
  }

  ack(queue: string, id: number, owner: string): boolean {
    return this.queues.get(queue)?.ack(id, owner) ?? false;
  }

  nack(queue: string, id: number, owner: string, retryInMs: number, error: string | null): NackResult {
    const r = this.queues.get(queue)?.nack(id, owner, retryInMs, error) ?? 'lost';
    this.schedule();
    return r;
  }

  release(queue: string, id: number, owner: string): boolean {
    return this.queues.get(queue)?.release(id, owner) ?? false;
  }

  extend(queue: string, id: number, owner: string, leaseMs: number): boolean {
    const r = this.queues.get(queue)?.extend(id, owner, leaseMs) ?? false;
    this.schedule();
    return r;
  }

  queueStats(queue: string | null): QueueStats[] {
    if (queue !== null) return [this.queues.get(queue)?.stats() ?? new TaskQueue(queue, this.now, () => 0).stats()];
    return [...this.queues.values()].map((q) => q.stats()).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  deadLetters(queue: string, limit: number): readonly DeadTask[] {
    return this.queues.get(queue)?.dead(limit) ?? [];
  }

  retryDead(queue: string): number {
    return this.queues.get(queue)?.retryDead() ?? 0;
  }

  stateGet(key: string): Slot {
    return this.state.get(key);
  }

  stateSet(key: string, value: unknown): void {
    this.state.set(key, value);
  }

  stateDelete(key: string): boolean {
    return this.state.delete(key);
  }

  stateIncrement(key: string, by: number): number {
    return this.state.increment(key, by);
  }

  stateCompareAndSet(key: string, expected: Slot, next: Slot): boolean {
    return this.state.compareAndSet(key, expected, next);
  }

  stateWatch(key: string, owner: string, notify: (key: string, found: boolean, value: unknown) => void): () => void {
    return this.state.watch(key, owner, notify);
  }

  lockAcquire(name: string, owner: string, ttlMs: number, grant: (token: number) => void): () => void {
    const cancel = this.lockTable.acquire(name, owner, ttlMs, grant);
    this.schedule();
    return cancel;
  }

  lockRelease(name: string, token: number): boolean {
    return this.lockTable.release(name, token);
  }

  locks(): LockInfo[] {
    return this.lockTable.list();
  }

  ownerGone(owner: string): void {
    for (const q of this.queues.values()) q.ownerGone(owner);
    this.lockTable.ownerGone(owner);
    this.state.ownerGone(owner);
    this.schedule();
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer.handle);
    this.timer = null;
  }

  // --- internal ---

  private queue(name: string): TaskQueue {
    let q = this.queues.get(name);
    if (!q) this.queues.set(name, (q = new TaskQueue(name, this.now, () => ++this.lastId)));
    return q;
  }

  /** Arms the timer for the earliest deadline, unless it is armed for that time or earlier. */
  private schedule(): void {
    let next: number | null = this.lockTable.nextDeadline();
    for (const q of this.queues.values()) {
      const d = q.nextDeadline();
      if (d !== null && (next === null || d < next)) next = d;
    }
    if (next === null) return;
    if (this.timer && this.timer.atMs <= next) return;
    if (this.timer) clearTimeout(this.timer.handle);
    const handle = setTimeout(() => this.fire(), Math.max(0, next - this.now()));
    // the supervisor keeps the master alive; this timer must not keep it from exiting
    handle.unref();
    this.timer = { handle, atMs: next };
  }

  private fire(): void {
    this.timer = null;
    for (const q of this.queues.values()) q.tick();
    this.lockTable.tick();
    this.schedule();
  }
}
