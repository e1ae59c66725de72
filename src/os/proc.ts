// Reading /proc: process table, descendants, group members. Linux only.
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readlinkSync, readSync } from 'node:fs';

export interface ProcStat {
  readonly pid: number;
  readonly ppid: number;
  readonly pgrp: number;
  readonly session: number;
  /** the controlling terminal's device number; 0 when the process has none */
  readonly ttyNr: number;
  /** start time in clock ticks since boot: with pid, identifies a process across pid reuse */
  readonly startTicks: number;
  /** one-letter state; Z for a zombie */
  readonly state: string;
  readonly comm: string;
  /** user + system CPU time in clock ticks */
  readonly cpuTicks: number;
  /** resident set size in pages */
  readonly rssPages: number;
}

/**
 * One buffer for every read of a stat file: the line is under 1.1 KB (comm is at most 64 bytes, then 50
 * numbers). open, read and close into it cost about half of readFileSync's open, fstat, read, close and
 * allocations, which counted with a thousand processes in a status.
 */
const STAT_BUFFER = Buffer.alloc(4096);

/** Parses /proc/PID/stat; null if the process is gone. Open, read, close: StatFile for a file kept open. */
export function readStat(pid: number): ProcStat | null {
  const file = StatFile.open(pid);
  try {
    return file?.read() ?? null;
  } finally {
    file?.close();
  }
}

/**
 * /proc/PID/stat held open and read again from offset 0 each time: a reading is one pread instead of open,
 * read and close, each open a path lookup in /proc (for 1000 processes ~8 against ~17 ms on the AMD VM, in
 * the daemon's lite mode). The file stays bound to the process it was opened for: once that process is
 * reaped a read fails with ESRCH, even if its pid has been given to another, so a reading never describes
 * a process other than the one opened. Opened with O_CLOEXEC (libuv's default): no child inherits it.
 */
export class StatFile {
  private constructor(private fd: number | null) {}

  /** Opens `pid`'s stat file; null if there is no such process. */
  static open(pid: number): StatFile | null {
    try {
      return new StatFile(openSync(`/proc/${pid}/stat`, 'r'));
    } catch (err) {
      // ENOENT/ESRCH: the process ended between listing and reading, which is normal
      if (isGone(err)) return null;
      throw err;
    }
  }

  /** The process's stat now; null once it has been reaped (the file is closed then). */
  read(): ProcStat | null {
    if (this.fd === null) return null;
    let length: number;
    try {
      length = readSync(this.fd, STAT_BUFFER, 0, STAT_BUFFER.length, 0);
    } catch (err) {
      // ESRCH: the process this file was opened for has been reaped (or, for readStat, ended since the open)
      if (isGone(err)) {
        this.close();
        return null;
      }
      throw err;
    }
    return parseStat(STAT_BUFFER.toString('utf8', 0, length));
  }

  close(): void {
    if (this.fd === null) return;
    closeSync(this.fd);
    this.fd = null;
  }
}

/** Parses the text of a /proc/PID/stat file. comm may hold spaces and parentheses, so split at the last ')'. */
export function parseStat(text: string): ProcStat | null {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < 0) return null;
  const pid = Number(text.slice(0, open).trim());
  const comm = text.slice(open + 1, close);
  const f = text.slice(close + 2).split(' ');
  // fields after comm, 0-based: 0 state, 1 ppid, 2 pgrp, 3 session, 4 tty_nr, 11 utime, 12 stime, 19 starttime, 21 rss
  return {
    pid,
    comm,
    state: f[0] ?? '?',
    ppid: Number(f[1]),
    pgrp: Number(f[2]),
    session: Number(f[3]),
    ttyNr: Number(f[4]),
    cpuTicks: Number(f[11]) + Number(f[12]),
    startTicks: Number(f[19]),
    rssPages: Number(f[21]),
  };
}

/** Whether this process has a controlling terminal (it then gets SIGWINCH at every window resize). */
export function hasControllingTerminal(): boolean {
  return (readStat(process.pid)?.ttyNr ?? 0) !== 0;
}

/** Every process visible in /proc. */
export function listProcesses(): ProcStat[] {
  const out: ProcStat[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = readStat(Number(name));
    if (st) out.push(st);
  }
  return out;
}

/** All descendants of `root` (not including it), following ppid links in one snapshot of the table. */
export function descendantsOf(root: number, table: readonly ProcStat[] = listProcesses()): ProcStat[] {
  const children = new Map<number, ProcStat[]>();
  for (const p of table) {
    const list = children.get(p.ppid);
    if (list) list.push(p);
    else children.set(p.ppid, [p]);
  }
  const out: ProcStat[] = [];
  const todo = [root];
  while (todo.length > 0) {
    const pid = todo.pop() as number;
    for (const c of children.get(pid) ?? []) {
      out.push(c);
      todo.push(c.pid);
    }
  }
  return out;
}

/** Processes whose process group is `pgid` (live ones; zombies excluded). */
export function groupMembers(pgid: number, table: readonly ProcStat[] = listProcesses()): ProcStat[] {
  return table.filter((p) => p.pgrp === pgid && p.state !== 'Z');
}

/**
 * The pids of this process's children, zombies included: /proc/self/task/TID/children lists each thread's
 * (an orphan is re-parented to any thread of its new parent). Without those files (a kernel built without
 * CONFIG_PROC_CHILDREN), every /proc/PID/stat is read for its ppid instead.
 */
export function ownChildren(): number[] {
  const tasks = readdirSync('/proc/self/task');
  childrenFiles ??= tasks[0] !== undefined && existsSync(`/proc/self/task/${tasks[0]}/children`);
  if (!childrenFiles) {
    const me = process.pid;
    return listProcesses()
      .filter((p) => p.ppid === me)
      .map((p) => p.pid);
  }
  const out: number[] = [];
  for (const task of tasks) {
    let text: string;
    try {
      text = readFileSync(`/proc/self/task/${task}/children`, 'utf8');
    } catch (err) {
      // ENOENT/ESRCH: the thread ended while we listed
      if (isGone(err)) continue;
      throw err;
    }
    for (const pid of text.split(' ')) if (pid.trim() !== '') out.push(Number(pid));
  }
  return out;
}

/** The executable of a process, or null if it cannot be read (gone, or not ours). */
export function readExe(pid: number): string | null {
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch (err) {
    // ENOENT: gone; EACCES/EPERM: another user's process; both mean "unknown" here
    if (isGone(err) || isDenied(err)) return null;
    throw err;
  }
}

/**
 * The value of `key` in the environment a process started with (/proc/PID/environ: what its exec got,
 * which a fork without exec shares): null when it is not there (or a process title was written over the
 * area, as redis and nginx do), undefined when it cannot be read (gone, another user's process).
 */
export function environValue(pid: number, key: string): string | null | undefined {
  let text: string;
  try {
    text = `\0${readFileSync(`/proc/${pid}/environ`, 'latin1')}`;
  } catch (err) {
    if (isGone(err) || isDenied(err)) return undefined;
    throw err;
  }
  const at = text.indexOf(`\0${key}=`);
  if (at < 0) return null;
  const start = at + key.length + 2;
  const end = text.indexOf('\0', start);
  return text.slice(start, end < 0 ? undefined : end);
}

/** The command line of a process as `ps` shows it (arguments joined by spaces; a process title as set), or null. */
export function readCmdline(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1').replace(/\0+$/, '').replace(/\0/g, ' ');
  } catch (err) {
    if (isGone(err) || isDenied(err)) return null;
    throw err;
  }
}

/** Number of open file descriptors of this process. */
export function countOpenFds(pid: number | 'self' = 'self'): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** This process's soft limit on open files (RLIMIT_NOFILE), from /proc/self/limits; Infinity when unlimited. */
export function openFileLimit(): number {
  const m = /^Max open files\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  const n = Number(m?.[1]);
  return Number.isFinite(n) ? n : Infinity;
}

/**
 * Whether this process has no file descriptor to spare (EMFILE for the next two opens), said as
 * "N open, the limit is M"; null when it has. Asked after a failed spawn, whose error Node gives only on
 * the next tick: libuv needs a pipe of two descriptors of its own to start a child.
 */
export function descriptorsExhausted(): string | null {
  let limit: number;
  let open: number;
  try {
    limit = openFileLimit();
    // the listing's own descriptor is counted: `limit` open then means at most one was free
    open = countOpenFds();
  } catch (err) {
    if (outOfDescriptors(err)) return 'none free';
    // asked on a failure path only: whatever else went wrong with /proc, the spawn's failure is still told
    return null;
  }
  return open >= limit ? `${open - 1} open, the limit is ${limit}` : null;
}

/** Seconds since boot, to turn start ticks into wall time. */
export function uptimeSeconds(): number {
  return Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
}

/** whether the kernel has /proc/PID/task/TID/children; null until first looked at */
let childrenFiles: boolean | null = null;
/**
 * Whether the kernel moves the connections queued on a closing SO_REUSEPORT listener to another listener of
 * its group (`net.ipv4.tcp_migrate_req`, Linux ≥ 5.14, per network namespace) instead of resetting them;
 * null when the kernel does not have the setting.
 */
export function tcpMigratesRequests(): boolean | null {
  try {
    return readFileSync('/proc/sys/net/ipv4/tcp_migrate_req', 'utf8').trim() !== '0';
  } catch (err) {
    // ENOENT: a kernel older than 5.14
    if (isGone(err)) return null;
    throw err;
  }
}

/** Clock ticks per second; 100 on every Linux build drover supports (USER_HZ). */
export const CLOCK_TICKS = 100;

/** Page size in bytes for rss; 4096 on x86_64 and most arm64 kernels. */
export const PAGE_SIZE = 4096;

// --- internal ---

/** EMFILE (this process's limit on open files) or ENFILE (the system's): every open, listing of /proc included. */
export function outOfDescriptors(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'EMFILE' || code === 'ENFILE';
}

function isGone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ESRCH';
}

function isDenied(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'EACCES' || code === 'EPERM';
}

/**
 * This process's PID namespace ("pid:[4026531836]"), or null where /proc does not say. Two processes see
 * each other's pids only when they are in the same one (a pid from another namespace names another process).
 */
export function pidNamespace(): string | null {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return null;
  }
}
