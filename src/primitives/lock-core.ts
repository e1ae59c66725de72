// Named mutexes, pure: an injected clock, no timers. Waiters are served first come first served; a lock is
// released by its holder, when its ttl lapses, or when the holder's process exits. Each grant carries a
// token that increases with every grant of any lock (a fencing token: a holder whose ttl lapsed cannot
// release its successor's lock, and a store can refuse writes with an older token). The tokens of one table
// count up from the floor it is given, and never below it: the master gives the wall clock in microseconds,
// so a later master's tokens start above an earlier one's (docs/decisions.md, "Fencing tokens").

interface Holder {
  readonly owner: string;
  readonly token: number;
  /** ms; Infinity without a ttl */
  readonly untilMs: number;
}

interface Waiter {
  readonly owner: string;
  readonly ttlMs: number;
  readonly grant: (token: number) => void;
}

interface LockEntry {
  holder: Holder | null;
  /** first come first served (a Set iterates in insertion order) */
  readonly waiters: Set<Waiter>;
}

export interface LockInfo {
  readonly name: string;
  readonly owner: string | null;
  readonly token: number | null;
  readonly waiting: number;
}

export class LockTable {
  private readonly locks = new Map<string, LockEntry>();
  /** the last token granted; 0 */
  private lastToken = 0;
  /** locks known (held or waited for) plus waits, and the characters of the locks' names: what quota.ts counts */
  private items = 0;
  private nameChars = 0;

  /**
   * `now` drives the ttls; `tokenFloor` is the least token the next grant may have (0: tokens are 1, 2, 3…).
   */
  constructor(
    private readonly now: () => number,
    private readonly tokenFloor: () => number = () => 0,
    /** told of every ttl deadline a grant sets, whatever the call that granted: the owner's timer must be armed for it */
    private readonly onDeadline: (atMs: number) => void = () => {},
  ) {}

  /** What the table holds, as shared_max_bytes counts it: each lock's name, and `overhead` per lock and per wait. */
  countedBytes(overhead: number): number {
    return this.nameChars + overhead * this.items;
  }

  /** Whether `name` is held or waited for now. */
  known(name: string): boolean {
    return this.locks.has(name);
  }

  /** The last token granted (0: none yet). */
  get lastGranted(): number {
    return this.lastToken;
  }

  /**
   * Grants `name` to `owner` now or when it is its turn, calling `grant(token)`; `ttlMs` 0 = no ttl.
   * Returns a function that withdraws the request while it waits.
   */
  acquire(name: string, owner: string, ttlMs: number, grant: (token: number) => void): () => void {
    let entry = this.locks.get(name);
    if (!entry) {
      this.locks.set(name, (entry = { holder: null, waiters: new Set() }));
      this.items += 1;
      this.nameChars += name.length;
    }
    const waiter: Waiter = { owner, ttlMs, grant };
    this.addWaiter(entry, waiter);
    this.serve(name, entry);
    return () => {
      this.dropWaiter(entry, waiter);
      this.forgetIfIdle(name, entry);
    };
  }

  /**
   * Releases `name` if `owner` holds it under `token`; the next waiter gets it at once. The owner is checked
   * too: tokens are the clock in µs, so another worker could guess one (docs/security.md).
   */
  release(name: string, owner: string, token: number): boolean {
    const entry = this.locks.get(name);
    if (!entry?.holder || entry.holder.token !== token || entry.holder.owner !== owner) return false;
    entry.holder = null;
    this.serve(name, entry);
    return true;
  }

  /** The owner has exited: locks it holds are released, its waits dropped. */
  ownerGone(owner: string): void {
    for (const [name, entry] of this.locks) {
      for (const w of entry.waiters) if (w.owner === owner) this.dropWaiter(entry, w);
      if (entry.holder?.owner === owner) entry.holder = null;
      this.serve(name, entry);
    }
  }

  /** Releases locks whose ttl has lapsed. */
  tick(): void {
    const now = this.now();
    for (const [name, entry] of this.locks) {
      if (entry.holder && entry.holder.untilMs <= now) {
        entry.holder = null;
        this.serve(name, entry);
      }
    }
  }

  /** The earliest ttl deadline, or null. */
  nextDeadline(): number | null {
    let next: number | null = null;
    for (const entry of this.locks.values()) {
      const until = entry.holder?.untilMs ?? Infinity;
      if (until !== Infinity && (next === null || until < next)) next = until;
    }
    return next;
  }

  list(): LockInfo[] {
    return [...this.locks].map(([name, e]) => ({
      name,
      owner: e.holder?.owner ?? null,
      token: e.holder?.token ?? null,
      waiting: e.waiters.size,
    }));
  }

  // --- internal ---

  private serve(name: string, entry: LockEntry): void {
    if (!entry.holder) {
      const next = entry.waiters.values().next();
      if (!next.done) {
        const w = next.value;
        this.dropWaiter(entry, w);
        this.lastToken = Math.max(this.lastToken + 1, Math.floor(this.tokenFloor()));
        entry.holder = { owner: w.owner, token: this.lastToken, untilMs: w.ttlMs > 0 ? this.now() + w.ttlMs : Infinity };
        if (entry.holder.untilMs !== Infinity) this.onDeadline(entry.holder.untilMs);
        w.grant(this.lastToken);
      }
    }
    this.forgetIfIdle(name, entry);
  }

  private forgetIfIdle(name: string, entry: LockEntry): void {
    if (entry.holder || entry.waiters.size > 0 || this.locks.get(name) !== entry) return;
    this.locks.delete(name);
    this.items -= 1;
    this.nameChars -= name.length;
  }

  private addWaiter(entry: LockEntry, w: Waiter): void {
    entry.waiters.add(w);
    this.items += 1;
  }

  private dropWaiter(entry: LockEntry, w: Waiter): void {
    if (entry.waiters.delete(w)) this.items -= 1;
  }
}
