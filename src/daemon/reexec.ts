// USR2: re-exec the master without closing a socket. The old master spawns a new one that inherits every
// listening socket and the single-instance lock as fds (systemd's LISTEN_FDS convention); the new master
// starts its workers on the same sockets and reports ready; then the old master drains and exits. While
// both run, connections are accepted by the workers of either; none is refused or dropped.
import { reportToParent, spawnAndAwaitReport } from '../os/handoff.js';
import { sendSignal } from '../os/spawn.js';

/** LISTEN_FDNAMES name of the instance lock among the inherited fds. */
export const LOCK_FD_NAME = 'drover-instance-lock';

/** Messages from the new master to the old one. */
export type SuccessorMessage = { readonly t: 'reexec-ready'; readonly pid: number } | { readonly t: 'reexec-failed'; readonly message: string };

export type SuccessorResult = { readonly ok: true; readonly pid: number } | { readonly ok: false; readonly message: string };

/** Spawns the new master and waits (bounded) for it to report that its workers are ready. */
export async function spawnSuccessor(opts: {
  readonly configFile: string;
  readonly sockets: readonly { readonly fd: number; readonly name: string }[];
  readonly lockFd: number;
  /** the old master runs as a daemon: the new one too */
  readonly daemon: boolean;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly timeoutMs: number;
}): Promise<SuccessorResult> {
  const fds = [...opts.sockets.map((s) => s.fd), opts.lockFd];
  const names = [...opts.sockets.map((s) => s.name), LOCK_FD_NAME];
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(opts.env)) if (v !== undefined && !k.startsWith('LISTEN_')) env[k] = v;
  env['LISTEN_FDS'] = String(fds.length);
  env['LISTEN_FDNAMES'] = names.join(':');
  const out = opts.daemon ? 'ignore' : 'inherit';
  // Detached: the new master must outlive the old one, in a session of its own. The channel stays open:
  // the new master learns that the old one has gone when it closes.
  const outcome = await spawnAndAwaitReport<SuccessorMessage>(
    {
      file: process.execPath,
      args: [...process.execArgv, process.argv[1] ?? '', 'up', '-c', opts.configFile, '--reexec', ...(opts.daemon ? ['--daemon-child'] : [])],
      env,
      stdio: ['ignore', out, out],
      passFds: fds,
      setListenPid: true,
      keepChannel: true,
      timeoutMs: opts.timeoutMs,
    },
    (m) => {
      const msg = m as SuccessorMessage | null;
      return msg?.t === 'reexec-ready' || msg?.t === 'reexec-failed' ? msg : null;
    },
  );
  switch (outcome.type) {
    case 'reported':
      if (outcome.report.t === 'reexec-ready') return { ok: true, pid: outcome.report.pid };
      // it gave up: make sure it does not linger beside us
      sendSignal(outcome.pid, 'TERM', false);
      return { ok: false, message: outcome.report.message };
    case 'timeout':
      return { ok: false, message: `the new master did not report ready within ${opts.timeoutMs} ms` };
    case 'exited':
      return { ok: false, message: `the new master exited (${outcome.signal ?? `status ${outcome.code ?? '?'}`}) before it was ready` };
    case 'error':
      return { ok: false, message: `cannot spawn the new master: ${outcome.message}` };
    default:
      return assertNever(outcome);
  }
}

/** In the new master: tell the old one how it went (the channel stays open until the old one exits). */
export function reportToPredecessor(m: SuccessorMessage): void {
  reportToParent(m, { disconnect: false });
}

function assertNever(x: never): never {
  throw new Error(`unhandled case ${JSON.stringify(x)}`);
}
