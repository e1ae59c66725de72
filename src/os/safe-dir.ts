// Files drover (usually root) opens by name in directories other users may write to: log files, their
// rotated and gzipped copies. Node has no openat(), so a directory is held as a descriptor and its entries
// are named as /proc/self/fd/N/NAME: the kernel resolves that through the open directory, whatever its path
// points at by then. The directory is reached from / one component at a time, a symbolic link on the way is
// followed only where nobody but root (or drover's own uid) could have made it, and the file itself is
// opened with O_NOFOLLOW and checked with fstat before anything is written to or read from it.
// The policy is in docs/security.md (finding 3).
import { closeSync, constants, fstatSync, lstatSync, openSync, readlinkSync, type Stats } from 'node:fs';
import { join, resolve } from 'node:path';
import { DroverError } from '../errors.js';

/** A path drover refuses to use: the message names the path, what is wrong and what would be accepted. */
export class UnsafePathError extends DroverError {
  constructor(message: string) {
    super('E_UNSAFE_PATH', message);
  }
}

/** Linux's limit on links followed in one lookup (MAXSYMLINKS), so a loop ends the same way. */
const MAX_LINKS = 40;
const GROUP_OTHER_WRITE = 0o022;
const OTHER_WRITE = 0o002;
const STICKY = 0o1000;

/** A directory held open while names in it are created, opened, renamed or removed. */
export class PinnedDir {
  /** the real path (no links), for messages */
  readonly path: string;
  readonly fd: number;
  /**
   * true when someone besides root and drover can create names here (sticky or group-writable, or owned by
   * the program's user): a file in it is used only when it is a regular file with one link and an owner in
   * `owners`, since anything else may have been planted
   */
  readonly shared: boolean;
  /** uids a file in a shared directory may belong to: root, drover's uid, the program's user */
  readonly owners: ReadonlySet<number>;

  constructor(path: string, fd: number, shared: boolean, owners: ReadonlySet<number>) {
    this.path = path;
    this.fd = fd;
    this.shared = shared;
    this.owners = owners;
  }

  /** The name of entry `name` of this directory (not its path): what openat(fd, name) would open. */
  at(name: string): string {
    if (name.includes('/') || name === '' || name === '.' || name === '..') throw new Error(`not a file name: ${JSON.stringify(name)}`);
    return `/proc/self/fd/${this.fd}/${name}`;
  }

  /** A second descriptor of the same directory, for work that outlives this one (a gzip in the background). */
  dup(): PinnedDir {
    return new PinnedDir(this.path, openSync(`/proc/self/fd/${this.fd}`, constants.O_RDONLY | constants.O_DIRECTORY), this.shared, this.owners);
  }

  close(): void {
    closeSync(this.fd);
  }
}

/**
 * Opens directory `dir` for files drover writes as root. `userUids`: the uids of the programs whose logs
 * go there (their `user=`); a directory of theirs is accepted. Throws UnsafePathError when another user
 * could redirect the path or control the directory, and the OS error (ENOENT, ENOTDIR, EACCES) when it
 * cannot be reached.
 */
export function pinDirectory(dir: string, userUids: readonly number[] = []): PinnedDir {
  const trusted = trustedUids();
  const owners = new Set([...trusted, ...userUids]);
  let path = resolve(dir);
  let links = 0;
  for (;;) {
    const parts = path.split('/').filter((p) => p !== '');
    let fd = openSync('/', constants.O_RDONLY | constants.O_DIRECTORY);
    let st = fstatSync(fd);
    let real = '/';
    let relocated: string | null = null;
    try {
      for (let i = 0; i < parts.length; i++) {
        const name = parts[i] as string;
        const entry = `/proc/self/fd/${fd}/${name}`;
        const lst = lstatSync(entry);
        if (lst.isSymbolicLink()) {
          // A link in a directory someone else can write may be swapped at any moment, and leads
          // wherever that user wants (/etc/cron.d, say): never follow one.
          if (!isExclusive(st, trusted) && !(isSticky(st) && trusted.has(lst.uid) && trusted.has(st.uid))) {
            throw new UnsafePathError(
              `${join(real, name)} is a symbolic link in ${real}, which ${whoCanWrite(st, trusted)} can change; name the directory it points to instead`,
            );
          }
          if (++links > MAX_LINKS) throw new UnsafePathError(`${dir}: too many levels of symbolic links`);
          // `real` has no links in it, so resolving ".." in the target lexically is what the kernel does
          relocated = resolve(real, readlinkSync(entry), ...parts.slice(i + 1));
          break;
        }
        // O_NOFOLLOW: an entry that became a link since the lstat fails here (ELOOP) instead of being followed
        const next = openSync(entry, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
        closeSync(fd);
        fd = next;
        st = fstatSync(fd);
        real = join(real, name);
      }
      if (relocated === null) {
        const problem = directoryProblem(real, st, trusted, owners);
        if (problem !== null) throw new UnsafePathError(problem);
        const pinned = new PinnedDir(real, fd, !isExclusive(st, trusted), owners);
        fd = -1;
        return pinned;
      }
    } finally {
      if (fd >= 0) closeSync(fd);
    }
    path = relocated;
  }
}

/**
 * Opens `name` in `dir` without following a link (`flags` are open(2) flags; O_NOFOLLOW is added) and
 * checks what was opened. In a shared directory only a regular file with one link, owned by root, drover
 * or the program's user, is accepted: a hard link to a root-only file, a FIFO or another user's file may
 * have been planted there. Throws UnsafePathError (the descriptor closed) or the OS error.
 */
export function openInDir(dir: PinnedDir, name: string, flags: number, mode = 0o644): { fd: number; stat: Stats } {
  let fd: number;
  // drover's own descriptors (/dev/fd/1, /proc/self/fd/1: Docker setups log there) are links the kernel
  // makes to files drover already has open; they lead nowhere another user chose
  const ownFds = dir.path === `/proc/${process.pid}/fd`;
  try {
    fd = openSync(dir.at(name), flags | (ownFds ? 0 : constants.O_NOFOLLOW), mode);
  } catch (err) {
    // ELOOP is O_NOFOLLOW meeting a link as the last component
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') {
      throw new UnsafePathError(`${join(dir.path, name)} is a symbolic link; drover does not follow links for this file (name the file it points to, or remove the link)`);
    }
    throw err;
  }
  const stat = fstatSync(fd);
  const problem = fileProblem(dir, name, stat);
  if (problem !== null) {
    closeSync(fd);
    throw new UnsafePathError(problem);
  }
  return { fd, stat };
}

/**
 * Why drover would refuse to write files in `dir` (see pinDirectory), or null when it would not, or when
 * `dir` cannot be reached now (a directory drover creates later, or one whose absence is reported elsewhere).
 * For `drover check` and config loading.
 */
export function directoryRefusal(dir: string, userUids: readonly number[] = []): string | null {
  try {
    pinDirectory(dir, userUids).close();
    return null;
  } catch (err) {
    if (err instanceof UnsafePathError) return err.message;
    // ENOENT/ENOTDIR: not there (yet); EACCES: `check` run by a user who cannot look; ELOOP: swapped
    // meanwhile. The open at run time decides and reports these.
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EACCES' || code === 'ELOOP') return null;
    throw err;
  }
}

// --- internal ---

/** root and the uid drover runs as: the only users whose directories drover trusts without conditions. */
function trustedUids(): ReadonlySet<number> {
  return new Set([0, process.getuid?.() ?? 0]);
}

/** Only root or drover can change the directory's entries. */
function isExclusive(st: Stats, trusted: ReadonlySet<number>): boolean {
  return trusted.has(st.uid) && (st.mode & GROUP_OTHER_WRITE) === 0;
}

function isSticky(st: Stats): boolean {
  return (st.mode & STICKY) !== 0;
}

function whoCanWrite(st: Stats, trusted: ReadonlySet<number>): string {
  if (!trusted.has(st.uid)) return `uid ${st.uid} (its owner)`;
  if ((st.mode & OTHER_WRITE) !== 0) return 'every user';
  return `group ${st.gid}`;
}

function mode(st: Stats): string {
  return `mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}`;
}

/**
 * A directory is refused when a user other than root, drover and the program's own user owns it, or when
 * every user may rename and remove its files (world-writable without the sticky bit). Group-writable
 * directories of root are accepted (Ubuntu's /var/log is root:syslog 0775): the checks on each file keep
 * root from writing through anything the group plants.
 */
function directoryProblem(real: string, st: Stats, trusted: ReadonlySet<number>, owners: ReadonlySet<number>): string | null {
  if (!owners.has(st.uid)) {
    return `the directory ${real} belongs to uid ${st.uid}, who could swap the file for a link; expected a directory owned by ${describeUids(owners)} (a program's logs may also go to a directory of its user=)`;
  }
  if (trusted.has(st.uid) && (st.mode & OTHER_WRITE) !== 0 && !isSticky(st)) {
    return `the directory ${real} is writable by every user and not sticky (${mode(st)}), so anyone could swap the file for a link; expected a directory only root can write, or a sticky one such as /tmp`;
  }
  return null;
}

function fileProblem(dir: PinnedDir, name: string, st: Stats): string | null {
  const path = join(dir.path, name);
  if (st.isDirectory()) return `${path} is a directory`;
  // in a directory only root or drover can write, what is there was put there by them (/dev/null, a FIFO)
  if (!dir.shared) return null;
  const where = `in ${dir.path}, a directory other users can write`;
  if (!st.isFile()) return `${path} is not a regular file (${describeType(st)}) ${where}; expected a regular file`;
  if (st.nlink !== 1) return `${path} has ${st.nlink} hard links ${where}, so it may be another file linked there; expected a file with one link`;
  if (!dir.owners.has(st.uid)) return `${path} belongs to uid ${st.uid} ${where}; expected a file of ${describeUids(dir.owners)}`;
  return null;
}

function describeUids(uids: ReadonlySet<number>): string {
  return [...uids].map((u) => (u === 0 ? 'root' : `uid ${u}`)).join(' or ');
}

function describeType(st: Stats): string {
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  return 'not a file';
}

/** What kind of entry an lstat(2) found, for a message: "a regular file", "a directory", "a FIFO", … */
export function describeFileKind(st: Stats): string {
  if (st.isFile()) return 'a regular file';
  if (st.isDirectory()) return 'a directory';
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  return 'a file of another kind';
}

/** lstat(2) of `path`, or null when nothing is there (ENOENT); any other error is thrown. */
export function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}
