// The master's side of the shared primitives: validates each worker request, runs it on the backend, and
// answers by seq. Answers and watch events for one worker are gathered and sent as one IPC message per
// turn of the event loop. A worker's leases, locks, waits and watches end with its process (`workerExited`).
import type { SharedCall, SharedEvent, SharedReplyMessage, SharedResult } from '../ipc/protocol.js';
import type { Awaitable, SharedBackend, Slot } from './backend.js';
import { DEFAULT_LEASE_MS, DEFAULT_MAX_ATTEMPTS, type PushOptions } from './queue-core.js';

/** A request the service refuses; `code` is stable (docs/shared.md). */
export class SharedError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
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

export class SharedService {
  private readonly links = new Map<string, Link>();

  constructor(readonly backend: SharedBackend) {}

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
      const msg: SharedReplyMessage =
        link.events.length > 0 ? { t: 'shr', results: link.results, events: link.events } : { t: 'shr', results: link.results };
      link.results = [];
      link.events = [];
      link.send(msg);
    });
  }
}

/** The operations, by name (docs/shared.md). `this` is the service. */
const OPS: Record<string, Op> = {
  'queue.push'(this: SharedService, _l, a) {
    return this.backend.push(a.name('queue'), a.data('data'), pushOptions(a));
  },
  'queue.take'(this: SharedService, link, a, seq) {
    let answered = false;
    const cancel = this.backend.take(a.name('queue'), link.owner, a.int('leaseMs', DEFAULT_LEASE_MS, 1), (d) => {
      answered = true;
      link.waits.delete(seq);
      this.answer(link, seq, d);
    });
    // answered at once when a task was ready: nothing left to withdraw
    if (!answered) link.waits.set(seq, cancel);
    return LATER;
  },
  'queue.ack'(this: SharedService, link, a) {
    return this.backend.ack(a.name('queue'), a.int('id', -1, 1), link.owner);
  },
  'queue.nack'(this: SharedService, link, a) {
    const error = a.optionalString('error');
    return this.backend.nack(a.name('queue'), a.int('id', -1, 1), link.owner, a.int('retryInMs', 0, 0), error);
  },
  'queue.release'(this: SharedService, link, a) {
    return this.backend.release(a.name('queue'), a.int('id', -1, 1), link.owner);
  },
  'queue.extend'(this: SharedService, link, a) {
    return this.backend.extend(a.name('queue'), a.int('id', -1, 1), link.owner, a.int('leaseMs', DEFAULT_LEASE_MS, 1));
  },
  'queue.stats'(this: SharedService, _l, a) {
    const q = a.optionalString('queue');
    return this.backend.queueStats(q === null ? null : a.name('queue'));
  },
  'state.get'(this: SharedService, _l, a) {
    return this.backend.stateGet(a.name('key'));
  },
  'state.set'(this: SharedService, _l, a) {
    return this.backend.stateSet(a.name('key'), a.data('value'));
  },
  'state.delete'(this: SharedService, _l, a) {
    return this.backend.stateDelete(a.name('key'));
  },
  'state.increment'(this: SharedService, _l, a) {
    return this.backend.stateIncrement(a.name('key'), a.number('by', 1));
  },
  'state.cas'(this: SharedService, _l, a) {
    return this.backend.stateCompareAndSet(a.name('key'), a.slot('expected'), a.slot('next'));
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
  'lock.release'(this: SharedService, _l, a) {
    return this.backend.lockRelease(a.name('name'), a.int('token', -1, 1));
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

/** Push options from request arguments (worker requests and the JSON API alike). */
export function pushOptions(a: Args): PushOptions {
  return { priority: a.int('priority', 0), delayMs: a.int('delayMs', 0, 0), maxAttempts: a.int('maxAttempts', DEFAULT_MAX_ATTEMPTS, 1) };
}

/** Typed, validated access to request arguments. */
export class Args {
  constructor(private readonly a: Readonly<Record<string, unknown>>) {}

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
    const v = numeric(this.a[key]);
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
    const v = numeric(this.a[key]);
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new SharedError('E_BAD_REQUEST', `"${key}" must be a finite number`);
    return v;
  }

  /** A JSON value; absent is an error (null is a value). */
  data(key: string): unknown {
    if (!Object.hasOwn(this.a, key) || this.a[key] === undefined) throw new SharedError('E_BAD_REQUEST', `"${key}" is required`);
    return this.a[key];
  }

  slot(key: string): Slot {
    const v = this.a[key];
    if (typeof v !== 'object' || v === null || typeof (v as { found?: unknown }).found !== 'boolean') {
      throw new SharedError('E_BAD_REQUEST', `"${key}" must be { found: boolean, value }`);
    }
    const s = v as { found: boolean; value?: unknown };
    return { found: s.found, value: s.found ? (s.value ?? null) : null };
  }
}

function ownerOf(key: string, pid: number): string {
  return `${key}#${pid}`;
}

/** A query-string number ("42") as a number; anything else as it is. Names stay strings ("7" is a name). */
function numeric(v: unknown): unknown {
  return typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v;
}
