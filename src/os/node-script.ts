// Running a short-lived Node script to its end, bounded in time and output, with an answer channel on fd 3
// (evaluating a typed config: src/config/typed.ts).
import { spawnSync } from 'node:child_process';

/** What a short-lived Node script run by runNodeScriptSync did. */
export interface NodeScriptRun {
  /** its exit code, or null when a signal (the timeout's SIGKILL) ended it */
  readonly status: number | null;
  readonly signal: string | null;
  /** true when it was killed for running past the time limit */
  readonly timedOut: boolean;
  /** what it wrote to fd 3, the answer channel (its stdout and stderr stay free for the script's own prints) */
  readonly answer: string;
  /** its stdout and stderr, in that order */
  readonly output: string;
  /** why it could not be run at all (spawn failed, output over the limit), else null */
  readonly failure: string | null;
}

/**
 * Runs `node FLAGS... SCRIPT ARGS...` and waits for it, bounded in time and output. The caller blocks: meant
 * for work that must finish before it goes on (evaluating a typed config) and takes tens of milliseconds.
 */
export function runNodeScriptSync(args: readonly string[], opts: { env: Readonly<Record<string, string | undefined>>; cwd: string; timeoutMs: number; maxBytes: number }): NodeScriptRun {
  const r = spawnSync(process.execPath, args, {
    env: opts.env,
    cwd: opts.cwd,
    timeout: opts.timeoutMs,
    killSignal: 'SIGKILL',
    maxBuffer: opts.maxBytes,
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    encoding: 'utf8',
  });
  const out = (r.output ?? []) as (string | null)[];
  const code = (r.error as NodeJS.ErrnoException | undefined)?.code;
  const timedOut = code === 'ETIMEDOUT';
  const failure = r.error && !timedOut ? (code === 'ENOBUFS' ? `it wrote more than ${opts.maxBytes} bytes` : r.error.message) : null;
  return { status: r.status, signal: r.signal, timedOut, answer: out[3] ?? '', output: `${out[1] ?? ''}${out[2] ?? ''}`, failure };
}
