// Running something as PID 1 of a new PID namespace, as `docker run` without `--init` does, and looking at
// it from outside: the host's /proc sees every process of the namespace under its host pid.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { zombieChildren } from './drover.js';

/** `unshare` with a new PID namespace and its own /proc; the command after it becomes PID 1. Needs root. */
export const AS_PID1 = ['unshare', '--pid', '--fork', '--mount-proc', '--'] as const;

/** Why PID-namespace tests cannot run here, or false when they can. */
export const skipNamespaces: string | false =
  (process.getuid?.() !== 0 && 'needs root (unshare --pid)') ||
  (!existsSync('/usr/bin/unshare') && 'needs unshare (util-linux)') ||
  false;

/** The children of `pid`, from the host's /proc (zombies included). */
export function childrenOf(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).flatMap((t) => {
    try {
      return readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      return []; // the thread ended while we listed
    }
  });
}

/** The host pid of the namespace's PID 1, the one child of `unshare --fork` (whose pid is `unsharePid`). */
export function pid1Of(unsharePid: number): number {
  const children = childrenOf(unsharePid);
  if (children.length !== 1) throw new Error(`unshare (pid ${unsharePid}) should have one child, has ${children.join(' ') || 'none'}`);
  const pid = children[0] as number;
  if (!/^NSpid:\t\d+\t1$/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'))) throw new Error(`pid ${pid} is not PID 1 of its namespace`);
  return pid;
}

/** The number of zombie children of `pid`, sampled every `everyMs` for `ms`. */
export async function sampleZombies(pid: number, ms: number, everyMs = 20): Promise<number[]> {
  const samples: number[] = [];
  const end = Date.now() + ms;
  while (Date.now() < end) {
    samples.push(zombieChildren(pid).length);
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return samples;
}

/** Starts `argv` as PID 1 of a new namespace, in its own process group; output is captured. */
export function startAsPid1(argv: readonly string[], env: Record<string, string> = {}): { child: ChildProcess; output: () => string } {
  let out = '';
  const child = spawn(AS_PID1[0], [...AS_PID1.slice(1), ...argv], { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (out += d));
  return { child, output: () => out };
}
