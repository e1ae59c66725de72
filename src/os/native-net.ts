// The native layer's sockets (see native.ts): a stream socket that listens but is never accepted on, name
// resolution as bind(2) needs it, and unix datagram sockets (systemd's notify protocol, a program's own
// NOTIFY_SOCKET). Each call is synchronous and non-blocking and throws NativeError with the errno name.
import { isIPv4, isIPv6 } from 'node:net';
import { realpathSync } from 'node:fs';
import { basename, dirname, join, resolve as resolvePath } from 'node:path';
import { constants as osConstants } from 'node:os';
import { DroverError } from '../errors.js';
import { errnoNumber, load, NativeError, type Libc } from './libc.js';
import { UNIX_PATH_MAX } from './unix-path.js';

// Linux constants (the same on x86_64 and aarch64; drover supports only those two)
const AF_UNIX = 1;
const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_STREAM = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const SOCK_NONBLOCK = 0o4000;
const SOL_SOCKET = 1;
const SO_TYPE = 3;
const SO_REUSEADDR = 2;
const SO_REUSEPORT = 15;
const SO_PASSCRED = 16;
const SCM_CREDENTIALS = 2;
const MSG_TRUNC = 0x20;
const MSG_CTRUNC = 0x8;
const MSG_CMSG_CLOEXEC = 0x40000000;
const IPPROTO_IPV6 = 41;
const IPV6_V6ONLY = 26;
const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;
/** sun_path's size, the NUL included */
const SUN_PATH_MAX = UNIX_PATH_MAX + 1;

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
  const a = boundAddress(fd);
  return a?.kind === 'tcp' ? { host: a.host, port: a.port } : null;
}

/**
 * The local address of a bound stream socket (getsockname): host and port, or a unix socket's path as it was
 * bound ("@name" for an abstract one); null for an unbound unix socket or another family.
 */
export function boundAddress(fd: number): ListenAddress | null {
  const got = localSockaddr(fd);
  const family = got.readUInt16LE(0);
  if (family === AF_INET) return { kind: 'tcp', host: [...got.subarray(4, 8)].join('.'), port: got.readUInt16BE(2) };
  if (family === AF_INET6) {
    const words: string[] = [];
    for (let i = 8; i < 24; i += 2) words.push(got.readUInt16BE(i).toString(16));
    return { kind: 'tcp', host: compressIPv6(words), port: got.readUInt16BE(2) };
  }
  if (family !== AF_UNIX || got.length <= 2) return null;
  // an abstract name starts with a NUL and is exactly as long as bound; a path ends at its NUL
  if (got[2] === 0) return { kind: 'unix', path: `@${got.subarray(3).toString()}` };
  const end = got.indexOf(0, 2);
  return { kind: 'unix', path: got.subarray(2, end < 0 ? got.length : end).toString() };
}

/**
 * Whether the socket `fd` is bound to `address`: the same family, IP address (as bytes: "::1" and
 * "0:0::1" are one address) and port, or the same unix path (a relative one is taken from the working
 * directory). A TCP host must be an IP address (resolve a name first). Throws NativeError when `fd` is no
 * socket (ENOTSOCK, EBADF).
 */
export function isBoundTo(fd: number, address: ListenAddress): boolean {
  // a [socket:x] is a stream socket: systemd may pass a datagram one on the same address (ListenDatagram=)
  if (!isStreamSocket(fd)) return false;
  if (address.kind === 'unix') {
    const bound = boundAddress(fd);
    if (bound?.kind !== 'unix') return false;
    return canonicalUnixPath(bound.path) === canonicalUnixPath(address.path);
  }
  const got = localSockaddr(fd);
  const want = encodeSockaddr(address);
  if (got.readUInt16LE(0) !== want.readUInt16LE(0) || got.readUInt16BE(2) !== want.readUInt16BE(2)) return false;
  // sockaddr_in: the address at 4..8; sockaddr_in6: flow info at 4..8 (not part of the address), address at 8..24
  return want.readUInt16LE(0) === AF_INET ? got.subarray(4, 8).equals(want.subarray(4, 8)) : got.subarray(8, 24).equals(want.subarray(8, 24));
}

/**
 * Whether a server listens on the unix stream socket at `path`: a non-blocking connect(2) is accepted into
 * its backlog, or finds the backlog full (EAGAIN). false when it is refused (ECONNREFUSED: a socket file
 * whose server is gone) or the file is gone (ENOENT). Never blocks. Throws NativeError for anything else
 * (EACCES: this user may not connect, so cannot tell).
 */
export function unixSocketAnswers(path: string): boolean {
  const c = load();
  const fd = c.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) throw new NativeError('socket', c.koffi.errno());
  try {
    const addr = encodeSockaddr({ kind: 'unix', path });
    if (c.connect(fd, addr, addr.length) === 0) return true;
    const errno = c.koffi.errno();
    if (errno === osConstants.errno.EAGAIN) return true;
    if (errno === osConstants.errno.ECONNREFUSED || errno === osConstants.errno.ENOENT) return false;
    throw new NativeError('connect', errno, `unix:${path}`);
  } finally {
    // a connection the server had queued sees its peer gone: it reads end-of-file
    c.close(fd);
  }
}

/**
 * Sends one datagram to a unix datagram socket (systemd's NOTIFY_SOCKET; `@name` is the abstract namespace).
 * Never blocks: a full queue gives EAGAIN.
 */
export function sendDatagram(path: string, message: string | Buffer): void {
  const fd = datagramSocket();
  try {
    sendDatagramFrom(fd, path, message);
  } finally {
    load().close(fd);
  }
}

/** A non-blocking, unbound unix datagram socket to send from (sendDatagramFrom); close it with closeFd. */
export function datagramSocket(): number {
  const c = load();
  const fd = c.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) throw new NativeError('socket', c.koffi.errno());
  return fd;
}

/** Sends one datagram from `fd` (a datagramSocket) to the unix socket at `path`; never blocks (EAGAIN). */
export function sendDatagramFrom(fd: number, path: string, message: string | Buffer): void {
  const c = load();
  const addr = encodeSockaddr({ kind: 'unix', path });
  const data = typeof message === 'string' ? Buffer.from(message) : message;
  if (c.sendto(fd, data, data.length, MSG_DONTWAIT | MSG_NOSIGNAL, addr, addr.length) < 0) {
    throw new NativeError('sendto', c.koffi.errno(), path);
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


// --- internal ---

/** getsockname(2) of `fd`: the sockaddr, as long as the kernel says it is. */
/** Whether `fd` is a SOCK_STREAM socket (SO_TYPE). */
function isStreamSocket(fd: number): boolean {
  const c = load();
  const value = Buffer.alloc(4);
  if (c.getsockopt(fd, SOL_SOCKET, SO_TYPE, value, Uint32Array.of(4)) !== 0) throw new NativeError('getsockopt', c.koffi.errno(), 'SO_TYPE');
  return value.readInt32LE(0) === SOCK_STREAM;
}

/**
 * A unix socket path as the file it names: absolute, its directory through its links (systemd's
 * /run/app.sock and a config's /var/run/app.sock are one socket where /var/run links to /run). An abstract
 * name (@…) and a directory that cannot be resolved are left as they are.
 */
function canonicalUnixPath(p: string): string {
  if (p.startsWith('@')) return p;
  const abs = resolvePath(p);
  try {
    return join(realpathSync(dirname(abs)), basename(abs));
  } catch {
    return abs;
  }
}

function localSockaddr(fd: number): Buffer {
  const c = load();
  const buf = Buffer.alloc(128);
  const len = new Uint32Array([buf.length]);
  if (c.getsockname(fd, buf, len) !== 0) throw new NativeError('getsockname', c.koffi.errno());
  return buf.subarray(0, Math.min(len[0] ?? 0, buf.length));
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

/** "unix:/run/app.sock", "127.0.0.1:8000" or "[::]:443": an address as messages write it. */
export function describeAddress(a: ListenAddress): string {
  return a.kind === 'unix' ? `unix:${a.path}` : `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
}

