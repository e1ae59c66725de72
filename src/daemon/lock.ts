// Single instance per runtime directory: an exclusive flock(2) on `drover.lock` inside the (0700, drover's
// own) runtime directory, held for the whole life of the supervisor. The kernel drops it the instant the
// last holder dies (even by SIGKILL), exactly one of several racing starters wins, and — unlike the abstract
// unix socket drover used before — no other local user can take the name first: they cannot open a file in
// a directory only drover's uid may enter (docs/security.md, finding 12).
import { closeSync, constants, fstatSync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { tryLockExclusive } from '../os/native.js';
import { lstatOrNull } from '../os/safe-dir.js';

/** The lock file of a runtime directory. */
export function lockPath(runtimeDir: string): string {
  return join(runtimeDir, 'drover.lock');
}

export interface InstanceLock {
  readonly release: () => void;
  /** the locked file's fd, handed to the new master on a re-exec (USR2) so the lock never lapses */
  readonly fd: number;
}

/**
 * Takes the lock, or adopts the one of `inheritedFds` (the locks an old master passed on a re-exec: the same
 * open file descriptions, so they are already held) that is this directory's: a reload may have moved
 * runtime_dir, and the old master then held the new directory's lock beside its own. The others are closed.
 * Resolves with the lock, or null when another live process holds it.
 */
export function acquireInstanceLock(runtimeDir: string, inheritedFds: readonly number[] = []): Promise<InstanceLock | null> {
  const own = inheritedFds.find((fd) => isLockOf(fd, runtimeDir));
  for (const fd of inheritedFds) if (fd !== own) closeSync(fd);
  if (own !== undefined) return Promise.resolve(held(own));
  // O_NOFOLLOW: the directory is drover's own, but a lock file must never be reached through a link; libuv
  // adds O_CLOEXEC to every open, so no program inherits the lock
  const fd = openSync(lockPath(runtimeDir), constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  if (!tryLockExclusive(fd)) {
    closeSync(fd);
    return Promise.resolve(null);
  }
  return Promise.resolve(held(fd));
}

/**
 * Whether a live process holds the lock of `runtimeDir` now (a drover runs for it). A look, not a claim: the
 * lock is tried and dropped at once. For a command that must not touch a running instance's files (drover
 * serve rewrites serve.ini, which the running master re-reads at HUP).
 */
export function instanceRunning(runtimeDir: string): boolean {
  let fd: number;
  try {
    fd = openSync(lockPath(runtimeDir), constants.O_RDWR | constants.O_NOFOLLOW);
  } catch (err) {
    // no lock file: nothing ever ran here
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
  try {
    return !tryLockExclusive(fd);
  } finally {
    closeSync(fd);
  }
}

// --- internal ---

/** Whether `fd` is open on the lock file of `runtimeDir` (the same device and inode). */
function isLockOf(fd: number, runtimeDir: string): boolean {
  const at = lstatOrNull(lockPath(runtimeDir));
  if (at === null) return false;
  const open = fstatSync(fd);
  return open.dev === at.dev && open.ino === at.ino;
}

/**
 * Writes who holds the lock into its file (`PID CONFIG`), for the message a second start gets: the lock
 * itself says only that someone holds it. Best effort: the lock holds whatever the file says.
 */
export function recordHolder(lock: InstanceLock, configFile: string): void {
  try {
    ftruncateSync(lock.fd, 0);
    writeSync(lock.fd, `${process.pid} ${configFile}\n`, 0);
  } catch {
    // ENOSPC, EIO: the next start's message names no holder; nothing else depends on it
  }
}

/** Who holds the lock of `runtimeDir`, as its holder wrote it (recordHolder); null when unknown. */
export function lockHolder(runtimeDir: string): { pid: number; configFile: string } | null {
  let text: string;
  try {
    const fd = openSync(lockPath(runtimeDir), constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      text = readFileSync(fd, 'utf8');
    } finally {
      closeSync(fd);
    }
  } catch {
    // gone, or unreadable: the message says less
    return null;
  }
  const m = /^(\d+) (.+)\n?$/.exec(text);
  return m ? { pid: Number(m[1]), configFile: m[2] ?? '' } : null;
}

function held(fd: number): InstanceLock {
  let released = false;
  return {
    fd,
    release: () => {
      if (released) return;
      released = true;
      // closing the last fd of the open file description drops the lock; the file itself stays (removing it
      // would let a racing starter lock a new file while another holds the old one)
      closeSync(fd);
    },
  };
}
