// Where events come from: the supervisor's state changes (PROCESS_STATE_*), its mood
// (SUPERVISOR_STATE_CHANGE_*), groups coming and going (PROCESS_GROUP_*), the clock (TICK_*, aligned as
// supervisor aligns them) and the remote communication of XML-RPC. Each is turned into a payload as
// supervisor writes it and raised on the bus.
import type { ConcreteEventType } from '../config/event-names.js';
import type { EventListenerSpec, ProcessSpec } from '../config/types.js';
import { isExpectedExit } from '../core/policy.js';
import type { Step } from '../core/program.js';
import type { State } from '../core/states.js';
import type { Supervisor } from '../core/supervisor.js';
import type { ChangeEvent } from '../core/types.js';
import type { EventBus } from './bus.js';
import type { ListenerKind } from './listener-kind.js';
import {
  EMPTY_PAYLOAD,
  processGroupPayload,
  processStatePayload,
  remoteCommunicationPayload,
  tickPayload,
  type StateName,
} from './payloads.js';

/** The event raised when a process enters each state. */
const STATE_EVENTS: Readonly<Record<State, ConcreteEventType>> = {
  stopped: 'PROCESS_STATE_STOPPED',
  starting: 'PROCESS_STATE_STARTING',
  running: 'PROCESS_STATE_RUNNING',
  backoff: 'PROCESS_STATE_BACKOFF',
  stopping: 'PROCESS_STATE_STOPPING',
  exited: 'PROCESS_STATE_EXITED',
  fatal: 'PROCESS_STATE_FATAL',
  unknown: 'PROCESS_STATE_UNKNOWN',
};

/** supervisor's tick periods (events.TICK_EVENTS), in seconds. */
const TICKS = [
  { period: 5, type: 'TICK_5' },
  { period: 60, type: 'TICK_60' },
  { period: 3600, type: 'TICK_3600' },
] as const satisfies readonly { period: number; type: ConcreteEventType }[];

export class Feeds {
  private readonly unsubscribe: (() => void)[] = [];
  /** the one tick timer; null when stopped */
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly bus: EventBus,
    private readonly kind: ListenerKind,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Starts raising events, as supervisord's run() does: the groups of the config are added in order (a pool
   * queues events from its creation on, so it hears its own PROCESS_GROUP_ADDED and those after it), then
   * SUPERVISOR_STATE_CHANGE_RUNNING, then the clock. Call before the supervisor starts its processes.
   */
  start(supervisor: Supervisor): void {
    const pools = new Map(supervisor.snapshot().flatMap((p) => (p.spec.eventListener ? [[p.spec.group, p.spec.eventListener] as const] : [])));
    for (const g of supervisor.activeGroups()) this.groupAdded(g.name, pools.get(g.name) ?? null);
    this.unsubscribe.push(
      supervisor.onChange((e) => this.changed(e)),
      supervisor.onGroupChange((name, { how, listener }) => {
        if (how === 'removed') this.groupRemoved(name);
        else if (how === 'added') this.groupAdded(name, listener);
        // kept by an update: its pool follows the config now, whatever state its processes are in
        else this.bus.updatePool(name, listener);
      }),
      supervisor.onMoodChange((mood) => {
        if (mood === 'shuttingDown') {
          this.kind.shutdownBegan();
          this.bus.raise('SUPERVISOR_STATE_CHANGE_STOPPING', EMPTY_PAYLOAD);
        }
        if (mood === 'stopped') this.stop();
      }),
    );
    this.bus.raise('SUPERVISOR_STATE_CHANGE_RUNNING', EMPTY_PAYLOAD);
    const nowSec = this.now() / 1000;
    this.scheduleTicks(TICKS.map((t) => timeslice(t.period, nowSec)));
  }

  /** Stops the clock and stops listening to the supervisor. */
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const off of this.unsubscribe.splice(0)) off();
  }

  /** XML-RPC sendRemoteCommEvent. */
  remoteCommunication(type: string, data: string): void {
    this.bus.raise('REMOTE_COMMUNICATION', remoteCommunicationPayload(type, data));
  }

  // --- internal ---

  private changed(e: ChangeEvent): void {
    const { step, spec } = e;
    const type = STATE_EVENTS[step.to];
    // what a listener's exit left unfinished goes back to the head of its pool after the exit's own event is
    // queued and before either is sent, so the next listener gets it first: supervisord's finish queues the
    // state event, then requeues (EventRejected), and sends on its next loop pass
    const requeue = spec.eventListener ? () => this.kind.requeueOrphan(e.key) : undefined;
    if (this.bus.wants(type)) this.bus.raise(type, processStatePayload(e.name, e.group, stateName(step.from), stateExtras(step, spec)), requeue);
    else requeue?.();
    if (spec.eventListener) {
      this.kind.changed(e.key, step.to);
    }
  }

  /** A group became active; `listener`: its pool's settings when it is an [eventlistener:x]. */
  private groupAdded(name: string, listener: EventListenerSpec | null): void {
    if (listener) this.bus.addPool(name, listener);
    if (this.bus.wants('PROCESS_GROUP_ADDED')) this.bus.raise('PROCESS_GROUP_ADDED', processGroupPayload(name));
  }

  private groupRemoved(name: string): void {
    // supervisor unsubscribes a pool before it announces the removal
    this.bus.removePool(name);
    if (this.bus.wants('PROCESS_GROUP_REMOVED')) this.bus.raise('PROCESS_GROUP_REMOVED', processGroupPayload(name));
  }

  /** Raises TICK_`period` when the next period begins; `last` is the start of the current one (seconds). */
  /**
   * One timer for every TICK period, so that at a boundary several share they come in supervisor's order
   * (TICK_5, TICK_60, TICK_3600). `last`: the timeslice each period last raised (or started in).
   */
  private scheduleTicks(last: readonly number[]): void {
    const next = Math.min(...TICKS.map((t, i) => ((last[i] ?? 0) + t.period) * 1000));
    this.timer = setTimeout(() => {
      const nowSec = this.now() / 1000;
      // a timer can fire a little early against the wall clock: a period whose slice has not changed waits
      const current = TICKS.map((t, i) => {
        const slice = timeslice(t.period, nowSec);
        if (slice !== last[i]) this.bus.raise(t.type, tickPayload(slice));
        return slice;
      });
      // stopped meanwhile (an event's effects can end drover): no new timer
      if (this.timer !== null) this.scheduleTicks(current);
    }, Math.max(1, next - this.now()));
    this.timer.unref();
  }

}

/** supervisor's timeslice: the start of the period `when` falls in. */
export function timeslice(period: number, when: number): number {
  return Math.trunc(when - (when % period));
}

function stateName(s: State): StateName {
  return s.toUpperCase() as StateName;
}

/** The fields supervisor adds after from_state, for the state entered. */
function stateExtras(step: Step, spec: ProcessSpec): [string, number][] {
  switch (step.to) {
    case 'starting':
    case 'backoff':
      return [['tries', step.record.backoffCount]];
    case 'exited':
      return [
        ['expected', isExpectedExit(spec, step.record.exitStatus) ? 1 : 0],
        ['pid', step.pid ?? 0],
      ];
    case 'running':
    case 'stopping':
    case 'stopped':
      return [['pid', step.pid ?? 0]];
    case 'fatal':
    case 'unknown':
      return [];
    default: {
      const never: never = step.to;
      throw new Error(`unhandled state ${String(never)}`);
    }
  }
}
