// The event bus: supervisor's events.notify and EventListenerPool.dispatch. An event raised here is queued
// by every pool subscribed to its type (in the order the pools were created, which gives the global serials
// supervisor gives), then each pool sends the head of its queue to its first running listener that said
// READY, one event per listener at a time. Unlike supervisor, which sends on its next loop pass, the bus
// sends at once: when an event is raised, when a listener becomes ready, and when one starts running.
// Everything here runs to completion without awaiting, so a raise never interleaves with another.
import { steadyNowMs } from '../os/clock.js';
import type { ConcreteEventType } from '../config/event-names.js';
import type { EventListenerSpec } from '../config/types.js';
import type { Logger } from '../logs/logger.js';
import { envelope, type Payload } from './payloads.js';
import { ListenerPool, type BusEvent, type PoolCounters } from './pool.js';

/** How the bus reaches the listener processes of a pool (implemented by listener-kind.ts). */
export interface ListenerChannel {
  /**
   * Writes `event` to the first listener of `pool` that is running and ready, marks it busy with it, and
   * returns its name; null when none can take it now.
   */
  offer(pool: string, event: BusEvent, bytes: () => Buffer): string | null;
}

/** One pool's figures, for /metrics and the JSON API. */
export interface PoolStats extends PoolCounters {
  readonly pool: string;
  /** events waiting in its queue now */
  readonly queued: number;
  readonly bufferSize: number;
}

export class EventBus {
  /** pools by name, in the order they subscribed */
  private readonly pools = new Map<string, ListenerPool>();
  /** the last global serial given; -1 before the first */
  private serial = -1;
  private channel: ListenerChannel | null = null;
  /**
   * counters of pools that were removed, by name; empty at first. A pool put back takes its counters over, so
   * that a series of /metrics never goes backwards (a removed pool has no series until then).
   */
  private readonly retired = new Map<string, PoolCounters>();

  constructor(
    private readonly o: {
      readonly logger: Logger;
      /** the `server:` field of each header: [supervisord] identifier */
      readonly identifier: string;
    },
  ) {
    this.identifier = o.identifier;
  }

  /** the `server:` field of each header from now on: [supervisord] identifier, which a reload applies */
  identifier: string;

  /** Where events are written (the listener kind); set once, before anything is raised. */
  connect(channel: ListenerChannel): void {
    this.channel = channel;
  }

  /**
   * Creates the pool of an [eventlistener:x] section: from now on it queues the events it subscribes to. A
   * pool of a name that was removed counts on from that pool's counters.
   */
  addPool(name: string, spec: EventListenerSpec): void {
    if (this.pools.has(name)) return;
    const pool = new ListenerPool(name, spec);
    const before = this.retired.get(name);
    if (before) Object.assign(pool.counters, before);
    this.retired.delete(name);
    this.pools.set(name, pool);
  }

  /** Removes a pool; the events in its queue are dropped, as supervisor drops them with the pool. */
  removePool(name: string): void {
    const pool = this.pools.get(name);
    if (!pool) return;
    this.retired.set(name, { ...pool.counters });
    this.pools.delete(name);
  }

  /**
   * Brings the pool of a group that an update kept to the config applied (`spec`: its [eventlistener:x]
   * settings; null: it is a group of programs now): the pool is made, removed, or takes the new settings,
   * keeping its counters and the queued events its new `events` still subscribe to (pool.ts reconfigure).
   */
  updatePool(name: string, spec: EventListenerSpec | null): void {
    const pool = this.pools.get(name);
    if (spec === null) this.removePool(name);
    else if (!pool) this.addPool(name, spec);
    else if (JSON.stringify(pool.spec) !== JSON.stringify(spec)) {
      const { unsubscribed, dropped } = pool.reconfigure(spec);
      if (unsubscribed.length > 0) this.o.logger.info(`pool ${name}: ${unsubscribed.length} queued event(s) dropped: its new events = ${spec.events.join(',')} no longer subscribe to them`);
      for (const d of dropped) this.o.logger.error(`pool ${name} event buffer overflowed, discarding event ${d.serial} (${d.type}; buffer_size ${spec.bufferSize})`);
    }
  }

  hasPool(name: string): boolean {
    return this.pools.has(name);
  }

  /** Whether any pool would queue an event of `type` (so that its body need not be built otherwise). */
  wants(type: ConcreteEventType): boolean {
    for (const pool of this.pools.values()) if (pool.subscriptions(type) > 0) return true;
    return false;
  }

  /**
   * Raises an event: every subscribed pool queues it (once per matching subscription) and sends what it can.
   * `queued`: runs once the event is queued and before anything is sent (a requeue that must go first).
   */
  raise(type: ConcreteEventType, payload: Payload, queued?: () => void): void {
    const event: BusEvent = { type, payload, raisedAtMs: steadyNowMs(), serial: -1, poolSerials: new Map() };
    const touched: ListenerPool[] = [];
    for (const pool of this.pools.values()) {
      const n = pool.subscriptions(type);
      for (let i = 0; i < n; i++) this.queue(pool, event, false);
      if (n > 0) touched.push(pool);
    }
    queued?.();
    for (const pool of touched) this.dispatch(pool);
  }

  /** An event a listener of `pool` rejected or left unfinished: back to the head of the queue, then sent again. */
  requeue(poolName: string, event: BusEvent, opts: { readonly rejected?: boolean } = {}): void {
    const pool = this.pools.get(poolName);
    // the pool is gone, or an update changed its `events` while the event was out (updatePool)
    if (!pool || pool.subscriptions(event.type) === 0) return;
    // an event that could not be written was not rejected by anyone
    if (opts.rejected !== false) pool.counters.rejected += 1;
    this.o.logger.debug(`pool ${poolName}: event ${event.serial} goes back to the head of the queue (${pool.queue.length} queued, buffer_size ${pool.spec.bufferSize})`);
    this.queue(pool, event, true);
    this.dispatch(pool);
  }

  /** Sends what a pool can send now (a listener of it became ready, or started running). */
  dispatchPool(name: string): void {
    const pool = this.pools.get(name);
    if (pool) this.dispatch(pool);
  }

  /** Whether `pool` has an event raised at or after `sinceMs` waiting in its queue. */
  hasQueuedSince(pool: string, sinceMs: number): boolean {
    return this.pools.get(pool)?.queue.some((e) => e.raisedAtMs >= sinceMs) ?? false;
  }

  /** The figures of every pool now configured, by pool name: a removed pool leaves /metrics, as a removed program does. */
  stats(): PoolStats[] {
    const out: PoolStats[] = [];
    for (const p of this.pools.values()) out.push({ pool: p.name, queued: p.queue.length, bufferSize: p.spec.bufferSize, ...p.counters });
    return out.sort((a, b) => (a.pool < b.pool ? -1 : a.pool > b.pool ? 1 : 0));
  }

  // --- internal ---

  private queue(pool: ListenerPool, event: BusEvent, head: boolean): void {
    const dropped = pool.accept(event, head, () => (this.serial = this.serial >= Number.MAX_SAFE_INTEGER ? 0 : this.serial + 1));
    for (const d of dropped) {
      this.o.logger.error(`pool ${pool.name} event buffer overflowed, discarding event ${d.serial} (${d.type}; buffer_size ${pool.spec.bufferSize})`);
    }
  }

  /** supervisor's dispatch: the oldest event to the first ready listener, until none is ready or none is left. */
  private dispatch(pool: ListenerPool): void {
    const channel = this.channel;
    if (!channel) return;
    for (let event = pool.queue[0]; event !== undefined; event = pool.queue[0]) {
      const bytes = (): Buffer =>
        envelope({ server: this.identifier, serial: event.serial, pool: pool.name, poolSerial: pool.serialOf(event), type: event.type, payload: event.payload });
      const to = channel.offer(pool.name, event, bytes);
      if (to === null) return;
      pool.queue.shift();
      pool.counters.sent += 1;
      this.o.logger.debug(`pool ${pool.name}: event ${event.serial} (${event.type}) sent to listener ${to}`);
    }
  }
}
