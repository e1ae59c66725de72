// drover's shared primitives as a worker module sees them: `ctx.queue(name)`, `ctx.state`, `ctx.lock(name)`
// in a job worker, or `import { queue, state, lock } from 'drover'` anywhere in a worker process. The
// master holds the data (docs/shared.md); values cross the IPC channel as JSON.
import { describeThrown } from '../errors.js';
import { RUNTIME_KEY, sharedClient, SharedRequestError } from './client.js';
import { stateValueProblem, taskShapeProblem, type DeadTask, type NackResult, type QueueStats } from './queue-core.js';

export type { DeadTask, NackResult, QueueStats };
export { SharedRequestError };

export interface PushOptions {
  /** higher is taken first; default 0 */
  readonly priority?: number;
  /** not taken before this many ms from now; default 0 */
  readonly delayMs?: number;
  /** deliveries before the task moves to the dead-letter list; default 5 */
  readonly maxAttempts?: number;
}

export interface TakeOptions {
  /** stop waiting: take() then resolves null. Default: the worker's stop signal */
  readonly signal?: AbortSignal;
  /** the task goes back to the queue if neither acked nor nacked within this; default 60 000 */
  readonly leaseMs?: number;
}

export interface ProcessOptions extends TakeOptions {
  /** tasks in flight at once in this process; default: the program's `concurrency` */
  readonly concurrency?: number;
  /** delay before a failed task is retried; default 1000 × 2^(attempt-1), at most 60 000 */
  readonly retryInMs?: number | ((task: Task) => number);
}

/** A task leased to this worker: ack it when done, or nack it to have it retried. */
export interface Task<T = unknown> {
  readonly queue: string;
  readonly id: number;
  readonly data: T;
  readonly priority: number;
  /** 1 on the first delivery */
  readonly attempt: number;
  readonly maxAttempts: number;
  /** acked or nacked already */
  readonly settled: boolean;
  /** Done: removes the task. False when the lease was lost (expired, and the task went to another worker). */
  ack(): Promise<boolean>;
  /** Failed: retried after `retryInMs`, or dead-lettered when its attempts are used up. */
  nack(opts?: { retryInMs?: number; error?: string }): Promise<NackResult>;
  /** Keeps the lease for `leaseMs` more from now (a long task). */
  extend(leaseMs: number): Promise<boolean>;
}

export interface Queue<T = unknown> extends AsyncIterable<Task<T>> {
  readonly name: string;
  /** Adds a task; resolves with its id once the master holds it. */
  push(data: T, opts?: PushOptions): Promise<number>;
  /** The next task (waits for one), or null once the signal aborts. */
  take(opts?: TakeOptions): Promise<Task<T> | null>;
  /**
   * Runs `handler` on tasks until the signal aborts, `concurrency` at a time: acks when it returns, nacks
   * (with a retry delay) when it throws. Resolves when the signal has aborted and in-flight tasks are done.
   */
  process(handler: (task: Task<T>) => Promise<void> | void, opts?: ProcessOptions): Promise<void>;
  stats(): Promise<QueueStats>;
}

export interface SharedState {
  /** The value, or undefined when the key is absent. */
  get<T = unknown>(key: string): Promise<T | undefined>;
  set(key: string, value: unknown): Promise<void>;
  /** Whether the key existed. */
  delete(key: string): Promise<boolean>;
  /** Adds `by` (default 1) atomically; an absent key counts as 0. Resolves with the new value. */
  increment(key: string, by?: number): Promise<number>;
  /** Sets `next` only if the key holds `expected` (deep equality; undefined: absent / delete). */
  compareAndSet(key: string, expected: unknown, next: unknown): Promise<boolean>;
  /** Calls `fn` with the current value, then after every change; resolves with a function that stops it. */
  watch<T = unknown>(key: string, fn: (value: T | undefined, key: string) => void): Promise<() => Promise<void>>;
}

export interface LockOptions {
  /** released by the master after this long even if the holder lives; default 0 = no ttl */
  readonly ttlMs?: number;
  /** stop waiting: lock() rejects with an AbortError. Default: the worker's stop signal */
  readonly signal?: AbortSignal;
}

/** A held lock. `await using l = await lock('x')` releases it at the end of the block. */
export interface Lock {
  readonly name: string;
  /** increases with every grant: a fencing token */
  readonly token: number;
  /** False when it was not held any more (its ttl lapsed). */
  release(): Promise<boolean>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Defaults a job worker's ctx gives its queues. */
export interface QueueDefaults {
  readonly signal: AbortSignal | undefined;
  readonly concurrency: number;
}

/** The task queue `name`. */
export function queue<T = unknown>(name: string, defaults?: Partial<QueueDefaults>): Queue<T> {
  return new QueueHandle<T>(name, {
    signal: defaults?.signal ?? runtimeSignal(),
    concurrency: defaults?.concurrency ?? runtimeConcurrency(),
  });
}

/** Refuses here, as the master would, a value nested too deep or too large (the limits of a task). */
function checkStateValue(key: string, value: unknown): void {
  const problem = stateValueProblem(key, value);
  if (problem !== null) throw new SharedRequestError('E_BAD_ARGUMENTS', problem);
}

/** A nack's error text is cut to this many characters (then `…`). */
const MAX_NACK_ERROR_CHARS = 64 * 1024;

/** Shared key/value state. */
export const state: SharedState = {
  async get<T>(key: string): Promise<T | undefined> {
    const s = (await call('state.get', { key })) as { found: boolean; value: T };
    return s.found ? s.value : undefined;
  },
  async set(key: string, value: unknown): Promise<void> {
    if (value === undefined) throw new TypeError('state.set: value must not be undefined (use delete)');
    checkStateValue(key, value);
    await call('state.set', { key, value });
  },
  async delete(key: string): Promise<boolean> {
    return (await call('state.delete', { key })) as boolean;
  },
  async increment(key: string, by = 1): Promise<number> {
    // NaN and ±Infinity cannot cross the channel (JSON makes them null, which would mean "by 1")
    if (typeof by !== 'number' || !Number.isFinite(by)) throw badNumber('state.increment', 'by', by);
    return (await call('state.increment', { key, by })) as number;
  },
  async compareAndSet(key: string, expected: unknown, next: unknown): Promise<boolean> {
    for (const v of [expected, next]) if (v !== undefined) checkStateValue(key, v);
    return (await call('state.cas', { key, expected: slot(expected), next: slot(next) })) as boolean;
  },
  async watch<T>(key: string, fn: (value: T | undefined, key: string) => void): Promise<() => Promise<void>> {
    const client = sharedClient();
    const id = client.nextSeq;
    // changes that come with the first value (one message carries both) are older than nothing: they
    // follow it. Held until the first value has been given, so the last call is always the current value
    let held: [string, boolean, unknown][] | null = [];
    client.addWatcher(id, (k, found, value) => {
      if (held) held.push([k, found, value]);
      else fn(found ? (value as T) : undefined, k);
    });
    let first: { found: boolean; value: T };
    try {
      first = (await client.call('state.watch', { key })) as { found: boolean; value: T };
    } catch (err) {
      client.removeWatcher(id);
      throw err;
    }
    try {
      fn(first.found ? first.value : undefined, key);
    } catch (err) {
      // no handle reaches the caller: the watch ends here rather than hold its changes for ever
      client.removeWatcher(id);
      void client.call('state.unwatch', { watch: id }).catch(() => undefined);
      throw err;
    }
    const changes = held;
    held = null;
    for (const [k, found, value] of changes) fn(found ? (value as T) : undefined, k);
    return async () => {
      client.removeWatcher(id);
      await client.call('state.unwatch', { watch: id });
    };
  },
};

/** Acquires the lock `name`, waiting (first come, first served) while another process holds it. */
export async function lock(name: string, opts: LockOptions = {}): Promise<Lock> {
  const token = (await call(
    'lock.acquire',
    { name, ttlMs: opts.ttlMs ?? 0 },
    {
      // a worker's waits end when it begins to stop (docs/shared.md), as its takes do; a lock asked for
      // after that (work in flight finishing) is waited for as usual
      signal: opts.signal ?? activeRuntimeSignal(),
      // granted just as the wait was withdrawn: give it back at once
      onLate: (t) => void call('lock.release', { name, token: t }).catch(() => undefined),
    },
  )) as number;
  let released: Promise<boolean> | null = null;
  const release = (): Promise<boolean> => (released ??= call('lock.release', { name, token }) as Promise<boolean>);
  return {
    name,
    token,
    release,
    async [Symbol.asyncDispose]() {
      await release();
    },
  };
}

/** Runs `fn` holding the lock `name`; releases it however `fn` ends. */
export async function withLock<R>(name: string, fn: (lock: Lock) => Promise<R> | R, opts: LockOptions = {}): Promise<R> {
  const l = await lock(name, opts);
  try {
    return await fn(l);
  } finally {
    await l.release();
  }
}

// --- internal ---

/** The worker runtime's stop signal and the program's concurrency (set by src/worker/main.ts). */
type Runtime = {
  signal?: AbortSignal;
  concurrency?: number;
  /** a task was acked or nacked by this worker (max_requests counts them) */
  onTaskSettled?: () => void;
};

export function setRuntimeDefaults(r: Runtime): void {
  (globalThis as { [RUNTIME_KEY]?: Runtime })[RUNTIME_KEY] = r;
}

/** The worker runtime's defaults; undefined outside a worker. */
function runtime(): Runtime | undefined {
  return (globalThis as { [RUNTIME_KEY]?: Runtime })[RUNTIME_KEY];
}

function runtimeSignal(): AbortSignal | undefined {
  return runtime()?.signal;
}

/** The stop signal while it has not fired: what it aborts is what waits when the stop begins. */
function activeRuntimeSignal(): AbortSignal | undefined {
  const s = runtimeSignal();
  return s?.aborted ? undefined : s;
}

function taskSettled(): void {
  runtime()?.onTaskSettled?.();
}

function runtimeConcurrency(): number {
  return runtime()?.concurrency ?? 1;
}

function call(op: string, args: Record<string, unknown>, opts?: Parameters<ReturnType<typeof sharedClient>['call']>[2]): Promise<unknown> {
  return sharedClient().call(op, args, opts);
}

/** E_BAD_ARGUMENTS for a number the master cannot be given (JSON has no NaN or Infinity). */
function badNumber(op: string, key: string, v: unknown, expected = 'a finite number'): SharedRequestError {
  return new SharedRequestError('E_BAD_ARGUMENTS', `${op}: ${key} must be ${expected}, not ${typeof v === 'number' ? String(v) : JSON.stringify(v) ?? typeof v}`);
}

function slot(v: unknown): { found: boolean; value: unknown } {
  return v === undefined ? { found: false, value: null } : { found: true, value: v };
}

function isAbort(err: unknown): boolean {
  return err instanceof SharedRequestError && (err.code === 'E_ABORTED' || err.code === 'E_DISCONNECTED');
}

/**
 * A handler's failure that the stop caused: an AbortError (a lock wait or a take the stop withdrew, a
 * fetch given ctx.signal) once the stop signal, or the signal that ends the loop, has aborted. Any other
 * error, during a stop too, is the handler's own.
 */
function isStopAbort(err: unknown, loopSignal: AbortSignal | undefined): boolean {
  const stopped = loopSignal?.aborted === true || runtimeSignal()?.aborted === true;
  return stopped && (err as Error | null)?.name === 'AbortError';
}

interface Delivered {
  queue: string;
  id: number;
  data: unknown;
  priority: number;
  attempt: number;
  maxAttempts: number;
}

class TaskHandle<T> implements Task<T> {
  readonly queue: string;
  readonly id: number;
  readonly data: T;
  readonly priority: number;
  readonly attempt: number;
  readonly maxAttempts: number;
  settled = false;

  constructor(d: Delivered) {
    this.queue = d.queue;
    this.id = d.id;
    this.data = d.data as T;
    this.priority = d.priority;
    this.attempt = d.attempt;
    this.maxAttempts = d.maxAttempts;
  }

  ack(): Promise<boolean> {
    this.settle();
    return call('queue.ack', { queue: this.queue, id: this.id, attempt: this.attempt }) as Promise<boolean>;
  }

  nack(opts: { retryInMs?: number; error?: string } = {}): Promise<NackResult> {
    const retryInMs = opts.retryInMs ?? 0;
    // refused before it counts as settled: the task is still the caller's to settle
    if (typeof retryInMs !== 'number' || !Number.isFinite(retryInMs)) return Promise.reject(badNumber('nack', 'retryInMs', retryInMs));
    this.settle();
    return this.giveBack(opts);
  }

  /** A handled task counts once for max_requests, however it was settled. */
  private settle(): void {
    if (!this.settled) taskSettled();
    this.settled = true;
  }

  /** Back to the queue without counting as handled (a loop left before it handled the task). */
  giveBack(opts: { retryInMs?: number; error?: string } = {}): Promise<NackResult> {
    this.settled = true;
    // (nack checked retryInMs; the loop's give-back has none)
    const args: Record<string, unknown> = { queue: this.queue, id: this.id, attempt: this.attempt, retryInMs: Math.max(0, Math.round(opts.retryInMs ?? 0)) };
    // cut: a handler's error text can be anything, and a worker's message has a bound (os/ipc-guard.ts)
    if (opts.error !== undefined) args['error'] = typeof opts.error === 'string' && opts.error.length > MAX_NACK_ERROR_CHARS ? `${opts.error.slice(0, MAX_NACK_ERROR_CHARS)}…` : opts.error;
    return call('queue.nack', args) as Promise<NackResult>;
  }

  /** Back to the queue as if never delivered (no attempt spent, not counted as handled): a stop withdrew it. */
  withdraw(): Promise<boolean> {
    this.settled = true;
    return call('queue.release', { queue: this.queue, id: this.id, attempt: this.attempt }) as Promise<boolean>;
  }

  extend(leaseMs: number): Promise<boolean> {
    if (!(Number.isFinite(leaseMs) && leaseMs > 0)) return Promise.reject(badNumber('extend', 'leaseMs', leaseMs, 'a positive number'));
    return call('queue.extend', { queue: this.queue, id: this.id, attempt: this.attempt, leaseMs: Math.round(leaseMs) }) as Promise<boolean>;
  }
}

class QueueHandle<T> implements Queue<T> {
  constructor(
    readonly name: string,
    private readonly defaults: QueueDefaults,
  ) {}

  async push(data: T, opts: PushOptions = {}): Promise<number> {
    if (data === undefined) throw new TypeError('queue.push: the task must not be undefined');
    // checked here too, so that a task the channel cannot carry is refused like any other
    const problem = taskShapeProblem(data);
    if (problem !== null) throw new SharedRequestError('E_BAD_ARGUMENTS', `queue ${JSON.stringify(this.name)}: ${problem}`);
    for (const key of ['priority', 'delayMs', 'maxAttempts'] as const) {
      const v = opts[key];
      if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v))) throw badNumber('push', key, v);
    }
    const args: Record<string, unknown> = { queue: this.name, data };
    if (opts.priority !== undefined) args['priority'] = opts.priority;
    if (opts.delayMs !== undefined) args['delayMs'] = Math.max(0, Math.round(opts.delayMs));
    if (opts.maxAttempts !== undefined) args['maxAttempts'] = opts.maxAttempts;
    return (await call('queue.push', args)) as number;
  }

  async take(opts: TakeOptions = {}): Promise<Task<T> | null> {
    const signal = opts.signal ?? this.defaults.signal;
    if (opts.leaseMs !== undefined && !(typeof opts.leaseMs === 'number' && Number.isFinite(opts.leaseMs) && opts.leaseMs > 0)) {
      throw badNumber('take', 'leaseMs', opts.leaseMs, 'a positive number');
    }
    const args: Record<string, unknown> = { queue: this.name };
    if (opts.leaseMs !== undefined) args['leaseMs'] = Math.max(1, Math.round(opts.leaseMs));
    try {
      const d = (await call('queue.take', args, {
        signal,
        // delivered just as the take was withdrawn: back to the queue, no attempt spent
        onLate: (v) => void call('queue.release', { queue: this.name, id: (v as Delivered).id, attempt: (v as Delivered).attempt }).catch(() => undefined),
      })) as Delivered;
      return new TaskHandle<T>(d);
    } catch (err) {
      if (isAbort(err)) return null;
      throw err;
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Task<T>> {
    let current: Task<T> | null = null;
    try {
      for (let t = await this.take(); t !== null; t = await this.take()) {
        current = t;
        yield t;
      }
    } finally {
      // the loop was left (break, throw) holding a task it did not settle: give it back now rather than
      // when its lease expires
      if (current && !current.settled) await (current as TaskHandle<T>).giveBack().catch(() => undefined);
    }
  }

  async process(handler: (task: Task<T>) => Promise<void> | void, opts: ProcessOptions = {}): Promise<void> {
    const n = Math.max(1, Math.floor(opts.concurrency ?? this.defaults.concurrency));
    const takeOpts: { signal?: AbortSignal; leaseMs?: number } = {};
    const signal = opts.signal ?? this.defaults.signal;
    if (signal) takeOpts.signal = signal;
    if (opts.leaseMs !== undefined) takeOpts.leaseMs = opts.leaseMs;
    const retryIn = (task: Task<T>): number => {
      const r = opts.retryInMs;
      if (typeof r === 'function') return r(task as Task);
      return r ?? Math.min(60_000, 1000 * 2 ** (task.attempt - 1));
    };
    const slot = async (): Promise<void> => {
      let settling: Promise<unknown> = Promise.resolve();
      for (;;) {
        // issued in the same turn as the previous task's ack, so both travel in one message
        const taking = this.take(takeOpts);
        await settling;
        const task = await taking;
        if (!task) return;
        try {
          await handler(task);
          settling = task.settled ? Promise.resolve() : this.sayIfUnsettled(task, 'ack', this.sayIfLost(task, task.ack()));
        } catch (err) {
          settling = task.settled ? Promise.resolve() : this.settleFailed(task as TaskHandle<T>, err, signal, retryIn);
        }
        // an ack that cannot reach the master (it went away) changes nothing here: the lease ends anyway
        // (one the backend failed was said on stderr by sayIfUnsettled, one answered false by sayIfLost)
        settling = settling.catch(() => undefined);
      }
    };
    await Promise.all(Array.from({ length: n }, slot));
  }

  /** The handler threw: the task is nacked with a retry delay, or given back if the stop caused it. */
  private settleFailed(task: TaskHandle<T>, err: unknown, signal: AbortSignal | undefined, retryIn: (task: Task<T>) => number): Promise<unknown> {
    if (isStopAbort(err, signal)) {
      // the stop withdrew what the handler waited for (a lock, a take of its own): not the task's failure,
      // so it goes back as a withdrawn take does, no attempt spent (docs/shared.md)
      process.stderr.write(`drover queue ${this.name}: task ${task.id} (attempt ${task.attempt}) back to the queue unfinished, no attempt spent: the worker is stopping (${describeThrown(err)})\n`);
      return this.sayIfUnsettled(task, 'release', task.withdraw());
    }
    process.stderr.write(`drover queue ${this.name}: task ${task.id} (attempt ${task.attempt}) failed: ${describeThrown(err, 'stack')}\n`);
    let delay: unknown;
    try {
      delay = retryIn(task);
    } catch (thrown) {
      delay = `an error (${describeThrown(thrown)})`;
    }
    if (typeof delay !== 'number' || !Number.isFinite(delay)) {
      process.stderr.write(`drover queue ${this.name}: retryInMs gave ${typeof delay === 'string' ? delay : describeThrown(delay)} for task ${task.id}, not a finite number; retrying it at once\n`);
      delay = 0;
    }
    return this.sayIfUnsettled(task, 'nack', this.sayIfLost(task, task.nack({ retryInMs: delay as number, error: describeThrown(err) })));
  }

  /**
   * An ack answered false, or a nack 'lost': the lease had been lost before it (it ended while the handler
   * ran, or the task went with a Redis restart), so the task may run, or have run, again elsewhere, and a
   * nack's retry delay and error were not recorded; an operator should see it.
   */
  private sayIfLost<R extends boolean | NackResult>(task: Task<T>, settling: Promise<R>): Promise<R> {
    return settling.then((answer) => {
      if (answer === false || answer === 'lost') {
        const what = answer === false ? 'ack answered false' : "nack answered 'lost' (its retry delay and error not recorded)";
        process.stderr.write(
          `drover queue ${this.name}: task ${task.id} (attempt ${task.attempt}): ${what}: the lease had been lost (it ended before the ${answer === false ? 'ack' : 'nack'}, or the task went with a Redis restart); the task may run, or have run, again elsewhere (at least once)\n`,
        );
      }
      return answer;
    });
  }

  /**
   * A settling the backend failed (Redis down, or not answering in time) is said on stderr: the task then
   * runs again a lease later, and an operator should see why. Not retried: a timed-out call may still have
   * run, and the lease's end delivers the task again either way (at least once).
   */
  private sayIfUnsettled(task: Task<T>, verb: 'ack' | 'nack' | 'release', settling: Promise<unknown>): Promise<unknown> {
    return settling.catch((err: unknown) => {
      if (!(err instanceof SharedRequestError && err.code === 'E_BACKEND')) throw err;
      process.stderr.write(
        `drover queue ${this.name}: task ${task.id} (attempt ${task.attempt}): ${verb} failed: E_BACKEND: ${err.message}; unless it reached the queue after all, the task is delivered again once its lease ends (at least once)\n`,
      );
    });
  }

  async stats(): Promise<QueueStats> {
    const all = (await call('queue.stats', { queue: this.name })) as QueueStats[];
    return all[0] as QueueStats;
  }
}
