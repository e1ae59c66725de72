// What a process's config says about its life, as the reducer (program.ts) and others read it: the
// policy's fields, and the small pure rules over them (backoff delays, expected exits, how an exit reads).
import type { ProcessSpec } from '../config/types.js';
import type { State } from './states.js';

/** The parts of a ProcessSpec the state machine reads. */
export type ProcessPolicy = Pick<
  ProcessSpec,
  | 'name'
  | 'startSecs'
  | 'startRetries'
  | 'autorestart'
  | 'exitCodes'
  | 'stopSignal'
  | 'stopWaitSecs'
  | 'stopAsGroup'
  | 'killAsGroup'
  | 'backoff'
  | 'backoffMaxSecs'
  | 'fatalCooldownSecs'
  | 'readiness'
  | 'readyTimeoutSecs'
  | 'healthcheckRetries'
>;

/** Whether the process has a `ready =` check (a drover worker also reports ready, but has none). */
export function hasReadyCheck(policy: ProcessPolicy): boolean {
  return policy.readiness === 'reported' && policy.readyTimeoutSecs !== null;
}

/** Delay before retry number `attempt` (1-based) in backoff, in ms. */
export function backoffDelayMs(policy: ProcessPolicy, attempt: number, random: number): number {
  if (policy.backoff === 'linear') return attempt * 1000; // supervisor: 1 s, 2 s, 3 s…
  const capMs = policy.backoffMaxSecs * 1000;
  const base = Math.min(capMs, 1000 * 2 ** Math.min(attempt - 1, 30));
  // ±25 % jitter so that many programs failing together do not retry in lockstep
  return Math.round(Math.min(capMs, base * (0.75 + 0.5 * random)));
}

/** Whether an exit status counts as expected (supervisor: es in exitcodes; a signal death never does). */
export function isExpectedExit(policy: Pick<ProcessPolicy, 'exitCodes'>, code: number | null): boolean {
  return code !== null && policy.exitCodes.includes(code);
}

/** Whether an exit is followed by a restart: always under autorestart = true, under unexpected if not expected. */
export function restartsAfterExit(policy: Pick<ProcessPolicy, 'autorestart'>, expected: boolean): boolean {
  return policy.autorestart === 'true' || (policy.autorestart === 'unexpected' && !expected);
}

/**
 * Whether a process is done with its start as a job: `exited` with one of its exitcodes and no restart to
 * come (autorestart = false, or unexpected). The one rule by which systemd's READY=1 and `up -d --wait`
 * count a one-shot as up (docs/decisions.md, "When a one-shot program is done starting").
 */
export function hasCompleted(policy: Pick<ProcessPolicy, 'autorestart' | 'exitCodes'>, state: State, exitStatus: number | null): boolean {
  if (state !== 'exited') return false;
  const expected = isExpectedExit(policy, exitStatus);
  return expected && !restartsAfterExit(policy, expected);
}

/** Describes an exit the way supervisor's decode_wait_status does. */
export function describeExit(code: number | null, signal: string | null): string {
  if (signal !== null) return `terminated by SIG${signal}`;
  return `exit status ${code ?? 'unknown'}`;
}

/** What stepLevel reads of a state change (program.ts' Step; a type of its own here, so policy needs no reducer). */
export interface StepSummary {
  readonly from: State;
  readonly to: State;
  readonly pid: number | null;
  readonly record: { readonly exitStatus: number | null };
}

/**
 * The level of a change's log line, as supervisord logs the same moments: WARN for a failed start (BACKOFF,
 * FATAL), an exit or a stop whose status is not in `exitcodes` (a stop by a signal included: supervisord
 * logs "stopped: x (terminated by SIGTERM)" at WARN); INFO otherwise (the SIGKILL after stopwaitsecs has
 * its own WARN line, where the effect is carried out). So `loglevel = warn` keeps every crash.
 */
export function stepLevel(policy: ProcessPolicy, step: StepSummary): 'warn' | 'info' {
  if (step.to === 'fatal' || step.to === 'backoff') return 'warn';
  const ended = step.to === 'exited' || (step.from === 'stopping' && step.to === 'stopped' && step.pid !== null);
  if (ended) {
    const status = step.record.exitStatus;
    if (!isExpectedExit(policy, status)) return 'warn';
  }
  return 'info';
}

/** Why a start with a `ready` check failed when the check did not pass in time (log, status and API say the same). */
export function notReadyInTime(policy: Pick<ProcessPolicy, 'readyTimeoutSecs'>): string {
  return `not ready within ready_timeout (${policy.readyTimeoutSecs ?? '?'}s)`;
}
