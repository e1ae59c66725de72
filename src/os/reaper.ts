// Reaping adopted orphans. A process whose parent dies is re-parented to the nearest child subreaper among
// its ancestors, or to PID 1 of its PID namespace; that new parent must wait() for it, or it stays a
// zombie holding its pid until the pid table is full. Node waits only for the children it spawned, by
// pid (libuv never calls waitpid(-1)), so drover reaps the others itself: as PID 1 of a container every
// orphan of the namespace, otherwise (as a subreaper) the orphans of its programs.
//
// Never waitpid(-1): it would take exit statuses libuv is waiting for. The candidates are this process's
// children (/proc/self/task/*/children) that are zombies and that Node did not spawn (children.ts), each
// reaped with waitpid(pid, WNOHANG). A scan runs on every SIGCHLD (the kernel sends one to the new parent
// when an adopted orphan exits, and when one is re-parented already dead) and once at start, for zombies
// inherited before drover listened (an entrypoint script's background jobs, exec'd into drover).
import { isSpawnedByNode, recordEverySpawn } from './children.js';
import { becomeSubreaper, reapChild } from './native.js';
import { NativeError } from './libc.js';
import { ownChildren, readStat } from './proc.js';
import { signalName } from './signals.js';

/**
 * Pids a follower watches (a `pidfile =` daemon, re-parented to drover): left for it to reap, so that it
 * learns how its daemon ended. Released when it stops following one.
 */
const leftToFollower = new Set<number>();

/** Leaves `pid` for its follower to reap (`reapFollowed`); scans skip it. */
export function leaveToFollower(pid: number): void {
  leftToFollower.add(pid);
}

/** Gives `pid` back to the scans (its follower no longer watches it). */
export function releaseFromFollower(pid: number): void {
  leftToFollower.delete(pid);
}

/**
 * A followed daemon that has ended: reaped here when drover is its parent (as PID 1 or subreaper it was
 * re-parented to drover), with how it ended; null when drover is not its parent or the native layer is
 * missing (then nobody here can know).
 */
export function reapFollowed(pid: number): { code: number | null; signal: string | null } | null {
  releaseFromFollower(pid);
  try {
    const r = reapChild(pid);
    if (r.state === 'exited') return { code: r.code, signal: null };
    if (r.state === 'signaled') return { code: null, signal: signalName(r.signal) ?? String(r.signal) };
    return null;
  } catch {
    return null; // ECHILD: not our child; E_NATIVE: no native layer
  }
}

/** How this process comes to adopt orphans: it is PID 1 of its namespace, or it made itself a subreaper. */
export type ReaperRole = 'init' | 'subreaper';

/** An orphan reaped by a scan. */
export interface ReapedOrphan {
  readonly pid: number;
  /** its command name, as /proc showed it */
  readonly comm: string;
  /** how it ended, as `drover status` would say it: "exit 0", "signal 9" */
  readonly status: string;
}

export class OrphanReaper {
  /** scans so far, for tests and metrics; 0 before the first */
  scans = 0;
  /** orphans reaped so far */
  reaped = 0;

  private constructor(readonly role: ReaperRole) {}

  /**
   * Starts adopting and reaping: as PID 1, orphans come anyway; otherwise PR_SET_CHILD_SUBREAPER makes them
   * come to this process rather than to the host's init. Records every later spawn of this process first,
   * so that no child Node waits for is ever taken for an orphan. Throws NativeError (or a DroverError
   * E_NATIVE when koffi cannot load) when the native layer cannot do it.
   */
  static start(): OrphanReaper {
    recordEverySpawn();
    const role: ReaperRole = process.pid === 1 ? 'init' : 'subreaper';
    if (role === 'subreaper') becomeSubreaper();
    return new OrphanReaper(role);
  }

  /** Reaps every adopted orphan that has exited; cheap when there is none (one read per thread). */
  reap(): ReapedOrphan[] {
    this.scans += 1;
    const out: ReapedOrphan[] = [];
    for (const pid of ownChildren()) {
      if (isSpawnedByNode(pid) || leftToFollower.has(pid)) continue;
      const st = readStat(pid);
      // null: reaped meanwhile (not by us: nothing else here waits for it, but the scan can race itself)
      if (st === null || st.state !== 'Z') continue;
      let result;
      try {
        result = reapChild(pid);
      } catch (err) {
        // ECHILD: no longer our child (reaped between the stat and the wait)
        if (err instanceof NativeError && err.code === 'ECHILD') continue;
        throw err;
      }
      if (result.state === 'running') continue;
      this.reaped += 1;
      out.push({ pid, comm: st.comm, status: result.state === 'exited' ? `exit ${result.code}` : `signal ${result.signal}` });
    }
    return out;
  }
}
