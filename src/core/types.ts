// The supervisor's vocabulary: the commands it takes, the outcomes it answers, the events on its one queue,
// and what listeners hear. Shared by the core's files and by the layers above, which drive it through
// these types only.
import type { Config, EventListenerSpec, ProcessSpec } from '../config/types.js';
import { PREVIOUS_MASTER } from './predecessor.js';
import type { ProcessRecord, Step, TimerName } from './program.js';
import type { ProcessEvent } from './states.js';

/** The supervisor's mood, as getState and /api/info report it. */
export const MOODS = ['running', 'shuttingDown', 'stopped'] as const;
export type Mood = (typeof MOODS)[number];

export type ControlCommand =
  /** `forUpdate`: an update starting what it changed; a dependency an operator stopped is not pulled (as at `up`) */
  | { readonly type: 'start'; readonly keys: readonly string[]; readonly wait: boolean; readonly forUpdate?: boolean }
  /** `forRestart`: the stop of a restart, a start of the same keys follows (not an operator's stop) */
  | { readonly type: 'stop'; readonly keys: readonly string[]; readonly wait: boolean; readonly forRestart?: boolean }
  | { readonly type: 'signal'; readonly keys: readonly string[]; readonly signal: string }
  | { readonly type: 'shutdown'; readonly fast: boolean }
  /**
   * drover's fine-grained update: only processes whose own config changed are restarted. Programs for
   * which `managedElsewhere` is true (worker pools, which roll instead) are left out of the diff.
   */
  | {
      readonly type: 'applyConfig';
      readonly config: Config;
      readonly groups: readonly string[] | null;
      readonly managedElsewhere?: (spec: ProcessSpec) => boolean;
    }
  /** supervisor.restart, once everything is stopped: each stopped process's past forgotten, as a fresh daemon's */
  | { readonly type: 'clearHistory'; readonly keys: readonly string[] }
  /** supervisor's addProcessGroup: activate a group of `config` that is not active yet */
  | { readonly type: 'addGroup'; readonly config: Config; readonly group: string }
  /** supervisor's removeProcessGroup: drop a group whose processes are all stopped */
  | { readonly type: 'removeGroup'; readonly group: string }
  /** drover scale: make `specs` the processes of one program, adding and starting missing ones and
   * stopping and dropping the others (the highest-numbered, when scaling down) */
  | {
      readonly type: 'scale';
      readonly group: string;
      readonly programName: string;
      readonly specs: readonly ProcessSpec[];
      readonly wait: boolean;
    };

/** Error codes of control commands; stable, never reused (docs/api.md). */
export const COMMAND_ERROR_CODES = [
  'E_BAD_NAME',
  'E_ALREADY_STARTED',
  'E_NOT_RUNNING',
  'E_SPAWN',
  'E_NO_FILE',
  'E_NOT_EXECUTABLE',
  'E_ABNORMAL_TERMINATION',
  'E_SHUTTING_DOWN',
  'E_STILL_RUNNING',
  'E_ALREADY_ADDED',
  'E_FAILED',
  /** a dependency failed (FATAL, a job that failed): the process waits and does not start by itself */
  'E_DEPENDENCY',
  /** after a USR2 the previous master still runs the process (it is stopping it): a start now would run a second copy */
  'E_PREVIOUS_MASTER',
  /** a reload cut short because a new master (USR2) took over: it read the config file itself */
  'E_REEXEC',
  /** a reload's new workers of a pool did not get ready: its old workers serve on, with the old code */
  'E_KEPT_OLD_WORKERS',
] as const;
export type CommandErrorCode = (typeof COMMAND_ERROR_CODES)[number];

/**
 * The API code of a start refused before the spawn (preflight) or of a synchronous spawn failure: supervisor's
 * NO_FILE and NOT_EXECUTABLE, E_PREVIOUS_MASTER (core/predecessor.ts), else a spawn error.
 */
export function spawnFailureCode(reason: string): 'E_NO_FILE' | 'E_NOT_EXECUTABLE' | 'E_PREVIOUS_MASTER' | 'E_SPAWN' {
  if (reason === PREVIOUS_MASTER) return 'E_PREVIOUS_MASTER';
  return reason === 'ENOENT' ? 'E_NO_FILE' : reason === 'EACCES' ? 'E_NOT_EXECUTABLE' : 'E_SPAWN';
}

export interface CommandOutcome {
  /** "group:name", or the group name for group commands, or "*" */
  readonly key: string;
  readonly ok: boolean;
  readonly code?: CommandErrorCode;
  readonly message?: string;
  /** start and stop: when the outcome was known (ms since the epoch), for answers in completion order */
  readonly settledAtMs?: number;
}

/** Remembers what an operator started or stopped by hand, so it survives a restart of drover. */
export interface DesiredStateStore {
  /** "started", "stopped", or null when the config's autostart decides */
  get(key: string): 'started' | 'stopped' | null;
  set(key: string, want: 'started' | 'stopped' | null): void;
}

export type SupervisorEvent =
  | { readonly type: 'signalReceived'; readonly signal: string }
  | {
      readonly type: 'childExited';
      readonly key: string;
      readonly pid: number;
      readonly code: number | null;
      readonly signal: string | null;
    }
  /** a state changed outside an event (a start at start-up, a command's later step): what follows a change is looked at */
  | { readonly type: 'settle' }
  | { readonly type: 'timerFired'; readonly key: string; readonly timer: TimerName; readonly gen: number }
  /** the rest of stopwaitsecs given to what a stopped leader left in its group (pgid) has passed */
  | { readonly type: 'leftoversDue'; readonly pgid: number }
  /** `refused`: why the pid last read from the pidfile was not followed (section 6 of docs/security.md) */
  | { readonly type: 'pidfileChecked'; readonly key: string; readonly launcherPid: number; readonly pid: number | null; readonly refused: string | null }
  | { readonly type: 'followedPidGone'; readonly key: string; readonly pid: number }
  /**
   * a check's verdict (ready check passed, health check passed or failed), or a stop signal the kernel
   * refused, on the process whose spawn count is `spawn`
   */
  | {
      readonly type: 'checkReported';
      readonly key: string;
      readonly spawn: number;
      readonly event: Extract<ProcessEvent, { type: 'readyReported' | 'healthCheckPassed' | 'healthCheckFailed' | 'signalDenied' }>;
    }
  /** an event of a process kind (a worker's IPC message, its heartbeat timer), for the process `pid` of `key` */
  | { readonly type: 'kindEvent'; readonly key: string; readonly pid: number; readonly event: unknown }
  | {
      readonly type: 'commandReceived';
      readonly command: ControlCommand;
      readonly reply: (outcomes: readonly CommandOutcome[]) => void;
    };

/** What a listener hears about each state change. */
export interface ChangeEvent {
  /** "group:name" */
  readonly key: string;
  readonly name: string;
  readonly group: string;
  readonly step: Step;
  readonly record: ProcessRecord;
  readonly spec: ProcessSpec;
}

/**
 * What listeners hear of a group at run time: it became active, was removed, or stayed through an update
 * that applied the new config to it; `listener` is its [eventlistener:x] settings in the config applied (null
 * for a group of programs, and for one removed), so that an update can make, remove or change its pool.
 */
export interface GroupChange {
  readonly how: 'added' | 'removed' | 'updated';
  readonly listener: EventListenerSpec | null;
}

/** One process as the layers above see it. */
export interface ProcessSnapshot {
  readonly key: string;
  readonly spec: ProcessSpec;
  readonly record: ProcessRecord;
}
