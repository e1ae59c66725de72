// Master signals: listeners installed first thing in `up` (bin/drover.js's first lines hold them even
// earlier, USR1 above all, since until a listener exists Node's default for it is to start the inspector),
// buffered until the supervisor exists, then relayed as events. Listeners only push; they never log or
// await (STYLE §4). CHLD drives the reaping of adopted orphans (daemon/reaping.ts); a listener for it
// leaves Node's own child handling intact.

/** What bin/drover.js's first lines leave: their listeners, and the signals they got, in order. */
interface EarlySignals {
  readonly queued: string[];
  readonly listeners: [string, () => void][];
}
const EARLY_SIGNALS = Symbol.for('drover.early-signals');

/**
 * The environment variable through which a foreground `drover up` that replaces itself (execve, for its V8
 * flags) hands the signals it got while starting to the program it becomes: the exec would lose them.
 */
export const PENDING_SIGNALS_ENV = 'DROVER_PENDING_SIGNALS';

export const MASTER_SIGNALS = ['USR1', 'TERM', 'INT', 'QUIT', 'HUP', 'USR2', 'TTIN', 'TTOU', 'WINCH', 'CHLD'] as const;
export type MasterSignal = (typeof MASTER_SIGNALS)[number];

export class SignalRelay {
  /** signals received before a target was attached */
  private readonly queued: MasterSignal[] = [];
  private target: ((sig: MasterSignal) => void) | null = null;
  private readonly installed: [MasterSignal, () => void][] = [];

  /**
   * Installs the listeners, then takes over what came before: the signals a drover that exec'd into this
   * one had queued (PENDING_SIGNALS_ENV), then those bin/drover.js's first lines held.
   */
  install(env: Record<string, string | undefined> = process.env): this {
    for (const sig of MASTER_SIGNALS) {
      const fn = (): void => {
        if (this.target) this.target(sig);
        else this.queue(sig);
      };
      process.on(`SIG${sig}`, fn);
      this.installed.push([sig, fn]);
    }
    for (const sig of (env[PENDING_SIGNALS_ENV] ?? '').split(',')) this.queue(sig);
    delete env[PENDING_SIGNALS_ENV]; // not for the programs' environment
    const globals = globalThis as Record<symbol, unknown>;
    const early = globals[EARLY_SIGNALS] as EarlySignals | undefined;
    if (early !== undefined) {
      // removed only now that this relay listens: no signal goes back to its default (or, for SIGUSR1, to
      // Node's inspector) in between
      for (const [sig, fn] of early.listeners) process.off(`SIG${sig}`, fn);
      delete globals[EARLY_SIGNALS];
      for (const sig of early.queued) this.queue(sig);
    }
    return this;
  }

  /** The signals received and not yet delivered, oldest first. */
  pending(): readonly MasterSignal[] {
    return [...this.queued];
  }

  /**
   * For a process that will not become the master (the `up -d` launcher): gives every signal but USR1 back
   * to its default action, so that Ctrl-C or TERM ends the launcher, and returns what was queued.
   */
  releaseExceptUsr1(): MasterSignal[] {
    for (const [sig, fn] of this.installed.splice(0)) {
      if (sig === 'USR1') this.installed.push([sig, fn]);
      else process.off(`SIG${sig}`, fn);
    }
    return this.queued.splice(0);
  }

  /** Queues a signal that came before a target; USR1s in a row are one (one reopen answers them all). */
  private queue(sig: string): void {
    if (!(MASTER_SIGNALS as readonly string[]).includes(sig) || (sig === 'USR1' && this.queued.at(-1) === 'USR1')) return;
    this.queued.push(sig as MasterSignal);
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
