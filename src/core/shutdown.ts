// The supervisor's way to its end: its mood (running → shuttingDown → stopped), a graceful shutdown in
// batches (dependents before what they depend on, then by descending priority), a fast one, the last resort
// after an internal error, and the promise the daemon waits on. Every stop goes through the reducer.
import type { Logger } from '../logs/logger.js';
import type { OrphanGuard } from '../os/guard.js';
import type { Leftovers } from './leftovers.js';
import type { Orchestration } from './orchestration.js';
import { SIGNALLABLE_STATES, STOPPED_STATES, type ProcessEvent } from './states.js';
import { clearTimers, timerOf, type ProcessEntry, type ProcessTable } from './table.js';
import type { Mood } from './types.js';

/** How the supervisor ended: through an internal error, or with the exit status an essential program left. */
export interface StopResult {
  readonly failed: boolean;
  /** the exit status drover should end with; null: the usual (0, or 1 when failed) */
  readonly exitCode: number | null;
}

export interface ShutdownOptions {
  readonly table: ProcessTable;
  readonly logger: Logger;
  readonly guard: OrphanGuard | null;
  /** the groups a stopped leader left within the rest of their stopwaitsecs (stopasgroup) */
  readonly leftovers: Pick<Leftovers, 'countStopping' | 'killAll'>;
  readonly orchestration: Orchestration;
  dispatch(entry: ProcessEntry, event: ProcessEvent): void;
  /** SIGKILL to the whole group of a process (fast shutdown, internal error) */
  killNow(entry: ProcessEntry): void;
  /** whether a process's kind holds its stop back for now (an event listener answering the shutdown's events) */
  holdsStop(entry: ProcessEntry): boolean;
  /** told of every change of mood */
  onMood(mood: Mood): void;
}

export class Shutdown {
  /** running until a shutdown begins; changed only through setMood */
  private currentMood: Mood = 'running';
  /** why the shutdown began ('SIGTERM', 'SIGQUIT', 'shutdown requested', …); null while running */
  cause: string | null = null;
  /** settles when the shutdown has finished */
  readonly stopped: Promise<StopResult>;
  private resolveStopped: (r: StopResult) => void = () => undefined;
  /** the processes a graceful shutdown is stopping now; the next ones follow when these have stopped */
  private stopBatch: ProcessEntry[] = [];
  /** keeps the event loop alive while supervising: signal listeners alone do not, so with every program
   * exited or fatal Node would otherwise end the process; null until started and after the end */
  private keepAlive: NodeJS.Timeout | null = null;
  /** whether the wait for leftover groups has been logged; false until then */
  private leftoversLogged = false;

  constructor(private readonly o: ShutdownOptions) {
    this.stopped = new Promise((resolve) => (this.resolveStopped = resolve));
  }

  get mood(): Mood {
    return this.currentMood;
  }

  /** Supervising has begun: keep the event loop alive until the end. */
  hold(): void {
    this.keepAlive ??= setInterval(() => undefined, 1 << 30);
  }

  /** Begins (or hurries) a shutdown: dependents before what they depend on, then by descending priority. */
  begin(fast: boolean, why: string): void {
    if (this.mood === 'stopped') return;
    const first = this.mood === 'running';
    if (first) this.cause = why;
    this.setMood('shuttingDown');
    // by a signal: WARN, as supervisord logs "received SIGTERM indicating exit request"
    // the first Ctrl-C says how to hurry it: gunicorn's INT is quick, drover's first one is graceful
    const hint = why === 'SIGINT' && !fast ? ' (INT again: fast shutdown)' : '';
    this.o.logger.log(/SIG[A-Z]+(\+\d+)?$/.test(why) ? 'warn' : 'info', `${why}: ${fast ? 'fast' : 'graceful'} shutdown${hint}${first ? '' : ' (was already shutting down)'}`);
    const entries = this.o.table.entries();
    // Processes with nothing running (backoff, fatal with a pending retry) stop at once, whatever their turn.
    for (const e of entries) {
      const st = e.record.state;
      if (st === 'backoff' || (st === 'fatal' && timerOf(e, 'fatalCooldown') !== undefined)) this.o.dispatch(e, { type: 'stopRequested' });
    }
    if (fast) {
      // the stop recorded first (its exit is then a requested stop), with no stop signal: SIGKILL alone
      for (const e of entries) {
        if (SIGNALLABLE_STATES.has(e.record.state)) this.o.dispatch(e, { type: 'stopRequested', fast: true });
        this.o.killNow(e);
      }
      this.o.leftovers.killAll('still stopping when a fast shutdown began');
      this.stopBatch = [];
    } else if (first) {
      this.stopNextBatch();
    }
  }

  /** After every event: move the shutdown on when the current batch has stopped; finish when all have. */
  advance(): void {
    if (this.mood !== 'shuttingDown') return;
    this.askBatch(); // again: a process whose kind held its stop back is asked after every event
    while (this.stopBatch.every((e) => STOPPED_STATES.has(e.record.state) || !this.o.table.has(e.key))) {
      if (!this.stopNextBatch()) break;
    }
    if (this.o.table.entries().every((e) => STOPPED_STATES.has(e.record.state))) {
      // Not over while what a stopped leader left in its group is within the rest of its stopwaitsecs:
      // closing the orphan guard would have it TERM and KILL them a second later. Their end (a SIGCHLD)
      // or the SIGKILL at the end of their grace is an event, after which this looks again.
      const groups = this.o.leftovers.countStopping();
      if (groups > 0) {
        if (!this.leftoversLogged) this.o.logger.info(`every program stopped; waiting for ${groups} process group(s) they left to exit (SIGKILL at the end of their stopwaitsecs)`);
        this.leftoversLogged = true;
        return;
      }
      this.setMood('stopped');
      for (const e of this.o.table.entries()) clearTimers(e);
      this.o.guard?.close();
      this.o.logger.info('all processes stopped');
      this.release();
      this.resolveStopped({ failed: false, exitCode: this.o.orchestration.ending?.exitCode ?? null });
    }
  }

  /** Last resort: log the stack, kill every process group, and let the caller exit non-zero. */
  crash(err: unknown, source: string | null = null): void {
    const what = source === null ? 'internal error' : `an error nothing caught in ${source}`;
    this.o.logger.error(`${what}, stopping everything: ${(err as Error).stack ?? String(err)}`);
    for (const entry of this.o.table.entries()) this.o.killNow(entry);
    this.o.leftovers.killAll('still stopping at an internal error');
    this.setMood('stopped');
    this.o.guard?.close();
    this.release();
    this.resolveStopped({ failed: true, exitCode: null });
  }

  // --- internal ---

  /** Asks the next batch of a graceful shutdown to stop; false when nothing is left up. */
  private stopNextBatch(): boolean {
    this.stopBatch = this.o.orchestration.nextStopBatch();
    this.askBatch();
    return this.stopBatch.length > 0;
  }

  /** Asks each process of the current batch that is still up to stop, unless its kind holds it back for now. */
  private askBatch(): void {
    for (const e of this.stopBatch) {
      const st = e.record.state;
      // a process that failed to start during the shutdown is in backoff: it must not retry
      if ((st === 'starting' || st === 'running' || st === 'backoff') && !this.o.holdsStop(e)) this.o.dispatch(e, { type: 'stopRequested' });
    }
  }

  private setMood(mood: Mood): void {
    if (mood === this.currentMood) return;
    this.currentMood = mood;
    this.o.onMood(mood);
  }

  private release(): void {
    if (this.keepAlive) clearInterval(this.keepAlive);
    this.keepAlive = null;
  }
}
