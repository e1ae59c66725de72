// The one interface behind ctx.queue, ctx.state and ctx.lock. The master's service (service.ts) speaks
// only to this; the default implementation keeps everything in the master (memory-backend.ts), and an
// adapter for an external store can replace it without touching workers or the protocol.
import type { DeadTask, Delivery, NackResult, PushOptions, QueueStats } from './queue-core.js';
import type { JournalHealth } from './journal.js';
import type { LockInfo } from './lock-core.js';

export type Awaitable<T> = T | Promise<T>;

/** A state value or its absence (JSON has no undefined). */
export interface Slot {
  readonly found: boolean;
  readonly value: unknown;
}

/**
 * Owners are worker processes, named "group:name#pid": a worker's leases, locks, waits and watches are
 * dropped together when that process exits (`ownerGone`). Waiting operations (take, lock) answer through
 * a callback and return a function that withdraws them.
 */
export interface SharedBackend {
  push(queue: string, data: unknown, opts: PushOptions): Awaitable<number>;
  take(queue: string, owner: string, leaseMs: number, deliver: (d: Delivery) => void): () => void;
  // `attempt`: the delivery being settled (0: whichever the owner holds); a late settling of an earlier
  // delivery to the same owner answers as a lost lease (both backends check it atomically).
  ack(queue: string, id: number, owner: string, attempt?: number): Awaitable<boolean>;
  nack(queue: string, id: number, owner: string, retryInMs: number, error: string | null, attempt?: number): Awaitable<NackResult>;
  /** moves a leased task to the dead letters at once, reason `undeliverable` (it could not be sent to its worker) */
  bury(queue: string, id: number, owner: string, error: string): Awaitable<boolean>;
  /** gives a task back without spending an attempt (a take withdrawn after it was answered) */
  release(queue: string, id: number, owner: string, attempt?: number): Awaitable<boolean>;
  extend(queue: string, id: number, owner: string, leaseMs: number, attempt?: number): Awaitable<boolean>;
  /** one queue, or every queue when null */
  queueStats(queue: string | null): Awaitable<QueueStats[]>;
  deadLetters(queue: string, limit: number): Awaitable<readonly DeadTask[]>;
  retryDead(queue: string): Awaitable<number>;

  stateGet(key: string): Awaitable<Slot>;
  stateSet(key: string, value: unknown): Awaitable<void>;
  stateDelete(key: string): Awaitable<boolean>;
  stateIncrement(key: string, by: number): Awaitable<number>;
  stateCompareAndSet(key: string, expected: Slot, next: Slot): Awaitable<boolean>;
  stateWatch(key: string, owner: string, notify: (key: string, found: boolean, value: unknown) => void): () => void;

  lockAcquire(name: string, owner: string, ttlMs: number, grant: (token: number) => void): () => void;
  /** false unless `owner` holds `name` under `token` (a token alone can be guessed: docs/security.md) */
  lockRelease(name: string, owner: string, token: number): Awaitable<boolean>;
  locks(): Awaitable<LockInfo[]>;

  /** makes every change made so far durable as configured (the journal); called before answers are sent */
  flush?(): void;
  /** whether the journal is written (null: no journal, as with Redis); shown in queue stats and /metrics */
  journalHealth?(): JournalHealth | null;
  /** the owner's process has exited */
  ownerGone(owner: string): void;
  close(): Awaitable<void>;
}
