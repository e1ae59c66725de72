// Live feedback on long work (up -d, reload, restart, scale, down): follows drover's event stream and shows
// how many processes are starting, running, stopping or failed. On a terminal: one line rewritten in
// place, with the elapsed time; otherwise: one plain line per process reaching a settled state. Ends with
// a summary line either way.
import { steadyNowMs } from '../os/clock.js';
import { openEventStream, type Endpoint, type ServerEvent } from '../control/client.js';
import { paintState } from '../control/status-text.js';
import { SnapshotJson, StateEventJson } from '../control/wire.js';
import type { CommandContext } from './command.js';
import { formatElapsed, isCapableTerminal, shownKey, useColor } from './format.js';

/** What Progress needs of a command invocation (a Remote has it). */
export interface ProgressTarget {
  readonly ctx: CommandContext;
  readonly endpoint: Endpoint;
  readonly json: boolean;
}

/** Which processes the counts are about. */
export type Track =
  /** every process drover has */
  | { readonly type: 'all' }
  /** these names ("group:name") */
  | { readonly type: 'keys'; readonly keys: readonly string[] }
  /** those busy (starting, backoff, stopping) when the stream opened, and any that changes afterwards */
  | { readonly type: 'busy' };

const SETTLED = new Set(['running', 'stopped', 'exited', 'fatal', 'backoff', 'unknown']);
const BUSY = new Set(['starting', 'backoff', 'stopping']);

export class Progress {
  /** state per process, as last heard */
  readonly states = new Map<string, string>();
  /** processes the counts are about */
  readonly tracked = new Set<string>();
  /** last reason per process (for the failure summary) */
  readonly reasons = new Map<string, string>();
  /** processes now `exited` whose exit was not expected (not one of their exitcodes); empty at first */
  readonly exitedUnexpectedly = new Set<string>();
  private readonly startedAtMs = steadyNowMs();
  private readonly color: boolean;
  private readonly live: boolean;
  private close: (() => void) | null = null;
  private ticker: NodeJS.Timeout | null = null;
  private readonly listeners = new Set<() => void>();
  private lineShown = false;
  /** settles when the server ends the stream (drover exiting) */
  readonly ended: Promise<Error | null>;
  private resolveEnded!: (e: Error | null) => void;
  private isEnded = false;

  private constructor(
    private readonly ctx: CommandContext,
    private readonly label: string,
    private readonly track: Track,
    private readonly quiet: boolean,
  ) {
    this.color = useColor(ctx);
    this.live = isCapableTerminal(ctx) && !quiet;
    this.ended = new Promise((resolve) => (this.resolveEnded = resolve));
    if (track.type === 'keys') for (const k of track.keys) this.tracked.add(k);
  }

  /** Opens the event stream and waits for its first snapshot. `quiet`: track states, print nothing. */
  static async open(r: ProgressTarget, label: string, track: Track, quiet = r.json): Promise<Progress> {
    const p = new Progress(r.ctx, label, track, quiet);
    let gotSnapshot!: () => void;
    const snapshot = new Promise<void>((resolve) => (gotSnapshot = resolve));
    p.close = await openEventStream(
      r.endpoint,
      '/api/events',
      (e) => {
        p.handle(e);
        if (e.event === 'snapshot') gotSnapshot();
      },
      (err) => {
        p.isEnded = true;
        p.resolveEnded(err);
        gotSnapshot();
        p.notify();
      },
    );
    await snapshot;
    if (p.live) {
      p.ticker = setInterval(() => p.render(), 100);
      p.ticker.unref();
      p.render();
    }
    return p;
  }

  /** Whether the server has ended the stream. */
  get hasEnded(): boolean {
    return this.isEnded;
  }

  /** Resolves true once `pred` holds (checked now and on every event), false after `timeoutMs`. */
  waitUntil(pred: () => boolean, timeoutMs: number): Promise<boolean> {
    if (pred()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = (): void => {
        if (!pred()) return;
        done();
        resolve(true);
      };
      const timer = setTimeout(() => {
        done();
        resolve(false);
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.listeners.delete(check);
      };
      this.listeners.add(check);
    });
  }

  /** Counts of tracked processes by state. */
  counts(): Record<string, number> {
    const c: Record<string, number> = {};
    for (const k of this.tracked) {
      const s = this.states.get(k);
      if (s !== undefined) c[s] = (c[s] ?? 0) + 1;
    }
    return c;
  }

  /** Tracked processes still starting, in backoff, or stopping. */
  busy(): string[] {
    return [...this.tracked].filter((k) => BUSY.has(this.states.get(k) ?? ''));
  }

  /** Tracked processes that failed to start (fatal, or still retrying in backoff). */
  failed(): string[] {
    return [...this.tracked].filter((k) => {
      const s = this.states.get(k);
      return s === 'fatal' || s === 'backoff';
    });
  }

  elapsedMs(): number {
    return steadyNowMs() - this.startedAtMs;
  }

  /** Stops following; clears the live line and prints `summary` (unless quiet). */
  finish(summary: string | null): void {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = null;
    this.close?.();
    this.close = null;
    if (this.lineShown) this.ctx.stdout.write('\r\x1b[2K');
    this.lineShown = false;
    if (summary !== null && !this.quiet) this.ctx.stdout.write(`${summary}\n`);
  }

  /** "3 running, 1 fatal" for the tracked processes. */
  describeCounts(): string {
    const c = this.counts();
    const order = ['running', 'starting', 'backoff', 'stopping', 'stopped', 'exited', 'fatal', 'unknown'];
    const parts = order.filter((s) => (c[s] ?? 0) > 0).map((s) => `${c[s] ?? 0} ${paintState(s, this.color)}`);
    return parts.length > 0 ? parts.join(', ') : 'nothing to do';
  }

  // --- internal ---

  private handle(e: ServerEvent): void {
    if (e.event === 'snapshot' && SnapshotJson.is(e.data)) {
      for (const p of e.data) {
        this.states.set(p.name, p.state);
        // a process that failed before this stream began: its state event was missed, its error is here
        if (p.spawn_error !== null && !this.reasons.has(p.name)) this.reasons.set(p.name, p.spawn_error);
        this.noteExit(p.name, p.state, p.spawn_error);
        if (this.track.type === 'all' || (this.track.type === 'busy' && BUSY.has(p.state))) this.tracked.add(p.name);
      }
    } else if (e.event === 'state' && StateEventJson.is(e.data)) {
      const d = e.data;
      this.states.set(d.name, d.to);
      this.reasons.set(d.name, d.reason);
      this.noteExit(d.name, d.to, d.spawn_error ?? null);
      if (this.track.type === 'all' || this.track.type === 'busy') this.tracked.add(d.name);
      if (this.tracked.has(d.name) && !this.quiet && !this.live && SETTLED.has(d.to) && d.from !== d.to) {
        const why = d.to === 'running' || d.to === 'stopped' ? '' : ` (${d.reason})`;
        this.ctx.stdout.write(`${shownKey(d.name)}: ${d.to}${why}\n`);
      }
      if (this.live) this.render();
    }
    this.notify();
  }

  /** an `exited` process has a spawn error (`Bad exit code N`) exactly when its exit was not expected */
  private noteExit(name: string, state: string, spawnError: string | null): void {
    if (state === 'exited' && spawnError !== null) this.exitedUnexpectedly.add(name);
    else this.exitedUnexpectedly.delete(name);
  }

  private notify(): void {
    for (const l of [...this.listeners]) l();
  }

  private render(): void {
    const line = `${this.label}: ${this.describeCounts()}  ${formatElapsed(this.elapsedMs())}`;
    this.ctx.stdout.write(`\r\x1b[2K${line}`);
    this.lineShown = true;
  }
}
