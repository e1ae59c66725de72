// The one reload. SIGHUP, `drover reload`, `POST /api/update`, `systemctl reload` (which runs `drover
// reload`) and XML-RPC's reloadConfig all come here, so they cannot drift apart: run the on_reload hook,
// re-read the config, apply what changed (only processes whose own config changed restart), and roll every
// worker pool onto the code on disk — each replacement ready before an old worker leaves — converging to
// the file's numprocs. Reloads run one at a time, in the order asked.
import { diffConfigs, processKey, type ConfigDiff } from '../config/diff.js';
import { formatConfigWarning } from '../config/sources.js';
import type { Config, ProcessSpec } from '../config/types.js';
import type { Supervisor } from '../core/supervisor.js';
import type { CommandOutcome } from '../core/types.js';
import type { Logger } from '../logs/logger.js';
import type { RollOutcome } from '../prefork/arbiter.js';
import type { SocketSet } from '../prefork/sockets.js';
import type { Workers } from '../prefork/workers.js';
import { diffSettings } from './settings-diff.js';
import { bindForGroup, bindSocketChanges, restartOntoNewSockets, usersOfChanged, withoutFailedSockets, type SocketChanges } from './socket-reload.js';

export interface ReloadOptions {
  /** groups to apply to (null: all) */
  readonly groups: readonly string[] | null;
  /**
   * 'all': apply the diff and roll the pools (drover's reload and update, HUP). 'pools': roll the pools only
   * and leave the rest to the caller (XML-RPC reloadConfig, after which supervisorctl adds and removes groups)
   */
  readonly apply: 'all' | 'pools';
  /** what asked, for the log: "SIGHUP", "drover reload", … */
  readonly cause: string;
}

export interface ReloadResult {
  /** the config read; null when a shutdown kept the reload from beginning */
  readonly config: Config | null;
  /** the config's differences from what ran, pools left out (they roll in place) */
  readonly diff: ConfigDiff;
  readonly outcomes: readonly CommandOutcome[];
  /** worker programs ("group:program") rolled onto new code */
  readonly rolled: readonly string[];
  /** worker programs ("group:program") whose section changed since the last reload (the diff leaves pools out) */
  readonly changedPools: readonly string[];
  /** worker programs whose old workers were kept: the new ones did not get ready (each an E_KEPT_OLD_WORKERS outcome too) */
  readonly kept: readonly string[];
  /** the settings outside the programs that changed: what the reload applied, what waits for the next start */
  readonly settings: readonly string[];
}

export interface ReloaderOptions {
  readonly supervisor: Supervisor;
  readonly workers: Workers;
  /** the master's [socket:x] sockets, brought to the config by each reload (src/daemon/socket-reload.ts) */
  readonly sockets: SocketSet;
  /** reads the config file now (rejects with ConfigError); a typed config's module runs without blocking */
  readonly readConfig: () => Promise<Config>;
  readonly logger: Logger;
  /** drover's own log settings as it started with them: a reload does not change them, and says so */
  readonly ownLog?: Pick<Config['supervisord'], OwnLogKey>;
  /**
   * the config drover started with, and what applies a reload's settings in place (the control listeners,
   * identifier: settings-diff.ts); resolves with why it could not, or null
   */
  readonly settings?: { readonly started: Config; readonly apply: (config: Config) => string | null };
  /** the on_reload server hook; resolves false when it failed (the reload goes on, as gunicorn's does) */
  readonly onReloadHook: () => Promise<boolean>;
  /** told when a reload begins (with what asked) and ends (systemd's RELOADING=1 / READY=1) */
  readonly onReloading?: (cause: string) => void;
  readonly onReloaded?: () => void;
  /** told the config a reload applied (the file watches follow it) */
  readonly onApplied?: (config: Config) => void;
  /**
   * a new master (USR2) has taken over, and this one stops because of it: a reload it cuts short says so
   * (E_REEXEC), not that drover is shutting down
   */
  readonly handedOver?: () => boolean;
}

/** `[supervisord]` keys of drover's own log, as the config names them and as Config holds them */
const OWN_LOG_KEYS = { logfile: 'logfile', logfile_maxbytes: 'logfileMaxBytes', logfile_backups: 'logfileBackups', loglevel: 'loglevel' } as const;
type OwnLogKey = (typeof OWN_LOG_KEYS)[keyof typeof OWN_LOG_KEYS];

export class Reloader {
  /**
   * the last config that loaded (at start, or by a reread or reload since), for supervisor's two-step
   * reread + add/update and for avail; null when not told the config drover started with
   */
  private lastRead: Config | null;
  /** the reload running now, if any; the next one waits for it */
  private current: Promise<unknown> = Promise.resolve();
  /** sockets bound anew by syncSockets() ahead of a reload (XML-RPC reloadConfig): their programs move at the reload */
  private readonly movedSockets = new Set<string>();
  /** the config whose settings the last reload applied (the control listeners, identifier); null: as started */
  private appliedSettings: Config | null = null;
  /**
   * "group:program" → its worker pool's section as last applied (at start, or by a reload since), to tell a
   * pool whose keys changed; empty when not told the config drover started with
   */
  private readonly poolSections = new Map<string, string>();

  constructor(private readonly o: ReloaderOptions) {
    this.lastRead = o.settings?.started ?? null;
    if (o.settings) this.notePoolSections(o.settings.started, () => true);
  }

  /**
   * Re-reads the config and reports what differs from what runs, pools left out of the diff (their processes
   * are renumbered as they roll) and named in `changedPools` when their section changed; nothing is applied.
   */
  async reread(cause = 'reread', quiet = false): Promise<{ config: Config; diff: ConfigDiff; changedPools: readonly string[]; settings: readonly string[] }> {
    // a read that fails leaves the last good one in force, as supervisord's process_group_configs: `avail`
    // and `add` go on with the config in use while the file is broken (docs/decisions.md)
    const config = await this.o.readConfig();
    this.lastRead = config;
    // what `drover check` and `up` print on stderr: at a reload the daemon's log is where it can be seen
    if (!quiet) for (const w of config.warnings) this.o.logger.warn(`${cause}: ${formatConfigWarning(w).replace(/\n/g, '\n    ')}`);
    return { config, diff: this.diffAgainstActive(config), changedPools: this.changedPools(config, () => true), settings: this.settingChanges(config).map((c) => c.line) };
  }

  /** The last config that loaded (at start or by a reread since), or a fresh read when there is none. */
  async pendingConfig(): Promise<Config> {
    return this.lastRead ?? (await this.reread()).config;
  }

  /**
   * Brings the [socket:x] sockets to `config` now: supervisorctl's update adds groups right after its
   * reloadConfig, before that reload runs, and their programs need their sockets bound.
   */
  /** Binds the sockets `group` names that are not bound yet (addProcessGroup after a reread). */
  bindGroupSockets(config: Config, group: string, cause: string): void {
    bindForGroup(this.o.sockets, config, group, this.o.logger, cause);
  }

  syncSockets(config: Config, cause: string): SocketChanges {
    const changes = bindSocketChanges(this.o.sockets, config, this.o.logger, cause);
    for (const name of changes.changed) this.movedSockets.add(name);
    return changes;
  }

  /** Runs one reload after any that is under way; rejects with ConfigError when the file does not load. */
  reload(opts: ReloadOptions): Promise<ReloadResult> {
    const run = this.current.then(() => this.run(opts));
    // the chain goes on after a failed reload; the caller gets the failure
    this.current = run.catch(() => undefined);
    return run;
  }

  /** Rolls one worker program onto the code on disk (watch =), after any reload under way; the config is not re-read. */
  roll(group: string, programName: string, cause: string): Promise<void> {
    const run = this.current.then(async () => {
      const how = (await this.o.workers.arbiter.rollWorkers((g, p) => g === group && p === programName)).get(`${group}:${programName}`);
      if (how === 'kept') this.o.logger.warn(`${cause}: ${group}:${programName} kept its old workers: the new ones did not get ready`);
      else if (how === 'stopped') this.o.logger.info(`${cause}: the roll of ${group}:${programName} ended at SIGWINCH: its workers stay stopped until TTIN or a reload`);
      else this.o.logger.info(`${cause}: rolled ${group}:${programName}`);
    });
    this.current = run.catch(() => undefined);
    return run;
  }

  // --- internal ---

  /** Why this master stops, for the log. */
  private stopping(began = false): string {
    if (this.o.handedOver?.() === true) return began ? 'this master began handing over to a new one (USR2)' : 'this master hands over to a new one (USR2)';
    return began ? 'drover began shutting down' : 'drover is shutting down';
  }

  /** The outcome of a reload that this master's stop kept from finishing (or from beginning). */
  private stopped(what: string): CommandOutcome {
    if (this.o.handedOver?.() === true) {
      return { key: '*', ok: false, code: 'E_REEXEC', message: `${what}: a new master (USR2) has taken over; it read the config file when it started, and runs it` };
    }
    return { key: '*', ok: false, code: 'E_SHUTTING_DOWN', message: `drover is shutting down: ${what}` };
  }

  private async run(opts: ReloadOptions): Promise<ReloadResult> {
    const { supervisor, workers, logger } = this.o;
    if (supervisor.mood !== 'running') {
      // queued behind another reload, or a HUP that came during the shutdown: nothing is read or applied
      logger.warn(`${opts.cause}: not reloading: ${this.stopping()}`);
      return { config: null, diff: emptyDiff(), outcomes: [this.stopped('the reload did not begin')], rolled: [], kept: [], changedPools: [], settings: [] };
    }
    this.o.onReloading?.(opts.cause);
    try {
      logger.info(`${opts.cause}: reloading (re-reading the config${opts.apply === 'all' ? ', applying what changed' : ''} and rolling the worker pools)`);
      if (!(await this.o.onReloadHook())) logger.warn(`${opts.cause}: the on_reload hook failed (see above); reloading anyway`);
      const read = await this.reread(opts.cause);
      // the module of a typed config runs beside the loop: a shutdown may have begun meanwhile
      if (supervisor.mood !== 'running') {
        logger.warn(`${opts.cause}: reload cut short: ${this.stopping(true)} while it read the config`);
        return { config: read.config, diff: read.diff, outcomes: [this.stopped('the reload was cut short while it read the config')], rolled: [], kept: [], changedPools: [], settings: [] };
      }
      this.warnOwnLogUnchanged(read.config, opts.cause);
      const settings = this.applySettings(read.config, opts.cause);
      // sockets first: a program that is added or moved needs its socket bound (socket-reload.ts)
      const socketChanges = this.syncSockets(read.config, opts.cause);
      const moved = { ...socketChanges, changed: [...this.movedSockets] };
      this.movedSockets.clear();
      const running = new Map(supervisor.snapshot().map((p) => [p.key, p.spec]));
      const held = withoutFailedSockets(read.config, moved, running);
      const config = held.config;
      const before = held.outcomes.length > 0 || moved.changed.length > 0 ? this.diffAgainstActive(config) : read.diff;
      let diff = before;
      const inScope = (group: string): boolean => opts.groups === null || opts.groups.includes(group);
      const pooled = this.pooledPrograms(config);
      const changedPools = this.changedPools(config, inScope);
      const managedElsewhere = (spec: ProcessSpec): boolean => spec.worker !== null && pooled.has(programKey(spec));
      const applied = opts.apply === 'all' ? await supervisor.command({ type: 'applyConfig', config, groups: opts.groups, managedElsewhere }) : [];
      // a program on a socket bound anew moves onto it: restarted here unless the update did, rolled below if a pool
      const movers = usersOfChanged(config, moved, running).filter((c) => !managedElsewhere(c.after) && !applied.some((o) => o.key === processKey(c.after)));
      const restarted = await restartOntoNewSockets(supervisor, movers.map((c) => processKey(c.after)));
      const outcomes = [...held.outcomes, ...applied, ...restarted];
      diff = { ...before, changedProcesses: [...before.changedProcesses, ...movers.filter((c) => restarted.some((o) => o.key === processKey(c.after)))] };
      // a shutdown that began while the reload ran (`drover down` while a changed program stopped) cuts it
      // short: its caller hears so (E_SHUTTING_DOWN), never "done"
      const cutShort = (step: string): ReloadResult => {
        logger.warn(`${opts.cause}: reload cut short: ${this.stopping(true)} ${step}`);
        const last = this.stopped(`the reload was cut short ${step}`);
        // a re-exec: the processes the stop refused are the new master's to start, from the config it read
        const kept = last.code === 'E_REEXEC' ? outcomes.filter((o) => o.code !== 'E_SHUTTING_DOWN') : outcomes;
        const told = kept.some((o) => o.code === last.code);
        return { config, diff, outcomes: told ? kept : [...kept, last], rolled: [], kept: [], changedPools: [], settings };
      };
      if (supervisor.mood !== 'running') return cutShort('while it applied the changes; the worker pools were not rolled');
      workers.setTargets({ ...config, processes: config.processes.filter((p) => managedElsewhere(p) && inScope(p.group)) });
      // a pool on a socket bound anew rolls onto it, in scope or not
      const onMoved = new Set(usersOfChanged(config, moved, running).map((c) => programKey(c.after)));
      const rolling = [...pooled].filter((key) => inScope(key.slice(0, key.indexOf(':'))) || onMoved.has(key));
      const why = new Map<string, string>();
      const rolls = await workers.arbiter.rollWorkers((group, programName) => rolling.includes(`${group}:${programName}`), why);
      const ended = (how: RollOutcome): string[] => rolling.filter((key) => rolls.get(key) === how);
      const rolled = rolling.filter((key) => rolls.get(key) !== 'kept' && rolls.get(key) !== 'stopped');
      const kept = ended('kept');
      const stopped = ended('stopped');
      // worker programs the reload added get their spares too (rolled ones have theirs)
      await workers.arbiter.fillAllSpares();
      // what used the old and the removed sockets has moved or stopped: the master's copies go now
      this.o.sockets.closeRetired(new Set(supervisor.snapshot().flatMap((p) => p.spec.sockets)));
      if (supervisor.mood !== 'running') return cutShort('while it rolled the worker pools');
      const changes = [`${diff.changedProcesses.length} changed`, `${diff.addedProcesses.length} added`, `${diff.removedProcesses.length} removed`];
      if (changedPools.length > 0) changes.push(`${changedPools.length} pool${changedPools.length > 1 ? 's' : ''} changed: ${changedPools.join(', ')}`);
      this.o.onApplied?.(config);
      // the pools now run (or, kept, will start their next workers from) these sections
      this.notePoolSections(config, (p) => inScope(p.group));
      const keptNote = kept.length > 0 ? `; kept the old workers of ${kept.join(', ')}: the new ones did not get ready` : '';
      const stoppedNote = stopped.length > 0 ? `; the roll of ${stopped.join(', ')} ended at SIGWINCH: its workers stay stopped until TTIN or a reload` : '';
      logger.log(kept.length > 0 ? 'warn' : 'info', `reload: done (${opts.cause}: ${opts.apply === 'all' ? changes.join(', ') : 'groups left to the caller'}; ${rolled.length} pool(s) rolled${rolled.length > 0 ? `: ${rolled.join(', ')}` : ''}${keptNote}${stoppedNote})`);
      // the old workers serve on, as gunicorn's after a HUP with broken code; but the reload did not do
      // what it was asked, so its caller hears so (`drover reload` exits 1), not only drover's log
      const keptOutcomes = kept.map((key): CommandOutcome => ({ key, ok: false, code: 'E_KEPT_OLD_WORKERS', message: keptMessage(why.get(key)) }));
      return { config, diff, outcomes: [...outcomes, ...keptOutcomes], rolled, kept, changedPools, settings };
    } catch (err) {
      logger.error(`${opts.cause}: reload failed: ${(err as Error).message}`);
      throw err;
    } finally {
      this.o.onReloaded?.();
    }
  }

  /**
   * drover's own log is opened once, at start: a reload that finds its settings changed says they wait for
   * the next start (supervisord re-execs itself on a reload and so applies them; drover's USR2 re-exec does).
   */
  private warnOwnLogUnchanged(config: Config, cause: string): void {
    const was = this.o.ownLog;
    if (was === undefined) return;
    const changed = Object.entries(OWN_LOG_KEYS)
      .filter(([, field]) => config.supervisord[field] !== was[field])
      .map(([key]) => key);
    if (changed.length === 0) return;
    this.o.logger.warn(
      `${cause}: [supervisord] ${changed.join(', ')} changed in the file; drover's own log keeps what it started with until drover starts again (a restart, or a re-exec with SIGUSR2)`,
    );
  }

  /** The settings outside the programs that `config` changes (settings-diff.ts); none when not wired. */
  private settingChanges(config: Config): ReturnType<typeof diffSettings> {
    const s = this.o.settings;
    return s === undefined ? [] : diffSettings(s.started, this.appliedSettings ?? s.started, config);
  }

  /**
   * Applies what a reload applies of `config`'s settings (the control listeners' credentials, mode, owner and
   * host names; identifier) and logs, one line per key, what it applied and what waits for the next start.
   * Returns those lines.
   */
  private applySettings(config: Config, cause: string): string[] {
    const changes = this.settingChanges(config);
    const lines: string[] = [];
    // applied even when nothing is applied in place: a moved runtime_dir has its lock taken (master.ts)
    const problem = changes.length > 0 ? (this.o.settings?.apply(config) ?? null) : null;
    if (problem === null && changes.some((c) => c.applied)) this.appliedSettings = config;
    for (const c of changes) {
      const line = c.applied && problem !== null ? `${c.line.replace(/: applied.*$/, '')}: not applied: ${problem}` : c.line;
      lines.push(line);
      this.o.logger.log(c.applied && problem === null ? 'info' : 'warn', `${cause}: ${line}`);
    }
    return lines;
  }

  /** Remembers the sections of `config`'s worker programs that `pick` takes, as now applied. */
  private notePoolSections(config: Config, pick: (p: ProcessSpec) => boolean): void {
    for (const p of config.processes) if (p.worker !== null && pick(p)) this.poolSections.set(programKey(p), poolSection(config, programKey(p)));
  }

  /** Worker programs ("group:program") of groups `inScope` takes, running and in `config`, whose section differs from the one last applied. */
  private changedPools(config: Config, inScope: (group: string) => boolean): string[] {
    return [...this.pooledPrograms(config)].filter(
      (key) => inScope(key.slice(0, key.indexOf(':'))) && this.poolSections.has(key) && this.poolSections.get(key) !== poolSection(config, key),
    );
  }

  /** Worker programs present both now and in `config`: they roll in place instead of being diffed. */
  private pooledPrograms(config: Config): Set<string> {
    const now = new Set(
      this.o.supervisor
        .snapshot()
        .filter((p) => p.spec.worker !== null)
        .map((p) => programKey(p.spec)),
    );
    return new Set(config.processes.filter((p) => p.worker !== null && now.has(programKey(p))).map(programKey));
  }

  /** What `config` changes against what runs, leaving out pools (their processes are renumbered as they roll). */
  private diffAgainstActive(config: Config): ConfigDiff {
    const pooled = this.pooledPrograms(config);
    const outsidePools = (p: ProcessSpec): boolean => !(p.worker !== null && pooled.has(programKey(p)));
    const active: Config = {
      ...config,
      groups: this.o.supervisor.activeGroups(),
      processes: this.o.supervisor
        .snapshot()
        .map((p) => p.spec)
        .filter(outsidePools),
    };
    return diffConfigs(active, { ...config, processes: config.processes.filter(outsidePools) });
  }
}

/** Why a pool kept its old workers, for its E_KEPT_OLD_WORKERS outcome; `why` is the failed start, "web_3: …". */
function keptMessage(why: string | undefined): string {
  // exit 3 is a worker's WORKER_BOOT_ERROR (docs/exit-codes.md): its module did not load, or setup() threw
  const boot = why !== undefined && /\(exit status 3\)/.test(why) ? '; exit 3: it could not load or start its module, its stderr log says why' : '';
  return `kept the old workers: the new ones did not get ready${why !== undefined ? ` (${why}${boot})` : ''}`;
}

/** A worker program's processes in `config` as text, to compare across reloads (their place in the file not counted). */
function poolSection(config: Config, key: string): string {
  return JSON.stringify(config.processes.filter((p) => programKey(p) === key).map((p) => ({ ...p, source: null })));
}

function emptyDiff(): ConfigDiff {
  return { addedGroups: [], changedGroups: [], removedGroups: [], addedProcesses: [], changedProcesses: [], removedProcesses: [] };
}

function programKey(spec: Pick<ProcessSpec, 'group' | 'programName'>): string {
  return `${spec.group}:${spec.programName}`;
}
