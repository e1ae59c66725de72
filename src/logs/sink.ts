// The log sink: every process's stdout and stderr, read from its pipes, split into lines and written to the
// files the config names (supervisor's stdout_logfile / stderr_logfile and drover's additions), echoed to
// drover's stdout in the foreground; drover's own log file; reopen on SIGUSR1; and the reading API the
// control plane serves (supervisor's readProcessStdoutLog, tailProcessStdoutLog, readLog, clearProcessLogs).
import { steadyNowMs } from '../os/clock.js';
import { closeSync, lstatSync, mkdirSync, readdirSync, unlinkSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { processKey, sameProcess } from '../config/diff.js';
import type { Config, ProcessSpec } from '../config/types.js';
import { DroverError } from '../errors.js';
import type { OutputConsumer, OutputStream } from '../os/pipe-reader.js';
import { pinDirectory, type PinnedDir } from '../os/safe-dir.js';
import { lookupUser } from '../os/users.js';
import { Followers } from './followers.js';
import { backupOf, LogFile } from './log-file.js';
import {
  autoLogName,
  formatLines,
  formatPieces,
  isAutoLogName,
  LineSplitter,
  prefixLines,
  type FormatOptions,
  type LogFormat,
  type StreamName,
} from './lines.js';
import type { OutputSink } from './output.js';
import { LogReadError, readFileRange, tailFileRange, type TailResult } from './read.js';
import { Syslog } from './syslog.js';

export type { TailResult } from './read.js';

/** drover's own log (`[supervisord] logfile`) cannot be opened at the start: drover does not start. */
export class OwnLogError extends DroverError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_OWN_LOG', `${message}; drover does not start without its own log (logfile = NONE or syslog runs without a file)`, options);
  }
}
export { LogReadError } from './read.js';

/**
 * Anything text can be written to: drover's stdout or stderr (std-out.ts), or a test's collector. A `write`
 * that returns false with an `onDrain` means the reader is behind: the children whose lines go there are
 * paused until `onDrain` calls back.
 */
export interface TextOut {
  write(data: string | Buffer): unknown;
  onDrain?(cb: () => void): void;
  /** a copy of lines kept elsewhere too: dropped (and counted) rather than queued while the reader is behind */
  copy?(data: string | Buffer): void;
}

export interface LogSinkOptions {
  readonly config: Config;
  /** foreground echo of every line as `NAME | line` / `NAME ! line`; null when daemonized or silent */
  readonly echo: TextOut | null;
  /** drover's own stdout and stderr, for `stdout_logfile = /dev/stdout` and `/dev/stderr` */
  readonly stdout: TextOut;
  readonly stderr: TextOut;
  /** where the sink reports I/O failures (drover's logger); default: drover's stderr */
  readonly onError?: (message: string) => void;
  /** ms since the epoch, for timestamps and time-based rotation; injectable for tests */
  readonly now?: () => number;
  /** per-file queue size above which the sink stops reading the child's pipe (default 1 MiB) */
  readonly highWaterMark?: number;
}

/** Where one process stream's lines go. */
type Target =
  | { readonly type: 'file'; readonly file: LogFile }
  | { readonly type: 'stream'; readonly out: TextOut }
  | { readonly type: 'none' };

/** One process stream as configured: stdout, or stderr when it is not redirected into stdout. */
interface Channel {
  readonly spec: ProcessSpec;
  readonly target: Target;
  /** the path the config names (after AUTO), or null for NONE and drover's own streams */
  readonly path: string | null;
  /** followers of a channel without a file; null for a file's channel (the file has its own) */
  readonly followers: Followers | null;
}

/**
 * Whether a log path names drover's own stdout or stderr: `/dev/stdout`, and the other names containers use
 * for it (`/dev/fd/1`, `/proc/self/fd/1`, `/proc/PID/fd/1` with drover's pid, so `/proc/1/fd/1` as PID 1).
 * A program log by another name is written as a file, raw, as supervisord writes it, and not echoed too.
 */
export function ownStream(path: string): 'stdout' | 'stderr' | null {
  const m = /^(?:\/dev\/(?:std(out|err)|fd\/([12]))|\/proc\/(?:self|(\d+))\/fd\/([12]))$/.exec(path);
  if (m === null) return null;
  if (m[3] !== undefined && Number(m[3]) !== process.pid) return null;
  const fd = m[2] ?? m[4];
  const which = m[1] ?? (fd === '1' ? 'out' : 'err');
  return which === 'out' ? 'stdout' : 'stderr';
}

/** An output that can say when it has caught up. */
interface Drainable {
  onDrain(cb: () => void): void;
}

/** Calls `cb` once every output in `waitFor` has caught up. */
function whenCaughtUp(waitFor: Drainable[], cb: () => void): void {
  const next = waitFor.pop();
  if (next) next.onDrain(() => whenCaughtUp(waitFor, cb));
  else cb();
}

/**
 * How long a partial line (a prompt, progress dots) may wait for its newline, its pipe quiet, before its
 * bytes go to the log file anyway, as supervisord writes whatever it reads at once: `tail -f` shows it. Only where the file
 * holds the program's bytes as they are (text, no timestamps): there the rest of the line follows it
 * seamlessly. The echo and `log:` checks still see whole lines. Long enough that a line written in two
 * writes a moment apart is still written as one.
 */
const PARTIAL_LINE_MS = 500;
/**
 * The longest a partial line waits while its pipe keeps delivering (a progress bar redrawn with `\r`, dots
 * every 0.1 s): it never went quiet, so nothing of it reached the file until its newline.
 */
const PARTIAL_LINE_MAX_MS = 2000;

/** How long a pipe may stay silent during `close` before drover stops waiting for its end. */
const CLOSE_GRACE_MS = 2000;
/** How long, at most, close() reads pipes that still deliver once every program has stopped. */
const CLOSE_MAX_MS = 5000;

/**
 * AUTO log files of gone processes kept per program (both streams counted): a prefork pool that recycles
 * its workers makes a new process name, and so new AUTO files, per worker; older ones are removed (AUTO
 * logs are removed at every start anyway, as supervisor removes them).
 */
const RETIRED_AUTO_LOGS = 16;

/**
 * One child stream being read: its line splitter, the format its lines take, and whether it is paused or
 * ended. One object per stream, whose methods the pipe calls (PipeReader.consume), rather than a closure
 * context and four listener closures per stream: in a daemon of 1000 programs that was ~1 MiB
 * (bench/RESULTS.md, fifteenth session). The work itself is LogSink's (readData, readEnd, deliver).
 */
class Reading extends LineSplitter implements FormatOptions, OutputConsumer {
  readonly format: LogFormat;
  readonly timestamps: boolean;
  /** the process name, as FormatOptions calls it */
  readonly process: string;
  /** the outputs a chunk's lines went to and that were behind after it: the pipe waits for all of them */
  behind: Drainable[] | null = null;
  ended = false;
  /** true while this source is paused for its file (not for drover's stdout) */
  pausedHere = false;
  /**
   * bytes of the held partial line already written to the file (PARTIAL_LINE_MS): the line's completion
   * writes only the rest there, while every line-based reader (echo, watchers, syslog) gets the whole line
   */
  writtenAhead = 0;
  /** the pending write of a held partial line; null when none is armed */
  partialTimer: NodeJS.Timeout | null = null;
  /** when the part of the held line not yet written began to wait, ms (PARTIAL_LINE_MAX_MS) */
  partialSinceMs = 0;
  /** when this pipe was last read, ms: a partial line goes ahead only once the pipe has been quiet */
  lastReadMs = 0;
  /** when a successor of this process attached, ms; 0 while none has (LogSink.retireReading) */
  retiredAtMs = 0;

  constructor(
    private readonly sink: LogSink,
    readonly source: OutputStream,
    /** the name the process was attached by ("group:name"), as its line watchers know it */
    readonly name: string,
    readonly stream: StreamName,
    readonly spec: ProcessSpec,
    readonly channel: Channel,
    /** drover's stdout in the foreground, when these lines are echoed there */
    readonly echo: TextOut | null,
  ) {
    super();
    this.format = spec.logFormat;
    this.timestamps = spec.timestamps;
    this.process = spec.name;
  }

  /** `NAME | ` for stdout, `NAME ! ` for stderr: made when a line is echoed, not kept per stream */
  prefix(): string {
    return this.stream === 'stdout' ? `${this.process} | ` : `${this.process} ! `;
  }

  /** Notes an output whose write answered false (it is behind): the pipe waits for it. */
  noteBehind(out: TextOut, ok: unknown): void {
    if (ok === false && out.onDrain) (this.behind ??= []).push(out as Drainable);
  }

  data(chunk: Buffer): void {
    this.sink.readData(this, chunk);
  }

  end(): void {
    this.sink.readEnd(this);
  }

  error(err: Error): void {
    this.sink.readError(this, err);
  }
}

/** Whether `r`'s file holds the program's bytes as they are, so a partial line can go ahead of its end. */
function writesRaw(r: Reading): boolean {
  return r.channel.target.type === 'file' && r.format === 'text' && !r.timestamps;
}

export class LogSink implements OutputSink {
  private readonly opts: LogSinkOptions;
  private readonly now: () => number;
  /** channels by `name\0stream` */
  private readonly channels = new Map<string, Channel>();
  /** one LogFile per distinct path, so two channels naming one file never race on rotation */
  private readonly files = new Map<string, LogFile>();
  /** drover's own log file; null for NONE */
  readonly mainLog: LogFile | null;
  /** sources being read, with their reading state (ending it flushes the partial line) */
  private readonly sources = new Map<OutputStream, Reading>();
  private readonly sourcesEnded: (() => void)[] = [];
  private onError: (message: string) => void;
  /** what every log file reports through: one function for all (not a closure per file), read at the call */
  private readonly fileError = (message: string): void => this.onError(message);
  /** where `stdout_syslog`/`stderr_syslog` lines go; made at the first such line */
  private syslog: Syslog | null = null;
  /** where drover's own lines go with `[supervisord] logfile = syslog` */
  private ownSyslog: Syslog | null = null;
  /** when a child's pipe last delivered data, ms (for close) */
  private lastDataMs = 0;
  /** ends close()'s wait for the pipes, while it waits */
  private stopDraining: (() => void) | null = null;
  /** stopReading() was called: close() does not wait for the pipes */
  private readingStopped = false;
  /** sources paused right now because their file is behind (not drover's stdout: close does not wait for that) */
  private pausedSources = 0;
  /** times a source was paused for back-pressure, since start (for tests and metrics) */
  pauses = 0;
  /** every process the sink knows, by "group:name" */
  private readonly specs = new Map<string, ProcessSpec>();
  /** who watches a process's output lines as they come (a `log:` ready check), by "group:name" */
  private readonly lineWatchers = new Map<string, Set<(lines: Buffer) => void>>();
  /** pipes being read per process ("group:name") */
  private readonly reading = new Map<string, number>();
  /** processes forgotten while a pipe of theirs was still being read: released when the last one ends */
  private readonly forgotten = new Set<string>();
  /** files no channel names any more, kept open for the pipes still writing to them (closed at their end) */
  private readonly unnamed = new Set<LogFile>();
  /** files of forgotten processes being closed (close waits for them) */
  private readonly closingFiles = new Set<Promise<void>>();
  /** AUTO logs of forgotten processes per program ("group:program"), oldest first */
  private readonly retiredAuto = new Map<string, RetiredLog[]>();
  /** the files this sink made for AUTO logs (not a fixed path that happens to look like one) */
  private readonly autoFiles = new WeakSet<LogFile>();
  /** pipes of processes that have a successor, still read while they deliver (retireReading) */
  private readonly retired = new Set<Reading>();
  /** looks at the retired pipes every 100 ms while there are any */
  private retiredTimer: NodeJS.Timeout | null = null;

  constructor(opts: LogSinkOptions) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
    this.onError = opts.onError ?? ((m) => opts.stderr.write(`drover: ${m}\n`));
    const sv = opts.config.supervisord;
    const here = dirname(opts.config.file);
    const main = sv.logfile;
    if (main === 'NONE' || main === 'syslog' || ownStream(main) !== null) {
      // /dev/stdout and /dev/stderr (containers) are drover's own streams, not files to open (see mainLogWriter)
      this.mainLog = null;
    } else {
      const path = main === 'AUTO' ? join(sv.runtimeDir, 'drover.log') : resolve(here, main);
      try {
        mkdirSync(dirname(path), { recursive: true });
      } catch (err) {
        throw new OwnLogError(`[supervisord] logfile: cannot open log file ${path}: ${(err as Error).message}`, { cause: err });
      }
      // what the file reports while it is first opened is held: a failed open is this constructor's error,
      // not also a line on stderr
      const held: string[] = [];
      let opening = true;
      // errors of drover's own log go to its stderr: reporting them through the logger would loop
      this.mainLog = new LogFile(path, {
        maxBytes: sv.logfileMaxBytes,
        backups: sv.logfileBackups,
        rotate: null,
        gzip: false,
        // supervisord opens its own log before it sets its umask: 0644 whatever the umask
        mode: 0o644,
        now: this.now,
        onError: (m) => (opening ? held.push(m) : opts.stderr.write(`drover: ${m}\n`)),
        ...(opts.highWaterMark !== undefined ? { highWaterMark: opts.highWaterMark } : {}),
      });
      opening = false;
      // supervisord does not start without its own log (PermissionError, exit 1): a drover that started
      // anyway would lose every line of its own for its whole life, the reason only in a stderr nobody reads.
      // Only here, at the start: a reopen that fails later (USR1, logrotate) is reported and retried, and
      // drover runs on (log-file.ts retryOpen).
      const failure = this.mainLog.openFailure();
      if (failure !== null) throw new OwnLogError(`[supervisord] logfile: ${failure}`);
      for (const m of held) opts.stderr.write(`drover: ${m}\n`);
    }
    const needsAuto = opts.config.processes.some((p) => p.stdoutLogfile === 'AUTO' || p.stderrLogfile === 'AUTO');
    if (needsAuto) {
      mkdirSync(sv.childlogdir, { recursive: true });
      if (!sv.nocleanup) this.removeAutoLogs();
    }
    for (const spec of opts.config.processes) this.register(spec);
  }

  /**
   * Sets up (or, after a config change, replaces) the log channels of a process. Channels are keyed by
   * "group:name": supervisor allows one process name in two groups, each with its own logs.
   */
  register(spec: ProcessSpec): void {
    const id = processKey(spec);
    this.forgotten.delete(id); // registered again before its last pipe ended: it keeps its channels
    const known = this.specs.get(id);
    // the same process again (the supervisor registers what the sink already read from the config):
    // keep its channels, an AUTO log must not get a second name
    if (known && sameProcess(known, spec)) return;
    this.specs.set(id, spec);
    const here = dirname(this.opts.config.file);
    const replaced: Channel[] = [];
    for (const stream of ['stdout', 'stderr'] as const) {
      const before = this.channels.get(key(id, stream));
      if (before) replaced.push(before);
      if (stream === 'stderr' && spec.redirectStderr) this.channels.delete(key(id, stream));
      else this.channels.set(key(id, stream), this.makeChannel(spec, stream, here));
    }
    // a changed program gets new AUTO names (and may name other files): the old files are closed, unless
    // a channel still names them (a fixed path kept, or shared) or a pipe of the stopped process still
    // brings its last lines there (then at that pipe's end: readEnd)
    for (const ch of replaced) if (ch.target.type === 'file') this.closeIfUnused(ch.target.file, ch.spec);
  }

  /** Sets where I/O failures are reported (drover's logger, once it exists). */
  setErrorReporter(report: (message: string) => void): void {
    this.onError = report;
  }

  /**
   * A writer for drover's own log lines: the log file, and drover's stdout when `echo` is set. `logfile =
   * /dev/stdout` writes each line once to stdout (the echo, or stdout itself in a daemon), `/dev/stderr` to
   * stderr only: as supervisord writes to those, not as files opened (they are links, which drover's log
   * files never follow).
   */
  mainLogWriter(echo: TextOut | null): TextOut {
    const main = ownStream(this.opts.config.supervisord.logfile);
    if (main === 'stdout') {
      const out = echo ?? this.opts.stdout;
      return { write: (data: string | Buffer) => out.write(data) };
    }
    if (main === 'stderr') return { write: (data: string | Buffer) => this.opts.stderr.write(data) };
    if (this.opts.config.supervisord.logfile === 'syslog') {
      // as supervisord's `logfile = syslog`: each line to /dev/log, without drover's time (syslog stamps
      // its own); a failure is said on drover's stderr, as for its log file (through the logger it would loop)
      const own = new Syslog({ onError: (m) => this.opts.stderr.write(`drover: ${m}\n`), now: this.now });
      this.ownSyslog = own;
      return {
        write: (data: string | Buffer) => {
          if (echo) echo.write(data);
          own.send(null, Buffer.from(String(data).replace(/^\d{4}-\d\d-\d\dT[\d:.]+Z /gm, '')));
        },
      };
    }
    const file = this.mainLog;
    return {
      write: (data: string | Buffer) => {
        if (echo) echo.write(data);
        file?.write(typeof data === 'string' ? Buffer.from(data) : data);
      },
    };
  }

  /** Reads a child's stdout or stderr until its end; pauses the pipe while the log file catches up. */
  attach(name: string, stream: StreamName, source: OutputStream, opts: { readonly echo?: boolean } = {}): void {
    const spec = this.findSpec(name);
    const channel = this.channels.get(key(processKey(spec), stream === 'stderr' && spec.redirectStderr ? 'stdout' : stream));
    if (!channel) throw new LogReadError('E_BAD_NAME', `no log channel for ${name} ${stream}`);
    const id = processKey(spec);
    // this stream's pipe of the process's predecessor, still open, is held by something it left behind (the
    // same stream only: the new process's other pipe, attached a moment ago, is no predecessor's)
    for (const earlier of this.sources.values()) if (earlier.stream === stream && processKey(earlier.spec) === id) this.retireReading(earlier);
    // a new process: its log is opened anew if it was moved away meanwhile (supervisord opens it at each spawn)
    if (channel.target.type === 'file') channel.target.file.reopenIfMoved();
    this.reading.set(id, (this.reading.get(id) ?? 0) + 1);
    // no echo where the lines reach drover's own stdout or stderr anyway: /dev/stdout (prefixed), or another
    // name of it written as a file (raw, as supervisord writes it), which the echo would double
    const echo = channel.target.type === 'stream' || opts.echo === false || (channel.path !== null && ownStream(channel.path) !== null) ? null : this.opts.echo;
    const r = new Reading(this, source, name, stream, spec, channel, echo);
    this.sources.set(source, r);
    // a chunk is valid only during this call: the splitter keeps a copy of a partial line, the file copies
    // what it queues, and followers get a copy
    if (source.consume) source.consume(r);
    else {
      source.on('data', (chunk: Buffer) => r.data(chunk));
      source.on('end', () => r.end());
      source.on('close', () => r.end());
      source.on('error', (err) => r.error(err));
    }
  }

  /** A chunk read from `r`'s pipe (Reading.data). */
  readData(r: Reading, chunk: Buffer): void {
    this.lastDataMs = r.lastReadMs = steadyNowMs();
    const lines = r.push(chunk);
    if (lines) {
      this.deliver(r, lines);
      // a newline came: what is held now is a new partial line, whose wait begins now
      r.partialSinceMs = r.lastReadMs;
    }
    if (r.pending > r.writtenAhead && r.partialTimer === null && writesRaw(r)) {
      r.partialSinceMs = r.lastReadMs;
      r.partialTimer = setTimeout(() => this.writeAhead(r), PARTIAL_LINE_MS);
      r.partialTimer.unref();
    }
    const behind = r.behind;
    if (behind !== null && behind.length > 0) {
      // back-pressure: stop reading the pipe; once it is full the child's writes block. A file behind is
      // drover's own doing, and close() waits for it; drover's stdout behind is up to its reader, and
      // close() gives up on it as on a silent pipe
      this.pauses += 1;
      if (!r.pausedHere && behind.some((out) => out instanceof LogFile)) {
        r.pausedHere = true;
        this.pausedSources += 1;
      }
      r.source.pause();
      r.behind = null;
      whenCaughtUp(behind, () => {
        if (r.pausedHere) this.pausedSources -= 1;
        r.pausedHere = false;
        r.source.resume();
      });
    }
  }

  /** A partial line of `r` waited PARTIAL_LINE_MS for its newline: what came of it so far goes to the file. */
  private writeAhead(r: Reading): void {
    r.partialTimer = null;
    const target = r.channel.target;
    if (r.ended || target.type !== 'file') return;
    // still flowing: at full speed a read often ends inside a line, whose rest is a read away; written
    // ahead, a rotation could fall between the two halves
    const now = steadyNowMs();
    const quietIn = r.lastReadMs + PARTIAL_LINE_MS - now;
    const overdueIn = r.partialSinceMs + PARTIAL_LINE_MAX_MS - now;
    if (quietIn > 0 && overdueIn > 0) {
      r.partialTimer = setTimeout(() => this.writeAhead(r), Math.min(quietIn, overdueIn));
      r.partialTimer.unref();
      return;
    }
    const held = r.held();
    if (held.length <= r.writtenAhead) return;
    target.file.write(held.subarray(r.writtenAhead), this.now());
    r.writtenAhead = held.length;
  }

  /** The end of `r`'s pipe (its 'end', 'close', or close() giving up on it): once. */
  readEnd(r: Reading): void {
    if (r.ended) return;
    r.ended = true;
    if (r.partialTimer !== null) clearTimeout(r.partialTimer);
    r.partialTimer = null;
    if (r.pausedHere) this.pausedSources -= 1;
    r.pausedHere = false;
    const rest = r.flush();
    if (rest) this.deliver(r, rest);
    r.behind = null;
    this.sources.delete(r.source);
    // the last pipe writing to a file its process's channels no longer name (a register() replaced them)
    const target = r.channel.target;
    if (target.type === 'file' && this.unnamed.has(target.file)) this.closeIfUnused(target.file, r.spec);
    const id = processKey(r.spec);
    const left = (this.reading.get(id) ?? 1) - 1;
    if (left > 0) this.reading.set(id, left);
    else {
      this.reading.delete(id);
      if (this.forgotten.has(id)) this.release(id);
    }
    if (this.sources.size === 0) for (const cb of this.sourcesEnded.splice(0)) cb();
  }

  /**
   * `r` belongs to a process that has a successor, so whatever still holds its pipe is something that
   * process left behind (a background job, a daemon that kept stdout). supervisord closes a process's pipes
   * when it exits; drover reads on while they deliver, so that the last lines written before the exit are
   * kept, and stops as close() does: once a pipe has been silent for CLOSE_GRACE_MS, or CLOSE_MAX_MS after
   * the successor came. Read for ever, every restart of such a program kept two more descriptors open
   * (until EMFILE) and mixed the leftovers' lines into the successor's log.
   */
  private retireReading(r: Reading): void {
    if (r.ended || r.retiredAtMs > 0) return;
    r.retiredAtMs = steadyNowMs();
    this.retired.add(r);
    if (this.retiredTimer === null) {
      this.retiredTimer = setInterval(() => this.endRetired(), 100);
      this.retiredTimer.unref();
    }
  }

  /** Ends the retired pipes that went silent or have been read for long enough (retireReading). */
  private endRetired(): void {
    const now = steadyNowMs();
    for (const r of this.retired) {
      if (r.ended) {
        this.retired.delete(r);
        continue;
      }
      // a pipe paused for its file waits for drover, not silent
      const silent = !r.pausedHere && now - Math.max(r.lastReadMs, r.retiredAtMs) >= CLOSE_GRACE_MS;
      if (!silent && now - r.retiredAtMs < CLOSE_MAX_MS) continue;
      this.retired.delete(r);
      if (!silent) {
        const name = r.spec.group === r.spec.name ? r.spec.name : r.name;
        this.onError(`${name} ${r.stream}: output of an earlier process still comes ${CLOSE_MAX_MS / 1000} s after its successor started (a process it left behind holds the pipe): no longer read`);
      }
      r.source.destroy();
      this.readEnd(r);
    }
    if (this.retired.size === 0 && this.retiredTimer !== null) {
      clearInterval(this.retiredTimer);
      this.retiredTimer = null;
    }
  }

  /** An error reading `r`'s pipe. */
  readError(r: Reading, err: Error): void {
    this.onError(`${r.spec.name} ${r.stream}: ${err.message}`);
  }

  /** Sends complete lines of `r` to its watchers, syslog, the echo and its file or stream. */
  private deliver(r: Reading, lines: Buffer): void {
    const watchers = this.lineWatchers.get(r.name);
    if (watchers) for (const w of watchers) w(lines);
    const spec = r.spec;
    // with redirect_stderr both streams are stdout's, as supervisor reads them from one pipe
    if (r.stream === 'stderr' && !spec.redirectStderr ? spec.stderrSyslog : spec.stdoutSyslog) {
      (this.syslog ??= new Syslog({ onError: this.fileError, now: this.now })).send(spec.name, lines);
    }
    const t = this.now();
    const channel = r.channel;
    const target = channel.target;
    const echo = r.echo;
    if (echo) {
      // the echo is the only copy of a NONE channel's lines; a file's lines never wait for the echo
      const text = prefixLines(lines, r.prefix());
      if (target.type === 'file' && echo.copy) echo.copy(text);
      else r.noteBehind(echo, echo.write(text));
    }
    if (target.type === 'file') {
      // the front of these lines may be a partial line already written (writeAhead): the rest goes now
      const body = r.writtenAhead > 0 ? lines.subarray(r.writtenAhead) : lines;
      r.writtenAhead = 0;
      let below = true;
      for (const piece of formatPieces(body, r, t)) {
        below = (typeof piece === 'string' ? target.file.writeLatin1(piece, t) : target.file.write(piece, t)) && below;
      }
      if (!below) (r.behind ??= []).push(target.file);
      return;
    }
    const out = formatLines(lines, r, t);
    switch (target.type) {
      case 'stream':
        r.noteBehind(target.out, target.out.write(prefixLines(out, r.prefix())));
        break;
      case 'none':
        break;
      default: {
        const never: never = target;
        throw new Error(`unknown log target ${JSON.stringify(never)}`);
      }
    }
    channel.followers?.deliver(out);
  }

  /**
   * Calls `onLines` with the complete lines (newline-terminated, as the program wrote them) of process
   * `key`'s stdout and stderr as they arrive; returns an unsubscribe function.
   */
  watchLines(key: string, onLines: (lines: Buffer) => void): () => void {
    let set = this.lineWatchers.get(key);
    if (!set) this.lineWatchers.set(key, (set = new Set()));
    set.add(onLines);
    return () => {
      set.delete(onLines);
      if (set.size === 0 && this.lineWatchers.get(key) === set) this.lineWatchers.delete(key);
    };
  }

  /**
   * Forgets a process that is gone from the table (removed by an update, a prefork worker replaced): once
   * its pipes have ended, its channels go and its files are closed (unless another process writes to the
   * same file). Without this every replaced worker kept two log descriptors open for ever.
   */
  forget(id: string): void {
    if (!this.specs.has(id)) return;
    if ((this.reading.get(id) ?? 0) > 0) this.forgotten.add(id);
    else this.release(id);
  }

  /** Closes and reopens every log file by its name (SIGUSR1, logrotate's postrotate). */
  reopen(): void {
    this.mainLog?.reopen();
    for (const f of this.files.values()) f.reopen();
  }

  /**
   * Waits for children's pipes to end (while data still flows), then for `beforeFiles` (what else may still
   * log: drover's stdout settling), writes everything queued, closes every file. `removeOwnAutoLogs`: then
   * removes the AUTO log files this sink made, live and retired, before drover's own log closes.
   */
  async close(beforeFiles: () => Promise<unknown> = async () => undefined, removeOwnAutoLogs = false): Promise<void> {
    await this.readToEnd();
    await beforeFiles();
    await Promise.all([...this.files.values()].map((f) => f.close()));
    await Promise.all([...this.closingFiles]);
    if (removeOwnAutoLogs) this.removeOwnAutoLogs();
    await this.mainLog?.close();
    this.syslog?.close();
    this.ownSyslog?.close();
  }

  /**
   * Reads the children's pipes to their end (as close does) and writes every program log's queue: at the
   * end of a USR2 hand-over, before the log streams end, so that the offsets they end at are final (the
   * new master goes on from there). The files stay open.
   */
  async settle(): Promise<void> {
    await this.readToEnd();
    await Promise.all([...this.files.values()].map((f) => f.flush()));
  }

  /** Where a follow of a process stream's log subscribed now starts (LogFile.followPosition); null without a regular file. */
  followPosition(name: string, stream: StreamName): { file: string; offset: number } | null {
    const target = this.channelFor(name, stream).target;
    return target.type === 'file' ? target.file.followPosition() : null;
  }

  /** Waits for the children's pipes to end while data still flows, bounded (see close). */
  private async readToEnd(): Promise<void> {
    if (this.sources.size > 0 && !this.readingStopped) {
      const startedMs = steadyNowMs();
      await new Promise<void>((resolveEnded) => {
        // a pipe still delivering is read on (what the programs wrote before they ended is kept); one
        // silent for CLOSE_GRACE_MS is held open by some descendant and is given up, and so is every pipe
        // after CLOSE_MAX_MS: a process a program left behind that keeps writing must not keep drover
        // from exiting (a container's stop would wait for its SIGKILL)
        const timer = setInterval(() => {
          // a pipe drover paused (its file is behind) is waiting for drover, not silent
          if (this.pausedSources > 0) this.lastDataMs = steadyNowMs();
          else if (steadyNowMs() - this.lastDataMs >= CLOSE_GRACE_MS) return done();
          if (steadyNowMs() - startedMs < CLOSE_MAX_MS) return;
          // a name once: a restarted program's earlier pipes may be held too
          const open = new Set([...this.sources.values()].map((r) => `${r.spec.group === r.spec.name ? r.spec.name : r.name} ${r.stream}`));
          const why = this.pausedSources > 0 ? 'the log files are behind' : 'a process they left behind holds the pipe';
          this.onError(`output still comes to ${[...open].join(', ')} ${CLOSE_MAX_MS / 1000} s after the programs stopped (${why}): no longer read`);
          done();
        }, 100);
        const done = (): void => {
          clearInterval(timer);
          this.stopDraining = null;
          resolveEnded();
        };
        this.lastDataMs = steadyNowMs();
        this.sourcesEnded.push(done);
        this.stopDraining = done;
      });
      // a grandchild that inherited the pipe can hold it open for ever: stop reading, keep what came
      for (const [source, r] of [...this.sources]) {
        source.destroy();
        this.readEnd(r);
      }
    }
  }

  /** A second TERM, INT or QUIT once the programs have stopped: close() reads their last output no longer (or not at all). */
  stopReading(): void {
    this.readingStopped = true;
    this.stopDraining?.();
  }

  // --- reading API for the control plane: only configured files are ever opened ---

  unwritable(name: string): string | null {
    const spec = this.findSpec(name);
    for (const stream of ['stdout', 'stderr'] as const) {
      const target = this.channels.get(key(processKey(spec), stream))?.target;
      const problem = target?.type === 'file' ? target.file.openProblem() : null;
      if (problem !== null) return problem;
    }
    return null;
  }

  /** The log file of a process stream, or null when it goes nowhere (NONE) or to drover's own stdout/stderr. */
  logPath(name: string, stream: StreamName): string | null {
    return this.channelFor(name, stream).path;
  }

  /** supervisor's readProcessStdoutLog/readProcessStderrLog: `length` bytes at `offset` (see readFileRange). */
  async readLog(name: string, stream: StreamName, offset: number, length: number): Promise<Buffer> {
    const ch = this.channelFor(name, stream);
    // drover's own stdout or stderr: supervisord reads the device there and finds nothing, so `tail` is empty
    if (ch.target.type === 'stream') return Buffer.alloc(0);
    if (ch.target.type !== 'file') throw noLogFile(ch.spec, name, stream);
    const file = ch.target.file;
    const bytes = await readHeld(file, (p) => readFileRange(p, offset, length));
    if (bytes === null) throw new LogReadError('E_NO_FILE', `${name} has no open ${stream} log file (${file.path} could not be opened; see drover's log)`);
    return bytes;
  }

  /** supervisor's tailProcessStdoutLog: up to `length` bytes from `offset`, skipping ahead on overflow. */
  async tailLog(name: string, stream: StreamName, offset: number, length: number): Promise<TailResult> {
    const ch = this.channelFor(name, stream);
    if (ch.target.type === 'none') throw noLogFile(ch.spec, name, stream);
    if (ch.target.type !== 'file') return { bytes: Buffer.alloc(0), offset: 0, overflow: false };
    return (await readHeld(ch.target.file, (p) => tailFileRange(p, offset, length))) ?? { bytes: Buffer.alloc(0), offset: 0, overflow: false };
  }

  /** supervisor's clearProcessLogs: removes the live stdout and stderr files and starts new ones. */
  async clearLog(name: string): Promise<void> {
    const spec = this.findSpec(name);
    const files = new Set<LogFile>();
    for (const stream of ['stdout', 'stderr'] as const) {
      const ch = this.channels.get(key(processKey(spec), stream));
      if (ch?.target.type === 'file') files.add(ch.target.file);
    }
    for (const f of files) f.clear();
    await Promise.all([...files].map((f) => f.flush()));
  }

  /** drover's own log file, or null when it is NONE. */
  mainLogPath(): string | null {
    return this.mainLog?.path ?? null;
  }

  /** follow() for drover's own log file (supervisorctl's `maintail -f`); a no-op when there is none. */
  followMain(onChunk: (chunk: Buffer) => void, opts: { tailBytes?: number } = {}): () => void {
    return this.mainLog?.follow(onChunk, { bytes: opts.tailBytes ?? 0 }) ?? (() => undefined);
  }

  /** supervisor's readLog (the main log). */
  async readMainLog(offset: number, length: number): Promise<Buffer> {
    const file = this.mainLog;
    if (file === null) throw new LogReadError('E_NO_FILE', 'drover has no log file (logfile = NONE)');
    const bytes = await readHeld(file, (p) => readFileRange(p, offset, length));
    if (bytes === null) throw new LogReadError('E_NO_FILE', `drover's log file ${file.path} is not open (see drover's stderr)`);
    return bytes;
  }

  /** tailFile semantics on drover's own log. */
  async tailMainLog(offset: number, length: number): Promise<TailResult> {
    const file = this.mainLog;
    if (file === null) return { bytes: Buffer.alloc(0), offset: 0, overflow: false };
    return (await readHeld(file, (p) => tailFileRange(p, offset, length))) ?? { bytes: Buffer.alloc(0), offset: 0, overflow: false };
  }

  /** supervisor's clearLog: removes drover's own log file and starts a new one. */
  async clearMainLog(): Promise<void> {
    if (!this.mainLog) throw new LogReadError('E_NO_FILE', 'drover has no log file (logfile = NONE)');
    this.mainLog.clear();
    await this.mainLog.flush();
  }

  /**
   * Throws E_NO_FILE when a process stream is kept nowhere (NONE, syslog, or stderr under redirect_stderr):
   * what `tail -f` of one stream checks first, where supervisorctl says "no log file".
   */
  requireLog(name: string, stream: StreamName): void {
    const ch = this.channelFor(name, stream);
    if (ch.target.type === 'none') throw noLogFile(ch.spec, name, stream);
  }

  /**
   * The last `lines` whole lines of a process stream's log, as tail(1) prints them (LogFile.tailLines), and
   * the offset its end will have once what waits is written; empty for drover's own stdout or stderr.
   */
  tailLogLines(name: string, stream: StreamName, lines: number): { bytes: Buffer; offset: number } {
    const ch = this.channelFor(name, stream);
    if (ch.target.type === 'none') throw noLogFile(ch.spec, name, stream);
    if (ch.target.type !== 'file') return { bytes: Buffer.alloc(0), offset: 0 };
    const t = ch.target.file.tailLines(lines);
    return { bytes: t.bytes, offset: t.end };
  }

  /**
   * Calls `onChunk` with every byte that goes into a process stream's log from now on, across rotations
   * and reopens (for `tail -f`), after first the last `tailBytes` already there, or the last `tailLines`
   * whole lines: with no gap and no duplicate between the two. Returns an unsubscribe function. Chunks are
   * what the file gets, formatted as in it (whole lines, or a partial line written ahead).
   */
  follow(name: string, stream: StreamName, onChunk: (chunk: Buffer) => void, opts: { tailBytes?: number; tailLines?: number; tailMaxBytes?: number } = {}): () => void {
    const ch = this.channelFor(name, stream);
    if (ch.target.type === 'file') {
      const tail = opts.tailLines !== undefined ? { lines: opts.tailLines, ...(opts.tailMaxBytes !== undefined ? { maxBytes: opts.tailMaxBytes } : {}) } : { bytes: opts.tailBytes ?? 0 };
      return ch.target.file.follow(onChunk, tail);
    }
    return (ch.followers ?? new Followers()).add(onChunk);
  }

  // --- internal ---

  private findSpec(name: string): ProcessSpec {
    // supervisor accepts "group:name" and a bare "name" (the first process of that name)
    const spec = name.includes(':') ? this.specs.get(name) : [...this.specs.values()].find((p) => p.name === name);
    if (!spec) throw new LogReadError('E_BAD_NAME', `no such process: ${name}`);
    return spec;
  }

  private channelFor(name: string, stream: StreamName): Channel {
    const spec = this.findSpec(name);
    const ch = this.channels.get(key(processKey(spec), stream));
    // redirect_stderr: supervisor has no stderr log then (NO_FILE on read)
    return ch ?? { spec, target: { type: 'none' }, path: null, followers: new Followers() };
  }

  /** Drops a forgotten process's channels and closes the files no other channel writes to. */
  private release(id: string): void {
    this.forgotten.delete(id);
    const spec = this.specs.get(id);
    if (!spec) return;
    this.specs.delete(id);
    for (const stream of ['stdout', 'stderr'] as const) {
      const ch = this.channels.get(key(id, stream));
      if (!ch) continue;
      this.channels.delete(key(id, stream));
      if (ch.target.type === 'file') this.closeIfUnused(ch.target.file, spec);
    }
  }

  /**
   * Closes `file` (once its queued lines are written) when no channel names it and no pipe still writes
   * to it; an AUTO log is then kept among its program's retired ones. A file a pipe still writes to waits
   * in `unnamed` for that pipe's end.
   */
  private closeIfUnused(file: LogFile, spec: ProcessSpec): void {
    const path = file.path;
    if (this.files.get(path) !== file) return; // closing already
    for (const ch of this.channels.values()) {
      if (ch.target.type === 'file' && ch.target.file === file) {
        this.unnamed.delete(file); // named again (a later register, the same path)
        return;
      }
    }
    for (const r of this.sources.values()) {
      if (r.channel.target.type === 'file' && r.channel.target.file === file) {
        this.unnamed.add(file);
        return;
      }
    }
    this.unnamed.delete(file);
    this.files.delete(path);
    const closing = file.close().finally(() => {
      this.closingFiles.delete(closing);
      if (isAutoLogName(basename(path), this.opts.config.supervisord.identifier)) this.retireAutoLog(spec, { path, identity: file.identity });
    });
    this.closingFiles.add(closing);
  }

  /** Keeps the AUTO log of a gone process among the newest RETIRED_AUTO_LOGS of its program; removes older ones. */
  private retireAutoLog(spec: ProcessSpec, log: RetiredLog): void {
    const path = log.path;
    const program = `${spec.group}:${spec.programName}`;
    const list = this.retiredAuto.get(program) ?? [];
    list.push(log);
    this.retiredAuto.set(program, list);
    if (list.length <= RETIRED_AUTO_LOGS) return;
    const userUid = spec.user === null ? null : (lookupUser(spec.user)?.uid ?? null);
    let dir: PinnedDir;
    try {
      dir = pinDirectory(dirname(path), userUid === null ? [] : [userUid]);
    } catch (err) {
      this.onError(`not removing old AUTO logs from ${dirname(path)}: ${(err as Error).message}`);
      return;
    }
    try {
      for (const { path: old } of list.splice(0, list.length - RETIRED_AUTO_LOGS)) {
        // a live process may have been given the same name meanwhile (an update re-adding it): keep its file
        if (this.files.has(old)) continue;
        try {
          unlinkSync(dir.at(basename(old)));
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.onError(`cannot remove ${old}: ${(err as Error).message}`);
        }
      }
    } finally {
      dir.close();
    }
  }

  private makeChannel(spec: ProcessSpec, stream: StreamName, here: string): Channel {
    const sv = this.opts.config.supervisord;
    const configured = stream === 'stdout' ? spec.stdoutLogfile : spec.stderrLogfile;
    const followers = new Followers();
    if (configured === 'NONE' || configured === 'syslog') return { spec, target: { type: 'none' }, path: null, followers };
    if (configured === '/dev/stdout') return { spec, target: { type: 'stream', out: this.opts.stdout }, path: null, followers };
    if (configured === '/dev/stderr') return { spec, target: { type: 'stream', out: this.opts.stderr }, path: null, followers };
    const path =
      configured === 'AUTO' ? join(sv.childlogdir, autoLogName(spec.name, stream, sv.identifier)) : resolve(here, configured);
    let file = this.files.get(path);
    if (!file) {
      // a directory of the program's own user is accepted for its logs (docs/security.md, finding 3)
      const userUid = spec.user === null ? null : (lookupUser(spec.user)?.uid ?? null);
      file = new LogFile(path, {
        userUid,
        maxBytes: stream === 'stdout' ? spec.stdoutLogfileMaxBytes : spec.stderrLogfileMaxBytes,
        backups: stream === 'stdout' ? spec.stdoutLogfileBackups : spec.stderrLogfileBackups,
        rotate: spec.logfileRotate,
        gzip: spec.logfileGzip,
        // an AUTO log is readable by drover's user only, as supervisor creates it (mkstemp); a named file
        // gets 0666 less the umask, as Python's open() makes it under supervisor (umask 002: 0664)
        ...(configured === 'AUTO' ? { mode: 0o600 } : {}),
        now: this.now,
        onError: this.fileError,
        ...(this.opts.highWaterMark !== undefined ? { highWaterMark: this.opts.highWaterMark } : {}),
      });
      this.files.set(path, file);
      if (configured === 'AUTO') this.autoFiles.add(file);
    }
    return { spec, target: { type: 'file', file }, path, followers: null };
  }

  /**
   * supervisor removes AUTO logs of earlier runs from childlogdir at start, unless nocleanup. Names are
   * removed in the directory as checked (os/safe-dir.ts), so a link swapped in on the way cannot take the
   * removal elsewhere.
   */
  private removeAutoLogs(): void {
    const sv = this.opts.config.supervisord;
    let dir: PinnedDir;
    try {
      dir = pinDirectory(sv.childlogdir, this.autoLogUsers());
    } catch (err) {
      this.onError(`not removing old AUTO logs from ${sv.childlogdir}: ${(err as Error).message}`);
      return;
    }
    try {
      for (const f of readdirSync(`/proc/self/fd/${dir.fd}`)) {
        if (!isAutoLogName(f, sv.identifier)) continue;
        try {
          unlinkSync(dir.at(f));
        } catch (err) {
          // ENOENT: removed meanwhile; anything else is worth a line but not fatal
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.onError(`cannot remove ${f}: ${(err as Error).message}`);
        }
      }
    } finally {
      dir.close();
    }
  }

  /**
   * Removes the AUTO log files this sink made (the live ones, closed by now, and the retired ones kept), with
   * their rotated backups: what the old master does as it exits after a USR2 hand-over, whose successor
   * starts with its own AUTO names and removes none (docs/decisions.md). A file is removed only while its
   * name still leads to the file this sink opened (a backup: while its name is this sink's own AUTO name
   * with a number), in the directory as checked (os/safe-dir.ts), as removeAutoLogs does.
   */
  private removeOwnAutoLogs(): void {
    const sv = this.opts.config.supervisord;
    const own: RetiredLog[] = [...this.retiredAuto.values()].flat();
    for (const [path, file] of this.files) if (this.autoFiles.has(file)) own.push({ path, identity: file.identity });
    this.retiredAuto.clear();
    const mine = own.filter((l) => dirname(l.path) === resolve(sv.childlogdir));
    if (mine.length === 0) return;
    let dir: PinnedDir;
    try {
      dir = pinDirectory(sv.childlogdir, this.autoLogUsers());
    } catch (err) {
      this.onError(`not removing this master's AUTO logs from ${sv.childlogdir}: ${(err as Error).message}`);
      return;
    }
    try {
      const entries = readdirSync(`/proc/self/fd/${dir.fd}`);
      const unlink = (name: string): void => {
        try {
          unlinkSync(dir.at(name));
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.onError(`cannot remove ${join(sv.childlogdir, name)}: ${(err as Error).message}`);
        }
      };
      for (const { path, identity } of mine) {
        const name = basename(path);
        if (identity !== null && sameFile(dir.at(name), identity)) unlink(name);
        for (const e of entries) if (backupOf(e, name) !== null) unlink(e);
      }
    } finally {
      dir.close();
    }
  }

  /** The users of programs with AUTO logs: a childlogdir of theirs is accepted, as for the logs themselves. */
  private autoLogUsers(): number[] {
    return this.opts.config.processes.flatMap((p) => {
      const uid = p.user !== null && (p.stdoutLogfile === 'AUTO' || p.stderrLogfile === 'AUTO') ? lookupUser(p.user)?.uid : undefined;
      return uid === undefined ? [] : [uid];
    });
  }
}

// --- helpers ---

/** An AUTO log file of a gone process, and the file ("dev:ino") its LogFile last opened under that name. */
interface RetiredLog {
  readonly path: string;
  readonly identity: string | null;
}

/** Whether `name` (a path in a pinned directory) is a regular file with identity "dev:ino" `identity`. */
function sameFile(name: string, identity: string): boolean {
  try {
    const st = lstatSync(name);
    return st.isFile() && `${st.dev}:${st.ino}` === identity;
  } catch {
    return false; // gone already
  }
}

function key(processId: string, stream: StreamName): string {
  return `${processId}\0${stream}`;
}

/**
 * Runs a read on the file a LogFile holds open, through a fresh descriptor of it (named
 * /proc/self/fd/N, which only this call closes), never through its path; null when no file is open.
 */
async function readHeld<T>(file: LogFile, read: (path: string) => Promise<T>): Promise<T | null> {
  let fd: number | null;
  try {
    fd = file.openReader();
  } catch (err) {
    throw new LogReadError('E_FAILED', `cannot read ${file.path}: ${(err as Error).message}`, { cause: err });
  }
  if (fd === null) return null;
  try {
    return await read(`/proc/self/fd/${fd}`);
  } catch (err) {
    // a message names the log, not the descriptor it was read through
    if (err instanceof LogReadError) err.message = err.message.replaceAll(`/proc/self/fd/${fd}`, file.path);
    throw err;
  } finally {
    closeSync(fd);
  }
}

/** The E_NO_FILE of a stream kept in no file, saying which setting made it so. */
function noLogFile(spec: ProcessSpec, name: string, stream: StreamName): LogReadError {
  const configured = stream === 'stdout' ? spec.stdoutLogfile : spec.stderrLogfile;
  const why = stream === 'stderr' && spec.redirectStderr ? 'redirect_stderr = true' : `${stream}_logfile = ${configured}`;
  return new LogReadError('E_NO_FILE', `${name} has no ${stream} log file (${why})`);
}
