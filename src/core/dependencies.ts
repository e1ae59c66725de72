// Whether a process's `depends_on` holds, and if not, why: the verdict `Orchestration` acts on. Pure reading:
// it looks at the processes' states and at what the orchestration knows about them (who waits, who is being
// restarted, who was stopped by hand), and changes nothing.
import type { Dependency } from '../config/types.js';
import { isExpectedExit } from './policy.js';
import type { ProcessEntry } from './table.js';

/** Why a dependency does not hold: still on its way, or failed so that it will not hold by itself. */
export interface Unmet {
  readonly dep: Dependency;
  /** true when the dependency failed (FATAL, a job that failed) and stays so until someone acts */
  readonly blocked: boolean;
  /** blocked, and nothing drover does by itself will change that (no fatal_cooldown retry is coming) */
  readonly forGood?: boolean;
  readonly detail: string;
  /** for a dependency held back by its own (`b cannot start: …`): the failure at the bottom of the chain */
  readonly cause?: string;
}

/** What the verdict needs to know beyond the processes' own records. */
export interface DependencyView {
  /** the processes a `depends_on` name covers (a program's, or a group's), those being removed left out */
  membersOf(name: string): readonly ProcessEntry[];
  /** whether a start of this process waits for its own dependencies */
  isWaiting(entry: ProcessEntry): boolean;
  /** a command starts it again once it has stopped (a restart, a start that came while it went down) */
  isRestarting(entry: ProcessEntry): boolean;
  /** its last command was an operator's stop */
  isStoppedByHand(entry: ProcessEntry): boolean;
  /** the previous master (a USR2) still runs it: it is started once that master has gone */
  heldByPredecessor(entry: ProcessEntry): boolean;
}

/** A dependency's verdict, or the waiting processes whose own verdicts must be known first (`unmet` looks through them). */
type Verdict = Unmet | null | { readonly through: readonly ProcessEntry[] };

/** Whether one process meets a condition. A process with a ready check is RUNNING only once it passed. */
export function holds(m: ProcessEntry, dep: Dependency): boolean {
  if (dep.condition === 'completed') return m.record.state === 'exited' && isExpectedExit(m.spec, m.record.exitStatus);
  return m.record.state === 'running';
}

/**
 * The dependency of `entry` that does not hold, or null when all do; a failure is named before a wait. A
 * dependency that is itself waiting to start is looked through: what holds it back (a FATAL program further
 * down) holds `entry` back too. Iterative, each process looked at once: a chain of thousands does not
 * recurse thousands deep.
 */
export function unmet(view: DependencyView, entry: ProcessEntry): Unmet | null {
  // the verdicts of the waiting dependencies looked through so far, by key
  const known = new Map<string, Unmet | null>();
  const stack = [entry];
  // the processes whose waiting dependencies are being looked through: the path down from `entry`
  const expanding = new Set<string>();
  for (;;) {
    const e = stack[stack.length - 1] as ProcessEntry;
    const v = firstUnmet(view, e, known);
    if (v !== null && 'through' in v) {
      // all of a dependency's waiting members at once: a group of thousands is looked through in one pass
      let pushed = false;
      for (const m of v.through) {
        // a cycle brought in at run time: a member already on the path counts as waiting, not blocked
        if (m.key === e.key || expanding.has(m.key)) known.set(m.key, null);
        else {
          stack.push(m);
          pushed = true;
        }
      }
      if (pushed) expanding.add(e.key);
      continue;
    }
    stack.pop();
    expanding.delete(e.key);
    if (stack.length === 0) return v;
    known.set(e.key, v);
  }
}

/** `unmet` for one process, given the verdicts `known` of the waiting dependencies it looks through. */
function firstUnmet(view: DependencyView, entry: ProcessEntry, known: ReadonlyMap<string, Unmet | null>): Verdict {
  let waitingFor: Unmet | null = null;
  for (const dep of entry.spec.dependsOn) {
    const u = check(view, dep, known);
    if (u !== null && 'through' in u) return u;
    if (u?.blocked) return u; // a failure explains more than a wait
    waitingFor ??= u;
  }
  return waitingFor;
}

/**
 * Whether `dep` holds for every process it names; if not, why (or which waiting member to look through
 * first). Every member is looked at: in a group or a `numprocs` program, a FATAL second process blocks the
 * dependent even while the first is still starting.
 */
function check(view: DependencyView, dep: Dependency, known: ReadonlyMap<string, Unmet | null>): Verdict {
  const members = view.membersOf(dep.name);
  if (members.length === 0) return { dep, blocked: true, forGood: true, detail: `${dep.name} is not in the active config` };
  const through: ProcessEntry[] = [];
  let waiting: Unmet | null = null;
  for (const m of members) {
    if (holds(m, dep)) continue;
    const v = memberVerdict(view, m, dep, known);
    if (v === 'through') through.push(m);
    else if (v.blocked) return v;
    else waiting ??= v;
  }
  return through.length > 0 ? { through } : waiting;
}

/** Why one member `m` of `dep` does not hold; 'through': it waits itself, and its own verdict must be known first. */
function memberVerdict(view: DependencyView, m: ProcessEntry, dep: Dependency, known: ReadonlyMap<string, Unmet | null>): Unmet | 'through' {
  const r = m.record;
  const name = m.spec.name;
  if (r.state === 'fatal') return { dep, blocked: true, forGood: m.spec.fatalCooldownSecs === null, detail: `${name} is FATAL${r.spawnError ? ` (${r.spawnError})` : ''}` };
  if (r.state === 'exited') {
    const how = r.exitSignal !== null ? `SIG${r.exitSignal}` : `exit ${r.exitStatus ?? '?'}`;
    const expected = isExpectedExit(m.spec, r.exitStatus);
    // a job that completed satisfies only :completed; for :started it ended and is not running
    return { dep, blocked: true, forGood: true, detail: expected ? `${name} has ended (${how})` : `${name} failed (${how})` };
  }
  // a restart, or a start that came while it was on its way down, starts it again once it has stopped
  if ((r.state === 'stopping' || r.state === 'stopped') && view.isRestarting(m)) return { dep, blocked: false, detail: `${name} is restarting` };
  // an operator's stop holds dependents back from the moment it is asked for, not only once it is done:
  // the answer to a dependent's start must not depend on how long the dependency takes to stop
  if (r.state === 'stopping' && view.isStoppedByHand(m)) return { dep, blocked: true, forGood: false, detail: `${name} is stopping (stopped by hand)` };
  if (view.heldByPredecessor(m)) return { dep, blocked: false, detail: `${name} is still run by the previous master` }; // started once it has gone
  // stopped and not itself waiting to start: nothing will start it but a command (it was stopped by hand,
  // or not pulled because it was): a dependent's start is blocked, not on its way (a `drover start` that
  // pulled it waited for ever once it was stopped by hand)
  if (r.state === 'stopped' && !view.isWaiting(m)) return { dep, blocked: true, forGood: false, detail: `${name} is stopped` };
  if (r.state === 'stopped') {
    // itself waiting to start: what holds it back holds this one back too, for good if that is for good
    // (an essential program at the top of the chain ends drover, a waiting `drover start` is answered)
    if (!known.has(m.key)) return 'through';
    const inner = known.get(m.key);
    if (inner?.blocked) {
      const cause = inner.cause ?? inner.detail; // the failure at the bottom: details do not nest down a long chain
      return { dep, blocked: true, forGood: inner.forGood ?? false, detail: `${name} cannot start: ${cause}`, cause };
    }
  }
  return { dep, blocked: false, detail: `${name} is ${r.state}` };
}
