// Old config vs new config: which groups and processes were added, changed or removed.
// supervisor reports (and, on `update`, restarts) whole groups; drover reports groups the same way for
// supervisorctl, and also the processes, so that only processes whose own config changed are restarted.
import type { Config, EventListenerSpec, GroupSpec, ProcessSpec } from './types.js';

export interface ProcessChange {
  readonly before: ProcessSpec;
  readonly after: ProcessSpec;
}

export interface ConfigDiff {
  readonly addedGroups: readonly string[];
  readonly changedGroups: readonly string[];
  readonly removedGroups: readonly string[];
  readonly addedProcesses: readonly ProcessSpec[];
  readonly changedProcesses: readonly ProcessChange[];
  readonly removedProcesses: readonly ProcessSpec[];
}

/** The key of a process across configs: "group:name". */
export function processKey(p: Pick<ProcessSpec, 'group' | 'name'>): string {
  return `${p.group}:${p.name}`;
}

/** Whether two process specs would run the same way (their position in the file does not count). */
export function sameProcess(a: ProcessSpec, b: ProcessSpec): boolean {
  return JSON.stringify({ ...a, source: null }) === JSON.stringify({ ...b, source: null });
}

/**
 * Whether `a` and `b` differ only in what is read when a process is to start or has ended — `depends_on`
 * (it only gates starts, docs/orchestration.md) and `essential` — so that the new spec applies to a running
 * process without a restart.
 */
export function onlyStartGatesDiffer(a: ProcessSpec, b: ProcessSpec): boolean {
  const rest = (p: ProcessSpec): string => JSON.stringify({ ...p, source: null, dependsOn: null, essential: null });
  return rest(a) === rest(b);
}

/** Compares the groups and processes of two configs. */
export function diffConfigs(before: Config, after: Config): ConfigDiff {
  const oldProcs = new Map(before.processes.map((p) => [processKey(p), p]));
  const newProcs = new Map(after.processes.map((p) => [processKey(p), p]));
  const addedProcesses = after.processes.filter((p) => !oldProcs.has(processKey(p)));
  const removedProcesses = before.processes.filter((p) => !newProcs.has(processKey(p)));
  const changedProcesses: ProcessChange[] = [];
  for (const p of after.processes) {
    const old = oldProcs.get(processKey(p));
    if (old && !sameProcess(old, p)) changedProcesses.push({ before: old, after: p });
  }
  const oldGroups = new Map(before.groups.map((g) => [g.name, g]));
  const newGroups = new Map(after.groups.map((g) => [g.name, g]));
  const touched = new Set([
    ...addedProcesses.map((p) => p.group),
    ...removedProcesses.map((p) => p.group),
    ...changedProcesses.map((c) => c.after.group),
  ]);
  const changedGroups = after.groups
    .filter((g) => oldGroups.has(g.name) && (touched.has(g.name) || !sameGroup(oldGroups.get(g.name) as GroupSpec, g)))
    .map((g) => g.name);
  return {
    addedGroups: after.groups.filter((g) => !oldGroups.has(g.name)).map((g) => g.name),
    changedGroups,
    removedGroups: before.groups.filter((g) => !newGroups.has(g.name)).map((g) => g.name),
    addedProcesses,
    changedProcesses,
    removedProcesses,
  };
}

/**
 * `diff` with the groups of `changedPools` (worker programs, "group:program", whose section changed) among
 * its changed groups: a pool is left out of the process diff (its processes are renumbered as it rolls),
 * but the group it belongs to differs all the same, as supervisor would report it.
 */
export function withChangedPools(diff: ConfigDiff, changedPools: readonly string[]): ConfigDiff {
  const groups = [...new Set(changedPools.map((key) => key.slice(0, key.indexOf(':'))))].filter((g) => !diff.changedGroups.includes(g) && !diff.addedGroups.includes(g));
  return groups.length === 0 ? diff : { ...diff, changedGroups: [...diff.changedGroups, ...groups] };
}

/** The pool settings of group `group` in `config`: its [eventlistener:x]'s, or null for a group of programs. */
export function listenerOf(config: Pick<Config, 'processes'>, group: string): EventListenerSpec | null {
  return config.processes.find((p) => p.group === group && p.eventListener !== null)?.eventListener ?? null;
}

// --- internal ---

function sameGroup(a: GroupSpec, b: GroupSpec): boolean {
  return a.priority === b.priority && JSON.stringify(a.programs) === JSON.stringify(b.programs);
}
