// The master's side of the shared primitives: validates each worker request, runs it on the backend, and
// answers by seq. Answers and watch events for one worker are gathered and sent as one IPC message per
// turn of the event loop. A worker's leases, locks, waits and watches end with its process (`workerExited`).
import { DroverError } from '../errors.js';
import type { SharedCall, SharedEvent, SharedReplyMessage, SharedResult } from '../ipc/protocol.js';
import type { Awaitable, SharedBackend, Slot } from './backend.js';
import { DEFAULT_LEASE_MS, DEFAULT_MAX_ATTEMPTS, stateValueProblem, taskShapeProblem, type Delivery, type PushOptions } from './queue-core.js';

/** The codes a refused request carries (docs/shared.md); never renumbered or reused. */
export type SharedErrorCode = 'E_BAD_REQUEST' | 'E_BAD_ARGUMENTS' | 'E_BAD_JSON' | 'E_UNKNOWN_OP' | 'E_QUOTA';

/** A request the service refuses; `code` is stable (docs/shared.md). */
export class SharedError extends DroverError {
  declare readonly code: SharedErrorCode;
  constructor(code: SharedErrorCode, message: string) {
    super(code, message);
  }
}

/** Longest queue, key or lock name accepted. */
export const MAX_NAME_LENGTH = 256;

/** One connected worker process. */
interface Link {
  readonly owner: string;
  readonly send: (m: SharedReplyMessage) => void;
  /** withdraw functions of waiting requests (take, lock) and of watches, by seq */
  readonly waits: Map<number, () => void>;
  readonly watches: Map<number, () => void>;
  /** answers and events not sent yet; flushed once per turn */
  results: SharedResult[];
  events: SharedEvent[];
  flushQueued: boolean;
  gone: boolean;
}

/** Marker: the request is answered later through `answer`. */
const LATER = Symbol('later');

type Op = (link: Link, a: Args, seq: number) => Awaitable<unknown> | typeof LATER;

/** A take's answer carrying a task: what is done when it cannot be sent (`sendSeparately`). */
interface PendingDelivery {
  readonly task: Delivery;
  /** registers the take again, so that the worker waits on for the next task */
  readonly retake: () => void;
}

export class SharedService {
  private readonly links = new Map<string, Link>();
  /** answers that hand over a task, until sent */
  private readonly deliveries = new WeakMap<SharedResult, PendingDelivery>();

  constructor(
    readonly backend: SharedBackend,
    /** where a task or answer that could not be sent is reported (drover's log) */
    private readonly warn: (message: string) => void = () => {},
  ) {}

  /** Handles the calls of one `sh` message from worker `key` (pid `pid`); `send` reaches that worker. */
  handle(key: string, pid: number, calls: readonly SharedCall[], send: (m: SharedReplyMessage) => void): void {
    const owner = ownerOf(key, pid);
    let link = this.links.get(owner);
    if (!link) {
      link = { owner, send, waits: new Map(), watches: new Map(), results: [], events: [], flushQueued: false, gone: false };
      this.links.set(owner, link);
    }
    for (const [seq, op, args] of calls) this.run(link, seq, op, args);
  }

  /** Worker `key` (pid `pid`) has exited: everything it held or waited for is given back now. */
  workerExited(key: string, pid: number): void {
    const owner = ownerOf(key, pid);
    const link = this.links.get(owner);
    if (link) {
      link.gone = true;
      for (const cancel of link.waits.values()) cancel();
      for (const cancel of link.watches.values()) cancel();
      this.links.delete(owner);
    }
    this.backend.ownerGone(owner);
  }

  // --- internal ---

  private run(link: Link, seq: number, op: string, args: Readonly<Record<string, unknown>>): void {
    const fn = Object.hasOwn(OPS, op) ? OPS[op] : undefined;
    if (!fn) {
      this.fail(link, seq, new SharedError('E_UNKNOWN_OP', `unknown operation ${JSON.stringify(op)}`));
      return;
    }
    let out: Awaitable<unknown> | typeof LATER;
    try {
      out = fn.call(this, link, new Args(args), seq);
    } catch (err) {
      this.fail(link, seq, err);
      return;
    }
    if (out === LATER) return;
    if (out instanceof Promise) out.then((v) => this.answer(link, seq, v), (err: unknown) => this.fail(link, seq, err));
    else this.answer(link, seq, out);
  }

  answer(link: Link, seq: number, value: unknown): void {
    this.enqueue(link, [seq, 1, value === undefined ? null : value]);
  }

  /** Answers a take with its task; `retake` waits again if the task cannot be sent. */
  deliver(link: Link, seq: number, task: Delivery, retake: () => void): void {
    const r: SharedResult = [seq, 1, task];
    this.deliveries.set(r, { task, retake });
    this.enqueue(link, r);
  }

  private fail(link: Link, seq: number, err: unknown): void {
    // SharedError and the cores' errors (NotANumber) carry a stable code; anything else is internal
    const raw = err instanceof Error ? (err as Error & { code?: unknown }).code : undefined;
    const code = typeof raw === 'string' ? raw : 'E_INTERNAL';
    this.enqueue(link, [seq, 0, code, err instanceof Error ? err.message : String(err)]);
  }

  private enqueue(link: Link, r: SharedResult): void {
    if (link.gone) return;
    link.results.push(r);
    this.queueFlush(link);
  }

  event(link: Link, e: SharedEvent): void {
    if (link.gone) return;
    link.events.push(e);
    this.queueFlush(link);
  }

  /** One IPC message per worker per turn: requests that arrive together are answered together. */
  private queueFlush(link: Link): void {
    if (link.flushQueued) return;
    link.flushQueued = true;
    queueMicrotask(() => {
      link.flushQueued = false;
      if (link.gone || (link.results.length === 0 && link.events.length === 0)) return;
      // nothing is answered before it is in the journal
      this.backend.flush?.();
      const { results, events } = link;
      link.results = [];
      link.events = [];
      try {
        link.send(events.length > 0 ? { t: 'shr', results, events } : { t: 'shr', results });
      } catch {
        // The channel serialises with JSON.stringify, which throws on a value too deep for its recursion
        // (a closed channel does not throw). Nothing was sent: find what cannot be, and send the rest.
        this.sendSeparately(link, results, events);
      }
    });
  }

  /** Sends each answer and event on its own; one that still fails is reported, and its task dead-lettered. */
  private sendSeparately(link: Link, results: readonly SharedResult[], events: readonly SharedEvent[]): void {
    for (const r of results) {
      try {
        link.send({ t: 'shr', results: [r] });
      } catch (err) {
        this.unsendable(link, r, describe(err));
      }
    }
    for (const e of events) {
      try {
        link.send({ t: 'shr', results: [], events: [e] });
      } catch (err) {
        this.warn(`state ${JSON.stringify(e[1])}: a change could not be sent to the watching worker ${link.owner} (${describe(err)}); that notification is dropped`);
      }
    }
  }

  /**
   * An answer that cannot be sent. A task goes to the dead letters, since every worker would fail on it
   * the same way, and the take waits on; any other answer becomes an error for its request.
   */
  private unsendable(link: Link, r: SharedResult, why: string): void {
    const delivery = this.deliveries.get(r);
    if (!delivery) {
      this.warn(`an answer could not be sent to worker ${link.owner} (${why}); the request gets E_INTERNAL`);
      this.enqueue(link, [r[0], 0, 'E_INTERNAL', `the answer could not be sent: ${why}`]);
      return;
    }
    const { task, retake } = delivery;
    const what = `queue ${JSON.stringify(task.queue)}: task ${task.id} could not be sent to worker ${link.owner} (${why})`;
    // async: a backend that throws at once (the journal serialising the task) rejects instead
    const bury = async (): Promise<boolean> => this.backend.bury(task.queue, task.id, link.owner, `could not be sent to worker ${link.owner}: ${why}`);
    bury().then(
      // not held any more: the lease ended meanwhile (its worker exited, or it lapsed) and the task went back
      (held) => this.warn(`${what}; ${held ? 'moved to the dead letters' : 'its lease had ended meanwhile, so it is back in the queue'}`),
      (err: unknown) => this.warn(`${what}; it could not be moved to the dead letters either: ${describe(err)}`),
    );
    if (!link.gone) retake();
  }
}

/** The operations, by name (docs/shared.md). `this` is the service. */
const OPS: Record<string, Op> = {
  'queue.push'(this: SharedService, _l, a) {
    const queue = a.name('queue');
    return this.backend.push(queue, a.task('data', queue), pushOptions(a));
  },
  'queue.take'(this: SharedService, link, a, seq) {
    let answered = false;
    const cancel = this.backend.take(a.name('queue'), link.owner, a.int('leaseMs', DEFAULT_LEASE_MS, 1), (d) => {
      answered = true;
      link.waits.delete(seq);
      this.deliver(link, seq, d, () => void OPS['queue.take']?.call(this, link, a, seq));
    });
    // answered at once when a task was ready: nothing left to withdraw
    if (!answered) link.waits.set(seq, cancel);
    return LATER;
  },
  'queue.ack'(this: SharedService, link, a) {
    return this.backend.ack(a.name('queue'), a.int('id', -1, 1), link.owner, a.int('attempt', 0, 0));
  },
  'queue.nack'(this: SharedService, link, a) {
    const error = a.optionalString('error');
    return this.backend.nack(a.name('queue'), a.int('id', -1, 1), link.owner, a.int('retryInMs', 0, 0), error, a.int('attempt', 0, 0));
  },
  'queue.release'(this: SharedService, link, a) {
    return this.backend.release(a.name('queue'), a.int('id', -1, 1), link.owner, a.int('attempt', 0, 0));
  },
  'queue.extend'(this: SharedService, link, a) {
    return this.backend.extend(a.name('queue'), a.int('id', -1, 1), link.owner, a.int('leaseMs', DEFAULT_LEASE_MS, 1), a.int('attempt', 0, 0));
  },
  'queue.stats'(this: SharedService, _l, a) {
    const q = a.optionalString('queue');
    return this.backend.queueStats(q === null ? null : a.name('queue'));
  },
  'state.get'(this: SharedService, _l, a) {
    return this.backend.stateGet(a.name('key'));
  },
  'state.set'(this: SharedService, _l, a) {
    const key = a.name('key');
    return this.backend.stateSet(key, a.stateValue('value', key));
  },
  'state.delete'(this: SharedService, _l, a) {
    return this.backend.stateDelete(a.name('key'));
  },
  'state.increment'(this: SharedService, _l, a) {
    return this.backend.stateIncrement(a.name('key'), a.number('by', 1));
  },
  'state.cas'(this: SharedService, _l, a) {
    const key = a.name('key');
    return this.backend.stateCompareAndSet(key, a.slot('expected', key), a.slot('next', key));
  },
  'state.watch'(this: SharedService, link, a, seq) {
    const key = a.name('key');
    link.watches.set(seq, this.backend.stateWatch(key, link.owner, (k, found, value) => this.event(link, [seq, k, found, value])));
    return this.backend.stateGet(key);
  },
  'state.unwatch'(this: SharedService, link, a) {
    const id = a.int('watch', -1, 0);
    const cancel = link.watches.get(id);
    link.watches.delete(id);
    cancel?.();
    return cancel !== undefined;
  },
  'lock.acquire'(this: SharedService, link, a, seq) {
    let answered = false;
    const cancel = this.backend.lockAcquire(a.name('name'), link.owner, a.int('ttlMs', 0, 0), (token) => {
      answered = true;
      link.waits.delete(seq);
      this.answer(link, seq, token);
    });
    if (!answered) link.waits.set(seq, cancel);
    return LATER;
  },
  'lock.release'(this: SharedService, link, a) {
    // only by its holder: a token is the clock in µs, which another worker can guess
    return this.backend.lockRelease(a.name('name'), link.owner, a.int('token', -1, 1));
  },
  /** withdraws a waiting take or lock; false when it was answered already (the answer is on its way) */
  cancel(this: SharedService, link, a) {
    const seq = a.int('seq', -1, 0);
    const cancel = link.waits.get(seq);
    link.waits.delete(seq);
    cancel?.();
    return cancel !== undefined;
  },
};

/** What the push options are called where they arrive: a worker's request uses the JS API's names. */
export interface PushOptionNames {
  readonly delayMs: string;
  readonly maxAttempts: string;
}

const WORKER_PUSH_NAMES: PushOptionNames = { delayMs: 'delayMs', maxAttempts: 'maxAttempts' };

/**
 * Push options from request arguments (worker requests and the JSON API alike), read under `names` so that
 * an error names the field as the sender spelt it (the JSON API's `delay_ms`, a worker's `delayMs`).
 */
export function pushOptions(a: Args, names: PushOptionNames = WORKER_PUSH_NAMES): PushOptions {
  return { priority: a.int('priority', 0), delayMs: a.int(names.delayMs, 0, 0), maxAttempts: a.int(names.maxAttempts, DEFAULT_MAX_ATTEMPTS, 1) };
}

/** Typed, validated access to request arguments. */
export class Args {
  /**
   * `fromQuery`: the arguments are a query string's, every value a string, so a number may come as its
   * digits; a JSON body's or a worker's number must be a JSON number (false).
   */
  constructor(
    private readonly a: Readonly<Record<string, unknown>>,
    private readonly fromQuery = false,
  ) {}

  name(key: string): string {
    const v = this.a[key];
    if (typeof v !== 'string' || v.length === 0 || v.length > MAX_NAME_LENGTH) {
      throw new SharedError('E_BAD_REQUEST', `"${key}" must be a non-empty string of at most ${MAX_NAME_LENGTH} characters`);
    }
    return v;
  }

  optionalString(key: string): string | null {
    const v = this.a[key];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'string') throw new SharedError('E_BAD_REQUEST', `"${key}" must be a string`);
    return v;
  }

  int(key: string, dflt: number, min = -Number.MAX_SAFE_INTEGER): number {
    const v = this.numeric(key);
    if (v === undefined || v === null) {
      if (dflt < min) throw new SharedError('E_BAD_REQUEST', `"${key}" is required`);
      return dflt;
    }
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
      throw new SharedError('E_BAD_REQUEST', `"${key}" must be an integer${min > -Number.MAX_SAFE_INTEGER ? ` ≥ ${min}` : ''}, got ${JSON.stringify(v)}`);
    }
    return v;
  }

  number(key: string, dflt: number): number {
    const v = this.numeric(key);
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new SharedError('E_BAD_REQUEST', `"${key}" must be a finite number`);
    return v;
  }

  /** A JSON value; absent is an error (null is a value). */
  data(key: string): unknown {
    if (!Object.hasOwn(this.a, key) || this.a[key] === undefined) throw new SharedError('E_BAD_REQUEST', `"${key}" is required`);
    return this.a[key];
  }

  /** A task for `queue`: a JSON value no deeper and no larger than a task may be (taskShapeProblem). */
  task(key: string, queue: string): unknown {
    const data = this.data(key);
    const problem = taskShapeProblem(data);
    if (problem !== null) throw new SharedError('E_BAD_ARGUMENTS', `queue ${JSON.stringify(queue)}: ${problem}`);
    return data;
  }

  /**
   * A value for the state key `stateKey`: no deeper and no larger than a task may be (taskShapeProblem).
   * The store compares values recursively (compareAndSet) and sends them to watchers: a much deeper one
   * overflowed the master's stack (E_INTERNAL).
   */
  stateValue(key: string, stateKey: string): unknown {
    return checkedValue(this.data(key), stateKey);
  }

  slot(key: string, stateKey: string): Slot {
    const v = this.a[key];
    if (typeof v !== 'object' || v === null || typeof (v as { found?: unknown }).found !== 'boolean') {
      throw new SharedError('E_BAD_REQUEST', `"${key}" must be { found: boolean, value }`);
    }
    const s = v as { found: boolean; value?: unknown };
    return { found: s.found, value: s.found ? checkedValue(s.value ?? null, stateKey) : null };
  }

  /** A query-string number ("42") as a number; anything else as it is. Names stay strings ("7" is a name). */
  private numeric(key: string): unknown {
    const v = this.a[key];
    return this.fromQuery && typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v;
  }
}

function checkedValue(value: unknown, stateKey: string): unknown {
  const problem = stateValueProblem(stateKey, value);
  if (problem !== null) throw new SharedError('E_BAD_ARGUMENTS', problem);
  return value;
}

function ownerOf(key: string, pid: number): string {
  return `${key}#${pid}`;
}

/** An error as one line for the log: its name and message. */
function describe(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
