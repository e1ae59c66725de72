// The native layer: the few libc calls Node does not offer, made through koffi (a prebuilt FFI for Linux
// x64/arm64 on glibc and musl; no compiler at install — docs/dependencies.md). Each call is synchronous,
// cheap and non-blocking (WNOHANG, LOCK_NB, a listening socket's setup), so calling it on the event loop is
// fine. koffi is loaded on first use, so a CLI command that needs none of this never pays for it.
//
// Every function returns a result or throws a NativeError carrying the errno name (EAGAIN, EADDRINUSE, …),
// so callers match expected failures by code, as they do with Node's own errors.
//
// This file: file descriptors, pipes, locks and processes; sockets are in native-net.ts.
import { constants as osConstants } from 'node:os';
import { load, NativeError } from './libc.js';

// Linux constants (the same on x86_64 and aarch64; drover supports only those two)
const F_GETFD = 1;
const F_SETFD = 2;
const F_GETFL = 3;
const F_SETFL = 4;
const O_NONBLOCK = 0o4000;
const POLLERR = 0x8;
const POLLHUP = 0x10;
const F_DUPFD_CLOEXEC = 1030;
const FD_CLOEXEC = 1;
const F_SETPIPE_SZ = 1031;
const F_GETPIPE_SZ = 1032;
const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;
const PR_SET_CHILD_SUBREAPER = 36;
const PR_GET_CHILD_SUBREAPER = 37;
const WNOHANG = 1;
const O_CLOEXEC = 0o2000000;
const SIGUSR1 = 10;
const SIG_IGN = 1n;
/** room for a struct sigaction (152 bytes on glibc and musl, x86_64 and aarch64) */
const SIGACTION_BYTES = 256;
const SIG_UNBLOCK = 1;
/** sizeof(sigset_t) on glibc and musl: 1024 bits */
const SIGSET_BYTES = 128;

// --- file descriptors ---

/** Closes a descriptor opened through this layer. */
export function closeFd(fd: number): void {
  const c = load();
  if (c.close(fd) !== 0) throw new NativeError('close', c.koffi.errno(), String(fd));
}


/** Sets or clears FD_CLOEXEC on `fd`; returns whether the flag changed. */
export function setCloexec(fd: number, on: boolean): boolean {
  const c = load();
  const flags = c.fcntl(fd, F_GETFD);
  if (flags < 0) throw new NativeError('fcntl', c.koffi.errno(), `F_GETFD ${fd}`);
  const next = on ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC;
  if (next === flags) return false;
  if (c.fcntl(fd, F_SETFD, 'int', next) < 0) throw new NativeError('fcntl', c.koffi.errno(), `F_SETFD ${fd}`);
  return true;
}

/** Sets O_NONBLOCK on the open file description of `fd`. */
export function setNonBlocking(fd: number): void {
  const c = load();
  const flags = c.fcntl(fd, F_GETFL);
  if (flags < 0) throw new NativeError('fcntl', c.koffi.errno(), `F_GETFL ${fd}`);
  if ((flags & O_NONBLOCK) !== 0) return;
  if (c.fcntl(fd, F_SETFL, 'int', flags | O_NONBLOCK) < 0) throw new NativeError('fcntl', c.koffi.errno(), `F_SETFL ${fd}`);
}

/**
 * One read of a non-blocking `fd` into the start of `buf`: the bytes read, 0 at end of file, -1 when
 * there is nothing to read now (EAGAIN, EINTR). Throws NativeError for a failure.
 */
export function readSome(fd: number, buf: Buffer): number {
  const c = load();
  const n = c.read(fd, buf, buf.length);
  if (n >= 0) return n;
  const errno = c.koffi.errno();
  if (errno === osConstants.errno.EAGAIN || errno === osConstants.errno.EINTR) return -1;
  throw new NativeError('read', errno, String(fd));
}

/**
 * Whether the far end of the pipe or socket `fd` writes to has gone: poll(2), without waiting, reports
 * POLLERR (a pipe without readers) or POLLHUP (a socket closed both ways). A socket only half-closed by its
 * peer is not gone. EINTR counts as not gone: the next ask tells.
 */
export function isPeerGone(fd: number): boolean {
  const c = load();
  // struct pollfd with `events` 0: POLLERR and POLLHUP are reported whatever is asked for
  const pfd = Buffer.alloc(8);
  pfd.writeInt32LE(fd, 0);
  const n = c.poll(pfd, 1, 0);
  if (n < 0) {
    const errno = c.koffi.errno();
    if (errno === osConstants.errno.EINTR) return false;
    throw new NativeError('poll', errno, String(fd));
  }
  return n > 0 && (pfd.readInt16LE(6) & (POLLERR | POLLHUP)) !== 0;
}

/**
 * Replaces this process's program with `file` (argv[0] included in `argv`), keeping its pid, its working
 * directory, fds 0-2, `keepFds` and any other fd without close-on-exec. SIGUSR1 crosses the exec ignored
 * (a handled signal would fall back to its default, death) until the next Node sets its own signal
 * dispositions, a few milliseconds in. Returns only by throwing NativeError.
 */
export function execve(file: string, argv: readonly string[], env: Readonly<Record<string, string | undefined>>, keepFds: readonly number[] = []): never {
  const c = load();
  // Node marks the fds it inherited close-on-exec (stdio non-blocking too): give the next program fds 0-2
  // and `keepFds` as they came
  for (const fd of keepFds) if (c.fcntl(fd, F_GETFD) >= 0) setCloexec(fd, false);
  for (const fd of [0, 1, 2]) {
    if (c.fcntl(fd, F_GETFD) < 0) continue; // not open
    setCloexec(fd, false);
    const flags = c.fcntl(fd, F_GETFL);
    if (flags >= 0 && (flags & O_NONBLOCK) !== 0) c.fcntl(fd, F_SETFL, 'int', flags & ~O_NONBLOCK);
  }
  const envp = Object.entries(env).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`]));
  // the same action (mask, flags) with SIG_IGN as its handler, and the old one kept whole to put back
  const old = Buffer.alloc(SIGACTION_BYTES);
  const ignore = Buffer.alloc(SIGACTION_BYTES);
  const saved = c.sigaction(SIGUSR1, null, old) === 0;
  if (saved) {
    old.copy(ignore);
    ignore.writeBigUInt64LE(SIG_IGN, 0);
    c.sigaction(SIGUSR1, ignore, null);
  }
  c.execve(file, [...argv, null], [...envp, null]);
  const errno = c.koffi.errno();
  if (saved) c.sigaction(SIGUSR1, old, null); // still this program: libuv's handler, with its flags, gets SIGUSR1 again
  throw new NativeError('execve', errno, file);
}

// --- memory ---

/** glibc's malloc_trim, bound on first use; null where the C library has none (musl) */
let mallocTrim: ((pad: number) => number) | null | undefined;

/**
 * Gives the memory the C heap holds free back to the kernel (glibc's malloc_trim(0)): after a burst, such as
 * a start of a thousand programs, malloc keeps what was freed for reuse, and an idle daemon would keep it for
 * ever. Returns false where there is no such call (musl returns free memory by itself). Cheap: it walks
 * malloc's free lists, well under a millisecond for a daemon's few megabytes.
 */
export function trimCHeap(): boolean {
  if (mallocTrim === undefined) {
    try {
      mallocTrim = load().koffi.load(null).func('int malloc_trim(size_t pad)') as (pad: number) => number;
    } catch {
      mallocTrim = null; // not glibc
    }
  }
  if (mallocTrim === null) return false;
  mallocTrim(0);
  return true;
}

/**
 * Unblocks SIGUSR1 on the calling (main) thread, where Node's `--disable-sigusr1` blocked it from start-up
 * on: Node's listener then gets it, a pending one at once. Other threads keep it blocked, so the kernel
 * delivers it to this one.
 */
export function unblockUsr1(): void {
  const c = load();
  const set = Buffer.alloc(SIGSET_BYTES);
  set[(SIGUSR1 - 1) >> 3] = 1 << ((SIGUSR1 - 1) & 7); // signal n is bit n − 1
  const rc = c.pthreadSigmask(SIG_UNBLOCK, set, null);
  if (rc !== 0) throw new NativeError('pthread_sigmask', rc, 'SIG_UNBLOCK SIGUSR1');
}

/** The actions signals had before defaultSignalActions, each a whole struct sigaction (handler, mask, flags). */
export type SavedSignalActions = ReadonlyMap<number, Buffer>;

/**
 * Gives each of `signals` its default action (SIG_DFL) in the whole process, whichever thread the kernel
 * hands one to, and returns the actions they had. Blocking them would not do: the main thread's mask is its
 * own, and Node's other threads (libuv's pool) take a signal it blocks and run libuv's handler there.
 */
export function defaultSignalActions(signals: readonly number[]): SavedSignalActions {
  const c = load();
  const saved = new Map<number, Buffer>();
  const dfl = Buffer.alloc(SIGACTION_BYTES); // SIG_DFL is 0: handler, mask and flags all zero
  for (const sig of signals) {
    const old = Buffer.alloc(SIGACTION_BYTES);
    if (c.sigaction(sig, dfl, old) !== 0) {
      const errno = c.koffi.errno();
      restoreSignalActions(saved);
      throw new NativeError('sigaction', errno, `SIG_DFL ${sig}`);
    }
    saved.set(sig, old);
  }
  return saved;
}

/** Puts back the actions defaultSignalActions replaced (libuv's handler, with its flags). */
export function restoreSignalActions(saved: SavedSignalActions): void {
  const c = load();
  for (const [sig, act] of saved) c.sigaction(sig, act, null);
}

/** A new fd (close-on-exec, numbered 3 or above) for the same open file description as `fd`. */
export function duplicateFd(fd: number): number {
  const c = load();
  const dup = c.fcntl(fd, F_DUPFD_CLOEXEC, 'int', 3);
  if (dup < 0) throw new NativeError('fcntl', c.koffi.errno(), `F_DUPFD_CLOEXEC ${fd}`);
  return dup;
}

/** A pipe with both ends close-on-exec: [read end, write end]. */
export function pipe(): [number, number] {
  const c = load();
  const fds = new Int32Array(2);
  if (c.pipe2(fds, O_CLOEXEC) !== 0) throw new NativeError('pipe2', c.koffi.errno());
  return [fds[0] as number, fds[1] as number];
}

/** The capacity of the pipe `fd` is an end of, in bytes (64 KiB unless changed). */
export function pipeCapacity(fd: number): number {
  const c = load();
  const size = c.fcntl(fd, F_GETPIPE_SZ);
  if (size < 0) throw new NativeError('fcntl', c.koffi.errno(), `F_GETPIPE_SZ ${fd}`);
  return size;
}

/**
 * Asks for a pipe of `bytes` capacity (the kernel rounds up to a power of two pages) and returns the
 * capacity it got. Fails with EPERM above /proc/sys/fs/pipe-max-size, or for an unprivileged user over
 * pipe-user-pages-soft; EBUSY when the pipe holds more than the new size.
 */
export function setPipeCapacity(fd: number, bytes: number): number {
  const c = load();
  const size = c.fcntl(fd, F_SETPIPE_SZ, 'int', bytes);
  if (size < 0) throw new NativeError('fcntl', c.koffi.errno(), `F_SETPIPE_SZ ${fd}`);
  return size;
}

/**
 * Takes an exclusive advisory lock on an open file without waiting: true when taken, false when another
 * open file description holds it. The kernel drops the lock when the last fd of that description closes,
 * so a SIGKILLed holder never leaves it behind.
 */
export function tryLockExclusive(fd: number): boolean {
  const c = load();
  if (c.flock(fd, LOCK_EX | LOCK_NB) === 0) return true;
  const errno = c.koffi.errno();
  // EWOULDBLOCK (= EAGAIN): someone else holds it
  if (errno === osConstants.errno.EAGAIN) return false;
  throw new NativeError('flock', errno);
}

/** Releases a lock taken with tryLockExclusive (closing the fd does the same). */
export function unlock(fd: number): void {
  const c = load();
  if (c.flock(fd, LOCK_UN) !== 0) throw new NativeError('flock', c.koffi.errno());
}

// --- processes ---

/** Makes this process a child subreaper: orphans of its descendants are re-parented to it, not to init. */
export function becomeSubreaper(): void {
  const c = load();
  if (c.prctl(PR_SET_CHILD_SUBREAPER, 'unsigned long', 1, 'unsigned long', 0, 'unsigned long', 0, 'unsigned long', 0) !== 0) {
    throw new NativeError('prctl', c.koffi.errno(), 'PR_SET_CHILD_SUBREAPER');
  }
}

/** Whether this process is a child subreaper. */
export function isSubreaper(): boolean {
  const c = load();
  const out = new Int32Array(1);
  if (c.prctl(PR_GET_CHILD_SUBREAPER, 'int *', out, 'unsigned long', 0, 'unsigned long', 0, 'unsigned long', 0) !== 0) {
    throw new NativeError('prctl', c.koffi.errno(), 'PR_GET_CHILD_SUBREAPER');
  }
  return out[0] !== 0;
}

export type WaitResult =
  | { readonly state: 'running' }
  | { readonly state: 'exited'; readonly code: number }
  | { readonly state: 'signaled'; readonly signal: number };

/**
 * waitpid(pid, WNOHANG) for one specific pid. Only for children Node did not spawn (adopted orphans):
 * reaping a child libuv is waiting for would steal its exit event. Throws NativeError ECHILD when `pid` is
 * not (or no longer) a child of this process.
 */
export function reapChild(pid: number): WaitResult {
  if (!Number.isInteger(pid) || pid <= 0) throw new RangeError(`reapChild: pid must be a positive integer, got ${pid}`);
  const c = load();
  const status = new Int32Array(1);
  const r = c.waitpid(pid, status, WNOHANG);
  if (r < 0) throw new NativeError('waitpid', c.koffi.errno(), String(pid));
  if (r === 0) return { state: 'running' };
  const s = status[0] as number;
  // the kernel's wait status: low 7 bits the terminating signal (0 = exited), bits 8–15 the exit code
  const sig = s & 0x7f;
  if (sig === 0) return { state: 'exited', code: (s >> 8) & 0xff };
  return { state: 'signaled', signal: sig };
}

/** RLIMIT_NPROC and RLIMIT_NOFILE on Linux (asm-generic). */
export const RLIMIT = { NPROC: 6, NOFILE: 7 } as const;
/** RLIM_INFINITY: no limit */
const RLIM_INFINITY = 0xffffffffffffffffn;

/** A resource limit, soft and hard; Infinity for none. */
export interface Rlimit {
  readonly soft: number;
  readonly hard: number;
}

/** getrlimit(2) of this process. */
export function getRlimit(resource: number): Rlimit {
  const c = load();
  const buf = Buffer.alloc(16);
  if (c.getrlimit(resource, buf) !== 0) throw new NativeError('getrlimit', c.koffi.errno(), String(resource));
  const val = (v: bigint): number => (v === RLIM_INFINITY ? Infinity : Number(v));
  return { soft: val(buf.readBigUInt64LE(0)), hard: val(buf.readBigUInt64LE(8)) };
}

/** setrlimit(2) of this process (inherited by what it spawns from now on); throws NativeError (EPERM, EINVAL). */
export function setRlimit(resource: number, limit: Rlimit): void {
  const c = load();
  const buf = Buffer.alloc(16);
  const raw = (n: number): bigint => (n === Infinity ? RLIM_INFINITY : BigInt(n));
  buf.writeBigUInt64LE(raw(limit.soft), 0);
  buf.writeBigUInt64LE(raw(limit.hard), 8);
  if (c.setrlimit(resource, buf) !== 0) throw new NativeError('setrlimit', c.koffi.errno(), String(resource));
}
