// drover workers as a kind of process (src/core/kind.ts): how a `worker =` process is launched (the worker
// runtime, its environment, an IPC channel), what its messages mean (ready, heartbeats, asking to retire,
// queue/state/lock requests), the heartbeat watchdog and a stuck worker's report. The pool policy — how many
// workers, recycling, rolling — is the arbiter's (src/prefork/arbiter.ts); this file lends it the
// supervisor's processes as pool members.
import { steadyNowMs } from '../os/clock.js';
import { timerDelay } from '../os/timers.js';
import type { ChildProcess } from 'node:child_process';
import type { Config, ProcessSpec } from '../config/types.js';
import type { ChildOutput, KindContext, LaunchPlan, LaunchRefusal, ProcessKind } from '../core/kind.js';
import type { Supervisor } from '../core/supervisor.js';
import type { ProcessEntry } from '../core/table.js';
import { WORKER_BOOT_ERROR, WORKER_CUT_SHORT, WORKER_ENV, parseSharedRequest, parseWorkerMessage, type SharedCall, type SharedReplyMessage, type StuckReport, type WorkerMessage } from '../ipc/protocol.js';
import type { Logger } from '../logs/logger.js';
import { sendListeningSocket } from '../os/pass-socket.js';
import { hasControllingTerminal } from '../os/proc.js';
import { onChannelViolation } from '../os/ipc-guard.js';
import { sendSignal } from '../os/spawn.js';
import { Arbiter, type ArbiterHost, type PoolMember, type Role } from './arbiter.js';
import { reportFrames, stuckReportScanner } from './inspector.js';
import { SocketBindError, type SocketSet } from './sockets.js';
import { canStripTypes, isTypeScript, spareEnv, workerArgv, workerEnv } from './worker-spawn.js';

/** The first and the longest delay before steering is tried again after the kernel refused a slot. */
const STEER_RETRY_FIRST_MS = 100;
const STEER_RETRY_MAX_MS = 5000;

/** How long the master waits for a stuck worker's watchdog report before it kills the worker anyway. */
const STUCK_REPORT_WAIT_MS = 3000;

export interface WorkersOptions {
  readonly logger: Logger;
  /** the spec of process number `processNum` of `spec`'s program, from the config file; null when it cannot be built */
  readonly buildSpec: (spec: ProcessSpec, processNum: number) => ProcessSpec | null;
  /** a worker's queue, state and lock requests (src/primitives), with a function that sends it the answers */
  readonly onRequest?: ((key: string, pid: number, calls: readonly SharedCall[], reply: (m: SharedReplyMessage) => void) => void) | null;
  /** a worker process has exited (its leases and locks are given back at once) */
  readonly onExit?: ((key: string, pid: number) => void) | null;
  /** the master's listening sockets: a worker gets its slot of a balanced one, a promoted spare all of its own */
  readonly sockets?: SocketSet | null;
}

/** Events this kind queues for itself. */
type WorkerEvent =
  | { readonly t: 'message'; readonly msg: WorkerMessage }
  | { readonly t: 'request'; readonly calls: readonly SharedCall[] }
  | { readonly t: 'heartbeatMissed' }
  | { readonly t: 'reportWaited' }
  /** its IPC channel carried something no drover worker sends (os/ipc-guard.ts): it is killed */
  | { readonly t: 'channelViolation'; readonly carried: string };

/** What the master knows of one worker process, beside the supervisor's entry. */
class WorkerState implements PoolMember {
  /** requests served by the current process (from its heartbeats); 0 before the first */
  requests = 0;
  /** RSS the current process last reported; 0 before the first heartbeat */
  rssBytes = 0;
  /** the heartbeat watchdog; null when none is armed */
  heartbeat: NodeJS.Timeout | null = null;
  /** a replacement is on its way; this one leaves when it is ready */
  retiring = false;
  /** the stuck report (JS stack) its watchdog wrote on stderr since its last heartbeat; null when none */
  stuckReport: StuckReport | null = null;
  /** a heartbeat was missed: the master waits for the report until this time (ms since epoch); 0 when not */
  reportDeadlineMs = 0;
  /** serving or spare; null until the arbiter places it; kept across restarts of the same entry */
  role: Role | null = null;
  /** the slot it serves in (its socket, with reuse_port); null for a spare */
  slot: number | null = null;
  /** when this spare was told to accept (ms since epoch), to log how long it took; 0 when not */
  promotedAtMs = 0;

  constructor(readonly entry: ProcessEntry) {}

  get key(): string {
    return this.entry.key;
  }
  get spec(): ProcessSpec {
    return this.entry.spec;
  }
  get record(): ProcessEntry['record'] {
    return this.entry.record;
  }
}

export class Workers implements ProcessKind {
  readonly name = 'worker';
  /** the pool policy; built once the supervisor is known (`attach`) */
  private pool: Arbiter | null = null;
  private ctx: KindContext | null = null;
  private supervisor: Supervisor | null = null;
  /** per supervisor entry; entries of dropped processes are collected with them */
  private readonly states = new WeakMap<ProcessEntry, WorkerState>();
  /** requests served by every worker a program ever had, per "group:program" (from heartbeats) */
  private readonly requestsServed = new Map<string, number>();
  /** per "group:program": the next try at steering after the kernel refused a slot */
  private readonly steerRetries = new Map<string, { delayMs: number; fired: boolean; timer: NodeJS.Timeout }>();

  constructor(private readonly o: WorkersOptions) {}

  // --- wiring (by the daemon) ---

  /**
   * Lends the arbiter the supervisor's processes, sets each worker program's target from `config`, and
   * registers gunicorn's pool signals: TTIN/TTOU one worker more/fewer, WINCH stop the workers.
   */
  manage(supervisor: Supervisor, config: Config): Arbiter {
    this.supervisor = supervisor;
    const host: ArbiterHost = {
      logger: this.o.logger,
      isRunning: () => supervisor.mood === 'running',
      // only worker programs' processes: a WorkerState for each of a thousand plain programs costs ~100 KiB
      members: () => supervisor.table.entries().filter((e) => e.spec.worker !== null).map((e) => this.stateOf(e)),
      isCurrent: (m) => supervisor.table.get(m.key) === (m as WorkerState).entry,
      buildSpec: (spec, num) => this.o.buildSpec(spec, num),
      add: (spec) => {
        const entry = supervisor.addProcess(spec);
        return entry ? this.stateOf(entry) : null;
      },
      startNow: (m) => supervisor.startNow((m as WorkerState).entry),
      start: async (m) => (await supervisor.command({ type: 'start', keys: [m.key], wait: true }))[0] ?? { ok: false, message: 'no answer' },
      stop: (m) => supervisor.stopEntry((m as WorkerState).entry),
      drop: (m) => supervisor.drop((m as WorkerState).entry),
      coolDown: (m, ms) => supervisor.coolDown((m as WorkerState).entry, ms),
      keptStopped: (m) => supervisor.keptStopped((m as WorkerState).entry),
      promote: (m) => this.promote(m as WorkerState),
      openSlots: (group, programName) => this.balancedSockets(group, programName).flatMap((name) => this.o.sockets?.openSlots(name) ?? []),
      closeSlot: async (group, programName, slot, drain) => {
        await Promise.all(this.balancedSockets(group, programName).map((name) => this.o.sockets?.closeSlot(name, slot, drain)));
      },
    };
    this.pool = new Arbiter(host);
    this.setTargets(config);
    // a re-exec'd master inherits its predecessor's slots: those beyond numprocs lose their worker when the
    // old master's leave, so the master lets go of them now (they close as the old workers stop)
    for (const spec of config.processes) {
      if (spec.worker === null) continue;
      for (const name of spec.sockets) for (const slot of this.o.sockets?.openSlots(name) ?? []) if (slot >= spec.numprocs) void this.o.sockets?.closeSlot(name, slot);
    }
    this.pool.addSpares();
    supervisor.onChange((e) => {
      const entry = supervisor.table.get(e.key);
      if (!entry?.spec.worker) return;
      // a worker became ready or left: the slots new connections go to change with it
      this.steer(entry.spec.group, entry.spec.programName);
      const w = this.stateOf(entry);
      if (e.step.to === 'stopped' || e.step.to === 'fatal') this.arbiter.memberDown(w);
      // after the rest of the event: a `drover stop` of several processes (all, web:*) stops each in turn
      // within it, and a spare it stops too must not be handed the slot first
      if (e.step.from === 'running' && e.step.to === 'stopping') queueMicrotask(() => this.arbiter.memberStopping(w));
      if (e.step.to === 'running') this.arbiter.spareReady(w);
    });
    supervisor.onSignal('TTIN', () => this.arbiter.addWorkers());
    supervisor.onSignal('TTOU', () => this.arbiter.removeWorkers());
    supervisor.onSignal('WINCH', () => {
      // a terminal sends WINCH at every window resize: on one, it is not an operator's command (gunicorn
      // acts on it only when daemonized; drover whenever it has no controlling terminal: a daemon, a
      // service, a container without a tty)
      if (hasControllingTerminal()) {
        this.o.logger.info('SIGWINCH ignored: drover has a controlling terminal, whose window resizes send it (it stops the workers only without one: with -d, under systemd, in a container without a tty)');
        return;
      }
      this.arbiter.stopWorkers();
    });
    return this.pool;
  }

  get arbiter(): Arbiter {
    if (!this.pool) throw new Error('Workers.manage was not called');
    return this.pool;
  }

  /** Makes each worker program of `config` converge to its numprocs (at start, and on reload). */
  setTargets(config: Config): void {
    for (const spec of config.processes) if (spec.worker !== null) this.arbiter.setTarget(spec.group, spec.programName, spec.numprocs, spec.spareWorkers);
  }

  /** A worker's role, for status: 'serving' or 'spare'; null for a process that is not a drover worker. */
  roleOf(key: string): Role | null {
    const entry = this.supervisor?.table.get(key);
    if (!entry?.spec.worker) return null;
    return this.stateOf(entry).role ?? 'serving';
  }

  /** Whether `spec` belongs to a pool that exists now and rolls instead of being diffed (see the one reload). */
  isPooled(spec: ProcessSpec): boolean {
    if (spec.worker === null || !this.supervisor) return false;
    return this.supervisor.table.entries().some((e) => e.spec.worker !== null && e.spec.group === spec.group && e.spec.programName === spec.programName);
  }

  /**
   * Per current worker, requests served (from heartbeats); per "group:program", the requests served since
   * start by every worker it ever had, and its recycles.
   */
  stats(): {
    workers: { key: string; pid: number; requests: number }[];
    requestsServed: ReadonlyMap<string, number>;
    recycles: ReadonlyMap<string, number>;
    takeovers: ReadonlyMap<string, number>;
  } {
    const entries = this.supervisor?.table.entries() ?? [];
    const workers = entries.filter((e) => e.spec.worker !== null).map((e) => ({ key: e.key, pid: e.spawnedPid, requests: this.stateOf(e).requests }));
    return { workers, requestsServed: this.requestsServed, recycles: this.pool?.recycles ?? new Map(), takeovers: this.pool?.takeovers ?? new Map() };
  }

  // --- ProcessKind ---

  claims(spec: ProcessSpec): boolean {
    return spec.worker !== null;
  }

  bind(ctx: KindContext): void {
    this.ctx = ctx;
  }

  prepare(spec: ProcessSpec): LaunchPlan | LaunchRefusal {
    const module = spec.worker as string;
    if (isTypeScript(module) && !canStripTypes()) {
      return {
        refused: true,
        reason: 'ENOEXEC',
        message: `${module} is TypeScript: worker modules in .ts need Node ≥ 22.6 (this is ${process.version}); compile it to .js or upgrade Node`,
      };
    }
    const entry = this.supervisor?.table.get(`${spec.group}:${spec.name}`);
    const w = entry ? this.stateOf(entry) : null;
    if (w && this.pool) this.pool.place(w);
    // a worker's listen() sets the backlog again: the [socket:x] one, not Node's 511
    const env = { ...workerEnv(spec, Math.random()), [WORKER_ENV.backlogs]: spec.sockets.map((n) => this.o.sockets?.get(n)?.spec.backlog ?? '').join(',') };
    // a spare gets no socket now: the master hands them over when it must serve
    if (w?.role === 'spare') return { argv: workerArgv(spec), env: { ...env, ...spareEnv(spec) }, ipc: true, listenFds: [] };
    const listenFds: { fd: number; name: string }[] = [];
    for (const name of spec.sockets) {
      let fd: number | null;
      try {
        fd = this.listenFdOf(name, w?.slot ?? 0);
      } catch (err) {
        if (!(err instanceof SocketBindError)) throw err;
        return { refused: true, reason: 'EADDRINUSE', message: err.message };
      }
      if (fd === null) return { refused: true, reason: 'ENOTSOCK', message: `its socket ${name} is not bound` };
      listenFds.push({ fd, name });
    }
    return { argv: workerArgv(spec), env, ipc: true, listenFds };
  }

  attach(entry: ProcessEntry, child: ChildProcess, pid: number, output: ChildOutput): void {
    const ctx = this.context();
    const w = this.stateOf(entry);
    w.requests = 0;
    w.rssBytes = 0;
    w.retiring = false;
    w.stuckReport = null;
    w.reportDeadlineMs = 0;
    child.on('message', (raw: unknown) => {
      const msg = parseWorkerMessage(raw);
      if (msg) ctx.push(entry.key, pid, { t: 'message', msg } satisfies WorkerEvent);
      else if (this.o.onRequest) {
        const calls = parseSharedRequest(raw);
        if (calls) ctx.push(entry.key, pid, { t: 'request', calls } satisfies WorkerEvent);
      }
    });
    // EPIPE/ERR_IPC_CHANNEL_CLOSED when the worker is gone: its exit event tells the rest
    child.on('error', () => undefined);
    onChannelViolation(child, (carried) => ctx.push(entry.key, pid, { t: 'channelViolation', carried } satisfies WorkerEvent));
    // with redirect_stderr the report comes on the one pipe that carries both
    (output.stderr ?? output.stdout)?.on(
      'data',
      stuckReportScanner((report) => {
        if (entry.spawnedPid !== pid) return;
        w.stuckReport = report;
        // the master already gave up waiting on a heartbeat: the report ends the wait
        if (w.reportDeadlineMs > 0) ctx.push(entry.key, pid, { t: 'reportWaited' } satisfies WorkerEvent);
      }),
    );
    this.armHeartbeat(entry, w, pid);
  }

  handle(entry: ProcessEntry, event: unknown): void {
    const ev = event as WorkerEvent;
    const w = this.stateOf(entry);
    switch (ev.t) {
      case 'message':
        this.handleMessage(entry, w, ev.msg);
        break;
      case 'request':
        this.handleRequest(entry, ev.calls);
        break;
      case 'heartbeatMissed':
        this.heartbeatMissed(entry, w);
        break;
      case 'reportWaited':
        this.reportWaited(entry, w);
        break;
      case 'channelViolation':
        // the channel is closed already; the exit that follows is a crash like any other, and the pool replaces it
        this.o.logger.error(`${entry.spec.name}: killed: its IPC channel carried ${ev.carried} (not a drover message); worker ${entry.spawnedPid}, SIGKILL to its process group`);
        sendSignal(entry.spawnedPid, 'KILL', true);
        break;
      default:
        assertNever(ev);
    }
  }

  detach(key: string, pid: number, code: number | null): void {
    // before anything else, and for a process already dropped too: what it held must not wait for a lease
    this.o.onExit?.(key, pid);
    const entry = this.supervisor?.table.get(key);
    if (!entry || entry.spawnedPid !== pid) return;
    // exit 3 means a failed boot only for a worker: any other program may exit 3 for its own reasons
    if (code === WORKER_BOOT_ERROR && entry.record.state === 'starting' && this.claims(entry.spec)) {
      this.o.logger.error(`${entry.spec.name}: worker ${pid} could not load or start ${entry.spec.worker ?? 'its module'} (exit ${code}); its stderr log says why`);
    }
    // a worker exits 75 itself only on its graceful_timeout deadline: otherwise the stop looks clean
    if (code === WORKER_CUT_SHORT && this.claims(entry.spec)) {
      const what = entry.spec.sockets.length > 0 ? 'with requests in flight' : 'with its tasks or its stop() unfinished (its stderr log says which)';
      this.o.logger.warn(`${entry.spec.name}: worker ${pid} was cut off ${what}: graceful_timeout (${entry.spec.gracefulTimeoutSecs}s) ran out`);
    }
    const w = this.states.get(entry);
    if (w?.heartbeat) clearTimeout(w.heartbeat);
    if (w) w.heartbeat = null;
    // a serving worker's slot goes to a spare before the exit is even classified (and the entry restarted)
    if (w) this.arbiter.memberExited(w);
  }

  // --- internal ---

  private context(): KindContext {
    if (!this.ctx) throw new Error('Workers.bind was not called');
    return this.ctx;
  }

  /** The fd to hand for socket `name`: the socket itself when shared, the worker's slot of it when balanced. */
  private listenFdOf(name: string, slot: number): number | null {
    const sockets = this.o.sockets;
    if (!sockets) return null;
    return sockets.isBalanced(name) ? sockets.slotFd(name, slot) : (sockets.get(name)?.fd ?? null);
  }

  /**
   * Steers new connections to the program's balanced sockets over the slots whose serving worker is ready
   * (src/os/steering.ts): a slot whose worker died or is still loading gets none.
   */
  private steer(group: string, programName: string): void {
    const sockets = this.o.sockets;
    // called on every change of every worker: nothing to do (and no table scan) without a steered socket
    if (!sockets?.anySteered() || !this.supervisor) return;
    const names = this.balancedSockets(group, programName).filter((name) => sockets.isSteered(name));
    if (names.length === 0) return;
    const ready = new Set<number>();
    for (const entry of this.supervisor.table.entries()) {
      if (entry.spec.group !== group || entry.spec.programName !== programName || entry.record.state !== 'running') continue;
      const w = this.stateOf(entry);
      if (w.role === 'serving' && w.slot !== null) ready.add(w.slot);
    }
    const slots = [...ready].sort((a, b) => a - b);
    const program = `${group}:${programName}`;
    let refused = false;
    for (const name of names) {
      const r = sockets.steer(name, slots);
      if (!r) continue;
      refused ||= r.refused.length > 0;
      if (!r.changed) continue;
      const why = r.refused.map((x) => `${x.slot} (${x.code})`).join(', ');
      this.o.logger.debug(`socket ${name}: new connections in turn to slot(s) ${r.listed.join(', ') || 'none (the kernel\'s hash)'}${why ? `; refused: ${why}` : ''}`);
    }
    // Refused (EBUSY): a re-exec'd master's predecessor still lists the sockets until it lets go, and
    // nothing else would make this master try again. Retried with a growing delay, up to STEER_RETRY_MAX_MS.
    const pending = this.steerRetries.get(program);
    if (!refused) {
      if (pending) clearTimeout(pending.timer);
      this.steerRetries.delete(program);
      return;
    }
    if (pending?.timer && !pending.fired) return;
    const delayMs = Math.min(STEER_RETRY_MAX_MS, pending ? pending.delayMs * 2 : STEER_RETRY_FIRST_MS);
    const entry = { delayMs, fired: false, timer: setTimeout(() => ((entry.fired = true), this.steer(group, programName)), delayMs) };
    entry.timer.unref();
    this.steerRetries.set(program, entry);
  }

  /** Writes every worker program's steering lists: a re-exec'd master that has just taken them over. */
  steerAll(): void {
    const seen = new Set<string>();
    for (const entry of this.supervisor?.table.entries() ?? []) {
      const program = `${entry.spec.group}:${entry.spec.programName}`;
      if (!entry.spec.worker || seen.has(program)) continue;
      seen.add(program);
      this.steer(entry.spec.group, entry.spec.programName);
    }
  }

  /** The balanced sockets a program names. */
  private balancedSockets(group: string, programName: string): string[] {
    const entry = this.supervisor?.table.entries().find((e) => e.spec.group === group && e.spec.programName === programName);
    return (entry?.spec.sockets ?? []).filter((name) => this.o.sockets?.isBalanced(name) === true);
  }

  /**
   * Makes a running spare serve: tells it to accept, then hands it each of its program's sockets (its slot
   * of a balanced one) over IPC; it listens on each as it arrives. False when a socket cannot be had (the
   * spare is left as it is).
   */
  private promote(w: WorkerState): boolean {
    const child = w.entry.child;
    const fds: number[] = [];
    for (const name of w.spec.sockets) {
      let fd: number | null;
      try {
        fd = this.listenFdOf(name, w.slot ?? 0);
      } catch (err) {
        if (!(err instanceof SocketBindError)) throw err;
        this.o.logger.error(`${w.spec.name}: ${err.message}`);
        return false;
      }
      if (fd === null) return false;
      fds.push(fd);
    }
    // gone meanwhile: its exit hands the slot on (it is serving by now, for the arbiter)
    if (!child?.connected) return true;
    w.promotedAtMs = steadyNowMs();
    // EPIPE/ERR_IPC_CHANNEL_CLOSED when the spare is gone: its exit event tells the rest
    child.send({ t: 'accept', sockets: fds.length }, () => undefined);
    fds.forEach((fd, index) => void sendListeningSocket(child, { t: 'socket', index }, fd));
    // its slot listens already (the master's copy): connections steered there wait the moment it takes to listen
    this.steer(w.spec.group, w.spec.programName);
    return true;
  }

  private stateOf(entry: ProcessEntry): WorkerState {
    let w = this.states.get(entry);
    if (!w) {
      w = new WorkerState(entry);
      this.states.set(entry, w);
    }
    return w;
  }

  /** (Re)arms the heartbeat watchdog of a worker; a stuck event loop stops the heartbeats. */
  private armHeartbeat(entry: ProcessEntry, w: WorkerState, pid: number): void {
    if (w.heartbeat) clearTimeout(w.heartbeat);
    w.heartbeat = null;
    const ms = entry.spec.heartbeatTimeoutSecs * 1000;
    if (ms <= 0) return;
    const ctx = this.context();
    w.heartbeat = setTimeout(() => ctx.push(entry.key, pid, { t: 'heartbeatMissed' } satisfies WorkerEvent), timerDelay(ms));
  }

  private handleMessage(entry: ProcessEntry, w: WorkerState, msg: WorkerMessage): void {
    const pid = entry.spawnedPid;
    switch (msg.t) {
      case 'ready':
        this.armHeartbeat(entry, w, pid);
        if (entry.record.state === 'starting' || entry.record.state === 'running') this.context().dispatch(entry, { type: 'readyReported', how: 'worker reported ready' });
        break;
      case 'hb':
        w.stuckReport = null;
        // heartbeats carry a worker's running count: add what it served since the last one
        if (msg.requests > w.requests) {
          const program = `${entry.spec.group}:${entry.spec.programName}`;
          this.requestsServed.set(program, (this.requestsServed.get(program) ?? 0) + msg.requests - w.requests);
        }
        w.requests = msg.requests;
        w.rssBytes = msg.rss;
        this.armHeartbeat(entry, w, pid);
        if (entry.spec.maxMemoryBytes > 0 && msg.rss > entry.spec.maxMemoryBytes && !w.retiring) {
          this.arbiter.retire(w, `RSS ${Math.round(msg.rss / 1048576)} MiB over max_memory ${Math.round(entry.spec.maxMemoryBytes / 1048576)} MiB`);
        }
        break;
      case 'retire':
        this.arbiter.retire(w, msg.reason);
        break;
      case 'serving':
        this.o.logger.info(
          `${entry.spec.name}: spare ${pid} now ${entry.spec.sockets.length === 0 ? 'running' : `accepting${w.slot !== null ? ` in slot ${w.slot}` : ''}`}${w.promotedAtMs > 0 ? ` (${Math.round(steadyNowMs() - w.promotedAtMs)} ms after it was told)` : ''}`,
        );
        w.promotedAtMs = 0;
        this.steer(entry.spec.group, entry.spec.programName);
        break;
      default:
        assertNever(msg);
    }
  }

  /** Shared primitives: hands a worker's requests to the owner, with a reply path to that very process. */
  private handleRequest(entry: ProcessEntry, calls: readonly SharedCall[]): void {
    const child = entry.child;
    if (!child) return;
    this.o.onRequest?.(entry.key, entry.spawnedPid, calls, (reply) => {
      // the worker may be gone by the time an answer is ready: its exit event tells the rest
      if (child.connected) child.send(reply, () => undefined);
    });
  }

  /**
   * No heartbeat within `timeout`: wait (bounded) for the worker's stuck report — its watchdog thread writes
   * it once the loop has been stuck for the same timeout, as measured in the worker, a little before or after
   * this — then SIGKILL. Nothing is sent to the worker: SIGUSR1, as drover once did, would open Node's inspector.
   */
  private heartbeatMissed(entry: ProcessEntry, w: WorkerState): void {
    if (entry.record.state !== 'starting' && entry.record.state !== 'running') return;
    w.heartbeat = null;
    // before its ready report the worker is still loading the app (a top-level await that never settles),
    // or, a job worker (the one kind without sockets), in its setup(): heartbeats begin once that returned
    const how =
      entry.record.state !== 'starting' ? 'its event loop is stuck' : entry.spec.sockets.length > 0 ? 'it has not finished loading the app' : 'it has not finished loading its module, or its setup() has not returned';
    this.o.logger.error(`${entry.spec.name}: worker ${entry.spawnedPid} sent no heartbeat for ${entry.spec.heartbeatTimeoutSecs}s (${how}); waiting for its watchdog's report`);
    if (w.stuckReport !== null) {
      this.reportWaited(entry, w);
      return;
    }
    w.reportDeadlineMs = steadyNowMs() + STUCK_REPORT_WAIT_MS;
    const ctx = this.context();
    const pid = entry.spawnedPid;
    setTimeout(() => ctx.push(entry.key, pid, { t: 'reportWaited' } satisfies WorkerEvent), STUCK_REPORT_WAIT_MS);
  }

  /** The report came, or the wait for it ended: log the stack (or why there is none) and kill the worker. */
  private reportWaited(entry: ProcessEntry, w: WorkerState): void {
    if (w.reportDeadlineMs === 0 && w.stuckReport === null) return; // already handled
    w.reportDeadlineMs = 0;
    const pid = entry.spawnedPid;
    const report = w.stuckReport;
    w.stuckReport = null;
    const { logger } = this.o;
    const stack = report ? reportFrames(report) : null;
    if (stack) logger.error(`${entry.spec.name}: JavaScript stack of the stuck worker ${pid}:\n    ${stack.split('\n').join('\n    ')}`);
    else if (report && 'error' in report) logger.error(`${entry.spec.name}: no JavaScript stack of the stuck worker ${pid}: ${report.error}`);
    else logger.error(`${entry.spec.name}: the stuck worker's watchdog sent no report within ${STUCK_REPORT_WAIT_MS / 1000} s`);
    logger.warn(`${entry.spec.name}: killing worker ${pid} (heartbeat timeout)`);
    // not a stop: it is replaced as any worker that ended, and its end is never counted as a failed start
    entry.killedPid = pid;
    sendSignal(pid, 'KILL', true);
  }
}

function assertNever(x: never): never {
  throw new Error(`unhandled worker event ${JSON.stringify(x)}`);
}
