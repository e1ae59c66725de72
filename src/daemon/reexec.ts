// USR2: re-exec the master without closing a socket. The old master spawns a new one that inherits every
// listening socket and the single-instance lock as fds (systemd's LISTEN_FDS convention); the new master
// starts its workers on the same sockets and reports ready; then the old master drains and exits. While
// both run, connections are accepted by the workers of either; none is refused or dropped.
import type { ProcessSpec } from '../config/types.js';
import type { Supervisor } from '../core/supervisor.js';
import type { Logger } from '../logs/logger.js';
import type { SteeringView } from '../prefork/sockets.js';
import { reportToParent, spawnAndAwaitReport } from '../os/handoff.js';
import { hasControllingTerminal } from '../os/proc.js';
import { processEnded, sendSignal } from '../os/spawn.js';
import { markStderr, stderrSince } from '../os/stderr-tail.js';
import { timerDelay } from '../os/timers.js';

/** LISTEN_FDNAMES name of the instance lock among the inherited fds. */
export const LOCK_FD_NAME = 'drover-instance-lock';

/**
 * The environment variable through which the old master names, as a JSON list, the unix socket files the
 * new one is to remove at its exit once it has taken over (those it made or adopted itself; not
 * systemd's). Read and removed from the environment first thing, so no program inherits it.
 */
export const SOCKET_FILES_ENV = 'DROVER_SOCKET_FILES';

/**
 * The environment variable through which the old master names, as a JSON list, the new one's fds (3, 4, …)
 * that hold a socket drover was passed (systemd's, or an fd://N) rather than one it bound: the new master
 * cannot tell systemd's TCP sockets from drover's own otherwise, and must not rebind them on a reload.
 * Read and removed from the environment first thing, as SOCKET_FILES_ENV is.
 */
export const PASSED_FDS_ENV = 'DROVER_PASSED_FDS';

/** In a re-exec'd master: the fds its predecessor marked as passed sockets (PASSED_FDS_ENV), taken out of `env`. */
export function takePassedFds(env: Record<string, string | undefined>): Set<number> {
  const text = env[PASSED_FDS_ENV];
  delete env[PASSED_FDS_ENV];
  if (text === undefined) return new Set();
  try {
    const list: unknown = JSON.parse(text);
    return new Set(Array.isArray(list) ? list.filter((fd): fd is number => Number.isInteger(fd) && (fd as number) >= 3) : []);
  } catch {
    // not ours (set by hand): nothing is marked, as before this variable existed
    return new Set();
  }
}

/** In a re-exec'd master: the socket files its predecessor hands over (SOCKET_FILES_ENV), taken out of `env`. */
export function takeSocketFiles(env: Record<string, string | undefined>): Set<string> {
  const text = env[SOCKET_FILES_ENV];
  delete env[SOCKET_FILES_ENV];
  if (text === undefined) return new Set();
  try {
    const list: unknown = JSON.parse(text);
    return new Set(Array.isArray(list) ? list.filter((p): p is string => typeof p === 'string') : []);
  } catch {
    // not ours (set by hand): adopt nothing, which leaves files in place, the safe side
    return new Set();
  }
}

/**
 * Messages from the new master to the old one. A ready new master says which balanced sockets' steering it
 * adopted, with the slots it keeps and serves (src/prefork/sockets.ts, handSteeringOver).
 */
export type SuccessorMessage = { readonly t: 'reexec-ready'; readonly pid: number; readonly steering?: SteeringView } | { readonly t: 'reexec-failed'; readonly message: string };

/**
 * The new master's first word, once it has read its config and started its serving processes: it reports
 * ready or failed within `ms` (its reexec_timeout), and the old master waits that long, not a fixed time.
 */
type SuccessorWaiting = { readonly t: 'reexec-waiting'; readonly ms: number };

/** The one message from the old master to a ready new one: the steering lists are its to write now. */
export const STEERING_HANDED_OVER = { t: 'reexec-steering' } as const;

/**
 * From the old master to a new one it gives up on (not ready in time), before SIGTERM and the channel's
 * close: the close then does not mean that the old master has gone, and the new one takes nothing over.
 */
export const SUCCESSOR_ABANDONED = { t: 'reexec-abandoned' } as const;

export type SuccessorResult =
  | { readonly ok: true; readonly pid: number; readonly steering: SteeringView; readonly tell: (message: unknown) => void }
  | {
      readonly ok: false;
      readonly message: string;
      /** the end of what the new master wrote to stderr before it died without a report; '' when none */
      readonly stderr: string;
    };

/** Spawns the new master and waits (bounded) for it to report that its workers are ready. */
export async function spawnSuccessor(opts: {
  readonly configFile: string;
  /** `passed`: a socket drover was passed, not one it bound (PASSED_FDS_ENV) */
  readonly sockets: readonly { readonly fd: number; readonly name: string; readonly passed?: boolean }[];
  /** unix socket files the new master removes at its exit once it has taken over (SOCKET_FILES_ENV) */
  readonly socketFiles: readonly string[];
  /** the instance locks this master holds (its own first), passed under LOCK_FD_NAME */
  readonly lockFds: readonly number[];
  /** the old master runs as a daemon: the new one too */
  readonly daemon: boolean;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** the old master keeps systemd's watchdog: the new one gets WATCHDOG_PID set to its own pid */
  readonly handWatchdog: boolean;
  readonly timeoutMs: number;
  /**
   * stderr is not drover's own log: what a new master that dies without a report wrote there is read
   * back (when it is a regular file: a daemon's daemon.stderr) for the message
   */
  readonly readStderr: boolean;
  readonly onSpawned?: (pid: number) => void;
}): Promise<SuccessorResult> {
  const fds = [...opts.sockets.map((s) => s.fd), ...opts.lockFds];
  const names = [...opts.sockets.map((s) => s.name), ...opts.lockFds.map(() => LOCK_FD_NAME)];
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(opts.env)) if (v !== undefined && !k.startsWith('LISTEN_') && k !== SOCKET_FILES_ENV && k !== PASSED_FDS_ENV) env[k] = v;
  if (opts.socketFiles.length > 0) env[SOCKET_FILES_ENV] = JSON.stringify(opts.socketFiles);
  // the new master sees the sockets at fds 3, 4, … in this order
  const passed = opts.sockets.flatMap((s, i) => (s.passed === true ? [3 + i] : []));
  if (passed.length > 0) env[PASSED_FDS_ENV] = JSON.stringify(passed);
  const ownPidVars = ['LISTEN_PID', ...(opts.handWatchdog ? ['WATCHDOG_PID'] : [])];
  env['LISTEN_FDS'] = String(fds.length);
  env['LISTEN_FDNAMES'] = names.join(':');
  // A daemon's new master writes to the daemon's stderr (daemon.stderr) as the old one does: Node's own
  // errors (a module it cannot load) and a failed exec of node are said only there
  const out = opts.daemon ? 'ignore' : 'inherit';
  const errMark = opts.readStderr ? markStderr() : null;
  // Detached: the new master must outlive the old one, in a session of its own. The channel stays open:
  // the new master learns that the old one has gone when it closes.
  const outcome = await spawnAndAwaitReport<SuccessorMessage>(
    {
      file: process.execPath,
      args: [...process.execArgv, process.argv[1] ?? '', 'up', '-c', opts.configFile, '--reexec', ...(opts.daemon ? ['--daemon-child'] : [])],
      env,
      stdio: ['ignore', out, 'inherit'],
      passFds: fds,
      ownPidVars,
      keepChannel: true,
      timeoutMs: opts.timeoutMs,
      extend: (m) => {
        const msg = m as SuccessorWaiting | null;
        return msg?.t === 'reexec-waiting' && typeof msg.ms === 'number' ? msg.ms + SUCCESSOR_REPORT_MS : null;
      },
      abandoned: SUCCESSOR_ABANDONED,
      ...(opts.onSpawned ? { onSpawned: opts.onSpawned } : {}),
    },
    (m) => {
      const msg = m as SuccessorMessage | null;
      return msg?.t === 'reexec-ready' || msg?.t === 'reexec-failed' ? msg : null;
    },
  );
  switch (outcome.type) {
    case 'reported':
      if (outcome.report.t === 'reexec-ready') return { ok: true, pid: outcome.report.pid, steering: outcome.report.steering ?? {}, tell: outcome.send };
      // it gave up: make sure it does not linger beside us
      sendSignal(outcome.pid, 'TERM', false);
      return { ok: false, message: outcome.report.message, stderr: '' };
    case 'timeout':
      return { ok: false, message: 'the new master did not report in time', stderr: '' };
    case 'exited':
      return {
        ok: false,
        message: `the new master exited (${outcome.signal ?? `status ${outcome.code ?? '?'}`}) before it was ready`,
        stderr: errMark === null ? '' : stderrSince(errMark),
      };
    case 'error':
      return { ok: false, message: `cannot spawn the new master: ${outcome.message}`, stderr: '' };
    default:
      return assertNever(outcome);
  }
}

/**
 * In the new master: tell the old one how it went (the channel stays open until the old one exits).
 * `onSent`: the message is out (a new master that fails waits for it before it exits).
 */
export function reportToPredecessor(m: SuccessorMessage | SuccessorWaiting, onSent?: () => void): void {
  reportToParent(m, { disconnect: false, ...(onSent ? { onSent } : {}) });
}


/** USR2 in the old master: spawn the successor with the sockets and the lock; once it is ready, drain and exit. */
export class Reexec {
  /** a re-exec is under way: a second USR2 is ignored */
  private underWay = false;
  /** set once a successor has taken over the sockets and the paths (they must then be left in place) */
  handedOver = false;
  /** pid of a successor spawned and not yet ready; 0 when none */
  private successor = 0;

  constructor(
    private readonly o: {
      readonly supervisor: Supervisor;
      readonly logger: Logger;
      readonly configFile: string;
      readonly sockets: () => readonly { readonly fd: number; readonly name: string; readonly passed?: boolean }[];
      readonly socketFiles: () => readonly string[];
      readonly lockFds: () => readonly number[];
      readonly daemon: boolean;
      /** drover's own log goes to stderr (`logfile = /dev/stderr`): a failed new master's stderr is not read back */
      readonly stderrIsLog?: boolean;
      /** whether this master keeps systemd's watchdog (the new one takes it over) */
      readonly ownsWatchdog?: () => boolean;
      /**
       * the new master is ready and takes over: from now on it speaks for the service; resolves once the
       * balanced sockets' steering is handed over (this master's workers still accept meanwhile)
       */
      readonly onHandedOver?: (steering: SteeringView) => Promise<void>;
      /** a QUIT came during the re-exec: this master stops, the successor `pid` (not ready yet) carries on */
      readonly onCarriesOn?: (pid: number) => void;
    },
  ) {}

  /** SIGUSR2. */
  begin(): void {
    const { supervisor, logger } = this.o;
    if (process.pid === 1) {
      // the old master exits once the new one runs, and a PID namespace ends with its PID 1: the kernel
      // would SIGKILL the new master and every program with it
      logger.warn('SIGUSR2: drover is PID 1 here, and a re-exec would end the container with the old master; ignored (SIGHUP reloads the config and rolls the workers)');
      return;
    }
    if (hasControllingTerminal()) {
      // the new master runs detached, in a session of its own, and the old one exits: the shell would get its
      // prompt back while the new master and every program ran on, printing into the terminal, out of
      // Ctrl-C's reach (as WINCH, src/prefork/workers.ts, the terminal decides)
      logger.warn("SIGUSR2 ignored: drover runs on a terminal, where the new master would run on detached, out of Ctrl-C's reach; SIGHUP reloads the programs and workers with no dropped request, and with -d, under systemd or in a container without a tty USR2 re-executes");
      return;
    }
    const previous = supervisor.predecessor.pid;
    if (previous !== 0 && processEnded(previous)) {
      // it has exited, but the close of its IPC channel (which this master takes for its exit) is not read
      // yet: the USR2 goes through the queue again once it has been
      supervisor.predecessor.whenReleased(() => supervisor.push({ type: 'signalReceived', signal: 'USR2' }));
      return;
    }
    if (previous !== 0) {
      // this master's own predecessor is still stopping the programs it has not handed over: a successor now
      // would start them all again beside it once this master had gone (two copies of each until it exits)
      logger.warn(`SIGUSR2: the previous master (pid ${previous}) has not exited yet (it is stopping its programs); ignored: send SIGUSR2 again once it has gone`);
      return;
    }
    if (this.underWay || supervisor.mood !== 'running') {
      logger.warn('SIGUSR2: a re-exec is already under way or not possible now; ignored');
      return;
    }
    this.underWay = true;
    logger.info('SIGUSR2: re-executing the master; the sockets stay open');
    void spawnSuccessor({
      configFile: this.o.configFile,
      sockets: this.o.sockets(),
      socketFiles: this.o.socketFiles(),
      lockFds: this.o.lockFds(),
      daemon: this.o.daemon,
      env: process.env,
      handWatchdog: this.o.ownsWatchdog?.() ?? false,
      timeoutMs: SUCCESSOR_START_MS,
      readStderr: !this.o.stderrIsLog,
      onSpawned: (pid) => (this.successor = pid),
    })
      .then(async (r) => {
        this.successor = 0;
        if (!r.ok) {
          const said = r.stderr === '' ? '' : `; the new master's stderr ended with:\n    ${r.stderr.replace(/\n/g, '\n    ')}`;
          if (supervisor.mood === 'running') logger.error(`SIGUSR2: ${r.message}; this master keeps running${said}`);
          else logger.info(`SIGUSR2: ${r.message}; this master goes on stopping${said}`);
          return;
        }
        this.handedOver = true;
        logger.info(`SIGUSR2: the new master (pid ${r.pid}) is ready; draining and exiting`);
        await this.o.onHandedOver?.(r.steering);
        r.tell(STEERING_HANDED_OVER);
        await supervisor.command({ type: 'shutdown', fast: false });
      })
      .catch((err: unknown) => logger.error(`re-exec failed: ${(err as Error).message}`))
      .finally(() => {
        this.underWay = false;
        this.successor = 0;
      });
  }

  /**
   * A shutdown began (TERM, INT, `drover down`): a successor still getting ready is stopped too. It would
   * otherwise take over once this master had gone and start every program again: a TERM during a USR2
   * must leave no drover running (a service manager's stop). QUIT is gunicorn's end of its upgrade
   * (USR2, WINCH, QUIT to the old master): this master stops and the successor carries on, taking the
   * sockets, the control socket and the pidfile over when this master has gone (takeOverAlone), so
   * they are left in place as after a hand-over.
   */
  shutdownBegun(cause: string | null): void {
    if (this.successor === 0 || this.handedOver) return;
    if (cause === 'SIGQUIT') {
      this.o.logger.info(`SIGQUIT during a re-exec: this master stops; the new master (pid ${this.successor}) carries on and takes over`);
      this.handedOver = true;
      this.o.onCarriesOn?.(this.successor);
      return;
    }
    this.o.logger.info(`shutting down during a re-exec: stopping the new master (pid ${this.successor}) too`);
    sendSignal(this.successor, 'TERM', false);
    this.successor = 0;
  }
}

/**
 * In the new master: start what serves the inherited sockets first and report to the old master once those
 * processes run (it drains then); start everything else once the old master has gone — its IPC channel
 * closes when it exits. `predecessorGone` runs first then (the journal is loaded); a message it returns stops
 * this master.
 */
export function takeOver(
  supervisor: Supervisor,
  o: {
    readonly logger: Logger;
    /**
     * the socket-serving processes run: take the control listeners over (listen on the inherited TCP ones,
     * move the staged unix ones onto their paths); resolves with why it could not, or null
     */
    readonly publish: () => Promise<string | null>;
    /** writes `pid` to the pidfile; returns why it could not, or null */
    readonly writePidfile: (pid: number) => string | null;
    /**
     * called once the socket-serving processes run and the listeners are published (`ok`), or failed,
     * just before the report; never with `ok` once this master has been told to stop
     */
    readonly onReady: (ok: boolean) => void;
    /**
     * a stop (TERM, INT, QUIT) came while this master started, before its signals were handled: it takes
     * nothing over and starts no program (the old master, stopping, sent it)
     */
    readonly stopFirst: string | null;
    readonly predecessorGone: () => string | null;
    /** the balanced sockets' steering this master adopted, for the ready report */
    readonly steeringView: () => SteeringView;
    /** the old master handed the steering lists over (or has gone): write them from now on */
    readonly takeSteering: () => void;
    /** how long the serving processes may take to run (`reexec_timeout`) */
    readonly timeoutMs: number;
  },
): void {
  // A successor told to stop before it took over (the old master's shutdown stops it: Reexec.shutdownBegun)
  // speaks for nothing: no MAINPID=, no READY=1, no program started, no control socket or pidfile taken.
  // Under systemd a MAINPID= now would name a process that exits while the old master still stops.
  if (o.stopFirst !== null) {
    o.logger.info(`SIG${o.stopFirst} came before this new master took over: it takes nothing over and starts no program`);
    supervisor.start(() => false);
    o.onReady(false);
    reportToPredecessor({ t: 'reexec-failed', message: `the new master was told to stop (SIG${o.stopFirst}) before it took over` });
    return;
  }
  const serving = (spec: ProcessSpec): boolean => spec.sockets.length > 0;
  // the old master, this one's parent until it exits (it spawns this one directly, through an exec that keeps
  // the pid): the pidfile names it again when the hand-over fails after the pidfile was written
  const predecessor = process.ppid;
  supervisor.start(serving);
  // what the old master may still run and this one starts once it has gone: not to be started before
  // (status says so; a start is refused), nor a USR2 taken (core/predecessor.ts)
  const held = supervisor.snapshot().filter((p) => !serving(p.spec) && p.record.state === 'stopped' && !supervisor.keptStopped(p) && supervisor.waitingFor(p.key).waiting === null);
  supervisor.predecessor.hold(predecessor, held.map((p) => p.key));
  reportToPredecessor({ t: 'reexec-waiting', ms: o.timeoutMs });
  let tookOver = false;
  // the old master died before this one took over: it is the only master, whatever its workers do
  let orphaned = false;
  let published: Promise<string | null> | null = null;
  const publishOnce = (): Promise<string | null> => (published ??= o.publish());
  const ready = (ok: boolean): void => {
    if (tookOver) return;
    tookOver = ok;
    o.onReady(ok);
  };
  void waitForRunning(supervisor, serving, o.timeoutMs).then(async (awaited) => {
    // a stop may have come in the turns since
    const outcome = supervisor.mood === 'running' ? awaited : 'stopping';
    if (orphaned) return;
    // The pidfile before the control socket: a pidfile this master cannot write fails the hand-over (as
    // gunicorn's new master dies on a pidfile error), and the old master, which then keeps running, must
    // still answer at the control socket's path (a socket moved onto it cannot be moved back)
    const unwritten = outcome === 'running' ? o.writePidfile(process.pid) : null;
    const unpublished = outcome === 'running' && unwritten === null ? await publishOnce() : null;
    if (orphaned) return;
    const ok = outcome === 'running' && unwritten === null && unpublished === null && supervisor.mood === 'running';
    if (!ok && outcome === 'running' && unwritten === null) o.writePidfile(predecessor);
    ready(ok);
    const why =
      unwritten !== null
        ? `the new master cannot take the pidfile over, so it does not take over: ${unwritten}`
        : unpublished !== null
          ? `the new master cannot take the control socket over: ${unpublished}`
          : outcome === 'fatal'
            ? 'its workers could not start (FATAL)'
            : outcome === 'stopping' || outcome === 'running'
              ? 'the new master was told to stop before it took over'
              : `its workers did not become ready within ${o.timeoutMs / 1000} s (reexec_timeout)`;
    reportToPredecessor(ok ? { t: 'reexec-ready', pid: process.pid, steering: o.steeringView() } : { t: 'reexec-failed', message: why });
  });
  /** The old master has gone first: take the control socket and the pidfile over now, or nobody answers. */
  const takeOverAlone = (): void => {
    orphaned = true;
    o.logger.warn('the old master has gone before this one was ready: this master takes the control socket and the pidfile over now');
    void publishOnce().then((why) => {
      if (why !== null) o.logger.error(`the old master has gone, and this master cannot take the control socket over: ${why}`);
      const ok = why === null && supervisor.mood === 'running';
      // the only master now: without a pidfile it still supervises (as supervisord runs on), and says so
      const unwritten = ok ? o.writePidfile(process.pid) : null;
      if (unwritten !== null) o.logger.log('critical', `${unwritten}; running without it (the old master has gone)`);
      ready(ok);
    });
  };
  let steering = false;
  const takeSteering = (): void => {
    if (steering) return;
    steering = true;
    o.takeSteering();
  };
  // the old master gave up on this one (SIGTERM follows): its channel's close is not its exit
  let abandoned = false;
  process.on('message', (m: unknown) => {
    const t = (m as { t?: unknown } | null)?.t;
    if (t === STEERING_HANDED_OVER.t) takeSteering();
    else if (t === SUCCESSOR_ABANDONED.t) abandoned = true;
  });
  const predecessorExited = (): void => {
    supervisor.predecessor.release();
    // stopped before it took over: the old master kept (and cleaned up) the socket files; nothing to start
    if (abandoned || (!tookOver && supervisor.mood !== 'running')) return;
    takeSteering();
    const problem = o.predecessorGone();
    if (problem !== null) {
      o.logger.error(`${problem}; stopping`);
      void supervisor.command({ type: 'shutdown', fast: false });
      return;
    }
    if (!tookOver) takeOverAlone();
    supervisor.startRemaining();
  };
  // the old master may have gone already (killed while this one read its config or ran on_starting): its
  // channel closed then, and 'disconnect' is not emitted again; the held programs would stay held for good
  if (process.connected) process.once('disconnect', predecessorExited);
  else predecessorExited();
}

// --- internal ---

/** How long a new master may take to read its config and start its serving processes, before it says how long it will wait for them. */
const SUCCESSOR_START_MS = 60_000;
/** After that wait, how long its report may take to arrive (the old master then gives up on it). */
const SUCCESSOR_REPORT_MS = 10_000;

/**
 * Resolves 'running' once every process matching `which` that should run is running, 'fatal' when one is,
 * 'stopping' when a shutdown begins first (this master was told to stop), or 'timeout'. One an operator
 * stopped (or autostart=false, never started) is not waited for: `start` left it stopped.
 */
function waitForRunning(supervisor: Supervisor, which: (spec: ProcessSpec) => boolean, timeoutMs: number): Promise<'running' | 'fatal' | 'stopping' | 'timeout'> {
  return new Promise((resolve) => {
    const check = (): 'running' | 'fatal' | 'stopping' | null => {
      if (supervisor.mood !== 'running') return 'stopping';
      const mine = supervisor.snapshot().filter((p) => which(p.spec) && !supervisor.keptStopped(p));
      if (mine.every((p) => p.record.state === 'running')) return 'running';
      if (mine.some((p) => p.record.state === 'fatal')) return 'fatal';
      return null;
    };
    const first = check();
    if (first !== null) {
      resolve(first);
      return;
    }
    const timer = setTimeout(() => {
      off();
      resolve('timeout');
    }, timerDelay(timeoutMs));
    const off = supervisor.onChange(() => {
      const r = check();
      if (r === null) return;
      clearTimeout(timer);
      off();
      resolve(r);
    });
  });
}

function assertNever(x: never): never {
  throw new Error(`unhandled case ${JSON.stringify(x)}`);
}
