// drover's own stdout or stderr as a destination for log lines (the foreground echo, and
// `stdout_logfile = /dev/stdout` or `/dev/stderr`). Two things a bare Writable does not do for us:
// - a reader that falls behind (a stalled `docker logs`, a pager, a full journal pipe) makes Node queue every
//   write in memory without bound; here `write` returns false once the stream is above its high-water mark,
//   and the sink pauses the children whose lines go only here until 'drain', as it does for a slow log file;
//   the echo of lines that also go to a file is dropped meanwhile (`copy`), and the loss is reported;
// - a reader that goes away (EPIPE) makes the stream emit 'error', which nothing else would catch: it would
//   stop every program. Here it is reported once, and lines for this stream are dropped from then on while
//   the programs go on running (supervisord, whose log handler reports a failed write and carries on, does the
//   same).
import { steadyNowMs } from '../os/clock.js';
import type { Writable } from 'node:stream';

export class StdOut {
  private full = false;
  private gone = false;
  /** bytes of copies dropped while the reader was behind (see `copy`) */
  private droppedCopies = 0;
  private readonly waiters: (() => void)[] = [];
  private report: (message: string) => void = () => undefined;

  constructor(
    private readonly out: Writable,
    private readonly name: 'stdout' | 'stderr',
  ) {
    out.on('error', (err: NodeJS.ErrnoException) => this.lose(err));
    out.on('drain', () => this.release());
  }

  /** Where the loss of the stream is reported (drover's logger, once it exists). */
  setReporter(report: (message: string) => void): void {
    this.report = report;
  }

  /** Writes `data`; false while the reader is behind (call `onDrain` before writing more). */
  write(data: string | Buffer): boolean {
    if (this.gone) return true;
    if (this.out.destroyed || this.out.writableEnded) {
      this.lose(null);
      return true;
    }
    if (!this.out.write(data)) this.full = true;
    return !this.full;
  }

  /**
   * Writes a copy of lines that are kept elsewhere too (the foreground echo of lines that also go to a log
   * file). While the reader is behind a copy is dropped and counted, not queued: a stalled reader holds up
   * only the programs whose lines have nowhere else to go, and says how much it missed once it catches up.
   */
  copy(data: string | Buffer): void {
    if (this.gone) return;
    if (this.full) {
      this.droppedCopies += typeof data === 'string' ? Buffer.byteLength(data) : data.length;
      return;
    }
    if (!this.out.write(data)) this.full = true;
  }

  /** Calls `cb` once the reader has caught up (at once if it has, or if the stream is gone). */
  onDrain(cb: () => void): void {
    if (this.full && !this.gone) this.waiters.push(cb);
    else cb();
  }

  /**
   * Resolves once what was written has reached the reader; a reader that takes nothing for `stallMs` is
   * given up on: reported, and nothing more is written. Node's stdout cannot really be destroyed (its
   * destroy() keeps the queue), so the caller exits without waiting for it to flush (cli/commands/up.ts).
   */
  async settle(stallMs: number): Promise<void> {
    let left = this.out.writableLength;
    let since = steadyNowMs();
    while (!this.gone && this.out.writableLength > 0) {
      await new Promise((resolveTick) => setTimeout(resolveTick, 50));
      if (this.out.writableLength < left) {
        left = this.out.writableLength;
        since = steadyNowMs();
      } else if (steadyNowMs() - since >= stallMs) {
        const dropped = this.out.writableLength;
        this.gone = true;
        this.release();
        this.report(`drover's ${this.name} took nothing for ${stallMs} ms: ${dropped} bytes for it are dropped`);
      }
    }
  }

  private release(): void {
    this.full = false;
    if (this.droppedCopies > 0 && !this.gone) {
      const dropped = this.droppedCopies;
      this.droppedCopies = 0;
      this.report(`drover's ${this.name} fell behind: ${dropped} bytes of echoed lines were left out of it (the log files have them)`);
    }
    for (const cb of this.waiters.splice(0)) cb();
  }

  private lose(err: NodeJS.ErrnoException | null): void {
    if (this.gone) return;
    this.gone = true;
    this.release();
    const why = err ? `${err.code ?? err.message}` : 'closed';
    this.report(`drover's ${this.name} cannot be written (${why}): lines for it are dropped from now on; the programs go on running`);
  }
}
