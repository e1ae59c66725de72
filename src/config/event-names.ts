// supervisor's event types (supervisor/events.py EventTypes): each name with its parent in the hierarchy.
// An abstract name (EVENT, PROCESS_STATE, …) subscribes a listener to every type below it. Read by the
// config (`events =` of [eventlistener:x]) and by the event bus (src/events/), which raises the concrete ones.

/** Every event type name, with its parent (null for EVENT, the root) and whether it is only a subscription name. */
export const EVENT_TYPES = {
  EVENT: { parent: null, abstract: true },
  PROCESS_STATE: { parent: 'EVENT', abstract: true },
  PROCESS_STATE_STOPPED: { parent: 'PROCESS_STATE', abstract: false },
  PROCESS_STATE_EXITED: { parent: 'PROCESS_STATE', abstract: false },
  PROCESS_STATE_STARTING: { parent: 'PROCESS_STATE', abstract: false },
  PROCESS_STATE_STOPPING: { parent: 'PROCESS_STATE', abstract: false },
  PROCESS_STATE_BACKOFF: { parent: 'PROCESS_STATE', abstract: false },
  PROCESS_STATE_FATAL: { parent: 'PROCESS_STATE', abstract: false },
  PROCESS_STATE_RUNNING: { parent: 'PROCESS_STATE', abstract: false },
  PROCESS_STATE_UNKNOWN: { parent: 'PROCESS_STATE', abstract: false },
  PROCESS_COMMUNICATION: { parent: 'EVENT', abstract: true },
  PROCESS_COMMUNICATION_STDOUT: { parent: 'PROCESS_COMMUNICATION', abstract: false },
  PROCESS_COMMUNICATION_STDERR: { parent: 'PROCESS_COMMUNICATION', abstract: false },
  PROCESS_LOG: { parent: 'EVENT', abstract: true },
  PROCESS_LOG_STDOUT: { parent: 'PROCESS_LOG', abstract: false },
  PROCESS_LOG_STDERR: { parent: 'PROCESS_LOG', abstract: false },
  REMOTE_COMMUNICATION: { parent: 'EVENT', abstract: false },
  SUPERVISOR_STATE_CHANGE: { parent: 'EVENT', abstract: true },
  SUPERVISOR_STATE_CHANGE_RUNNING: { parent: 'SUPERVISOR_STATE_CHANGE', abstract: false },
  SUPERVISOR_STATE_CHANGE_STOPPING: { parent: 'SUPERVISOR_STATE_CHANGE', abstract: false },
  TICK: { parent: 'EVENT', abstract: true },
  TICK_5: { parent: 'TICK', abstract: false },
  TICK_60: { parent: 'TICK', abstract: false },
  TICK_3600: { parent: 'TICK', abstract: false },
  PROCESS_GROUP: { parent: 'EVENT', abstract: true },
  PROCESS_GROUP_ADDED: { parent: 'PROCESS_GROUP', abstract: false },
  PROCESS_GROUP_REMOVED: { parent: 'PROCESS_GROUP', abstract: false },
} as const satisfies Record<string, { parent: string | null; abstract: boolean }>;

export type EventTypeName = keyof typeof EVENT_TYPES;

/** The types an event is raised as: concrete ones only. */
export type ConcreteEventType = { [K in EventTypeName]: (typeof EVENT_TYPES)[K]['abstract'] extends false ? K : never }[EventTypeName];

/** Whether `name` is one of supervisor's event type names (upper-case). */
export function isEventTypeName(name: string): name is EventTypeName {
  return Object.hasOwn(EVENT_TYPES, name);
}

/** Whether an event of type `type` is delivered to a subscription to `subscribed` (the type itself or an ancestor). */
export function isSubtypeOf(type: EventTypeName, subscribed: EventTypeName): boolean {
  for (let t: EventTypeName | null = type; t !== null; t = EVENT_TYPES[t].parent) if (t === subscribed) return true;
  return false;
}
