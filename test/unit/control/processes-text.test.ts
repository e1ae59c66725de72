// /api/processes is written from text kept per process view (issue 16): it must be exactly the JSON that
// serialising the whole answer gives, for every state, null and every character a name may hold.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ProcessSpec } from '../../../src/config/types.js';
import type { ProcessView } from '../../../src/control/api.js';
import { countNotRunning, processesAnswerBytes, processesJsonText, processJson } from '../../../src/control/json-api.js';
import { ProcessesJson } from '../../../src/control/wire.js';
import { STATE_CODES, STATES } from '../../../src/core/states.js';

function view(i: number, over: Partial<ProcessView> = {}): ProcessView {
  const state = STATES[i % STATES.length] ?? 'running';
  const name = `p_${i}`;
  return {
    key: `g:${name}`,
    name,
    group: 'g',
    state,
    statecode: STATE_CODES[state],
    pid: i % 3 === 0 ? 0 : 1000 + i,
    startedAtMs: i % 4 === 0 ? null : 1_700_000_000_000 + i,
    stoppedAtMs: i % 5 === 0 ? null : 1_700_000_100_000 + i,
    exitStatus: i % 2 === 0 ? null : i,
    exitSignal: i % 9 === 1 ? 'KILL' : null,
    spawnError: i % 7 === 0 ? `spawn error "${i}" \\ \u0001 é ✓` : null,
    restarts: i,
    cpuPercent: i % 3 === 0 ? null : i / 10,
    rssBytes: i % 3 === 0 ? null : i * 4096,
    stdoutLogfile: i % 2 === 0 ? null : `/var/log/p_${i}.log`,
    stderrLogfile: null,
    waiting: i % 6 === 0 ? `waiting for db:ready (db is "starting")` : null,
    blocked: i % 11 === 0,
    health: i % 3 === 0 ? null : i % 2 === 0 ? 'healthy' : 'unhealthy',
    role: i % 5 === 0 ? 'spare' : i % 5 === 1 ? 'serving' : null,
    spec: {
      programName: `prog${i % 4}`,
      ready: i % 4 === 1 ? { type: 'exec', command: `test -f "/tmp/${i}"` } : null,
      dependsOn: i % 3 === 1 ? [{ name: 'db', condition: 'ready' }] : [],
      healthcheck: i % 4 === 2 ? { type: 'notify' } : null,
      essential: i % 2 === 0,
    } as unknown as ProcessSpec,
    ...over,
  };
}

test('the text is the JSON of the whole answer, field for field and byte for byte', () => {
  const views = Array.from({ length: 60 }, (_, i) => view(i));
  views.push(view(60, { key: 'odd:"quoted\\name"', name: '"quoted\\name"', group: 'odd\u2028' }));
  for (const now of [1_700_000_000_500, 1_700_000_200_000]) {
    const text = processesJsonText(views, now);
    assert.equal(text, JSON.stringify(views.map((p) => processJson(p, now))));
    const answer: unknown = JSON.parse(`{"ok":true,"processes":${text}}`);
    assert.ok(ProcessesJson.is(answer), ProcessesJson.problem(answer) ?? '');
  }
});

test('uptime follows the clock while the rest of a view\'s text is kept', () => {
  const p = view(1, { state: 'running', startedAtMs: 1000 });
  const first = JSON.parse(processesJsonText([p], 1500)) as { uptime_ms: number }[];
  const later = JSON.parse(processesJsonText([p], 9500)) as { uptime_ms: number }[];
  assert.equal(first[0]?.uptime_ms, 500);
  assert.equal(later[0]?.uptime_ms, 8500);
  assert.equal(processesJsonText([], 0), '[]');
});

test('the whole answer, compact or indented, is what serialising it gives (drover status --json prints it as it comes)', () => {
  const views = Array.from({ length: 25 }, (_, i) => view(i));
  views.push(view(25, { key: 'odd:"q\\n"', name: '"q\\n"', group: 'odd\n\u2028', spawnError: 'a\nb \u{1F600}' }));
  for (const now of [1_700_000_000_500, 1_700_000_300_000]) {
    for (let indent = 0; indent <= 10; indent++) {
      // the bytes themselves, length included: a buffer counted too long would show here
      for (const list of [views, views.slice(25), views.slice(0, 1), []]) {
        for (const state of ['running', 'shuttingDown'] as const) {
          const whole = { ok: true, state, processes: list.map((p) => processJson(p, now)) };
          assert.deepEqual(processesAnswerBytes(list, now, indent, state), Buffer.from(JSON.stringify(whole, null, indent)), `indent ${indent}, ${list.length} views`);
        }
      }
    }
  }
  // the kept text of one indent does not leak into another's
  assert.equal(processesJsonText(views, 5), JSON.stringify(views.map((p) => processJson(p, 5))));
});

test('the processes with no process behind them are counted for the exit code', () => {
  const views = ['running', 'stopped', 'exited', 'fatal', 'backoff', 'starting', 'stopping'].map((state, i) => view(i, { state: state as ProcessView['state'] }));
  assert.equal(countNotRunning(views), 4);
  assert.equal(countNotRunning(views.filter((v) => v.state === 'running')), 0);
});
