// Node's compile cache for drover's own modules (Node ≥ 22.1, module.enableCompileCache): V8's compiled
// code kept on disk, so that a `drover status` does not compile drover's modules again on every run. On
// Node 20 there is no such cache and this does nothing.
//
// A cache entry is code that Node runs without compiling it from the source, so the cache lives only where
// no other user can write: $XDG_CACHE_HOME (or ~/.cache) /drover/compile-cache, each directory owned by the
// user drover runs as and writable by it alone (not a symlink). `sudo drover status` with the caller's HOME
// gets no cache rather than root using a directory the caller owns. NODE_COMPILE_CACHE (Node then uses that
// directory for everything) and NODE_DISABLE_COMPILE_CACHE are honoured (docs/decisions.md, "Compile cache").
import { lstatSync, mkdirSync } from 'node:fs';
import module from 'node:module';
import { join } from 'node:path';

/** Turns the compile cache on when this Node has one and a safe directory exists (or can be made). */
export function enableCompileCache(env: Readonly<Record<string, string | undefined>>): void {
  const enable = (module as { enableCompileCache?: (dir?: string) => unknown }).enableCompileCache;
  if (enable === undefined || env['NODE_DISABLE_COMPILE_CACHE'] || env['NODE_COMPILE_CACHE']) return;
  const dir = cacheDirectory(env);
  if (dir !== null) enable(dir);
}

/** The directory the cache would use for this environment (made if missing), or null when none is safe. */
export function cacheDirectory(env: Readonly<Record<string, string | undefined>>): string | null {
  const home = env['HOME'];
  const uid = process.geteuid?.();
  if (!home || uid === undefined || !ownPrivate(home, uid, false)) return null;
  const base = env['XDG_CACHE_HOME'] || join(home, '.cache');
  const dir = join(base, 'drover', 'compile-cache');
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    // a read-only or full home: run without the cache
    if (isFsRefusal(err)) return null;
    throw err;
  }
  return ownPrivate(base, uid, false) && ownPrivate(join(base, 'drover'), uid, true) && ownPrivate(dir, uid, true) ? dir : null;
}

// --- internal ---

/** A real directory (not a link) owned by `uid`, not writable by others (`strict`: nor readable by them). */
function ownPrivate(path: string, uid: number, strict: boolean): boolean {
  try {
    const st = lstatSync(path);
    return st.isDirectory() && st.uid === uid && (st.mode & (strict ? 0o077 : 0o022)) === 0;
  } catch (err) {
    if (isFsRefusal(err)) return false;
    throw err;
  }
}

/** ENOENT, EACCES and the like: the answer is "no cache", not a failure of the command. */
function isFsRefusal(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'EACCES' || code === 'EPERM' || code === 'EROFS' || code === 'ENOSPC' || code === 'ENOTDIR' || code === 'EEXIST';
}
