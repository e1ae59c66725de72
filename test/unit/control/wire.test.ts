// The JSON API's wire types (src/control/wire.ts): the examples in docs/api.md pass the checks the CLI
// reads answers with, and an answer missing what the CLI relies on is refused with the field named.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  AvailJson,
  DeadLettersJson,
  InfoJson,
  LogEventJson,
  OutcomeJson,
  ProcessesJson,
  ProcessJson,
  QueuesJson,
  ReloadJson,
  RereadJson,
  ResultsJson,
  SnapshotJson,
  StateEventJson,
  StreamLostJson,
} from '../../../src/control/wire.js';
import { repoRoot } from '../../helpers/paths.js';

const apiDoc = readFileSync(join(repoRoot, 'docs', 'api.md'), 'utf8');

/** The example process object of docs/api.md ("The process object"). */
function documentedProcess(): Record<string, unknown> {
  const m = /### The process object\s+```json\n([\s\S]*?)```/.exec(apiDoc);
  assert.ok(m, 'docs/api.md has a process object example');
  return JSON.parse(m[1] as string) as Record<string, unknown>;
}

test('the process object and the state event that docs/api.md shows are what the CLI reads', () => {
  const p = documentedProcess();
  assert.equal(ProcessJson.problem(p), null);
  assert.equal(ProcessesJson.problem({ ok: true, processes: [p] }), null);
  assert.equal(SnapshotJson.problem([p, p]), null);
  const state = /^event: state\ndata: (.*)$/m.exec(apiDoc);
  assert.ok(state, 'docs/api.md has a state event example');
  assert.equal(StateEventJson.problem(JSON.parse(state[1] as string)), null);
  const lost = /^ {2}event: lost\n {2}data: (.*)$/m.exec(apiDoc);
  assert.ok(lost, 'docs/api.md has a lost event example');
  assert.equal(StreamLostJson.problem(JSON.parse(lost[1] as string)), null);
});

test('a process with a state that is not one of the eight, or a missing field, is refused by name', () => {
  const p = documentedProcess();
  assert.equal(ProcessJson.problem({ ...p, state: 'RUNNING' }), 'state: expected "stopped" or "starting" or "running" or "backoff" or "stopping" or "exited" or "fatal" or "unknown", got "RUNNING"');
  const { program: _dropped, ...withoutProgram } = p;
  assert.equal(ProcessesJson.problem({ ok: true, processes: [p, withoutProgram] }), 'processes[1].program: expected a string, got nothing');
  assert.equal(ProcessesJson.problem({ ok: false, processes: [] }), 'ok: expected true, got false');
});

test('outcomes: ok ones carry no code; a failed one carries a code, also one a newer drover added', () => {
  assert.equal(OutcomeJson.problem({ key: 'web:web_00', ok: true }), null);
  assert.equal(OutcomeJson.problem({ key: 'web:web_00', ok: false, code: 'E_NOT_RUNNING', message: 'web:web_00 is stopped' }), null);
  // read as any string: a CLI shows a code it does not know rather than refusing the whole answer
  assert.equal(OutcomeJson.problem({ key: 'a', ok: false, code: 'E_NEWER' }), null);
  assert.equal(OutcomeJson.problem({ key: 'a', ok: false, code: 7 }), 'code: expected a string, got 7');
  assert.equal(ResultsJson.problem({ ok: false, results: [{ key: '*', ok: false, code: 'E_SHUTTING_DOWN', message: 'drover is shutting down' }] }), null);
  assert.equal(ResultsJson.problem({ ok: true }), 'results: expected a list, got nothing');
});

test('reread and update answers: the config diff, and for update the outcomes and the pools rolled', () => {
  const diff = { added: ['new'], changed: [], removed: ['old'], processes: { added: ['new:new'], changed: [], removed: ['old:old'] } };
  assert.equal(RereadJson.problem({ ok: true, ...diff }), null);
  assert.equal(ReloadJson.problem({ ok: true, ...diff, rolled: ['web'], results: [{ key: 'new:new', ok: true, message: 'added' }] }), null);
  assert.equal(ReloadJson.problem({ ok: true, ...diff, results: [] }), 'rolled: expected a list, got nothing');
  // the pools kept on their old workers and those whose section changed; both absent from an older drover
  const kept = { key: 'web:web', ok: false, code: 'E_KEPT_OLD_WORKERS', message: 'kept the old workers: the new ones did not get ready' };
  assert.equal(ReloadJson.problem({ ok: false, ...diff, rolled: [], kept: ['web:web'], changed_pools: ['web:web'], results: [kept] }), null);
  assert.equal(ReloadJson.problem({ ok: false, ...diff, rolled: [], kept: 'web:web', results: [kept] }), 'kept: expected a list, got "web:web"');
  assert.equal(RereadJson.problem({ ok: true, ...diff, processes: { added: [], changed: [] } }), 'processes.removed: expected a list, got nothing');
});

test('info, avail, log events and dead letters', () => {
  const info = { ok: true, pid: 4242, version: '0.1.0', identification: 'drover', state: 'running', config_file: '/etc/drover.ini' };
  assert.equal(InfoJson.problem(info), null);
  assert.equal(InfoJson.problem({ ...info, state: 'RUNNING' }), 'state: expected "running" or "shuttingDown" or "stopped", got "RUNNING"');
  assert.equal(AvailJson.problem({ ok: true, groups: [{ name: 'web', active: true, priority: 999 }], available: [] }), null);
  assert.equal(AvailJson.problem({ ok: true, groups: [{ name: 'web', active: 'yes', priority: 999 }], available: [] }), 'groups[0].active: expected true or false, got "yes"');
  assert.equal(LogEventJson.problem({ name: 'web:web_00', stream: 'stdout', data: 'hello\n' }), null);
  assert.equal(LogEventJson.problem({ name: 'web:web_00', stream: 'stdin', data: '' }), 'stream: expected "stdout" or "stderr", got "stdin"');
  const dead = { id: 3, task: { to: 'a@example.com' }, priority: 0, attempts: 5, reason: 'nacked', error: 'smtp down', dead_at: '2026-01-01T10:00:00.000Z' };
  assert.equal(DeadLettersJson.problem({ ok: true, queue: 'emails', tasks: [dead, { ...dead, task: null, error: null }] }), null);
  assert.equal(DeadLettersJson.problem({ ok: true, queue: 'emails', tasks: [{ ...dead, task: undefined }] }), 'tasks[0].task: expected a JSON value, got nothing');
});

test('queue stats: the journal field may be absent (an older drover), null (no journal) or its health', () => {
  const queues = [{ name: 'jobs', ready: 1, delayed: 0, leased: 0, dead: 0, waiting: 0, pushed: 1, acked: 0, nacked: 0, lost: 0 }];
  const failing = { file: '/var/lib/drover/q.journal', degraded: true, error: 'ENOSPC: no space left on device, write', since: '2026-12-05T10:00:00.000Z' };
  assert.equal(QueuesJson.problem({ ok: true, queues }), null);
  assert.equal(QueuesJson.problem({ ok: true, queues, journal: null }), null);
  assert.equal(QueuesJson.problem({ ok: true, queues, journal: failing }), null);
  assert.equal(QueuesJson.problem({ ok: true, queues, journal: { ...failing, degraded: false, error: null, since: null } }), null);
  assert.match(QueuesJson.problem({ ok: true, queues, journal: { ...failing, degraded: 'yes' } }) ?? '', /^journal\.degraded: /);
});
