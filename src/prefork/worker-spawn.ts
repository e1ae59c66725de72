// How a drover worker process is started (argv, environment) and how its diagnostic report is read when
// it stops answering heartbeats.
import { fileURLToPath } from 'node:url';
import type { ProcessSpec } from '../config/types.js';
import { WORKER_ENV } from '../ipc/protocol.js';

/** The worker runtime's entry point in dist/. */
export const WORKER_MAIN = fileURLToPath(new URL('../worker/main.js', import.meta.url));

/** Signal that makes a worker open its inspector (Node's own SIGUSR1 handling, from a separate thread). */
export const INSPECT_SIGNAL = 'USR1';

const NODE_MAJOR = Number(process.versions.node.split('.')[0]);
const NODE_MINOR = Number(process.versions.node.split('.')[1]);

/** Whether this Node can run a TypeScript module directly (type stripping, Node ≥ 22.6). */
export function canStripTypes(): boolean {
  return NODE_MAJOR > 22 || (NODE_MAJOR === 22 && NODE_MINOR >= 6);
}

/** Whether a worker module is TypeScript. */
export function isTypeScript(path: string): boolean {
  return /\.(c|m)?ts$/.test(path);
}

/**
 * argv of a worker: Node whose inspector, if SIGUSR1 opens it, binds a free loopback port (so that the
 * master can read a stuck worker's stack, src/prefork/inspector.ts), type stripping for .ts modules where
 * Node has it, then the runtime.
 */
export function workerArgv(spec: ProcessSpec): string[] {
  const module = spec.worker as string;
  const flags = ['--inspect-port=127.0.0.1:0'];
  // 22.6–22.17 need the flag; later versions strip types by default and accept it quietly
  if (isTypeScript(module) && NODE_MAJOR === 22) flags.push('--experimental-strip-types', '--no-warnings=ExperimentalWarning');
  return [process.execPath, ...flags, WORKER_MAIN, module];
}

/** Environment for a worker: its number, name, heartbeat interval, request budget (jitter applied). */
export function workerEnv(spec: ProcessSpec, random: number): Record<string, string> {
  const hbMs = spec.heartbeatTimeoutSecs > 0 ? Math.max(100, Math.min(1000, (spec.heartbeatTimeoutSecs * 1000) / 4)) : 0;
  const max = spec.maxRequests > 0 ? spec.maxRequests + Math.floor(random * (spec.maxRequestsJitter + 1)) : 0;
  return {
    [WORKER_ENV.id]: String(spec.processNum),
    [WORKER_ENV.name]: spec.name,
    [WORKER_ENV.heartbeatMs]: String(hbMs),
    [WORKER_ENV.maxRequests]: String(max),
    [WORKER_ENV.gracefulMs]: String(spec.gracefulTimeoutSecs * 1000),
    [WORKER_ENV.concurrency]: String(spec.concurrency),
  };
}
