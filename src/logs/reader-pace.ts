// How the reader of a device or FIFO log keeps up (log-file.ts). Such a log is written O_NONBLOCK: a FIFO
// whose reader stopped (or never came) stays full, and a blocking write to it held a thread-pool thread for
// ever. EAGAIN alone does not tell a stopped reader from a slow one, so what decides is progress: while the
// reader takes something now and then, the log holds up its programs as a slow regular file does; once it
// has taken nothing for READER_STALL_MS it is stalled, and its lines are dropped past the queue's bound.

/**
 * A device or FIFO that has taken nothing for this long is stalled: its programs are no longer held up for
 * it. Long enough for a collector's pause (a GC, a reconnect), short enough that a program is not held up
 * for long by a FIFO nobody will read (docs/decisions.md, "A FIFO log whose reader stops reading").
 */
export const READER_STALL_MS = 5000;
/** flush and close stop waiting for a device or FIFO that has taken nothing for this long */
export const READER_WAIT_MS = 1000;
/** close keeps writing to a device or FIFO that takes something at most this long, then drops what is left */
export const READER_CLOSE_MAX_MS = 5000;
/**
 * After an EAGAIN the write is tried again this much later, doubled after each further one up to
 * READER_RETRY_MAX_MS: a reader that keeps up is written again within a few ms (a 64 KiB pipe read at
 * 2 MB/s is empty in 32 ms), one that stopped costs a try every 50 ms.
 */
const READER_RETRY_MIN_MS = 5;
const READER_RETRY_MAX_MS = 50;

/**
 * A device or FIFO that refuses writes (EAGAIN), from its first refusal until it takes something again (then
 * the LogFile drops this); times are steadyNowMs().
 */
export class ReaderPace {
  /** when it began to refuse: its first EAGAIN since it last took something */
  readonly refusedSinceMs: number;
  /** EAGAINs in a row */
  private refusals = 0;
  /** true once it has taken nothing for READER_STALL_MS */
  stalled = false;

  constructor(nowMs: number) {
    this.refusedSinceMs = nowMs;
  }

  /** A write found it full (EAGAIN) at `nowMs`: the delay before the next try, and whether it stalled just now. */
  refused(nowMs: number): { retryMs: number; stalledNow: boolean } {
    const retryMs = Math.min(READER_RETRY_MAX_MS, READER_RETRY_MIN_MS * 2 ** Math.min(this.refusals, 4));
    this.refusals++;
    const stalledNow = !this.stalled && nowMs - this.refusedSinceMs >= READER_STALL_MS;
    if (stalledNow) this.stalled = true;
    return { retryMs, stalledNow };
  }

  /** Whether it has taken nothing for READER_WAIT_MS at `nowMs` (flush and close stop waiting for it). */
  notReading(nowMs: number): boolean {
    return this.stalled || nowMs - this.refusedSinceMs >= READER_WAIT_MS;
  }
}
