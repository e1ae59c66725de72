// What a child wrote to the stderr it shares with this process, when that is a regular file (a daemon's
// .drover/daemon.stderr). A new master started by USR2 that dies before it can report (Node cannot load
// drover, the node binary is gone) says why only there; the old master reads it back for its log.
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';

/** Where this process's stderr ends now, to read what is written after it; null when it is not a regular file. */
export function markStderr(): number | null {
  try {
    const st = fstatSync(2);
    return st.isFile() ? st.size : null;
  } catch (err) {
    // EBADF: fd 2 closed; nothing to read back
    if ((err as NodeJS.ErrnoException).code === 'EBADF') return null;
    throw err;
  }
}

/**
 * The end (at most `maxBytes`, whole lines) of what was written to this process's stderr since `mark`, or
 * '' when nothing was or it cannot be read. Bounded: a child may write without limit before it dies.
 */
export function stderrSince(mark: number, maxBytes = 4096): string {
  let fd: number;
  try {
    // fd 2 was opened to append, write-only: /proc reopens the same file (not a path lookup) for reading.
    // O_NONBLOCK: should fd 2 have become something other than a file, the open must not wait
    fd = openSync('/proc/self/fd/2', constants.O_RDONLY | constants.O_NOCTTY | constants.O_NONBLOCK);
  } catch (err) {
    // no /proc, or the file's mode keeps its owner from reading it: the message goes without it
    if (typeof (err as NodeJS.ErrnoException).code === 'string') return '';
    throw err;
  }
  try {
    const st = fstatSync(fd);
    // truncated since (a copytruncate rotation), or not a file: nothing reliable to show
    if (!st.isFile() || st.size <= mark) return '';
    const from = Math.max(mark, st.size - maxBytes);
    const buf = Buffer.alloc(st.size - from);
    const n = readSync(fd, buf, 0, buf.length, from);
    let text = buf.subarray(0, n).toString('utf8');
    // cut where the bound fell inside a line
    if (from > mark) text = text.slice(text.indexOf('\n') + 1);
    return text.trim();
  } finally {
    closeSync(fd);
  }
}
