// Children's stdout and stderr as real pipes: the master makes a pipe per stream (pipe2 through the native
// layer), hands the write end to the child as its fd 1 or 2, and reads the read end here. Node's default
// (stdio 'pipe') is a unix socketpair: a program cannot open("/dev/stdout") on it (ENXIO), and each of its
// small writes is a socket buffer of its own, so the master wakes every few lines.
//
// The read ends are read through one epoll set (src/os/poller.ts), not a net.Socket each: a socket's
// handle and stream state were most of what a program cost the daemon in memory. Every pipe is read into
// one buffer shared by all; listeners see each read as a view of that buffer and copy only what they keep
// (the log sink copies into its files' write queues, so reading allocates nothing per read and leaves V8
// nothing to collect at full speed). The poller puts its next wait off by READ_DELAY_MS after reads that
// found pipes less than half full, so lines written one by one pile up and arrive in one read
// (docs/decisions.md has the figures). A pipe found half full or more is read again at once, and grown
// once (F_SETPIPE_SZ) so that a fast writer does not block while the master waits.
import { closeSync, fchownSync } from 'node:fs';
import { closeFd, pipe, pipeCapacity, readSome, setPipeCapacity } from './native.js';
import { NativeError } from './libc.js';
import { sharedPoller, type PollMember } from './poller.js';
import { timerDelay } from './timers.js';

/** The capacity a pipe grows to once a read finds it half full (the kernel's default is 64 KiB). */
const FAST_PIPE_BYTES = 256 * 1024;
/** Largest single read: a grown pipe in one go. */
const READ_BUFFER_BYTES = FAST_PIPE_BYTES;

const NO_LISTENERS: readonly unknown[] = [];

/** The one buffer every pipe is read into; a read's listeners copy what they keep before the next read. */
let readBuffer: Buffer | null = null;

/** A pipe for one output stream of a child: the write end goes to the child, the read end to a PipeReader. */
export interface OutputPipe {
  readonly readFd: number;
  readonly writeFd: number;
}

/**
 * Makes a pipe for a child's stdout or stderr; both ends close-on-exec (the spawn's dup2 clears it in the
 * child). A pipe belongs to its creator with mode 0600, so for a program that runs as another `user` it is
 * given to that user: else its open("/dev/stdout") would be refused (EACCES), as under supervisord.
 */
export function outputPipe(owner: { readonly uid: number; readonly gid: number } | null): OutputPipe {
  const [readFd, writeFd] = pipe();
  try {
    if (owner !== null) fchownSync(writeFd, owner.uid, owner.gid);
  } catch (err) {
    closeSync(readFd);
    closeSync(writeFd);
    throw err;
  }
  return { readFd, writeFd };
}

/** Closes both ends of pipes that will not be used (a spawn that failed). */
export function closeOutputPipes(pipes: readonly (OutputPipe | null)[]): void {
  for (const p of pipes) {
    if (p === null) continue;
    closeSync(p.readFd);
    closeSync(p.writeFd);
  }
}

/**
 * A child's output as the master reads it: a PipeReader, or Node's own stream where there is no native
 * layer. A 'data' chunk is valid only during the call (a PipeReader's is a view of the shared read buffer,
 * overwritten by the next read of any pipe): a listener that keeps bytes copies them.
 */
export interface OutputStream {
  /**
   * Hands every event to one object's methods instead of listener functions (a PipeReader's, before its
   * listeners): `data` for each read, `end` at the end and again at the close (it must be idempotent),
   * `error` for a failed read. Absent on Node's streams, which take listeners only.
   */
  consume?(consumer: OutputConsumer): void;
  on(event: 'data', listener: (chunk: Buffer) => void): this;
  on(event: 'end' | 'close', listener: () => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  /** stops reading (the program's writes block once the pipe is full) until resume() */
  pause(): this;
  resume(): this;
  destroy(): this;
}

/** What reads a stream through its methods (OutputStream.consume): the log sink, one per stream. */
export interface OutputConsumer {
  data(chunk: Buffer): void;
  end(): void;
  error(err: Error): void;
}

type ReaderEvent = 'data' | 'end' | 'close' | 'error';

/**
 * The read end of an output pipe. It ends ('end', then 'close') when every write end is closed: the program
 * and whatever inherited its stdout (a grandchild keeps it open, as it kept the socketpair). Owns `fd`:
 * destroying the reader closes it.
 *
 * Not an EventEmitter: its listeners are fixed at the spawn (the log sink's, the launcher's), so they are
 * kept as one flat array of event and listener pairs. An emitter's event table is a dictionary-mode object
 * of ~270 bytes; with two pipes per program that was ~0.5 MiB of a 1000-program daemon (bench/RESULTS.md,
 * fourteenth session).
 */
export class PipeReader implements OutputStream, PollMember {
  /** the read end, owned: closed when the reader ends or is destroyed */
  private readonly fd: number;
  /** the pipe's capacity, bytes; 0 when it cannot be asked (then it is never grown) */
  private capacity: number;
  /** the poller's token while the pipe is in its set (read), null while paused or after the end */
  private token: number | null = null;
  private paused = false;
  /** ended, failed or destroyed: the fd is closed and 'close' is on its way */
  private done = false;
  /** the one object that reads this pipe through its methods (the log sink's), called before the listeners */
  private consumer: OutputConsumer | null = null;
  /**
   * event, listener, event, listener… in the order they were added; replaced by a copy one pair longer at
   * each on() (a few, at the spawn), so it holds no spare room: push() would grow it to 17 slots, and an
   * array spread to 26 (concat() allocates the exact length)
   */
  private listeners: readonly unknown[] = NO_LISTENERS;

  constructor(fd: number) {
    this.fd = fd;
    this.capacity = capacityOf(fd);
    readBuffer ??= Buffer.allocUnsafe(READ_BUFFER_BYTES);
    this.token = sharedPoller().add(fd, this);
  }

  on(event: 'data', listener: (chunk: Buffer) => void): this;
  on(event: 'end' | 'close', listener: () => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  on(event: ReaderEvent, listener: (arg: never) => void): this {
    this.listeners = this.listeners.concat(event, listener);
    return this;
  }

  consume(consumer: OutputConsumer): void {
    if (this.consumer !== null) throw new Error('a pipe reader takes one consumer');
    this.consumer = consumer;
  }

  pause(): this {
    if (this.paused || this.done) return this;
    this.paused = true;
    // also from inside a 'data' listener: the poller drops what it reported for a pipe that left
    this.leaveSet();
    return this;
  }

  resume(): this {
    if (!this.paused || this.done) return this;
    this.paused = false;
    this.token = sharedPoller().add(this.fd, this);
    return this;
  }

  destroy(): this {
    this.finish(null);
    return this;
  }

  /** The poller found the pipe readable (or its writers gone): one read. */
  ready(): boolean {
    if (this.token === null || readBuffer === null) return false;
    let n: number;
    try {
      n = readSome(this.fd, readBuffer);
    } catch (err) {
      // EIO, ENOMEM…: the pipe cannot be read any more; a reader nobody listens to for errors just ends
      if (!(err instanceof NativeError)) throw err;
      this.finish(err);
      return false;
    }
    if (n < 0) return false; // nothing after all (EAGAIN, EINTR)
    if (n === 0) {
      // every write end is closed: the program and whatever inherited its output are gone
      this.leaveSet();
      this.emit('end', undefined);
      this.finish(null);
      return false;
    }
    this.emit('data', readBuffer.subarray(0, n));
    if (this.token === null) return false; // paused or destroyed by a listener
    if (this.capacity > 0 && n * 2 >= this.capacity) {
      this.grow();
      return true;
    }
    return false;
  }

  private leaveSet(): void {
    if (this.token === null) return;
    sharedPoller().remove(this.fd, this.token);
    this.token = null;
  }

  /** Leaves the set, closes the fd and emits 'error' (when there is one and a listener) then 'close'. */
  private finish(err: Error | null): void {
    if (this.done) return;
    this.done = true;
    this.leaveSet();
    closeFd(this.fd);
    if (err !== null) this.emit('error', err);
    // after the caller's own work, as a stream emits it
    process.nextTick(() => this.emit('close', undefined));
  }

  /** Calls the listeners of `event` in the order they were added (an 'error' nobody listens to is dropped). */
  private emit(event: ReaderEvent, arg: Buffer | Error | undefined): void {
    const c = this.consumer;
    if (c !== null) {
      if (event === 'data') c.data(arg as Buffer);
      else if (event === 'error') c.error(arg as Error);
      else c.end();
    }
    const l = this.listeners;
    for (let i = 0; i < l.length; i += 2) {
      if (l[i] === event) (l[i + 1] as (arg: Buffer | Error | undefined) => void)(arg);
    }
  }

  /** A writer that fills half the pipe between two reads: give it room, once. */
  private grow(): void {
    if (this.capacity >= FAST_PIPE_BYTES) return;
    this.capacity = FAST_PIPE_BYTES; // tried once, whatever the answer
    try {
      this.capacity = setPipeCapacity(this.fd, FAST_PIPE_BYTES);
    } catch (err) {
      // EPERM: an unprivileged user over pipe-user-pages-soft, or pipe-max-size lowered; EBUSY: it holds
      // more than that already. The pipe keeps its size, which only means more reads.
      if (!(err instanceof NativeError && (err.code === 'EPERM' || err.code === 'EBUSY'))) throw err;
    }
  }
}

/** The capacity of a pipe, or 0 when the native layer cannot tell. */
function capacityOf(fd: number): number {
  try {
    return pipeCapacity(fd);
  } catch (err) {
    // not a pipe (EBADF cannot happen: the fd was just made); growing is only an optimisation
    if (err instanceof NativeError) return 0;
    throw err;
  }
}

/**
 * Watches streams for their end from now on; `wait` then calls `then` once every one has ended, or after
 * `graceMs` (a grandchild may hold a pipe open for ever).
 */
export function endOf(streams: readonly OutputStream[]): { wait(graceMs: number, then: () => void): void } {
  let open = streams.length;
  const waiting: (() => void)[] = [];
  for (const stream of streams) {
    let ended = false;
    const end = (): void => {
      if (ended) return;
      ended = true;
      open -= 1;
      if (open === 0) for (const w of waiting.splice(0)) w();
    };
    stream.on('end', end);
    stream.on('close', end);
  }
  return {
    wait(graceMs, then) {
      if (open === 0) {
        then();
        return;
      }
      let done = false;
      const finish = (): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        then();
      };
      const timer = setTimeout(finish, timerDelay(graceMs));
      waiting.push(finish);
    },
  };
}
