// One log file drover writes: an ordered queue of complete lines and control operations (rotate, reopen,
// clear), written with async writev so a slow disk never blocks the event loop, and a high-water mark so the
// caller can stop reading its sources (back-pressure) instead of buffering without bound.
import { steadyNowMs } from '../os/clock.js';
import {
  closeSync,
  constants,
  fstatSync,
  statSync,
  ftruncateSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  unlinkSync,
  writev,
} from 'node:fs';
import { basename, dirname } from 'node:path';
import { openInDir, pinDirectory, type PinnedDir } from '../os/safe-dir.js';
import { backupName, lastLinesStart, nextWriteStep, periodStart, wholeLinesStart, type RotatePeriod } from './lines.js';
import { MAX_TAIL_LINES_BYTES } from './read.js';
import { Followers } from './followers.js';
import { usableBackupSlots, type InTheWay } from './backup-slots.js';
import { GzipBackups, removeIfExists } from './gzip-backups.js';
import { Staging } from './staging.js';
import { READER_CLOSE_MAX_MS, READER_STALL_MS, ReaderPace } from './reader-pace.js';

/** What a follower gets first: the last `bytes` bytes, or the last `lines` whole lines (tailLines). */
export interface FollowTail {
  readonly bytes?: number;
  readonly lines?: number;
  /** with `lines`: read back at most this much (MAX_TAIL_LINES_BYTES when not given, and never more) */
  readonly maxBytes?: number;
}

/** The first read back from a log's end for tailLines; each further read doubles what is held. */
const TAIL_READ_BYTES = 64 * 1024;

export interface LogFileOptions {
  /** rotate when the file would grow past this many bytes; 0 never rotates by size */
  readonly maxBytes: number;
  /** rotated files to keep (`file.1` … `file.N`); 0 truncates the file in place, as supervisor does */
  readonly backups: number;
  /** also rotate when the local day or hour changes */
  readonly rotate: RotatePeriod | null;
  /** gzip rotated files to `file.N.gz` in the background */
  readonly gzip: boolean;
  /** ms since the epoch; injectable so time-based rotation is testable */
  readonly now?: () => number;
  /** reports I/O failures (drover's own log); never throws */
  readonly onError?: (message: string) => void;
  /** queued bytes above which `write` returns false (default 1 MiB) */
  readonly highWaterMark?: number;
  /**
   * uid of the program's `user=`: a directory owned by that user is accepted for this file. Every open,
   * rename and removal goes through the directory checked by os/safe-dir.ts and never follows a link.
   */
  readonly userUid?: number | null;
  /** permission bits of a file this creates, less the umask (default 0666, as open() under supervisor); AUTO logs are 0600, as supervisor's mkstemp makes them */
  readonly mode?: number;
}

type Op =
  | { type: 'data'; buf: Buffer; timeMs: number }
  | { type: 'reopen' }
  | { type: 'clear' }
  | { type: 'rotate' };

const MAX_IOV = 1024;
/** queued bytes that start a write at once */
const BATCH_BYTES = 64 * 1024;
/** how long a smaller queue may wait for more lines before it is written */
const FLUSH_DELAY_MS = 2;
const MAX_BATCH_BYTES = 4 * 1024 * 1024;
/**
 * After a rotation failed (a rename or removal refused: an append-only file, a directory drover's user may
 * not write, a directory where a backup should be), the file grows on past its limit and rotation is tried
 * again this much later, or at the next reopen. Trying at once would fail at once, for ever.
 */
const ROTATE_RETRY_MS = 60_000;
/**
 * While the live file cannot be opened (its directory removed, the file made immutable, a read-only or full
 * file system), the next line tries again, at most this often: once the fault is gone, logging resumes by
 * itself, without waiting for a reopen or the program's next spawn.
 */
const OPEN_RETRY_MS = 1000;
/** how often, while lines come, the file held is checked for having lost its last name (see reopenIfRemoved) */
const LINK_CHECK_MS = 1000;
/** LogFileOptions.highWaterMark's default */
const DEFAULT_HIGH_WATER = 1024 * 1024;
const NO_UIDS: readonly number[] = [];

export class LogFile {
  readonly path: string;
  /** see LogFileOptions.userUid; empty for drover's own log */
  private readonly userUids: readonly number[];
  private readonly opts: LogFileOptions;
  private readonly now: () => number;
  /** open descriptor of the live file; null when closed or when opening failed */
  private fd: number | null = null;
  /** why the last open failed; null once one worked */
  private openError: string | null = null;
  /** no new try to open before this time (steadyNowMs()), after an open failed; 0 when none did */
  private openRetryAtMs = 0;
  /** while a retry runs, the reason it already reported: not reported again if it is unchanged */
  private retryingAfter: string | null = null;
  /** no check of the file held for removal before this time (steadyNowMs()); 0 before the first */
  private linkCheckAtMs = 0;
  /** bytes known written to the live file (writes in flight not included) */
  private size = 0;
  /** false for a device or FIFO (/dev/null, a named pipe): never rotated, written without blocking */
  private regular = true;
  /** true when the live file is a FIFO (says so in the report of what its reader did not take) */
  private fifo = false;
  /** pending new try of a device or FIFO that took nothing (EAGAIN); null when none */
  private readerRetryTimer: NodeJS.Timeout | null = null;
  /** bytes a device or FIFO did not take that are not reported yet (see dropForReader) */
  private readerDropped = 0;
  /** how a device or FIFO refusing writes (EAGAIN) keeps up (reader-pace.ts); null while it takes them */
  private reader: ReaderPace | null = null;
  /** a reopen of a device or FIFO due before what waits is written (see reopen); false when none */
  private reopenFirst = false;
  /** during close, when it stops writing to a device or FIFO whose reader is slow (steadyNowMs()); null before */
  private closeByMs: number | null = null;
  /** "dev:ino" of the live file last opened; null before one opened */
  private liveId: string | null = null;
  /** start of the day/hour the live file belongs to (time rotation); 0 when unused */
  private periodMs = 0;
  /** operations not yet started, in order */
  private readonly queue: Op[] = [];
  /** bytes in `queue` plus in flight */
  private queuedBytes = 0;
  /**
   * where queued bytes live: callers' buffers are copied (a pipe's chunk is reused by the next read); made
   * at the first write and dropped again when the file is idle and it holds nothing
   */
  private staging: Staging | null = null;
  /** pending flush of a small queue (schedulePump); null when none */
  private flushTimer: NodeJS.Timeout | null = null;
  /** the buffers of the writev in flight; null when idle */
  private inFlight: Buffer[] | null = null;
  /** true once close() began: writes are refused */
  private closing = false;
  /**
   * who waits for the queue to fall below the low-water mark, for it to be written, and who follows the
   * file; null while none does (most of a daemon's files, nearly always: ~0.1 KiB each)
   */
  private drainWaiters: (() => void)[] | null = null;
  private idleWaiters: (() => void)[] | null = null;
  private followers: Followers | null = null;
  /** backups being gzipped; null until the first rotation with gzip (most files never) */
  private gzips: GzipBackups | null = null;
  /** highest backup number that may exist (file.N or file.N.gz); rotation shifts only 1..this */
  private highestBackup = 0;
  /** the backup names last reported as held by something not ours (reportInTheWay); '' when none */
  private inTheWayReported = '';
  /** whether any backup may be gzipped (gzip on, or a .gz seen at the last scan); else only plain names move */
  private gzBackups = false;
  /** bytes that could not be written (reported through onError) */
  lostBytes = 0;
  /** when a loss was last reported (lose, reportReaderDrops), steadyNowMs(); 0 before the first */
  private lastLossReportMs = 0;
  /** no rotation before this time (ms since the epoch, this.now()): the last one failed; 0 when none did */
  private rotateHeldUntilMs = 0;

  constructor(path: string, opts: LogFileOptions) {
    this.path = path;
    this.userUids = opts.userUid === undefined || opts.userUid === null ? NO_UIDS : [opts.userUid];
    this.opts = opts;
    this.now = opts.now ?? Date.now;
    this.scanBackups();
    this.openLive('a');
  }

  /**
   * Queues a copy of complete lines (`buf` may be reused once this returns); false when the queue is above
   * its high-water mark (wait for `onDrain`).
   */
  write(buf: Buffer, timeMs = this.now()): boolean {
    return this.queueCopy(buf, timeMs);
  }

  /** `write` for lines held as a latin1 string, one character per byte (formatted lines, lines.ts prefixText). */
  writeLatin1(text: string, timeMs = this.now()): boolean {
    return this.queueCopy(text, timeMs);
  }

  /** Calls `cb` once when the queue has fallen below the low-water mark (at once if it already has). */
  onDrain(cb: () => void): void {
    if (this.queuedBytes <= this.lowWater() || this.reader?.stalled === true) cb();
    else (this.drainWaiters ??= []).push(cb);
  }

  /**
   * Closes and reopens the file by name, after what is queued (logrotate's postrotate). A device or FIFO is
   * reopened before what waits for it: what waits has no place in a file, and the old FIFO may be full for
   * ever (its reader gone with its name), so that the lines held would never be written.
   */
  reopen(): void {
    if (this.closing) return;
    if (this.fd !== null && !this.regular) this.reopenFirst = true;
    else this.queue.push({ type: 'reopen' });
    this.pump();
  }

  /**
   * Reopens the file by name when that name no longer leads to the file held (renamed or removed since it
   * was opened): called at each spawn of a program that writes here, as supervisord opens a program's log
   * anew at every spawn. A stat or two; nothing when the file is still in place.
   */
  reopenIfMoved(): void {
    if (this.fd === null || this.closing) return;
    if (this.movedAway()) this.reopen();
  }

  /** Whether the name no longer leads to the file held open (renamed or removed since it was opened). */
  private movedAway(): boolean {
    if (this.fd === null) return false;
    try {
      const held = fstatSync(this.fd);
      const named = statSync(this.path);
      return held.ino !== named.ino || held.dev !== named.dev;
    } catch (err) {
      // removed (to free the disk, or by a rotation without a reopen), or its directory; anything else
      // (EACCES on a directory made private) cannot tell, and the file held stays
      const code = (err as NodeJS.ErrnoException).code;
      return code === 'ENOENT' || code === 'ENOTDIR';
    }
  }

  /** Removes the live file and starts a new one, after what is queued (supervisor's clearProcessLogs). */
  clear(): void {
    if (this.closing) return;
    this.queue.push({ type: 'clear' });
    this.pump();
  }

  /** Rotates now, after what is queued (for `drover reload --logs` style commands and tests). */
  rotate(): void {
    if (this.closing) return;
    this.queue.push({ type: 'rotate' });
    this.pump();
  }

  /** Resolves when everything queued so far is written. */
  flush(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    // waiter first: with no open file the pump drops the queue synchronously and settles at once
    const idle = new Promise<void>((resolve) => (this.idleWaiters ??= []).push(resolve));
    this.pump();
    return idle;
  }

  /**
   * "dev:ino" of the live file this LogFile last opened (it may be closed by now); null when none opened.
   * Tells the file it made from one another process later made under the same name.
   */
  get identity(): string | null {
    return this.liveId;
  }

  /** Writes what is queued, waits for gzip jobs, closes the file. */
  async close(): Promise<void> {
    this.closing = true;
    this.closeByMs = steadyNowMs() + READER_CLOSE_MAX_MS;
    this.readerRetryTimer?.ref(); // a retry already pending for a slow reader now keeps drover alive too
    await this.flush();
    // flush gave up on a device or FIFO that took nothing for a while, or too long: what still waits is dropped
    this.dropHeldForReader();
    await this.gzips?.settled();
    this.closeLive();
  }

  /**
   * Subscribes to every byte written from now on, across rotations and reopens, after first delivering
   * what came before (from the live file and the queue): up to `tail.bytes` bytes, or the last `tail.lines`
   * whole lines (tailLines). Returns an unsubscribe function.
   */
  follow(onChunk: (chunk: Buffer) => void, tail: FollowTail = {}): () => void {
    const first = tail.lines !== undefined ? this.tailLines(tail.lines, tail.maxBytes).bytes : (tail.bytes ?? 0) > 0 ? this.tailBytes(tail.bytes ?? 0) : null;
    if (first !== null && first.length > 0) onChunk(first);
    return (this.followers ??= new Followers()).add(onChunk);
  }

  /**
   * Where a follower subscribed now stands in the live file: its identity ("dev:ino") and the offset the
   * next byte it gets will have, the file's size on disk once what waits is written. The size on disk, not
   * `size`, because another drover may have appended: during a USR2 hand-over both masters write the same
   * files. A writev in flight may have landed or not; it is counted once (exact unless another process
   * also appended meanwhile). Null without an open regular file (a FIFO, /dev/null: no offsets).
   */
  followPosition(): { file: string; offset: number } | null {
    if (this.fd === null || !this.regular || this.liveId === null) return null;
    let onDisk: number;
    try {
      onDisk = fstatSync(this.fd).size;
    } catch {
      return null; // the write path reports a broken descriptor
    }
    const inFlight = (this.inFlight ?? []).reduce((n, b) => n + b.length, 0);
    const queued = this.queuedBytes - inFlight;
    return { file: this.liveId, offset: Math.max(onDisk, this.size + inFlight) + queued };
  }

  /**
   * The last `lines` lines of the log (the live file, then what waits to be written), whole, as tail(1)
   * prints them: a line cut by the start of what was read is left out. Reads back from the end until it has
   * them, the file's start, or `maxBytes` (at most MAX_TAIL_LINES_BYTES; a line longer than that is shown
   * by its end).
   * `end`: the log's size once what waits is written.
   */
  tailLines(lines: number, maxBytes = MAX_TAIL_LINES_BYTES): { bytes: Buffer; end: number } {
    const cap = Math.min(maxBytes, MAX_TAIL_LINES_BYTES);
    const pending = Buffer.concat(this.pending());
    this.sizeShrankOnDisk(); // truncated behind drover's back (copytruncate): read what is there
    const fd = this.fd;
    // file bytes before the window; none to read back from a device or FIFO (a read at an offset fails there
    // with ESPIPE, or reads nothing from /dev/null however much was written): only what waits is shown
    let from = fd === null || !this.regular ? 0 : this.size;
    // what waits may alone be more than the cap (a file that cannot keep up): then the log's start is not reached
    const pendingCut = pending.length > cap;
    let window = pendingCut ? pending.subarray(pending.length - cap) : pending;
    for (;;) {
      const atStart = from === 0 && !pendingCut;
      const start = lastLinesStart(window, lines, atStart);
      if (start >= 0) return { bytes: window.subarray(start), end: this.size + pending.length };
      if (fd === null || from === 0 || window.length >= cap) {
        return { bytes: window.subarray(wholeLinesStart(window)), end: this.size + pending.length };
      }
      // twice as much each time: one read for the usual short lines, few for long ones
      const want = Math.min(from, cap - window.length, Math.max(window.length, TAIL_READ_BYTES));
      const b = Buffer.allocUnsafe(want);
      const n = readSync(fd, b, 0, want, from - want);
      window = Buffer.concat([b.subarray(0, n), window]);
      from -= want;
    }
  }

  /**
   * Why nothing can be written: null while the file is open; else it is opened again first (what stopped
   * it may be gone) and the reason is the open's error. Asked before each spawn of a program whose log this
   * is: supervisord fails the spawn when it cannot open a log (FATAL after the retries), rather than run a
   * program whose output goes nowhere.
   */
  openProblem(): string | null {
    if (this.closing) return null;
    if (this.fd !== null) {
      // open, but moved or removed since (its directory too): opened anew by name now, as the spawn would
      // have it, so that a log that cannot be opened any more fails this spawn rather than losing its output.
      // A regular file only when nothing waits to be written: what is queued belongs in the file held. What
      // waits for a device or FIFO goes to the new one (see reopen), after a write in flight.
      if ((this.regular && !this.isIdle()) || !this.movedAway()) return null;
      if (this.inFlight !== null) {
        this.reopenFirst = true;
        return null;
      }
      this.openAgain();
      if (!this.isIdle()) this.pump();
    } else this.openLive('a');
    return this.openFailure();
  }

  /** Why the last open failed while no file is open (nothing retried); null while one is. */
  openFailure(): string | null {
    return this.fd === null ? (this.openError ?? `cannot open log file ${this.path}`) : null;
  }

  /**
   * A new read-only descriptor of the file being written, or null when none is open; the caller closes it.
   * Reads never open the path again: by then the name may be a link to a root-only file.
   */
  openReader(): number | null {
    if (this.fd === null) return null;
    // opening /proc/self/fd/N opens the file N refers to, not whatever its name points at now; O_NONBLOCK
    // so that a FIFO (allowed in a root-only directory) cannot block the event loop
    return openSync(`/proc/self/fd/${this.fd}`, constants.O_RDONLY | constants.O_NONBLOCK);
  }

  // --- internal ---

  /** What waits to be written (the writev in flight, then the queue), in order. */
  private pending(): Buffer[] {
    return [...(this.inFlight ?? []), ...this.queue.flatMap((op) => (op.type === 'data' ? [op.buf] : []))];
  }

  /** The last `tailBytes` bytes of the log: the live file's end, then what waits to be written. */
  private tailBytes(tailBytes: number): Buffer {
    const pending = this.pending();
    const pendingBytes = pending.reduce((n, b) => n + b.length, 0);
    this.sizeShrankOnDisk(); // truncated behind drover's back (copytruncate): read what is there
    const fromFile = Math.min(Math.max(0, tailBytes - pendingBytes), this.size);
    const parts: Buffer[] = [];
    if (fromFile > 0 && this.fd !== null && this.regular) {
      const b = Buffer.allocUnsafe(fromFile);
      const n = readSync(this.fd, b, 0, fromFile, this.size - fromFile);
      parts.push(b.subarray(0, n));
    }
    parts.push(...pending);
    const all = Buffer.concat(parts);
    return all.subarray(Math.max(0, all.length - tailBytes));
  }

  /** Copies lines into the staging chunks and queues them; the answer of `write`. */
  private queueCopy(buf: Buffer | string, timeMs: number): boolean {
    if (buf.length === 0) return true;
    if (this.closing) {
      this.lose(buf.length, 'written after close');
      return true;
    }
    if (this.reader?.stalled === true && this.queuedBytes + buf.length > this.highWater()) {
      // a stalled device or FIFO holds up no program (its reader may never read again): past the high-water
      // mark its lines are dropped instead
      this.followers?.deliver(buf);
      this.dropForReader(buf.length);
      return true;
    }
    for (const view of (this.staging ??= new Staging()).copy(buf)) this.queue.push({ type: 'data', buf: view, timeMs });
    this.queuedBytes += buf.length;
    this.followers?.deliver(buf);
    this.schedulePump();
    return this.queuedBytes < this.highWater() || this.reader?.stalled === true;
  }

  private isIdle(): boolean {
    return this.queue.length === 0 && this.inFlight === null;
  }

  /** Holds the file's directory for one operation; null (reported) when it cannot be used. */
  private pinDir(): PinnedDir | null {
    try {
      return pinDirectory(dirname(this.path), this.userUids);
    } catch (err) {
      this.failOpen(`cannot open log file ${this.path}: ${withoutPinnedPath((err as Error).message)}`);
      return null;
    }
  }

  /** Opens the live file in `dir` (pinned here when not given): `w` empties it, as supervisor's backups=0 does. */
  private openLive(flags: 'a' | 'w', pinned?: PinnedDir | null): void {
    this.fd = null;
    this.size = 0;
    this.reader = null; // a new descriptor: how its reader keeps up is not known yet
    const dir = pinned === undefined ? this.pinDir() : pinned;
    if (dir === null) return;
    try {
      // read as well as append: follow() and the reading API read through this descriptor, which stays
      // right even after logrotate has renamed the file. No O_TRUNC: the file is checked before it is emptied.
      // O_NONBLOCK for a device or FIFO (reader-pace.ts); a regular file ignores it.
      const openFlags = constants.O_RDWR | constants.O_APPEND | constants.O_CREAT | constants.O_NONBLOCK;
      const { fd, stat } = openInDir(dir, this.name, openFlags, this.opts.mode ?? 0o666);
      this.fd = fd;
      this.openError = null;
      this.regular = stat.isFile();
      this.fifo = stat.isFIFO();
      this.liveId = `${stat.dev}:${stat.ino}`;
      if (flags === 'w' && this.regular && stat.size > 0) ftruncateSync(fd, 0);
      this.size = flags === 'w' ? 0 : stat.size;
      if (this.opts.rotate) {
        this.periodMs = periodStart(this.size > 0 ? stat.mtimeMs : this.now(), this.opts.rotate);
      }
    } catch (err) {
      if (this.fd !== null) closeSync(this.fd);
      this.fd = null;
      this.size = 0;
      this.failOpen(`cannot open log file ${this.path}: ${withoutPinnedPath((err as Error).message)}`);
    } finally {
      if (pinned === undefined) dir.close();
    }
  }

  /** Records why the live file could not be opened and reports it, unless a retry finds the same reason. */
  private failOpen(message: string): void {
    this.openError = message;
    this.openRetryAtMs = steadyNowMs() + OPEN_RETRY_MS;
    if (message !== this.retryingAfter) this.report(message);
  }

  /** Tries to open the live file again after an open failed, at most every OPEN_RETRY_MS; says when it worked. */
  private retryOpen(): void {
    if (steadyNowMs() < this.openRetryAtMs) return;
    this.retryingAfter = this.openError;
    try {
      this.scanBackups(); // the directory may be a new one
      this.openLive('a');
    } finally {
      this.retryingAfter = null;
    }
    if (this.fd !== null) this.report(`${this.path}: opened again, logging resumes; ${this.lostBytes} bytes lost so far`);
  }

  /**
   * Opens the name again, at most every LINK_CHECK_MS, when the file held has no name left (an `rm` of the
   * live file or of its directory): lines written into it would be lost without a word, up to the size limit
   * or for ever with maxbytes = 0. A file moved away (logrotate without a reopen) still has a name and is
   * written on.
   */
  private reopenIfRemoved(): void {
    if (this.fd === null || !this.regular) return;
    const t = steadyNowMs();
    if (t < this.linkCheckAtMs) return;
    this.linkCheckAtMs = t + LINK_CHECK_MS;
    let links: number;
    try {
      links = fstatSync(this.fd).nlink;
    } catch {
      return; // the write path reports a broken descriptor
    }
    if (links > 0) return;
    this.report(`${this.path}: removed while drover was writing it; opening it again by name`);
    this.openAgain();
  }

  /**
   * Opens the name again, then closes the descriptor held. In this order: when the file is a FIFO, drover's
   * descriptor may be its last one, and the kernel discards what a pipe holds when its last one closes.
   */
  private openAgain(): void {
    const old = this.fd;
    this.fd = null;
    this.scanBackups();
    this.openLive('a');
    if (old !== null) this.closeFd(old);
  }

  private closeLive(): void {
    if (this.fd === null) return;
    this.closeFd(this.fd);
    this.fd = null;
  }

  private closeFd(fd: number): void {
    try {
      closeSync(fd);
    } catch (err) {
      this.report(`closing ${this.path}: ${(err as Error).message}`);
    }
  }

  /**
   * Starts a write now when a batch's worth is queued, else within FLUSH_DELAY_MS. An asynchronous write
   * costs ~20-30 µs of CPU (thread-pool hand-off and wake-up) against ~4 µs for a synchronous one, and a
   * child writing line by line arrives in reads of a few hundred bytes: one write per read would cost
   * more than everything else drover does with the line.
   */
  private schedulePump(): void {
    // the write's completion pumps, or the retry of a device or FIFO that took nothing
    if (this.inFlight !== null || (this.readerRetryTimer !== null && !this.closing)) return;
    if (this.queuedBytes >= BATCH_BYTES || this.closing) {
      this.pump();
      return;
    }
    this.flushTimer ??= setTimeout(() => {
      this.flushTimer = null;
      this.pump();
    }, FLUSH_DELAY_MS);
  }

  /** Runs control operations at the head of the queue, then starts one writev of the data that follows. */
  private pump(): void {
    if (this.flushTimer !== null) {
      clearTimeout(this.flushTimer);
      this.flushTimer = null;
    }
    if (this.readerRetryTimer !== null) {
      clearTimeout(this.readerRetryTimer);
      this.readerRetryTimer = null;
    }
    while (this.inFlight === null) {
      if (this.reopenFirst) {
        this.reopenFirst = false;
        this.control('reopen');
        continue;
      }
      const head = this.queue[0];
      if (head === undefined) {
        this.settle();
        return;
      }
      if (head.type !== 'data') {
        this.queue.shift();
        this.control(head.type);
        continue;
      }
      if (this.fd !== null) this.reopenIfRemoved();
      if (this.fd === null) this.retryOpen();
      if (this.fd === null) {
        // opening failed: what cannot be written is counted and reported, never silently dropped
        this.queue.shift();
        this.queuedBytes -= head.buf.length;
        this.staging?.release(head.buf);
        this.lose(head.buf.length, 'no open file');
        continue;
      }
      const batch: Buffer[] = [];
      let batchBytes = 0;
      let rotateNext = false;
      while (batch.length < MAX_IOV && batchBytes < MAX_BATCH_BYTES) {
        const op = this.queue[0];
        if (op === undefined || op.type !== 'data') break;
        const mayRotate = this.regular && this.now() >= this.rotateHeldUntilMs;
        if (this.opts.rotate && mayRotate) {
          const p = periodStart(op.timeMs, this.opts.rotate);
          if (p > this.periodMs) {
            if (this.size + batchBytes === 0) this.periodMs = p;
            else {
              rotateNext = true;
              break;
            }
          }
        }
        let step = nextWriteStep(this.size + batchBytes, mayRotate ? this.opts.maxBytes : 0, op.buf);
        // before rotating, the file's real size: logrotate's copytruncate may have emptied it behind drover's
        // back (supervisor goes by the file's real position too)
        if (step.type === 'rotate' && this.sizeShrankOnDisk()) step = nextWriteStep(this.size + batchBytes, this.opts.maxBytes, op.buf);
        if (step.type === 'rotate') {
          rotateNext = true;
          break;
        }
        if (step.bytes === op.buf.length) {
          batch.push(op.buf);
          this.queue.shift();
        } else {
          batch.push(op.buf.subarray(0, step.bytes));
          op.buf = op.buf.subarray(step.bytes);
        }
        batchBytes += step.bytes;
      }
      if (batch.length === 0) {
        if (rotateNext) this.doRotate();
        continue;
      }
      // a rotation due before the next data is found again by the next pump, after this write completes
      this.startWrite(batch, batchBytes);
    }
  }

  /**
   * Takes the live file's size from the file when it is smaller than drover counted (something truncated
   * it: logrotate's copytruncate, `truncate -s 0`); true when it did. Only shrinking is believed: bytes of a
   * write in flight are counted once it completes.
   */
  private sizeShrankOnDisk(): boolean {
    if (this.fd === null || !this.regular) return false;
    let real: number;
    try {
      real = fstatSync(this.fd).size;
    } catch {
      return false; // the write path reports a broken descriptor
    }
    if (real >= this.size) return false;
    this.size = real;
    return true;
  }

  private startWrite(batch: Buffer[], batchBytes: number): void {
    this.inFlight = batch;
    const fd = this.fd as number;
    writev(fd, batch, (err, written) => {
      this.inFlight = null;
      if (err?.code === 'EAGAIN') {
        this.waitForReader(batch);
        return;
      }
      if (!err && this.reader !== null) {
        // its reader reads again: what it missed meanwhile is said now
        this.reader = null;
        if (this.readerDropped > 0) this.reportReaderDrops();
      }
      // the batch's bytes are written, lost, or copied into `rest` below: their staging memory is free
      const rest = !err && written < batchBytes ? Buffer.concat(batch).subarray(written) : null;
      for (const b of batch) this.staging?.release(b);
      if (err) {
        // ENOSPC, EIO…: the batch is lost; say so (the caller logs it) and carry on with the next one
        this.queuedBytes -= batchBytes;
        this.lose(batchBytes, err.message);
      } else if (rest !== null) {
        // a short write (disk full on the way): put the rest back at the head and try again
        this.size += written;
        this.queuedBytes -= written;
        this.queue.unshift({ type: 'data', buf: rest, timeMs: this.now() });
      } else {
        this.size += written;
        this.queuedBytes -= written;
      }
      this.releaseDrainWaiters();
      // control operations and big queues go at once; a small remainder waits to grow into a batch
      if (this.queue[0] !== undefined && this.queue[0].type === 'data' && this.queuedBytes < BATCH_BYTES && !this.closing && this.idleWaiters === null) {
        this.schedulePump();
      } else {
        this.pump();
      }
    });
  }

  private control(type: 'reopen' | 'clear' | 'rotate'): void {
    switch (type) {
      case 'reopen':
        this.rotateHeldUntilMs = 0; // the operator may have fixed what made rotation fail
        this.openAgain();
        break;
      case 'clear': {
        // a device or FIFO (/dev/null, a pipe to a collector) holds nothing to clear; removing it would put
        // a regular file in its place (supervisord does: `supervisorctl clear all` could replace /dev/null)
        if (!this.regular) break;
        this.closeLive();
        const dir = this.pinDir();
        if (dir === null) break;
        try {
          unlinkSync(dir.at(this.name));
        } catch (err) {
          // ENOENT: already removed (by an operator or logrotate); a new file is created either way
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.report(`removing ${this.path}: ${(err as Error).message}`);
        }
        this.openLive('a', dir);
        dir.close();
        break;
      }
      case 'rotate':
        if (this.size > 0 && this.regular) this.doRotate();
        break;
      default: {
        const never: never = type;
        throw new Error(`unknown log operation ${String(never)}`);
      }
    }
  }

  /**
   * Moves file → file.1 → … → file.N (dropping the oldest) and starts a new file; metadata only, so sync.
   * Every name is taken in the directory pinned once for the whole rotation.
   */
  private doRotate(): void {
    const { backups } = this.opts;
    // the rotated file's descriptor is kept for the gzip: reopening file.1 by name could open a planted link
    const old = this.fd;
    this.fd = null;
    const dir = this.pinDir();
    if (dir === null) {
      if (old !== null) closeSync(old);
      return;
    }
    const at = (n: number, gz: boolean): string => dir.at(basename(backupName(this.path, n, gz)));
    try {
      if (backups > 0) {
        let rotated = false;
        let refused = false;
        /** no backup name is usable (all planted on): the live file starts over, as with backups = 0 */
        let truncate = false;
        /** the backup number the live file became (1 unless that name is taken by something not ours) */
        let firstSlot = 1;
        try {
          // only the numbers that can exist: with backups = 1000 a blind shift would cost 2000 renames each time
          const top = Math.min(this.highestBackup, backups);
          // a failed rename is a thrown exception (~18 µs, against ~8 µs for one that works): with 100 backups,
          // trying the .gz name of each plain backup on every rotation was a sizeable part of the CPU at full speed
          const kinds = this.gzBackups || this.opts.gzip ? [false, true] : [false];
          // the names 1..top+1 unless something not ours sits on some: then the next free ones up to `backups`
          const wanted = Math.min(top + 1, backups);
          const { slots, inTheWay } = usableBackupSlots(at, wanted, backups, kinds);
          this.reportInTheWay(inTheWay, slots);
          const oldest = slots[slots.length - 1];
          if (oldest === undefined) {
            truncate = true;
          } else {
            // full: the oldest usable name is dropped (a rename onto it would leave its other kind behind)
            if (slots.length < wanted || top === backups) for (const gz of kinds) removeIfExists(at(oldest, gz));
            for (let j = slots.length - 2; j >= 0; j--) {
              for (const gz of kinds) renameIfExists(at(slots[j] as number, gz), at(slots[j + 1] as number, gz));
            }
            this.gzips?.shift((n) => {
              const j = slots.indexOf(n);
              return j >= 0 && j + 1 < slots.length ? (slots[j + 1] as number) : Infinity;
            });
            // the backups have moved up one usable name, whether or not the live file is still there to become the first
            this.highestBackup = Math.max(wanted, oldest);
            firstSlot = slots[0] as number;
            try {
              renameSync(dir.at(this.name), at(firstSlot, false));
              rotated = true;
            } catch (err) {
              // the live file was removed or moved away meanwhile (a cleanup script, logrotate without a
              // reopen): nothing to rotate, a new file is started, as supervisord does; not a refused rename
              if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
            }
          }
        } catch (err) {
          refused = true;
          this.rotateHeldUntilMs = this.now() + ROTATE_RETRY_MS;
          this.report(`rotating ${this.path}: ${(err as Error).message}; writing on into ${this.path} past its size limit, next try in ${ROTATE_RETRY_MS / 1000} s (or at a reopen)`);
        }
        if (truncate) {
          if (old !== null) closeSync(old);
          this.openLive('w', dir);
        } else if (refused && old !== null) {
          // the file is still under its name: write on through the descriptor held. Opening the name again
          // can fail for the reason the rename did (an immutable file, a read-only file system), and then
          // every line would be lost although this descriptor still takes them
          this.fd = old;
        } else {
          this.openLive('a', dir);
          if (this.opts.gzip && rotated && old !== null) (this.gzips ??= new GzipBackups(this.path, this.opts.backups, (m) => this.report(m))).start(old, dir, firstSlot);
          else if (old !== null) closeSync(old);
        }
      } else {
        if (old !== null) closeSync(old);
        this.openLive('w', dir);
      }
    } finally {
      dir.close();
    }
    if (this.opts.rotate) this.periodMs = periodStart(this.now(), this.opts.rotate);
  }

  /**
   * Says once, at ERROR, which backup names are held by something rotation leaves alone, and how the size
   * limit is kept meanwhile; again only when that changes (a rotation every few KiB must not flood the log).
   */
  private reportInTheWay(inTheWay: readonly InTheWay[], slots: readonly number[]): void {
    const names = inTheWay.map((e) => `${backupName(this.path, e.number, e.gz)} is ${e.what}`).join(', ');
    if (names === this.inTheWayReported) return;
    this.inTheWayReported = names;
    if (names === '') return;
    const how =
      slots.length > 0
        ? `rotating over ${slots.map((n) => backupName(this.path, n, false)).join(', ')} only`
        : `no backup name is left: ${this.path} starts over at each rotation`;
    this.report(`rotating ${this.path}: ${names}, not a file drover replaces (left as it is); ${how}, so it stays within its size limit`);
  }

  /** Finds the highest existing backup number (at start and on reopen, after logrotate may have moved files). */
  private scanBackups(): void {
    const dir = dirname(this.path);
    const base = basename(this.path);
    let highest = 0;
    let gz = false;
    let names: readonly string[];
    try {
      names = listDirOnce(dir);
    } catch (err) {
      // ENOENT: no directory yet, so no backups; opening the file reports the real problem
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.report(`listing ${dir}: ${(err as Error).message}`);
      names = [];
    }
    for (const name of names) {
      const b = backupOf(name, base);
      if (b === null) continue;
      highest = Math.max(highest, b.number);
      if (b.gz) gz = true;
    }
    this.highestBackup = highest;
    this.gzBackups = gz;
  }

  private settle(): void {
    this.releaseDrainWaiters();
    if (!this.isIdle()) return;
    if (this.staging?.idle() === true) this.staging = null;
    const idle = this.idleWaiters;
    this.idleWaiters = null;
    if (idle !== null) for (const cb of idle) cb();
  }

  private releaseDrainWaiters(): void {
    const waiters = this.drainWaiters;
    if (waiters !== null && this.queuedBytes <= this.lowWater()) {
      this.drainWaiters = null;
      for (const cb of waiters) cb();
    }
  }

  /** the queue size above which write() answers false (LogFileOptions.highWaterMark) */
  private highWater(): number {
    return this.opts.highWaterMark ?? DEFAULT_HIGH_WATER;
  }

  /** the queue size at or below which onDrain's callers are called: a quarter of the high-water mark */
  private lowWater(): number {
    return Math.floor(this.highWater() / 4);
  }

  /** the file's name in its directory */
  private get name(): string {
    return basename(this.path);
  }

  private lose(bytes: number, why: string): void {
    this.lostBytes += bytes;
    // one report per second at most: a full disk must not flood drover's own log
    const t = steadyNowMs();
    if (t - this.lastLossReportMs < 1000) return;
    this.lastLossReportMs = t;
    this.report(`${this.path}: log bytes could not be written (${why}); ${this.lostBytes} bytes lost so far`);
  }

  /**
   * A device or FIFO took nothing (EAGAIN: its reader is behind, or not reading): the batch goes back to the
   * head of the queue and is tried again a little later (reader-pace.ts), at once if a reopen is due. Once it
   * has taken nothing for READER_STALL_MS it is stalled: the programs held up for it are let go. Who waits
   * for the queue to be written (flush, close) stops waiting once it has taken nothing for a second (or close
   * has waited its bound): that reader may never come back.
   */
  private waitForReader(batch: Buffer[]): void {
    const timeMs = this.now();
    const t = steadyNowMs();
    this.reader ??= new ReaderPace(t);
    const { retryMs, stalledNow } = this.reader.refused(t);
    this.queue.unshift(...batch.map((buf) => ({ type: 'data' as const, buf, timeMs })));
    this.readerRetryTimer = setTimeout(
      () => {
        this.readerRetryTimer = null;
        this.pump();
      },
      this.reopenFirst ? 0 : retryMs,
    );
    // the retry keeps drover alive only while a close waits for the reader (bounded by closeByMs): what
    // still waits then is dropped. Before a close it never does (a shutdown's last output wait relied on
    // some other handle, a leaked event stream's ping timer, until that leak was fixed)
    if (this.closeByMs === null) this.readerRetryTimer.unref();
    if (stalledNow) {
      this.report(`${this.path}: its ${this.fifo ? "FIFO's reader" : 'device'} has taken nothing for ${READER_STALL_MS / 1000} s: its programs are no longer held up for it; up to ${this.highWater()} bytes wait for it, lines past that are dropped`);
      const waiters = this.drainWaiters;
      this.drainWaiters = null;
      if (waiters !== null) for (const cb of waiters) cb();
    }
    // drops within a second of the last report are said by a retry, not only by the next drop
    if (this.readerDropped > 0 && t - this.lastLossReportMs >= 1000) this.reportReaderDrops();
    if (!this.reader.notReading(t) && (this.closeByMs === null || t < this.closeByMs)) return;
    const idle = this.idleWaiters;
    this.idleWaiters = null;
    if (idle !== null) for (const cb of idle) cb();
  }

  /** At close: drops what still waits for the reader of a device or FIFO (counted and said). */
  private dropHeldForReader(): void {
    if (this.readerRetryTimer !== null) clearTimeout(this.readerRetryTimer);
    this.readerRetryTimer = null;
    let bytes = 0;
    for (const op of this.queue.splice(0)) {
      if (op.type !== 'data') continue;
      bytes += op.buf.length;
      this.staging?.release(op.buf);
    }
    this.queuedBytes -= bytes;
    if (bytes > 0) this.lostBytes += bytes;
    this.readerDropped += bytes;
    // a reader that still took something now and then, but not all of it within close's bound
    const slow = this.reader !== null && !this.reader.notReading(steadyNowMs());
    if (this.readerDropped > 0) this.reportReaderDrops(slow ? `its reader was still behind ${READER_CLOSE_MAX_MS / 1000} s after the log began to close` : null);
    this.settle();
  }

  /** Counts bytes a device or FIFO did not take; said at most once a second, when its reader reads again, and at close. */
  private dropForReader(bytes: number): void {
    this.lostBytes += bytes;
    this.readerDropped += bytes;
    if (steadyNowMs() - this.lastLossReportMs >= 1000) this.reportReaderDrops();
  }

  /** Says what a device or FIFO did not take since the last report: `why`, or that it is not reading. */
  private reportReaderDrops(why: string | null = null): void {
    // the same clock as lose(): the two kinds of report share one pace, which a clock step must not move
    this.lastLossReportMs = steadyNowMs();
    const what = this.fifo ? `FIFO: ${why ?? 'its reader is not reading'}` : `device: ${why ?? 'it takes nothing'}`;
    this.report(`${this.path}: ${this.readerDropped} bytes not written to ${what}; ${this.lostBytes} bytes lost so far`);
    this.readerDropped = 0;
  }

  private report(message: string): void {
    this.opts.onError?.(message);
  }
}

// --- helpers ---

/** Directory entry `entry` as a rotated backup of log `base` (BASE.N, or BASE.N.gz once compressed); null if it is none. */
export function backupOf(entry: string, base: string): { readonly number: number; readonly gz: boolean } | null {
  if (!entry.startsWith(`${base}.`)) return null;
  const m = /^(\d+)(\.gz)?$/.exec(entry.slice(base.length + 1));
  return m ? { number: Number(m[1]), gz: m[2] !== undefined } : null;
}

/** An fs error's message without the pinned-directory name it quotes (`, open '/proc/self/fd/23/x'`). */
function withoutPinnedPath(message: string): string {
  return message.replace(/, \w+ '\/proc\/self\/fd\/\d+\/[^']*'$/, '');
}

function renameIfExists(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (err) {
    // ENOENT: that backup does not exist (yet)
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** Directory listings shared by every log file opened in the same turn of the event loop. */
const listings = new Map<string, readonly string[]>();

/**
 * Lists `dir`, at most once per turn: at start-up (and on USR1) every log file scans its directory for
 * backups, and with AUTO logs they all share childlogdir — 2000 files listing a 2000-entry directory was
 * seconds of start-up for 1000 programs.
 */
function listDirOnce(dir: string): readonly string[] {
  let names = listings.get(dir);
  if (names === undefined) {
    names = readdirSync(dir);
    if (listings.size === 0) setImmediate(() => listings.clear());
    listings.set(dir, names);
  }
  return names;
}
