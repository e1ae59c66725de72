// Which backup names a rotation may use. In a shared log directory (sticky /tmp) anyone can create file.1,
// file.2… before drover does; a directory, FIFO, socket or device there cannot be renamed over (EISDIR) or
// must not be (it is someone else's), and one such entry used to stop every rotation for good. Rotation
// skips those names instead, so the size limit holds whatever is planted. A symbolic link is usable: rename
// and unlink act on the link itself, never on what it points at.
import { lstatSync } from 'node:fs';
import { describeFileKind } from '../os/safe-dir.js';

/** A backup name held by something rotation leaves alone. */
export interface InTheWay {
  /** the backup's number */
  readonly number: number;
  /** whether it is the .gz name */
  readonly gz: boolean;
  /** what is there: "a directory", "a FIFO", … */
  readonly what: string;
}

/**
 * The first `wanted` backup numbers in 1..`backups` whose names (one per kind: plain, and .gz when gzip may
 * be in use) are free, a regular file or a symbolic link, oldest last; and what holds the others looked at.
 * `at(n, gz)`: the name of backup n in the pinned directory.
 */
export function usableBackupSlots(
  at: (n: number, gz: boolean) => string,
  wanted: number,
  backups: number,
  kinds: readonly boolean[],
): { readonly slots: number[]; readonly inTheWay: InTheWay[] } {
  const slots: number[] = [];
  const inTheWay: InTheWay[] = [];
  for (let n = 1; n <= backups && slots.length < wanted; n++) {
    let usable = true;
    for (const gz of kinds) {
      // no exception for a missing name: most names looked at do not exist yet
      const st = lstatSync(at(n, gz), { throwIfNoEntry: false });
      if (st === undefined || st.isFile() || st.isSymbolicLink()) continue;
      usable = false;
      inTheWay.push({ number: n, gz, what: describeFileKind(st) });
    }
    if (usable) slots.push(n);
  }
  return { slots, inTheWay };
}
