// Runs a check's command (`ready = exec:…`, `healthcheck = exec:…`) to its end: spawned like a program (its
// own session, the program's user, directory and environment, dying with drover), its output kept only as
// far as a failure message needs, and its whole group killed when it runs past the timeout.
import type { OrphanGuard } from './guard.js';
import { readStat } from './proc.js';
import { childExit, sendSignal, spawnProcess } from './spawn.js';
import type { UserInfo } from './users.js';
import { timerDelay } from './timers.js';

/** What a check's command tells the orphan guard (guard.ts): its group, so that a master killed meanwhile does not leave it running. */
export type GroupGuard = Pick<OrphanGuard, 'add' | 'remove'>;

export interface CheckCommand {
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string | null;
  readonly user: UserInfo | null;
  readonly timeoutMs: number;
}

/** How a check went: passed, or why not (for drover's log). */
export type CheckOutcome = { readonly ok: true; readonly detail: string } | { readonly ok: false; readonly error: string };

/** Output kept for the failure message: the end of it, where the reason usually is. */
const KEEP_BYTES = 512;

/** How long the output may go on after the command exited: a background child can hold the pipe open. */
const AFTER_EXIT_MS = 100;

/**
 * Runs the command; passes when it exits 0 within the timeout. Never rejects. `cancel` aborted (the check
 * no longer matters: its process stopped or changed state) kills the command's group at once.
 */
export function runCheckCommand(cmd: CheckCommand, cancel?: AbortSignal, guard?: GroupGuard | null): Promise<CheckOutcome> {
  if (cancel?.aborted) return Promise.resolve({ ok: false, error: 'cancelled' });
  const r = spawnProcess({ argv: cmd.argv, env: cmd.env, cwd: cmd.cwd, umask: null, user: cmd.user, pdeathsig: true, stdinPipe: false });
  if (!r.ok) return Promise.resolve({ ok: false, error: r.message });
  const { child, pid } = r;
  // pdeathsig reaches the command only: what it starts in its group is the guard's to end if drover dies
  guard?.add(pid, readStat(pid)?.startTicks ?? 0);
  // the master's own pipes where the native layer is (else Node's): read both to their end, keep the tail
  const streams = [r.stdout, r.stderr].filter((x) => x !== null);
  let output = '';
  let open = streams.length;
  for (const stream of streams) {
    stream.on('data', (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-KEEP_BYTES);
    });
    stream.on('error', () => undefined); // the output is only for the message
    stream.on('close', () => {
      open -= 1;
      if (open === 0 && exit !== null) finish();
    });
  }
  let exit: { code: number | null; signal: string | null } | null = null;
  let stopped: 'timeout' | 'cancelled' | null = null;
  let resolveOutcome: (o: CheckOutcome) => void = () => undefined;
  const outcome = new Promise<CheckOutcome>((resolve) => (resolveOutcome = resolve));
  let guarded = guard !== undefined && guard !== null;
  const unguard = (): void => {
    if (guarded) guard?.remove(pid);
    guarded = false;
  };
  const kill = (why: 'timeout' | 'cancelled'): void => {
    if (exit !== null) return; // it has ended: its verdict stands, and its group id may be another's by now
    stopped ??= why;
    sendSignal(pid, 'KILL', true);
    // the whole group is killed: nothing is left for the guard, and a cancel is often drover's exit, whose
    // guard would otherwise find the group still listed, send it TERM and KILL, and outlive drover by 1 s
    unguard();
  };
  const timer = setTimeout(() => kill('timeout'), timerDelay(cmd.timeoutMs));
  const onCancel = (): void => kill('cancelled');
  cancel?.addEventListener('abort', onCancel, { once: true });
  let afterExit: NodeJS.Timeout | null = null;
  let done = false;
  function finish(): void {
    if (done || exit === null) return;
    done = true;
    clearTimeout(timer);
    if (afterExit) clearTimeout(afterExit);
    cancel?.removeEventListener('abort', onCancel);
    // something it started still holds its output: a check leaves nothing running behind it (its group
    // lives on while that process is in it, so the id is still its own)
    if (open > 0 && stopped === null) sendSignal(pid, 'KILL', true);
    unguard();
    for (const stream of streams) stream.destroy();
    const said = output.trim().split('\n').pop()?.trim() ?? '';
    // what it said last before it was killed is often why it hung ("waiting for lock …")
    if (stopped === 'timeout') resolveOutcome({ ok: false, error: `no answer within ${cmd.timeoutMs / 1000}s (killed)${said ? `: ${said}` : ''}` });
    else if (stopped === 'cancelled') resolveOutcome({ ok: false, error: 'cancelled' });
    else if (exit.code === 0) resolveOutcome({ ok: true, detail: 'exit 0' });
    else resolveOutcome({ ok: false, error: `${exit.signal !== null ? `killed by SIG${exit.signal}` : `exit ${exit.code ?? '?'}`}${said ? `: ${said}` : ''}` });
  }
  child.once('exit', (code, signal) => {
    // as a program's exit is read: a command killed by a real-time signal reaches Node as "exit 0"
    exit = childExit(pid, code, signal);
    clearTimeout(timer);
    cancel?.removeEventListener('abort', onCancel);
    if (open === 0) finish();
    else afterExit = setTimeout(finish, AFTER_EXIT_MS);
  });
  return outcome;
}
