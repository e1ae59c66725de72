// Master signals: listeners installed first thing in `up` (bin/drover.js's first lines hold them even
// earlier, USR1 above all, since until a listener exists Node's default for it is to start the inspector),
// buffered until the supervisor exists, then relayed as events. Listeners only push; they never log or
// await (STYLE §4). CHLD drives the reaping of adopted orphans (daemon/reaping.ts); a listener for it
// leaves Node's own child handling intact. PWR and systemd's halt and poweroff signals (RTMIN+3, RTMIN+4)
// are stops, as TERM (docs/containers.md); Node has no names for the last two, so libuv listens for them
// through the native layer (os/realtime-signals.ts).
import { defaultSignalActions, restoreSignalActions } from '../os/native.js';
import { listenForSignals, type SignalListening } from '../os/realtime-signals.js';
import { signalNumber } from '../os/signals.js';

/** What bin/drover.js's first lines leave: their listeners, and the signals they got, in order. */
interface EarlySignals {
  readonly queued: string[];
  readonly listeners: [string, () => void][];
  /** its listening for the real-time signals, when it could start one: the relay takes it over */
  readonly realtime?: SignalListening;
  /** where that listening sends each real-time signal (by number); at first, onto `queued` */
  onRealtime?: (signum: number) => void;
}
const EARLY_SIGNALS = Symbol.for('drover.early-signals');

/**
 * The environment variable through which a foreground `drover up` that replaces itself (execve, for its V8
 * flags) hands the signals it got while starting to the program it becomes: the exec would lose them.
 */
export const PENDING_SIGNALS_ENV = 'DROVER_PENDING_SIGNALS';

export const MASTER_SIGNALS = ['USR1', 'TERM', 'INT', 'QUIT', 'HUP', 'USR2', 'TTIN', 'TTOU', 'WINCH', 'CHLD', 'PWR', 'RTMIN+3', 'RTMIN+4'] as const;
export type MasterSignal = (typeof MASTER_SIGNALS)[number];

/** The master signals without a name in Node's table, by number (SIGRTMIN is 34 with glibc and musl). */
export const REALTIME_SIGNALS: ReadonlyMap<number, MasterSignal> = new Map([
  [(signalNumber('RTMIN') as number) + 3, 'RTMIN+3'], // systemd: halt
  [(signalNumber('RTMIN') as number) + 4, 'RTMIN+4'], // systemd: poweroff
]);

/** The signals that stop drover (gracefully but for QUIT); one that came during the start-up starts nothing. */
export const STOP_SIGNALS: readonly MasterSignal[] = ['TERM', 'INT', 'QUIT', 'PWR', 'RTMIN+3', 'RTMIN+4'];

/** The number of a master signal. */
export function masterSignalNumber(sig: MasterSignal): number {
  for (const [n, s] of REALTIME_SIGNALS) if (s === sig) return n;
  return signalNumber(sig) as number;
}

export class SignalRelay {
  /** signals received before a target was attached */
  private readonly queued: MasterSignal[] = [];
  private target: ((sig: MasterSignal) => void) | null = null;
  private readonly installed: [MasterSignal, () => void][] = [];
  /** libuv's listening for REALTIME_SIGNALS; null when the native layer cannot load (then `up` refuses) */
  private realtime: SignalListening | null = null;
  /** what stopQueued() handed out, resolved by the next stop signal queued; none at first */
  private readonly stopWaiters: ((sig: MasterSignal) => void)[] = [];

  /**
   * Installs the listeners, then takes over what came before: the signals a drover that exec'd into this
   * one had queued (PENDING_SIGNALS_ENV), then those bin/drover.js's first lines held.
   */
  install(env: Record<string, string | undefined> = process.env): this {
    const deliver = (sig: MasterSignal): void => {
      if (this.target) this.target(sig);
      else this.queue(sig);
    };
    for (const sig of MASTER_SIGNALS) {
      if ([...REALTIME_SIGNALS.values()].includes(sig)) continue;
      const fn = (): void => deliver(sig);
      process.on(`SIG${sig}`, fn);
      this.installed.push([sig, fn]);
    }
    const deliverRealtime = (n: number): void => deliver(REALTIME_SIGNALS.get(n) as MasterSignal);
    const globals = globalThis as Record<symbol, unknown>;
    const early = globals[EARLY_SIGNALS] as EarlySignals | undefined;
    if (early?.realtime !== undefined) {
      // taken over, not replaced: a signal its watchers got and libuv has not yet dispatched would be lost
      // with them (each watcher is a libuv handle of its own, where process.on listeners share one)
      this.realtime = early.realtime;
      early.onRealtime = deliverRealtime;
    } else {
      try {
        this.realtime = listenForSignals([...REALTIME_SIGNALS.keys()], deliverRealtime);
      } catch {
        // no native layer: `up` and `serve` refuse to run without it, and say why (cli/commands/up.ts)
        this.realtime = null;
      }
    }
    for (const sig of (env[PENDING_SIGNALS_ENV] ?? '').split(',')) this.queue(sig);
    delete env[PENDING_SIGNALS_ENV]; // not for the programs' environment
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
   * For a process about to hand its signals on, to the program it becomes (the exec for the V8 flags) or to
   * their default actions (the `up -d` launcher): the stop signals get their default action now, then the
   * event loop runs a poll phase, in which each one libuv's handler caught before reaches this relay. A stop
   * caught later would wait in libuv's pipe for a listener that never runs (the exec discards the pipe, the
   * release stops the listener); with its default action it ends this process instead, nothing started
   * (docs/decisions.md, "A stop signal just before the exec"). Returns what puts libuv's handlers back.
   */
  async settleStops(): Promise<() => void> {
    // from a check phase on, an immediate runs only after the next poll phase (one queued in a poll phase
    // runs in the same turn, before any poll)
    await loopTurn();
    const saved = defaultSignalActions(STOP_SIGNALS.map(masterSignalNumber));
    await loopTurn();
    return () => restoreSignalActions(saved);
  }

  /**
   * For a process that will not become the master (the `up -d` launcher): gives every signal but USR1 back
   * to its default action, so that Ctrl-C or TERM ends the launcher, and returns what was queued.
   */
  releaseExceptUsr1(): MasterSignal[] {
    this.realtime?.stop();
    this.realtime = null;
    for (const [sig, fn] of this.installed.splice(0)) {
      if (sig === 'USR1') this.installed.push([sig, fn]);
      else process.off(`SIG${sig}`, fn);
    }
    return this.queued.splice(0);
  }

  /**
   * Resolves with the first stop signal queued, at once if one is: for a start-up step that waits before a
   * target is attached (the on_starting hook), which a Ctrl-C must not have to wait out. It stays queued
   * (the start-up still finds it in pending() and starts nothing).
   */
  stopQueued(): Promise<MasterSignal> {
    const sig = this.queued.find((s) => STOP_SIGNALS.includes(s));
    if (sig !== undefined) return Promise.resolve(sig);
    return new Promise((resolve) => this.stopWaiters.push(resolve));
  }

  /** Queues a signal that came before a target; USR1s in a row are one (one reopen answers them all). */
  private queue(sig: string): void {
    if (!(MASTER_SIGNALS as readonly string[]).includes(sig) || (sig === 'USR1' && this.queued.at(-1) === 'USR1')) return;
    this.queued.push(sig as MasterSignal);
    // resolving only schedules the waiters: the listener still just pushes and returns (STYLE §4)
    if (STOP_SIGNALS.includes(sig as MasterSignal)) for (const resolve of this.stopWaiters.splice(0)) resolve(sig as MasterSignal);
  }

  /** Starts delivering to `target`, first the signals that arrived before. */
  attach(target: (sig: MasterSignal) => void): void {
    this.target = target;
    this.stopWaiters.length = 0; // from here on, the target hears of each stop
    for (const sig of this.queued.splice(0)) target(sig);
  }

  /** Removes the listeners (at exit). */
  remove(): void {
    for (const [sig, fn] of this.installed.splice(0)) process.off(`SIG${sig}`, fn);
    this.realtime?.stop();
    this.realtime = null;
    this.target = null;
  }
}

// --- internal ---

/** Resolves in the check phase of the event loop's next turn (or this one's, from a poll phase). */
function loopTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
