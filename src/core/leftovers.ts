// What an ended process left behind. With killasgroup, its group and the descendants a stop recorded are
// SIGKILLed at once; in a stop whose signal went to the whole group (stopasgroup), what is left when the
// leader exits first gets the rest of stopwaitsecs to finish. Those groups are held here until they are
// empty or their grace ends: a graceful shutdown is not over while one is (Shutdown asks `countStopping`),
// and a fast one kills them at once. Without killasgroup, a program that seems to daemonize itself is
// warned about.
import type { ProcessSpec } from '../config/types.js';
import { steadyNowMs } from '../os/clock.js';
import type { OrphanGuard } from '../os/guard.js';
import { findLeftBehind, type GoneProcess } from '../os/leftovers.js';
import { readStat, type ProcStat } from '../os/proc.js';
import { groupHasMembers, sendSignal } from '../os/spawn.js';
import { timerDelay } from '../os/timers.js';
import type { CoreHost } from './_host.js';
import type { GoneExit, ProcessEntry } from './table.js';

/** A group given the rest of its stopwaitsecs. */
interface Stopping {
  readonly name: string;
  readonly gone: GoneExit;
  /** what was found left when the leader exited (members that left the group are waited for too) */
  readonly found: readonly ProcStat[];
  /** the SIGKILL at the end of the grace, through the queue */
  readonly timer: NodeJS.Timeout;
}

export class Leftovers {
  /** groups within their grace, by group id (the ended leader's pid); empty most of the time */
  private readonly stopping = new Map<number, Stopping>();

  constructor(
    private readonly host: CoreHost,
    private readonly guard: OrphanGuard | null,
    /** the process table of this turn (shared with the launcher's reads) */
    private readonly procTable: () => ProcStat[],
  ) {}

  /** killasgroup: kill what the ended leader left (its group, recorded descendants) before any respawn. */
  sweep(spec: ProcessSpec, gone: GoneExit): void {
    if (!this.mayHaveLeftovers(spec, gone)) return;
    // only what is provably its own: the group, the session, the descendants a stop recorded
    const leftovers = this.leftBehind(gone, false);
    if (leftovers.length === 0) return;
    const graceMs = gone.graceUntilMs === null ? 0 : gone.graceUntilMs - steadyNowMs();
    if (graceMs <= 0) {
      this.kill(spec.name, gone, 'left behind in its group', leftovers);
      return;
    }
    // stopasgroup, the leader gone first (a shell wrapper dies of the TERM its workers handle): the rest of
    // stopwaitsecs for them, as the leader had; the orphan guard keeps the group until then
    this.host.logger.info(`${spec.name}: ${leftovers.length} process(es) of its group still stopping (${pidsOf(leftovers)}); SIGKILL in ${(graceMs / 1000).toFixed(1)} s if they have not exited`);
    this.forget(gone.pid); // a group id given again: the old group is empty, or it would not be free
    this.guard?.add(gone.pid, gone.startTicks);
    // timerDelay: a stopwaitsecs past 24.8 days would otherwise fire after 1 ms (docs/decisions.md)
    const timer = setTimeout(() => this.host.push({ type: 'leftoversDue', pgid: gone.pid }), timerDelay(graceMs));
    this.stopping.set(gone.pid, { name: spec.name, gone, found: leftovers, timer });
  }

  /** The grace of group `pgid` has ended (its timer, through the queue): SIGKILL what is still there. */
  due(pgid: number): void {
    const s = this.stopping.get(pgid);
    if (s === undefined) return; // ended, or killed by a fast shutdown, after the timer was queued
    this.forget(pgid);
    this.kill(s.name, s.gone, 'still running after stopwaitsecs');
  }

  /**
   * How many groups are still within their grace with a process left; those found empty are forgotten.
   * Learnt from the kernel each time it is asked (after every event of a shutdown): the last of a group to
   * exit is an orphan of drover's (a subreaper or PID 1), so its end is a SIGCHLD, an event.
   */
  countStopping(): number {
    for (const [pgid, s] of this.stopping) if (!isStillThere(s)) this.forget(pgid);
    return this.stopping.size;
  }

  /** A fast shutdown, or the last resort: SIGKILL every group still within its grace, now. */
  killAll(why: string): void {
    for (const [pgid, s] of this.stopping) {
      this.forget(pgid);
      this.kill(s.name, s.gone, why);
    }
  }

  /** Without killasgroup: warn about a program that left processes behind, as a self-daemonizing one does. */
  warnIfDaemonized(spec: ProcessSpec, gone: GoneExit): void {
    if (gone.requested || !this.mayHaveLeftovers(spec, gone)) return;
    const leftovers = this.leftBehind(gone, true);
    if (leftovers.length === 0) return;
    const pids = leftovers.map((p) => `${p.pid} (${p.comm})`).join(', ');
    this.host.logger.warn(
      `${spec.name}: exited but left ${pids} running: the program seems to daemonize itself. ` +
        `Run it in the foreground (e.g. nginx "daemon off;", redis "daemonize no") or set pidfile= so drover follows it.`,
    );
  }

  // --- internal ---

  /** SIGKILLs what the ended leader `gone` left: its group and the descendants a stop recorded. */
  private kill(name: string, gone: GoneExit, why: string, found?: readonly ProcStat[]): void {
    const leftovers = found ?? this.leftBehind(gone, false);
    if (leftovers.length === 0) return;
    this.host.logger.warn(`${name}: killing ${leftovers.length} process(es) ${why}: ${pidsOf(leftovers)}`);
    sendSignal(gone.pid, 'KILL', true);
    for (const p of leftovers) if (p.pgrp !== gone.pid) sendSignal(p.pid, 'KILL', false);
  }

  /** Stops waiting for group `pgid`: its timer cancelled, the orphan guard told. */
  private forget(pgid: number): void {
    const s = this.stopping.get(pgid);
    if (s === undefined) return;
    clearTimeout(s.timer);
    this.stopping.delete(pgid);
    this.guard?.remove(pgid);
  }

  /**
   * Whether an ended process can have left anything behind, so that the full /proc scan is worth it: its
   * group still has members, a stop recorded descendants, or it exited soon after starting with an
   * expected code (how a self-daemonizing program looks).
   */
  private mayHaveLeftovers(spec: ProcessSpec, gone: GoneExit): boolean {
    const quickExpected =
      !gone.requested && gone.code !== null && spec.exitCodes.includes(gone.code) && steadyNowMs() - gone.startedAtMs < (spec.startSecs + 1) * 1000;
    return groupHasMembers(gone.pid) || gone.snapshot.length > 0 || quickExpected;
  }

  private leftBehind(gone: GoneProcess, sameExecutable: boolean): ProcStat[] {
    return findLeftBehind(gone, this.procTable(), { sameExecutable });
  }
}

/**
 * What is known of `entry`'s process as it ends, for the sweep and the warnings: `pid` is the one whose group
 * counts (a spawned process, or a followed daemon's group), `startTicks` its start time (0 when unknown).
 */
export function goneExit(entry: ProcessEntry, pid: number, startTicks: number, code: number | null): GoneExit {
  const { spec, record } = entry;
  const requested = record.stopRequested;
  return {
    pid,
    snapshot: entry.stopSnapshot,
    startTicks,
    executable: entry.executable,
    processName: spec.name,
    startedAtMs: record.startedAtMs ?? 0,
    requested,
    code,
    graceUntilMs: requested && spec.stopAsGroup && record.stopCause === 'requested' ? record.changedAtMs + spec.stopWaitSecs * 1000 : null,
  };
}

/**
 * Feeds the end of `entry`'s process to the reducer with `gone` on the entry meanwhile (its sweepLeftovers
 * effect reads it there), then warns when a stop whose signal went to `signalled` alone left its group
 * running. A spawned process and a followed daemon end through here alike.
 */
export function reportEnd(host: CoreHost, entry: ProcessEntry, gone: GoneExit, exit: { readonly code: number | null; readonly signal: string | null }, signalled: number): void {
  const { spec } = entry;
  // a fast shutdown SIGKILLed the whole group: what still shows in it is dying, not left running
  const groupKilled = entry.record.stopCause === 'fastStop';
  entry.gone = gone;
  const killed = entry.killedPid !== 0 && entry.killedPid === signalled;
  entry.killedPid = 0;
  host.dispatch(entry, { type: 'childExited', code: exit.code, signal: exit.signal, ...(killed ? { killed } : {}) });
  entry.gone = null;
  if (gone.requested && !groupKilled && !spec.stopAsGroup && !spec.killAsGroup && groupHasMembers(gone.pid)) {
    // supervisord leaves them as silently; a stopped program whose children run on deserves a word
    host.logger.warn(`${spec.name}: stopped, but processes of its group still run (its stop signal went to pid ${signalled} only): set stopasgroup = true to stop them with it`);
  }
}

// --- internal ---

/**
 * Whether a group given its grace still has a process: a member (a zombie counts until it is reaped, which
 * drover does on the SIGCHLD of its end), or one found at the sweep outside the group (it left it) that
 * still runs, recognised by its start time.
 */
function isStillThere(s: Stopping): boolean {
  if (groupHasMembers(s.gone.pid)) return true;
  return s.found.some((p) => {
    const now = readStat(p.pid);
    return now !== null && now.startTicks === p.startTicks && now.state !== 'Z';
  });
}

function pidsOf(procs: readonly ProcStat[]): string {
  return procs.map((p) => p.pid).join(', ');
}
