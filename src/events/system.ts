// supervisor's event listeners, put together: the bus and its pools, listener processes as a kind of
// process, programs' output as events (core's OutputTap), and the feeds from the supervisor and the clock.
// daemon/master.ts builds one, hands `kind` and `tap` to the supervisor, and calls `start` before the
// supervisor starts its processes.
import type { Supervisor } from '../core/supervisor.js';
import type { Logger } from '../logs/logger.js';
import { EventBus, type PoolStats } from './bus.js';
import { Feeds } from './feeds.js';
import { ListenerKind, type CallbackAddress } from './listener-kind.js';
import { OutputEvents } from './output-events.js';

export interface EventSystemOptions {
  readonly logger: Logger;
  /** [supervisord] identifier: the `server:` field of every event header */
  readonly identifier: string;
  /** where listeners call drover back (SUPERVISOR_SERVER_URL) */
  readonly callback: CallbackAddress;
}

export class EventSystem {
  readonly bus: EventBus;
  readonly kind: ListenerKind;
  readonly tap: OutputEvents;
  private supervisor: Supervisor | null = null;
  private feeds: Feeds | null = null;

  constructor(o: EventSystemOptions) {
    this.bus = new EventBus({ logger: o.logger, identifier: o.identifier });
    this.kind = new ListenerKind({
      logger: o.logger,
      callback: o.callback,
      isCurrent: (entry) => this.supervisor?.table.get(entry.key) === entry,
    });
    this.bus.connect(this.kind);
    this.kind.connect(this.bus);
    this.tap = new OutputEvents(this.bus);
  }

  /** Begins raising events about `supervisor`; call before it starts its processes. */
  start(supervisor: Supervisor): void {
    this.supervisor = supervisor;
    this.feeds = new Feeds(this.bus, this.kind);
    this.feeds.start(supervisor);
  }

  /** supervisor's sendRemoteCommEvent: a REMOTE_COMMUNICATION event to the pools subscribed to it. */
  sendRemoteCommEvent(type: string, data: string): void {
    this.feeds?.remoteCommunication(type, data);
  }

  /** Each pool's queue and counters. */
  poolStats(): PoolStats[] {
    return this.bus.stats();
  }

  /** Each listener process's protocol state (acknowledged, ready, busy, unknown), by "group:name". */
  listenerStates(): Map<string, string> {
    return this.kind.states();
  }
}
