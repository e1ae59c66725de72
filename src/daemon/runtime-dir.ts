// The runtime directory holds the control socket, the pidfile, the desired state, drover.log, the AUTO
// logs and `drover serve`'s serve.ini, all written (usually as root) by name. Whoever can write into it, or
// swap it for a directory of their own, can spoof the control socket, plant a symlink where drover
// writes, or edit the config `drover serve` re-reads for every new worker. So drover uses it only when it
// is provably its own (docs/security.md, section 5).
import { chmodSync, lstatSync, mkdirSync, readlinkSync, type Stats } from 'node:fs';
import { lstatOrNull } from '../os/safe-dir.js';
import { isAbsolute } from 'node:path';
import { DroverError } from '../errors.js';
import { lookupUser } from '../os/users.js';

/** A runtime directory drover refuses to use; start-up ends with exit 2 (a configuration problem). */
export class RuntimeDirError extends DroverError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_RUNTIME_DIR', message, options);
  }
}

/** how many symbolic links one path may go through (the kernel's own limit is 40) */
const MAX_LINKS = 40;

/**
 * Makes sure `dir` (an absolute path) is drover's own, creating it with mode 0700 when absent: a real
 * directory (not a symlink), owned by drover's uid, not writable by group or others. On the way to it,
 * every directory must not be writable by others unless sticky (as /tmp is), and every symlink must belong
 * to root or to drover's uid. Group and other read bits of the directory are removed. Throws
 * RuntimeDirError naming the directory and what is wrong with it.
 */
export function ensureRuntimeDir(dir: string): void {
  try {
    checkRuntimeDir(dir);
  } catch (err) {
    if (err instanceof RuntimeDirError) throw err;
    // the file system refused (EACCES: drover's user may not create or look into a directory on the way)
    const e = err as NodeJS.ErrnoException;
    const where = e.path !== undefined && e.path !== dir ? ` (at ${e.path})` : '';
    throw new RuntimeDirError(`runtime directory ${dir} cannot be made or checked${where}: ${e.code ?? e.message}; choose one drover's user may create, with runtime_dir = (drover serve: --runtime-dir)`, { cause: err });
  }
}

function checkRuntimeDir(dir: string): void {
  // the effective uid: `up -d` makes the directory as [supervisord] user (src/cli/commands/up.ts)
  const uid = process.geteuid?.() ?? 0;
  const parts = dir.split('/').filter((p) => p !== '' && p !== '.');
  const last = parts.pop();
  if (last === undefined || last === '..') throw new RuntimeDirError(`runtime directory ${JSON.stringify(dir)} is not a usable path: expected an absolute path to a directory`);
  const parent = walk(dir, parts, uid, { create: true, links: 0 });
  const path = parent === '/' ? `/${last}` : `${parent}/${last}`;
  let st = lstatOrNull(path);
  if (st === null) {
    try {
      mkdirSync(path, { mode: 0o700 });
    } catch (err) {
      // EEXIST: created meanwhile (another drover starting on it); checked below like any existing one
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    st = lstatSync(path);
  }
  if (st.isSymbolicLink()) throw new RuntimeDirError(symlinkMessage(dir, readlinkSync(path)));
  if (!st.isDirectory()) throw new RuntimeDirError(`runtime directory ${dir} exists but is not a directory; ${REMEDY}`);
  if (st.uid !== uid) {
    throw new RuntimeDirError(
      `runtime directory ${dir} belongs to ${describeUid(st.uid)}, not to drover's user (uid ${uid}): its owner could replace the control socket or plant links where drover writes; ${REMEDY}`,
    );
  }
  if ((st.mode & 0o022) !== 0) {
    throw new RuntimeDirError(
      `runtime directory ${dir} is writable by group or others (mode ${modeText(st)}): files could have been planted in it; ${REMEDY}, or chmod 700 it if you trust what is inside`,
    );
  }
  // read access for others was harmless until now (drover made it 0700 itself); take it away as before
  if ((st.mode & 0o077) !== 0) chmodSync(path, 0o700);
}

/**
 * What `up` would refuse about `dir` being a symbolic link, or null; creates and changes nothing, so
 * `drover check` can say it (the other checks depend on the user `up` runs as and are left to `up`).
 */
export function runtimeDirLinkProblem(dir: string): string | null {
  let st: Stats | null;
  try {
    st = lstatOrNull(dir);
  } catch (err) {
    // ENOTDIR, EACCES, ELOOP on the way: not a link at the end; `up` reports these itself, as the user it runs as
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR' || code === 'EACCES' || code === 'ELOOP') return null;
    throw err;
  }
  return st?.isSymbolicLink() ? symlinkMessage(dir, readlinkSync(dir)) : null;
}

// --- internal ---

const REMEDY = 'remove it, or choose another with runtime_dir = (drover serve: --runtime-dir)';

function symlinkMessage(dir: string, target: string): string {
  return `runtime directory ${dir} is a symbolic link (to ${target}): drover keeps its runtime files only in a real directory of its own; ${REMEDY}`;
}

/**
 * Resolves the directories `parts` as the kernel would, from /, checking each directory and symlink on
 * the way (a link's target is walked the same way); creates missing directories when `create` (never
 * through a link). Returns the real path reached.
 */
function walk(dir: string, parts: readonly string[], uid: number, o: { create: boolean; links: number }, from = '/'): string {
  let real = from;
  for (const part of parts) {
    if (part === '..') {
      // `real` holds no link, so going up by name is what the kernel does too
      real = real === '/' ? '/' : real.slice(0, real.lastIndexOf('/')) || '/';
      continue;
    }
    const next = real === '/' ? `/${part}` : `${real}/${part}`;
    let st = lstatOrNull(next);
    if (st === null) {
      if (!o.create) throw new RuntimeDirError(`runtime directory ${dir}: ${next} does not exist`);
      try {
        mkdirSync(next);
      } catch (err) {
        // EEXIST: created meanwhile; checked below like any existing one
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      st = lstatSync(next);
    }
    if (st.isSymbolicLink()) {
      if (st.uid !== 0 && st.uid !== uid) {
        throw new RuntimeDirError(
          `runtime directory ${dir}: ${next} is a symbolic link owned by ${describeUid(st.uid)}, who could point it elsewhere; choose a runtime_dir reached only through directories and links of root or drover's user`,
        );
      }
      if (o.links >= MAX_LINKS) throw new RuntimeDirError(`runtime directory ${dir}: more than ${MAX_LINKS} symbolic links on the way (a loop?)`);
      const target = readlinkSync(next);
      const targetParts = target.split('/').filter((p) => p !== '' && p !== '.');
      // a link's target is resolved from / when absolute, else from the directory holding the link
      real = walk(dir, targetParts, uid, { create: false, links: o.links + 1 }, isAbsolute(target) ? '/' : real);
      continue;
    }
    if (!st.isDirectory()) throw new RuntimeDirError(`runtime directory ${dir}: ${next} is not a directory`);
    // others may write here: without the sticky bit any of them can rename what is inside and put their own
    if ((st.mode & 0o002) !== 0 && (st.mode & 0o1000) === 0) {
      throw new RuntimeDirError(
        `runtime directory ${dir}: ${next} is writable by others (mode ${modeText(st)}) without the sticky bit: anyone could rename the runtime directory and put their own in its place; choose a runtime_dir under directories only root or drover's user can change`,
      );
    }
    real = next;
  }
  return real;
}

function describeUid(uid: number): string {
  const name = lookupUser(String(uid))?.name;
  return name ? `uid ${uid} (${name})` : `uid ${uid}`;
}

function modeText(st: Stats): string {
  return `0${(st.mode & 0o7777).toString(8).padStart(3, '0')}`;
}
