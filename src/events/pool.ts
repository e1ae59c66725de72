// One pool of event listeners ([eventlistener:x], its numprocs processes) and its one queue, as supervisor's
// EventListenerPool keeps it: events wait in order, at most buffer_size of them; a full queue drops its
// oldest event; an event a listener rejected or left unfinished goes back to the head. Pure bookkeeping:
// the bus (bus.ts) decides when to send and writes to the listeners.
import { isSubtypeOf, type ConcreteEventType, type EventTypeName } from '../config/event-names.js';
import type { EventListenerSpec } from '../config/types.js';
import type { Payload } from './payloads.js';

/** One event raised by the bus, shared by every pool that accepted it. */
export interface BusEvent {
  readonly type: ConcreteEventType;
  readonly payload: Payload;
  /** when it was raised (ms since the epoch) */
  readonly raisedAtMs: number;
  /** supervisor's global serial, given when a pool first accepts the event; -1 until then */
  serial: number;
  /** its serial in each pool that accepted it */
  readonly poolSerials: Map<string, number>;
}

/** Counters kept per pool since drover started, for /metrics. */
export interface PoolCounters {
  /** events queued (a requeue does not count) */
  accepted: number;
  /** events written to a listener (a resend counts again) */
  sent: number;
  /** events a listener answered with something other than OK, or left unfinished */
  rejected: number;
  /** events dropped because the queue was full */
  overflowed: number;
}

export class ListenerPool {
  /** waiting events, oldest first */
  readonly queue: BusEvent[] = [];
  readonly counters: PoolCounters = { accepted: 0, sent: 0, rejected: 0, overflowed: 0 };
  /** the last pool serial given; -1 before the first */
  private serial = -1;

  constructor(
    readonly name: string,
    /** the pool's settings (the first process's; every process of a section carries the same) */
    public spec: EventListenerSpec,
  ) {}

  /**
   * How many of the pool's subscriptions an event of `type` matches. supervisor subscribes the pool once per
   * name in `events`, so overlapping names (PROCESS_STATE and PROCESS_STATE_EXITED) queue an event twice.
   */
  subscriptions(type: ConcreteEventType): number {
    let n = 0;
    for (const name of this.spec.events) if (isSubtypeOf(type, name as EventTypeName)) n += 1;
    return n;
  }

  /**
   * Queues `event` at the tail (or, for a requeue, at the head), giving it its serials the first time.
   * Returns the events dropped to make room, oldest first: one when the queue was full (reconfigure brings a
   * queue down to a lowered buffer_size at the update itself).
   */
  accept(event: BusEvent, head: boolean, nextGlobalSerial: () => number): BusEvent[] {
    if (event.serial < 0) event.serial = nextGlobalSerial();
    if (!event.poolSerials.has(this.name)) {
      this.serial += 1;
      event.poolSerials.set(this.name, this.serial);
      this.counters.accepted += 1;
    }
    const dropped: BusEvent[] = [];
    // supervisor drops the oldest — for a requeue at the head too, before inserting
    while (this.queue.length >= this.spec.bufferSize && this.queue.length > 0) {
      dropped.push(this.queue.shift() as BusEvent);
      this.counters.overflowed += 1;
    }
    if (head) this.queue.unshift(event);
    else this.queue.push(event);
    return dropped;
  }

  /**
   * Takes new settings (an update changed the [eventlistener:x] section): queued events the new `events`
   * no longer subscribe to leave the queue, then the oldest beyond the new `buffer_size`, counted as
   * overflowed. Returns the two lists, oldest first.
   */
  reconfigure(spec: EventListenerSpec): { unsubscribed: BusEvent[]; dropped: BusEvent[] } {
    this.spec = spec;
    const unsubscribed = this.queue.filter((e) => this.subscriptions(e.type) === 0);
    const kept = this.queue.filter((e) => this.subscriptions(e.type) > 0);
    const dropped = kept.splice(0, Math.max(0, kept.length - spec.bufferSize));
    this.counters.overflowed += dropped.length;
    this.queue.splice(0, this.queue.length, ...kept);
    return { unsubscribed, dropped };
  }

  /** The pool serial `event` got here. */
  serialOf(event: BusEvent): number {
    return event.poolSerials.get(this.name) ?? -1;
  }
}
