// Runs a check's command (`ready = exec:…`, `healthcheck = exec:…`) to its end: spawned like a program (its
// own session, the program's user, directory and environment, dying with drover), its output kept only as
// far as a failure message needs, and its whole group killed when it runs past the timeout.
import { sendSignal, spawnProcess } from './spawn.js';
import type { UserInfo } from './users.js';

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

/** Runs the command; passes when it exits 0 within the timeout. Never rejects. */
export function runCheckCommand(cmd: CheckCommand): Promise<CheckOutcome> {
  const r = spawnProcess({ argv: cmd.argv, env: cmd.env, cwd: cmd.cwd, umask: null, user: cmd.user, pdeathsig: true, stdinPipe: false });
  if (!r.ok) return Promise.resolve({ ok: false, error: r.message });
  const { child, pid } = r;
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-KEEP_BYTES);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return new Promise((resolve) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      sendSignal(pid, 'KILL', true);
    }, cmd.timeoutMs);
    // 'close', not 'exit': the output is read to its end (or the group is gone, killed above)
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const said = output.trim().split('\n').pop()?.trim() ?? '';
      if (timedOut) resolve({ ok: false, error: `no answer within ${cmd.timeoutMs / 1000}s (killed)` });
      else if (code === 0) resolve({ ok: true, detail: 'exit 0' });
      else resolve({ ok: false, error: `${signal !== null ? `killed by ${signal}` : `exit ${code ?? '?'}`}${said ? `: ${said}` : ''}` });
    });
  });
}
