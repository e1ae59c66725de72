// The `depends_on` verdict (core/dependencies.ts), on process entries built by hand: a failure is named before
// a wait, across the members of a group as across a process's dependencies; a chain of waiting processes is
// looked through; a cycle counts as waiting; and a group of thousands of waiting members is looked through in
// one pass (each member's own state read a bounded number of times), not once per member.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Dependency } from '../../../src/config/types.js';
import { unmet, type DependencyView } from '../../../src/core/dependencies.js';
import type { State } from '../../../src/core/states.js';
import type { ProcessEntry } from '../../../src/core/table.js';

interface Fake {
  readonly name: string;
  readonly program?: string;
  readonly state: State;
  readonly dependsOn?: readonly Dependency[];
  readonly spawnError?: string;
}

function entry(f: Fake): ProcessEntry {
  const program = f.program ?? f.name;
  return {
    key: `${program}:${f.name}`,
    spec: { name: f.name, programName: program, group: program, dependsOn: f.dependsOn ?? [], fatalCooldownSecs: null, exitCodes: [0] },
    record: { state: f.state, exitStatus: null, exitSignal: null, spawnError: f.spawnError ?? null },
  } as unknown as ProcessEntry;
}

/** A view over `entries`, all stopped ones waiting to start; counts how often a member's waiting is asked. */
function viewOf(entries: readonly ProcessEntry[]): DependencyView & { asked: number } {
  const byName = new Map<string, ProcessEntry[]>();
  for (const e of entries) byName.set(e.spec.programName, [...(byName.get(e.spec.programName) ?? []), e]);
  const view = {
    asked: 0,
    membersOf: (name: string) => byName.get(name) ?? [],
    isWaiting: (e: ProcessEntry) => {
      view.asked++;
      return e.record.state === 'stopped';
    },
    isRestarting: () => false,
    isStoppedByHand: () => false,
    heldByPredecessor: () => false,
  };
  return view;
}

const on = (name: string): Dependency => ({ name, condition: 'started' });

test('a FATAL member of a group blocks, though a member before it is still starting', () => {
  const db0 = entry({ name: 'db_0', program: 'db', state: 'starting' });
  const db1 = entry({ name: 'db_1', program: 'db', state: 'fatal', spawnError: 'no such file' });
  const web = entry({ name: 'web', state: 'stopped', dependsOn: [on('db')] });
  const u = unmet(viewOf([db0, db1, web]), web);
  assert.equal(u?.blocked, true);
  assert.equal(u?.detail, 'db_1 is FATAL (no such file)');
});

test('members that are only on their way: a wait, naming the first', () => {
  const db0 = entry({ name: 'db_0', program: 'db', state: 'starting' });
  const db1 = entry({ name: 'db_1', program: 'db', state: 'backoff' });
  const web = entry({ name: 'web', state: 'stopped', dependsOn: [on('db')] });
  const u = unmet(viewOf([db0, db1, web]), web);
  assert.equal(u?.blocked, false);
  assert.equal(u?.detail, 'db_0 is starting');
});

test('a chain of waiting processes is looked through to the failure at its bottom', () => {
  const c = entry({ name: 'c', state: 'fatal' });
  const b = entry({ name: 'b', state: 'stopped', dependsOn: [on('c')] });
  const a = entry({ name: 'a', state: 'stopped', dependsOn: [on('b')] });
  const u = unmet(viewOf([a, b, c]), a);
  assert.equal(u?.blocked, true);
  assert.equal(u?.detail, 'b cannot start: c is FATAL');
});

test('a cycle brought in at run time counts as waiting, not blocked, and ends', () => {
  const a = entry({ name: 'a', state: 'stopped', dependsOn: [on('b')] });
  const b = entry({ name: 'b', state: 'stopped', dependsOn: [on('a')] });
  const u = unmet(viewOf([a, b]), a);
  assert.equal(u?.blocked, false);
  assert.equal(u?.detail, 'b is stopped');
});

test('a group of 2000 waiting members is looked through in one pass, and its one failure found', () => {
  const n = 2000;
  const db = entry({ name: 'db', state: 'starting' });
  const members = Array.from({ length: n }, (_, i) => entry({ name: `w_${i}`, program: 'w', state: 'stopped', dependsOn: [on('db')] }));
  // the last member waits for a FATAL program instead: found however deep in the group it sits
  const broken = entry({ name: 'broken', state: 'fatal' });
  const last = entry({ name: `w_${n}`, program: 'w', state: 'stopped', dependsOn: [on('broken')] });
  const top = entry({ name: 'top', state: 'stopped', dependsOn: [on('w')] });
  const view = viewOf([db, ...members, last, broken, top]);
  const u = unmet(view, top);
  assert.equal(u?.blocked, true);
  assert.equal(u?.detail, `w_${n} cannot start: broken is FATAL`);
  // each member's waiting is read a few times (once to find it waits, once with its verdict known), not n times
  assert.ok(view.asked <= 4 * (n + 1), `isWaiting asked ${view.asked} times for ${n + 1} members`);
});
