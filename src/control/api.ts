// The control facade: everything the JSON API, supervisor's XML-RPC and the web page may ask of a running
// supervisor, in one place. Handlers translate requests into calls here and results into their protocol.
import type { ServerResponse } from 'node:http';
import { withChangedPools, type ConfigDiff } from '../config/diff.js';
import type { Config, ProcessSpec } from '../config/types.js';
import type { Supervisor } from '../core/supervisor.js';
import type { ProcessRecord } from '../core/program.js';
import type { CommandOutcome } from '../core/types.js';
import { STATE_CODES, type State } from '../core/states.js';
import { DroverError } from '../errors.js';
import { steadyNowMs } from '../os/clock.js';
import { deliverableSignal, signalName } from '../os/signals.js';
import { ProcSampler } from './proc-sampler.js';
import { shownOffsetMs } from './shown-time.js';

export type StreamName = 'stdout' | 'stderr';

/**
 * Read access to log files, provided by the log sink (src/logs/sink.ts). Processes are named "group:name"
 * (or "name"). Reads are asynchronous and return bytes; only configured log files are ever opened.
 */
export interface LogAccess {
  /** supervisor's readProcessLog semantics: negative offset reads from the end; length 0 = to the end */
  readLog(key: string, stream: StreamName, offset: number, length: number): Promise<Uint8Array>;
  /** supervisor's tailProcessLog: the last `length` bytes from `offset`, with the new offset and overflow */
  tailLog(key: string, stream: StreamName, offset: number, length: number): Promise<{ bytes: Uint8Array; offset: number; overflow: boolean }>;
  /** the last `lines` whole lines (tail(1)'s count), and the log's end offset */
  tailLogLines(key: string, stream: StreamName, lines: number): { bytes: Uint8Array; offset: number };
  clearLog(key: string): Promise<void>;
  /** the configured file, or null when the stream is not kept in a file */
  logPath(key: string, stream: StreamName): string | null;
  /** throws E_NO_FILE (a LogReadError) when the stream is kept in no file (NONE, syslog, redirect_stderr) */
  requireLog(key: string, stream: StreamName): void;
  /**
   * calls onChunk with new bytes as they are written, across rotations, after first the last `tailBytes`
   * or `tailLines` already there (no gap, no duplicate); returns an unsubscribe function
   */
  follow(key: string, stream: StreamName, onChunk: (chunk: Uint8Array) => void, opts?: { tailBytes?: number; tailLines?: number; tailMaxBytes?: number }): () => void;
  /** where a follow subscribed now starts: the live file ("dev:ino") and the offset of its next byte; null without a regular file */
  followPosition(key: string, stream: StreamName): { file: string; offset: number } | null;
  /** drover's own log */
  readMainLog(offset: number, length: number): Promise<Uint8Array>;
  /** drover's own log file, or null when it keeps none */
  mainLogPath(): string | null;
  /** follow() for drover's own log; a no-op without a log file */
  followMain(onChunk: (chunk: Uint8Array) => void, opts?: { tailBytes?: number }): () => void;
  clearMainLog(): Promise<void>;
  /** reopen every file (logrotate's postrotate) */
  reopen(): void;
}

/** One process as the control plane shows it. */
export interface ProcessView {
  readonly key: string;
  readonly name: string;
  readonly group: string;
  readonly state: State;
  readonly statecode: number;
  /** 0 when there is no process (supervisor's convention) */
  readonly pid: number;
  /** when its process was spawned and when the last one ended, on the wall clock (shown-time.ts); null: never */
  readonly startedAtMs: number | null;
  readonly stoppedAtMs: number | null;
  readonly exitStatus: number | null;
  /** the signal that ended the last process, without SIG; null when it exited by itself or none ran */
  readonly exitSignal: string | null;
  readonly spawnError: string | null;
  readonly restarts: number;
  /** percent of one core since the previous sample (or since the process started); null without a process */
  readonly cpuPercent: number | null;
  readonly rssBytes: number | null;
  readonly stdoutLogfile: string | null;
  readonly stderrLogfile: string | null;
  /** why a stopped process has not started: it waits for its dependencies (depends_on); null otherwise */
  readonly waiting: string | null;
  /** a dependency failed, so it will not start by itself */
  readonly blocked: boolean;
  /** the health check's last verdict while there is a process (null: no check, no verdict yet, or no process) */
  readonly health: 'healthy' | 'unhealthy' | null;
  /** drover workers: 'serving' (accepts) or 'spare' (loaded, accepts nothing until it takes over); null for other processes */
  readonly role: 'serving' | 'spare' | null;
  readonly spec: ProcessSpec;
}

/**
 * ms since the view's process started, when it has one (starting, running, stopping); else null. `nowMs` is
 * ControlApi.nowMs(), on the views' clock. Never below 0, as supervisord's ("system time set back"): a view
 * built just before a clock step and a now taken after it could otherwise disagree.
 */
export function uptimeMsOf(p: ProcessView, nowMs: number): number | null {
  const running = p.state === 'running' || p.state === 'starting' || p.state === 'stopping';
  return running && p.startedAtMs !== null ? Math.max(0, nowMs - p.startedAtMs) : null;
}

export interface ResolvedNames {
  readonly keys: string[];
  /** patterns that matched nothing */
  readonly unknown: string[];
  /** keys that a pattern named one by one (`group:name`, or a process name), not through all, a group or `group:*` */
  readonly named: ReadonlySet<string>;
}

/**
 * Config changes at run time, provided by the daemon (src/daemon/reload.ts): every entry point that
 * re-reads the config goes through this one implementation.
 */
export interface ConfigUpdates {
  /**
   * re-read the file and report what differs from what runs; nothing applied (throws ConfigError). The
   * config's warnings go to the log, unless `quiet` (a reload that reads the file again logs them then)
   */
  reread(quiet?: boolean): Promise<{ config: Config; diff: ConfigDiff; changedPools?: readonly string[]; settings?: readonly string[] }>;
  /** the last config that loaded (at start, or by a reread since; a failed reread leaves it), or a fresh read */
  pendingConfig(): Promise<Config>;
  /** the one reload: apply to `groups` (null: all) and roll the worker pools ('pools': roll only) */
  reload(opts: { groups: readonly string[] | null; apply: 'all' | 'pools'; cause: string }): Promise<{
    /** the config read; null when a shutdown kept the reload from beginning */
    config: Config | null;
    diff: ConfigDiff;
    outcomes: readonly CommandOutcome[];
    rolled: readonly string[];
    /** worker programs whose old workers were kept: the new ones did not get ready */
    kept: readonly string[];
    /** worker programs whose section changed (the diff leaves pools out) */
    changedPools: readonly string[];
    /** settings outside the programs that changed: applied, or waiting for the next start (one line each) */
    settings?: readonly string[];
  }>;
  /** bind the [socket:x] sockets `config` adds or changes now (supervisorctl adds groups before its reload runs) */
  syncSockets?(config: Config): void;
  /** bind the [socket:x] sockets `group` names that are not bound yet (an add after a reread) */
  bindGroupSockets?(config: Config, group: string): void;
  /** the config file with `numprocs` of `program` set to `count` (for scale) */
  readScaled(program: string, count: number): Config;
}

/** Prefork workers' counters, for /metrics, and their roles, for status (src/prefork/workers.ts). */
export interface WorkerStatsSource {
  stats(): {
    workers: { key: string; pid: number; requests: number }[];
    requestsServed: ReadonlyMap<string, number>;
    recycles: ReadonlyMap<string, number>;
    /** per "group:program": times a spare took over from a worker that left */
    takeovers: ReadonlyMap<string, number>;
  };
  /** 'serving' or 'spare' for a drover worker; null for any other process */
  roleOf(key: string): 'serving' | 'spare' | null;
}

/** Event listeners (src/events/): supervisor's sendRemoteCommEvent, and each pool's figures for /metrics. */
export interface EventListenerAccess {
  sendRemoteCommEvent(type: string, data: string): void;
  poolStats(): readonly {
    readonly pool: string;
    /** events waiting now, and the most the queue holds */
    readonly queued: number;
    readonly bufferSize: number;
    /** since drover started: queued, written to a listener, sent back by one, dropped from a full queue */
    readonly accepted: number;
    readonly sent: number;
    readonly rejected: number;
    readonly overflowed: number;
  }[];
}

export interface ControlApiOptions {
  readonly configFile: string;
  readonly updates: ConfigUpdates;
  readonly workers: WorkerStatsSource | null;
  /** event listener pools; null or absent when drover runs none */
  readonly events?: EventListenerAccess | null;
  readonly logs: LogAccess | null;
  readonly identification: string;
  readonly version: string;
}

export class ControlApi {
  /** CPU and memory per process, shared by every client (at most a second old) */
  private readonly sampler: ProcSampler;
  /**
   * The view of each process record, kept until its figures change: records are replaced, never changed,
   * so a status of a thousand processes builds only the views of what moved since the last one.
   */
  private views = new WeakMap<ProcessRecord, ProcessView>();
  /** the wall-clock offset the views' times are in (shown-time.ts); the views are built again when it moves */
  private viewsOffsetMs = 0;

  constructor(
    readonly supervisor: Supervisor,
    private readonly opts: ControlApiOptions,
  ) {
    this.sampler = new ProcSampler(() => this.livePids());
  }

  /** streaming answers (log follows, event streams) whose subscriptions are held: `drover_control_streams` */
  private streamsOpen = 0;

  get openStreams(): number {
    return this.streamsOpen;
  }

  /**
   * Releases a streaming answer's subscriptions when its connection ends. On the response's close: the
   * request's own close has come already, once its body was read (before the route ran), so a listener
   * there never ran and every follower, event listener and ping timer of a client that left was kept.
   */
  holdUntilClosed(res: ServerResponse, release: () => void): void {
    // the connection, not only the response: a pipelined request's response has no socket until the answers
    // before it are done, and never closes if the connection ends before then
    const conn = res.req.socket;
    if (res.destroyed || conn.destroyed) {
      release(); // the client left while the answer was being set up
      return;
    }
    this.streamsOpen++;
    let released = false;
    const end = (): void => {
      if (released) return;
      released = true;
      res.off('close', end);
      conn.off('close', end);
      this.streamsOpen--;
      release();
    };
    res.once('close', end);
    conn.once('close', end);
  }

  /** [supervisord] identifier as a reload last applied it; null: as drover started */
  private identifier: string | null = null;

  get identification(): string {
    return this.identifier ?? this.opts.identification;
  }

  /** A reload applied a new [supervisord] identifier: getIdentification and /metrics answer with it. */
  setIdentification(identifier: string): void {
    this.identifier = identifier;
  }

  get version(): string {
    return this.opts.version;
  }

  get logs(): LogAccess | null {
    return this.opts.logs;
  }

  get configFile(): string {
    return this.opts.configFile;
  }

  /** supervisor's sendRemoteCommEvent: raises REMOTE_COMMUNICATION for the listeners subscribed to it. */
  sendRemoteCommEvent(type: string, data: string): void {
    this.opts.events?.sendRemoteCommEvent(type, data);
  }

  /** Event listener pools' figures; empty when there are none. */
  eventPoolStats(): ReturnType<EventListenerAccess['poolStats']> {
    return this.opts.events?.poolStats() ?? [];
  }

  /** A drover worker's role ('serving' or 'spare'); null for other processes. */
  roleOf(key: string): 'serving' | 'spare' | null {
    return this.opts.workers?.roleOf(key) ?? null;
  }

  /** Prefork counters; empty when there is no prefork layer. */
  workerStats(): ReturnType<WorkerStatsSource['stats']> {
    return this.opts.workers?.stats() ?? { workers: [], requestsServed: new Map(), recycles: new Map(), takeovers: new Map() };
  }

  /**
   * Resolves patterns: `all`, `group:*` (or `group:`, as supervisor reads it), `group:name`, a process name
   * (in any group), or a group name (every process of it). Order follows the processes' order.
   */
  resolve(patterns: readonly string[]): ResolvedNames {
    const all = this.supervisor.snapshot();
    const chosen = new Set<string>();
    const named = new Set<string>();
    const unknown: string[] = [];
    for (const pat of patterns) {
      let hits: string[];
      let one = false;
      // no bare `*`: a shell glob that matched no file passes it on, and it must not mean every process
      if (pat === 'all') hits = all.map((p) => p.key);
      else if (pat.endsWith(':*') || (pat.endsWith(':') && pat.length > 1)) {
        const g = pat.slice(0, pat.endsWith(':*') ? -2 : -1);
        hits = all.filter((p) => p.spec.group === g).map((p) => p.key);
      } else if (pat.includes(':')) {
        hits = all.filter((p) => p.key === pat).map((p) => p.key);
        one = true;
      } else {
        hits = all.filter((p) => p.spec.name === pat).map((p) => p.key);
        one = hits.length > 0;
        if (!one) hits = all.filter((p) => p.spec.group === pat).map((p) => p.key);
      }
      if (hits.length === 0) unknown.push(pat);
      for (const h of hits) {
        chosen.add(h);
        if (one) named.add(h);
      }
    }
    return { keys: all.map((p) => p.key).filter((k) => chosen.has(k)), unknown, named };
  }

  /**
   * Every process (or those matching `patterns`), with live pid, CPU and memory. A view is the same object
   * until something in it changes (callers may keep what they derive from one: json-api.ts does).
   */
  list(patterns?: readonly string[]): ProcessView[] {
    const keys = patterns ? new Set(this.resolve(patterns).keys) : null;
    const out: ProcessView[] = [];
    const offsetMs = shownOffsetMs();
    if (offsetMs !== this.viewsOffsetMs) {
      // the wall clock was stepped: every time shown moves with it (uptimes do not)
      this.views = new WeakMap();
      this.viewsOffsetMs = offsetMs;
    }
    for (const { key, spec, record } of this.supervisor.snapshot()) {
      if (keys && !keys.has(key)) continue;
      const pid = record.pid ?? 0;
      // CPU% over the last window of at least a second, shared by every caller: a second client asking
      // a moment after the first must not get a percentage over a few milliseconds
      const figures = pid > 0 ? this.sampler.figures(pid) : null;
      const cpuPercent = figures?.cpuPercent ?? null;
      const rssBytes = figures?.rssBytes ?? null;
      // what depends on other records than this one: its dependencies' states and its pool role
      const { waiting, blocked } = this.supervisor.waitingFor(key);
      const role = this.opts.workers?.roleOf(key) ?? null;
      let view = this.views.get(record);
      if (
        !view ||
        view.spec !== spec ||
        view.key !== key ||
        view.cpuPercent !== cpuPercent ||
        view.rssBytes !== rssBytes ||
        view.waiting !== waiting ||
        view.blocked !== blocked ||
        view.role !== role
      ) {
        const running = record.state === 'running' || record.state === 'starting' || record.state === 'stopping';
        view = {
          key,
          name: spec.name,
          group: spec.group,
          state: record.state,
          statecode: STATE_CODES[record.state],
          pid,
          startedAtMs: record.startedAtMs === null ? null : record.startedAtMs + offsetMs,
          stoppedAtMs: record.stoppedAtMs === null ? null : record.stoppedAtMs + offsetMs,
          exitStatus: record.exitStatus,
          exitSignal: record.exitSignal,
          spawnError: record.spawnError,
          restarts: record.restarts,
          cpuPercent,
          rssBytes,
          stdoutLogfile: this.opts.logs?.logPath(key, 'stdout') ?? null,
          stderrLogfile: this.opts.logs?.logPath(key, 'stderr') ?? null,
          waiting,
          blocked,
          health: running ? record.health : null,
          role,
          spec,
        };
        this.views.set(record, view);
      }
      out.push(view);
    }
    return out;
  }

  /** Now on the clock of the views list() last built: minus a view's startedAtMs, the uptime of its process. */
  nowMs(): number {
    return steadyNowMs() + this.viewsOffsetMs;
  }

  start(keys: readonly string[], wait: boolean): Promise<readonly CommandOutcome[]> {
    return this.supervisor.command({ type: 'start', keys, wait });
  }

  stop(keys: readonly string[], wait: boolean): Promise<readonly CommandOutcome[]> {
    return this.supervisor.command({ type: 'stop', keys, wait });
  }

  /** supervisor.restart's clean slate: the past of each process that is not running is forgotten (core/fresh-records.ts). */
  clearHistory(keys: readonly string[]): Promise<readonly CommandOutcome[]> {
    return this.supervisor.command({ type: 'clearHistory', keys });
  }

  /** Stop (waiting) then start; processes that were not running are just started. */
  async restart(keys: readonly string[], wait: boolean): Promise<readonly CommandOutcome[]> {
    const stopped = await this.supervisor.command({ type: 'stop', keys, wait: true, forRestart: true });
    const failedStop = stopped.filter((o) => !o.ok && o.code !== 'E_NOT_RUNNING');
    const started = await this.start(
      keys.filter((k) => !failedStop.some((o) => o.key === k)),
      wait,
    );
    return [...failedStop, ...started];
  }

  /** Delivers a signal (name or number); throws BadSignal for an unknown one. */
  signal(keys: readonly string[], signal: string): Promise<readonly CommandOutcome[]> {
    const num = deliverableSignal(signal);
    if (num === null) throw new BadSignal(signal);
    // by name where it has one ("RTMIN+1", "HUP"): the core's messages say SIG and the name
    return this.supervisor.command({ type: 'signal', keys, signal: signalName(num) ?? String(num) });
  }

  shutdown(fast = false): Promise<readonly CommandOutcome[]> {
    return this.supervisor.command({ type: 'shutdown', fast });
  }

  /**
   * Re-reads the config file and reports what changed against what is active; kept for add/update. A group
   * whose worker pool's section changed is a changed group, the pool named in `changedPools`.
   */
  async reread(): Promise<{ config: Config; diff: ConfigDiff; changedPools: readonly string[]; settings?: readonly string[] }> {
    const read = await this.opts.updates.reread();
    const changedPools = read.changedPools ?? [];
    return { ...read, diff: withChangedPools(read.diff, changedPools), changedPools };
  }

  /** drover's update and reload: the one reload (src/daemon/reload.ts) over `groups` (null: all). */
  update(
    groups: readonly string[] | null,
    cause: string,
  ): Promise<{ config: Config | null; diff: ConfigDiff; outcomes: readonly CommandOutcome[]; rolled: readonly string[]; kept: readonly string[]; changedPools: readonly string[]; settings?: readonly string[] }> {
    return this.opts.updates.reload({ groups, apply: 'all', cause });
  }

  /**
   * supervisor's reloadConfig: re-read and report, as supervisor does; in drover the worker pools also roll
   * onto the code on disk, in the background (the groups themselves are left to add/remove, as supervisor does).
   * A pool whose section changed is not named among the changed groups, unlike reread's: this roll applies it,
   * and supervisorctl's update would stop, remove and add a changed group while it rolls (docs/decisions.md).
   */
  async reloadConfig(): Promise<{ config: Config; diff: ConfigDiff }> {
    // the roll reads the file again and logs its warnings; logged here too, each would show twice
    const read = await this.opts.updates.reread(true);
    this.opts.updates.syncSockets?.(read.config);
    void this.opts.updates.reload({ groups: null, apply: 'pools', cause: 'XML-RPC reloadConfig' }).catch(() => undefined); // logged by the reload
    return read;
  }

  /** supervisor's addProcessGroup, from the last config that loaded (at start or by a reread since). */
  async addGroup(group: string): Promise<readonly CommandOutcome[]> {
    const config = await this.opts.updates.pendingConfig();
    this.opts.updates.bindGroupSockets?.(config, group);
    return this.supervisor.command({ type: 'addGroup', config, group });
  }

  removeGroup(group: string): Promise<readonly CommandOutcome[]> {
    return this.supervisor.command({ type: 'removeGroup', group });
  }

  /**
   * drover scale: runs `count` processes of `program`. New processes are built from the program's section
   * as the config file has it now, with numprocs = count; scaling down stops and drops the highest-numbered.
   * A runtime change: a later update or reload goes back to the file's numprocs.
   */
  async scale(program: string, count: number, wait: boolean): Promise<readonly CommandOutcome[]> {
    const current = this.supervisor.snapshot().filter((p) => p.spec.programName === program);
    const first = current[0];
    if (!first) throw new ScaleError('E_BAD_NAME', `no such program: ${program}`);
    const config = this.opts.updates.readScaled(program, count);
    const specs = config.processes.filter((p) => p.programName === program && p.group === first.spec.group);
    if (specs.length !== count) {
      throw new ScaleError('E_BAD_NAME', `program ${program} is no longer in group ${first.spec.group} of ${this.opts.configFile}`);
    }
    return this.supervisor.command({ type: 'scale', group: first.spec.group, programName: program, specs, wait });
  }

  /** Pids of the processes that have one now. */
  private *livePids(): Iterable<number> {
    for (const { record } of this.supervisor.snapshot()) if (record.pid !== null && record.pid > 0) yield record.pid;
  }

  /** Groups in the config file that are not active (for `avail`), and which are active. */
  async avail(): Promise<{ active: string[]; available: string[]; config: Config }> {
    const config = await this.opts.updates.pendingConfig();
    const active = new Set(this.supervisor.activeGroups().map((g) => g.name));
    return {
      active: [...active],
      available: config.groups.map((g) => g.name).filter((g) => !active.has(g)),
      config,
    };
  }
}

/** A scale request that cannot be done (unknown program, program gone from the file). */
export class ScaleError extends DroverError {
  declare readonly code: 'E_BAD_NAME';
  constructor(code: 'E_BAD_NAME', message: string) {
    super(code, message);
  }
}

/** An unknown signal name or number in a request. */
export class BadSignal extends DroverError {
  constructor(readonly signal: string) {
    super('E_BAD_SIGNAL', `unknown signal ${JSON.stringify(signal)}`);
  }
}
