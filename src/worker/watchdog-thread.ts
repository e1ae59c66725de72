// The watchdog thread of a drover worker (started by watchdog.ts). It watches a counter the main thread
// bumps from a timer; when the counter has not moved for the heartbeat timeout, the main thread's event loop
// is stuck, and the master is about to kill the worker. The watchdog then pauses the main thread through an
// in-process inspector session (`Session#connectToMainThread`, no port: Debugger.pause interrupts even a
// `while (true) {}`), reads its call frames, resumes it, and writes them to fd 2 as one report line
// (src/ipc/protocol.ts) for the master. It writes with writeSync: a worker thread's process.stderr is
// relayed through the main thread's event loop, the very loop that is stuck.
import { writeSync } from 'node:fs';
import { Session } from 'node:inspector';
import { workerData } from 'node:worker_threads';
import { stuckReportLine, type StuckReport } from '../ipc/protocol.js';
import { steadyNowMs } from '../os/clock.js';

/** What watchdog.ts passes. */
export interface WatchdogData {
  /** one Int32 the main thread increments every `pollMs` */
  readonly ticks: SharedArrayBuffer;
  readonly stuckMs: number;
  readonly pollMs: number;
}

/** Frames reported at most, and characters per frame: the report goes to the master's log. */
const MAX_FRAMES = 32;
const MAX_FRAME_CHARS = 400;
/** A main thread blocked in a system call or native code runs no JavaScript and cannot pause. */
const PAUSE_TIMEOUT_MS = 2000;

const { ticks, stuckMs, pollMs } = workerData as WatchdogData;
const counter = new Int32Array(ticks);
/** the counter as last seen, and when it last moved (steady: a forward wall-clock step made a busy worker look stuck) */
let seen = Atomics.load(counter, 0);
let movedAtMs = steadyNowMs();
/** one report per stuck episode */
let reported = false;

setInterval(() => {
  const now = steadyNowMs();
  const t = Atomics.load(counter, 0);
  if (t !== seen) {
    seen = t;
    movedAtMs = now;
    reported = false;
    return;
  }
  if (reported || now - movedAtMs < stuckMs) return;
  reported = true;
  void readMainStack().then((r) => writeReport({ stuckMs: now - movedAtMs, ...r }));
}, pollMs);

// --- internal ---

function writeReport(report: StuckReport): void {
  try {
    writeSync(2, stuckReportLine(report));
  } catch (err) {
    // EAGAIN: a non-blocking stderr pipe that is full; EPIPE: nobody reads it. Either way the master
    // gets no stack and says so; there is nowhere else to write.
    if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' && (err as NodeJS.ErrnoException).code !== 'EPIPE') throw err;
  }
}

/** Pauses the main thread, reads its call frames and resumes it; or says why it could not. */
function readMainStack(): Promise<{ frames: string[] } | { error: string }> {
  return new Promise((resolve) => {
    const session = new Session();
    let done = false;
    const finish = (r: { frames: string[] } | { error: string }): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(r);
    };
    const timer = setTimeout(() => {
      finish({ error: `the main thread did not pause within ${PAUSE_TIMEOUT_MS} ms (it is blocked outside JavaScript: a system call or native code)` });
      // withdraws a pause still pending: it would otherwise stop the main thread for good once it ran again
      session.disconnect();
    }, PAUSE_TIMEOUT_MS);
    /** script URLs by id: call frames carry only the id */
    const urls = new Map<string, string>();
    session.on('Debugger.scriptParsed', (m) => urls.set(m.params.scriptId, m.params.url));
    session.on('Debugger.paused', (m) => {
      const frames = m.params.callFrames.slice(0, MAX_FRAMES).map((f) => {
        const url = urls.get(f.location.scriptId) || f.url || '?';
        return `at ${f.functionName || '(anonymous)'} (${url}:${f.location.lineNumber + 1}:${(f.location.columnNumber ?? 0) + 1})`.slice(0, MAX_FRAME_CHARS);
      });
      // resumed at once: the master kills a stuck worker anyway, but a loop about to come back goes on
      session.post('Debugger.resume', () => session.disconnect());
      finish({ frames });
    });
    try {
      session.connectToMainThread();
      session.post('Debugger.enable', (err) => {
        // answered only once the main thread runs JavaScript; after the timeout the session is gone
        if (done) return;
        if (err) {
          finish({ error: `Debugger.enable failed: ${err.message}` });
          session.disconnect();
          return;
        }
        session.post('Debugger.pause');
      });
    } catch (err) {
      finish({ error: `no inspector session: ${err instanceof Error ? err.message : String(err)}` });
    }
  });
}
