// drover's public worker API: what a `worker =` module may import from 'drover'.
import type { Lock, LockOptions, Queue, SharedState } from '../primitives/api.js';

/** What a job worker receives. */
export interface WorkerContext {
  /** the worker's number (process_num) */
  readonly id: number;
  /** the process name, e.g. "jobs_2" */
  readonly name: string;
  /** aborted when the worker must stop: finish the current job and return from run() */
  readonly signal: AbortSignal;
  /** log a line to this worker's stdout log */
  log(message: string): void;
  /** tasks in flight at once in this process (the program's `concurrency`, default 1) */
  readonly concurrency: number;
  /** the master's task queue `name` (at-least-once; docs/shared.md); stops waiting when `signal` aborts */
  queue<T = unknown>(name: string): Queue<T>;
  /** the master's shared key/value state */
  readonly state: SharedState;
  /** the master's mutex `name`, released when this process exits */
  lock(name: string, opts?: LockOptions): Promise<Lock>;
}

/** A job worker: setup once, run until ctx.signal aborts, then stop. */
export interface JobWorker {
  setup?(ctx: WorkerContext): Promise<void> | void;
  run(ctx: WorkerContext): Promise<void> | void;
  stop?(ctx: WorkerContext): Promise<void> | void;
}

const JOB_WORKER = Symbol.for('drover.jobWorker');

/** Declares a job worker (the module's default export). */
export function defineWorker(worker: JobWorker): JobWorker {
  if (typeof worker.run !== 'function') throw new TypeError('defineWorker: run(ctx) is required');
  return Object.assign(Object.create(null) as object, worker, { [JOB_WORKER]: true }) as JobWorker;
}

/** Whether a value came from defineWorker (or looks like one). */
export function isJobWorker(v: unknown): v is JobWorker {
  return typeof v === 'object' && v !== null && (JOB_WORKER in v || (typeof (v as JobWorker).run === 'function' && !('fetch' in v)));
}
