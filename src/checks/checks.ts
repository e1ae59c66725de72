// The checks drover runs on programs: `ready =` while a process is STARTING, `healthcheck =` while it is
// RUNNING. Probes run here, outside the reducer, on their own timers; each verdict goes onto the supervisor's
// one queue (Supervisor.report), tagged with the spawn it is about, and the reducer decides what it means
// (RUNNING, or after healthcheck_retries failures a restart). A `log:` check reads the program's lines from
// the log sink; a `notify` check gives the process a NOTIFY_SOCKET (core's LaunchEnv seam) and reads it.
import type { GroupGuard } from '../os/check-command.js';
import { timerDelay } from '../os/timers.js';
import { describeCheck } from '../config/checks.js';
import type { CheckSpec, ProcessSpec } from '../config/types.js';
import type { LaunchEnv } from '../core/launcher.js';
import type { Supervisor } from '../core/supervisor.js';
import type { ChangeEvent } from '../core/types.js';
import type { Logger } from '../logs/logger.js';
import { NotifySocket } from './notify-socket.js';
import { probe, type CheckOutcome } from './probes.js';

/** A process's output lines as they come (src/logs/sink.ts). */
export interface LineSource {
  watchLines(key: string, onLines: (lines: Buffer) => void): () => void;
}

export interface ChecksOptions {
  readonly logger: Logger;
  readonly lines: LineSource;
  /** the orphan guard, given an exec check's process group while it runs (null: none, pdeathsig alone) */
  readonly guard?: GroupGuard | null;
}

/** How often a notify socket is read once its process is ready: it only has to be kept from filling up. */
const NOTIFY_DRAIN_MS = 1000;

/** The checks of one process, while it is STARTING (ready) or RUNNING (health). */
interface Watch {
  readonly key: string;
  /** the spawn count of the process checked: verdicts about an earlier process are dropped by core */
  readonly spawn: number;
  readonly phase: 'ready' | 'health';
  /** the next attempt; null while one runs, or when done */
  timer: NodeJS.Timeout | null;
  /** set when the watch ends: attempts still running are ignored */
  ended: boolean;
  /** unsubscribes from the program's lines (log checks); null otherwise */
  unwatch: (() => void) | null;
  /** cancels the attempt under way (a running exec check's command is killed); null when none runs */
  cancel: AbortController | null;
  /** why the last attempt failed, for the log when ready_timeout passes; null when none failed */
  lastError: string | null;
}

export class Checks implements LaunchEnv {
  private supervisor: Supervisor | null = null;
  /** by process key */
  private readonly watches = new Map<string, Watch>();
  /** NOTIFY_SOCKETs by process key, bound at the first spawn and kept while the process is configured */
  private readonly notifySockets = new Map<string, NotifySocket>();
  /** reads the notify sockets of processes that are past starting, so their queues never fill; null when none */
  private drainTimer: NodeJS.Timeout | null = null;

  constructor(private readonly o: ChecksOptions) {}

  /** Follows the supervisor's state changes: checks begin and end with the states they belong to. */
  watch(supervisor: Supervisor): void {
    this.supervisor = supervisor;
    supervisor.onChange((e) => this.changed(e));
    // a shutdown ends the health checks: a program stopped before another it checks (a dependency) would
    // only fill the log with failures that mean nothing (core ignores their verdicts then too)
    supervisor.onMoodChange((mood) => {
      if (mood === 'running') return;
      for (const [key, w] of [...this.watches]) if (w.phase === 'health') this.end(key);
    });
  }

  /** NOTIFY_SOCKET for a `ready = notify` process, bound now (before the spawn) if it is not yet. */
  envFor(key: string, spec: ProcessSpec): Readonly<Record<string, string>> {
    if (spec.ready?.type !== 'notify') return {};
    let socket = this.notifySockets.get(key);
    try {
      if (!socket) {
        socket = new NotifySocket();
        this.notifySockets.set(key, socket);
        this.drainTimer ??= setInterval(() => this.drainNotifySockets(), NOTIFY_DRAIN_MS).unref();
      }
      socket.discard(); // whatever an earlier process sent is not about this one
    } catch (err) {
      // the native layer is missing, or the socket cannot be made: the process starts without one and
      // its ready_timeout ends the wait, with this reason in the log
      this.o.logger.error(`${spec.name}: cannot give it a NOTIFY_SOCKET: ${(err as Error).message}`);
      return {};
    }
    return { NOTIFY_SOCKET: socket.address };
  }

  /** Ends every check and closes the notify sockets (drover is exiting). */
  close(): void {
    for (const key of [...this.watches.keys()]) this.end(key);
    for (const s of this.notifySockets.values()) s.close();
    this.notifySockets.clear();
    if (this.drainTimer) clearInterval(this.drainTimer);
    this.drainTimer = null;
  }

  // --- internal ---

  private changed(e: ChangeEvent): void {
    const entry = this.supervisor?.table.get(e.key);
    const previous = this.watches.get(e.key);
    if (previous?.phase === 'ready' && e.step.to === 'stopping' && e.record.stopCause === 'readyTimeout') {
      this.o.logger.warn(`${e.name}: last ready check: ${previous.lastError ?? 'no answer yet'}`);
    }
    this.end(e.key);
    if (!entry) return;
    const { spec } = entry;
    if (e.step.to === 'starting' && spec.ready !== null) this.begin(e.key, e.record.spawns, 'ready', spec.ready, spec);
    else if (e.step.to === 'running' && spec.healthcheck !== null && this.supervisor?.mood === 'running') this.begin(e.key, e.record.spawns, 'health', spec.healthcheck, spec);
  }

  private begin(key: string, spawn: number, phase: Watch['phase'], check: CheckSpec, spec: ProcessSpec): void {
    const w: Watch = { key, spawn, phase, timer: null, ended: false, unwatch: null, cancel: null, lastError: null };
    this.watches.set(key, w);
    const intervalMs = (phase === 'ready' ? spec.readyIntervalSecs : spec.healthcheckIntervalSecs) * 1000;
    switch (check.type) {
      case 'log': {
        const text = Buffer.from(check.text);
        w.unwatch = this.o.lines.watchLines(key, (lines) => {
          // TEXT holds no newline, so a match never spans two lines
          if (!w.ended && lines.includes(text)) this.pass(w, `a line contains ${JSON.stringify(check.text)}`);
        });
        break;
      }
      case 'notify':
        // the process is spawned right after this change: its first read is one interval away
        this.schedule(w, intervalMs, () => this.readNotify(w, spec, intervalMs));
        break;
      case 'tcp':
      case 'http':
      case 'exec':
        // ready checks start as soon as the process exists; health checks one interval into RUNNING
        this.schedule(w, phase === 'ready' ? 0 : intervalMs, () => this.attempt(w, check, spec, intervalMs));
        break;
      default:
        assertNever(check);
    }
  }

  private schedule(w: Watch, ms: number, run: () => void): void {
    if (w.ended) return;
    w.timer = setTimeout(run, timerDelay(ms));
  }

  private attempt(w: Watch, check: CheckSpec, spec: ProcessSpec, intervalMs: number): void {
    w.timer = null;
    const cancel = new AbortController();
    w.cancel = cancel;
    const onResult = (r: CheckOutcome): void => {
      if (w.cancel === cancel) w.cancel = null;
      if (w.ended) return;
      if (r.ok) {
        if (w.phase === 'ready') return this.pass(w, `${describeCheck(check)}: ${r.detail}`);
        this.supervisor?.report(w.key, w.spawn, { type: 'healthCheckPassed' });
      } else {
        w.lastError = r.error;
        if (w.phase === 'health') this.healthFailed(w, spec, r.error);
      }
      this.schedule(w, intervalMs, () => this.attempt(w, check, spec, intervalMs));
    };
    // a probe resolves with its failure; anything thrown is a bug: say so (this watch stops), never crash drover
    const onBug = (err: unknown): void => {
      this.o.logger.error(`${spec.name}: the ${w.phase} check ${describeCheck(check)} failed unexpectedly: ${(err as Error).stack ?? String(err)}`);
    };
    // an exec check runs as the program would now (its user, HOME, USER, LOGNAME and environment)
    const runAs = this.supervisor?.runAs(spec) ?? { refused: 'drover is not supervising it' };
    probe(check, spec, runAs, spec.healthcheckTimeoutSecs * 1000, cancel.signal, this.o.guard).then(onResult).catch(onBug);
  }

  private healthFailed(w: Watch, spec: ProcessSpec, error: string): void {
    const record = this.supervisor?.table.get(w.key)?.record;
    const inRow = (record?.healthFailures ?? 0) + 1;
    this.o.logger.warn(`${spec.name}: health check ${describeCheck(spec.healthcheck as CheckSpec)} failed (${inRow} of ${spec.healthcheckRetries} in a row): ${error}`);
    this.supervisor?.report(w.key, w.spawn, { type: 'healthCheckFailed', error });
  }

  private pass(w: Watch, how: string): void {
    // the move to RUNNING ends this watch; until then nothing more is reported
    w.ended = true;
    this.supervisor?.report(w.key, w.spawn, { type: 'readyReported', how });
  }

  private readNotify(w: Watch, spec: ProcessSpec, intervalMs: number): void {
    const socket = this.notifySockets.get(w.key);
    const pid = this.supervisor?.table.get(w.key)?.record.pid ?? null;
    if (w.ended) return;
    if (!socket) {
      w.lastError = 'it has no NOTIFY_SOCKET (see the error above)';
      return;
    }
    let r: ReturnType<NotifySocket['read']>;
    try {
      r = socket.read(pid);
    } catch (err) {
      // recvmsg failing on a socket drover holds is not expected: keep supervising, say why readiness stalls
      this.o.logger.error(`${spec.name}: cannot read its NOTIFY_SOCKET: ${(err as Error).message}`);
      w.lastError = `cannot read its NOTIFY_SOCKET: ${(err as Error).message}`;
      return;
    }
    for (const why of r.ignored) this.o.logger.warn(`${spec.name}: NOTIFY_SOCKET: ignored ${why}`);
    if (r.readyFrom !== null) return this.pass(w, `READY=1 from pid ${r.readyFrom}${r.status ? ` (STATUS=${r.status})` : ''}`);
    if (r.status !== null) w.lastError = `not READY=1 yet; STATUS=${r.status}`;
    this.schedule(w, intervalMs, () => this.readNotify(w, spec, intervalMs));
  }

  /** Keeps the notify sockets of processes past starting from filling up; closes those of removed processes. */
  private drainNotifySockets(): void {
    for (const [key, socket] of this.notifySockets) {
      const entry = this.supervisor?.table.get(key);
      if (!entry || entry.spec.ready?.type !== 'notify') {
        socket.close();
        this.notifySockets.delete(key);
      } else if (this.watches.get(key)?.phase !== 'ready') {
        try {
          socket.read(entry.record.pid);
        } catch (err) {
          this.o.logger.error(`${entry.spec.name}: cannot read its NOTIFY_SOCKET: ${(err as Error).message}`);
        }
      }
    }
  }

  private end(key: string): void {
    const w = this.watches.get(key);
    if (!w) return;
    w.ended = true;
    if (w.timer) clearTimeout(w.timer);
    // an attempt under way is no longer wanted: its command must not run on for a process that is gone
    w.cancel?.abort();
    w.unwatch?.();
    this.watches.delete(key);
  }
}

function assertNever(x: never): never {
  throw new Error(`unhandled check ${JSON.stringify(x)}`);
}
