// The native layer: the few libc calls Node does not offer, made through koffi (a prebuilt FFI for Linux
// x64/arm64 on glibc and musl; no compiler at install — docs/dependencies.md). Each call is synchronous,
// cheap and non-blocking (WNOHANG, LOCK_NB, a listening socket's setup), so calling it on the event loop is
// fine. koffi is loaded on first use, so a CLI command that needs none of this never pays for it.
//
// Every function returns a result or throws a NativeError carrying the errno name (EAGAIN, EADDRINUSE, …),
// so callers match expected failures by code, as they do with Node's own errors.
import { createRequire } from 'node:module';
import { isIPv4, isIPv6 } from 'node:net';
import { constants as osConstants } from 'node:os';
import type * as KoffiModule from 'koffi';
import { DroverError } from '../errors.js';

/** A failed libc call: `code` is the errno name, `syscall` the call. */
export class NativeError extends DroverError {
  readonly syscall: string;
  readonly errno: number;
  constructor(syscall: string, errno: number, detail = '') {
    const name = errnoName(errno);
    super(name, `${syscall}${detail ? ` ${detail}` : ''}: ${name}`);
    this.syscall = syscall;
    this.errno = errno;
  }
}

// Linux constants (the same on x86_64 and aarch64; drover supports only those two)
const AF_UNIX = 1;
const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_STREAM = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const SOCK_NONBLOCK = 0o4000;
const SOL_SOCKET = 1;
const SO_REUSEADDR = 2;
const SO_REUSEPORT = 15;
const SO_PASSCRED = 16;
const SCM_CREDENTIALS = 2;
const MSG_TRUNC = 0x20;
const MSG_CTRUNC = 0x8;
const MSG_CMSG_CLOEXEC = 0x40000000;
const IPPROTO_IPV6 = 41;
const IPV6_V6ONLY = 26;
const F_GETFD = 1;
const F_SETFD = 2;
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
const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;
const SUN_PATH_MAX = 108;

interface Libc {
  koffi: typeof KoffiModule;
  socket: (domain: number, type: number, protocol: number) => number;
  setsockopt: (fd: number, level: number, name: number, value: Int32Array, len: number) => number;
  bind: (fd: number, addr: Buffer, len: number) => number;
  listen: (fd: number, backlog: number) => number;
  getsockname: (fd: number, addr: Buffer, len: Uint32Array) => number;
  close: (fd: number) => number;
  fcntl: (fd: number, cmd: number, ...rest: unknown[]) => number;
  flock: (fd: number, op: number) => number;
  prctl: (option: number, ...rest: unknown[]) => number;
  waitpid: (pid: number, status: Int32Array, options: number) => number;
  pipe2: (fds: Int32Array, flags: number) => number;
  sendto: (fd: number, buf: Buffer, len: number, flags: number, addr: Buffer, alen: number) => number;
  /** struct addrinfo, for getaddrinfo's hints and answers */
  addrinfo: KoffiModule.TypeObject;
  getaddrinfo: (node: string, service: null, hints: Record<string, unknown>, res: unknown[]) => number;
  freeaddrinfo: (res: unknown) => void;
  gaiStrerror: (code: number) => string;
  recvmsg: (fd: number, msg: Buffer, flags: number) => number;
}

let libc: Libc | null = null;
let loadFailure: Error | null = null;

/** Whether the native layer can be used here (koffi loads and finds libc). */
export function nativeAvailable(): boolean {
  try {
    load();
    return true;
  } catch {
    // the reason is kept in loadFailure for whoever needs the call and reports it
    return false;
  }
}

/** Why the native layer cannot load, or null when it can. */
export function nativeUnavailableReason(): string | null {
  return nativeAvailable() ? null : (loadFailure?.message ?? 'unknown');
}

// --- sockets ---

export type ListenAddress =
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number }
  | { readonly kind: 'unix'; readonly path: string };

export interface ListenOptions {
  readonly backlog: number;
  /** SO_REUSEPORT, so several sockets can be bound to the same address and port */
  readonly reusePort?: boolean;
  /**
   * false: bind only, without listen(2). A SO_REUSEPORT socket joins its group (and is given connections)
   * only once it listens, so a slot can be prepared before the worker that will serve it is ready: the
   * worker's own listen(2) on the inherited fd puts it in the LISTEN state. Default true.
   */
  readonly listen?: boolean;
}

/**
 * Creates a stream socket, binds it and puts it in the LISTEN state without accepting on it (which Node
 * cannot do: its servers always accept). Returns the fd (close-on-exec; handed to children through their
 * stdio slots, which clears the flag in the child only).
 */
export function listenSocket(address: ListenAddress, opts: ListenOptions): number {
  const c = load();
  const v6 = address.kind === 'tcp' && isIPv6(address.host);
  const domain = address.kind === 'unix' ? AF_UNIX : v6 ? AF_INET6 : AF_INET;
  const fd = c.socket(domain, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new NativeError('socket', c.koffi.errno());
  try {
    if (address.kind === 'tcp') {
      // as Node's own servers: a restarted master can bind while old connections are in TIME_WAIT
      setIntOption(c, fd, SOL_SOCKET, SO_REUSEADDR, 1, 'SO_REUSEADDR');
      // `[::]` means both families, as Node's `listen('::')` does (Debian's default bindv6only is 0 anyway)
      if (v6) setIntOption(c, fd, IPPROTO_IPV6, IPV6_V6ONLY, 0, 'IPV6_V6ONLY');
      if (opts.reusePort) setIntOption(c, fd, SOL_SOCKET, SO_REUSEPORT, 1, 'SO_REUSEPORT');
    }
    const addr = encodeSockaddr(address);
    if (c.bind(fd, addr, addr.length) !== 0) throw new NativeError('bind', c.koffi.errno(), describeAddress(address));
    if (opts.listen !== false && c.listen(fd, opts.backlog) !== 0) throw new NativeError('listen', c.koffi.errno(), describeAddress(address));
    return fd;
  } catch (err) {
    c.close(fd);
    throw err;
  }
}

/**
 * The first IPv4 address of `host` (getaddrinfo with AF_INET), as Python's socket.bind resolves a host
 * name; an IPv4 literal comes back as it is. Blocks while the resolver works: microseconds for
 * /etc/hosts names such as localhost, up to the resolver's timeout for a DNS name (supervisor blocks too).
 */
export function resolveIPv4(host: string): string {
  if (isIPv4(host)) return host;
  const c = load();
  const out: unknown[] = [null];
  const rc = c.getaddrinfo(host, null, { ai_flags: 0, ai_family: AF_INET, ai_socktype: SOCK_STREAM, ai_protocol: 0, ai_addrlen: 0, ai_addr: null, ai_canonname: null, ai_next: null }, out);
  if (rc !== 0) throw new DroverError('E_RESOLVE', `cannot resolve ${host}: ${c.gaiStrerror(rc)}`);
  try {
    const info = c.koffi.decode(out[0], c.addrinfo) as { ai_addr: unknown };
    // sockaddr_in: family (2 bytes), port (2), address (4)
    const bytes = c.koffi.decode(info.ai_addr, 'uint8_t', 8) as number[];
    return bytes.slice(4, 8).join('.');
  } finally {
    c.freeaddrinfo(out[0]);
  }
}

/** The local address of a bound TCP socket ("127.0.0.1", 8000), or null for other families. */
export function socketAddress(fd: number): { host: string; port: number } | null {
  const c = load();
  const buf = Buffer.alloc(128);
  const len = new Uint32Array([buf.length]);
  if (c.getsockname(fd, buf, len) !== 0) throw new NativeError('getsockname', c.koffi.errno());
  const family = buf.readUInt16LE(0);
  if (family === AF_INET) return { host: [...buf.subarray(4, 8)].join('.'), port: buf.readUInt16BE(2) };
  if (family === AF_INET6) {
    const words: string[] = [];
    for (let i = 8; i < 24; i += 2) words.push(buf.readUInt16BE(i).toString(16));
    return { host: compressIPv6(words), port: buf.readUInt16BE(2) };
  }
  return null;
}

/**
 * Sends one datagram to a unix datagram socket (systemd's NOTIFY_SOCKET; `@name` is the abstract namespace).
 * Never blocks: a full queue gives EAGAIN.
 */
export function sendDatagram(path: string, message: string | Buffer): void {
  const c = load();
  const fd = c.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) throw new NativeError('socket', c.koffi.errno());
  try {
    const addr = encodeSockaddr({ kind: 'unix', path });
    const data = typeof message === 'string' ? Buffer.from(message) : message;
    if (c.sendto(fd, data, data.length, MSG_DONTWAIT | MSG_NOSIGNAL, addr, addr.length) < 0) {
      throw new NativeError('sendto', c.koffi.errno(), path);
    }
  } finally {
    c.close(fd);
  }
}

/**
 * Binds a non-blocking unix datagram socket at `path` (`@name` is the abstract namespace) that learns each
 * sender's pid (SO_PASSCRED): the receiving end of a NOTIFY_SOCKET. Node cannot receive unix datagrams;
 * read it with receiveDatagram and close it with closeFd.
 */
export function bindDatagramSocket(path: string): number {
  const c = load();
  const fd = c.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) throw new NativeError('socket', c.koffi.errno());
  try {
    setIntOption(c, fd, SOL_SOCKET, SO_PASSCRED, 1, 'SO_PASSCRED');
    const addr = encodeSockaddr({ kind: 'unix', path });
    if (c.bind(fd, addr, addr.length) !== 0) throw new NativeError('bind', c.koffi.errno(), `unix:${path}`);
    return fd;
  } catch (err) {
    c.close(fd);
    throw err;
  }
}

/** One datagram with the pid of its sender (SCM_CREDENTIALS; null if the kernel sent none). */
export interface Datagram {
  readonly data: Buffer;
  readonly pid: number | null;
  /** longer than the buffer: `data` holds its beginning only */
  readonly truncated: boolean;
}

/**
 * Takes the next datagram queued on a socket from bindDatagramSocket, or null when none is queued (never
 * blocks). Descriptors a sender attached (systemd-notify's BARRIER=1 carries one) do not fit the control
 * buffer, so the kernel closes them: for the sender that reads as "received".
 */
export function receiveDatagram(fd: number, maxBytes = 4096): Datagram | null {
  const c = load();
  const data = Buffer.alloc(maxBytes);
  // CMSG_SPACE(sizeof(struct ucred)): room for the credentials and nothing else
  const control = Buffer.alloc(32);
  const iov = Buffer.alloc(16);
  iov.writeBigUInt64LE(c.koffi.address(data), 0);
  iov.writeBigUInt64LE(BigInt(maxBytes), 8);
  // struct msghdr on x86_64 and aarch64 (glibc and musl agree byte for byte on little-endian 64-bit)
  const msg = Buffer.alloc(56);
  msg.writeBigUInt64LE(c.koffi.address(iov), 16);
  msg.writeBigUInt64LE(1n, 24);
  msg.writeBigUInt64LE(c.koffi.address(control), 32);
  msg.writeBigUInt64LE(BigInt(control.length), 40);
  const n = c.recvmsg(fd, msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  if (n < 0) {
    const errno = c.koffi.errno();
    // EAGAIN: nothing queued
    if (errno === osConstants.errno.EAGAIN) return null;
    throw new NativeError('recvmsg', errno);
  }
  const flags = msg.readInt32LE(48);
  const controlLen = Number(msg.readBigUInt64LE(40));
  let pid: number | null = null;
  // the one cmsg that fits: { size_t len; int level; int type; struct ucred { pid, uid, gid } }
  if (controlLen >= 28 && control.readInt32LE(8) === SOL_SOCKET && control.readInt32LE(12) === SCM_CREDENTIALS) {
    pid = control.readInt32LE(16);
  }
  void MSG_CTRUNC; // set when attached descriptors were dropped, which is the intent
  return { data: data.subarray(0, Math.min(n, maxBytes)), pid: pid !== null && pid > 0 ? pid : null, truncated: (flags & MSG_TRUNC) !== 0 };
}

/** Closes a descriptor opened through this layer. */
export function closeFd(fd: number): void {
  const c = load();
  if (c.close(fd) !== 0) throw new NativeError('close', c.koffi.errno(), String(fd));
}

// --- file descriptors ---

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

// --- internal ---

function load(): Libc {
  if (libc) return libc;
  if (loadFailure) throw loadFailure;
  try {
    const koffi = createRequire(import.meta.url)('koffi') as typeof KoffiModule;
    // the running program's own symbols: libc on glibc and on musl alike, whatever its file name
    const lib = koffi.load(null);
    const f = (proto: string): ((...args: unknown[]) => number) => lib.func(proto) as (...args: unknown[]) => number;
    const addrinfo = koffi.struct('drover_addrinfo', {
      ai_flags: 'int',
      ai_family: 'int',
      ai_socktype: 'int',
      ai_protocol: 'int',
      ai_addrlen: 'uint32_t',
      ai_addr: 'void *',
      ai_canonname: 'void *',
      ai_next: 'void *',
    });
    libc = {
      koffi,
      socket: f('int socket(int domain, int type, int protocol)'),
      setsockopt: f('int setsockopt(int fd, int level, int name, const void *value, uint32_t len)'),
      bind: f('int bind(int fd, const void *addr, uint32_t len)'),
      listen: f('int listen(int fd, int backlog)'),
      getsockname: f('int getsockname(int fd, _Out_ uint8_t *addr, _Inout_ uint32_t *len)'),
      close: f('int close(int fd)'),
      fcntl: f('int fcntl(int fd, int cmd, ...)'),
      flock: f('int flock(int fd, int op)'),
      prctl: f('int prctl(int option, ...)'),
      waitpid: f('int waitpid(int pid, _Out_ int *status, int options)'),
      pipe2: f('int pipe2(_Out_ int *fds, int flags)'),
      sendto: f('intptr_t sendto(int fd, const void *buf, size_t len, int flags, const void *addr, uint32_t alen)'),
      addrinfo,
      getaddrinfo: f('int getaddrinfo(const char *node, const char *service, const drover_addrinfo *hints, _Out_ void **res)'),
      freeaddrinfo: lib.func('void freeaddrinfo(void *res)') as (res: unknown) => void,
      gaiStrerror: lib.func('const char *gai_strerror(int code)') as (code: number) => string,
      recvmsg: f('intptr_t recvmsg(int fd, _Inout_ uint8_t *msg, int flags)'),
    } as Libc;
    return libc;
  } catch (err) {
    loadFailure = new DroverError('E_NATIVE', `the native layer (koffi) cannot be loaded: ${(err as Error).message}`, { cause: err });
    throw loadFailure;
  }
}

function setIntOption(c: Libc, fd: number, level: number, name: number, value: number, what: string): void {
  if (c.setsockopt(fd, level, name, new Int32Array([value]), 4) !== 0) throw new NativeError('setsockopt', c.koffi.errno(), what);
}

/** A sockaddr for bind/sendto. Unix paths starting with "@" or "\0" are abstract names. */
function encodeSockaddr(address: ListenAddress): Buffer {
  if (address.kind === 'unix') {
    const abstract = address.path.startsWith('@') || address.path.startsWith('\0');
    const name = Buffer.from(abstract ? address.path.slice(1) : address.path);
    // a file path ends in a NUL; an abstract name starts with one and is exactly as long as given
    if (name.length + 1 > SUN_PATH_MAX) throw new NativeError('bind', errnoNumber('ENAMETOOLONG'), `unix:${address.path}`);
    const buf = Buffer.alloc(3 + name.length);
    buf.writeUInt16LE(AF_UNIX, 0);
    name.copy(buf, abstract ? 3 : 2);
    return buf;
  }
  if (isIPv6(address.host)) {
    const buf = Buffer.alloc(28);
    buf.writeUInt16LE(AF_INET6, 0);
    buf.writeUInt16BE(address.port, 2);
    parseIPv6(address.host).copy(buf, 8);
    return buf;
  }
  const parts = address.host.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new NativeError('bind', errnoNumber('EINVAL'), `${address.host}: not an IPv4 or IPv6 address`);
  }
  const buf = Buffer.alloc(16);
  buf.writeUInt16LE(AF_INET, 0);
  buf.writeUInt16BE(address.port, 2);
  for (let i = 0; i < 4; i++) buf[4 + i] = parts[i] as number;
  return buf;
}

function parseIPv6(host: string): Buffer {
  const out = Buffer.alloc(16);
  let text = host;
  // an embedded IPv4 tail (::ffff:1.2.3.4) becomes two words
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const p = (v4[1] as string).split('.').map(Number);
    text = `${text.slice(0, v4.index)}${(((p[0] as number) << 8) | (p[1] as number)).toString(16)}:${(((p[2] as number) << 8) | (p[3] as number)).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const hw = head ? head.split(':') : [];
  const tw = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const words = tail === undefined ? hw : [...hw, ...new Array<string>(8 - hw.length - tw.length).fill('0'), ...tw];
  words.forEach((w, i) => out.writeUInt16BE(parseInt(w, 16), i * 2));
  return out;
}

function compressIPv6(words: string[]): string {
  // the longest run of zero words becomes "::"
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < words.length; ) {
    if (words[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < words.length && words[j] === '0') j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) return words.join(':');
  return `${words.slice(0, best).join(':')}::${words.slice(best + bestLen).join(':')}`;
}

function describeAddress(a: ListenAddress): string {
  return a.kind === 'unix' ? `unix:${a.path}` : `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
}

/** errno number → name (ENOENT, ECHILD, …), from Node's own table of the platform's errno values. */
const ERRNO_NAMES = new Map<number, string>();
// the first name wins where two share a number (EAGAIN before EWOULDBLOCK)
for (const [name, n] of Object.entries(osConstants.errno)) if (!ERRNO_NAMES.has(n)) ERRNO_NAMES.set(n, name);

function errnoName(errno: number): string {
  return ERRNO_NAMES.get(errno) ?? `errno ${errno}`;
}

function errnoNumber(name: string): number {
  return (osConstants.errno as Record<string, number>)[name] ?? 22;
}
