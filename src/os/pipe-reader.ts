// Children's stdout and stderr as real pipes: the master makes a pipe per stream (pipe2 through the native
// layer), hands the write end to the child as its fd 1 or 2, and reads the read end here. Node's default
// (stdio 'pipe') is a unix socketpair: a program cannot open("/dev/stdout") on it (ENXIO), and each of its
// small writes is a socket buffer of its own, so the master wakes every few lines.
//
// The read end is read through libuv (a net.Socket over the fd, which makes it non-blocking and waits in
// epoll; EAGAIN never reaches JavaScript) into one buffer shared by every pipe; listeners see each read as a
// view of that buffer and copy only what they keep (the log sink copies into its files' write queues, so
// reading allocates nothing per read and leaves V8 nothing to collect at full speed). A program
// writing line by line would still wake the master for every few lines, so after a read that found the
// pipe less than half full the next read waits READ_DELAY_MS: the lines pile up in the pipe meanwhile and
// arrive in one read (docs/decisions.md has the figures). A pipe found half full or more is read again at
// once, and grown once (F_SETPIPE_SZ) so that a fast writer does not block while the master waits.
import { closeSync, fchownSync } from 'node:fs';
import { EventEmitter } from 'node:events';
import { Socket, type OnReadOpts, type SocketConstructorOpts } from 'node:net';
import { pipe, pipeCapacity, setPipeCapacity } from './native.js';
import { NativeError } from './libc.js';

/** How long a read waits after one that found the pipe less than half full. */
const READ_DELAY_MS = 1;
/** The capacity a pipe grows to once a read finds it half full (the kernel's default is 64 KiB). */
const FAST_PIPE_BYTES = 256 * 1024;
/** Largest single read: a grown pipe in one go. */
const READ_BUFFER_BYTES = FAST_PIPE_BYTES;

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
  on(event: 'data', listener: (chunk: Buffer) => void): this;
  on(event: 'end' | 'close', listener: () => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  /** stops reading (the program's writes block once the pipe is full) until resume() */
  pause(): this;
  resume(): this;
  destroy(): this;
}

/**
 * The read end of an output pipe. It ends ('end', then 'close') when every write end is closed: the program
 * and whatever inherited its stdout (a grandchild keeps it open, as it kept the socketpair). Owns `fd`:
 * destroying the reader closes it.
 */
export class PipeReader extends EventEmitter implements OutputStream {
  private readonly socket: Socket;
  /** the read end (owned by the socket, which closes it) */
  private readonly fd: number;
  /** the pipe's capacity, bytes; 0 when it cannot be asked (then it is never grown) */
  private capacity: number;
  /** the delayed next read; null when none is pending */
  private delay: NodeJS.Timeout | null = null;
  /** true while the consumer has paused reading */
  private paused = false;
  private destroyed = false;

  constructor(fd: number) {
    super();
    this.fd = fd;
    this.capacity = capacityOf(fd);
    readBuffer ??= Buffer.allocUnsafe(READ_BUFFER_BYTES);
    // `onread` (the constructor takes it; @types/node lists it only for connect): reads go straight
    // into the shared buffer, and a callback answering false stops reading until resume()
    const opts: SocketConstructorOpts & { onread: OnReadOpts } = {
      fd,
      readable: true,
      writable: false,
      onread: { buffer: readBuffer, callback: (n, buf) => this.received(n, buf) },
    };
    this.socket = new Socket(opts);
    this.socket.on('end', () => this.emit('end'));
    this.socket.on('close', () => {
      this.clearDelay();
      this.emit('close');
    });
    this.socket.on('error', (err) => {
      // ENOMEM, EIO…: the socket closes after this; a reader nobody listens to for errors just ends
      if (this.listenerCount('error') > 0) this.emit('error', err);
    });
  }

  pause(): this {
    if (this.paused || this.destroyed) return this;
    this.paused = true;
    // also from inside a 'data' listener: libuv checks before each further read
    this.socket.pause();
    return this;
  }

  resume(): this {
    if (!this.paused || this.destroyed) return this;
    this.paused = false;
    if (this.delay === null) this.socket.resume();
    return this;
  }

  destroy(): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    this.clearDelay();
    this.socket.destroy();
    return this;
  }

  /** One read of `n` bytes into the shared buffer; false stops the socket reading. */
  private received(n: number, buf: Uint8Array): boolean {
    if (this.destroyed || this.paused) return false;
    this.emit('data', Buffer.from(buf.buffer, buf.byteOffset, n));
    if (this.destroyed || this.paused) return false; // by a listener
    if (this.capacity > 0 && n * 2 >= this.capacity) {
      this.grow();
      return true;
    }
    this.delay = setTimeout(() => {
      this.delay = null;
      if (!this.paused && !this.destroyed) this.socket.resume();
    }, READ_DELAY_MS);
    return false;
  }

  private clearDelay(): void {
    if (this.delay !== null) clearTimeout(this.delay);
    this.delay = null;
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
