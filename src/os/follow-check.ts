// Whether a pid read from a program's pidfile may be followed. Whoever can write the pidfile (with
// `user=`, that user) chooses which process root then signals, together with its process group; so drover
// follows only a process that comes from the launcher and, for a `user=` program, runs as that user
// (docs/security.md, section 6). Linux only: reads /proc.
import { readFileSync } from 'node:fs';
import { DroverError } from '../errors.js';
import { isSpawnedByNode } from './children.js';
import { isSubreaper } from './native.js';
import { groupMembers, listProcesses, readStat, type ProcStat } from './proc.js';

export interface Launcher {
  readonly pid: number;
  /** its start time in clock ticks (with the pid, it identifies the launcher) */
  readonly startTicks: number;
}

/**
 * Why `pid` must not be followed as the daemon of `launcher` (spawned detached, so it led its own
 * session), or null when it may. `uid` is the program's user (null without `user=`): then the process and
 * every member of its process group must run as that uid, real, effective, saved and filesystem ids alike.
 */
export function followRefusal(pid: number, launcher: Launcher, uid: number | null): string | null {
  const st = readStat(pid);
  if (st === null || st.state === 'Z') return `pid ${pid} is not running`;
  const lineage = lineageRefusal(st, launcher);
  if (lineage !== null) return lineage;
  if (uid === null) return null;
  const own = wrongUid(pid, uid);
  if (own !== null) return `pid ${pid} runs as ${own}, not as the program's user (uid ${uid})`;
  for (const member of groupMembers(st.pgrp, listProcesses())) {
    const other = wrongUid(member.pid, uid);
    if (other !== null) return `pid ${pid}'s process group ${st.pgrp} holds pid ${member.pid} (${member.comm}), which runs as ${other}, not as the program's user (uid ${uid})`;
  }
  return null;
}

/** The uids of a process from /proc/PID/status: real, effective, saved, filesystem; null when it is gone. */
export function readUids(pid: number): readonly number[] | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch (err) {
    // ENOENT/ESRCH: the process ended meanwhile
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ESRCH') return null;
    throw err;
  }
  const line = /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$/m.exec(text);
  return line ? line.slice(1, 5).map(Number) : null;
}

// --- internal ---

/** how far up the parent chain to look; daemons are a fork or two below their launcher */
const MAX_DEPTH = 64;

/**
 * Whether `st` descends from the launcher. A daemon leaves the launcher's session (setsid) and is
 * orphaned when its parents exit, and /proc keeps no link to where it came from; so: going up the parents
 * that started since the launcher, one of them is in the launcher's session, or the chain ends at a
 * process that adopts orphans — init, a subreaper above drover (drover's ancestors), or drover itself as
 * a subreaper, for a child it did not spawn (an orphan of one of its programs). A chain that ends at any
 * other older process (sshd, cron, a shell, a program drover spawned) started somewhere else.
 */
function lineageRefusal(st: ProcStat, launcher: Launcher): string | null {
  if (st.startTicks < launcher.startTicks) return `pid ${st.pid} started before the launcher (pid ${launcher.pid})`;
  const adopters = ancestorsOfSelf();
  let cur = st;
  for (let depth = 0; depth < MAX_DEPTH; depth++) {
    if (cur.session === launcher.pid) return null;
    const parent = readStat(cur.ppid);
    if (parent === null || cur.ppid === 0) {
      // its parent ended between the two reads: it is being re-parented; the next poll sees where to
      return `pid ${st.pid}: the parent of pid ${cur.pid} is gone`;
    }
    if (parent.startTicks < launcher.startTicks || parent.pid === process.pid) {
      if (adopters.has(parent.pid)) return null;
      if (parent.pid === process.pid && !isSpawnedByNode(cur.pid) && adoptsOrphans()) return null;
      return `pid ${st.pid} does not descend from the launcher (pid ${launcher.pid}): it was started by pid ${parent.pid} (${parent.comm}), which is older than the launcher`;
    }
    cur = parent;
  }
  return `pid ${st.pid}: more than ${MAX_DEPTH} parents started since the launcher`;
}

/** pid 1 and drover's ancestors, where orphans of drover's programs are re-parented */
function ancestorsOfSelf(): Set<number> {
  const out = new Set<number>([1]);
  let pid = process.ppid;
  for (let depth = 0; depth < MAX_DEPTH && pid > 1 && !out.has(pid); depth++) {
    out.add(pid);
    pid = readStat(pid)?.ppid ?? 0;
  }
  return out;
}

/** whether orphans of drover's descendants come to drover (PID 1 of its namespace, or a subreaper) */
function adoptsOrphans(): boolean {
  if (process.pid === 1) return true;
  try {
    return isSubreaper();
  } catch (err) {
    // E_NATIVE: no native layer, so drover cannot have made itself a subreaper either
    if (err instanceof DroverError && err.code === 'E_NATIVE') return false;
    throw err;
  }
}

/** null when every uid of `pid` is `uid`, else a description of its uids */
function wrongUid(pid: number, uid: number): string | null {
  const uids = readUids(pid);
  if (uids === null) return null; // ended meanwhile: it can no longer receive a signal
  return uids.every((u) => u === uid) ? null : `uid ${uids.join('/')}`;
}
