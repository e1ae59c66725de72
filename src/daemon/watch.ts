// `watch =` (development): a change to a file matching one of a program's globs restarts that program
// once per burst — `watch_debounce` after the last change — and a `worker =` program rolls its pool
// instead, each replacement ready before an old worker leaves, so no request fails. Changes that arrive
// while a restart or roll runs bring one more after it. drover's own files (runtime directory, logs, the
// file its stdout or stderr goes to) never count. `drover serve --reload` is a program with watch = APP_DIR/**.
import { fstatSync, lstatSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { compileWatchGlob, globMatches, globMayContain, type WatchGlob } from '../config/watch-globs.js';
import type { Config, ProcessSpec } from '../config/types.js';
import type { Supervisor } from '../core/supervisor.js';
import type { Logger } from '../logs/logger.js';
import { TreeWatcher } from '../os/watch.js';
import { timerDelay } from '../os/timers.js';

export interface FileWatchOptions {
  readonly supervisor: Supervisor;
  readonly logger: Logger;
  /** rolls one worker program onto the code on disk, after any reload under way (Reloader.roll) */
  readonly roll: (group: string, programName: string, cause: string) => Promise<void>;
}

/** One program's watch. */
interface Watch {
  readonly group: string;
  readonly programName: string;
  /** what it was built from, to keep it across a reload that changes nothing here */
  readonly signature: string;
  readonly globs: readonly WatchGlob[];
  /** watch_ignore: a path matching one, or under a directory matching one, never counts */
  readonly ignore: readonly WatchGlob[];
  readonly debounceMs: number;
  readonly isWorker: boolean;
  watcher: TreeWatcher | null;
  /** the debounce timer, null when no change is waiting */
  timer: NodeJS.Timeout | null;
  /** the first matching change of the burst, and how many there were */
  firstChange: string | null;
  changes: number;
  /** a restart or roll is running; `again`: changes came during it */
  busy: boolean;
  again: boolean;
}

export class FileWatch {
  /** by "group:program" */
  private readonly watches = new Map<string, Watch>();
  /** drover's own directories and files (runtime directory, log files): changes there never count */
  private ignored: readonly string[] = [];
  /**
   * the regular files behind drover's own fds 1 and 2 as "dev:ino", empty when neither is one: with
   * `drover serve --reload > serve.log` in the app's directory, every line drover logs about a roll would
   * change a watched file and bring the next roll. By inode, as a shell may name the file by another path.
   */
  private streams: ReadonlySet<string> = new Set();
  private closed = false;

  constructor(private readonly o: FileWatchOptions) {}

  /** Watches what `config` asks for: programs added or changed get a new watch, removed ones lose theirs. */
  apply(config: Config): void {
    if (this.closed) return;
    this.ignored = ownFiles(config);
    this.streams = ownStreams();
    const wanted = new Map<string, ProcessSpec>();
    for (const p of config.processes) if (p.watch.length > 0 && !wanted.has(programKey(p))) wanted.set(programKey(p), p);
    for (const [key, w] of this.watches) {
      const spec = wanted.get(key);
      if (spec === undefined || signatureOf(spec) !== w.signature) this.drop(key, w);
    }
    for (const [key, spec] of wanted) if (!this.watches.has(key)) this.add(key, spec);
  }

  close(): void {
    this.closed = true;
    for (const [key, w] of this.watches) this.drop(key, w);
  }

  // --- internal ---

  private add(key: string, spec: ProcessSpec): void {
    const globs = spec.watch.map(compileWatchGlob);
    const ignore = spec.watchIgnore.map(compileWatchGlob);
    const w: Watch = {
      group: spec.group,
      programName: spec.programName,
      signature: signatureOf(spec),
      globs,
      ignore,
      debounceMs: spec.watchDebounceMs,
      isWorker: spec.worker !== null,
      watcher: null,
      timer: null,
      firstChange: null,
      changes: 0,
      busy: false,
      again: false,
    };
    // from the parent of each glob's fixed part, so that the directory itself may be removed and made again
    const roots = [...new Set(globs.map((g) => dirname(g.base)))];
    w.watcher = TreeWatcher.start({
      roots,
      descend: (dir) => !this.isIgnored(dir) && !ignoredBy(ignore, dir) && globs.some((g) => globMayContain(g, dir)),
      onChange: (path, wasWatchedDirectory) => this.changed(w, path, wasWatchedDirectory),
      onProblem: (message) => this.o.logger.warn(`watch: ${key}: ${message}`),
    });
    this.watches.set(key, w);
    this.o.logger.info(`watch: ${key}: watching ${spec.watch.join(', ')} (${w.watcher.size} director${w.watcher.size === 1 ? 'y' : 'ies'}); a change ${w.isWorker ? 'rolls the workers' : 'restarts the program'}`);
  }

  private drop(key: string, w: Watch): void {
    w.watcher?.close();
    if (w.timer) clearTimeout(w.timer);
    w.timer = null;
    this.watches.delete(key);
  }

  /** `wasWatchedDirectory`: a directory that could hold matches went away, and its files with it. */
  private changed(w: Watch, path: string, wasWatchedDirectory: boolean): void {
    if (this.closed || this.isIgnored(path) || ignoredBy(w.ignore, path)) return;
    if (!w.globs.some((g) => globMatches(g, path) || (wasWatchedDirectory && globMayContain(g, path)))) return;
    // after the globs: a stat per event of a busy tree (npm install) would run on the master's loop
    if (this.isOwnStream(path)) return;
    w.firstChange ??= path;
    w.changes++;
    if (w.busy) {
      w.again = true;
      return;
    }
    this.arm(w);
  }

  /** (Re)starts the debounce: the restart comes debounceMs after the last change. */
  private arm(w: Watch): void {
    if (w.timer) clearTimeout(w.timer);
    w.timer = setTimeout(() => void this.fire(w), timerDelay(w.debounceMs));
    w.timer.unref();
  }

  private async fire(w: Watch): Promise<void> {
    w.timer = null;
    if (this.closed || this.o.supervisor.mood !== 'running' || this.watches.get(`${w.group}:${w.programName}`) !== w) return;
    const what = `${w.firstChange ?? '?'}${w.changes > 1 ? ` and ${w.changes - 1} more change(s)` : ''}`;
    w.firstChange = null;
    w.changes = 0;
    w.busy = true;
    const name = `${w.group}:${w.programName}`;
    try {
      if (w.isWorker) {
        this.o.logger.info(`watch: ${name}: ${what}; rolling the workers`);
        await this.o.roll(w.group, w.programName, `watch (${name})`);
      } else {
        await this.restart(w, what);
      }
    } catch (err) {
      this.o.logger.error(`watch: ${name}: ${w.isWorker ? 'rolling' : 'restarting'} failed: ${(err as Error).message}`);
    } finally {
      w.busy = false;
      if (w.again) {
        w.again = false;
        this.arm(w);
      }
    }
  }

  /** Stops the program's processes and starts them again; a process stopped by hand (or stopping) is left alone. */
  private async restart(w: Watch, what: string): Promise<void> {
    const { supervisor, logger } = this.o;
    const name = `${w.group}:${w.programName}`;
    const mine = supervisor.snapshot().filter((p) => p.spec.group === w.group && p.spec.programName === w.programName);
    const targets = mine.filter((p) => p.record.state !== 'stopped' && p.record.state !== 'stopping');
    if (targets.length === 0) {
      logger.info(`watch: ${name}: ${what}; not restarted (stopped)`);
      return;
    }
    logger.info(`watch: ${name}: ${what}; restarting ${targets.map((p) => p.spec.name).join(', ')}`);
    const running = targets.filter((p) => p.record.state === 'running' || p.record.state === 'starting' || p.record.state === 'backoff');
    // kept stopped already (autostart = false, started only as a dependency): not an operator's word
    const keptBefore = new Set(targets.filter((p) => supervisor.keptStopped(p)).map((p) => p.key));
    const stopped = running.length > 0 ? await supervisor.command({ type: 'stop', keys: running.map((p) => p.key), wait: true, forRestart: true }) : [];
    for (const o of stopped) if (!o.ok && o.code !== 'E_NOT_RUNNING') logger.warn(`watch: ${o.key}: not stopped: ${o.message ?? o.code ?? ''}`);
    // an operator's stop that came while these stopped is the later word: those stay stopped
    const again = targets.filter((p) => keptBefore.has(p.key) || !supervisor.keptStopped(p));
    // as an update's restart: a dependency an operator stopped by hand is not pulled (the program waits for it)
    const started = again.length > 0 ? await supervisor.command({ type: 'start', keys: again.map((p) => p.key), wait: false, forUpdate: true }) : [];
    for (const o of started) if (!o.ok) logger.warn(`watch: ${o.key}: not started: ${o.message ?? o.code ?? ''}`);
  }

  private isOwnStream(path: string): boolean {
    if (this.streams.size === 0) return false;
    // lstat: the files behind fds 1 and 2 are reached by their own names, not through a link, and a link
    // loop (ELOOP) or any other error says only that this is no file drover writes to; a throw here would
    // reach the master's uncaughtException
    try {
      const st = lstatSync(path, { throwIfNoEntry: false });
      return st !== undefined && this.streams.has(`${st.dev}:${st.ino}`);
    } catch {
      return false;
    }
  }

  private isIgnored(path: string): boolean {
    return this.ignored.some((own) => path === own || path.startsWith(`${own}/`) || path.startsWith(`${own}.`));
  }
}

// --- internal ---

function programKey(p: Pick<ProcessSpec, 'group' | 'programName'>): string {
  return `${p.group}:${p.programName}`;
}

function signatureOf(p: ProcessSpec): string {
  return JSON.stringify([p.watch, p.watchIgnore, p.watchDebounceMs, p.worker !== null]);
}

/** Whether `path`, or a directory it is in, matches one of the watch_ignore globs. */
function ignoredBy(ignore: readonly WatchGlob[], path: string): boolean {
  if (ignore.length === 0) return false;
  for (let p = path; p !== dirname(p); p = dirname(p)) if (ignore.some((g) => globMatches(g, p))) return true;
  return false;
}

/**
 * drover's runtime directory, child log directory and every log file path (a rotated FILE.1 starts with
 * FILE.), each resolved as the log writer resolves it (against the config file's directory) and normalised,
 * so that `stdout_logfile = out.log` or `%(here)s/../app/out.log` in a watched tree is still drover's own.
 */
function ownFiles(config: Config): string[] {
  const s = config.supervisord;
  const here = dirname(config.file);
  const files = [s.runtimeDir, s.childlogdir, s.logfile];
  for (const p of config.processes) files.push(p.stdoutLogfile, p.stderrLogfile);
  const named = files.filter((f) => f !== '' && f !== 'AUTO' && f !== 'NONE' && f !== 'syslog' && !f.startsWith('/dev/'));
  return [...new Set(named.map((f) => resolve(here, f)))];
}

/** The regular files drover's stdout and stderr are open on, as "dev:ino" (a terminal, pipe or socket is none). */
function ownStreams(): Set<string> {
  const out = new Set<string>();
  for (const fd of [1, 2]) {
    try {
      const st = fstatSync(fd);
      if (st.isFile()) out.add(`${st.dev}:${st.ino}`);
    } catch (err) {
      // EBADF: started with that fd closed (1>&-)
      if ((err as NodeJS.ErrnoException).code !== 'EBADF') throw err;
    }
  }
  return out;
}
