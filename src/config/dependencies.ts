// `depends_on` across the whole config: every name must be a program or a group, `:ready` needs a ready check
// on every program it names, a `:completed` job must be able to stay exited (and is warned about when it
// would rerun after a failure), and the programs must not depend on each other in a circle. Pure: load.ts
// turns each problem into FILE:LINE with the position of the key.
import { nearestKey } from './nearest.js';
import type { GroupSpec, ProcessSpec } from './types.js';

export interface DependencyProblem {
  /** the program whose depends_on is at fault */
  readonly program: string;
  readonly severity: 'error' | 'warning';
  readonly message: string;
  readonly got?: string;
  readonly expected?: string;
  /** where the fix goes when it is not the dependent's depends_on: a key of another program (a warning only) */
  readonly at?: { readonly program: string; readonly key: string };
}

/**
 * Every problem in the programs' depends_on, in program order. `declared`: every program and group name the
 * file declares, also those whose section had errors of its own (they are not reported again here).
 */
export function dependencyProblems(processes: readonly ProcessSpec[], groups: readonly GroupSpec[], declared: ReadonlySet<string> = new Set()): DependencyProblem[] {
  const programs = new Map<string, ProcessSpec>();
  /** program and group names → the programs they stand for, built once (configs of thousands of programs) */
  const named = new Map<string, Set<string>>();
  const add = (name: string, program: string): void => {
    let set = named.get(name);
    if (!set) named.set(name, (set = new Set()));
    set.add(program);
  };
  for (const p of processes) {
    if (!programs.has(p.programName)) programs.set(p.programName, p);
    add(p.programName, p.programName);
    add(p.group, p.programName);
  }
  const targets = (name: string): string[] => [...(named.get(name) ?? [])];
  const names = new Set([...programs.keys(), ...groups.map((g) => g.name), ...declared]);
  const out: DependencyProblem[] = [];
  const edges = new Map<string, string[]>();
  for (const [program, spec] of programs) {
    const next: string[] = [];
    for (const dep of spec.dependsOn) {
      const shown = `${dep.name}:${dep.condition}`;
      if (!names.has(dep.name)) {
        const near = nearestKey(dep.name, names);
        out.push({ program, severity: 'error', message: 'names no program or group', got: dep.name, expected: near ? `a program or group name (did you mean ${near}?)` : `one of: ${[...names].join(', ')}` });
        continue;
      }
      for (const t of targets(dep.name)) {
        const target = programs.get(t) as ProcessSpec;
        if (dep.condition === 'ready' && target.readiness !== 'reported') {
          out.push({ program, severity: 'error', message: `${shown} can never hold: ${t} has no ready check`, got: shown, expected: `${dep.name}:started, or ready = … in [program:${t}]` });
        }
        if (dep.condition === 'completed' && target.autorestart === 'true') {
          out.push({ program, severity: 'error', message: `${shown} can never hold: ${t} has autorestart = true, so it is started again after every exit`, got: shown, expected: `autorestart = false (or unexpected) in [program:${t}]` });
        }
        if (dep.condition === 'completed' && target.autorestart === 'unexpected') {
          // a failed job is EXITED, and `unexpected` starts it again at once (no backoff: it did start), so the
          // condition neither holds nor fails: its dependents wait for good, with no word of the failure
          out.push({ program: t, severity: 'warning', at: { program: t, key: 'autorestart' }, message: `autorestart = unexpected on a job others wait for (${shown}): it runs again at once after every exit with a code not in its exitcodes, and its dependents wait while it does, never told it failed; set autorestart = false in [program:${t}] for a job others wait on` });
        }
        if (dep.condition === 'completed' && target.readiness === 'startsecs' && target.startSecs > 0) {
          out.push({ program, severity: 'warning', message: `${t} runs as a job (${shown}) but has startsecs = ${target.startSecs}: a job that ends sooner counts as a failed start (BACKOFF, then FATAL); set startsecs = 0 in [program:${t}]` });
        }
        next.push(t);
      }
    }
    edges.set(program, next);
  }
  for (const cycle of findCycles(edges)) {
    const first = cycle[0] as string;
    out.push({ program: first, severity: 'error', message: `a cycle: ${[...cycle, first].join(' → ')}`, got: programs.get(first)?.dependsOn.map((d) => d.name).join(', ') ?? '', expected: 'dependencies without a cycle' });
  }
  return out;
}

// --- internal ---

/** Each elementary cycle found by a depth-first walk, once (as the walk meets it). */
function findCycles(edges: ReadonlyMap<string, readonly string[]>): string[][] {
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const cycles: string[][] = [];
  // iterative, so a chain of thousands of programs cannot overflow the stack
  for (const root of edges.keys()) {
    if (state.has(root)) continue;
    const stack: { node: string; next: number }[] = [{ node: root, next: 0 }];
    state.set(root, 'open');
    path.push(root);
    while (stack.length > 0) {
      const top = stack[stack.length - 1] as { node: string; next: number };
      const succ = edges.get(top.node) ?? [];
      if (top.next < succ.length) {
        const n = succ[top.next++] as string;
        const s = state.get(n);
        if (s === 'open') cycles.push(path.slice(path.indexOf(n)));
        else if (s === undefined) {
          state.set(n, 'open');
          path.push(n);
          stack.push({ node: n, next: 0 });
        }
      } else {
        state.set(top.node, 'done');
        path.pop();
        stack.pop();
      }
    }
  }
  return cycles;
}
