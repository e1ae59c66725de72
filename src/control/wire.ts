// The JSON API's wire types (docs/api.md): every answer, event payload and error that /api/…, /healthz and
// /readyz send, in one module. The server builds its answers against these types (`satisfies`); the CLI
// reads them through the check of the same name (`InfoJson` is both the type and its Check), since a body
// from the network is `unknown` until it has passed one.
// Compatibility: a field is never renamed, retyped or removed. A field added later is `optional(…)` in its
// check, so that a newer CLI still reads an older drover.
import type { StreamName } from './api.js';
import { isBoolean, isJson, isNumber, isString, listOf, nullable, object, oneOf, optional, type Check } from './check.js';
import { STATES, type State } from '../core/states.js';
import { MAX_NUMPROCS } from '../config/limits.js';
import { MOODS, type CommandErrorCode, type Mood } from '../core/types.js';
import type { LogReadCode } from '../logs/read.js';
import type { LockInfo } from '../primitives/lock-core.js';
import type { DeadReason, QueueStats } from '../primitives/queue-core.js';
import type { SharedErrorCode } from '../primitives/service.js';

// --- request limits (the server enforces them; the CLI checks its own arguments against them first) ---

/** Most processes one `POST /api/scale` may ask for (`count`): as many as a section's numprocs may say. */
export const MAX_SCALE = MAX_NUMPROCS;

// --- errors ---

/** The code of a refused request (docs/api.md, "Error codes"); never renumbered or reused. */
export type ApiErrorCode =
  | 'E_BAD_JSON'
  | 'E_BAD_REQUEST'
  | 'E_BAD_SIGNAL'
  | 'E_UNAUTHORIZED'
  | 'E_CROSS_ORIGIN'
  | 'E_BAD_HOST'
  /** the request named another config file than the one this drover runs (HTTP 409; docs/api.md) */
  | 'E_OTHER_CONFIG'
  | 'E_NOT_FOUND'
  | 'E_BAD_NAME'
  | 'E_METHOD'
  | 'E_NO_LOGS'
  | 'E_TOO_LARGE'
  | 'E_CONFIG'
  | 'E_INTERNAL'
  /** the Redis backend could not reach Redis, or Redis did not answer in time (HTTP 503) */
  | 'E_BACKEND'
  /** a log read's own codes (E_NO_FILE, E_BAD_ARGUMENTS, E_FAILED, …) */
  | LogReadCode
  /** the queue, state and lock routes' codes (docs/shared.md) */
  | SharedErrorCode;

/** Every failed request's answer, with an HTTP error status. */
export interface ErrorJson {
  readonly ok: false;
  readonly code: ApiErrorCode;
  readonly message: string;
}

/** An answer that says only that it worked. */
export interface OkJson {
  readonly ok: true;
}
export const OkJson: Check<OkJson> = object<OkJson>({ ok: oneOf([true]) });

// --- processes ---

/** One process (docs/api.md, "The process object"). */
export interface ProcessJson {
  /** "group:name" */
  readonly name: string;
  readonly group: string;
  readonly process: string;
  readonly program: string;
  readonly state: State;
  readonly pid: number | null;
  readonly uptime_ms: number | null;
  /** ISO 8601 */
  readonly started_at: string | null;
  readonly stopped_at: string | null;
  readonly restarts: number;
  readonly exit_status: number | null;
  /** the signal that ended the last process ("KILL"), when one did; absent from drovers before 2026-12 */
  readonly exit_signal?: string | null;
  readonly spawn_error: string | null;
  readonly cpu_percent: number | null;
  readonly rss_bytes: number | null;
  readonly stdout_logfile: string | null;
  readonly stderr_logfile: string | null;
  /** orchestration (docs/orchestration.md); optional in the check so a CLI still reads an older drover */
  /** the ready check as written, or null */
  readonly ready?: string | null;
  /** depends_on entries as NAME:CONDITION */
  readonly depends_on?: readonly string[];
  /** why it has not started: what it waits for (depends_on); null when not waiting */
  readonly waiting?: string | null;
  /** a dependency failed: it will not start by itself */
  readonly blocked?: boolean;
  /** the health check as written, or null */
  readonly healthcheck?: string | null;
  readonly health?: 'healthy' | 'unhealthy' | null;
  readonly essential?: boolean;
  /** drover workers: 'serving' (accepts) or 'spare' (loaded, accepts nothing until it takes over); null for other processes */
  readonly role?: 'serving' | 'spare' | null;
}
const isState: Check<State> = oneOf(STATES);
export const ProcessJson: Check<ProcessJson> = object<ProcessJson>({
  name: isString,
  group: isString,
  process: isString,
  program: isString,
  state: isState,
  pid: nullable(isNumber),
  uptime_ms: nullable(isNumber),
  started_at: nullable(isString),
  stopped_at: nullable(isString),
  restarts: isNumber,
  exit_status: nullable(isNumber),
  exit_signal: optional(nullable(isString)),
  spawn_error: nullable(isString),
  cpu_percent: nullable(isNumber),
  rss_bytes: nullable(isNumber),
  stdout_logfile: nullable(isString),
  stderr_logfile: nullable(isString),
  ready: optional(nullable(isString)),
  depends_on: optional(listOf(isString)),
  waiting: optional(nullable(isString)),
  blocked: optional(isBoolean),
  healthcheck: optional(nullable(isString)),
  health: optional(nullable(oneOf(['healthy', 'unhealthy']))),
  essential: optional(isBoolean),
  role: optional(nullable(oneOf(['serving', 'spare']))),
});

/** GET /api/processes */
export interface ProcessesJson {
  readonly ok: true;
  /** drover's own state: "shuttingDown" while it stops its processes to exit (older drovers leave it out) */
  readonly state?: Mood;
  readonly processes: readonly ProcessJson[];
}
export const ProcessesJson: Check<ProcessesJson> = object<ProcessesJson>({ ok: oneOf([true]), state: optional(oneOf(MOODS)), processes: listOf(ProcessJson) });
/**
 * A header of every /api/processes answer: how many of its processes are in a state with no process
 * (stopped, exited, fatal, backoff), as a decimal integer.
 */
export const NOT_RUNNING_HEADER = 'drover-not-running';

/** GET /api/status: the table `drover status` prints (control/status-text.ts), written by drover */
export interface StatusJson {
  readonly ok: true;
  /** one line per process under a header line, or "no processes"; ends with a newline */
  readonly text: string;
  /** how many of its processes are in a state with no process, as in NOT_RUNNING_HEADER */
  readonly not_running: number;
  /** drover's own state, as in ProcessesJson */
  readonly state?: Mood;
}
export const StatusJson: Check<StatusJson> = object<StatusJson>({ ok: oneOf([true]), text: isString, not_running: isNumber, state: optional(oneOf(MOODS)) });

/** GET /api/info */
export interface InfoJson {
  readonly ok: true;
  readonly pid: number;
  readonly version: string;
  readonly identification: string;
  readonly state: Mood;
  readonly config_file: string;
  /** drover's PID namespace ("pid:[…]"), in which `pid` holds; added later, null where /proc does not say */
  readonly pid_namespace?: string | null;
}
export const InfoJson: Check<InfoJson> = object<InfoJson>({
  ok: oneOf([true]),
  pid: isNumber,
  version: isString,
  identification: isString,
  state: oneOf(MOODS),
  config_file: isString,
  pid_namespace: optional(nullable(isString)),
});

// --- commands ---

/** What one command did to one process ("group:name"), one group, or "*" (shutdown). */
export interface OutcomeJson {
  readonly key: string;
  readonly ok: boolean;
  /**
   * when not ok: a CommandErrorCode (docs/api.md). Read as any string, so that a CLI can show a code a newer
   * drover added instead of refusing the whole answer.
   */
  readonly code?: CommandErrorCode | (string & {});
  readonly message?: string;
}
export const OutcomeJson: Check<OutcomeJson> = object<OutcomeJson>({
  key: isString,
  ok: isBoolean,
  code: optional(isString),
  message: optional(isString),
});

/** start, stop, restart, signal, scale, shutdown, add, remove, logs/clear: HTTP 200 even when some failed. */
export interface ResultsJson {
  /** every outcome is ok */
  readonly ok: boolean;
  readonly results: readonly OutcomeJson[];
}
export const ResultsJson: Check<ResultsJson> = object<ResultsJson>({ ok: isBoolean, results: listOf(OutcomeJson) });

// --- config ---

/** What differs between the config file and what runs: group names, and "group:name" per process. */
export interface DiffJson {
  readonly added: readonly string[];
  readonly changed: readonly string[];
  readonly removed: readonly string[];
  readonly processes: { readonly added: readonly string[]; readonly changed: readonly string[]; readonly removed: readonly string[] };
  /** the config's warnings, as `drover check` prints them (FILE:LINE: warning: …); absent from an older drover */
  readonly warnings?: readonly string[];
  /**
   * settings outside the programs that differ from what runs, one line each: what a reload applied (or
   * would), and what waits for drover's next start; absent when none (and from an older drover)
   */
  readonly settings?: readonly string[];
}
const diffFields = {
  added: listOf(isString),
  changed: listOf(isString),
  removed: listOf(isString),
  processes: object<DiffJson['processes']>({ added: listOf(isString), changed: listOf(isString), removed: listOf(isString) }),
  warnings: optional(listOf(isString)),
  settings: optional(listOf(isString)),
};

/** POST /api/reread: the diff; nothing applied. */
export interface RereadJson extends DiffJson {
  readonly ok: true;
  /**
   * worker programs whose section changed since the last reload (their groups are among `changed`; pools
   * are not diffed process by process); absent from an older drover
   */
  readonly changed_pools?: readonly string[];
}
export const RereadJson: Check<RereadJson> = object<RereadJson>({ ok: oneOf([true]), changed_pools: optional(listOf(isString)), ...diffFields });

/** POST /api/update (`drover reload`, `update`): the diff, the outcomes, and the worker pools rolled onto new code. */
export interface ReloadJson extends DiffJson, ResultsJson {
  readonly rolled: readonly string[];
  /**
   * worker programs whose old workers were kept because the new ones did not get ready (each also an
   * E_KEPT_OLD_WORKERS result); absent from an older drover
   */
  readonly kept?: readonly string[];
  /**
   * worker programs whose section changed since the last reload (pools are not diffed process by process:
   * they are renumbered as they roll); absent from an older drover
   */
  readonly changed_pools?: readonly string[];
}
export const ReloadJson: Check<ReloadJson> = object<ReloadJson>({
  ok: isBoolean,
  results: listOf(OutcomeJson),
  rolled: listOf(isString),
  kept: optional(listOf(isString)),
  changed_pools: optional(listOf(isString)),
  ...diffFields,
});

/** GET /api/avail */
export interface AvailJson {
  readonly ok: true;
  readonly groups: readonly { readonly name: string; readonly active: boolean; readonly priority: number }[];
  /** names of the groups not active */
  readonly available: readonly string[];
}
export const AvailJson: Check<AvailJson> = object<AvailJson>({
  ok: oneOf([true]),
  groups: listOf(object<AvailJson['groups'][number]>({ name: isString, active: isBoolean, priority: isNumber })),
  available: listOf(isString),
});

// --- logs ---

const isStreamName: Check<StreamName> = oneOf(['stdout', 'stderr']);

/** GET /api/logs/read */
export interface LogReadJson {
  readonly ok: true;
  /** "group:name" */
  readonly process: string;
  /** the bytes as UTF-8 text (invalid sequences as U+FFFD), or as base64 when `encoding` says so */
  readonly data: string;
  /** present when `data` is base64 (asked with `encoding=base64`; an older drover ignores that and sends text) */
  readonly encoding?: 'base64';
}
const logReadFields = { ok: oneOf([true]), process: isString, data: isString, encoding: optional(oneOf(['base64'] as const)) };
export const LogReadJson: Check<LogReadJson> = object<LogReadJson>(logReadFields);

/** GET /api/logs/tail */
export interface LogTailJson extends LogReadJson {
  readonly offset: number;
  readonly overflow: boolean;
}
export const LogTailJson: Check<LogTailJson> = object<LogTailJson>({ ...logReadFields, offset: isNumber, overflow: isBoolean });

// --- event streams (the `data:` of each event) ---

/** GET /api/events, `event: snapshot`: every process, first thing. */
export type SnapshotJson = readonly ProcessJson[];
export const SnapshotJson: Check<SnapshotJson> = listOf(ProcessJson);

/** GET /api/events, `event: state`: one state change. */
export interface StateEventJson {
  /** "group:name" */
  readonly name: string;
  readonly group: string;
  readonly process: string;
  readonly from: State;
  readonly to: State;
  readonly reason: string;
  readonly pid: number | null;
  /** ISO 8601 */
  readonly time: string;
  /** as the process object's: entering `exited`, non-null when the exit was not expected; absent from older drovers */
  readonly spawn_error?: string | null;
}
export const StateEventJson: Check<StateEventJson> = object<StateEventJson>({
  name: isString,
  group: isString,
  process: isString,
  from: isState,
  to: isState,
  reason: isString,
  pid: nullable(isNumber),
  time: isString,
  spawn_error: optional(nullable(isString)),
});

/** GET /api/logs/stream, `event: log`: a chunk of one process's output. (/api/logs/follow's data is the text alone.) */
export interface LogEventJson {
  readonly name: string;
  readonly stream: StreamName;
  readonly data: string;
}
export const LogEventJson: Check<LogEventJson> = object<LogEventJson>({ name: isString, stream: isStreamName, data: isString });

/** GET /api/logs/follow, `event: lost`: bytes skipped while the reader was behind. */
export interface FollowLostJson {
  readonly bytes: number;
}
export const FollowLostJson: Check<FollowLostJson> = object<FollowLostJson>({ bytes: isNumber });

/** GET /api/logs/stream, `event: lost`: the same, per process and stream. */
export interface StreamLostJson extends FollowLostJson {
  readonly name: string;
  readonly stream: StreamName;
}
export const StreamLostJson: Check<StreamLostJson> = object<StreamLostJson>({ name: isString, stream: isStreamName, bytes: isNumber });

/**
 * Where a log stream stands in one log file: `file` names the live file ("dev:ino"), `offset` is the offset
 * of the next byte the stream would give. null for a log that is not a regular file.
 */
export interface LogPositionJson {
  readonly file: string;
  readonly offset: number;
}
const LogPositionJson: Check<LogPositionJson> = object<LogPositionJson>({ file: isString, offset: isNumber });

/** /api/logs/stream's `start` and `end` events: a position per process and stream. */
export interface NamedLogPositionJson {
  readonly name: string;
  readonly stream: StreamName;
  readonly position: LogPositionJson | null;
}
const NamedLogPositionJson: Check<NamedLogPositionJson> = object<NamedLogPositionJson>({ name: isString, stream: isStreamName, position: nullable(LogPositionJson) });

/**
 * GET /api/logs/follow and /api/logs/stream, `event: start`, first: where the output that follows the tail
 * starts, per log (`follow`: its one log).
 */
export interface LogStartJson {
  readonly logs: readonly NamedLogPositionJson[];
}
export const LogStartJson: Check<LogStartJson> = object<LogStartJson>({ logs: listOf(NamedLogPositionJson) });

/**
 * `event: end`, the last event of every event stream drover ends: `reason` is `shutdown` (drover stops)
 * or `reexec` (this master hands over to a new one, USR2: a client may follow on there). The log streams
 * add where each log ended (`logs`, as `start`): the new master's file from that offset on is what follows.
 */
export interface StreamEndJson {
  readonly reason: 'shutdown' | 'reexec' | (string & {});
  readonly logs?: readonly NamedLogPositionJson[];
}
export const StreamEndJson: Check<StreamEndJson> = object<StreamEndJson>({ reason: isString, logs: optional(listOf(NamedLogPositionJson)) });

// --- queues, state and locks (docs/shared.md) ---

/** POST /api/queue/push */
export interface PushedJson {
  readonly ok: true;
  readonly queue: string;
  readonly id: number;
}
export const PushedJson: Check<PushedJson> = object<PushedJson>({ ok: oneOf([true]), queue: isString, id: isNumber });

/** One queue's figures in GET /api/queue/stats: those the queue core keeps, under the same names. */
export type QueueStatsJson = QueueStats;

/** Whether the journal (`journal = PATH`) is written; in GET /api/queue/stats (docs/shared.md, "Durability"). */
export interface JournalJson {
  readonly file: string;
  /** true while writes fail: queues and state are in memory only (not durable) until it is written again */
  readonly degraded: boolean;
  /** the latest failed write's message; null while the journal is written */
  readonly error: string | null;
  /** ISO 8601: when writing began to fail; null while it is written */
  readonly since: string | null;
}
export const JournalJson: Check<JournalJson> = object<JournalJson>({ file: isString, degraded: isBoolean, error: nullable(isString), since: nullable(isString) });

/** GET /api/queue/stats */
export interface QueuesJson {
  readonly ok: true;
  readonly queues: readonly QueueStatsJson[];
  /** null without a journal (or with Redis); absent from older drovers */
  readonly journal?: JournalJson | null;
}
export const QueuesJson: Check<QueuesJson> = object<QueuesJson>({
  ok: oneOf([true]),
  journal: optional(nullable(JournalJson)),
  queues: listOf(
    object<QueueStatsJson>({
      name: isString,
      ready: isNumber,
      delayed: isNumber,
      leased: isNumber,
      dead: isNumber,
      waiting: isNumber,
      pushed: isNumber,
      acked: isNumber,
      nacked: isNumber,
      lost: isNumber,
    }),
  ),
});

/** One dead letter. */
export interface DeadTaskJson {
  readonly id: number;
  /** the task's data as pushed */
  readonly task: unknown;
  readonly priority: number;
  readonly attempts: number;
  /** a DeadReason; read as any string, so a reason a newer drover added is shown, not refused */
  readonly reason: DeadReason | (string & {});
  /** the message of the last nack, if any */
  readonly error: string | null;
  /** ISO 8601 */
  readonly dead_at: string;
}

/** GET /api/queue/dead */
export interface DeadLettersJson {
  readonly ok: true;
  readonly queue: string;
  readonly tasks: readonly DeadTaskJson[];
}
export const DeadLettersJson: Check<DeadLettersJson> = object<DeadLettersJson>({
  ok: oneOf([true]),
  queue: isString,
  tasks: listOf(
    object<DeadTaskJson>({
      id: isNumber,
      task: isJson,
      priority: isNumber,
      attempts: isNumber,
      reason: isString,
      error: nullable(isString),
      dead_at: isString,
    }),
  ),
});

/** POST /api/queue/retry-dead */
export interface RetriedJson {
  readonly ok: true;
  readonly queue: string;
  /** dead letters moved back */
  readonly moved: number;
}
export const RetriedJson: Check<RetriedJson> = object<RetriedJson>({ ok: oneOf([true]), queue: isString, moved: isNumber });

/** GET /api/state */
export interface StateValueJson {
  readonly ok: true;
  readonly key: string;
  readonly found: boolean;
  /** null when not found */
  readonly value: unknown;
}

/** GET /api/locks: each lock as the lock table describes it (`owner` is "group:name#pid"). */
export interface LocksJson {
  readonly ok: true;
  readonly locks: readonly LockInfo[];
}

// --- health probes ---

/** GET /healthz */
export interface HealthzJson {
  readonly ok: true;
  readonly status: 'alive';
  readonly pid: number;
  readonly version: string;
  readonly state: Mood;
  readonly uptime_s: number;
}

/** One autostart process that keeps drover from being ready. */
export interface NotReadyJson {
  /** "group:name" */
  readonly name: string;
  readonly state: State;
  readonly reason: string;
}

/** GET /readyz: HTTP 200 when ready, else 503. */
export interface ReadyzJson {
  readonly ok: boolean;
  readonly status: 'ready' | 'not ready' | 'shutting down';
  readonly not_ready: readonly NotReadyJson[];
}
