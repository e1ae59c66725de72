// The pidfile: informational (the instance lock is the real guard). Written to a temp file and renamed,
// so a reader never sees a half-written pid; removed at exit only while it still holds our pid.
import { readFileSync, unlinkSync } from 'node:fs';
import { replaceFile } from './replace-file.js';

/**
 * Writes `pid` to `file` atomically, through a temp file with a random name created exclusively: a
 * pidfile in /tmp (supervisor's sample config) must not let another user aim the write elsewhere.
 */
export function writePidfile(file: string, pid: number = process.pid): void {
  // 0666 less the umask, as supervisord's open() makes it (0644 under the usual 022; 0600 with umask = 077)
  replaceFile(file, `${pid}\n`, 0o666 & ~currentUmask());
}

/** This process's umask, read without changing it (process.umask() with no argument is deprecated). */
function currentUmask(): number {
  try {
    const m = /^Umask:\s+([0-7]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m?.[1] !== undefined) return Number.parseInt(m[1], 8);
  } catch {
    // no /proc: the usual umask
  }
  return 0o022;
}

/**
 * writePidfile, for a master: a pidfile that cannot be written is said and the master runs on, as
 * supervisord logs "could not write pidfile" and runs on (the instance lock is the real guard). Returns
 * that message, or null when it was written.
 */
export function tryWritePidfile(file: string, pid: number = process.pid): string | null {
  const problem = pidfileWriteProblem(file, pid);
  return problem === null ? null : `${problem}; running without it`;
}

/** writePidfile; returns why it failed ("could not write pidfile FILE: CODE (…)" and what it needs), or null. */
export function pidfileWriteProblem(file: string, pid: number = process.pid): string | null {
  try {
    writePidfile(file, pid);
    return null;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return `could not write pidfile ${file}: ${e.code ?? 'error'} (${e.message}); drover writes it as a new file in that directory, then renames it, so the directory must be writable by drover's user`;
  }
}

/** The pid in `file`, or null when the file is missing or holds no pid. */
export function readPidfile(file: string): number | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    // ENOENT: no pidfile, nothing running (or it was removed at exit); one that cannot be read (a
    // directory, no permission) names no process either
    if (typeof (err as NodeJS.ErrnoException).code === 'string') return null;
    throw err;
  }
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

/** Removes `file` if it still names `pid` (a successor may already have written its own). */
export function removePidfile(file: string, pid: number = process.pid): void {
  if (readPidfile(file) !== pid) return;
  try {
    unlinkSync(file);
  } catch {
    // ENOENT: removed by someone else between the read and the unlink; the goal is met. Anything else (the
    // directory not writable any more): left behind, which a pidfile may be, not a reason to fail an exit
  }
}
