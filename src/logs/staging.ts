// Reusable memory for log write queues. A log file copies what it queues into chunks taken from a small
// pool shared by every file, and gives a chunk back once everything in it is written. At full speed a
// fresh buffer per read was ~100 MB of garbage per million lines, which V8 collected with full
// mark-compact collections (4 per million lines, measured with --trace-gc); reused chunks allocate nothing
// once warm.

const NL = 0x0a;
/** One chunk of staging memory. */
const CHUNK_BYTES = 64 * 1024;
/** Chunks kept for reuse when no file holds them (at most 1 MiB idle). */
const POOL_CHUNKS = 16;
/**
 * A file without a chunk copies writes smaller than this into a buffer of their own size (Node carves
 * those from its shared slabs: 8 KiB on Node 20, 64 KiB on Node 24): a quiet program's line does not hold 64 KiB, and a thousand programs
 * starting at once do not each take a chunk.
 */
const SMALL_WRITE_BYTES = 4 * 1024;

/** Free chunks, shared by every file. */
const pool: Buffer[] = [];

/** Copies of queued lines in reusable chunks; each copy is a view that stays valid until it is released. */
export class Staging {
  /** the chunk being filled; null when none is held */
  private chunk: Buffer | null = null;
  /** bytes of `chunk` handed out */
  private used = 0;
  /**
   * chunks with views not yet released, by their memory, with how many bytes of them are still out; null
   * while none is (an idle file holds no Map: most of a daemon's files are idle nearly always)
   */
  private out: Map<ArrayBufferLike, { chunk: Buffer; bytes: number }> | null = null;

  /**
   * Copies `buf` (complete lines; a string holds one byte per character, latin1) and returns the copy as
   * views that each end at a line boundary, so a line never spans two views (rotation falls between
   * views). A line longer than a chunk, and a small write while no chunk is held, get a buffer of their
   * own, which is never reused.
   */
  copy(buf: Buffer | string): Buffer[] {
    if (this.chunk === null && buf.length < SMALL_WRITE_BYTES) return [typeof buf === 'string' ? Buffer.from(buf, 'latin1') : Buffer.from(buf)];
    const views: Buffer[] = [];
    let off = 0;
    while (off < buf.length) {
      const space = this.chunk === null ? 0 : CHUNK_BYTES - this.used;
      if (buf.length - off <= space) {
        views.push(this.put(buf, off, buf.length));
        break;
      }
      // the lines that fit, cut after a newline
      const cut = space > 0 ? lastNewline(buf, off + space - 1) : -1;
      if (cut >= off) {
        views.push(this.put(buf, off, cut + 1));
        off = cut + 1;
        continue;
      }
      if (this.chunk === null || this.used > 0) {
        this.nextChunk();
        continue;
      }
      // an empty chunk and still no whole line fits: a line longer than a chunk
      const eol = typeof buf === 'string' ? buf.indexOf('\n', off) : buf.indexOf(NL, off);
      const end = eol < 0 ? buf.length : eol + 1;
      views.push(typeof buf === 'string' ? Buffer.from(buf.slice(off, end), 'latin1') : Buffer.from(buf.subarray(off, end)));
      off = end;
    }
    return views;
  }

  /** Everything of `view` is written or dropped: a chunk nothing refers to any more goes back to the pool. */
  release(view: Buffer): void {
    const entry = this.out?.get(view.buffer);
    if (entry === undefined) return; // a buffer of its own (a long line, a short write's rest)
    entry.bytes -= view.length;
    if (entry.bytes > 0) return;
    this.out?.delete(view.buffer);
    if (entry.chunk !== this.chunk) giveBack(entry.chunk);
  }

  /**
   * The file is idle (nothing queued or in flight): the chunk being filled goes back too. Returns whether
   * this staging now holds nothing (the file may drop it).
   */
  idle(): boolean {
    if (this.out !== null && this.out.size === 0) this.out = null;
    if (this.chunk !== null && !this.isOut(this.chunk)) {
      giveBack(this.chunk);
      this.chunk = null;
      this.used = 0;
    }
    return this.chunk === null && this.out === null;
  }

  // --- internal ---

  /** whether views of `chunk` are still out */
  private isOut(chunk: Buffer): boolean {
    return this.out !== null && this.out.has(chunk.buffer);
  }

  private put(buf: Buffer | string, from: number, to: number): Buffer {
    const chunk = this.chunk as Buffer;
    const start = this.used;
    if (typeof buf === 'string') chunk.write(from === 0 && to === buf.length ? buf : buf.slice(from, to), start, 'latin1');
    else buf.copy(chunk, start, from, to);
    this.used += to - from;
    const out = (this.out ??= new Map());
    const entry = out.get(chunk.buffer);
    if (entry) entry.bytes += to - from;
    else out.set(chunk.buffer, { chunk, bytes: to - from });
    return chunk.subarray(start, this.used);
  }

  private nextChunk(): void {
    const old = this.chunk;
    // a full chunk with nothing out is free at once; one with views out returns when they are released
    if (old !== null && !this.isOut(old)) giveBack(old);
    // memory of its own (never one of Node's shared slabs, 64 KiB on Node 24), so `.buffer` tells chunks apart
    this.chunk = pool.pop() ?? Buffer.allocUnsafeSlow(CHUNK_BYTES);
    this.used = 0;
  }
}

function lastNewline(buf: Buffer | string, at: number): number {
  return typeof buf === 'string' ? buf.lastIndexOf('\n', at) : buf.lastIndexOf(NL, at);
}

function giveBack(chunk: Buffer): void {
  if (pool.length < POOL_CHUNKS) pool.push(chunk);
}
