// Following a program that forks a daemon and exits (`pidfile =`): after the launcher exits with an expected
// code, poll its pidfile, adopt the pid it names — only one that descends from the launcher and, with
// `user=`, runs as that user (docs/security.md, 6) — and poll that pid until it is gone. It is not our child,
// so there is no exit event to wait for.
import type { OrphanGuard } from '../os/guard.js';
import { followRefusal } from '../os/follow-check.js';
import { readPidfile } from '../os/pidfile.js';
import { readStat } from '../os/proc.js';
import { leaveToFollower, reapFollowed, releaseFromFollower } from '../os/reaper.js';
import { processEnded } from '../os/spawn.js';
import { lookupUser } from '../os/users.js';
import type { CoreHost } from './_host.js';
import type { ProcessEntry } from './table.js';
import type { SupervisorEvent } from './types.js';

/** How often a followed pid is checked: prompt restarts at negligible cost. */
const FOLLOW_POLL_MS = 100;
/** How often the pidfile is read while waiting for the daemon to write it. */
const PIDFILE_POLL_MS = 50;

export class Follower {
  constructor(
    private readonly host: CoreHost,
    private readonly guard: OrphanGuard | null,
  ) {}

  /**
   * Polls the pidfile for up to max(startsecs, 3) s after a launcher exits, then reports what it found: a
   * pid that descends from the launcher and, with `user=`, runs as that user (whoever writes the pidfile
   * must not choose what root signals), or null with the reason the last pid read was refused.
   */
  waitForPidfile(entry: ProcessEntry, launcherPid: number): void {
    entry.follow = null;
    const file = entry.spec.pidfile as string;
    const deadline = Date.now() + Math.max(entry.spec.startSecs, 3) * 1000;
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
      if (Date.now() >= deadline) {
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
    if (ev.pid === null) {
      if (ev.refused !== null) logger.warn(`${entry.spec.name}: launcher exited; not following the pid in ${entry.spec.pidfile ?? ''}: ${ev.refused}`);
      else logger.warn(`${entry.spec.name}: launcher exited but pidfile ${entry.spec.pidfile ?? ''} names no live process`);
      this.host.dispatch(entry, { type: 'childExited', code: null, signal: null });
      return;
    }
    entry.followedPid = ev.pid;
    entry.followedPgid = readStat(ev.pid)?.pgrp ?? ev.pid;
    leaveToFollower(ev.pid); // its exit status is this program's: the orphan scans leave it to us
    this.guard?.add(entry.followedPgid, readStat(entry.followedPgid)?.startTicks ?? 0);
    logger.info(`${entry.spec.name}: following pid ${ev.pid} from ${entry.spec.pidfile ?? ''}`);
    this.host.dispatch(entry, { type: 'pidFollowed', pid: ev.pid });
    const pid = ev.pid;
    const poll = (): void => {
      if (!processEnded(pid)) entry.follow = setTimeout(poll, FOLLOW_POLL_MS);
      else this.host.push({ type: 'followedPidGone', key: entry.key, pid });
    };
    entry.follow = setTimeout(poll, FOLLOW_POLL_MS);
  }

  /** The followed daemon is gone: that is the program's exit. */
  followedPidGone(ev: Extract<SupervisorEvent, { type: 'followedPidGone' }>): void {
    const entry = this.host.table.get(ev.key);
    if (!entry || entry.followedPid !== ev.pid) return;
    this.guard?.remove(entry.followedPgid);
    this.stopFollowing(entry);
    // drover adopted it (PID 1, or subreaper): its status is known; otherwise "exit status unknown"
    const ended = reapFollowed(ev.pid);
    this.host.dispatch(entry, { type: 'childExited', code: ended?.code ?? null, signal: ended?.signal ?? null });
  }

  stopFollowing(entry: ProcessEntry): void {
    if (entry.follow) clearTimeout(entry.follow);
    if (entry.followedPid !== 0) releaseFromFollower(entry.followedPid);
    entry.follow = null;
    entry.followedPid = 0;
    entry.followedPgid = 0;
  }
}
