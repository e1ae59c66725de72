// A worker's watchdog, main-thread side: starts the watchdog thread (watchdog-thread.ts) and bumps the
// counter it watches from a timer on this thread's event loop. It replaces Node's SIGUSR1 inspector as
// the way to read a stuck worker's stack: no port is ever opened (docs/decisions.md, "Stuck workers").
import { Worker } from 'node:worker_threads';
import type { WatchdogData } from './watchdog-thread.js';

/** Starts watching this thread's event loop; the thread reports once it has been stuck `stuckMs`. */
export function startWatchdog(stuckMs: number, onError: (err: Error) => void): void {
  const ticks = new SharedArrayBuffer(4);
  const counter = new Int32Array(ticks);
  // fine enough that the report follows the master's own timeout closely
  const pollMs = Math.max(10, Math.min(100, Math.floor(stuckMs / 10)));
  setInterval(() => Atomics.add(counter, 0, 1), pollMs).unref();
  const data: WatchdogData = { ticks, stuckMs, pollMs };
  // execArgv []: none of the worker's Node flags (type stripping) concern the watchdog
  const thread = new Worker(new URL('./watchdog-thread.js', import.meta.url), { workerData: data, execArgv: [] });
  // the watchdog never keeps a worker alive, and a worker that exits takes it along
  thread.unref();
  thread.on('error', onError);
}
