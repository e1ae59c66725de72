// Master signals: listeners installed first thing (USR1 is held even earlier, by bin/drover.js's first
// lines, since until a listener exists Node's default for SIGUSR1 is to start the inspector), buffered until
// the supervisor exists, then relayed as events. Listeners only push; they never log or await (STYLE §4). CHLD drives the reaping
// of adopted orphans (daemon/reaping.ts); a listener for it leaves Node's own child handling intact.

/** What bin/drover.js's first lines leave: their SIGUSR1 listener and how many times it was called. */
interface EarlyUsr1 {
  count: number;
  readonly listener: () => void;
}
const EARLY_USR1 = Symbol.for('drover.early-usr1');

export const MASTER_SIGNALS = ['USR1', 'TERM', 'INT', 'QUIT', 'HUP', 'USR2', 'TTIN', 'TTOU', 'WINCH', 'CHLD'] as const;
export type MasterSignal = (typeof MASTER_SIGNALS)[number];

export class SignalRelay {
  /** signals received before a target was attached */
  private readonly queued: MasterSignal[] = [];
  private target: ((sig: MasterSignal) => void) | null = null;
  private readonly installed: [MasterSignal, () => void][] = [];

  /** Installs the listeners, then takes over from bin/drover.js's SIGUSR1 listener (and a USR1 it got). */
  install(): this {
    for (const sig of MASTER_SIGNALS) {
      const fn = (): void => {
        if (this.target) this.target(sig);
        else this.queued.push(sig);
      };
      process.on(`SIG${sig}`, fn);
      this.installed.push([sig, fn]);
    }
    const globals = globalThis as Record<symbol, unknown>;
    const early = globals[EARLY_USR1] as EarlyUsr1 | undefined;
    if (early !== undefined) {
      // removed only now that this relay listens: SIGUSR1 never goes back to Node's own handler
      process.off('SIGUSR1', early.listener);
      delete globals[EARLY_USR1];
      if (early.count > 0) this.queued.push('USR1'); // one reopen answers any number of them
    }
    return this;
  }

  /** Starts delivering to `target`, first the signals that arrived before. */
  attach(target: (sig: MasterSignal) => void): void {
    this.target = target;
    for (const sig of this.queued.splice(0)) target(sig);
  }

  /** Removes the listeners (at exit). */
  remove(): void {
    for (const [sig, fn] of this.installed.splice(0)) process.off(`SIG${sig}`, fn);
    this.target = null;
  }
}
