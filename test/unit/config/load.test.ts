import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigProblems, findConfigFile, loadConfig } from '../../../src/config/load.js';

// loadConfig reads files, but nothing here spawns or signals: it is the pure resolution step.
const dir = mkdtempSync(join(tmpdir(), 'drover-load-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function load(name: string, text: string, env: Record<string, string> = {}) {
  const file = join(dir, name);
  writeFileSync(file, text);
  return loadConfig(file, { env, hostname: 'box' });
}

test('numprocs expands names and numbers per process, sorted as supervisor sorts', () => {
  const c = load('a.ini', '[program:w]\ncommand=run %(process_num)d of %(numprocs)d on %(host_node_name)s\nnumprocs=11\nprocess_name=w%(process_num)d\n');
  assert.deepEqual(c.processes.map((p) => p.name).slice(0, 4), ['w0', 'w1', 'w10', 'w2']);
  assert.equal(c.processes[0]?.command, 'run 0 of 11 on box');
  assert.deepEqual(c.processes[0]?.argv, ['run', '0', 'of', '11', 'on', 'box']);
});

test('drover additions have defaults that keep supervisor behaviour', () => {
  const c = load('b.ini', '[drover]\n[program:x]\ncommand=/bin/true\n');
  const p = c.processes[0];
  assert.equal(p?.backoff, 'linear');
  assert.equal(p?.backoffMaxSecs, 60);
  assert.equal(p?.fatalCooldownSecs, null);
  assert.equal(p?.pdeathsig, true);
  assert.equal(c.supervisord.runtimeDir, join(dir, '.drover'));
});

test('drover additions parse durations', () => {
  const c = load('c.ini', '[program:x]\ncommand=/bin/true\nbackoff=exponential\nbackoff_max=5m\nfatal_cooldown=500ms\npdeathsig=false\npidfile=/run/x.pid\n');
  const p = c.processes[0];
  assert.equal(p?.backoff, 'exponential');
  assert.equal(p?.backoffMaxSecs, 300);
  assert.equal(p?.fatalCooldownSecs, 0.5);
  assert.equal(p?.pdeathsig, false);
  assert.equal(p?.pidfile, '/run/x.pid');
});

test('journal_fsync: false by default, a boolean when set, a warning without a journal', () => {
  assert.equal(load('j1.ini', '[drover]\njournal = q.journal\n').supervisord.journalFsync, false);
  const on = load('j2.ini', '[supervisord]\njournal = q.journal\njournal_fsync = true\n');
  assert.equal(on.supervisord.journalFsync, true);
  assert.equal(on.supervisord.journal, join(dir, 'q.journal'));
  assert.deepEqual(on.warnings, []);
  assert.equal(load('j3.ini', '[drover]\njournal = q.journal\njournal_fsync = off\n').supervisord.journalFsync, false);
  try {
    load('j4.ini', '[drover]\njournal = q.journal\njournal_fsync = always\n');
    assert.fail('expected ConfigProblems');
  } catch (e) {
    assert.ok(e instanceof ConfigProblems);
    assert.deepEqual(e.problems.map((p) => [p.section, p.key]), [['drover', 'journal_fsync']]);
  }
  const alone = load('j5.ini', '[drover]\njournal_fsync = true\n');
  assert.equal(alone.supervisord.journal, null);
  assert.match(alone.warnings.map((w) => `${w.key}: ${w.message}`).join('\n'), /^journal_fsync: has no effect without journal/);
});

test('all problems are collected', () => {
  try {
    load('d.ini', '[program:x]\ncommand=/bin/true\npriority=a\nautostart=b\n');
    assert.fail('expected ConfigProblems');
  } catch (e) {
    assert.ok(e instanceof ConfigProblems);
    assert.deepEqual(e.problems.map((p) => p.key), ['priority', 'autostart']);
  }
});

test('unknown keys warn with the nearest known key', () => {
  const c = load('e.ini', '[program:x]\ncommand=/bin/true\nautostrat=true\n');
  assert.match(c.warnings[0]?.message ?? '', /did you mean "autostart"/);
});

test('eventlistener and fcgi-program are read and not run, with a warning', () => {
  const c = load('f.ini', '[eventlistener:l]\ncommand=/bin/true\nevents=TICK_5\n[program:x]\ncommand=/bin/true\n');
  assert.deepEqual(c.processes.map((p) => p.name), ['x']);
  assert.ok(c.warnings.some((w) => /does not run \[eventlistener/.test(w.message)));
});

test('findConfigFile looks for drover.ini, drover.conf, supervisord.conf in that order', () => {
  const d = mkdtempSync(join(dir, 'find-'));
  assert.equal(findConfigFile(d), null);
  writeFileSync(join(d, 'supervisord.conf'), '');
  assert.equal(findConfigFile(d), join(d, 'supervisord.conf'));
  writeFileSync(join(d, 'drover.conf'), '');
  assert.equal(findConfigFile(d), join(d, 'drover.conf'));
  writeFileSync(join(d, 'drover.ini'), '');
  assert.equal(findConfigFile(d), join(d, 'drover.ini'));
});
