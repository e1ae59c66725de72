// Config diff: groups and processes added, changed, removed; a process's source position does not count.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { diffConfigs, withChangedPools } from '../../../src/config/diff.js';
import { loadConfig } from '../../../src/config/load.js';

function load(text: string): ReturnType<typeof loadConfig> {
  const dir = mkdtempSync(join(tmpdir(), 'drover-diff-'));
  const file = join(dir, 'supervisord.conf');
  writeFileSync(file, text);
  return loadConfig(file, { env: {}, hostname: 'h' });
}

const base = `[group:g]
programs = a,b

[program:a]
command = /bin/true

[program:b]
command = /bin/true

[program:c]
command = /bin/true
`;

test('no change: nothing added, changed or removed, even when sections move in the file', () => {
  const moved = `\n\n; moved down\n${base}`;
  const d = diffConfigs(load(base), load(moved));
  assert.deepEqual([d.addedGroups, d.changedGroups, d.removedGroups], [[], [], []]);
  assert.equal(d.changedProcesses.length, 0);
});

test('one changed program reports its process and its group, not its siblings', () => {
  const d = diffConfigs(load(base), load(base.replace('[program:b]\ncommand = /bin/true', '[program:b]\ncommand = /bin/false')));
  assert.deepEqual(d.changedGroups, ['g']);
  assert.deepEqual(d.changedProcesses.map((c) => `${c.after.group}:${c.after.name}`), ['g:b']);
  assert.equal(d.addedProcesses.length + d.removedProcesses.length, 0);
});

test('added and removed programs and groups', () => {
  const next = base.replace('[program:c]\ncommand = /bin/true\n', '[program:d]\ncommand = /bin/true\nnumprocs = 2\nprocess_name = d_%(process_num)d\n');
  const d = diffConfigs(load(base), load(next));
  assert.deepEqual(d.addedGroups, ['d']);
  assert.deepEqual(d.removedGroups, ['c']);
  assert.deepEqual(d.addedProcesses.map((p) => p.name), ['d_0', 'd_1']);
  assert.deepEqual(d.removedProcesses.map((p) => p.name), ['c']);
});

test('a group priority change is a changed group with no changed process', () => {
  const d = diffConfigs(load(base), load(base.replace('programs = a,b', 'programs = a,b\npriority = 5')));
  assert.deepEqual(d.changedGroups, ['g']);
  assert.equal(d.changedProcesses.length, 0);
});

test('a changed worker pool makes its group a changed group, once, and leaves the processes and an added group as they are', () => {
  const d = diffConfigs(load(base), load(base.replace('[program:c]\ncommand = /bin/true\n', '[program:d]\ncommand = /bin/true\n')));
  const w = withChangedPools(d, ['web:web', 'web:api', 'd:d']);
  assert.deepEqual(w.changedGroups, ['web']);
  assert.deepEqual(w.addedGroups, d.addedGroups);
  assert.equal(w.changedProcesses, d.changedProcesses);
  assert.equal(withChangedPools(d, []), d);
});
