// Watching directory trees for changed files with one inotify watch per directory (fs.watch on each
// directory, not recursive: Node 20's recursive fs.watch on Linux puts a watch on every file too, and
// walks node_modules). The caller says which directories are worth descending into; new directories are
// picked up as they appear, removed ones dropped. Bounded: at most `maxDirectories` are watched.
import { readdirSync, realpathSync, statSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export interface TreeWatchOptions {
  /** absolute directories to start from; a missing one is watched from its nearest existing ancestor */
  readonly roots: readonly string[];
  /** whether files below this absolute directory can matter (the watcher descends only into those) */
  readonly descend: (dir: string) => boolean;
  /**
   * A file or directory changed, appeared or went away (absolute path). `wasWatchedDirectory`: a watched
   * directory went away (removed, or moved out of the tree), with whatever it held: a move sends no event
   * for the files inside.
   */
  readonly onChange: (path: string, wasWatchedDirectory: boolean) => void;
  /** a directory could not be watched, or the limit was reached */
  readonly onProblem: (message: string) => void;
  readonly maxDirectories?: number;
}

const DEFAULT_MAX_DIRECTORIES = 4096;

export class TreeWatcher {
  /** watched directories, by path, with the directory's real path */
  private readonly watchers = new Map<string, { readonly watcher: FSWatcher; readonly real: string; readonly ino: number }>();
  /** real paths of the watched directories, so a symlink loop is entered once */
  private readonly real = new Set<string>();
  private closed = false;
  private limitReported = false;

  private constructor(private readonly o: TreeWatchOptions) {}

  /** Starts watching; problems are reported through onProblem, never thrown. */
  static start(o: TreeWatchOptions): TreeWatcher {
    const w = new TreeWatcher(o);
    for (const root of o.roots) w.addTree(nearestExisting(root), false);
    return w;
  }

  /** How many directories are watched now. */
  get size(): number {
    return this.watchers.size;
  }

  close(): void {
    this.closed = true;
    for (const w of this.watchers.values()) w.watcher.close();
    this.watchers.clear();
    this.real.clear();
  }

  // --- internal ---

  /** Watches `dir` and the directories below it worth watching; `announce`: report the files found (a new directory). */
  private addTree(dir: string, announce: boolean): void {
    if (this.closed || this.watchers.has(dir)) return;
    let real: string;
    let ino: number;
    try {
      real = realpathSync(dir);
      ino = statSync(dir).ino;
    } catch (err) {
      // ENOENT/ENOTDIR: gone again before we looked, as a build's temporary directory may be
      if (isGone(err)) return;
      throw err;
    }
    if (this.real.has(real)) return;
    if (this.watchers.size >= (this.o.maxDirectories ?? DEFAULT_MAX_DIRECTORIES)) {
      if (!this.limitReported) this.o.onProblem(`watching stopped at ${this.watchers.size} directories; ${dir} and others are not watched (narrow the watch globs)`);
      this.limitReported = true;
      return;
    }
    let watcher: FSWatcher;
    try {
      watcher = watch(dir, { persistent: false }, (_event, name) => {
        if (name === null) return;
        // the directory itself removed or moved away: Node names it by its own name, with no error
        if (String(name) === basename(dir) && this.replaced(dir)) this.gone(dir);
        else this.changed(dir, join(dir, String(name)));
      });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (isGone(err)) return;
      if (code === 'ENOSPC') {
        this.o.onProblem(`cannot watch ${dir}: the kernel's inotify watch limit is reached (raise fs.inotify.max_user_watches)`);
        return;
      }
      if (code === 'EACCES' || code === 'EPERM') {
        this.o.onProblem(`cannot watch ${dir}: permission denied`);
        return;
      }
      throw err;
    }
    // its watch dropped by the kernel: forget it, its parent's watch sees it return
    watcher.on('error', () => this.remove(dir));
    this.watchers.set(dir, { watcher, real, ino });
    this.real.add(real);
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch (err) {
      if (isGone(err)) {
        this.remove(dir);
        return;
      }
      if ((err as NodeJS.ErrnoException).code === 'EACCES') return;
      throw err;
    }
    for (const name of names) {
      const path = join(dir, name);
      if (isDirectory(path)) {
        if (this.o.descend(path)) this.addTree(path, announce);
      } else if (announce) this.o.onChange(path, false);
    }
  }

  private changed(dir: string, path: string): void {
    if (this.closed) return;
    if (isDirectory(path)) {
      // a new directory (or one renamed into place): watch it, and report what it already holds
      if (!this.watchers.has(path) && this.o.descend(path)) this.addTree(path, true);
    } else if (this.watchers.has(path)) {
      this.remove(path);
      this.o.onChange(path, true);
      return;
    } else if (!this.watchers.has(dir)) {
      return;
    }
    this.o.onChange(path, false);
  }

  /** Whether the watched directory `dir` is no longer there, or is another directory by now (removed and made again). */
  private replaced(dir: string): boolean {
    try {
      return statSync(dir).ino !== this.watchers.get(dir)?.ino;
    } catch (err) {
      if (isGone(err)) return true;
      throw err;
    }
  }

  /** The watched `dir` went away: forget it, and watch the one made in its place already, if any. */
  private gone(dir: string): void {
    if (this.remove(dir)) this.o.onChange(dir, true);
    if (!this.watchers.has(dir) && isDirectory(dir) && this.o.descend(dir)) this.addTree(dir, true);
  }

  /**
   * Stops watching `dir` and everything below it: one pass over the watched directories, no file system
   * call (a tree of thousands of directories removed at once, by a build's `rm -rf`, sends one event per
   * directory). A root of the watch removed with it is watched again from its nearest existing ancestor,
   * so that it is seen when it is made again. Returns whether `dir` was watched.
   */
  private remove(dir: string): boolean {
    let removed = false;
    for (const [path, w] of this.watchers) {
      if (path === dir || path.startsWith(`${dir}/`)) {
        w.watcher.close();
        this.watchers.delete(path);
        this.real.delete(w.real);
        removed = true;
      }
    }
    if (!removed || this.closed) return removed;
    for (const root of this.o.roots) {
      if (root !== dir && !root.startsWith(`${dir}/`) && !dir.startsWith(`${root}/`)) continue;
      // what it holds already was made after the removal; an ancestor removed in turn while it was being
      // watched (rm -rf works upwards) leaves it unwatched: the next existing one then
      for (let tries = 0; tries < 16 && !this.covers(root); tries++) this.addTree(nearestExisting(root), true);
    }
    return true;
  }

  /** Whether `path` is a watched directory or lies under one. */
  private covers(path: string): boolean {
    for (const w of this.watchers.keys()) if (path === w || path.startsWith(`${w}/`)) return true;
    return false;
  }
}

// --- internal ---

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch (err) {
    // ENOENT: removed (the change being reported); ELOOP/EACCES: not a directory we can enter
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP' || code === 'EACCES') return false;
    throw err;
  }
}

function isGone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** `path`, or its nearest ancestor that exists (a directory created later is seen appearing there). */
function nearestExisting(path: string): string {
  let p = path;
  while (!isDirectory(p)) {
    const up = dirname(p);
    if (up === p) return p;
    p = up;
  }
  return p;
}
