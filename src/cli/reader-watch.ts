// A follow (`logs -f`, `tail -f`) otherwise learns that its reader went away only from the EPIPE of its next
// write: while the followed programs say nothing, `drover logs -f | grep -m1 ready` would wait for ever after
// grep has exited. So, as coreutils' `tail -f` does, stdout is asked once a second whether its reader is
// still there, when it is a pipe or a socket (a terminal or a file has no reader to lose).
import { fstatSync } from 'node:fs';
import { nativeAvailable } from '../os/libc.js';
import { isPeerGone } from '../os/native.js';

/** How often an idle follow asks; a reader gone is noticed this late at most (coreutils' tail: 1 s too). */
const CHECK_MS = 1000;

/** Calls `gone` once, when the reader of `fd` (a pipe or socket) has gone; returns what stops the watch. */
export function watchReader(fd: number | null, gone: () => void): () => void {
  if (fd === null || !isPipeOrSocket(fd)) return () => undefined;
  const timer = setInterval(() => {
    // without the native layer there is no poll(2): the next write's EPIPE still ends the follow
    if (!nativeAvailable()) {
      clearInterval(timer);
      return;
    }
    if (!isPeerGone(fd)) return;
    clearInterval(timer);
    gone();
  }, CHECK_MS);
  // the follow's connection keeps the process alive; this timer must not once that has ended
  timer.unref();
  return () => clearInterval(timer);
}

// --- internal ---

function isPipeOrSocket(fd: number): boolean {
  try {
    const st = fstatSync(fd);
    return st.isFIFO() || st.isSocket();
  } catch (err) {
    // EBADF: stdout was closed before drover started; there is nothing to watch
    if ((err as NodeJS.ErrnoException).code === 'EBADF') return false;
    throw err;
  }
}
