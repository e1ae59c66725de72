// systemd's notify protocol (sd_notify(3)) without libsystemd: one unix datagram per message to the socket
// named by NOTIFY_SOCKET (a path, or "@name" in the abstract namespace), holding newline-separated
// KEY=VALUE assignments — READY=1, RELOADING=1, STOPPING=1, STATUS=…, MAINPID=…, WATCHDOG=1. The format is
// byte for byte what systemd's own `systemd-notify` sends (fields joined by "\n", no trailing newline).
//
// A failed send never reaches the caller: systemd may be gone (shutdown), its queue full (EAGAIN) or the
// socket refused; drover goes on supervising and reports the failure through `onError`.
import { sendDatagram } from '../os/native-net.js';

/** Variables systemd sets for drover itself; none of them may reach the programs (see withoutSystemdEnv). */
export const SYSTEMD_OWN_ENV = ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID', 'LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES'] as const;

export interface NotifierOptions {
  /** called with each failed send (or a bad variable in the environment); never throws at the caller */
  readonly onError?: (err: Error) => void;
  /** the pid WATCHDOG_PID is compared with (default: this process) */
  readonly pid?: number;
}

export class SystemdNotifier {
  /** the notify socket: an absolute path or "@name" (abstract) */
  readonly socketPath: string;
  /** WATCHDOG_USEC when it is meant for this process, else null (no watchdog) */
  readonly watchdogUsec: number | null;
  private readonly onError: (err: Error) => void;
  /** the keep-alive timer while the watchdog runs; null when stopped */
  private watchdogTimer: NodeJS.Timeout | null = null;

  constructor(socketPath: string, watchdogUsec: number | null, opts: NotifierOptions = {}) {
    if (!isNotifySocketAddress(socketPath)) {
      throw new RangeError(`NOTIFY_SOCKET must be an absolute path or an @abstract name, got ${JSON.stringify(socketPath)}`);
    }
    this.socketPath = socketPath;
    this.watchdogUsec = watchdogUsec;
    this.onError = opts.onError ?? ((): void => undefined);
  }

  /**
   * The notifier for the environment systemd gave us, or null when NOTIFY_SOCKET is unset or empty (not
   * started by systemd as Type=notify). The watchdog is ours when WATCHDOG_USEC is set and WATCHDOG_PID is
   * unset or our pid, as sd_watchdog_enabled(3) decides.
   */
  static fromEnv(env: Readonly<Record<string, string | undefined>>, opts: NotifierOptions = {}): SystemdNotifier | null {
    const socket = env['NOTIFY_SOCKET'];
    if (socket === undefined || socket === '') return null;
    const report = opts.onError ?? ((): void => undefined);
    if (!isNotifySocketAddress(socket)) {
      // systemd ≥ 253 may also name a vsock address; sd_notify answers EAFNOSUPPORT for what it cannot reach
      report(new Error(`NOTIFY_SOCKET must be an absolute path or an @abstract name, got ${JSON.stringify(socket)}; not notifying systemd`));
      return null;
    }
    return new SystemdNotifier(socket, watchdogFromEnv(env, opts.pid ?? process.pid, report), opts);
  }

  /** READY=1: start-up (or a reload) has finished. */
  ready(status?: string): boolean {
    return this.send([['READY', '1'], ...statusField(status)]);
  }

  /** STATUS=…: a one-line status shown by `systemctl status`. */
  status(text: string): boolean {
    return this.send(statusField(text));
  }

  /**
   * RELOADING=1 with MONOTONIC_USEC (what Type=notify-reload requires): a reload has begun; READY=1 ends it.
   */
  reloading(status?: string): boolean {
    return this.send([['RELOADING', '1'], ['MONOTONIC_USEC', String(monotonicUsec())], ...statusField(status)]);
  }

  /** STOPPING=1: the shutdown has begun. */
  stopping(status?: string): boolean {
    return this.send([['STOPPING', '1'], ...statusField(status)]);
  }

  /** MAINPID=…: the service's main process is now `pid` (a re-exec'd master says so itself; needs NotifyAccess=all). */
  mainPid(pid: number): boolean {
    if (!Number.isInteger(pid) || pid <= 0) throw new RangeError(`MAINPID must be a positive integer, got ${pid}`);
    return this.send([['MAINPID', String(pid)]]);
  }

  /** WATCHDOG=1: one keep-alive. */
  watchdogPing(): boolean {
    return this.send([['WATCHDOG', '1']]);
  }

  /** Milliseconds between keep-alives: half of WATCHDOG_USEC (sd_watchdog_enabled(3)'s advice), or null. */
  get watchdogIntervalMs(): number | null {
    return this.watchdogUsec === null ? null : Math.max(1, Math.floor(this.watchdogUsec / 2000));
  }

  /**
   * Sends WATCHDOG=1 now and then every half WATCHDOG_USEC. The timer is unref'd (it never keeps drover
   * alive) and runs on the event loop, so a loop that stops turning stops the pings, which is the point.
   * Returns false when the watchdog is not ours.
   */
  startWatchdog(): boolean {
    const interval = this.watchdogIntervalMs;
    if (interval === null) return false;
    if (this.watchdogTimer) return true;
    this.watchdogPing();
    this.watchdogTimer = setInterval(() => this.watchdogPing(), interval);
    this.watchdogTimer.unref();
    return true;
  }

  /** Stops the keep-alives (at exit, or before handing the watchdog to a successor). */
  stopWatchdog(): void {
    if (this.watchdogTimer) clearInterval(this.watchdogTimer);
    this.watchdogTimer = null;
  }

  /** Whether the keep-alive timer runs. */
  get watchdogRunning(): boolean {
    return this.watchdogTimer !== null;
  }

  /** Sends one message of KEY=VALUE fields; false (and onError) when it could not be sent. */
  send(fields: readonly (readonly [string, string])[]): boolean {
    if (fields.length === 0) return true;
    const message = fields.map(([k, v]) => `${k}=${v}`).join('\n');
    try {
      sendDatagram(this.socketPath, message);
      return true;
    } catch (err) {
      // every failure is systemd's side or the OS's (ENOENT, ECONNREFUSED, EAGAIN, koffi missing): report it
      this.onError(new Error(`cannot notify systemd at ${this.socketPath} (${fields.map(([k]) => k).join(', ')}): ${(err as Error).message}`, { cause: err }));
      return false;
    }
  }
}

/**
 * CLOCK_MONOTONIC in microseconds, as systemd reads it for MONOTONIC_USEC. process.hrtime is libuv's
 * uv_hrtime(), which on Linux is uv__hrtime(UV_CLOCK_PRECISE) = clock_gettime(CLOCK_MONOTONIC) (libuv
 * src/unix/linux.c; only UV_CLOCK_FAST, for loop time, may use CLOCK_MONOTONIC_COARSE): the same clock,
 * same origin. The integration test compares it with Python's time.clock_gettime_ns(CLOCK_MONOTONIC).
 */
export function monotonicUsec(): bigint {
  return process.hrtime.bigint() / 1000n;
}

/**
 * drover's environment without the variables systemd meant for drover alone (NOTIFY_SOCKET, WATCHDOG_*,
 * LISTEN_*): the base environment of the programs. A program that inherited NOTIFY_SOCKET could report
 * READY=1 for the whole service under NotifyAccess=all; one that inherited LISTEN_FDS would look for
 * sockets that are not its own.
 */
export function withoutSystemdEnv(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const out: Record<string, string> = {};
  const drop = new Set<string>(SYSTEMD_OWN_ENV);
  for (const [k, v] of Object.entries(env)) if (v !== undefined && !drop.has(k)) out[k] = v;
  return out;
}

// --- internal ---

function isNotifySocketAddress(s: string): boolean {
  return (s.startsWith('/') || s.startsWith('@')) && s.length > 1;
}

function statusField(text: string | undefined): [string, string][] {
  // one assignment per line: a newline inside STATUS would start a new (bogus) assignment
  return text === undefined ? [] : [['STATUS', text.replace(/[\r\n]+/g, ' ')]];
}

function watchdogFromEnv(env: Readonly<Record<string, string | undefined>>, pid: number, report: (err: Error) => void): number | null {
  const usec = env['WATCHDOG_USEC'];
  if (usec === undefined || usec === '') return null;
  const forPid = env['WATCHDOG_PID'];
  // another process's watchdog (we inherited the variables): leave it alone, as sd_watchdog_enabled does
  if (forPid !== undefined && forPid !== '' && forPid !== String(pid)) return null;
  if (!/^[1-9]\d*$/.test(usec) || !Number.isSafeInteger(Number(usec))) {
    report(new Error(`WATCHDOG_USEC must be a positive integer of microseconds, got ${JSON.stringify(usec)}; watchdog off`));
    return null;
  }
  return Number(usec);
}
