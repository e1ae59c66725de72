// The journal file (`[supervisord] journal = PATH`, docs/shared.md "Durability"): records are gathered during
// one turn of the master's event loop and written with one write(2) on an O_APPEND fd before any answer of
// that turn leaves the master (SharedService calls `flush` before it sends). Start-up reads the file, replays
// it and compacts it; compaction also runs when the file has grown to 4× its last snapshot.
// A write that fails at run time (the disk full) does not stop the master: the file is cut back to its last
// whole record, appends stop, and a compaction is retried (backing off) until the live state is in the file
// again (docs/shared.md "Durability").
import { closeSync, fsyncSync, ftruncateSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeSync, constants } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { steadyNowMs } from '../os/clock.js';
import { randomHex } from '../os/random.js';
import { encodeRecord, parseJournal, replay, type JournalImage, type JournalRecord } from './journal-core.js';

/** What the backend writes to: MemoryBackend takes this, so tests can give it an in-memory list. */
export interface JournalWriter {
  append(r: JournalRecord): void;
  /** writes what was appended; returns once it is in the file */
  flush(): void;
  /** flushes and closes; nothing is appended after */
  close(): void;
  /** whether it is being written now (a list in memory need not say) */
  health?(): JournalHealth;
}

/** Whether the journal is written, for the queue stats and /metrics (docs/shared.md, "Durability"). */
export interface JournalHealth {
  readonly file: string;
  /** true while writes fail: the queues and state are in memory only until the journal is written again */
  readonly degraded: boolean;
  /** the latest failed write's (or retry's) message; null while the journal is written */
  readonly error: string | null;
  /** when writing began to fail (ms since the epoch); null while the journal is written */
  readonly sinceMs: number | null;
}

export interface JournalOptions {
  /** fsync after every batch (`journal_fsync`; docs/decisions.md: off by default; compaction always fsyncs) */
  readonly fsyncEachBatch?: boolean;
  /** compact when the file is larger than this many times the last snapshot (and than minCompactBytes) */
  readonly growthFactor?: number;
  readonly minCompactBytes?: number;
  /** told when writing fails and when it works again (drover's log); silent by default */
  readonly onError?: (message: string) => void;
  readonly onRecovered?: (message: string) => void;
  /** first delay before a failed journal is written again; doubles up to 30 s */
  readonly retryMs?: number;
}

/** the longest wait between two attempts to write a failed journal again */
const MAX_RETRY_MS = 30_000;

export class JournalFile implements JournalWriter {
  /** the O_APPEND fd; -1 once closed */
  private fd = -1;
  /** encoded lines not written yet */
  private pending: string[] = [];
  private flushQueued = false;
  /** bytes in the file now, and in its last snapshot */
  private sizeBytes = 0;
  private snapshotBytes = 0;
  /** the live state as snapshot records; set by the owner before the first compaction */
  private snapshot: (() => JournalRecord[]) | null = null;
  /** why the file is not being written (a write failed), since when (wall clock, shown; steady, for the duration); null while it is */
  private failure: { reason: string; sinceMs: number; steadySinceMs: number } | null = null;
  /** the timer of the next attempt to write the live state again while failed; and its delay */
  private retryTimer: NodeJS.Timeout | null = null;
  private retryDelayMs = 0;

  private constructor(
    readonly file: string,
    private readonly opts: Required<JournalOptions>,
  ) {}

  /**
   * Reads and replays `file` (absent: empty). Throws JournalCorruptError on a bad line; a torn last line is
   * dropped and reported through `warn`. The file is not opened for writing until `start`.
   */
  static load(file: string, warn: (m: string) => void, opts: JournalOptions = {}): { journal: JournalFile; image: JournalImage } {
    removeStaleTemps(file, warn);
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      // no journal yet: the first start with this setting
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const { records, tornLine } = parseJournal(text, file);
    if (tornLine !== null) warn(`journal ${file}: line ${tornLine} was cut short (a crash mid-write); it was never answered and is ignored`);
    const journal = new JournalFile(file, { fsyncEachBatch: false, growthFactor: 4, minCompactBytes: 1 << 20, onError: () => {}, onRecovered: () => {}, retryMs: 1000, ...opts });
    return { journal, image: replay(records) };
  }

  /**
   * Compacts to the live state from `snapshot` and opens the file for appending. When the compacted copy
   * cannot be written (the disk full) the file, read in full already, stays as it is and the journal starts
   * failed, retrying as after a failed write: a USR2 successor refusing here would leave no master at all.
   */
  start(snapshot: () => JournalRecord[]): void {
    this.snapshot = snapshot;
    try {
      this.compact();
    } catch (err) {
      // throws (the start is refused) only when the file cannot even be opened
      this.fd = openSync(this.file, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
      this.sizeBytes = statSync(this.file).size;
      this.fail(err);
    }
  }

  /** a compaction is scheduled for after the current turn's answers */
  private compactQueued = false;

  append(r: JournalRecord): void {
    if (this.fd < 0) throw new Error(`journal ${this.file} is not open`);
    // while failed nothing is appended: the compaction that ends the failure writes the whole live state
    if (this.failure) return;
    this.pending.push(encodeRecord(r));
    if (this.flushQueued) return;
    this.flushQueued = true;
    // Answers leave through the service's own per-turn flush, which calls flush() first; this microtask
    // covers callers that answer without the service (the JSON API awaits the backend, then responds).
    queueMicrotask(() => this.flush());
  }

  flush(): void {
    this.flushQueued = false;
    if (this.pending.length === 0 || this.fd < 0) return;
    const buf = Buffer.from(this.pending.join(''), 'utf8');
    this.pending = [];
    try {
      writeFully(this.fd, buf);
      if (this.opts.fsyncEachBatch) fsyncSync(this.fd);
    } catch (err) {
      // flush runs before answers go out, in a microtask: a throw here would end the master
      this.fail(err);
      return;
    }
    this.sizeBytes += buf.length;
    if (this.sizeBytes > this.opts.minCompactBytes && this.sizeBytes > this.opts.growthFactor * this.snapshotBytes && !this.compactQueued) {
      // not here: flush runs before answers go out, and a compaction writes and fsyncs the whole state.
      // The snapshot taken later includes every change made meanwhile, so nothing is lost by waiting.
      this.compactQueued = true;
      setImmediate(() => {
        this.compactQueued = false;
        if (this.fd < 0 || this.failure) return;
        try {
          this.compact();
        } catch (err) {
          this.fail(err);
        }
      });
    }
  }

  /** Writes the live state to a temp file, fsyncs it and renames it over the journal. */
  compact(): void {
    if (!this.snapshot) throw new Error(`journal ${this.file}: compaction before start`);
    const lines = this.snapshot().map(encodeRecord);
    this.pending = [];
    // a random name created exclusively, never through a link planted beside the journal (security.md, 9)
    const tmp = `${this.file}.${randomHex(8)}.tmp`;
    const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    let size = 0;
    try {
      try {
        // in chunks: a snapshot of many tasks need not be one string
        for (let i = 0; i < lines.length; i += 4096) {
          const buf = Buffer.from(lines.slice(i, i + 4096).join(''), 'utf8');
          writeFully(fd, buf);
          size += buf.length;
        }
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, this.file);
    } catch (err) {
      // a half-written snapshot (the disk full) must not stay behind, taking the space a retry needs
      try {
        unlinkSync(tmp);
      } catch (unlinkErr) {
        // ENOENT: nothing to remove; anything else is said along with the first error
        if ((unlinkErr as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`${(err as Error).message}; and ${tmp} could not be removed: ${(unlinkErr as Error).message}`, { cause: err });
      }
      throw err;
    }
    // the rename is durable only once the directory is
    const dirFd = openSync(dirname(this.file), constants.O_RDONLY);
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = openSync(this.file, constants.O_WRONLY | constants.O_APPEND | constants.O_NOFOLLOW);
    this.sizeBytes = statSync(this.file).size;
    this.snapshotBytes = size;
  }

  /** Whether the file is being written now; if not, why and since when. */
  health(): JournalHealth {
    const f = this.failure;
    return { file: this.file, degraded: f !== null, error: f?.reason ?? null, sinceMs: f?.sinceMs ?? null };
  }

  /** Writes what is pending and closes the file. */
  close(): void {
    if (this.fd < 0) return;
    this.stopRetrying();
    // a last chance for a failed journal: what the next master reads is what the file holds
    if (this.failure && !this.recover()) this.opts.onError(`journal ${this.file}: closed while it could not be written; the changes since ${new Date(this.failure.sinceMs).toISOString()} are not in it`);
    this.flush();
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = -1;
  }

  // --- internal ---

  /**
   * A write failed: the file is cut back to its last whole record (a torn line in the middle would stop the
   * next start), appends stop, and a compaction is tried again later. Said once, not per batch.
   */
  private fail(err: unknown): void {
    const reason = err instanceof Error ? err.message : String(err);
    this.pending = [];
    try {
      ftruncateSync(this.fd, this.sizeBytes);
    } catch (truncErr) {
      // the next successful compaction replaces the whole file anyway
      this.opts.onError(`journal ${this.file}: could not cut a partly written record off its end (${(truncErr as Error).message}); it is replaced when the journal can be written again`);
    }
    if (this.failure) return;
    // the time shown (queue stats, the message at close) is the wall clock's; the duration is measured on
    // the steady one, so that a clock step while it fails moves neither
    this.failure = { reason, sinceMs: Date.now(), steadySinceMs: steadyNowMs() };
    this.opts.onError(
      `journal ${this.file}: cannot be written (${reason}): queues and state go on in memory only, and what changes from now on is lost if the master dies before the journal is written again; retrying`,
    );
    this.retryDelayMs = this.opts.retryMs;
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.fd < 0 || this.recover()) return;
      this.retryDelayMs = Math.min(this.retryDelayMs * 2, MAX_RETRY_MS);
      this.scheduleRetry();
    }, this.retryDelayMs);
    // the supervisor keeps the master alive; this timer must not keep it from exiting
    this.retryTimer.unref();
  }

  private stopRetrying(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  /** Writes the live state as a snapshot; true when it worked and appends have resumed. */
  private recover(): boolean {
    const failure = this.failure;
    if (!failure) return true;
    try {
      this.compact();
    } catch (err) {
      // still failing (the disk still full): said once already, when the failure began; the stats show
      // the latest reason, which may differ (an I/O error after a full disk)
      this.failure = { ...failure, reason: err instanceof Error ? err.message : String(err) };
      return false;
    }
    this.failure = null;
    this.opts.onRecovered(`journal ${this.file}: written again (the live state as a snapshot); it had failed for ${Math.round((steadyNowMs() - failure.steadySinceMs) / 1000)} s (${failure.reason})`);
    return true;
  }
}

/**
 * Removes the temp files of compactions a crash interrupted (`FILE.<16 hex>.tmp`, never renamed, so never
 * the journal): each crash mid-compaction would otherwise leave a copy of the state behind for good. Only
 * one master appends to a journal (a USR2 successor loads it once the old master has exited), so none is
 * being written now. unlink(2) removes a link itself, never what it points to.
 */
function removeStaleTemps(file: string, warn: (m: string) => void): void {
  const dir = dirname(file);
  const prefix = `${basename(file)}.`;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    // no directory: no journal and no temp file either; opening the journal says what is wrong
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  for (const n of names) {
    if (!n.startsWith(prefix) || !n.endsWith('.tmp') || !/^[0-9a-f]{16}$/.test(n.slice(prefix.length, -4))) continue;
    unlinkSync(join(dir, n));
    warn(`journal ${file}: removed ${n}, the temp file of a compaction that was cut short`);
  }
}

/** write(2) may write less than asked (a signal, a full disk); the rest follows or the error propagates. */
function writeFully(fd: number, buf: Buffer): void {
  for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off, buf.length - off);
}
