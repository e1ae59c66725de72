// The event listener protocol as a state machine: the states of one listener process (supervisor's
// EventListenerStates), the inputs that move it, and the transition table as data. A listener's process
// state (running, stopped, …) is core's (src/core/states.ts); this one says whether it may be sent an event.
// The reducer is src/events/listener-protocol.ts. Imports nothing from node: so the table reads alone.

export const LISTENER_STATES = ['acknowledged', 'ready', 'busy', 'unknown'] as const;
export type ListenerState = (typeof LISTENER_STATES)[number];

/** supervisor's numeric codes (EventListenerStates). */
export const LISTENER_STATE_CODES: Readonly<Record<ListenerState, number>> = {
  ready: 10,
  busy: 20,
  acknowledged: 30,
  unknown: 40,
};

/** What can happen to a listener, as seen by the protocol. */
export type ListenerInput =
  /** a new process of the listener was spawned (supervisor makes a fresh dispatcher) */
  | 'spawned'
  /** its stdout began with `READY\n` */
  | 'readyToken'
  /** its stdout began with six bytes that are not `READY\n` */
  | 'garbage'
  /** it wrote anything while ready (nothing is expected until an event is sent) */
  | 'spuriousOutput'
  /** the pool wrote an event to its stdin */
  | 'eventSent'
  /** writing the event to its stdin failed (EPIPE: it closed its stdin) */
  | 'sendFailed'
  /** a whole result came back: `OK` */
  | 'resultAccepted'
  /** a whole result came back and was not `OK` (FAIL, or anything else): the event is sent again */
  | 'resultRejected'
  /** a result line whose length is not a number: the event is sent again */
  | 'badResultLine'
  /** output of a listener that already broke the protocol: discarded */
  | 'outputIgnored';

export interface ListenerTransition {
  readonly from: ListenerState;
  readonly on: ListenerInput;
  readonly to: ListenerState;
  /** one line for the generated doc */
  readonly why: string;
}

const row = (from: ListenerState, on: ListenerInput, to: ListenerState, why: string): ListenerTransition => ({ from, on, to, why });

/** Every move the protocol allows; a pair that is not here is an invariant violation. */
export const LISTENER_TRANSITIONS: readonly ListenerTransition[] = [
  ...LISTENER_STATES.map((s) => row(s, 'spawned', 'acknowledged', 'new process: it must say READY first')),
  row('acknowledged', 'readyToken', 'ready', 'it wrote READY\\n'),
  row('acknowledged', 'garbage', 'unknown', 'it wrote something other than READY\\n'),
  row('ready', 'spuriousOutput', 'unknown', 'it wrote while waiting for an event'),
  row('ready', 'eventSent', 'busy', 'an event was written to its stdin'),
  row('busy', 'sendFailed', 'ready', 'the write failed (it closed its stdin): the event goes back to the head of the queue and on to another listener'),
  row('busy', 'resultAccepted', 'acknowledged', 'RESULT 2\\nOK: the event is done'),
  row('busy', 'resultRejected', 'acknowledged', 'a result other than OK (FAIL): the event goes back to the head of the queue'),
  row('busy', 'badResultLine', 'unknown', 'a RESULT line without a length: the event goes back to the head of the queue'),
  row('unknown', 'outputIgnored', 'unknown', 'broke the protocol: no more events until it is restarted'),
];

/** The target of (state, input), or null when the table has no such row. */
export function listenerTransition(from: ListenerState, on: ListenerInput): ListenerTransition | null {
  return LISTENER_TRANSITIONS.find((t) => t.from === from && t.on === on) ?? null;
}
