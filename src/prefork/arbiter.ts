// The prefork pool policy, gunicorn's arbiter in drover's terms: a worker program is a pool of processes
// whose size converges to a target (numprocs, changed by TTIN/TTOU); a worker is replaced with its
// successor ready first (max_requests, max_memory, HUP); WINCH stops the pool and keeps the sockets.
// The supervisor owns the processes and their state machine; the arbiter only decides, through its host.
//
// Each serving worker holds a slot (0, 1, …): with a balanced socket (reuse_port) the slot is the socket it
// accepts on, so a replacement takes its predecessor's slot and the connections queued there. A spare is a
// worker that loaded the module and accepts nothing; when a serving worker leaves for any reason, a spare
// takes its slot at once and the pool loads a new spare in the background.
import type { ProcessSpec } from '../config/types.js';
import type { State } from '../core/states.js';
import type { Logger } from '../logs/logger.js';

/** What a pool member does: accept in its slot, or wait loaded until it is promoted. */
export type Role = 'serving' | 'spare';

/** What the arbiter sees of one supervised process. */
export interface PoolMember {
  readonly key: string;
  readonly spec: ProcessSpec;
  readonly record: { readonly state: State; readonly pid: number | null };
  /** on its way out (replaced, or removed by TTOU): no longer counted in the pool */
  retiring: boolean;
  /** null until the arbiter placed it (at its first start) */
  role: Role | null;
  /** the slot a serving member accepts in; null for a spare, and for a serving member not placed yet */
  slot: number | null;
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
  /**
   * whether `m` is to stay stopped until an operator starts it: they stopped it (`drover stop`), or its
   * program is `autostart = false` and nobody started it
   */
  keptStopped(m: PoolMember): boolean;
  /** tries a FATAL `m` again from scratch after `ms`, as its own fatal_cooldown would: a stop calls it off */
  coolDown(m: PoolMember, ms: number): void;
  /** hands a running spare the sockets of its slot `m.slot` and tells it to accept; false when it cannot */
  promote(m: PoolMember): boolean;
  /** the open slots of the program's balanced sockets (none for shared sockets) */
  openSlots(group: string, programName: string): readonly number[];
  /**
   * closes the master's copy of a slot of the program's balanced sockets (nothing for shared sockets);
   * `drain`: its worker still accepts, so the slot is first taken out of turn and its queue emptied
   */
  closeSlot(group: string, programName: string, slot: number, drain: boolean): Promise<void>;
}

/** How long a worker FATAL beside serving ones waits before it is tried again (retryLater). */
const POOL_RETRY_MS = 10_000;

/** States in which a process holds nothing: no slot, no place in the pool. */
const DOWN: ReadonlySet<State> = new Set(['stopped', 'exited', 'fatal']);
/** States of a serving member that keeps its slot (a crashed worker restarting in place holds it). */
const GONE: ReadonlySet<State> = new Set(['stopped', 'fatal']);
/** States of a member that serves nothing and is not leaving: a reload replaces it at once, without a roll. */
const IDLE: ReadonlySet<State> = new Set(['starting', 'backoff', 'exited', 'fatal']);

/** How a pool's roll ended: every worker replaced, old ones kept (a new one did not get ready), or cut short by WINCH. */
export type RollOutcome = 'rolled' | 'kept' | 'stopped';

export class Arbiter {
  /** "group:program" → how many serving workers to run */
  private readonly targets = new Map<string, number>();
  /** "group:program" → how many spares to keep loaded */
  private readonly spareTargets = new Map<string, number>();
  /** "group:program" → workers recycled since start */
  readonly recycles = new Map<string, number>();
  /** "group:program" → times a spare took over from a worker that left */
  readonly takeovers = new Map<string, number>();
  /** "group:program" of pools stopped by WINCH: nothing takes over and no slot closes until TTIN or a reload */
  private readonly paused = new Set<string>();
  /** FATAL workers whose retry (retryLater) was set; it may since have fired or been called off */
  private readonly retried = new WeakSet<PoolMember>();
  /** WINCHes so far, 0 at start: a roll or a replacement that sees it change stops starting workers */
  private winches = 0;
  /**
   * Successors `replace` is starting (a recycle's, a roll's), each with its start: a reload does not stop
   * one mid-load as it does a worker that serves nothing, it rolls it once up; TTOU takes another worker.
   */
  private readonly loading = new Map<PoolMember, Promise<unknown>>();
  /**
   * Serving members that gave their slot to a spare as they left (a stop, an exit) and so became spares;
   * forgotten at their next start. One that stays stopped by hand is replaced by a new spare (memberDown).
   */
  private readonly handedOver = new WeakSet<PoolMember>();
  /** rolls (rollWorkers) under way, 0 when none: a roll loads new spares beside the old ones on purpose */
  private rolls = 0;

  constructor(private readonly host: ArbiterHost) {}

  setTarget(group: string, programName: string, count: number, spares?: number): void {
    this.targets.set(`${group}:${programName}`, count);
    if (spares !== undefined) this.spareTargets.set(`${group}:${programName}`, spares);
  }

  /** How many spares the program keeps: its target, else its section's spare_workers. */
  spareTarget(group: string, programName: string): number {
    return this.spareTargets.get(`${group}:${programName}`) ?? this.workersOf(group, programName).at(-1)?.spec.spareWorkers ?? 0;
  }

  /**
   * Before a member starts: a member not placed yet serves, in the lowest slot nobody holds (the processes
   * of the config file at start, a program added by a reload, a worker started again by hand).
   */
  place(m: PoolMember): void {
    this.handedOver.delete(m);
    if (m.role === 'spare' || (m.role === 'serving' && m.slot !== null)) return;
    m.role = 'serving';
    m.slot = this.freeSlot(m.spec.group, m.spec.programName, m);
  }

  /**
   * The process of `m` exited (any reason, before the exit is classified): a ready spare takes its slot at
   * once and `m`, restarted by its autorestart, comes back as a spare. Without a ready spare `m` restarts in
   * its own slot, whose connections wait for it. Pools being replaced, retired or stopped are left alone,
   * and so is a successor still loading (`loading`): it holds the slot of the worker it replaces, which
   * still serves there, so its exit (new code that does not load) frees no slot for a spare to take.
   */
  memberExited(m: PoolMember): void {
    const program = `${m.spec.group}:${m.spec.programName}`;
    if (m.role !== 'serving' || m.slot === null || m.retiring || this.loading.has(m) || !this.host.isRunning() || this.paused.has(program)) return;
    const spare = this.readySpare(m.spec.group, m.spec.programName);
    if (spare && this.handOver(m, spare, `worker ${m.record.pid ?? '?'} left`)) this.becameSpare(m);
  }

  /**
   * A serving worker began a stop while its pool keeps running (`drover stop` or `restart` of that worker,
   * a failed health check): a ready spare takes its slot now, as for a recycle, and `m` drains beside it
   * rather than holding new connections back for up to its graceful_timeout (with a shared socket, or a
   * balanced one steered by the kernel's hash). Called once the event that stopped it has run, so that
   * WINCH, a shutdown and `drover stop all`, which stop the spares too, find none ready.
   */
  memberStopping(m: PoolMember): void {
    const program = `${m.spec.group}:${m.spec.programName}`;
    if (m.role !== 'serving' || m.slot === null || m.retiring || m.record.state !== 'stopping' || !this.host.isRunning() || this.paused.has(program)) return;
    const spare = this.readySpare(m.spec.group, m.spec.programName);
    if (spare && this.handOver(m, spare, `worker ${m.record.pid ?? '?'} stopping`)) this.becameSpare(m);
  }

  /**
   * A member stopped for good (by hand, or fatal): its slot, now held by nobody, closes (unless the pool is
   * paused). One that handed its slot to a spare and stays stopped by hand is replaced by a new spare: the
   * pool keeps its spares while the operator keeps that worker stopped.
   */
  memberDown(m: PoolMember): void {
    const handedOver = this.handedOver.delete(m);
    if (m.retiring || !this.host.isRunning() || this.paused.has(`${m.spec.group}:${m.spec.programName}`)) return;
    this.closeOrphanSlots(m.spec.group, m.spec.programName);
    this.retryLater(m);
    if (handedOver && m.record.state === 'stopped' && this.host.keptStopped(m)) void this.fillSpares(m.spec.group, m.spec.programName);
  }

  /**
   * A spare is ready: a pool with more spares than its target (a worker stopped by hand, replaced by a new
   * spare, then started again, which makes it a spare) stops the newest. Not during a roll, which loads
   * new spares beside the old ones and converges at its end.
   */
  spareReady(m: PoolMember): void {
    if (m.role !== 'spare' || this.rolls > 0) return;
    void this.fillSpares(m.spec.group, m.spec.programName);
  }

  /** Replaces one worker (max_requests, max_memory): a ready spare takes over at once, else its successor starts first. */
  retire(m: PoolMember, reason: string): void {
    if (!this.host.isRunning() || m.record.state !== 'running' || m.retiring) return;
    const { group, programName } = m.spec;
    if (m.role === 'spare') {
      // a spare over max_memory serves nothing: it is replaced by a fresh spare, without counting as a recycle
      this.host.logger.info(`${m.spec.name}: replacing spare ${m.record.pid ?? '?'} (${reason})`);
      this.retireQuietly(m);
      void this.fillSpares(group, programName);
      return;
    }
    m.retiring = true;
    const program = `${group}:${programName}`;
    this.recycles.set(program, (this.recycles.get(program) ?? 0) + 1);
    this.host.logger.info(`${m.spec.name}: recycling worker ${m.record.pid ?? '?'} (${reason})`);
    const spare = this.readySpare(group, programName);
    if (spare && this.handOver(m, spare, reason)) {
      void this.host.stop(m).then(() => {
        if (this.host.isCurrent(m)) this.host.drop(m);
        return this.fillSpares(group, programName);
      });
      return;
    }
    void this.replace(m).then(({ how }) => {
      if (how !== 'replaced') m.retiring = false;
    });
  }

  /** TTIN: one more serving worker per worker program, in a new slot; a ready spare takes it at once. */
  addWorkers(): void {
    // a worker started after a shutdown began is never stopped by it: the shutdown would wait on it forever
    if (!this.host.isRunning()) {
      this.host.logger.info('SIGTTIN: shutting down; no worker added');
      return;
    }
    if (this.noWorkerPrograms('SIGTTIN')) return;
    for (const { group, programName } of this.programs()) {
      const program = `${group}:${programName}`;
      // the newest process is the template of the next one, whatever its state
      const last = this.workersOf(group, programName).at(-1);
      if (!last) continue;
      if (this.paused.delete(program)) this.resumeAfterWinch(group, programName);
      const count = this.live(group, programName).length + 1;
      const spare = this.readySpare(group, programName);
      if (spare) {
        spare.role = 'serving';
        spare.slot = this.freeSlot(group, programName, spare);
        if (this.host.promote(spare)) {
          this.setTarget(group, programName, count);
          this.host.logger.info(`${programName}: spare ${spare.spec.name} serves slot ${spare.slot} (now ${count})`);
          void this.fillSpares(group, programName);
          continue;
        }
        spare.role = 'spare';
        spare.slot = null;
      }
      const next = this.sibling(last);
      if (!next) {
        this.host.logger.warn(`${programName}: cannot add a worker (its section no longer builds one)`);
        continue;
      }
      this.setTarget(group, programName, count);
      next.role = 'serving';
      next.slot = this.freeSlot(group, programName, next);
      this.host.logger.info(`${programName}: adding worker ${next.spec.name} (now ${count})`);
      this.host.startNow(next);
      void this.fillSpares(group, programName); // after a WINCH, the spares come back too
    }
  }

  /**
   * TTOU: one fewer serving worker per worker program, never below one: the one in the highest slot leaves
   * gracefully. Its slot closes first in the master, so the socket lives on only in the leaving worker,
   * which keeps accepting until its own stop closes it (docs/decisions.md: what that costs without
   * net.ipv4.tcp_migrate_req).
   */
  removeWorkers(): void {
    if (this.noWorkerPrograms('SIGTTOU')) return;
    for (const { group, programName } of this.programs()) {
      const live = this.live(group, programName);
      // one off the target, as gunicorn's num_workers: during a HUP roll the pool still has its old size,
      // which the reload has already reset (the roll's end converges to the target)
      const count = (this.targets.get(`${group}:${programName}`) ?? live.length) - 1;
      if (count < 1 || live.length === 0) {
        this.host.logger.info(`${programName}: keeping its last worker (TTOU never goes below one)`);
        continue;
      }
      this.setTarget(group, programName, count);
      // the highest slot, so the slots stay 0…n-1; the newest among unplaced ones. Not a successor still
      // loading while another can go: taking it would end the replacement (a TTOU during one may leave a gap
      // in the slots, which the next TTIN fills)
      const settled = live.filter((w) => !this.loading.has(w));
      const victim = (settled.length > 0 ? settled : live).reduce((a, b) => ((b.slot ?? -1) > (a.slot ?? -1) || ((b.slot ?? -1) === (a.slot ?? -1) && b.spec.processNum > a.spec.processNum) ? b : a));
      if (live.length <= count) {
        this.host.logger.info(`${programName}: now ${count} worker(s)`);
      } else {
        this.host.logger.info(`${programName}: removing worker ${victim.spec.name} (now ${count})`);
        victim.retiring = true;
        this.closeThenRetire(victim);
      }
      this.callOffRetries(group, programName);
    }
  }

  /**
   * Rolling restart of every worker program (or those `only` names), each replacement built from the config
   * as it is now. Workers that serve nothing yet (starting, backoff, exited, fatal) are replaced at once;
   * running ones one at a time, each replacement ready before the old one stops accepting — with spares,
   * new-code spares load first and each takes an old worker's slot at once; then the count converges to the
   * program's target. The roll moves on as soon as an old worker has begun its stop, not once it has
   * drained: the old workers drain side by side, and the roll resolves when the last has stopped, about
   * one graceful_timeout after the last replacement got ready rather than one per worker (docs/decisions.md,
   * "A HUP roll does not wait for each drain"). A WINCH during the roll ends it: nothing more starts until
   * TTIN or another reload. `why`, when given, is told why each kept pool's new workers did not get ready.
   */
  async rollWorkers(only?: (group: string, programName: string) => boolean, why?: Map<string, string>): Promise<Map<string, RollOutcome>> {
    this.rolls++;
    try {
      return await this.rollEach(only, why);
    } finally {
      this.rolls--;
    }
  }

  private async rollEach(only?: (group: string, programName: string) => boolean, why?: Map<string, string>): Promise<Map<string, RollOutcome>> {
    /** `group:program` → how its roll ended */
    const outcomes = new Map<string, RollOutcome>();
    /** the drains of the old workers the roll has begun to stop, each ending when its worker is dropped */
    const leaving: Promise<unknown>[] = [];
    // taken once: a WINCH while one pool rolls stops every pool, and the pools after it stay stopped too
    const winches = this.winches;
    const halted = (): boolean => this.winches !== winches;
    for (const { group, programName } of this.programs()) {
      if (only && !only(group, programName)) continue;
      const program = `${group}:${programName}`;
      if (halted()) {
        outcomes.set(program, 'stopped');
        continue;
      }
      const template = this.workersOf(group, programName).at(-1);
      // after WINCH nothing serves: the new spares load beside the serving workers, not before them, and
      // the old spares WINCH stopped are not started only to be replaced
      const resumed = this.paused.delete(program);
      if (resumed) this.resumeAfterWinch(group, programName, true);
      outcomes.set(program, 'rolled');
      const keep = (reason: string): void => {
        outcomes.set(program, 'kept');
        if (!why?.has(program)) why?.set(program, reason);
      };
      // the members as the roll found them: the successors replaceIdle registers are not rolled again
      const found = this.workersOf(group, programName);
      // successors loading now (a max_requests recycle's) run the config as it was: each is rolled once up
      // (taken now: one that gets ready while the roll waits on another leaves `loading` before its turn)
      const begunBefore = found.filter((w) => this.loading.has(w));
      for (const w of begunBefore) this.host.logger.info(`${w.spec.name}: loading, begun before the reload: rolled once it is up`);
      const idle = this.replaceIdle(group, programName, halted);
      const spares = resumed ? this.fillSpares(group, programName, template) : null;
      if (!resumed && this.spareTarget(group, programName) > 0) await this.rollWithSpares(group, programName, found, keep, halted, leaving);
      else {
        for (const w of found) {
          if (!this.host.isRunning() || halted()) break;
          if (w.retiring || w.record.state !== 'running' || w.role === 'spare') continue;
          await this.rollOne(w, keep, leaving);
        }
      }
      for (const w of begunBefore) {
        await this.loading.get(w);
        if (!this.host.isRunning() || halted()) break;
        if (w.retiring || w.record.state !== 'running' || w.role !== 'serving') continue;
        await this.rollOne(w, keep, leaving);
      }
      await idle;
      if (!this.host.isRunning()) break;
      if (halted()) {
        outcomes.set(program, 'stopped');
        continue;
      }
      const target = this.targets.get(program);
      if (target !== undefined) {
        // workers an operator stopped stay stopped, and no new one takes their place
        const held = this.workersOf(group, programName).filter((w) => w.role !== 'spare' && !w.retiring && w.record.state === 'stopped' && this.host.keptStopped(w)).length;
        while (this.host.isRunning() && !halted() && this.live(group, programName).length < target - held) {
          const last = this.workersOf(group, programName).at(-1) ?? template;
          const next = last ? this.sibling(last) : null;
          if (!next || !(await this.host.start(next)).ok) break;
        }
        if (halted()) {
          outcomes.set(program, 'stopped');
          continue;
        }
        const extra = this.live(group, programName).sort((a, b) => (a.slot ?? 0) - (b.slot ?? 0)).slice(Math.max(0, target - held));
        for (const m of extra) {
          m.retiring = true;
          this.closeThenRetire(m);
        }
        this.callOffRetries(group, programName);
      }
      await spares;
      await this.fillSpares(group, programName);
    }
    // the reload's end closes the master's copies of the sockets the old workers used: they must be gone
    await Promise.all(leaving);
    return outcomes;
  }

  /**
   * The pool comes back after a WINCH (TTIN, HUP): the spares WINCH stopped start again (for TTIN; a roll
   * drops them too, `forRoll`, and loads new ones), and the serving workers it stopped are dropped, so that
   * they neither linger in status and /readyz as stopped nor count toward TTIN's new size (after a WINCH,
   * TTIN gives one worker, as gunicorn's does).
   */
  private resumeAfterWinch(group: string, programName: string, forRoll = false): void {
    for (const m of this.workersOf(group, programName)) {
      if (m.retiring || !DOWN.has(m.record.state)) continue;
      if (m.role === 'spare' && !forRoll) this.host.startNow(m);
      else this.host.drop(m);
    }
  }

  /**
   * WINCH: stop every worker gracefully; the master and its sockets stay (TTIN or a reload brings them back).
   * A roll or replacement under way sees `winches` change and starts nothing more.
   */
  stopWorkers(): void {
    this.winches++;
    const up = [...this.host.members()].filter((m) => m.spec.worker !== null && !DOWN.has(m.record.state));
    this.host.logger.info(`SIGWINCH: stopping ${up.length} worker(s); sockets stay open`);
    for (const { group, programName } of this.programs()) {
      this.paused.add(`${group}:${programName}`);
      this.callOffRetries(group, programName);
    }
    for (const m of up) void this.host.stop(m);
  }

  /**
   * At start: registers (without starting) each worker program's spares, so that they start with the
   * program's other processes (and, after a re-exec, count among those the old master waits for).
   */
  addSpares(): void {
    for (const { group, programName } of this.programs()) {
      const have = this.workersOf(group, programName).filter((w) => w.role === 'spare').length;
      for (let i = have; i < this.spareTarget(group, programName); i++) {
        const last = this.workersOf(group, programName).at(-1);
        const spare = last ? this.sibling(last) : null;
        if (!spare) break;
        spare.role = 'spare';
      }
    }
  }

  /** Registers and starts spares until every worker program has its spare target (after a reload). */
  async fillAllSpares(): Promise<void> {
    await Promise.all(this.programs().map(({ group, programName }) => this.fillSpares(group, programName)));
  }

  /**
   * Starts spares of a program until it has its spare target, or stops the extra ones; resolves when those
   * started are ready (or failed). `template`: the process new ones are built from when the program has
   * none left (a roll after WINCH dropped them).
   */
  async fillSpares(group: string, programName: string, template?: PoolMember): Promise<void> {
    if (!this.host.isRunning() || this.paused.has(`${group}:${programName}`)) return;
    const spares = this.workersOf(group, programName).filter((w) => w.role === 'spare' && !w.retiring && !DOWN.has(w.record.state));
    const want = this.spareTarget(group, programName);
    for (const extra of spares.slice(want)) this.retireQuietly(extra);
    const starting: Promise<PoolMember | null>[] = [];
    for (let i = spares.length; i < want; i++) starting.push(this.startSpare(group, programName, template));
    await Promise.all(starting);
    // a FATAL spare waiting for its retry is not needed once the new ones serve as spares
    if (starting.length > 0) this.callOffRetries(group, programName);
  }

  // --- internal ---

  /** HUP with spares: new-code spares load first; each old serving worker hands its slot to one and leaves. */
  private async rollWithSpares(group: string, programName: string, found: readonly PoolMember[], keep: (reason: string) => void, halted: () => boolean, leaving: Promise<unknown>[]): Promise<void> {
    const old = found.filter((w) => !w.retiring);
    const fresh: (PoolMember | null)[] = await Promise.all(Array.from({ length: this.spareTarget(group, programName) }, () => this.startSpare(group, programName)));
    // the old spares run the old code: as many leave as new ones got ready (none, when the new code fails)
    const readyCount = fresh.filter((s) => s !== null).length;
    for (const s of old.filter((w) => w.role === 'spare').slice(0, readyCount)) this.retireQuietly(s);
    const ready: Promise<PoolMember | null>[] = fresh.map((s) => Promise.resolve(s));
    for (const w of old) {
      if (!this.host.isRunning() || halted()) break;
      if (w.retiring || w.record.state !== 'running' || w.role !== 'serving') continue;
      let spare = await (ready.shift() ?? this.startSpare(group, programName));
      if (halted()) break;
      if (spare && (spare.record.state !== 'running' || spare.role !== 'spare')) spare = null; // it died, or took over meanwhile
      w.retiring = true;
      if (!spare || !this.handOver(w, spare, 'reload')) {
        await this.rollOne(w, keep, leaving);
        continue;
      }
      // the next spare loads while this worker drains, and the next hand-over waits for that spare only
      ready.push(this.startSpare(group, programName));
      leaving.push(this.stopThenDrop(w));
    }
    await Promise.all(ready);
  }

  /**
   * Replaces one running worker of a roll; `keep` notes it when its replacement did not get ready. Resolves
   * once `w` has begun its stop; its drain goes to `leaving`.
   */
  private async rollOne(w: PoolMember, keep: (reason: string) => void, leaving: Promise<unknown>[]): Promise<void> {
    w.retiring = true;
    const { how, left, why } = await this.replace(w);
    leaving.push(left);
    if (how === 'replaced') return;
    // halted: WINCH stopped `w` with the rest of the pool; it waits there as they do
    w.retiring = false;
    if (how === 'kept') keep(why ?? 'it did not start');
  }

  /** `m` gave its slot to a spare as it left: it comes back (if it does) as a spare. */
  private becameSpare(m: PoolMember): void {
    m.role = 'spare';
    this.handedOver.add(m);
  }

  /** A running spare takes `from`'s slot and starts accepting, `from` giving the slot up; false when it could not. */
  private handOver(from: PoolMember, spare: PoolMember, why: string): boolean {
    spare.role = 'serving';
    spare.slot = from.slot;
    if (!this.host.promote(spare)) {
      spare.role = 'spare';
      spare.slot = null;
      return false;
    }
    from.slot = null;
    const program = `${from.spec.group}:${from.spec.programName}`;
    this.takeovers.set(program, (this.takeovers.get(program) ?? 0) + 1);
    this.host.logger.info(`${from.spec.name}: spare ${spare.spec.name} (pid ${spare.record.pid ?? '?'}) takes over${from.spec.sockets.length > 0 ? ` slot ${spare.slot ?? '?'}` : ''} (${why})`);
    return true;
  }

  /** Registers a sibling spare and starts it; null when it cannot be built or does not get ready. */
  private async startSpare(group: string, programName: string, template?: PoolMember): Promise<PoolMember | null> {
    const last = this.workersOf(group, programName).at(-1) ?? template;
    const spare = last ? this.sibling(last) : null;
    if (!spare) return null;
    spare.role = 'spare';
    spare.slot = null;
    const winches = this.winches;
    const started = await this.host.start(spare);
    if (started.ok) return spare;
    if (this.winches !== winches) return null; // WINCH stopped it with the pool: it waits there as the others do
    this.host.logger.warn(`${spare.spec.name}: spare did not start (${started.message ?? started.code ?? '?'})`);
    await this.host.stop(spare);
    if (this.host.isCurrent(spare)) this.host.drop(spare);
    return null;
  }

  /** A running spare of the program, not on its way out; null when none is ready. */
  private readySpare(group: string, programName: string): PoolMember | null {
    return this.workersOf(group, programName).find((w) => w.role === 'spare' && !w.retiring && w.record.state === 'running') ?? null;
  }

  /** The lowest slot no serving member holds (a stopped one gives its slot up to `m`). */
  private freeSlot(group: string, programName: string, m: PoolMember): number {
    const members = this.workersOf(group, programName).filter((w) => w !== m && w.role === 'serving' && w.slot !== null);
    const held = new Set(members.filter((w) => !GONE.has(w.record.state)).map((w) => w.slot));
    let slot = 0;
    while (held.has(slot)) slot++;
    for (const w of members) if (w.slot === slot) w.slot = null;
    return slot;
  }

  /**
   * A serving worker FATAL while others of its pool serve (its restart could not load the app, say with its
   * database down for a moment) is tried again after POOL_RETRY_MS: the pool does not stay a worker short
   * for good. So is a FATAL spare while serving workers run: the pool does not stay without its spares. The retry is the process's own `fatal_cooldown` timer, so `drover stop`, a start and a
   * shutdown call it off as they call off a configured one. gunicorn exits 3 instead, for its service
   * manager to restart it whole; a pool none of whose workers runs still ends as before (FATAL; `drover
   * serve` exits 1). When the pool no longer needs it (stopped by WINCH, refilled by a reload, made smaller
   * by TTOU), callOffRetries stops it.
   */
  private retryLater(m: PoolMember): void {
    const { group, programName } = m.spec;
    if (m.record.state !== 'fatal' || m.retiring || m.spec.fatalCooldownSecs !== null) return;
    if (!this.live(group, programName).some((w) => w !== m && w.record.state === 'running')) return;
    const as = m.role === 'spare' ? 'FATAL as a spare while the workers' : 'FATAL while the other workers';
    this.host.logger.warn(`${m.spec.name}: ${as} of ${programName} serve; it is tried again in ${POOL_RETRY_MS / 1000} s`);
    this.retried.add(m);
    this.host.coolDown(m, POOL_RETRY_MS);
  }

  /**
   * The program's FATAL workers the pool no longer needs: while WINCH holds it stopped, their retries
   * (retryLater) are called off by stopping them (kept, as the others WINCH stopped); else those beyond its
   * target are dropped (which cancels a retry too): workers that took their place serve, and a FATAL one
   * left in the table would keep `drover status` reporting a failure for good.
   */
  private callOffRetries(group: string, programName: string): void {
    const program = `${group}:${programName}`;
    const paused = this.paused.has(program);
    let room = (this.targets.get(program) ?? Infinity) - this.live(group, programName).length;
    let spareRoom = this.spareTarget(group, programName) - this.workersOf(group, programName).filter((w) => w.role === 'spare' && !w.retiring && !DOWN.has(w.record.state)).length;
    for (const m of this.workersOf(group, programName)) {
      if (m.record.state !== 'fatal' || m.retiring) continue;
      if (paused) {
        if (this.retried.has(m)) void this.host.stop(m);
      } else if (m.role === 'spare') {
        if (spareRoom-- <= 0) {
          this.host.logger.info(`${m.spec.name}: FATAL, and no longer needed (${programName} has its ${this.spareTarget(group, programName)} spare(s)): removed`);
          this.host.drop(m);
        }
      } else if (room-- <= 0) {
        this.host.logger.info(`${m.spec.name}: FATAL, and no longer needed (${programName} has its ${this.targets.get(program) ?? '?'} workers): removed`);
        this.host.drop(m);
      }
    }
  }

  /** Closes the open slots no serving member holds: nobody would accept the connections the kernel puts there. */
  private closeOrphanSlots(group: string, programName: string): void {
    const members = this.workersOf(group, programName).filter((w) => w.role === 'serving' && w.slot !== null && !GONE.has(w.record.state));
    const held = new Set(members.map((w) => w.slot));
    for (const slot of this.host.openSlots(group, programName)) {
      if (held.has(slot)) continue;
      void this.host.closeSlot(group, programName, slot, false).catch((err: unknown) => this.host.logger.error(`${programName}: closing slot ${slot}: ${(err as Error).message}`));
    }
  }

  /**
   * Starts a replacement for `old` in its slot, waits until it is running, then begins `old`'s stop:
   * 'kept' when the replacement did not get ready (`old` stays), 'halted' when a WINCH came meanwhile (it
   * stopped both; nothing more is done). Resolves once `old`'s stop has begun (its stop signal is sent
   * by then, so it accepts nothing more); `left` resolves when it has drained, stopped and been dropped.
   */
  private async replace(old: PoolMember): Promise<{ how: 'replaced' | 'kept' | 'halted'; left: Promise<unknown>; why?: string }> {
    const winches = this.winches;
    const none = Promise.resolve();
    const next = this.sibling(old);
    if (!next) {
      // no way to build a sibling: restart in place (a short gap for this one worker only)
      await this.host.stop(old);
      if (this.winches !== winches) return { how: 'halted', left: none };
      await this.host.start(old);
      old.retiring = false; // the same process, back in the pool
      return { how: 'replaced', left: none };
    }
    next.role = 'serving';
    next.slot = old.slot;
    const start = this.host.start(next);
    this.loading.set(next, start);
    const started = await start.finally(() => this.loading.delete(next));
    if (this.winches !== winches) return { how: 'halted', left: none };
    if (!started.ok) {
      const why = `${next.spec.name}: ${started.message ?? started.code ?? '?'}`;
      this.host.logger.warn(`${old.spec.name}: replacement ${next.spec.name} did not start (${started.message ?? started.code ?? '?'}); keeping the old worker`);
      await this.host.stop(next);
      this.host.drop(next);
      return { how: 'kept', left: none, why };
    }
    // its successor accepts in its slot already: `old` may drain for its whole graceful_timeout beside it,
    // giving the slot up (as a hand-over does), so that the slot closes if the successor goes down for good
    old.slot = null;
    return { how: 'replaced', left: this.stopThenDrop(old) };
  }

  /**
   * HUP: the program's members that serve nothing yet (IDLE) are not rolled but replaced at once, without
   * waiting for readiness: they stop and leave, and a serving one's successor (new config) starts in its
   * slot; spares come back through the roll's spares. Resolves when those successors are running or failed
   * (a failed one stays, retrying with the new config as any process would). A successor still loading
   * (`loading`) is left to the worker it replaces, and rolled by rollWorkers once up.
   */
  private async replaceIdle(group: string, programName: string, halted: () => boolean): Promise<void> {
    const idle = this.workersOf(group, programName).filter((w) => !w.retiring && !this.loading.has(w) && IDLE.has(w.record.state));
    await Promise.all(
      idle.map(async (w) => {
        w.retiring = true;
        // registered before `w` leaves, so that it does not take `w`'s process number and name
        const next = w.role === 'spare' ? null : this.sibling(w);
        this.host.logger.info(`${w.spec.name}: ${w.record.state}, serving nothing: replaced at once${next ? ` by ${next.spec.name}` : ''} (reload)`);
        // a process already gone (exited, fatal) is only forgotten: the drop also calls off a pending retry
        if (!DOWN.has(w.record.state)) await this.host.stop(w);
        if (this.host.isCurrent(w)) this.host.drop(w);
        if (!next) return;
        if (!this.host.isRunning() || halted()) return this.host.drop(next);
        next.role = 'serving';
        next.slot = w.slot;
        await this.host.start(next);
      }),
    );
  }

  /** A serving member leaves the pool: its slot closes (drained while it still accepts), then it stops. */
  private closeThenRetire(m: PoolMember): void {
    m.retiring = true;
    const slot = m.slot;
    if (slot === null) return this.retireQuietly(m);
    const { group, programName } = m.spec;
    void this.host
      .closeSlot(group, programName, slot, true)
      .catch((err: unknown) => this.host.logger.error(`${m.spec.name}: closing slot ${slot}: ${(err as Error).message}`))
      .then(() => {
        // a crash during the drain restarts it (in its slot, which opens again); it leaves all the same
        m.retiring = true;
        return this.host.stop(m);
      })
      .then(() => {
        if (this.host.isCurrent(m)) this.host.drop(m);
        if (this.host.isRunning() && !this.paused.has(`${group}:${programName}`)) this.closeOrphanSlots(group, programName);
      });
  }

  /** Stops a worker and forgets it once stopped. */
  private retireQuietly(m: PoolMember): void {
    m.retiring = true;
    void this.stopThenDrop(m);
  }

  /**
   * Begins `m`'s stop at once (its stop signal is sent before this returns) and resolves once it has
   * stopped and been forgotten.
   */
  private async stopThenDrop(m: PoolMember): Promise<void> {
    await this.host.stop(m);
    if (this.host.isCurrent(m)) this.host.drop(m);
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

  /** Serving workers of a program that are up and not on their way out. */
  private live(group: string, programName: string): PoolMember[] {
    return this.workersOf(group, programName).filter((w) => !w.retiring && w.role !== 'spare' && !DOWN.has(w.record.state));
  }

  /** TTIN and TTOU act on worker programs only: with none, say that the signal changed nothing (true). */
  private noWorkerPrograms(signal: string): boolean {
    if (this.programs().length > 0) return false;
    this.host.logger.info(`${signal}: no worker program (worker =) to scale; ignored`);
    return true;
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
