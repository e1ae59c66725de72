// The libc binding behind the native layer: koffi loaded on first use, the C prototypes drover calls, and
// the error every call throws. Used by src/os only: native.ts (fds, locks, processes) and native-net.ts
// (sockets) are the functions the rest of drover calls.
import { createRequire } from 'node:module';
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

export interface Libc {
  koffi: typeof KoffiModule;
  socket: (domain: number, type: number, protocol: number) => number;
  setsockopt: (fd: number, level: number, name: number, value: Int32Array, len: number) => number;
  getsockopt: (fd: number, level: number, name: number, value: Buffer, len: Uint32Array) => number;
  /** syscall(2), for calls libc has no wrapper for (bpf); the arguments after the number are (type, value) pairs */
  syscall: (number: number, ...rest: unknown[]) => number;
  bind: (fd: number, addr: Buffer, len: number) => number;
  listen: (fd: number, backlog: number) => number;
  connect: (fd: number, addr: Buffer, len: number) => number;
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
  epollCreate1: (flags: number) => number;
  epollCtl: (epfd: number, op: number, fd: number, event: Buffer | null) => number;
  /** epoll_wait; called, it waits on this thread (timeout 0: it only asks); its `.async(…, callback)` waits on a thread of libuv's pool */
  epollWait: ((epfd: number, events: Buffer, max: number, timeoutMs: number) => number) & {
    async: (epfd: number, events: Buffer, max: number, timeoutMs: number, cb: (err: unknown, n: number) => void) => void;
  };
  read: (fd: number, buf: Buffer, count: number) => number;
  /** poll(2) on an array of struct pollfd (int fd; short events; short revents: 8 bytes each) */
  poll: (fds: Buffer, nfds: number, timeoutMs: number) => number;
  write: (fd: number, buf: Buffer, count: number) => number;
  getrandom: (buf: Buffer, count: number, flags: number) => number;
  execve: (path: string, argv: (string | null)[], envp: (string | null)[]) => number;
  /** sigaction(2) on raw struct sigaction buffers (the handler is its first pointer-sized field) */
  sigaction: (sig: number, act: Buffer | null, old: Buffer | null) => number;
  pthreadSigmask: (how: number, set: Buffer, old: null) => number;
  /** struct rlimit: two 64-bit rlim_t (soft, hard), as on every 64-bit Linux */
  getrlimit: (resource: number, rlim: Buffer) => number;
  setrlimit: (resource: number, rlim: Buffer) => number;
}

/** struct epoll_event is packed on x86-64 (4 + 8 bytes), naturally aligned elsewhere (4 + 4 + 8) */
export const EPOLL_EVENT_BYTES = process.arch === 'x64' ? 12 : 16;
/** where its 64-bit data field starts */
export const EPOLL_DATA_OFFSET = process.arch === 'x64' ? 4 : 8;
export const EPOLL_CLOEXEC = 0o2000000;
export const EPOLL_CTL_ADD = 1;
export const EPOLL_CTL_DEL = 2;
export const EPOLLIN = 0x1;

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

/** The bound libc; throws E_NATIVE when koffi cannot load. */
export function load(): Libc {
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
      getsockopt: f('int getsockopt(int fd, int level, int name, _Out_ uint8_t *value, _Inout_ uint32_t *len)'),
      syscall: f('long syscall(long number, ...)'),
      bind: f('int bind(int fd, const void *addr, uint32_t len)'),
      listen: f('int listen(int fd, int backlog)'),
      connect: f('int connect(int fd, const void *addr, uint32_t len)'),
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
      epollCreate1: f('int epoll_create1(int flags)'),
      epollCtl: f('int epoll_ctl(int epfd, int op, int fd, void *event)'),
      epollWait: lib.func('int epoll_wait(int epfd, void *events, int max, int timeout)'),
      read: f('intptr_t read(int fd, void *buf, size_t count)'),
      poll: f('int poll(_Inout_ uint8_t *fds, unsigned long nfds, int timeout)'),
      write: f('intptr_t write(int fd, const void *buf, size_t count)'),
      getrandom: f('intptr_t getrandom(_Out_ uint8_t *buf, size_t count, unsigned int flags)'),
      execve: f('int execve(const char *path, const char **argv, const char **envp)'),
      sigaction: f('int sigaction(int sig, const uint8_t *act, _Out_ uint8_t *old)'),
      pthreadSigmask: f('int pthread_sigmask(int how, const uint8_t *set, uint8_t *old)'),
      getrlimit: f('int getrlimit(int resource, _Out_ uint8_t *rlim)'),
      setrlimit: f('int setrlimit(int resource, const uint8_t *rlim)'),
    } as Libc;
    return libc;
  } catch (err) {
    // the first line: Node's "Cannot find module" goes on with its require stack
    loadFailure = new DroverError('E_NATIVE', `the native layer (koffi) cannot be loaded: ${(err as Error).message.split('\n')[0] ?? ''}`, { cause: err });
    throw loadFailure;
  }
}

/** errno number → name (ENOENT, ECHILD, …), from Node's own table of the platform's errno values. */
const ERRNO_NAMES = new Map<number, string>();
// the first name wins where two share a number (EAGAIN before EWOULDBLOCK)
for (const [name, n] of Object.entries(osConstants.errno)) if (!ERRNO_NAMES.has(n)) ERRNO_NAMES.set(n, name);

export function errnoName(errno: number): string {
  return ERRNO_NAMES.get(errno) ?? `errno ${errno}`;
}

export function errnoNumber(name: string): number {
  return (osConstants.errno as Record<string, number>)[name] ?? 22;
}
