// Who follows a log stream (`tail -f`, the web page): each follower gets a copy of every byte written. The
// set exists only while somebody follows: an empty Set costs ~150 bytes of heap, and a daemon has two log
// streams per program, nearly always unfollowed (bench/RESULTS.md, fourteenth session).

export type Follower = (chunk: Buffer) => void;

export class Followers {
  private set: Set<Follower> | null = null;

  /** Adds a follower; returns the function that removes it. */
  add(follower: Follower): () => void {
    (this.set ??= new Set()).add(follower);
    return () => {
      if (this.set === null) return;
      this.set.delete(follower);
      if (this.set.size === 0) this.set = null;
    };
  }

  /** Gives each follower its own copy of `buf` (a string holds one byte per character, latin1). */
  deliver(buf: Buffer | string): void {
    const set = this.set;
    if (set === null) return;
    const copy = typeof buf === 'string' ? Buffer.from(buf, 'latin1') : Buffer.from(buf);
    for (const f of set) f(copy);
  }
}
