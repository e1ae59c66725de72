// Running a short-lived Node script to its end, bounded in time and output, with an answer channel on fd 3
// (evaluating a typed config: src/config/typed.ts), blocking (the CLI) or not (the daemon).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { recordSpawned } from './children.js';

/** What a short-lived Node script run by runNodeScriptSync or runNodeScript did. */
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

/**
 * runNodeScriptSync's twin for a process that must not block while it waits (the daemon: a reload's typed
 * config may take seconds, during which heartbeats, signals and the control API would wait too). Resolves,
 * never rejects. A script that leaves a process of its own holding its output open ends with the time limit.
 */
export function runNodeScript(args: readonly string[], opts: { env: Readonly<Record<string, string | undefined>>; cwd: string; timeoutMs: number; maxBytes: number }): Promise<NodeScriptRun> {
  return new Promise((resolve) => {
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, args, { env: opts.env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
    } catch (err) {
      resolve({ status: null, signal: null, timedOut: false, answer: '', output: '', failure: (err as Error).message });
      return;
    }
    recordSpawned(child);
    const streams = [child.stdout, child.stderr, child.stdio[3] as Readable | null];
    const chunks: Buffer[][] = [[], [], []];
    let bytes = 0;
    let timedOut = false;
    let failure: string | null = null;
    const end = (): void => {
      child.kill('SIGKILL');
      for (const s of streams) s?.destroy();
    };
    const timer = setTimeout(() => {
      timedOut = true;
      end();
    }, opts.timeoutMs);
    streams.forEach((s, i) =>
      s?.on('data', (b: Buffer) => {
        bytes += b.length;
        if (bytes <= opts.maxBytes) chunks[i]?.push(b);
        else if (failure === null) {
          failure = `it wrote more than ${opts.maxBytes} bytes`;
          end();
        }
      }),
    );
    const text = (i: number): string => Buffer.concat(chunks[i] ?? []).toString('utf8');
    const finish = (status: number | null, signal: string | null): void => {
      clearTimeout(timer);
      resolve({ status, signal, timedOut: timedOut && failure === null, answer: text(2), output: `${text(0)}${text(1)}`, failure });
    };
    child.on('error', (err) => {
      failure ??= err.message;
      if (child.pid === undefined) finish(null, null); // it never ran: no 'close' to wait for
    });
    child.on('close', (status, signal) => finish(status, signal));
  });
}
