// drover as the parent of last resort: as PID 1 of a container it reaps every orphan of the namespace, and
// anywhere else it makes itself a child subreaper so that orphans of its programs come back to it (and to
// its killasgroup and leftover sweeps) instead of to the host's init. The mechanism is src/os/reaper.ts;
// this is what the master says about it. Scans run on SIGCHLD, from the supervisor's queue.
import type { Logger } from '../logs/logger.js';
import { startExitPeek } from '../os/exit-peek.js';
import { OrphanReaper, type ReaperRole } from '../os/reaper.js';

export interface Reaping {
  /** how orphans come to drover; null when they cannot (the native layer is missing) */
  readonly role: ReaperRole | null;
  /** reaps the adopted orphans that have exited (on SIGCHLD) */
  reap(): void;
}

/** Starts adopting and reaping orphans, says so in the log, and reaps any zombie already there. */
export function startReaping(logger: Logger): Reaping {
  // before the first spawn too: without it, a program killed by a real-time signal reads as exit 0
  const peek = startExitPeek();
  if (peek !== null) logger.debug(`exits by a real-time signal cannot be seen (${peek}): such a program reads as exit 0`);
  let reaper: OrphanReaper;
  try {
    reaper = OrphanReaper.start();
  } catch (err) {
    const why = (err as Error).message;
    if (process.pid === 1) {
      logger.warn(`running as PID 1 but cannot reap orphans (${why}): they will stay zombies; run drover under an init such as tini (docker run --init)`);
    } else {
      logger.warn(`cannot become a child subreaper (${why}): orphans of the programs go to the host's init, out of reach of killasgroup`);
    }
    return { role: null, reap: () => undefined };
  }
  logger.info(
    reaper.role === 'init'
      ? 'running as PID 1: reaping every orphan of the namespace'
      : 'child subreaper: orphans of the programs are re-parented to drover and reaped',
  );
  // One scan per turn of the event loop: the CHLD events handled in one turn were all received before it
  // began (signal listeners run in the poll phase, never while the queue drains), so their orphans had
  // exited before the first scan of the turn. A pool of 100 workers ending at once costs one scan, not 100.
  let scannedThisTurn = false;
  const reap = (): void => {
    if (scannedThisTurn) return;
    scannedThisTurn = true;
    setImmediate(() => (scannedThisTurn = false));
    for (const o of reaper.reap()) logger.debug(`reaped orphan pid ${o.pid} (${o.comm}): ${o.status}`);
  };
  reap();
  return { role: reaper.role, reap };
}
