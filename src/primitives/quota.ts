// The memory backend's bound on what workers make the master hold: the tasks not yet acked (ready, delayed,
// leased and dead letters) and the state values. A worker is untrusted input to the root master: without a
// bound, 500 `state.set`s of 1 MiB took the master from 64 MB to 1 GB (docs/security.md, section 25).
import { MAX_TASK_BYTES } from './queue-core.js';
import { SharedError } from './service.js';

/** The default of `shared_max_bytes`. */
export const DEFAULT_SHARED_MAX_BYTES = 256 * 1024 * 1024;
/**
 * Counted for each task and key besides its JSON, for what the master keeps beside it (so a flood of tiny
 * ones is bounded too); and for each lock, each wait for a lock or a task, and each state watch, with its name.
 */
export const ENTRY_OVERHEAD_BYTES = 100;
/** Counted for each queue, with its name: a queue, once named by a push or a take, is kept (its maps and counters). */
export const QUEUE_OVERHEAD_BYTES = 1024;

/** What one task or state value counts: its JSON in bytes, its name, and the overhead. */
export function heldBytes(name: string, value: unknown): number {
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (err) {
    // Workers' values were checked (taskShapeProblem); one that cannot be serialised came another way (a
    // test planting one, as another program can in Redis): counted as the largest a value may be.
    if (!(err instanceof RangeError || err instanceof TypeError)) throw err;
    return MAX_TASK_BYTES + name.length + ENTRY_OVERHEAD_BYTES;
  }
  return Buffer.byteLength(json ?? 'null') + name.length + ENTRY_OVERHEAD_BYTES;
}

/** A nack's error that did not fit under the limit is replaced by this. */
export const ERROR_NOT_KEPT = '(error not kept: the master holds shared_max_bytes)';

export class ByteQuota {
  /** bytes held now: tasks and state values; 0 */
  private held = 0;
  /** what each held task counts, by id (ids are unique across queues) */
  private readonly tasks = new Map<number, number>();
  /** what each held task's last nack error counts, by id */
  private readonly taskErrors = new Map<number, number>();
  /** what each state key counts */
  private readonly keys = new Map<string, number>();

  /**
   * `limit`: the most bytes held (0: no bound); `elsewhere`: what is counted outside this object (locks,
   * waits, watches and queues, kept by their own tables).
   */
  constructor(
    private readonly limit: number,
    private readonly elsewhere: () => number = () => 0,
  ) {}

  get bytes(): number {
    return this.held + this.elsewhere();
  }

  /** Throws E_QUOTA when `bytes` more would pass the limit; `what` names the refused request. */
  check(bytes: number, what: string): void {
    const held = this.limit > 0 && bytes > 0 ? this.bytes : 0;
    if (this.limit > 0 && bytes > 0 && held + bytes > this.limit) {
      throw new SharedError(
        'E_QUOTA',
        `${what}: refused, the master would hold more than shared_max_bytes (${this.limit} bytes) of tasks, state, locks and waits (${held} held, this needs ${bytes} more); ack tasks, delete keys, release locks, retry or drain dead letters, or raise shared_max_bytes`,
      );
    }
  }

  /** Counts task `id` (held from push until its ack). */
  addTask(id: number, bytes: number): void {
    this.tasks.set(id, bytes);
    this.held += bytes;
  }

  dropTask(id: number): void {
    this.held -= (this.tasks.get(id) ?? 0) + (this.taskErrors.get(id) ?? 0);
    this.tasks.delete(id);
    this.taskErrors.delete(id);
  }

  /**
   * The error a nack may leave on task `id`: `error`, or a short note when it would pass the limit (a nack
   * settles a task, so it is not refused; its error, which a worker chooses, is what is not kept).
   */
  fitTaskError(id: number, error: string | null): string | null {
    if (error === null || this.limit === 0) return error;
    const delta = Buffer.byteLength(error) - (this.taskErrors.get(id) ?? 0);
    return delta > 0 && this.bytes + delta > this.limit ? ERROR_NOT_KEPT : error;
  }

  /** Counts `error` as task `id`'s last error (after a nack that was not lost). */
  setTaskError(id: number, error: string | null): void {
    if (!this.tasks.has(id)) return;
    const bytes = error === null ? 0 : Buffer.byteLength(error);
    this.held += bytes - (this.taskErrors.get(id) ?? 0);
    this.taskErrors.set(id, bytes);
  }

  /** What setting `key` to a value of `bytes` adds (negative when it shrinks; a delete is 0 bytes). */
  keyDelta(key: string, bytes: number): number {
    return bytes - (this.keys.get(key) ?? 0);
  }

  /** Counts `key` at `bytes` (0: deleted). */
  setKey(key: string, bytes: number): void {
    this.held += this.keyDelta(key, bytes);
    if (bytes > 0) this.keys.set(key, bytes);
    else this.keys.delete(key);
  }
}
