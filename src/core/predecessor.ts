// The hand-over window of a USR2 re-exec. Programs that serve no socket are not shared between the two
// masters: the old one stops them gracefully (up to their stopwaitsecs) and the new one starts them once the
// old one has exited (docs/decisions.md, "USR2 re-exec"). Until then the new master's table shows them
// stopped while they still run under the old master, and a start would run a second copy beside the first.
// This records which processes are held so, for how long (the previous master's pid), what a start of one
// gets, and what status says about it. Bookkeeping only: the daemon sets and clears it (src/daemon/reexec.ts).
import type { ProcessSpec } from '../config/types.js';

export class PredecessorHold {
  /** pid of the previous master while it still runs (stopping its programs); 0 when there is none */
  private previous = 0;
  /** keys of the processes the previous master may still run; this master starts them once it has gone */
  private readonly keys = new Set<string>();
  /** what waits for the release (a USR2 that came as the previous master exited); empty when nothing */
  private readonly waiting: (() => void)[] = [];

  /** The previous master's pid while it runs; 0 when none (not a re-exec'd master, or it has exited). */
  get pid(): number {
    return this.previous;
  }

  /** The previous master `pid` still runs, and may still run the processes `keys`. */
  hold(pid: number, keys: Iterable<string>): void {
    this.previous = pid;
    this.keys.clear();
    for (const key of keys) this.keys.add(key);
  }

  /** The previous master has exited: nothing is held any more. */
  release(): void {
    this.previous = 0;
    this.keys.clear();
    for (const fn of this.waiting.splice(0)) fn();
  }

  /** Runs `fn` once nothing is held (now, if nothing is). */
  whenReleased(fn: () => void): void {
    if (this.previous === 0) fn();
    else this.waiting.push(fn);
  }

  /** Whether a start of `key` now would run a second copy beside the previous master's. */
  holds(key: string): boolean {
    return this.previous !== 0 && this.keys.has(key);
  }

  /** Why a start of `spec` is refused now (Commands' preflight; the code is E_PREVIOUS_MASTER), or null. */
  refusal(spec: ProcessSpec): { readonly reason: typeof PREVIOUS_MASTER; readonly message: string } | null {
    const key = `${spec.group}:${spec.name}`;
    if (!this.holds(key)) return null;
    return {
      reason: PREVIOUS_MASTER,
      message: `${key} is still being stopped by the previous master (pid ${this.previous}) after a USR2 re-exec; this master starts it once that master has exited: wait for pid ${this.previous} to exit`,
    };
  }

  /** What status shows for a held process (beside its state, STOPPED); null when it is not held. */
  detail(key: string): string | null {
    return this.holds(key) ? `being stopped by the previous master (pid ${this.previous}); starts once that master has exited` : null;
  }
}

/** The preflight reason of a start refused because the previous master still runs the process. */
export const PREVIOUS_MASTER = 'previousMaster';
