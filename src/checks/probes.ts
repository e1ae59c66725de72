// One attempt of a tcp, http(s) or exec check, bounded by a timeout: the probes behind `ready =` and
// `healthcheck =`. Each resolves (never rejects) with a pass and what passed, or the reason it failed.
import { request as httpRequest } from 'node:http';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import type { CheckSpec, ProcessSpec } from '../config/types.js';
import { runCheckCommand, type CheckOutcome, type GroupGuard } from '../os/check-command.js';
import type { UserInfo } from '../os/users.js';
import { timerDelay } from '../os/timers.js';

export type { CheckOutcome } from '../os/check-command.js';

/** Who an exec check runs as and with what environment (the program's, core's Supervisor.runAs), or why it cannot. */
export type RunAs = { readonly user: UserInfo | null; readonly env: Readonly<Record<string, string>> } | { readonly refused: string };

/**
 * Runs one attempt of a tcp, http or exec check for the program `spec`. `cancel` ends it early (an exec
 * check's command is killed) once its answer no longer matters; it then fails as "cancelled". `guard`: the
 * orphan guard an exec check's process group is given to while it runs. `runAs`: the user and environment of
 * an exec check, the program's own.
 */
export function probe(check: CheckSpec, spec: ProcessSpec, runAs: RunAs, timeoutMs: number, cancel?: AbortSignal, guard?: GroupGuard | null): Promise<CheckOutcome> {
  switch (check.type) {
    case 'tcp':
      return probeTcp(check.host, check.port, timeoutMs, cancel);
    case 'http':
      return probeHttp(check.url, check.status, timeoutMs, cancel);
    case 'exec':
      if ('refused' in runAs) return Promise.resolve({ ok: false, error: runAs.refused });
      return runCheckCommand({ argv: check.argv, env: runAs.env, cwd: spec.directory, user: runAs.user, timeoutMs }, cancel, guard);
    case 'log':
    case 'notify':
      throw new Error(`a ${check.type} check is not probed: it is noticed as the program speaks`);
    default:
      return assertNever(check);
  }
}

/** Passes when a connection to HOST:PORT is accepted (and closes it at once). */
export function probeTcp(host: string, port: number, timeoutMs: number, cancel?: AbortSignal): Promise<CheckOutcome> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const onCancel = (): void => done({ ok: false, error: 'cancelled' });
    const done = (outcome: CheckOutcome): void => {
      clearTimeout(timer);
      cancel?.removeEventListener('abort', onCancel);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => done({ ok: false, error: `connect to ${host}:${port}: no answer within ${timeoutMs / 1000}s` }), timerDelay(timeoutMs));
    cancel?.addEventListener('abort', onCancel, { once: true });
    socket.once('connect', () => done({ ok: true, detail: 'accepted a connection' }));
    socket.once('error', (err: NodeJS.ErrnoException) => done({ ok: false, error: `connect to ${host}:${port}: ${err.code ?? err.message}` }));
  });
}

/**
 * Passes when a GET of `url` answers `status` (or any 2xx when null). Redirects are not followed (a 3xx
 * passes only as the status asked for); https certificates are not verified: this asks a local service
 * whether it answers, it sends nothing secret and trusts nothing it reads.
 */
export function probeHttp(url: string, status: number | null, timeoutMs: number, cancel?: AbortSignal): Promise<CheckOutcome> {
  return new Promise((resolve) => {
    const target = new URL(url);
    const send = target.protocol === 'https:' ? https().request : httpRequest;
    let settled = false;
    const onCancel = (): void => done({ ok: false, error: 'cancelled' });
    const done = (outcome: CheckOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      cancel?.removeEventListener('abort', onCancel);
      req.destroy();
      resolve(outcome);
    };
    const req = send(target, { method: 'GET', agent: false, rejectUnauthorized: false, headers: { 'user-agent': 'drover-check', connection: 'close' } }, (res) => {
      const code = res.statusCode ?? 0;
      // the body is not read: the status line says it all
      res.destroy();
      const passed = status === null ? code >= 200 && code < 300 : code === status;
      done(passed ? { ok: true, detail: `HTTP ${code}` } : { ok: false, error: `GET ${url}: HTTP ${code}, expected ${status ?? '2xx'}` });
    });
    const timer = setTimeout(() => done({ ok: false, error: `GET ${url}: no answer within ${timeoutMs / 1000}s` }), timerDelay(timeoutMs));
    cancel?.addEventListener('abort', onCancel, { once: true });
    req.once('error', (err: NodeJS.ErrnoException) => done({ ok: false, error: `GET ${url}: ${err.code ?? err.message}` }));
    req.end();
  });
}

// --- internal ---

const require = createRequire(import.meta.url);
/** node:https, loaded by the first https probe: TLS costs the daemon ~1 MB of memory that most configs never use */
function https(): typeof import('node:https') {
  return require('node:https') as typeof import('node:https');
}

function assertNever(x: never): never {
  throw new Error(`unhandled check ${JSON.stringify(x)}`);
}
