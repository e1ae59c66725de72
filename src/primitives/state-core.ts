// Shared key/value state, pure. Values are JSON values (they cross IPC as JSON); every change is
// reported to the key's watchers. One master handles one request at a time, so each operation is atomic.
import { isDeepStrictEqual } from 'node:util';
import { DroverError } from '../errors.js';

export type Watcher = (key: string, found: boolean, value: unknown) => void;

export class NotANumber extends DroverError {
  constructor(message: string) {
    super('E_NOT_A_NUMBER', message);
  }
}

export class StateStore {
  private readonly values = new Map<string, unknown>();
  private readonly watchers = new Map<string, Set<{ owner: string; notify: Watcher }>>();
  /** watches, and the characters of their keys: what quota.ts counts */
  private watches = 0;
  private watchedChars = 0;

  get(key: string): { found: boolean; value: unknown } {
    return this.values.has(key) ? { found: true, value: this.values.get(key) } : { found: false, value: null };
  }

  set(key: string, value: unknown): void {
    this.values.set(key, value);
    this.changed(key);
  }

  delete(key: string): boolean {
    const had = this.values.delete(key);
    if (had) this.changed(key);
    return had;
  }

  /** Adds `by` to a number (an absent key counts as 0); returns the new value. */
  increment(key: string, by: number): number {
    const cur = this.values.has(key) ? this.values.get(key) : 0;
    if (typeof cur !== 'number') throw new NotANumber(`state "${key}" holds ${JSON.stringify(cur)}, not a number`);
    const next = cur + by;
    // JSON, the channel's format, has no Infinity: it would be stored and then read back as null
    if (!Number.isFinite(next)) throw new NotANumber(`state "${key}": ${cur} + ${by} is past the largest number`);
    this.values.set(key, next);
    this.changed(key);
    return next;
  }

  /**
   * Sets `key` to `next` only if it holds `expected` (deep equality); `expected.found` false means the key
   * must be absent, `next.found` false deletes it. Returns whether it was set.
   */
  compareAndSet(key: string, expected: { found: boolean; value: unknown }, next: { found: boolean; value: unknown }): boolean {
    const has = this.values.has(key);
    if (has !== expected.found || (has && !isDeepStrictEqual(this.values.get(key), expected.value))) return false;
    if (next.found) this.values.set(key, next.value);
    else this.values.delete(key);
    this.changed(key);
    return true;
  }

  /** Calls `notify` after every change of `key`; returns a function that stops it. */
  watch(key: string, owner: string, notify: Watcher): () => void {
    let set = this.watchers.get(key);
    if (!set) this.watchers.set(key, (set = new Set()));
    const w = { owner, notify };
    set.add(w);
    this.watches += 1;
    this.watchedChars += key.length;
    return () => {
      if (set.delete(w)) this.unwatched(key);
      if (set.size === 0 && this.watchers.get(key) === set) this.watchers.delete(key);
    };
  }

  /** What the watches hold, as shared_max_bytes counts it: each one's key, and `overhead`. */
  countedBytes(overhead: number): number {
    return this.watchedChars + overhead * this.watches;
  }

  ownerGone(owner: string): void {
    for (const [key, set] of this.watchers) {
      for (const w of set) if (w.owner === owner && set.delete(w)) this.unwatched(key);
      if (set.size === 0) this.watchers.delete(key);
    }
  }

  keys(): string[] {
    return [...this.values.keys()];
  }

  /** Every key and value, for a snapshot. */
  entries(): [string, unknown][] {
    return [...this.values];
  }

  // --- internal ---

  private unwatched(key: string): void {
    this.watches -= 1;
    this.watchedChars -= key.length;
  }

  private changed(key: string): void {
    const set = this.watchers.get(key);
    if (!set) return;
    const { found, value } = this.get(key);
    for (const w of set) w.notify(key, found, value);
  }
}
