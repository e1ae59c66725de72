// One epoll set for every output pipe the master reads (src/os/pipe-reader.ts). A pipe read through a
// net.Socket costs a libuv handle and a stream state of its own — about 6 KB a pipe, 12 MB for 1000
// programs, most of the daemon's growth with programs (bench/RESULTS.md, "Daemon memory"). Here a pipe is
// an fd in one epoll set and a small object in a map.
//
// The set is waited on by one epoll_wait at a time, run on a thread of libuv's pool (koffi's async call),
// so the main thread never blocks; when it returns, the main thread reads each ready pipe once (a
// non-blocking read) and waits again. After a wait that found only small reads the next wait starts
// READ_DELAY_MS later: lines written one by one pile up in their pipes meanwhile and come in one read
// (the batching the socket reader did per pipe, docs/decisions.md). The set is level-triggered, so a pipe
// left with data is simply reported again.
//
// A wait in progress holds a pool thread, and Node joins the pool's threads when the process exits: so
// the waiter is woken (a byte on a pipe of the set's own) when the last pipe leaves and on 'exit', and no
// wait is longer than MAX_WAIT_MS in any case.
import { EPOLL_CLOEXEC, EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_DATA_OFFSET as DATA_OFFSET, EPOLL_EVENT_BYTES as EVENT_BYTES, EPOLLIN, NativeError, load, type Libc } from './libc.js';
import { pipe, readSome, setNonBlocking } from './native.js';

/** How long the next wait is put off after one whose reads were all small. */
export const READ_DELAY_MS = 1;
/** The longest single wait: bounds the exit of a process whose waiter could not be woken. */
const MAX_WAIT_MS = 10_000;
/** Events taken from the kernel per wait (the rest are reported by the next one). */
const MAX_EVENTS = 256;
/** the token of the waker's pipe */
const WAKER = 0;

/** A pipe in the set. */
export interface PollMember {
  /** Its fd is readable or hung up: read it once. True asks for the next wait at once (a full pipe). */
  ready(): boolean;
}

/** The set every PipeReader of this process is in. */
export function sharedPoller(): Poller {
  shared ??= new Poller(load());
  return shared;
}

export class Poller {
  private readonly epfd: number;
  private readonly waker: { readonly readFd: number; readonly writeFd: number };
  private readonly events = Buffer.alloc(EVENT_BYTES * MAX_EVENTS);
  private readonly event = Buffer.alloc(EVENT_BYTES);
  private readonly members = new Map<number, PollMember>();
  private nextToken = WAKER + 1;
  private waiting = false;
  private delay: NodeJS.Timeout | null = null;
  private readonly drain = Buffer.alloc(64);

  constructor(private readonly c: Libc) {
    this.epfd = c.epollCreate1(EPOLL_CLOEXEC);
    if (this.epfd < 0) throw new NativeError('epoll_create1', c.koffi.errno());
    const [readFd, writeFd] = pipe();
    this.waker = { readFd, writeFd };
    setNonBlocking(this.waker.readFd);
    setNonBlocking(this.waker.writeFd);
    this.control(EPOLL_CTL_ADD, this.waker.readFd, WAKER);
    process.on('exit', () => this.wake());
  }

  /** Puts `fd` (made non-blocking) in the set; returns the token that takes it out. */
  add(fd: number, member: PollMember): number {
    setNonBlocking(fd);
    const token = this.nextToken;
    this.nextToken = this.nextToken >= 0xffffffff ? WAKER + 1 : this.nextToken + 1;
    this.control(EPOLL_CTL_ADD, fd, token);
    this.members.set(token, member);
    this.arm();
    return token;
  }

  /** Takes `fd` out of the set (before it is closed); events already taken for it are dropped. */
  remove(fd: number, token: number): void {
    if (!this.members.delete(token)) return;
    // EBADF/ENOENT: closed or never in; either way it is out
    this.c.epollCtl(this.epfd, EPOLL_CTL_DEL, fd, null);
    if (this.members.size === 0) this.wake();
  }

  /** How many pipes are in the set. */
  get size(): number {
    return this.members.size;
  }

  private control(op: number, fd: number, token: number): void {
    this.event.fill(0);
    this.event.writeUInt32LE(EPOLLIN, 0);
    this.event.writeUInt32LE(token, DATA_OFFSET);
    if (this.c.epollCtl(this.epfd, op, fd, this.event) !== 0) throw new NativeError('epoll_ctl', this.c.koffi.errno(), String(fd));
  }

  /** Starts a wait unless one is running or put off, or the set is empty (then the process may exit). */
  private arm(): void {
    if (this.waiting || this.delay !== null || this.members.size === 0) return;
    this.waiting = true;
    this.c.epollWait.async(this.epfd, this.events, MAX_EVENTS, MAX_WAIT_MS, (err, n) => this.woke(err, n));
  }

  private woke(err: unknown, n: number): void {
    this.waiting = false;
    let again = false;
    for (let i = 0; !err && i < n; i++) {
      const token = this.events.readUInt32LE(i * EVENT_BYTES + DATA_OFFSET);
      if (token === WAKER) {
        while (readSome(this.waker.readFd, this.drain) > 0);
        continue;
      }
      // a member that left since the kernel reported it (paused, ended) is not read
      const member = this.members.get(token);
      if (member && member.ready()) again = true;
    }
    if (this.members.size === 0) return;
    // EINTR or a failed call: wait again, after the delay so that a persistent failure cannot spin
    if (again && !err) this.arm();
    else {
      this.delay = setTimeout(() => {
        this.delay = null;
        this.arm();
      }, READ_DELAY_MS);
    }
  }

  /** Ends a wait in progress (a byte on the waker's pipe; a full pipe has one waiting already). */
  private wake(): void {
    if (this.waiting) this.c.write(this.waker.writeFd, Buffer.from([1]), 1);
  }
}

let shared: Poller | null = null;
