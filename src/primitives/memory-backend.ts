// The default backend: queues, state and locks in the master's memory. One timer, armed for the earliest
// deadline (a delayed task falling due, a lease or a lock ttl lapsing), drives the pure cores' `tick`. The
// cores report each deadline as they set it (`onDeadline`), so whichever call makes a grant — a release
// handing a lock or a task to the next waiter included — arms the timer for it.
// Everything here is synchronous, so no request interleaves with another: each is atomic. With a journal
// (journal.ts), every accepted change of a task or key is appended as it is made; the service flushes the
// journal before it answers. A due time crosses to the next master through the journal as a wall time:
// `now` (steady) carries the offset of any wall-clock step this master lived through, and the next one's
// starts from the wall clock at its own start (docs/decisions.md, "Wall-clock steps").
import { steadyNowMs } from '../os/clock.js';
import type { Slot, SharedBackend } from './backend.js';
import { emptyImage, snapshotRecords, type JournalImage, type JournalRecord } from './journal-core.js';
import type { JournalHealth, JournalWriter } from './journal.js';
import { LockTable, type LockInfo } from './lock-core.js';
import { ByteQuota, DEFAULT_SHARED_MAX_BYTES, ENTRY_OVERHEAD_BYTES, heldBytes, QUEUE_OVERHEAD_BYTES } from './quota.js';
import { StateStore } from './state-core.js';
import { DEFAULT_MAX_ATTEMPTS, TaskQueue, type DeadTask, type Delivery, type NackResult, type PushOptions, type QueueStats } from './queue-core.js';

/** the longest delay Node's timers honour */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** fencing tokens reserved in the journal at a time (an hour of the µs clock), and re-reserved once this close */
const TOKEN_RESERVE = 3_600_000_000;
const TOKEN_RESERVE_SLACK = TOKEN_RESERVE / 2;

export class MemoryBackend implements SharedBackend {
  /** queues by name, created on first use */
  private readonly queues = new Map<string, TaskQueue>();
  private readonly state = new StateStore();
  private readonly lockTable: LockTable;
  /** last task id handed out (ids are unique across queues) */
  private lastId = 0;
  /** fencing tokens an earlier master may have granted, from the journal; 0 */
  private tokensBefore = 0;
  /** fencing tokens this master has reserved in the journal; 0 */
  private tokensReserved = 0;
  /** what tasks and state values hold, bounded by `shared_max_bytes` (quota.ts) */
  private readonly quota: ByteQuota;
  /** the armed timer and when it fires (on `now`'s clock); null when none */
  private timer: { handle: NodeJS.Timeout; atMs: number } | null = null;
  /** takes waiting for a task, each counted with its queue's name (quota.ts); empty */
  private readonly waitingTakes = new Set<{ readonly owner: string; readonly chars: number }>();
  private waitingTakeChars = 0;
  /** the characters of every queue's name: a queue, once known, stays (quota.ts); 0 */
  private queueNameChars = 0;

  constructor(
    /**
     * the clock of every deadline (delays, leases, lock ttls): it must not jump, since the timer's delay is
     * measured by Node's monotonic clock and compared with it — Date.now() stalled the timer for the length
     * of a backward step of the wall clock, and a forward one lapsed every lease and ttl at once
     */
    private readonly now: () => number = steadyNowMs,
    /** where accepted changes are recorded; null keeps them in memory only */
    private journal: JournalWriter | null = null,
    /** the most bytes of tasks and state values held (`shared_max_bytes`); 0: no bound */
    maxBytes: number = DEFAULT_SHARED_MAX_BYTES,
  ) {
    // besides tasks and state values: what workers make the master keep for them by name or while they wait
    this.quota = new ByteQuota(maxBytes, () =>
      this.lockTable.countedBytes(ENTRY_OVERHEAD_BYTES) +
      this.state.countedBytes(ENTRY_OVERHEAD_BYTES) +
      this.waitingTakeChars + ENTRY_OVERHEAD_BYTES * this.waitingTakes.size +
      this.queueNameChars + QUEUE_OVERHEAD_BYTES * this.queues.size,
    );
    // fencing tokens never below the clock in microseconds, nor below what the journal reserved: they keep
    // increasing across a restart or a USR2 re-exec, which start with an empty table, even after a backward
    // wall-clock step (docs/decisions.md, "Fencing tokens", "Wall-clock steps"); exact until 2^53, in 2255
    this.lockTable = new LockTable(now, () => this.tokenFloor(), (atMs) => this.armFor(atMs));
  }

  /** Loads a replayed journal (before any request). Tasks come back ready or delayed, none leased. */
  restore(image: JournalImage): void {
    this.lastId = Math.max(this.lastId, image.lastId);
    this.tokensBefore = Math.max(this.tokensBefore, image.tokensUpTo);
    const offsetMs = this.wallOffsetMs();
    for (const [name, { tasks, dead }] of image.queues) {
      const q = this.queue(name);
      // what the journal holds is counted, never refused: it was accepted once
      for (const task of tasks.values()) {
        q.restore({ ...task, dueAtMs: task.dueAtMs > 0 ? task.dueAtMs - offsetMs : 0 });
        this.quota.addTask(task.id, heldBytes(name, task.data));
      }
      for (const d of dead) {
        q.restoreDead(d);
        this.quota.addTask(d.id, heldBytes(name, d.data));
      }
    }
    for (const [k, v] of image.state) {
      this.state.set(k, v);
      this.quota.setKey(k, heldBytes(k, v));
    }
    this.schedule();
  }

  /** Starts recording to `journal` (after `restore`, before any request). */
  attachJournal(journal: JournalWriter): void {
    this.journal = journal;
  }

  /** The live tasks, dead letters and keys as journal snapshot records (leased tasks count as ready). */
  snapshotRecords(): JournalRecord[] {
    const image = emptyImage();
    image.lastId = this.lastId;
    image.tokensUpTo = Math.max(this.tokensBefore, this.tokensReserved);
    for (const [name, q] of this.queues) {
      const tasks = new Map(q.pending().map((t) => [t.id, { ...t, dueAtMs: this.wallDue(t.dueAtMs) }]));
      const dead = [...q.dead()];
      if (tasks.size > 0 || dead.length > 0) image.queues.set(name, { tasks, dead });
    }
    for (const [k, v] of this.state.entries()) image.state.set(k, v);
    return snapshotRecords(image);
  }

  flush(): void {
    this.journal?.flush();
  }

  journalHealth(): JournalHealth | null {
    return this.journal?.health?.() ?? null;
  }

  push(queue: string, data: unknown, opts: PushOptions): number {
    const bytes = heldBytes(queue, data);
    this.quota.check(bytes + this.newQueueBytes(queue), `queue ${JSON.stringify(queue)}: push`);
    const id = this.queue(queue).push(data, opts);
    this.quota.addTask(id, bytes);
    if (this.journal) {
      const delayMs = opts.delayMs ?? 0;
      const due = delayMs > 0 ? this.wallDue(this.now() + delayMs) : 0;
      this.journal.append({ t: 'push', q: queue, id, data, pri: opts.priority ?? 0, max: opts.maxAttempts ?? DEFAULT_MAX_ATTEMPTS, due });
    }
    return id;
  }

  take(queue: string, owner: string, leaseMs: number, deliver: (d: Delivery) => void): () => void {
    // Only a new queue is refused: a take from a known one is how a full master drains (its wait counts
    // toward what other requests find held, but is never refused itself, nor is an internal re-take)
    this.quota.check(this.newQueueBytes(queue), `queue ${JSON.stringify(queue)}: take`);
    const waiting = { owner, chars: queue.length };
    this.waitingTakes.add(waiting);
    this.waitingTakeChars += waiting.chars;
    const settle = (): void => {
      if (this.waitingTakes.delete(waiting)) this.waitingTakeChars -= waiting.chars;
    };
    const withdraw = this.queue(queue).take(owner, leaseMs, (d) => {
      settle();
      deliver(d);
    });
    return () => {
      settle();
      withdraw();
    };
  }

  ack(queue: string, id: number, owner: string, attempt = 0): boolean {
    const ok = this.queues.get(queue)?.ack(id, owner, attempt) ?? false;
    if (ok) this.quota.dropTask(id);
    if (ok) this.journal?.append({ t: 'ack', q: queue, id });
    return ok;
  }

  nack(queue: string, id: number, owner: string, retryInMs: number, errorGiven: string | null, attempt = 0): NackResult {
    // the task keeps its last error: counted with it, and not kept when it does not fit
    const error = this.quota.fitTaskError(id, errorGiven);
    const r = this.queues.get(queue)?.nack(id, owner, retryInMs, error, attempt) ?? 'lost';
    if (r !== 'lost') this.quota.setTaskError(id, error);
    // 'dead' is recorded by the queue's onBury
    if (r === 'requeued') this.journal?.append({ t: 'nack', q: queue, id, due: retryInMs > 0 ? this.wallDue(this.now() + retryInMs) : 0, err: error });
    return r;
  }

  bury(queue: string, id: number, owner: string, error: string): boolean {
    // recorded in the journal by the queue's onBury
    return this.queues.get(queue)?.buryLeased(id, owner, error) ?? false;
  }

  release(queue: string, id: number, owner: string, attempt = 0): boolean {
    return this.queues.get(queue)?.release(id, owner, attempt) ?? false;
  }

  extend(queue: string, id: number, owner: string, leaseMs: number, attempt = 0): boolean {
    return this.queues.get(queue)?.extend(id, owner, leaseMs, attempt) ?? false;
  }

  queueStats(queue: string | null): QueueStats[] {
    if (queue !== null) return [this.queues.get(queue)?.stats() ?? new TaskQueue(queue, this.now, () => 0).stats()];
    return [...this.queues.values()].map((q) => q.stats()).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  deadLetters(queue: string, limit: number): readonly DeadTask[] {
    return this.queues.get(queue)?.dead(limit) ?? [];
  }

  retryDead(queue: string): number {
    const n = this.queues.get(queue)?.retryDead() ?? 0;
    if (n > 0) this.journal?.append({ t: 'retryDead', q: queue });
    return n;
  }

  stateGet(key: string): Slot {
    return this.state.get(key);
  }

  stateSet(key: string, value: unknown): void {
    const bytes = heldBytes(key, value);
    this.quota.check(this.quota.keyDelta(key, bytes), `state ${JSON.stringify(key)}`);
    this.state.set(key, value);
    this.quota.setKey(key, bytes);
    this.journal?.append({ t: 'set', k: key, v: value });
  }

  stateDelete(key: string): boolean {
    const had = this.state.delete(key);
    this.quota.setKey(key, 0);
    if (had) this.journal?.append({ t: 'del', k: key });
    return had;
  }

  stateIncrement(key: string, by: number): number {
    // refused only for a new key: a number's JSON hardly grows
    this.quota.check(this.quota.keyDelta(key, heldBytes(key, 0)), `state ${JSON.stringify(key)}`);
    const v = this.state.increment(key, by);
    this.quota.setKey(key, heldBytes(key, v));
    this.journal?.append({ t: 'set', k: key, v });
    return v;
  }

  stateCompareAndSet(key: string, expected: Slot, next: Slot): boolean {
    // checked before the comparison: one that would not have matched may be refused too
    const bytes = next.found ? heldBytes(key, next.value) : 0;
    this.quota.check(this.quota.keyDelta(key, bytes), `state ${JSON.stringify(key)}`);
    const ok = this.state.compareAndSet(key, expected, next);
    if (ok) this.quota.setKey(key, bytes);
    if (ok) this.journal?.append(next.found ? { t: 'set', k: key, v: next.value } : { t: 'del', k: key });
    return ok;
  }

  stateWatch(key: string, owner: string, notify: (key: string, found: boolean, value: unknown) => void): () => void {
    this.quota.check(key.length + ENTRY_OVERHEAD_BYTES, `state ${JSON.stringify(key)}: watch`);
    return this.state.watch(key, owner, notify);
  }

  lockAcquire(name: string, owner: string, ttlMs: number, grant: (token: number) => void): () => void {
    // only a new name is refused: a wait for a known lock may be what finishes a task, and so frees room
    if (!this.lockTable.known(name)) this.quota.check(name.length + 2 * ENTRY_OVERHEAD_BYTES, `lock ${JSON.stringify(name)}`);
    return this.lockTable.acquire(name, owner, ttlMs, grant);
  }

  lockRelease(name: string, owner: string, token: number): boolean {
    return this.lockTable.release(name, owner, token);
  }

  locks(): LockInfo[] {
    return this.lockTable.list();
  }

  ownerGone(owner: string): void {
    for (const w of this.waitingTakes) {
      if (w.owner === owner && this.waitingTakes.delete(w)) this.waitingTakeChars -= w.chars;
    }
    for (const q of this.queues.values()) q.ownerGone(owner);
    this.lockTable.ownerGone(owner);
    this.state.ownerGone(owner);
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer.handle);
    this.timer = null;
    this.journal?.close();
  }

  // --- internal ---

  /** What a queue named `name` would add, were it new. */
  private newQueueBytes(name: string): number {
    return this.queues.has(name) ? 0 : name.length + QUEUE_OVERHEAD_BYTES;
  }

  private queue(name: string): TaskQueue {
    let q = this.queues.get(name);
    if (!q) {
      this.queueNameChars += name.length;
      const onBury = (d: DeadTask): void => this.journal?.append({ t: 'dead', q: name, task: d });
      this.queues.set(name, (q = new TaskQueue(name, this.now, () => ++this.lastId, onBury, (atMs) => this.armFor(atMs))));
    }
    return q;
  }

  /** How far the wall clock is ahead of `now` at this moment (a step since this master started moves it). */
  private wallOffsetMs(): number {
    return Date.now() - this.now();
  }

  /** A due time on `now` as the wall time it stands for, as the journal keeps it; 0 (ready) stays 0. */
  private wallDue(dueAtMs: number): number {
    return dueAtMs > 0 ? dueAtMs + this.wallOffsetMs() : 0;
  }

  /**
   * The least token the next grant may have. With a journal, tokens are reserved an hour of the clock
   * ahead, so a later master starts above every token granted here even if its clock is behind. The next
   * reservation is written half an hour early: it need only reach the disk before tokens pass the last
   * one, which the next flush (any request) sees to, a crash included.
   */
  private tokenFloor(): number {
    const floor = Math.max(this.now() * 1000, this.tokensBefore + 1);
    const next = Math.max(floor, this.lockTable.lastGranted + 1);
    if (this.journal && next > this.tokensReserved - TOKEN_RESERVE_SLACK) {
      this.tokensReserved = Math.floor(next + TOKEN_RESERVE);
      this.journal.append({ t: 'tokens', upTo: this.tokensReserved });
    }
    return floor;
  }

  /** Arms the timer for the earliest deadline of all (after a tick, when the one it fired for is past). */
  private schedule(): void {
    let next: number | null = this.lockTable.nextDeadline();
    for (const q of this.queues.values()) {
      const d = q.nextDeadline();
      if (d !== null && (next === null || d < next)) next = d;
    }
    if (next !== null) this.armFor(next);
  }

  /**
   * Arms the timer for `next` (ms), unless it is armed for that time or earlier. Sound only because `now`
   * never jumps: an armed timer's `atMs` then stays the time it fires at, give or take a millisecond.
   */
  private armFor(next: number): void {
    if (this.timer && this.timer.atMs <= next) return;
    if (this.timer) clearTimeout(this.timer.handle);
    // a deadline past Node's longest timer (2^31 - 1 ms, ~24.8 days) is reached in steps: a longer delay
    // would fire at once, again and again
    const now = this.now();
    const delay = Math.min(Math.max(0, next - now), MAX_TIMER_MS);
    const handle = setTimeout(() => this.fire(), delay);
    // the supervisor keeps the master alive; this timer must not keep it from exiting
    handle.unref();
    this.timer = { handle, atMs: now + delay };
  }

  private fire(): void {
    this.timer = null;
    for (const q of this.queues.values()) q.tick();
    this.lockTable.tick();
    this.schedule();
  }
}
