// How a child really ended, when Node cannot say. Node's child_process names the signal that killed a
// child from its own table, which stops at 31: a child killed by a real-time signal (34–64) reaches the
// 'exit' listener as exit code 0 and no signal, which drover would take for a clean, expected exit. The
// status is gone by then: libuv reaped the child (waitpid) in its SIGCHLD watcher.
//
// So this looks first. It starts a second libuv SIGCHLD watcher on the same loop, through koffi (as
// realtime-signals.ts does), whose callback peeks at an ended child with waitid(WNOWAIT), which leaves it
// to be reaped. libuv calls the watchers of one signal in the order of their handles' addresses (its
// tree of watchers is sorted by signal, then loop, then handle address), and its own SIGCHLD watcher lives
// inside the loop structure; this handle is placed below the loop in memory (a page mapped low, else the
// heap when that is lower), so it runs first on every SIGCHLD. When neither is lower, nothing is started
// and such exits read as before.
//
// waitid(P_ALL, WNOWAIT) shows one ended child, the first the kernel lists, and several may end between
// two turns of the loop (one SIGCHLD for them all). So each program's process is also watched through a
// pidfd of its own (Linux 5.3), in one epoll set that the callback asks without waiting: it names every
// child that has ended, and waitid(P_PIDFD, WNOWAIT) reads each one's status. A child that could not be
// given a pidfd (an older kernel, no fd left) is seen by the P_ALL peek alone, as before. A real-time
// death is recorded by pid and taken once by childExit().
import { createRequire } from 'node:module';
import type * as KoffiModule from 'koffi';
import { isSpawnedByNode } from './children.js';
import { EPOLL_CLOEXEC, EPOLL_CTL_ADD, EPOLL_DATA_OFFSET, EPOLL_EVENT_BYTES, EPOLLIN, errnoNumber, load, type Libc } from './libc.js';
import { signalName } from './signals.js';

/** uv_handle_type of a signal handle (uv.h) */
const UV_SIGNAL = 16;
const SIGCHLD = 17;
/** waitid(2): idtype P_ALL, P_PIDFD (Linux 5.4); options WEXITED | WNOHANG | WNOWAIT; si_code CLD_KILLED, CLD_DUMPED */
const P_ALL = 0;
const P_PIDFD = 3;
/** pidfd_open(2): the same number on every architecture (the syscalls numbered from 424 are shared) */
const SYS_PIDFD_OPEN = 434;
/** ended children taken from the epoll set per epoll_wait (the callback asks again while it is full) */
const MAX_EVENTS = 64;
const PEEK = 4 | 1 | 0x01000000;
const CLD_KILLED = 2;
const CLD_DUMPED = 3;
/** siginfo_t on 64-bit Linux: si_code at 8; for SIGCHLD si_pid at 16 and si_status at 24 */
const SI_CODE = 8;
const SI_PID = 16;
const SI_STATUS = 24;
/** the last signal Node's table names */
const LAST_NAMED_SIGNAL = 31;
/** pids remembered at most (each is taken by its exit, at once; the bound is for children no one takes) */
const REMEMBERED = 256;
/** mmap: PROT_READ | PROT_WRITE; MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE; a page, and where to try */
const PROT_RW = 1 | 2;
const MAP_LOW = 0x02 | 0x20 | 0x100000;
const PAGE = 4096;
const LOW_ADDRESSES = [0x100000, 0x200000, 0x300000];

/** pid → the real-time signal that ended it, peeked before libuv reaped it */
const endedBySignal = new Map<number, number>();
let started: 'yes' | 'no' | null = null;

/** The children watched through pidfds: null until the peek runs, or once pidfd_open or epoll failed. */
interface Watched {
  readonly c: Libc;
  readonly epfd: number;
  /** pid → its pidfd; an ended child leaves when the callback has read it, or at its exit */
  readonly pidfds: Map<number, number>;
  readonly events: Buffer;
  /** the one struct epoll_event an add is made from */
  readonly event: Buffer;
}
let watched: Watched | null = null;

/**
 * Starts peeking at ended children (once per process; later calls say what the first did). Returns null
 * when it runs, else why not (no native layer, no libuv symbols, or no memory below the loop).
 */
export function startExitPeek(): string | null {
  if (started !== null) return started === 'yes' ? null : 'not started';
  started = 'no';
  try {
    const koffi = createRequire(import.meta.url)('koffi') as typeof KoffiModule;
    const lib = koffi.load(null);
    const loop = Number(lib.func('intptr_t uv_default_loop()')());
    const bytes = Number(lib.func('size_t uv_handle_size(int type)')(UV_SIGNAL));
    const handle = belowLoop(koffi, lib, loop, bytes);
    if (handle === null) return 'no memory below the event loop for a watcher that runs before libuv reaps';
    const waitid = lib.func('int waitid(int idtype, uint32_t id, _Out_ uint8_t *info, int options)') as (t: number, id: number, info: Buffer, o: number) => number;
    const info = Buffer.alloc(128);
    /** waitid into info; records a real-time death */
    const peek = (idtype: number, id: number): void => {
      info.fill(0);
      if (waitid(idtype, id, info, PEEK) !== 0) return; // ECHILD: no such child (left)
      const pid = info.readInt32LE(SI_PID);
      const code = info.readInt32LE(SI_CODE);
      const signum = info.readInt32LE(SI_STATUS);
      if (pid === 0 || (code !== CLD_KILLED && code !== CLD_DUMPED) || signum <= LAST_NAMED_SIGNAL) return;
      // an adopted orphan is the reaper's, which reads its status itself: kept, it would wait for the pid's
      // next holder and give that one's clean exit this signal
      if (!isSpawnedByNode(pid)) return;
      if (endedBySignal.size >= REMEMBERED) endedBySignal.delete(endedBySignal.keys().next().value as number);
      endedBySignal.set(pid, signum);
    };
    const cb = koffi.register(() => {
      peek(P_ALL, 0);
      const w = watched;
      for (let n = MAX_EVENTS; w !== null && n === MAX_EVENTS; ) {
        n = w.c.epollWait(w.epfd, w.events, MAX_EVENTS, 0);
        for (let i = 0; i < n; i++) {
          const pid = w.events.readUInt32LE(i * EPOLL_EVENT_BYTES + EPOLL_DATA_OFFSET);
          const pidfd = w.pidfds.get(pid);
          if (pidfd === undefined) continue;
          peek(P_PIDFD, pidfd);
          unwatch(pid); // closing the pidfd takes it out of the set
        }
      }
    }, koffi.pointer(koffi.proto('void drover_exit_peek_cb(void *handle, int signum)')));
    const init = lib.func('int uv_signal_init(intptr_t loop, intptr_t handle)') as (l: number, h: number) => number;
    const start = lib.func('int uv_signal_start(intptr_t handle, drover_exit_peek_cb *cb, int signum)') as (h: number, c: unknown, s: number) => number;
    if (init(loop, handle) !== 0 || start(handle, cb, SIGCHLD) !== 0) return 'libuv refused the SIGCHLD watcher';
    // like Node's own signal listeners, it keeps nothing alive
    (lib.func('void uv_unref(intptr_t handle)') as (h: number) => void)(handle);
  } catch (err) {
    return (err as Error).message.split('\n')[0] ?? 'unknown';
  }
  started = 'yes';
  try {
    const c = load();
    const epfd = c.epollCreate1(EPOLL_CLOEXEC);
    if (epfd >= 0) {
      watched = { c, epfd, pidfds: new Map(), events: Buffer.alloc(EPOLL_EVENT_BYTES * MAX_EVENTS), event: Buffer.alloc(EPOLL_EVENT_BYTES) };
    }
  } catch {
    // the P_ALL peek alone
  }
  return null;
}

/**
 * Watches a child just spawned, through a pidfd of its own, so that its real-time death is seen when
 * others end at the same time. Called in the turn of the spawn, before libuv can have reaped it. Does
 * nothing when the peek does not run, or when the kernel gives no pidfd (then the P_ALL peek stands).
 */
export function watchExit(pid: number): void {
  // a pid given again: what its last holder's death left (a child whose exit no childExit() took) is not this one's
  endedBySignal.delete(pid);
  const w = watched;
  if (w === null) return;
  unwatch(pid); // a pid given again, whose last holder was never seen to end
  const pidfd = w.c.syscall(SYS_PIDFD_OPEN, 'int', pid, 'unsigned int', 0); // O_CLOEXEC: no child inherits it
  if (pidfd < 0) {
    // ENOSYS (before Linux 5.3): none will come; EMFILE and the like: this child only
    if (w.c.koffi.errno() === errnoNumber('ENOSYS')) watched = null;
    return;
  }
  w.event.fill(0);
  w.event.writeUInt32LE(EPOLLIN, 0);
  w.event.writeUInt32LE(pid, EPOLL_DATA_OFFSET);
  if (w.c.epollCtl(w.epfd, EPOLL_CTL_ADD, pidfd, w.event) !== 0) {
    w.c.close(pidfd);
    return;
  }
  w.pidfds.set(pid, pidfd);
}

/**
 * The 'exit' of a child as drover records it: Node's code and signal name (without SIG), except that an exit
 * "0, no signal" of a child peeked as killed by a real-time signal becomes that signal (RTMIN+5).
 */
export function childExit(pid: number, code: number | null, signal: NodeJS.Signals | null): { code: number | null; signal: string | null } {
  unwatch(pid);
  const peeked = endedBySignal.get(pid);
  if (peeked !== undefined) endedBySignal.delete(pid);
  if (signal === null && code === 0 && peeked !== undefined) return { code: null, signal: signalName(peeked) ?? String(peeked) };
  return { code, signal: signal === null ? null : signal.slice(3) };
}

/** Closes the pidfd of a child watched (which takes it out of the epoll set). */
function unwatch(pid: number): void {
  const pidfd = watched?.pidfds.get(pid);
  if (pidfd === undefined || watched === null) return;
  watched.pidfds.delete(pid);
  watched.c.close(pidfd);
}

/** An address for `bytes` that sorts before the loop: a page mapped low, else a heap block if that is lower. */
function belowLoop(koffi: typeof KoffiModule, lib: KoffiModule.LibraryHandle, loop: number, bytes: number): number | null {
  const mmap = lib.func('intptr_t mmap(intptr_t addr, size_t len, int prot, int flags, int fd, intptr_t off)') as (...a: number[]) => number;
  const munmap = lib.func('int munmap(intptr_t addr, size_t len)') as (addr: number, len: number) => number;
  for (const want of LOW_ADDRESSES) {
    if (want + PAGE > loop) break;
    const got = Number(mmap(want, PAGE, PROT_RW, MAP_LOW, -1, 0));
    if (got === want) return got; // kept for the life of the process, as the watcher is
    // a kernel older than MAP_FIXED_NOREPLACE (4.17) takes the address as a hint and maps elsewhere
    if (got !== -1) munmap(got, PAGE);
  }
  // a distribution's Node linked to a shared libuv: the loop is in the library, above the heap. koffi's
  // blocks are freed only by koffi.free, so this one lives as long as the process.
  const block = koffi.alloc('uint8_t', bytes);
  const address = Number(koffi.address(block));
  if (address + bytes <= loop) return address;
  koffi.free(block);
  return null;
}
