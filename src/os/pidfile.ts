// The pidfile: informational (the instance lock is the real guard). Written to a temp file and renamed,
// so a reader never sees a half-written pid; removed at exit only while it still holds our pid.
import { readFileSync, unlinkSync } from 'node:fs';
import { replaceFile } from './replace-file.js';

/**
 * Writes `pid` to `file` atomically, through a temp file with a random name created exclusively: a
 * pidfile in /tmp (supervisor's sample config) must not let another user aim the write elsewhere.
 */
export function writePidfile(file: string, pid: number = process.pid): void {
  replaceFile(file, `${pid}\n`, 0o644);
}

/** The pid in `file`, or null when the file is missing or holds no pid. */
export function readPidfile(file: string): number | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    // ENOENT: no pidfile, nothing running (or it was removed at exit)
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
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
  } catch (err) {
    // ENOENT: removed by someone else between the read and the unlink; the goal is met
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
