// USR2: re-exec the master without closing a socket. The old master spawns a new one that inherits every
// listening socket and the single-instance lock as fds (systemd's LISTEN_FDS convention); the new master
// starts its workers on the same sockets and reports ready; then the old master drains and exits. While
// both run, connections are accepted by the workers of either; none is refused or dropped.
import { spawn } from 'node:child_process';
import type { BoundSocket } from '../prefork/sockets.js';

/** LISTEN_FDNAMES name of the instance lock among the inherited fds. */
export const LOCK_FD_NAME = 'drover-instance-lock';

/** Messages from the new master to the old one. */
export type SuccessorMessage = { readonly t: 'reexec-ready'; readonly pid: number } | { readonly t: 'reexec-failed'; readonly message: string };

export type SuccessorResult = { readonly ok: true; readonly pid: number } | { readonly ok: false; readonly message: string };

/** Spawns the new master and waits (bounded) for it to report that its workers are ready. */
export function spawnSuccessor(opts: {
  readonly configFile: string;
  readonly sockets: readonly BoundSocket[];
  readonly lockFd: number;
  /** the old master runs as a daemon: the new one too */
  readonly daemon: boolean;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly timeoutMs: number;
}): Promise<SuccessorResult> {
  return new Promise((resolve) => {
    const fds = [...opts.sockets.map((s) => s.fd), opts.lockFd];
    const names = [...opts.sockets.map((s) => s.spec.name), LOCK_FD_NAME];
    const cli = [process.execPath, ...process.execArgv, process.argv[1] ?? '', 'up', '-c', opts.configFile, '--reexec', ...(opts.daemon ? ['--daemon-child'] : [])];
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(opts.env)) if (v !== undefined && !k.startsWith('LISTEN_')) env[k] = v;
    env['LISTEN_FDS'] = String(fds.length);
    env['LISTEN_FDNAMES'] = names.join(':');
    // LISTEN_PID must be the new master's own pid: a shell sets it from $$ and execs node with that pid.
    // Detached: the new master must outlive the old one, in a session of its own.
    const child = spawn('/bin/sh', ['-c', 'LISTEN_PID=$$; export LISTEN_PID; exec "$@"', 'sh', ...cli], {
      env,
      detached: true,
      stdio: ['ignore', opts.daemon ? 'ignore' : 'inherit', opts.daemon ? 'ignore' : 'inherit', ...fds, 'ipc'],
    });
    let settled = false;
    const finish = (r: SuccessorResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.unref();
      if (!r.ok && child.exitCode === null) child.kill('SIGTERM');
      resolve(r);
    };
    const timer = setTimeout(() => finish({ ok: false, message: `the new master did not report ready within ${opts.timeoutMs} ms` }), opts.timeoutMs);
    child.on('message', (m: unknown) => {
      const msg = m as SuccessorMessage;
      if (msg?.t === 'reexec-ready') finish({ ok: true, pid: msg.pid });
      else if (msg?.t === 'reexec-failed') finish({ ok: false, message: msg.message });
    });
    child.on('exit', (code, signal) => finish({ ok: false, message: `the new master exited (${signal ?? `status ${code ?? '?'}`}) before it was ready` }));
    child.on('error', (err) => finish({ ok: false, message: `cannot spawn the new master: ${err.message}` }));
  });
}

/** In the new master: tell the old one how it went. */
export function reportToPredecessor(m: SuccessorMessage): void {
  if (process.send && process.connected) process.send(m);
}
