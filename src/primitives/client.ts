// The worker's side of the shared primitives: sends requests to the master over the IPC channel and
// matches the answers by seq. Requests made in one turn of the event loop travel in one message (an ack
// and the next take, or a burst of pushes, cost one IPC write), answers come back the same way.
import { DroverError } from '../errors.js';
import { MAX_CALLS_PER_MESSAGE, type SharedCall, type SharedEvent, type SharedResult } from '../ipc/protocol.js';

/** An error answered by the master (or a local one: no master, aborted); `code` is stable. */
/**
 * The most a call can carry, in MiB of JSON (each value or task at most 1 MiB, api.ts): a compareAndSet has
 * two values, a push or a set one, the rest (takes, acks, gets; a nack's error is cut to 64 KiB) next to none.
 */
function callWeight(call: SharedCall): number {
  const op = call[1];
  return op === 'state.cas' ? 2 : op === 'state.set' || op === 'queue.push' ? 1 : 0;
}

/** At most this many MiB of values per message (callWeight): 16, a quarter of the master's bound on a line. */
const MAX_WEIGHT_PER_MESSAGE = 16;

export class SharedRequestError extends DroverError {
  constructor(code: string, message: string) {
    super(code, message);
    this.name = code === 'E_ABORTED' ? 'AbortError' : 'SharedRequestError';
  }
}

interface Pending {
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: Error) => void;
  /** for a withdrawn wait whose answer crossed the withdrawal: gives back what was granted */
  readonly onLate: ((v: unknown) => void) | null;
  cancelled: boolean;
}

export interface CallOptions {
  /** withdraws a waiting request (take, lock); the promise rejects with E_ABORTED */
  readonly signal?: AbortSignal | undefined;
  /** called with the answer of a request withdrawn too late, so that it can be given back */
  readonly onLate?: (value: unknown) => void;
}

export class SharedClient {
  private lastSeq = 0;
  private readonly pending = new Map<number, Pending>();
  private outbox: SharedCall[] = [];
  private flushQueued = false;
  private readonly watchers = new Map<number, (key: string, found: boolean, value: unknown) => void>();
  private disconnected = false;

  constructor() {
    const only = "drover's queue, state and lock work only inside a drover worker process (worker = in the config, or drover serve)";
    if (typeof process.send !== 'function') throw new SharedRequestError('E_NO_MASTER', only);
    // a process a worker forked has a channel too, to the worker, which would never answer
    if (!(RUNTIME_KEY in globalThis)) {
      throw new SharedRequestError('E_NO_MASTER', `${only}; this process's IPC channel leads elsewhere (a process a worker forked?): make the call in the worker`);
    }
    process.on('message', (m: unknown) => this.onMessage(m));
    process.on('disconnect', () => this.failAll());
  }

  /** Sends one request; resolves with the master's answer. */
  call(op: string, args: Record<string, unknown>, opts: CallOptions = {}): Promise<unknown> {
    if (this.disconnected) return Promise.reject(new SharedRequestError('E_DISCONNECTED', 'the master has gone away'));
    const signal = opts.signal;
    if (signal?.aborted) return Promise.reject(new SharedRequestError('E_ABORTED', `${op} aborted`));
    const seq = ++this.lastSeq;
    return new Promise((resolve, reject) => {
      let onAbort: (() => void) | null = null;
      const done = (): void => {
        if (onAbort) signal?.removeEventListener('abort', onAbort);
      };
      const p: Pending = {
        resolve: (v) => {
          done();
          resolve(v);
        },
        reject: (e) => {
          done();
          reject(e);
        },
        onLate: opts.onLate ?? null,
        cancelled: false,
      };
      this.pending.set(seq, p);
      this.enqueue([seq, op, args]);
      if (!signal) return;
      onAbort = (): void => {
        if (p.cancelled || !this.pending.has(seq)) return;
        p.cancelled = true;
        reject(new SharedRequestError('E_ABORTED', `${op} aborted`));
        // The master answers the withdrawal after any answer it already sent for `seq`, so once the
        // withdrawal's answer is here nothing more can come for `seq`.
        void this.call('cancel', { seq })
          .catch(() => undefined)
          .finally(() => this.pending.delete(seq));
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Registers a watch callback under the seq of its `state.watch` request. */
  addWatcher(id: number, fn: (key: string, found: boolean, value: unknown) => void): void {
    this.watchers.set(id, fn);
  }

  removeWatcher(id: number): void {
    this.watchers.delete(id);
  }

  /** The seq the next call will get (a watch is named by its request's seq). */
  get nextSeq(): number {
    return this.lastSeq + 1;
  }

  // --- internal ---

  private enqueue(call: SharedCall): void {
    this.outbox.push(call);
    if (this.flushQueued) return;
    this.flushQueued = true;
    // setImmediate, not a microtask: an ack and the take that follows it are issued in different
    // microtasks of one turn, and should share a message
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushQueued = false;
    if (this.outbox.length === 0) return;
    const all = this.outbox;
    this.outbox = [];
    if (!process.connected || !process.send) {
      this.failAll();
      return;
    }
    // in messages of a bounded size: the master kills a worker whose line grows past its bound
    let start = 0;
    let weight = 0;
    for (let i = 0; i < all.length; i++) {
      const w = callWeight(all[i] as SharedCall);
      if (i > start && (i - start >= MAX_CALLS_PER_MESSAGE || weight + w > MAX_WEIGHT_PER_MESSAGE)) {
        this.sendBatch(all.slice(start, i));
        start = i;
        weight = 0;
      }
      weight += w;
    }
    this.sendBatch(start === 0 ? all : all.slice(start));
  }

  private sendBatch(calls: SharedCall[]): void {
    // an error in the callback means the channel closed under us; 'disconnect' fails what is pending
    try {
      process.send?.({ t: 'sh', calls }, undefined, {}, () => undefined);
    } catch {
      // JSON.stringify threw (a value too deep, a BigInt, a cycle) and nothing was sent: each call is
      // tried on its own, and those that cannot go fail instead of ending the worker
      for (const call of calls) this.sendOne(call);
    }
  }

  private sendOne(call: SharedCall): void {
    try {
      process.send?.({ t: 'sh', calls: [call] }, undefined, {}, () => undefined);
    } catch (err) {
      const p = this.pending.get(call[0]);
      this.pending.delete(call[0]);
      p?.reject(new SharedRequestError('E_BAD_ARGUMENTS', `${call[1]}: the request cannot be sent to the master: ${err instanceof Error ? err.message : String(err)}`));
    }
  }

  private onMessage(m: unknown): void {
    if (typeof m !== 'object' || m === null || (m as { t?: unknown }).t !== 'shr') return;
    const { results, events } = m as { results?: unknown; events?: unknown };
    if (Array.isArray(results)) for (const r of results as SharedResult[]) this.settle(r);
    if (Array.isArray(events)) {
      for (const [id, key, found, value] of events as SharedEvent[]) this.watchers.get(id)?.(key, found, value);
    }
  }

  private settle(r: SharedResult): void {
    const p = this.pending.get(r[0]);
    if (!p) return;
    if (p.cancelled) {
      // answered before the master saw the withdrawal: give back what was granted
      if (r[1] === 1) p.onLate?.(r[2]);
      return;
    }
    this.pending.delete(r[0]);
    if (r[1] === 1) p.resolve(r[2]);
    else p.reject(new SharedRequestError(r[2], r[3]));
  }

  private failAll(): void {
    this.disconnected = true;
    for (const [seq, p] of this.pending) {
      this.pending.delete(seq);
      if (!p.cancelled) p.reject(new SharedRequestError('E_DISCONNECTED', 'the master has gone away'));
    }
  }
}

const KEY = Symbol.for('drover.sharedClient');
/** Where the worker runtime (src/worker/main.ts) puts its defaults, through api.ts's setRuntimeDefaults: set only in a worker */
export const RUNTIME_KEY = Symbol.for('drover.sharedRuntime');

/**
 * The process's one client. Kept on globalThis: a worker module may import 'drover' from another copy of
 * the package than the runtime's, and two clients would each claim answers meant for the other.
 */
export function sharedClient(): SharedClient {
  const g = globalThis as { [KEY]?: SharedClient };
  g[KEY] ??= new SharedClient();
  return g[KEY];
}
