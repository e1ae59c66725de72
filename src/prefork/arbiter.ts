// The prefork pool policy, gunicorn's arbiter in drover's terms: a worker program is a pool of processes
// whose size converges to a target (numprocs, changed by TTIN/TTOU); a worker is replaced with its
// successor ready first (max_requests, max_memory, HUP); WINCH stops the pool and keeps the sockets.
// The supervisor owns the processes and their state machine; the arbiter only decides, through its host.
import type { ProcessSpec } from '../config/types.js';
import type { State } from '../core/states.js';
import type { Logger } from '../logs/logger.js';

/** What the arbiter sees of one supervised process. */
export interface PoolMember {
  readonly key: string;
  readonly spec: ProcessSpec;
  readonly record: { readonly state: State; readonly pid: number | null };
  /** on its way out (replaced, or removed by TTOU): no longer counted in the pool */
  retiring: boolean;
}

/** Outcome of a start or stop, as the supervisor's commands report it. */
export interface MemberOutcome {
  readonly ok: boolean;
  readonly code?: string;
  readonly message?: string;
}

/** What the supervisor lends the arbiter. */
export interface ArbiterHost {
  readonly logger: Logger;
  /** false once a shutdown has begun: nothing new is started */
  isRunning(): boolean;
  members(): Iterable<PoolMember>;
  /** whether `m` is still the process registered under its key */
  isCurrent(m: PoolMember): boolean;
  /** the spec of process number `processNum` of `spec`'s program, or null when it cannot be built */
  buildSpec(spec: ProcessSpec, processNum: number): ProcessSpec | null;
  /** registers (without starting) a process for `spec`; null when its key is taken */
  add(spec: ProcessSpec): PoolMember | null;
  /** starts now, from inside the event being handled */
  startNow(m: PoolMember): void;
  /** starts through the event queue and resolves when running (or failed) */
  start(m: PoolMember): Promise<MemberOutcome>;
  /** stops (gracefully) and resolves when stopped */
  stop(m: PoolMember): Promise<MemberOutcome>;
  /** forgets a stopped process */
  drop(m: PoolMember): void;
}

const STOPPED: ReadonlySet<State> = new Set(['stopped', 'exited', 'fatal']);

export class Arbiter {
  /** "group:program" → how many workers to run */
  private readonly targets = new Map<string, number>();
  /** "group:program" → workers recycled since start */
  readonly recycles = new Map<string, number>();

  constructor(private readonly host: ArbiterHost) {}

  setTarget(group: string, programName: string, count: number): void {
    this.targets.set(`${group}:${programName}`, count);
  }

  /** Replaces one worker (max_requests, max_memory): its successor starts first. */
  retire(m: PoolMember, reason: string): void {
    if (!this.host.isRunning() || m.record.state !== 'running' || m.retiring) return;
    m.retiring = true;
    const program = `${m.spec.group}:${m.spec.programName}`;
    this.recycles.set(program, (this.recycles.get(program) ?? 0) + 1);
    this.host.logger.info(`${m.spec.name}: recycling worker ${m.record.pid ?? '?'} (${reason})`);
    void this.replace(m).then((ok) => {
      if (!ok) m.retiring = false;
    });
  }

  /** TTIN: one more worker per worker program. */
  addWorkers(): void {
    // a worker started after a shutdown began is never stopped by it: the shutdown would wait on it forever
    if (!this.host.isRunning()) {
      this.host.logger.info('SIGTTIN: shutting down; no worker added');
      return;
    }
    for (const { group, programName } of this.programs()) {
      const live = this.workersOf(group, programName).filter((w) => !w.retiring);
      const last = live.at(-1);
      if (!last) continue;
      const next = this.sibling(last);
      if (!next) {
        this.host.logger.warn(`${programName}: cannot add a worker (its section no longer builds one)`);
        continue;
      }
      this.setTarget(group, programName, live.length + 1);
      this.host.logger.info(`${programName}: adding worker ${next.spec.name} (now ${live.length + 1})`);
      this.host.startNow(next);
    }
  }

  /** TTOU: one fewer worker per worker program, never below one: the newest leaves gracefully. */
  removeWorkers(): void {
    for (const { group, programName } of this.programs()) {
      const live = this.live(group, programName);
      if (live.length <= 1) {
        this.host.logger.info(`${programName}: keeping its last worker (TTOU never goes below one)`);
        continue;
      }
      const victim = live.at(-1) as PoolMember;
      this.setTarget(group, programName, live.length - 1);
      this.host.logger.info(`${programName}: removing worker ${victim.spec.name} (now ${live.length - 1})`);
      this.retireQuietly(victim);
    }
  }

  /**
   * Rolling restart of every worker program (or those `only` names): one worker at a time, each replacement
   * (built from the config as it is now) ready before the old one leaves; then the count converges to the
   * program's target.
   */
  async rollWorkers(only?: (group: string, programName: string) => boolean): Promise<void> {
    for (const { group, programName } of this.programs()) {
      if (only && !only(group, programName)) continue;
      for (const w of this.workersOf(group, programName)) {
        if (!this.host.isRunning()) return;
        if (w.retiring || w.record.state !== 'running') continue;
        w.retiring = true;
        if (!(await this.replace(w))) w.retiring = false;
      }
      const target = this.targets.get(`${group}:${programName}`);
      if (target === undefined) continue;
      while (this.host.isRunning() && this.live(group, programName).length < target) {
        const last = this.workersOf(group, programName).at(-1);
        const next = last ? this.sibling(last) : null;
        if (!next || !(await this.host.start(next)).ok) break;
      }
      for (const extra of this.live(group, programName).slice(target)) this.retireQuietly(extra);
    }
  }

  /** WINCH: stop every worker gracefully; the master and its sockets stay (TTIN or a reload brings them back). */
  stopWorkers(): void {
    const up = [...this.host.members()].filter((m) => m.spec.worker !== null && !STOPPED.has(m.record.state));
    this.host.logger.info(`SIGWINCH: stopping ${up.length} worker(s); sockets stay open`);
    for (const m of up) void this.host.stop(m);
  }

  // --- internal ---

  /** Starts a replacement for `old`, waits until it is running, then stops and drops `old`. */
  private async replace(old: PoolMember): Promise<boolean> {
    const next = this.sibling(old);
    if (!next) {
      // no way to build a sibling: restart in place (a short gap for this one worker only)
      await this.host.stop(old);
      await this.host.start(old);
      old.retiring = false; // the same process, back in the pool
      return true;
    }
    const started = await this.host.start(next);
    if (!started.ok) {
      this.host.logger.warn(`${old.spec.name}: replacement ${next.spec.name} did not start (${started.message ?? started.code ?? '?'}); keeping the old worker`);
      await this.host.stop(next);
      this.host.drop(next);
      return false;
    }
    await this.host.stop(old);
    if (this.host.isCurrent(old)) this.host.drop(old);
    return true;
  }

  /** Stops a worker and forgets it once stopped. */
  private retireQuietly(m: PoolMember): void {
    m.retiring = true;
    void this.host.stop(m).then(() => {
      if (this.host.isCurrent(m)) this.host.drop(m);
    });
  }

  /** Registers (without starting) a new process of `m`'s program with the next free process number. */
  private sibling(m: PoolMember): PoolMember | null {
    const nums = this.workersOf(m.spec.group, m.spec.programName).map((w) => w.spec.processNum);
    const spec = this.host.buildSpec(m.spec, Math.max(m.spec.processNum, ...nums) + 1);
    return spec ? this.host.add(spec) : null;
  }

  /** Processes of one program, in process-number order. */
  private workersOf(group: string, programName: string): PoolMember[] {
    return [...this.host.members()]
      .filter((w) => w.spec.group === group && w.spec.programName === programName)
      .sort((a, b) => a.spec.processNum - b.spec.processNum);
  }

  /** Workers of a program that are up and not on their way out. */
  private live(group: string, programName: string): PoolMember[] {
    return this.workersOf(group, programName).filter((w) => !w.retiring && !STOPPED.has(w.record.state));
  }

  /** Worker programs (group, program) currently configured. */
  private programs(): { group: string; programName: string }[] {
    const seen = new Map<string, { group: string; programName: string }>();
    for (const m of this.host.members()) {
      if (m.spec.worker !== null) seen.set(`${m.spec.group}:${m.spec.programName}`, { group: m.spec.group, programName: m.spec.programName });
    }
    return [...seen.values()];
  }
}
