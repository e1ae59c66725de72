// The journal file (`[supervisord] journal = PATH`, docs/shared.md "Durability"): records are gathered during
// one turn of the master's event loop and written with one write(2) on an O_APPEND fd before any answer of
// that turn leaves the master (SharedService calls `flush` before it sends). Start-up reads the file, replays
// it and compacts it; compaction also runs when the file has grown to 4× its last snapshot.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, statSync, writeSync, constants } from 'node:fs';
import { dirname } from 'node:path';
import { randomHex } from '../os/random.js';
import { encodeRecord, parseJournal, replay, type JournalImage, type JournalRecord } from './journal-core.js';

/** What the backend writes to: MemoryBackend takes this, so tests can give it an in-memory list. */
export interface JournalWriter {
  append(r: JournalRecord): void;
  /** writes what was appended; returns once it is in the file */
  flush(): void;
  /** flushes and closes; nothing is appended after */
  close(): void;
}

export interface JournalOptions {
  /** fsync after every batch (`journal_fsync`; docs/decisions.md: off by default; compaction always fsyncs) */
  readonly fsyncEachBatch?: boolean;
  /** compact when the file is larger than this many times the last snapshot (and than minCompactBytes) */
  readonly growthFactor?: number;
  readonly minCompactBytes?: number;
}

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

  private constructor(
    readonly file: string,
    private readonly opts: Required<JournalOptions>,
  ) {}

  /**
   * Reads and replays `file` (absent: empty). Throws JournalCorruptError on a bad line; a torn last line is
   * dropped and reported through `warn`. The file is not opened for writing until `start`.
   */
  static load(file: string, warn: (m: string) => void, opts: JournalOptions = {}): { journal: JournalFile; image: JournalImage } {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      // no journal yet: the first start with this setting
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const { records, tornLine } = parseJournal(text, file);
    if (tornLine !== null) warn(`journal ${file}: line ${tornLine} was cut short (a crash mid-write); it was never answered and is ignored`);
    const journal = new JournalFile(file, { fsyncEachBatch: false, growthFactor: 4, minCompactBytes: 1 << 20, ...opts });
    return { journal, image: replay(records) };
  }

  /** Compacts to the live state from `snapshot` and opens the file for appending. */
  start(snapshot: () => JournalRecord[]): void {
    this.snapshot = snapshot;
    this.compact();
  }

  /** a compaction is scheduled for after the current turn's answers */
  private compactQueued = false;

  append(r: JournalRecord): void {
    if (this.fd < 0) throw new Error(`journal ${this.file} is not open`);
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
    writeFully(this.fd, buf);
    if (this.opts.fsyncEachBatch) fsyncSync(this.fd);
    this.sizeBytes += buf.length;
    if (this.sizeBytes > this.opts.minCompactBytes && this.sizeBytes > this.opts.growthFactor * this.snapshotBytes && !this.compactQueued) {
      // not here: flush runs before answers go out, and a compaction writes and fsyncs the whole state.
      // The snapshot taken later includes every change made meanwhile, so nothing is lost by waiting.
      this.compactQueued = true;
      setImmediate(() => {
        this.compactQueued = false;
        if (this.fd >= 0) this.compact();
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

  /** Writes what is pending and closes the file. */
  close(): void {
    if (this.fd < 0) return;
    this.flush();
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = -1;
  }
}

// --- internal ---

/** write(2) may write less than asked (a signal, a full disk); the rest follows or the error propagates. */
function writeFully(fd: number, buf: Buffer): void {
  for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off, buf.length - off);
}
