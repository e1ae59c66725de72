// What the supervisor lends the collaborators it is built from (commands, launcher, follower): the table,
// the logger, the queue and the reducer. Internal to core.
import type { Logger } from '../logs/logger.js';
import type { PredecessorHold } from './predecessor.js';
import type { ProcessEvent } from './states.js';
import type { ProcessEntry, ProcessTable } from './table.js';
import type { GroupChange, Mood, SupervisorEvent } from './types.js';

export interface CoreHost {
  readonly table: ProcessTable;
  readonly logger: Logger;
  /** running until a shutdown begins */
  readonly mood: Mood;
  /** after a USR2: the processes the previous master still stops (not to be started meanwhile) */
  readonly predecessor: Pick<PredecessorHold, 'holds'>;
  /** Pushes an event on the one queue (from listeners, timers, callbacks). */
  push(event: SupervisorEvent): void;
  /** Feeds one event to the reducer for `entry` and runs what it asks for. */
  dispatch(entry: ProcessEntry, event: ProcessEvent): void;
  /** Tells listeners that a group became active (its processes registered), was removed, or was updated. */
  groupChanged(name: string, change: GroupChange): void;
}
