// What an ended process left behind, found in one snapshot of /proc.
import { realpathSync } from 'node:fs';
import { isSpawnedByNode } from './children.js';
import { environValue, readExe, type ProcStat } from './proc.js';

/** What is known of a process after its exit. */
export interface GoneProcess {
  readonly pid: number;
  /** descendants recorded when a stop began (they may have left the group since) */
  readonly snapshot: readonly ProcStat[];
  /** its start time in clock ticks; 0 when unknown */
  readonly startTicks: number;
  /** the executable it ran */
  readonly executable: string;
  /**
   * the name drover put in its environment (`SUPERVISOR_PROCESS_NAME`): an orphan of the same executable
   * whose environment names another process is that one's; absent when unknown
   */
  readonly processName?: string;
}

/**
 * Processes `gone` left behind: members of its group or session and the descendants recorded when a stop
 * began — and, with `sameExecutable` (a guess, good for a warning, never for a kill), orphans of the same
 * executable started since it was spawned: a daemon's child has left the group by the time the exit is
 * seen, so the executable and the start time are what is left to go by. An orphan is re-parented to init,
 * or to drover itself when drover is a subreaper (never confused with a process drover spawned); an orphan
 * whose environment names another program (`SUPERVISOR_PROCESS_NAME`) is that program's.
 */
export function findLeftBehind(gone: GoneProcess, table: readonly ProcStat[], opts: { sameExecutable: boolean }): ProcStat[] {
  let exe: string | null = null;
  if (opts.sameExecutable) {
    try {
      exe = realpathSync(gone.executable);
    } catch {
      exe = null; // the program file was removed since: skip that criterion
    }
  }
  const me = process.pid;
  const snap = new Map(gone.snapshot.map((p) => [p.pid, p.startTicks]));
  return table.filter((p) => {
    if (p.state === 'Z' || p.pid === me) return false;
    if (p.pgrp === gone.pid || p.session === gone.pid) return true;
    if (snap.get(p.pid) === p.startTicks) return true;
    // as PID 1, drover's own programs have parent 1 too: only what it did not spawn is an orphan there
    const orphan = (p.ppid === 1 && me !== 1) || (p.ppid === me && !isSpawnedByNode(p.pid));
    if (exe === null || !orphan || gone.startTicks === 0 || p.startTicks < gone.startTicks || readExe(p.pid) !== exe) return false;
    // another program of the same executable started since may have left its own daemon: the environment
    // each inherited from drover says whose it is. Only another name rules it out: without one (unreadable,
    // a clean environment, or a process title written over it, as redis and nginx do) the guess stands
    const named = gone.processName === undefined ? undefined : environValue(p.pid, 'SUPERVISOR_PROCESS_NAME');
    return named === undefined || named === null || named === gone.processName;
  });
}
