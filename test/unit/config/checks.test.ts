// The orchestration keys' values: ready/healthcheck checks, depends_on lists, and the cross-program
// depends_on problems (unknown names, impossible conditions, cycles) found before anything starts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dependencyList, describeCheck, healthCheck, readyCheck } from '../../../src/config/checks.js';
import { ValueProblem } from '../../../src/config/datatypes.js';
import { dependencyProblems } from '../../../src/config/dependencies.js';
import type { GroupSpec, ProcessSpec } from '../../../src/config/types.js';

test('ready checks: each kind parses and prints back as written', () => {
  assert.deepEqual(readyCheck('tcp://127.0.0.1:5432'), { type: 'tcp', host: '127.0.0.1', port: 5432 });
  assert.deepEqual(readyCheck('tcp://[::1]:6379'), { type: 'tcp', host: '::1', port: 6379 });
  assert.deepEqual(readyCheck('http://localhost:8080/healthz'), { type: 'http', url: 'http://localhost:8080/healthz', status: null });
  assert.deepEqual(readyCheck('https://127.0.0.1/ status=204'), { type: 'http', url: 'https://127.0.0.1/', status: 204 });
  assert.deepEqual(readyCheck("exec:pg_isready -h '127.0.0.1'"), { type: 'exec', command: "pg_isready -h '127.0.0.1'", argv: ['pg_isready', '-h', '127.0.0.1'] });
  assert.deepEqual(readyCheck('log:listening on :80'), { type: 'log', text: 'listening on :80' });
  assert.deepEqual(readyCheck(' notify '), { type: 'notify' });
  for (const raw of ['tcp://[::1]:6379', 'https://127.0.0.1/ status=204', 'exec:true', 'log:up', 'notify']) assert.equal(describeCheck(readyCheck(raw)), raw);
});

test('bad checks say what was expected', () => {
  for (const raw of ['tcp://host', 'tcp://h:0', 'tcp://h:1/path', 'http://h/ status=20', 'http://h/ code=200', 'exec:', "exec:'open", 'log:', 'ftp://h/', 'ready', 'http:///x', 'https:///', 'http://\\\\x/', 'http://h/ status=200 status=500']) {
    assert.throws(() => readyCheck(raw), ValueProblem, raw);
  }
  assert.throws(() => healthCheck('log:ok'), /says when a program is ready, not whether it is still healthy/);
  assert.throws(() => healthCheck('notify'), ValueProblem);
  assert.equal(healthCheck('tcp://127.0.0.1:1').type, 'tcp');
});

test('depends_on: names with an optional condition, started by default; bad ones refused', () => {
  assert.deepEqual(dependencyList('db:ready, migrate:completed ,cache'), [
    { name: 'db', condition: 'ready' },
    { name: 'migrate', condition: 'completed' },
    { name: 'cache', condition: 'started' },
  ]);
  assert.deepEqual(dependencyList(''), []);
  assert.throws(() => dependencyList('db:done'), /"done" is not a condition/);
  // supervisor's group:name and group:* do not name a dependency: say how a group and a program are named
  assert.throws(() => dependencyList('backend:*'), { message: '"backend:*": "*" is not a condition (started, ready or completed); a group is named by its name alone (backend) and a program by its program name, each with an optional :CONDITION' });
  assert.throws(() => dependencyList('backend:db'), { message: '"backend:db": "db" is not a condition (started, ready or completed); a group is named by its name alone (backend) and a program by its program name (db), each with an optional :CONDITION' });
  assert.throws(() => dependencyList('db:redy'), { message: '"db:redy": "redy" is not a condition (started, ready or completed; did you mean ready?)' });
  assert.throws(() => dependencyList('db, db:ready'), /db is named twice/);
  assert.throws(() => dependencyList(':ready'), /names nothing/);
  assert.throws(() => dependencyList(' , '), /names nothing/);
});

function spec(programName: string, extra: Partial<ProcessSpec> = {}): ProcessSpec {
  return {
    programName,
    name: programName,
    group: programName,
    dependsOn: [],
    readiness: 'startsecs',
    autorestart: 'unexpected',
    startSecs: 0,
    ...extra,
  } as ProcessSpec;
}

const group = (name: string, programs: string[]): GroupSpec => ({ name, priority: 999, programs, explicit: true });

test('dependency problems: unknown names, :ready without a check, :completed that can never hold, job startsecs, a job that reruns', () => {
  const problems = dependencyProblems(
    [
      spec('db', { readiness: 'reported' }),
      spec('cache'),
      spec('job', { autorestart: 'true' }),
      spec('slow', { startSecs: 3, autorestart: 'false' }),
      spec('retry', { autorestart: 'unexpected' }),
      spec('web', {
        dependsOn: [
          { name: 'db', condition: 'ready' },
          { name: 'cach', condition: 'started' },
          { name: 'cache', condition: 'ready' },
          { name: 'job', condition: 'completed' },
          { name: 'slow', condition: 'completed' },
          { name: 'retry', condition: 'completed' },
        ],
      }),
    ],
    [],
  );
  const byText = problems.map((p) => `${p.program} ${p.severity}: ${p.message}${p.expected ? ` [${p.expected}]` : ''}`);
  assert.deepEqual(byText, [
    'web error: names no program or group [a program or group name (did you mean cache?)]',
    'web error: cache:ready can never hold: cache has no ready check [cache:started, or ready = … in [program:cache]]',
    'web error: job:completed can never hold: job has autorestart = true, so it is started again after every exit [autorestart = false (or unexpected) in [program:job]]',
    'web warning: slow runs as a job (slow:completed) but has startsecs = 3: a job that ends sooner counts as a failed start (BACKOFF, then FATAL); set startsecs = 0 in [program:slow]',
    'retry warning: autorestart = unexpected on a job others wait for (retry:completed): it runs again at once after every exit with a code not in its exitcodes, and its dependents wait while it does, never told it failed; set autorestart = false in [program:retry] for a job others wait on',
  ]);
  // the job's own autorestart line is the one to change: the warning is placed there, not on depends_on
  assert.deepEqual(problems.at(-1)?.at, { program: 'retry', key: 'autorestart' });
});

test('dependency problems: cycles through groups and onto itself, reported once each', () => {
  const problems = dependencyProblems(
    [
      spec('a', { dependsOn: [{ name: 'backend', condition: 'started' }] }),
      spec('b', { group: 'backend', dependsOn: [{ name: 'a', condition: 'started' }] }),
      spec('c', { group: 'backend' }),
      spec('self', { dependsOn: [{ name: 'self', condition: 'started' }] }),
      spec('ok', { dependsOn: [{ name: 'c', condition: 'started' }] }),
    ],
    [group('backend', ['b', 'c'])],
  );
  assert.deepEqual(
    problems.map((p) => p.message),
    ['a cycle: a → b → a', 'a cycle: self → self'],
  );
});

test('a chain of thousands of programs is walked without deep recursion', () => {
  const n = 20_000;
  const specs = Array.from({ length: n }, (_, i) => spec(`p${i}`, { dependsOn: i === 0 ? [] : [{ name: `p${i - 1}`, condition: 'started' }] }));
  assert.deepEqual(dependencyProblems(specs, []), []);
});
