// Event listener processes as a kind of process (src/core/kind.ts). A listener's stdin and stdout are the
// protocol channel: the bus writes events to stdin; stdout (READY, RESULT …) is read here through the pure
// reducer in listener-protocol.ts, in order with every other event of the supervisor's queue. Its stderr is
// ordinary output. The kind also gives listeners what childutils needs to call back over XML-RPC
// (SUPERVISOR_SERVER_URL, and the credentials when the control socket has plain ones).
import { steadyNowMs } from '../os/clock.js';
import type { ChildProcess } from 'node:child_process';
import type { ProcessSpec } from '../config/types.js';
import type { ChildOutput, KindContext, LaunchPlan, ProcessKind } from '../core/kind.js';
import type { State } from '../core/states.js';
import type { ProcessEntry } from '../core/table.js';
import type { Logger } from '../logs/logger.js';
import type { ListenerChannel } from './bus.js';
import { eventNotSent, eventSent, initialListener, listenerSpawned, outputReceived, type ListenerEffect, type ListenerReduction, type ListenerRecord } from './listener-protocol.js';
import type { BusEvent } from './pool.js';

/** What the kind tells the bus about its listeners, and asks it. */
export interface ListenerPoolHost {
  /** a listener of `pool` may take an event now */
  dispatchPool(pool: string): void;
  /**
   * an event a listener of `pool` rejected or left unfinished goes back to the head of the queue
   * (`rejected: false`: it could not even be written)
   */
  requeue(pool: string, event: BusEvent, opts?: { readonly rejected?: boolean }): void;
  /** whether `pool` has an event raised at or after `sinceMs` waiting */
  hasQueuedSince(pool: string, sinceMs: number): boolean;
}

/**
 * How long a graceful shutdown waits, at most, for listeners to answer the events it raised (their programs'
 * STOPPING and STOPPED, SUPERVISOR_STATE_CHANGE_STOPPING) before it stops them. supervisor stops them a loop
 * pass later, which usually but not always leaves them time to read the last events.
 */
export const SHUTDOWN_HOLD_MS = 2000;

/** The event pushed to wake the supervisor when a shutdown hold ends. */
const HOLD_ENDED = Symbol('hold ended');

/** Where listeners call drover back (supervisor's serverurl: the unix socket first). */
export interface CallbackAddress {
  readonly url: string;
  /** set as SUPERVISOR_USERNAME / SUPERVISOR_PASSWORD; null when the server has none (or only a hashed one) */
  readonly credentials: { readonly username: string; readonly password: string } | null;
}

/** One listener process, beside the supervisor's entry. */
class Listener {
  /** the protocol's record for the current process */
  record: ListenerRecord = initialListener();
  /** the event it is working on (supervisor's process.event); null when none */
  event: BusEvent | null = null;
  /** the process the record is about; 0 before the first spawn and after an exit */
  pid = 0;
  /** when `event` was written to it (ms since the epoch); 0 when none */
  eventSentAtMs = 0;
  /** a timer that ends its shutdown hold; null when none is armed */
  holdTimer: NodeJS.Timeout | null = null;

  constructor(readonly entry: ProcessEntry) {}

  get name(): string {
    return this.entry.spec.name;
  }
}

export class ListenerKind implements ProcessKind, ListenerChannel {
  readonly name = 'eventlistener';
  private ctx: KindContext | null = null;
  private pools: ListenerPoolHost | null = null;
  /** listeners by "group:name"; the entry they hold tells a replaced process apart */
  private readonly byKey = new Map<string, Listener>();
  /** per pool, its listeners in supervisor's order (by process name) */
  private readonly members = new Map<string, Listener[]>();
  /** events in flight when their listener exited, by "group:name": requeued once the exit's event is queued */
  private readonly orphaned = new Map<string, BusEvent>();
  /** when a graceful shutdown began (ms since the epoch); null while running */
  private shutdownAtMs: number | null = null;

  constructor(
    private readonly o: {
      readonly logger: Logger;
      readonly callback: CallbackAddress;
      /** whether `entry` is still the supervisor's entry for its key (not dropped or replaced) */
      readonly isCurrent: (entry: ProcessEntry) => boolean;
    },
  ) {}

  /** Where the protocol's effects go (the bus); set once, before anything starts. */
  connect(pools: ListenerPoolHost): void {
    this.pools = pools;
  }

  // --- ProcessKind ---

  claims(spec: ProcessSpec): boolean {
    return spec.eventListener !== null;
  }

  bind(ctx: KindContext): void {
    this.ctx = ctx;
  }

  prepare(spec: ProcessSpec): LaunchPlan {
    // SUPERVISOR_SERVER_URL is set for every program (src/core/launcher.ts); supervisor never sets the
    // credentials (childutils reads them): drover does, when the config has plain ones
    const env: Record<string, string> = {};
    const own = (k: string): boolean => Object.hasOwn(spec.environment, k);
    const cred = this.o.callback.credentials;
    if (cred && !own('SUPERVISOR_USERNAME') && !own('SUPERVISOR_PASSWORD')) {
      env['SUPERVISOR_USERNAME'] = cred.username;
      env['SUPERVISOR_PASSWORD'] = cred.password;
    }
    return { argv: spec.argv, env, ipc: false, stdout: 'protocol' };
  }

  attach(entry: ProcessEntry, _child: ChildProcess, pid: number, output: ChildOutput): void {
    const ctx = this.context();
    const l = this.listenerOf(entry);
    l.event = null;
    l.pid = pid;
    this.apply(l, listenerSpawned(l.record));
    // each read is one event on the supervisor's queue, in order with the listener's exit; a read is a view of
    // a buffer the next read overwrites (src/os/pipe-reader.ts), so the event carries a copy
    output.stdout?.on('data', (chunk: Buffer) => ctx.push(entry.key, pid, Buffer.from(chunk)));
  }

  handle(entry: ProcessEntry, event: unknown): void {
    if (event === HOLD_ENDED) return; // the supervisor asks holdsStop again after this
    const l = this.listenerOf(entry);
    this.apply(l, outputReceived(l.record, event as Buffer));
  }

  /**
   * During a graceful shutdown: keeps a listener running while it works on an event the shutdown raised,
   * or its pool has one waiting (even while it still answers an older one), for at most SHUTDOWN_HOLD_MS
   * (drover's addition: docs/events.md).
   */
  holdsStop(entry: ProcessEntry): boolean {
    const since = this.shutdownAtMs;
    const l = this.byKey.get(entry.key);
    if (since === null || !l || l.entry !== entry || l.pid === 0 || l.record.state === 'unknown') return false;
    const left = since + SHUTDOWN_HOLD_MS - steadyNowMs();
    if (left <= 0) return false;
    const working = l.event !== null && l.eventSentAtMs >= since;
    // busy or not: a listener still answering an event from before the shutdown gets the queued ones next
    const waiting = this.pools?.hasQueuedSince(entry.spec.group, since) ?? false;
    if (!working && !waiting) return false;
    if (l.holdTimer === null) {
      const ctx = this.context();
      const pid = l.pid;
      l.holdTimer = setTimeout(() => ctx.push(entry.key, pid, HOLD_ENDED), left + 1);
      l.holdTimer.unref(); // it must not keep drover alive once everything has stopped
    }
    return true;
  }

  /** A graceful shutdown began: from now on holdsStop may keep listeners a little longer. */
  shutdownBegan(): void {
    this.shutdownAtMs ??= steadyNowMs();
  }

  detach(key: string, pid: number): void {
    const l = this.byKey.get(key);
    if (!l || l.pid !== pid) return;
    l.pid = 0;
    if (l.holdTimer) clearTimeout(l.holdTimer);
    l.holdTimer = null;
    if (l.event === null) return;
    // supervisor puts the event back after queueing the exit's event (finish: change_state, then EventRejected)
    this.orphaned.set(key, l.event);
    l.event = null;
    // a dropped process announces nothing: put it back now
    if (!this.o.isCurrent(l.entry)) this.requeueOrphan(key);
  }

  // --- for the bus and the feeds ---

  offer(pool: string, event: BusEvent, bytes: () => Buffer): string | null {
    const list = this.members.get(pool);
    if (!list) return null;
    for (const l of list) {
      const { entry } = l;
      if (!this.o.isCurrent(entry)) continue; // dropped (removed from the config): forgotten at its pool's next spawn
      if (entry.record.state !== 'running' || l.record.state !== 'ready' || l.pid === 0 || entry.spawnedPid !== l.pid) continue;
      const stdin = entry.stdin?.stream();
      if (!stdin) {
        // supervisor's EPIPE: the listener keeps its state, the next one is tried
        this.o.logger.debug(`${l.name}: stdin closed; event ${event.serial} not sent to it`);
        continue;
      }
      l.event = event;
      l.eventSentAtMs = steadyNowMs();
      this.apply(l, eventSent(l.record));
      // the write fails later, not here, when the listener has closed its stdin (EPIPE)
      stdin.write(bytes(), (err) => {
        if (err) this.notSent(l, event, err);
      });
      return l.name;
    }
    return null;
  }

  /** After a listener's state change has been announced: a running one may take events. */
  changed(key: string, to: State): void {
    if (to === 'running') this.pools?.dispatchPool(key.slice(0, key.indexOf(':')));
  }

  /**
   * An event in flight when the listener `key` exited goes back to the head of its pool (Feeds calls this
   * once the exit's state event is queued, before it is sent); nothing when there is none.
   */
  requeueOrphan(key: string): void {
    const event = this.orphaned.get(key);
    if (!event) return;
    this.orphaned.delete(key);
    this.pools?.requeue(key.slice(0, key.indexOf(':')), event);
  }

  /** The protocol state of each listener process, by "group:name" (for the JSON API and tests). */
  states(): Map<string, string> {
    return new Map([...this.byKey].map(([k, l]) => [k, l.record.state]));
  }

  // --- internal ---

  private context(): KindContext {
    if (!this.ctx) throw new Error('ListenerKind.bind was not called');
    return this.ctx;
  }

  private listenerOf(entry: ProcessEntry): Listener {
    let l = this.byKey.get(entry.key);
    if (l && l.entry === entry) return l;
    const pool = entry.spec.group;
    const list = (this.members.get(pool) ?? []).filter((m) => m.entry !== l?.entry && this.o.isCurrent(m.entry));
    l = new Listener(entry);
    this.byKey.set(entry.key, l);
    list.push(l);
    // supervisor offers events to a pool's processes in the order of its config: by name
    list.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    this.members.set(pool, list);
    return l;
  }

  /**
   * Writing `event` to listener `l` failed: supervisord gets EPIPE at once, leaves the listener as it was
   * and offers the event to the next one; here the failure comes after the write, so the event goes back to
   * the head of its pool's queue, and the listener, ready again, is skipped while its stdin is closed.
   */
  private notSent(l: Listener, event: BusEvent, err: Error): void {
    if (l.event !== event) return; // it exited meanwhile: its exit put the event back
    this.o.logger.debug(`${l.name}: event ${event.serial} could not be written (${(err as NodeJS.ErrnoException).code ?? err.message}); offered again`);
    l.event = null;
    if (l.record.state === 'busy') this.apply(l, eventNotSent(l.record));
    this.pools?.requeue(l.entry.spec.group, event, { rejected: false });
  }

  private apply(l: Listener, r: ListenerReduction): void {
    l.record = r.record;
    for (const s of r.steps) this.o.logger.debug(`${l.name}: listener ${s.from} → ${s.to} (${s.on})`);
    for (const e of r.effects) this.runEffect(l, e);
  }

  private runEffect(l: Listener, e: ListenerEffect): void {
    const pool = l.entry.spec.group;
    const { logger } = this.o;
    switch (e.type) {
      case 'ready':
        this.pools?.dispatchPool(pool);
        break;
      case 'processed':
        logger.debug(`${l.name}: event ${l.event?.serial ?? '?'} was processed`);
        l.event = null;
        break;
      case 'rejected':
        logger.warn(`${l.name}: event was rejected: event ${l.event?.serial ?? '?'} (the listener answered ${JSON.stringify(e.result.toString('utf8'))}, not "OK"); it is sent again`);
        this.giveBack(l);
        break;
      case 'badResultLine':
        logger.warn(`${l.name}: bad result line: ${JSON.stringify(e.line.toString('utf8'))} (expected "RESULT <length>")`);
        this.giveBack(l);
        break;
      case 'enteredUnknown':
        logger.warn(`${l.name}: has entered the UNKNOWN state and will no longer receive events: it broke the event listener protocol (restart it to receive events again)`);
        break;
      default:
        assertNever(e);
    }
  }

  private giveBack(l: Listener): void {
    const event = l.event;
    l.event = null;
    if (event) this.pools?.requeue(l.entry.spec.group, event);
  }
}

function assertNever(x: never): never {
  throw new Error(`unhandled listener effect ${JSON.stringify(x)}`);
}
