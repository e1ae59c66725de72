// The pure reducer for one process: (policy, record, event, now) → (record, effects, steps).
// It never awaits and never touches the OS; core/supervisor.ts runs the effects it returns.
// Semantics follow supervisor's Subprocess.transition/finish/change_state, minus the one-second tick.
import { InvariantError } from '../errors.js';
import { eventsAllowedIn, transitionsFor, type Guard, type ProcessEvent, type State, type Transition } from './states.js';
import { backoffDelayMs, describeExit, hasReadyCheck, isExpectedExit, notReadyInTime, restartsAfterExit, type ProcessPolicy } from './policy.js';
export { stepLevel } from './policy.js';

/** How a spawn error starts when the process died before startsecs (supervisor's words, then how it ended). */
export const EXITED_TOO_QUICKLY = 'Exited too quickly';

/** Everything the state machine knows about one process. */
export interface ProcessRecord {
  /** current state; 'stopped' before the first start */
  readonly state: State;
  /** pid of the live process (or the followed pid); null when there is none */
  readonly pid: number | null;
  /** when the current or last process was spawned (steadyNowMs(), src/os/clock.ts); null before the first spawn */
  readonly startedAtMs: number | null;
  /** when the current process was reported ready (a drover worker's startsecs count from then); null until then */
  readonly readyAtMs: number | null;
  /** when the last process ended; null before the first exit */
  readonly stoppedAtMs: number | null;
  /** failed starts in a row, supervisor's `backoff`; 0 once a process reaches running */
  readonly backoffCount: number;
  /** intent recorded before the stop signal is sent: the next exit is a requested stop */
  readonly stopRequested: boolean;
  /** why the current stop began, which decides what its exit leads to: stopped, started again, or backoff */
  readonly stopCause: 'requested' | 'unhealthy' | 'readyTimeout' | 'fastStop';
  /** the health check's last verdict, kept across a restart until the next one (so a process restarted for
   * being unhealthy says so until it passes); null before the first verdict or without a check */
  readonly health: 'healthy' | 'unhealthy' | null;
  /** failed health checks in a row; 0 after a pass */
  readonly healthFailures: number;
  /** failed health checks since drover started, every process of this entry counted */
  readonly healthChecksFailed: number;
  /** restarts for being unhealthy since drover started */
  readonly unhealthyRestarts: number;
  /** exit code of the last process; -1 when it was killed by a signal (as supervisor reports); null if none */
  readonly exitStatus: number | null;
  /** signal name that ended the last process, or null */
  readonly exitSignal: string | null;
  /** why the last start failed, or null */
  readonly spawnError: string | null;
  /** processes spawned after the first one (autorestarts, backoff retries, manual restarts) */
  readonly restarts: number;
  /** spawns so far, to tell the first from the rest */
  readonly spawns: number;
  /** when the state last changed */
  readonly changedAtMs: number;
}

export const TIMERS = ['startSecs', 'readyTimeout', 'backoff', 'stopTimeout', 'fatalCooldown'] as const;
export type TimerName = (typeof TIMERS)[number];

/** The event a timer raises when it fires. */
export function timerEvent(timer: TimerName): ProcessEvent {
  switch (timer) {
    case 'startSecs':
      return { type: 'startSecsElapsed' };
    case 'readyTimeout':
      return { type: 'readyTimeoutElapsed' };
    case 'backoff':
      return { type: 'backoffElapsed' };
    case 'stopTimeout':
      return { type: 'stopTimeoutElapsed' };
    case 'fatalCooldown':
      return { type: 'fatalCooldownElapsed' };
    default:
      return assertNever(timer);
  }
}

export type Effect =
  | { readonly type: 'spawn' }
  /** `overdue`: the SIGKILL after stopwaitsecs (logged at WARN, as supervisord's "killing … with SIGKILL") */
  | { readonly type: 'sendSignal'; readonly signal: string; readonly toGroup: boolean; readonly overdue?: true }
  | { readonly type: 'startTimer'; readonly timer: TimerName; readonly ms: number }
  | { readonly type: 'cancelTimer'; readonly timer: TimerName }
  /** kill what is left of the process group (and its recorded descendants) after the leader ended */
  | { readonly type: 'sweepLeftovers' };

/** One state change, for the change log and the event stream. */
export interface Step {
  readonly from: State;
  readonly to: State;
  readonly reason: string;
  /** the process the change is about: the live one, or the one whose exit caused it; null when none */
  readonly pid: number | null;
  /** the record as this change left it (a reduction may make several changes; the entry holds the last) */
  readonly record: ProcessRecord;
}

export interface Reduction {
  readonly record: ProcessRecord;
  readonly effects: readonly Effect[];
  readonly steps: readonly Step[];
  /** every table row taken, same-state rows included, in order */
  readonly taken: readonly Transition[];
}

export interface ReduceContext {
  readonly nowMs: number;
  /** supervisor's mood below RUNNING: nothing restarts by itself */
  readonly shuttingDown: boolean;
  /** a number in [0, 1) for backoff jitter, supplied by the caller to keep this pure */
  readonly random: number;
}

/** A record for a process that has never run. */
export function initialRecord(nowMs: number): ProcessRecord {
  return {
    state: 'stopped',
    pid: null,
    startedAtMs: null,
    readyAtMs: null,
    stoppedAtMs: null,
    backoffCount: 0,
    stopRequested: false,
    stopCause: 'requested',
    health: null,
    healthFailures: 0,
    healthChecksFailed: 0,
    unhealthyRestarts: 0,
    exitStatus: null,
    exitSignal: null,
    spawnError: null,
    restarts: 0,
    spawns: 0,
    changedAtMs: nowMs,
  };
}

/** Applies one event; chained follow-on moves (autorestart, giving up) are applied in the same call. */
export function reduce(
  policy: ProcessPolicy,
  record: ProcessRecord,
  event: ProcessEvent,
  ctx: ReduceContext,
): Reduction {
  const effects: Effect[] = [];
  const steps: Step[] = [];
  const taken: Transition[] = [];
  let rec = record;

  const move = (ev: ProcessEvent, guard: Guard, patch: Partial<ProcessRecord>, reason?: string): void => {
    const row = pickRow(policy.name, rec.state, ev, guard);
    taken.push(row);
    if (row.to !== rec.state) {
      const from = rec.state;
      const pidBefore = rec.pid;
      rec = { ...rec, ...patch, state: row.to, changedAtMs: ctx.nowMs };
      steps.push({ from, to: row.to, reason: reason ?? row.why, pid: rec.pid ?? pidBefore, record: rec });
    } else {
      rec = { ...rec, ...patch };
    }
  };

  const spawnNow = (ev: ProcessEvent, reason?: string, guard: Guard = 'always'): void => {
    const counts = { restarts: rec.spawns > 0 ? rec.restarts + 1 : rec.restarts, spawns: rec.spawns + 1 };
    // the last exit is forgotten at a spawn, as supervisor forgets it (its exitstatus is reset in spawn());
    // so is a "healthy" verdict, which was about another process, but not "unhealthy": it stands until a
    // process passes a check (across the restart for it, and a failed start's retries after that)
    const health = rec.health === 'unhealthy' ? 'unhealthy' : null;
    move(ev, guard, { stopRequested: false, stopCause: 'requested', spawnError: null, exitStatus: null, exitSignal: null, startedAtMs: ctx.nowMs, readyAtMs: null, healthFailures: 0, health, ...counts }, reason);
    effects.push({ type: 'spawn' });
  };

  /** The stop signal, and SIGKILL after stopwaitsecs, for a stop begun for `cause`. */
  const beginStop = (ev: ProcessEvent, guard: Guard, patch: Partial<ProcessRecord>, cause: ProcessRecord['stopCause'], reason?: string): void => {
    move(ev, guard, { ...patch, stopRequested: true, stopCause: cause }, reason);
    effects.push({ type: 'cancelTimer', timer: 'startSecs' });
    effects.push({ type: 'cancelTimer', timer: 'readyTimeout' });
    // a start that failed (ready_timeout) ends with all it began: what it forked must not live on to pass
    // the next attempt's check, nor outlive drover
    effects.push({ type: 'sendSignal', signal: policy.stopSignal, toGroup: policy.stopAsGroup || cause === 'readyTimeout' });
    effects.push({ type: 'startTimer', timer: 'stopTimeout', ms: policy.stopWaitSecs * 1000 });
  };

  const enterBackoff = (ev: ProcessEvent, guard: Guard, spawnError: string, reason: string): void => {
    const attempt = rec.backoffCount + 1;
    move(ev, guard, { pid: null, backoffCount: attempt, spawnError, stoppedAtMs: ctx.nowMs }, reason);
    if (attempt > policy.startRetries) {
      move({ type: 'retriesExhausted' }, 'always', {});
      if (policy.fatalCooldownSecs !== null) {
        effects.push({ type: 'startTimer', timer: 'fatalCooldown', ms: policy.fatalCooldownSecs * 1000 });
      }
    } else {
      effects.push({ type: 'startTimer', timer: 'backoff', ms: backoffDelayMs(policy, attempt, ctx.random) });
    }
  };

  switch (event.type) {
    case 'startRequested': {
      if (rec.state === 'unknown') {
        move(event, 'always', {}); // its last process may still run: nothing starts
        break;
      }
      const manual = rec.state === 'stopped' || rec.state === 'fatal';
      if (manual) rec = { ...rec, backoffCount: 0 };
      effects.push({ type: 'cancelTimer', timer: 'fatalCooldown' });
      spawnNow(event);
      break;
    }
    case 'spawned': {
      move(event, 'always', { pid: event.pid });
      if (policy.readiness === 'reported') {
        // running when it is reported ready (its ready check, or a drover worker's message), not after startsecs
        if (policy.readyTimeoutSecs !== null) effects.push({ type: 'startTimer', timer: 'readyTimeout', ms: policy.readyTimeoutSecs * 1000 });
      } else if (policy.startSecs === 0) {
        move({ type: 'startSecsElapsed' }, 'always', { backoffCount: 0 }, 'startsecs is 0');
      } else {
        effects.push({ type: 'startTimer', timer: 'startSecs', ms: policy.startSecs * 1000 });
      }
      break;
    }
    case 'spawnFailed':
      enterBackoff(event, 'always', event.message, `spawn error: ${event.message}`);
      break;
    case 'startSecsElapsed':
      // in RUNNING: a process whose ready check passed early has now stayed up startsecs too
      move(event, 'always', { backoffCount: 0 }, rec.state === 'starting' ? `stayed up ${policy.startSecs}s = startsecs` : undefined);
      break;
    case 'childExited':
      reduceExit(event);
      break;
    case 'backoffElapsed':
      spawnNow(event, `retry ${rec.backoffCount} of ${policy.startRetries}`);
      break;
    case 'stopRequested': {
      const from = rec.state;
      if (event.fast === true && (from === 'starting' || from === 'running' || from === 'stopping')) {
        // SIGKILL to the group follows from the shutdown (killNow): a stop signal first would let the
        // program's children run their TERM handlers, and no stopwaitsecs applies to a KILL
        move(event, 'always', { stopRequested: true, stopCause: 'fastStop' }, from === 'stopping' ? undefined : 'fast stop: SIGKILL to its process group');
        for (const timer of ['startSecs', 'readyTimeout', 'stopTimeout'] as const) effects.push({ type: 'cancelTimer', timer });
      } else if (from === 'starting' || from === 'running') {
        beginStop(event, 'always', {}, 'requested');
      } else if (from === 'backoff') {
        move(event, 'always', {});
        effects.push({ type: 'cancelTimer', timer: 'backoff' });
      } else if (from === 'fatal') {
        move(event, 'always', {});
        effects.push({ type: 'cancelTimer', timer: 'fatalCooldown' });
      } else {
        // stopping: already on its way, and now as requested (not to restart or retry); other states raise through pickRow
        move(event, 'always', from === 'stopping' ? { stopCause: 'requested' } : {});
      }
      break;
    }
    case 'stopTimeoutElapsed':
      move(event, 'always', {});
      effects.push({ type: 'sendSignal', signal: 'KILL', toGroup: policy.killAsGroup || rec.stopCause === 'readyTimeout', overdue: true });
      break;
    case 'fatalCooldownElapsed':
      rec = { ...rec, backoffCount: 0 };
      spawnNow(event);
      break;
    case 'supervisorRestarted':
      // supervisord re-execs itself for it: no exit, stop time, failed start or count survives (the health
      // check's verdict neither); a fatal_cooldown retry is called off, as in a fresh daemon
      move(event, 'always', initialRecord(ctx.nowMs));
      effects.push({ type: 'cancelTimer', timer: 'fatalCooldown' });
      break;
    case 'pidFollowed':
      move(event, 'always', { pid: event.pid });
      break;
    case 'readyReported': {
      if (rec.state !== 'starting') {
        move(event, 'always', {}, event.how ?? 'reported ready');
        break;
      }
      effects.push({ type: 'cancelTimer', timer: 'readyTimeout' });
      // A ready check (or a drover worker's own report) says when the program may be used; startsecs still
      // says how long it must stay up for its start to count: an exit before that is a failed start
      // (backoff, then FATAL), or a program or worker that crashes just after it is ready would be
      // restarted as fast as it crashes, forever. A ready check's startsecs count from the spawn, as
      // supervisor's; a worker's from its report, as loading a Node app takes most of a second on a busy
      // machine, and a worker that crashes 200 ms after it is ready must not slip past a 1 s startsecs
      const upMs = hasReadyCheck(policy) ? ctx.nowMs - (rec.startedAtMs ?? ctx.nowMs) : 0;
      const owed = policy.startSecs * 1000 - upMs;
      if (owed > 0) effects.push({ type: 'startTimer', timer: 'startSecs', ms: owed });
      move(event, 'always', owed > 0 ? { readyAtMs: ctx.nowMs } : { readyAtMs: ctx.nowMs, backoffCount: 0 }, event.how ?? 'reported ready');
      break;
    }
    case 'readyTimeoutElapsed':
      // in a shutdown the program is stopped in its turn (reverse priority), not now as a failed start
      if (ctx.shuttingDown) move(event, 'shuttingDown', {});
      else beginStop(event, 'always', {}, 'readyTimeout', `${notReadyInTime(policy)}: a failed start`);
      break;
    case 'healthCheckPassed':
      move(event, 'always', rec.state === 'running' ? { health: 'healthy', healthFailures: 0 } : {});
      break;
    case 'healthCheckFailed': {
      if (rec.state !== 'running') {
        move(event, 'always', {}); // already stopping; other states raise through pickRow
        break;
      }
      const failures = rec.healthFailures + 1;
      const counts = { healthFailures: failures, healthChecksFailed: rec.healthChecksFailed + 1 };
      if (ctx.shuttingDown) {
        // a verdict that was under way when the shutdown began: the program is stopped in its turn
        move(event, 'shuttingDown', counts);
      } else if (failures < policy.healthcheckRetries) {
        move(event, 'always', counts);
      } else {
        const reason = `unhealthy: ${failures} failed health checks in a row (last: ${event.error}); restarting`;
        beginStop(event, 'healthRetriesReached', { ...counts, health: 'unhealthy', unhealthyRestarts: rec.unhealthyRestarts + 1 }, 'unhealthy', reason);
      }
      break;
    }
    case 'signalDenied':
      // supervisord's UNKNOWN: no SIGKILL will follow (it would be refused too); its exit still ends it
      move(event, 'always', {}, `${event.signal} to pid ${rec.pid ?? '?'} refused (${event.error}): drover cannot stop it`);
      for (const timer of ['startSecs', 'readyTimeout', 'stopTimeout'] as const) effects.push({ type: 'cancelTimer', timer });
      break;
    case 'autoRestartDue':
    case 'retriesExhausted':
      throw new InvariantError(`program "${policy.name}": ${event.type} is raised only by the reducer itself`);
    default:
      return assertNever(event);
  }
  return { record: rec, effects, steps, taken };

  function reduceExit(ev: Extract<ProcessEvent, { type: 'childExited' }>): void {
    const exitStatus = ev.signal !== null ? -1 : ev.code;
    const how = describeExit(ev.code, ev.signal);
    const base = { pid: null, stoppedAtMs: ctx.nowMs, exitSignal: ev.signal } as const;
    if (policy.killAsGroup || (rec.state === 'stopping' && rec.stopCause === 'readyTimeout')) effects.push({ type: 'sweepLeftovers' });
    if (rec.state === 'unknown') return move(ev, 'always', { ...base, exitStatus, stopRequested: false }, how);
    if (rec.state === 'stopping') {
      effects.push({ type: 'cancelTimer', timer: 'stopTimeout' });
      // in a shutdown nothing starts again, whatever the stop was for
      const cause = ctx.shuttingDown ? 'requested' : rec.stopCause;
      if (cause === 'unhealthy') {
        rec = { ...rec, ...base, exitStatus };
        spawnNow(ev, `${how}; started again (it was unhealthy)`, 'restartAfterStop');
      } else if (cause === 'readyTimeout') {
        rec = { ...rec, ...base, exitStatus: null, stopRequested: false };
        const why = notReadyInTime(policy);
        enterBackoff(ev, 'failedStartAfterStop', why, `${why}; ${how}`);
      } else {
        move(ev, 'always', { ...base, exitStatus, stopRequested: false }, how);
      }
      return;
    }
    const upMs = ctx.nowMs - (rec.startedAtMs ?? ctx.nowMs);
    if (rec.state === 'running' && policy.readiness === 'reported') {
      effects.push({ type: 'cancelTimer', timer: 'startSecs' });
      const check = hasReadyCheck(policy);
      const countedMs = check ? upMs : ctx.nowMs - (rec.readyAtMs ?? rec.startedAtMs ?? ctx.nowMs);
      // a stuck worker the master killed did not fail to start, however soon it got stuck; nor, for a
      // worker, did one SIGKILLed (an operator's kill -9, the OOM killer): replaced at once, as gunicorn
      // replaces it; a crash loop is the app's own exit (an exception, process.exit) or a fatal signal
      const counts = check || ev.signal !== 'KILL';
      if (countedMs < policy.startSecs * 1000 && !ctx.shuttingDown && ev.killed !== true && counts) {
        rec = { ...rec, ...base, exitStatus: null };
        const ready = check ? 'its ready check passed, but it' : 'it reported ready, but';
        enterBackoff(ev, 'exitedTooQuickly', `${EXITED_TOO_QUICKLY} (${how})`, `exited too quickly (${how}): ${ready} did not stay up startsecs (${policy.startSecs}s${check ? '' : ' after that'})`);
        return;
      }
    }
    if (rec.state === 'starting') {
      effects.push({ type: 'cancelTimer', timer: 'startSecs' });
      effects.push({ type: 'cancelTimer', timer: 'readyTimeout' });
      // a process that dies before it is reported ready failed to start, however long it took
      if (upMs < policy.startSecs * 1000 || policy.readiness === 'reported') {
        rec = { ...rec, ...base, exitStatus: null };
        enterBackoff(ev, 'exitedTooQuickly', `${EXITED_TOO_QUICKLY} (${how})`, `exited too quickly (${how})`);
        return;
      }
    }
    const expected = isExpectedExit(policy, exitStatus);
    const guard: Guard = rec.state === 'starting' ? 'exitedAfterStartSecs' : 'always';
    move(
      ev,
      guard,
      { ...base, exitStatus, backoffCount: 0, spawnError: expected ? null : `Bad exit code ${exitStatus ?? '?'}` },
      `${how}; ${expected ? 'expected' : 'not expected'}`,
    );
    const restart = !ctx.shuttingDown && restartsAfterExit(policy, expected);
    if (restart) spawnNow({ type: 'autoRestartDue' }, `autorestart=${policy.autorestart}`);
  }
}

// --- internal ---

function pickRow(name: string, from: State, event: ProcessEvent, guard: Guard) {
  const rows = transitionsFor(from, event.type);
  const row = rows.find((r) => r.when === guard) ?? rows.find((r) => r.when === 'always');
  if (!row) {
    const allowed = eventsAllowedIn(from).join(', ');
    throw new InvariantError(
      `program "${name}": event ${event.type} is not allowed in state ${from} (allowed: ${allowed})`,
    );
  }
  return row;
}

function assertNever(x: never): never {
  throw new InvariantError(`unhandled event ${JSON.stringify(x)}`);
}

