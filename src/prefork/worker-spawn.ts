// How a drover worker process is started: argv and environment.
import { fileURLToPath } from 'node:url';
import type { ProcessSpec } from '../config/types.js';
import { WORKER_ENV } from '../ipc/protocol.js';
import { noInspectorFlags, stripTypesFlags } from '../os/node-features.js';

/** The worker runtime's entry point in dist/. */
export const WORKER_MAIN = fileURLToPath(new URL('../worker/main.js', import.meta.url));

export { canStripTypes } from '../os/node-features.js';

/** Whether a worker module is TypeScript. */
export function isTypeScript(path: string): boolean {
  return /\.(c|m)?ts$/.test(path);
}

/**
 * argv of a worker: Node that SIGUSR1 cannot make open its inspector (the flag where Node has it; the
 * runtime's SIGUSR1 listener everywhere, from its first lines on), type stripping for .ts modules where
 * Node has it, then the runtime.
 */
export function workerArgv(spec: ProcessSpec): string[] {
  const module = spec.worker as string;
  const flags = noInspectorFlags();
  if (isTypeScript(module)) flags.push(...stripTypesFlags());
  return [process.execPath, ...flags, WORKER_MAIN, module];
}

/** Environment for a worker: its number, name, heartbeat interval and timeout, request budget (jitter applied). */
export function workerEnv(spec: ProcessSpec, random: number): Record<string, string> {
  const hbMs = spec.heartbeatTimeoutSecs > 0 ? Math.max(100, Math.min(1000, (spec.heartbeatTimeoutSecs * 1000) / 4)) : 0;
  const max = spec.maxRequests > 0 ? spec.maxRequests + Math.floor(random * (spec.maxRequestsJitter + 1)) : 0;
  return {
    [WORKER_ENV.id]: String(spec.processNum),
    [WORKER_ENV.name]: spec.name,
    [WORKER_ENV.heartbeatMs]: String(hbMs),
    [WORKER_ENV.stuckMs]: String(spec.heartbeatTimeoutSecs > 0 ? spec.heartbeatTimeoutSecs * 1000 : 0),
    [WORKER_ENV.maxRequests]: String(max),
    [WORKER_ENV.gracefulMs]: String(spec.gracefulTimeoutSecs * 1000),
    [WORKER_ENV.concurrency]: String(spec.concurrency),
    ...(spec.accessLogFormat !== null ? { [WORKER_ENV.accessLogFormat]: spec.accessLogFormat } : {}),
    ...(spec.keepAliveMs !== null ? { [WORKER_ENV.keepAliveMs]: String(spec.keepAliveMs) } : {}),
    ...(spec.tls !== null ? { [WORKER_ENV.certFile]: spec.tls.certFile, [WORKER_ENV.keyFile]: spec.tls.keyFile, [WORKER_ENV.clientCerts]: spec.tls.clientCerts } : {}),
    ...(spec.tls?.caFile != null ? { [WORKER_ENV.caFile]: spec.tls.caFile } : {}),
    ...(spec.tls?.ciphers != null ? { [WORKER_ENV.ciphers]: spec.tls.ciphers } : {}),
    ...(spec.forwarded !== null ? { [WORKER_ENV.forwardedAllowIps]: spec.forwarded.allowIps.join(','), [WORKER_ENV.secureSchemeHeaders]: JSON.stringify(spec.forwarded.schemeHeaders) } : {}),
  };
}

/** The environment that makes a worker a spare: it loads, reports ready and waits for its sockets. */
export function spareEnv(spec: ProcessSpec): Record<string, string> {
  return { [WORKER_ENV.spareSockets]: String(spec.sockets.length) };
}
