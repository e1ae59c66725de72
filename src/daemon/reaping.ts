// drover as the parent of last resort: as PID 1 of a container it reaps every orphan of the namespace, and
// anywhere else it makes itself a child subreaper so that orphans of its programs come back to it (and to
// its killasgroup and leftover sweeps) instead of to the host's init. The mechanism is src/os/reaper.ts;
// this is what the master says about it. Scans run on SIGCHLD, from the supervisor's queue.
import type { Logger } from '../logs/logger.js';
import { startExitPeek } from '../os/exit-peek.js';
import { outOfDescriptors } from '../os/proc.js';
import { OrphanReaper, type ReaperRole } from '../os/reaper.js';

/** after a scan skipped for want of a descriptor, the next try comes this soon (or at the next SIGCHLD) */
const SHORT_RETRY_MS = 1000;

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
  // Out of descriptors (too many log files or connections for the open-file limit), listing
  // /proc/self/task fails with EMFILE: the scan is skipped, never thrown into the supervisor's queue (that
  // would stop every program). Orphans that exited meanwhile stay zombies until a later scan; one comes at
  // the next SIGCHLD or after SHORT_RETRY_MS. Said once per shortage, not at every SIGCHLD.
  let short = false;
  let retry: NodeJS.Timeout | null = null;
  const reap = (): void => {
    if (scannedThisTurn) return;
    scannedThisTurn = true;
    setImmediate(() => (scannedThisTurn = false));
    let orphans;
    try {
      orphans = reaper.reap();
    } catch (err) {
      if (!outOfDescriptors(err)) throw err;
      if (!short) logger.warn(`cannot look for orphans to reap: ${(err as Error).message}; trying again at the next SIGCHLD or in ${SHORT_RETRY_MS / 1000} s`);
      short = true;
      retry ??= setTimeout(() => {
        retry = null;
        reap();
      }, SHORT_RETRY_MS).unref();
      return;
    }
    if (short) logger.info('looking for orphans to reap works again');
    short = false;
    for (const o of orphans) logger.debug(`reaped orphan pid ${o.pid} (${o.comm}): ${o.status}`);
  };
  reap();
  return { role: reaper.role, reap };
}
