// Following a program that forks a daemon and exits (`pidfile =`): after the launcher exits with an expected
// code, poll its pidfile, adopt the pid it names — only one that descends from the launcher and, with
// `user=`, runs as that user (docs/security.md, 6) — and poll that pid until it is gone. It is not our child,
// so there is no exit event to wait for. A stop asked for while the pidfile is awaited is held here and
// given to the daemon once it is known; the daemon's end goes through the same leftovers handling as a
// spawned process's (leftovers.ts).
import { steadyNowMs } from '../os/clock.js';
import type { OrphanGuard } from '../os/guard.js';
import { followRefusal } from '../os/follow-check.js';
import { readPidfile } from '../os/pidfile.js';
import { readStat } from '../os/proc.js';
import { leaveToFollower, reapFollowed, releaseFromFollower } from '../os/reaper.js';
import { processEnded } from '../os/spawn.js';
import { lookupUser } from '../os/users.js';
import type { CoreHost } from './_host.js';
import { goneExit, reportEnd } from './leftovers.js';
import type { ProcessEntry } from './table.js';
import type { SupervisorEvent } from './types.js';

/** How often a followed pid is checked: prompt restarts at negligible cost. */
const FOLLOW_POLL_MS = 100;
/** How often the pidfile is read while waiting for the daemon to write it. */
const PIDFILE_POLL_MS = 50;
/** How long a launcher that a stop ended has its pidfile awaited. */
const STOPPING_PIDFILE_WAIT_SECS = 1;

/** A stop or kill signal asked for while no process could take it (the launcher gone, the daemon unknown). */
interface HeldSignal {
  readonly signal: string;
  readonly toGroup: boolean;
}

/** The daemon followed for an entry, beyond its pid and group (ProcessEntry.followedPid, followedPgid). */
interface Followed {
  /** its start time: a pid with another one is not the daemon any more, whatever /proc says */
  readonly startTicks: number;
  /** the start time of its group's leader (0 when the leader is gone), as the orphan guard holds the group */
  readonly pgidStartTicks: number;
}

/** Sends a stop or kill signal to `entry`'s process with group semantics (Launcher.signalForStop). */
export type StopSignaller = (entry: ProcessEntry, signal: string, toGroup: boolean) => void;

export class Follower {
  /** pidfile waits under way, with the signals asked for meanwhile, in order ([] while none) */
  private readonly waits = new WeakMap<ProcessEntry, HeldSignal[]>();
  /** what is known of each followed daemon; no entry while none is followed */
  private readonly followed = new WeakMap<ProcessEntry, Followed>();

  constructor(
    private readonly host: CoreHost,
    private readonly guard: OrphanGuard | null,
    private readonly signalForStop: StopSignaller,
  ) {}

  /**
   * Polls the pidfile for up to max(startsecs, 3) s after a launcher exits, then reports what it found: a
   * pid that descends from the launcher and, with `user=`, runs as that user (whoever writes the pidfile
   * must not choose what root signals), or null with the reason the last pid read was refused.
   */
  waitForPidfile(entry: ProcessEntry, launcherPid: number, stopping = false): void {
    entry.follow = null;
    this.waits.set(entry, []);
    const file = entry.spec.pidfile as string;
    // a launcher a stop ended: a daemon it forked has written its pidfile by now or within moments; a stop
    // does not wait out startsecs for one that never came
    const waitSecs = stopping ? STOPPING_PIDFILE_WAIT_SECS : Math.max(entry.spec.startSecs, 3);
    const deadline = steadyNowMs() + waitSecs * 1000;
    this.host.logger.info(`${entry.spec.name}: launcher exited; waiting up to ${waitSecs} s for its pidfile ${file}`);
    const launcher = { pid: launcherPid, startTicks: entry.spawnedStartTicks };
    // the launcher ran as this user (spawn refuses a user= it cannot switch to), so must its daemon
    const uid = entry.spec.user !== null ? (lookupUser(entry.spec.user)?.uid ?? null) : null;
    let refused: string | null = null;
    const check = (): void => {
      const pid = readPidfile(file);
      // A pidfile left by the previous daemon names a dead (or zombie, when init is slow to reap) process
      // started before this launcher: wait for the new daemon to write its own.
      const st = pid !== null ? readStat(pid) : null;
      if (pid !== null && st !== null && st.state !== 'Z' && st.startTicks >= launcher.startTicks) {
        refused = followRefusal(pid, launcher, uid);
        if (refused === null) {
          this.host.push({ type: 'pidfileChecked', key: entry.key, launcherPid, pid, refused });
          return;
        }
      }
      if (steadyNowMs() >= deadline) {
        this.host.push({ type: 'pidfileChecked', key: entry.key, launcherPid, pid: null, refused });
      } else {
        entry.follow = setTimeout(check, PIDFILE_POLL_MS);
      }
    };
    check();
  }

  /** The pidfile was read (or the wait gave up): follow the pid, or count the launcher's exit as the end. */
  pidfileChecked(ev: Extract<SupervisorEvent, { type: 'pidfileChecked' }>): void {
    const entry = this.host.table.get(ev.key);
    if (!entry) return;
    const { logger } = this.host;
    this.guard?.remove(ev.launcherPid);
    const held = this.waits.get(entry) ?? [];
    this.waits.delete(entry);
    if (ev.pid === null) {
      if (ev.refused !== null) logger.warn(`${entry.spec.name}: launcher exited; not following the pid in ${entry.spec.pidfile ?? ''}: ${ev.refused}`);
      else logger.warn(`${entry.spec.name}: launcher exited but pidfile ${entry.spec.pidfile ?? ''} names no live process`);
      // the launcher's exit is the end: what it left in its group is swept (killasgroup) before a respawn
      const exit = { code: null, signal: null };
      reportEnd(this.host, entry, goneExit(entry, ev.launcherPid, entry.spawnedStartTicks, exit.code), exit, ev.launcherPid);
      return;
    }
    const pid = ev.pid;
    const st = readStat(pid);
    entry.followedPid = pid;
    entry.followedPgid = st?.pgrp ?? pid;
    const followed: Followed = { startTicks: st?.startTicks ?? 0, pgidStartTicks: readStat(entry.followedPgid)?.startTicks ?? 0 };
    this.followed.set(entry, followed);
    leaveToFollower(pid); // its exit status is this program's: the orphan scans leave it to us
    this.guard?.add(entry.followedPgid, followed.pgidStartTicks);
    logger.info(`${entry.spec.name}: following pid ${pid} from ${entry.spec.pidfile ?? ''}`);
    this.host.dispatch(entry, { type: 'pidFollowed', pid });
    // a stop asked for during the wait reaches the daemon now, as it would have reached the launcher (the
    // stop signal, then SIGKILL if stopwaitsecs ran out meanwhile: it counts from the stop, not from here)
    for (const h of held) {
      logger.info(`${entry.spec.name}: SIG${h.signal} to pid ${pid}${h.toGroup ? ' and its group' : ''}: asked for while its pidfile was awaited`);
      this.signalForStop(entry, h.signal, h.toGroup);
    }
    const poll = (): void => {
      if (!this.hasEnded(pid, followed)) entry.follow = setTimeout(poll, FOLLOW_POLL_MS);
      else this.host.push({ type: 'followedPidGone', key: entry.key, pid });
    };
    entry.follow = setTimeout(poll, FOLLOW_POLL_MS);
  }

  /**
   * Holds a stop or kill signal for the daemon whose pidfile `entry` awaits, to be sent once it is known;
   * nothing when no wait is under way (then there is no process to signal at all).
   */
  deferStop(entry: ProcessEntry, signal: string, toGroup: boolean): void {
    this.waits.get(entry)?.push({ signal, toGroup });
  }

  /**
   * The pid a signal to `entry` may reach: the spawned process until its exit is handled, then the daemon
   * followed through its pidfile while it is the same process. null in between: while the pidfile is
   * awaited the record still names the launcher, reaped already, its pid free for another process.
   */
  signalTarget(entry: ProcessEntry): number | null {
    if (entry.spawnedPid !== 0) return entry.spawnedPid;
    const f = this.followed.get(entry);
    return f !== undefined && entry.followedPid !== 0 && !this.hasEnded(entry.followedPid, f) ? entry.followedPid : null;
  }

  /** The followed daemon is gone: that is the program's exit. */
  followedPidGone(ev: Extract<SupervisorEvent, { type: 'followedPidGone' }>): void {
    const entry = this.host.table.get(ev.key);
    if (!entry || entry.followedPid !== ev.pid) return;
    const pgid = entry.followedPgid;
    const pgidStartTicks = this.followed.get(entry)?.pgidStartTicks ?? 0;
    this.guard?.remove(pgid);
    this.stopFollowing(entry);
    // drover adopted it (PID 1, or subreaper): its status is known; otherwise "exit status unknown"
    const ended = reapFollowed(ev.pid);
    const exit = { code: ended?.code ?? null, signal: ended?.signal ?? null };
    // what it left in its group is swept (killasgroup) or warned about, as for a process drover spawned
    reportEnd(this.host, entry, goneExit(entry, pgid, pgidStartTicks, exit.code), exit, ev.pid);
  }

  stopFollowing(entry: ProcessEntry): void {
    if (entry.follow) clearTimeout(entry.follow);
    if (entry.followedPid !== 0) releaseFromFollower(entry.followedPid);
    this.waits.delete(entry);
    this.followed.delete(entry);
    entry.follow = null;
    entry.followedPid = 0;
    entry.followedPgid = 0;
  }

  // --- internal ---

  /** Whether the followed `pid` has ended: gone, a zombie, or its pid now another process's. */
  private hasEnded(pid: number, f: Followed): boolean {
    return processEnded(pid) || (f.startTicks !== 0 && readStat(pid)?.startTicks !== f.startTicks);
  }
}
