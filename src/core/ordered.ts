// Commands on several processes at once, in dependency order (docs/orchestration.md): starts go
// dependencies first, stops in levels, each after the programs that depend on it. Each process is still
// started or stopped by the one-process commands (commands.ts), reached through OneByOne.
import { steadyNowMs } from '../os/clock.js';
import type { Orchestration } from './orchestration.js';
import type { ProcessEntry, ProcessTable } from './table.js';
import type { CommandOutcome } from './types.js';

/** Who stops: an operator, a restart, or drover itself (an update stopping what it restarts or removes). */
export type StopBy = 'operator' | 'restart' | 'drover';

/** What the ordered commands use of the one-process commands. */
export interface OneByOne {
  readonly table: ProcessTable;
  readonly orch: Orchestration;
  /** stops that wait for the programs depending on them, by key, with the command's token; a start deletes its key */
  readonly delayedStops: Map<string, symbol>;
  /** `forUpdate`: an update's start, which does not pull a dependency stopped by hand */
  startOne(key: string, wait: boolean, forUpdate: boolean): Promise<CommandOutcome>;
  stopOne(key: string, wait: boolean, by: StopBy): Promise<CommandOutcome>;
  /** resolves once the process is in a stopped state */
  whenStopped(entry: ProcessEntry): Promise<CommandOutcome>;
}

/**
 * Starts several processes, each after those it depends on (docs/orchestration.md): `start all` or
 * `restart web db` then starts db itself, instead of finding it pulled in by web's start ("already
 * started"). The outcomes come in the order of `keys`.
 */
export function startInOrder(o: OneByOne, keys: readonly string[], wait: boolean, forUpdate = false): Promise<CommandOutcome[]> {
  const table = o.table;
  const entries = keys.map((k) => table.get(k)).filter((e) => e !== undefined);
  const rank = new Map(o.orch.startOrder(entries).map((e, i) => [e.key, i]));
  const order = keys.map((key, i) => ({ key, i })).sort((a, b) => (rank.get(a.key) ?? -1) - (rank.get(b.key) ?? -1) || a.i - b.i);
  const outcomes: Promise<CommandOutcome>[] = [];
  for (const { key, i } of order) outcomes[i] = settled(o.startOne(key, wait, forUpdate));
  return Promise.all(outcomes);
}

/**
 * Stops several processes, each after those of them that depend on it have stopped, as a graceful
 * shutdown does: `stop all` stops web before the db it depends on. The stops go in levels (stopLevels);
 * without `wait` those that must wait are left to run on, and their outcome says so. A start of a process
 * whose stop is still waiting calls that stop off: the later command wins, as it did when all stops began
 * at once.
 */
export function stopInOrder(o: OneByOne, keys: readonly string[], wait: boolean, by: StopBy): Promise<CommandOutcome[]> {
  return Promise.all(stopEachInOrder(o, keys, wait, by));
}

/**
 * stopInOrder's stops, one promise per key (in the order of `keys`), each settling when that stop does: an
 * update goes on with each process as soon as it has stopped. drover's own stops (`by` 'drover': an update
 * restarting or removing the process) are not called off by a start: that start waits for the update.
 */
export function stopEachInOrder(o: OneByOne, keys: readonly string[], wait: boolean, by: StopBy): Promise<CommandOutcome>[] {
  const table = o.table;
  const levels = o.orch.stopLevels(keys.map((k) => table.get(k)).filter((e) => e !== undefined));
  const top = Math.max(0, ...levels.values());
  if (top === 0) return keys.map((key) => settled(o.stopOne(key, wait, by)));
  const byLevel: string[][] = Array.from({ length: top + 1 }, () => []);
  for (const [key, level] of levels) byLevel[level]?.push(key);
  const token = Symbol('stop');
  const cancellable = by !== 'drover';
  /** each stop's outcome, as the command answers it */
  const answers = new Map<string, Promise<CommandOutcome>>();
  /** when each stop has ended: what the next level waits for */
  const done = new Map<string, Promise<unknown>>();
  let lower: Promise<unknown> = Promise.resolve();
  for (const [level, group] of byLevel.entries()) {
    for (const key of group) {
      if (level === 0) {
        const answer = o.stopOne(key, wait, by);
        const entry = table.get(key);
        answers.set(key, answer);
        done.set(key, wait || !entry ? answer : o.whenStopped(entry));
        continue;
      }
      if (cancellable) o.delayedStops.set(key, token);
      const later = lower.then((): Promise<CommandOutcome> | CommandOutcome => {
        if (cancellable && o.delayedStops.get(key) !== token) return { key, ok: false, code: 'E_ABNORMAL_TERMINATION', message: `${key} was not stopped: it was started again meanwhile` };
        if (cancellable) o.delayedStops.delete(key);
        return o.stopOne(key, true, by);
      });
      done.set(key, later);
      answers.set(key, wait ? later : Promise.resolve({ key, ok: true, message: 'stops once the programs that depend on it have stopped' }));
    }
    lower = Promise.all(group.map((key) => done.get(key)));
  }
  // in the order asked (a key given twice is answered twice); an unknown name is answered by stopOne
  return keys.map((key) => settled(answers.get(key) ?? o.stopOne(key, wait, by)));
}

/** An outcome with the time it settled (the API orders answers by it). */
export function settled(p: Promise<CommandOutcome>): Promise<CommandOutcome> {
  return p.then((o) => ({ ...o, settledAtMs: steadyNowMs() }));
}
