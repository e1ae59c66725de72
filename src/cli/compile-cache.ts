// Compiled code kept on disk for drover's own modules (issue 16), so that a `drover status` does not compile
// them again on every run:
//   - Node ≥ 22.1: Node's compile cache (module.enableCompileCache), for every module loaded after it.
//   - Node 20, which has none: V8's code cache for the status bundle alone (`runBundle`), through vm.Script's
//     cachedData; the bundle compiles in ~2.3 ms instead of ~5.5 on the AMD VM.
//
// A cache entry is code that runs without being compiled from the source, so the cache lives only where no
// other user can write: $XDG_CACHE_HOME (or ~/.cache) /drover/compile-cache, each directory owned by the
// user drover runs as and writable by it alone (not a symlink). `sudo drover status` with the caller's HOME
// gets no cache rather than root using a directory the caller owns. NODE_COMPILE_CACHE (Node then uses that
// directory for everything) and NODE_DISABLE_COMPILE_CACHE are honoured (docs/decisions.md, "Compile cache").
import { isAscii } from 'node:buffer';
import { lstatSync, mkdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import module from 'node:module';
import { dirname, join } from 'node:path';
import { Script } from 'node:vm';
import { EXIT } from './exit-codes.js';

/** Turns the compile cache on when this Node has one and a safe directory exists (or can be made). */
export function enableCompileCache(env: Readonly<Record<string, string | undefined>>): void {
  const enable = (module as { enableCompileCache?: (dir?: string) => unknown }).enableCompileCache;
  if (enable === undefined || env['NODE_DISABLE_COMPILE_CACHE'] || env['NODE_COMPILE_CACHE']) return;
  const dir = cacheDirectory(env);
  if (dir !== null) enable(dir);
}

/**
 * Runs the status bundle (Node without a compile cache) for the command's arguments `argv`. An entry is
 * kept from a run the daemon answered (exit 0, or 3 when a program is not running): the path later runs
 * take. The table and `--json` compile different functions, so each has its own entry.
 */
export function runStatusBundle(file: string, env: Readonly<Record<string, string | undefined>>, argv: readonly string[]): void {
  runBundle(file, argv.includes('--json') ? 'status-json' : 'status', env, (code) => code === EXIT.OK || code === EXIT.NOT_RUNNING_STATUS);
}

/**
 * Runs the CommonJS file `file` as `require` would, from V8's code cache where one is kept for it (Node
 * without module.enableCompileCache). The entry is `<dir>/<name>.v8cache`: a first line naming the file's
 * identity (device, inode, size, mtime and ctime in ns) and Node's version and platform, then V8's data. V8
 * checks its own version and flags but of the source only its length, so the first line is what keeps an
 * entry from being used for another file or another build of it: any write to the file changes its ctime.
 * Without a valid entry, one is written when the process exits with a code `keep` accepts: after the run,
 * so it holds the functions the run compiled, and only after a run that went the usual way (an error path
 * compiles little of what later runs need).
 */
export function runBundle(file: string, name: string, env: Readonly<Record<string, string | undefined>>, keep: (code: number) => boolean = () => true): void {
  const bytes = readFileSync(file);
  // the build writes ASCII (esbuild escapes the rest): Latin-1 then gives the same string with no decoding
  // (reading the 200 KB bundle as UTF-8 took ~2 ms); anything else is decoded as UTF-8
  const source = isAscii(bytes) ? bytes.toString('latin1') : bytes.toString('utf8');
  const dir = env['NODE_DISABLE_COMPILE_CACHE'] ? null : cacheDirectory(env);
  const entry = dir === null ? null : join(dir, `${name}.v8cache`);
  const key = entry === null ? '' : `drover-v8cache 1 ${identity(file)} ${process.version} ${process.platform}-${process.arch}\n`;
  const cached = entry === null ? undefined : readEntry(entry, key);
  const script = new Script(module.wrap(source), { filename: file, ...(cached && { cachedData: cached }) });
  if (entry !== null && (cached === undefined || script.cachedDataRejected === true)) {
    process.once('exit', (code) => keep(code) && writeEntry(entry, key, script));
  }
  const fn = script.runInThisContext() as (exports: unknown, require: NodeJS.Require, module: { exports: unknown }, filename: string, dirname: string) => void;
  const mod = { exports: {} };
  fn.call(mod.exports, mod.exports, module.createRequire(file), mod, file, dirname(file));
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

/** What changes whenever the file's content can have: its inode, size, and modification and change times. */
function identity(file: string): string {
  const st = statSync(file, { bigint: true });
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
}

/** The V8 data of the entry when its first line is `key`, else undefined (missing, unreadable, stale). */
function readEntry(entry: string, key: string): Buffer | undefined {
  let data: Buffer;
  try {
    data = readFileSync(entry);
  } catch {
    // none yet, or not a file we can read: run without it
    return undefined;
  }
  const head = Buffer.from(key);
  return data.length > head.length && data.subarray(0, head.length).equals(head) ? data.subarray(head.length) : undefined;
}

/**
 * Writes the entry whole or not at all: a temporary file, created exclusively (O_EXCL: never through a link
 * left in its name), renamed over the entry. os/replace-file.ts does the same for pidfiles with a random
 * temporary name from the native layer; in this private directory the pid is name enough, and that module
 * would make this bundle, which every command on Node ≥ 22.1 loads before its cache is on, ~0.9 ms slower
 * to load. It runs as the process exits, so a failure (a full disk, a read-only home) costs only the cache,
 * never the command's exit code.
 */
function writeEntry(entry: string, key: string, script: Script): void {
  const tmp = `${entry}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, Buffer.concat([Buffer.from(key), script.createCachedData()]), { mode: 0o600, flag: 'wx' });
    renameSync(tmp, entry);
  } catch {
    try {
      unlinkSync(tmp);
    } catch {
      // never made
    }
  }
}
