// Replacing a small file atomically (pidfile, desired state) without trusting its directory's other names.
import { closeSync, constants, fchmodSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { randomHex } from './random.js';

/**
 * Writes `text` to `file` through a temp file beside it, then renames it over `file`, so a reader never
 * sees a half-written file. The temp name is random and created with O_EXCL|O_NOFOLLOW (mode 0600 until it
 * is complete): a name planted in advance, even a link to a root-only file in a shared directory such as
 * /tmp, is never followed, truncated or written.
 */
export function replaceFile(file: string, text: string, mode: number): void {
  const tmp = `${file}.${randomHex(8)}.tmp`;
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    try {
      const data = Buffer.from(text);
      for (let at = 0; at < data.length; ) at += writeSync(fd, data, at);
      fchmodSync(fd, mode);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (err) {
    try {
      removeTemp(tmp);
    } catch (cleanupErr) {
      throw new AggregateError([err, cleanupErr], `writing ${file} failed and its temp file ${tmp} could not be removed`, { cause: err });
    }
    throw err;
  }
}

// --- internal ---

function removeTemp(tmp: string): void {
  try {
    unlinkSync(tmp);
  } catch (err) {
    // ENOENT: the rename got that far, or someone else removed it; there is nothing left to clean
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
