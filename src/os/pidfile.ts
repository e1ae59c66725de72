// The pidfile: informational (the instance lock is the real guard). Written to a temp file and renamed,
// so a reader never sees a half-written pid; removed at exit only while it still holds our pid.
import { readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';

/** Writes `pid` to `file` atomically. */
export function writePidfile(file: string, pid: number = process.pid): void {
  const tmp = `${file}.${pid}.tmp`;
  writeFileSync(tmp, `${pid}\n`, { mode: 0o644 });
  renameSync(tmp, file);
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
