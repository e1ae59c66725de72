// The process state machine: states, events, and the transition table as data.
// States are supervisor's words (ProcessStates in supervisor/states.py), lower-case here and upper-case in
// supervisor's XML-RPC. This file imports nothing from node: so the table can be read and tested alone.
// docs/states.md is generated from TRANSITIONS (scripts/gen-states-doc.mjs).

export const STATES = ['stopped', 'starting', 'running', 'backoff', 'stopping', 'exited', 'fatal', 'unknown'] as const;
export type State = (typeof STATES)[number];

/** supervisor's numeric state codes, used by its XML-RPC (`statecode`). */
export const STATE_CODES: Readonly<Record<State, number>> = {
  stopped: 0,
  starting: 10,
  running: 20,
  backoff: 30,
  stopping: 40,
  exited: 100,
  fatal: 200,
  unknown: 1000,
};

/** States with a live process that can be signalled. */
export const SIGNALLABLE_STATES: ReadonlySet<State> = new Set(['starting', 'running', 'stopping']);
/** States from which `stop` has something to do. */
/** States counted as "up" for status and for supervisor's getAllProcessInfo. */
export const RUNNING_STATES: ReadonlySet<State> = new Set(['starting', 'running', 'backoff']);
/**
 * States in which drover has nothing more to do: no process exists and none is scheduled, or (unknown, as
 * supervisor counts UNKNOWN among its stopped states) one exists that drover cannot signal.
 */
export const STOPPED_STATES: ReadonlySet<State> = new Set(['stopped', 'exited', 'fatal', 'unknown']);
/** States in which no process of the program exists: `drover status` exits 3 when a matched one is in one. */
export const NO_PROCESS_STATES: ReadonlySet<State> = new Set([...STOPPED_STATES, 'backoff']);
/** States from which `start` is accepted. */
export const STARTABLE_STATES: ReadonlySet<State> = new Set(['stopped', 'exited', 'fatal']);

/** Everything that can happen to one process. Time passing is an event too (the *Elapsed ones). */
export type ProcessEvent =
  | { readonly type: 'startRequested' }
  | { readonly type: 'spawned'; readonly pid: number }
  | { readonly type: 'spawnFailed'; readonly reason: string; readonly message: string }
  | { readonly type: 'startSecsElapsed' }
  | {
      readonly type: 'childExited';
      /** exit code, or null when killed by a signal */
      readonly code: number | null;
      /** signal name without SIG when killed by a signal */
      readonly signal: string | null;
      /** drover ended it without a stop (a stuck worker's SIGKILL): an exit, never a failed start */
      readonly killed?: boolean;
    }
  | { readonly type: 'backoffElapsed' }
  /** `fast`: a fast shutdown, whose SIGKILL to the process group the shutdown sends; no stop signal */
  | { readonly type: 'stopRequested'; readonly fast?: boolean }
  | { readonly type: 'stopTimeoutElapsed' }
  | { readonly type: 'fatalCooldownElapsed' }
  /** supervisor.restart: the past of a process that is not running is forgotten, as a fresh daemon's */
  | { readonly type: 'supervisorRestarted' }
  /** a self-daemonizing program handed over to the pid in its pidfile */
  | { readonly type: 'pidFollowed'; readonly pid: number }
  /** the process is ready: a drover worker said so (listening, or set up), or its ready check passed */
  | { readonly type: 'readyReported'; readonly how?: string }
  /** ready_timeout passed since the spawn without the ready check passing */
  | { readonly type: 'readyTimeoutElapsed' }
  /** a health check (healthcheck =) passed, or failed */
  | { readonly type: 'healthCheckPassed' }
  | { readonly type: 'healthCheckFailed'; readonly error: string }
  /** the kernel refused a stop signal (EPERM: the process runs as a user drover may not signal) */
  | { readonly type: 'signalDenied'; readonly signal: string; readonly error: string }
  // The two below are raised by the reducer itself, right after another move, where supervisor would
  // wait for its next one-second tick.
  /** exited and autorestart applies */
  | { readonly type: 'autoRestartDue' }
  /** entered backoff with no retries left */
  | { readonly type: 'retriesExhausted' };

export type ProcessEventType = ProcessEvent['type'];

/** Guards that pick between rows with the same (from, on). Evaluated by core/program.ts. */
export type Guard =
  | 'always'
  | 'exitedTooQuickly' // died before startsecs: counts as a failed start
  | 'exitedAfterStartSecs'
  | 'healthRetriesReached' // the healthcheck_retries-th failed health check in a row
  | 'restartAfterStop' // the stop was for being unhealthy: start again
  | 'failedStartAfterStop' // the stop was for ready_timeout: a failed start
  | 'shuttingDown'; // drover is shutting down: a check's verdict stops or restarts nothing

export interface Transition {
  readonly from: State;
  readonly on: ProcessEventType;
  readonly to: State;
  readonly when: Guard;
  /** one line for the generated state doc and the change log */
  readonly why: string;
}

const row = (from: State, on: ProcessEventType, to: State, when: Guard, why: string): Transition => ({
  from,
  on,
  to,
  when,
  why,
});

/**
 * The transition table. A (state, event) pair that is not here is an invariant violation.
 * Follow-on moves that supervisor makes on its next tick (exited → starting when autorestart applies,
 * backoff → fatal when retries are exhausted) are made at once here: the reducer raises the event itself.
 */
export const TRANSITIONS: readonly Transition[] = [
  row('stopped', 'startRequested', 'starting', 'always', 'start requested'),
  row('exited', 'startRequested', 'starting', 'always', 'start requested or autorestart'),
  row('fatal', 'startRequested', 'starting', 'always', 'start requested'),
  row('starting', 'spawned', 'starting', 'always', 'process created; waiting startsecs, or until it is ready'),
  row('starting', 'spawnFailed', 'backoff', 'always', 'could not spawn (counts as a failed start)'),
  row('starting', 'startSecsElapsed', 'running', 'always', 'stayed up for startsecs'),
  row('starting', 'readyReported', 'running', 'always', 'ready: its ready check passed, or the worker said so'),
  row('starting', 'readyTimeoutElapsed', 'stopping', 'always', 'not ready within ready_timeout; stopped (counts as a failed start)'),
  row('starting', 'readyTimeoutElapsed', 'starting', 'shuttingDown', 'not ready within ready_timeout, in a shutdown: it is stopped in its turn'),
  row('running', 'readyReported', 'running', 'always', 'already running'),
  row('running', 'startSecsElapsed', 'running', 'always', 'ready early, and now up for startsecs too: a good start'),
  row('stopping', 'readyReported', 'stopping', 'always', 'ready, but already stopping'),
  row('running', 'healthCheckPassed', 'running', 'always', 'health check passed: healthy'),
  row('running', 'healthCheckFailed', 'running', 'always', 'health check failed, fewer than healthcheck_retries times in a row'),
  row('running', 'healthCheckFailed', 'stopping', 'healthRetriesReached', 'healthcheck_retries failed health checks in a row: unhealthy, restarting'),
  row('running', 'healthCheckFailed', 'running', 'shuttingDown', 'health check failed in a shutdown: counted; it is stopped in its turn, not restarted'),
  row('stopping', 'healthCheckPassed', 'stopping', 'always', 'already stopping'),
  row('stopping', 'healthCheckFailed', 'stopping', 'always', 'already stopping'),
  row('starting', 'childExited', 'backoff', 'exitedTooQuickly', 'exited before startsecs, or before it was ready'),
  row('starting', 'childExited', 'exited', 'exitedAfterStartSecs', 'exited after startsecs (timer not yet seen)'),
  row('starting', 'stopRequested', 'stopping', 'always', 'stop requested while starting'),
  row('starting', 'pidFollowed', 'starting', 'always', 'following the pid in its pidfile'),
  row('running', 'childExited', 'exited', 'always', 'process exited'),
  row('running', 'childExited', 'backoff', 'exitedTooQuickly', 'ready, but exited before startsecs: a failed start'),
  row('running', 'stopRequested', 'stopping', 'always', 'stop requested'),
  row('running', 'pidFollowed', 'running', 'always', 'following the pid in its pidfile'),
  row('exited', 'autoRestartDue', 'starting', 'always', 'autorestart'),
  row('backoff', 'backoffElapsed', 'starting', 'always', 'backoff delay elapsed; retrying'),
  row('backoff', 'retriesExhausted', 'fatal', 'always', 'too many failed starts (startretries)'),
  row('backoff', 'stopRequested', 'stopped', 'always', 'stop requested during backoff'),
  row('stopping', 'childExited', 'stopped', 'always', 'stopped as requested'),
  row('stopping', 'childExited', 'starting', 'restartAfterStop', 'stopped for being unhealthy; started again'),
  row('stopping', 'childExited', 'backoff', 'failedStartAfterStop', 'stopped after ready_timeout (a failed start)'),
  row('stopping', 'stopTimeoutElapsed', 'stopping', 'always', 'stopwaitsecs elapsed; SIGKILL sent'),
  row('stopping', 'stopRequested', 'stopping', 'always', 'already stopping'),
  row('stopping', 'pidFollowed', 'stopping', 'always', 'following the pid in its pidfile'),
  row('fatal', 'fatalCooldownElapsed', 'starting', 'always', 'fatal_cooldown elapsed; retrying from scratch'),
  row('fatal', 'stopRequested', 'stopped', 'always', 'stop requested; fatal_cooldown retry cancelled'),
  row('stopped', 'supervisorRestarted', 'stopped', 'always', 'supervisor.restart: its past forgotten, as in a fresh daemon'),
  row('exited', 'supervisorRestarted', 'stopped', 'always', 'supervisor.restart: its past forgotten, as in a fresh daemon'),
  row('fatal', 'supervisorRestarted', 'stopped', 'always', 'supervisor.restart: its past forgotten, as in a fresh daemon'),
  row('stopping', 'signalDenied', 'unknown', 'always', 'its stop signal was refused (EPERM): drover cannot stop it'),
  row('starting', 'signalDenied', 'unknown', 'always', 'a SIGKILL (internal error) was refused (EPERM)'),
  row('running', 'signalDenied', 'unknown', 'always', 'a SIGKILL (internal error) was refused (EPERM)'),
  row('unknown', 'startRequested', 'unknown', 'always', 'not started: its last process may still run'),
  row('unknown', 'childExited', 'stopped', 'always', 'the process drover could not signal has exited'),
  row('unknown', 'stopRequested', 'unknown', 'always', 'drover cannot signal it; nothing to do'),
  row('unknown', 'signalDenied', 'unknown', 'always', 'refused again'),
  row('unknown', 'readyReported', 'unknown', 'always', 'ready, but out of drover\'s reach'),
  row('unknown', 'healthCheckPassed', 'unknown', 'always', 'out of drover\'s reach'),
  row('unknown', 'healthCheckFailed', 'unknown', 'always', 'out of drover\'s reach'),
  row('unknown', 'pidFollowed', 'unknown', 'always', 'following the pid in its pidfile'),
];

/** Rows for a (state, event) pair, in table order. */
export function transitionsFor(from: State, on: ProcessEventType): readonly Transition[] {
  return TRANSITIONS.filter((t) => t.from === from && t.on === on);
}

/** Events accepted in a state, for error messages. */
export function eventsAllowedIn(from: State): readonly ProcessEventType[] {
  return [...new Set(TRANSITIONS.filter((t) => t.from === from).map((t) => t.on))];
}
