// The pure reducer against supervisor's semantics; and every row of the transition table is exercised.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { backoffDelayMs, type ProcessPolicy } from '../../../src/core/policy.js';
import { initialRecord, reduce, type Effect, type ProcessRecord } from '../../../src/core/program.js';
import { TRANSITIONS, type ProcessEvent, type State } from '../../../src/core/states.js';
import { InvariantError } from '../../../src/errors.js';

const policy: ProcessPolicy = {
  name: 'web',
  startSecs: 1,
  startRetries: 3,
  autorestart: 'unexpected',
  exitCodes: [0],
  stopSignal: 'TERM',
  stopWaitSecs: 10,
  stopAsGroup: false,
  killAsGroup: false,
  backoff: 'linear',
  backoffMaxSecs: 60,
  fatalCooldownSecs: null,
  readiness: 'startsecs',
  readyTimeoutSecs: null,
  healthcheckRetries: 3,
};

/** Rows seen by any test, as "from|on|to". */
const seen = new Set<string>();

function step(
  rec: ProcessRecord,
  ev: ProcessEvent,
  nowMs: number,
  p: ProcessPolicy = policy,
  shuttingDown = false,
): { rec: ProcessRecord; effects: readonly Effect[]; path: State[] } {
  const r = reduce(p, rec, ev, { nowMs, shuttingDown, random: 0.5 });
  const path = [rec.state, ...r.steps.map((s) => s.to)];
  for (const s of r.steps) {
    const row = TRANSITIONS.find((t) => t.from === s.from && t.to === s.to);
    assert.ok(row, `step ${s.from} → ${s.to} is in the table`);
  }
  for (const t of r.taken) seen.add(`${t.from}|${t.on}|${t.to}`);
  return { rec: r.record, effects: r.effects, path };
}

function running(p: ProcessPolicy = policy): ProcessRecord {
  let rec = initialRecord(0);
  rec = step(rec, { type: 'startRequested' }, 0, p).rec;
  rec = step(rec, { type: 'spawned', pid: 100 }, 0, p).rec;
  rec = step(rec, { type: 'startSecsElapsed' }, 1000, p).rec;
  assert.equal(rec.state, 'running');
  return rec;
}

test('start: stopped → starting → running after startsecs', () => {
  let r = step(initialRecord(0), { type: 'startRequested' }, 0);
  assert.deepEqual(r.path, ['stopped', 'starting']);
  assert.deepEqual(r.effects, [{ type: 'cancelTimer', timer: 'fatalCooldown' }, { type: 'spawn' }]);
  r = step(r.rec, { type: 'spawned', pid: 42 }, 0);
  assert.equal(r.rec.pid, 42);
  assert.deepEqual(r.effects, [{ type: 'startTimer', timer: 'startSecs', ms: 1000 }]);
  r = step(r.rec, { type: 'startSecsElapsed' }, 1000);
  assert.deepEqual(r.path, ['starting', 'running']);
});

test('startsecs = 0: running as soon as the process exists', () => {
  const p = { ...policy, startSecs: 0 };
  let r = step(initialRecord(0), { type: 'startRequested' }, 0, p);
  r = step(r.rec, { type: 'spawned', pid: 7 }, 0, p);
  assert.equal(r.rec.state, 'running');
  assert.equal(r.effects.length, 0);
});

test('exit before startsecs → backoff with 1 s, 2 s, 3 s delays, then fatal after startretries', () => {
  let rec = initialRecord(0);
  rec = step(rec, { type: 'startRequested' }, 0).rec;
  const delays: number[] = [];
  let t = 0;
  for (let i = 0; i < 4; i++) {
    rec = step(rec, { type: 'spawned', pid: 10 + i }, t).rec;
    const r = step(rec, { type: 'childExited', code: 1, signal: null }, t + 100);
    rec = r.rec;
    const timer = r.effects.find((e) => e.type === 'startTimer');
    if (i < 3) {
      assert.equal(rec.state, 'backoff');
      assert.ok(timer && timer.type === 'startTimer' && timer.timer === 'backoff');
      delays.push(timer.ms);
      t += 100 + timer.ms;
      rec = step(rec, { type: 'backoffElapsed' }, t).rec;
      assert.equal(rec.state, 'starting');
    } else {
      assert.deepEqual(r.path, ['starting', 'backoff', 'fatal']);
      assert.equal(timer, undefined);
    }
  }
  assert.deepEqual(delays, [1000, 2000, 3000]);
  assert.equal(rec.backoffCount, 4);
  assert.match(rec.spawnError ?? '', /Exited too quickly/);
});

test('spawn failure counts as a failed start', () => {
  let rec = step(initialRecord(0), { type: 'startRequested' }, 0).rec;
  const r = step(rec, { type: 'spawnFailed', reason: 'ENOENT', message: 'command not found: nope' }, 0);
  rec = r.rec;
  assert.deepEqual(r.path, ['starting', 'backoff']);
  assert.equal(rec.spawnError, 'command not found: nope');
});

test('startretries = 0: first failure goes straight to fatal', () => {
  const p = { ...policy, startRetries: 0 };
  let rec = step(initialRecord(0), { type: 'startRequested' }, 0, p).rec;
  const r = step(rec, { type: 'spawnFailed', reason: 'ENOENT', message: 'x' }, 0, p);
  rec = r.rec;
  assert.deepEqual(r.path, ['starting', 'backoff', 'fatal']);
});

test('fatal_cooldown: fatal schedules a retry from scratch', () => {
  const p = { ...policy, startRetries: 0, fatalCooldownSecs: 60 };
  let rec = step(initialRecord(0), { type: 'startRequested' }, 0, p).rec;
  let r = step(rec, { type: 'spawnFailed', reason: 'ENOENT', message: 'x' }, 0, p);
  assert.deepEqual(
    r.effects.filter((e) => e.type === 'startTimer'),
    [{ type: 'startTimer', timer: 'fatalCooldown', ms: 60_000 }],
  );
  r = step(r.rec, { type: 'fatalCooldownElapsed' }, 60_000, p);
  assert.deepEqual(r.path, ['fatal', 'starting']);
  assert.equal(r.rec.backoffCount, 0);
  // and a stop during the cooldown cancels it
  rec = step(r.rec, { type: 'spawnFailed', reason: 'ENOENT', message: 'x' }, 60_000, p).rec;
  r = step(rec, { type: 'stopRequested' }, 60_001, p);
  assert.deepEqual(r.path, ['fatal', 'stopped']);
  assert.deepEqual(r.effects, [{ type: 'cancelTimer', timer: 'fatalCooldown' }]);
});

test('autorestart=unexpected: expected exit stays exited, unexpected restarts at once', () => {
  let r = step(running(), { type: 'childExited', code: 0, signal: null }, 5000);
  assert.deepEqual(r.path, ['running', 'exited']);
  assert.equal(r.rec.exitStatus, 0);
  r = step(running(), { type: 'childExited', code: 3, signal: null }, 5000);
  assert.deepEqual(r.path, ['running', 'exited', 'starting']);
  assert.ok(r.effects.some((e) => e.type === 'spawn'));
  assert.equal(r.rec.restarts, 1);
  r = step(running(), { type: 'childExited', code: null, signal: 'KILL' }, 5000);
  assert.deepEqual(r.path, ['running', 'exited', 'starting'], 'death by signal is never expected');
  // the restart forgets the exit, as supervisor's spawn() does (its exitstatus goes back to None)
  assert.equal(r.rec.exitStatus, null);
  assert.equal(r.rec.exitSignal, null);
  const stays = { ...policy, autorestart: 'false' as const };
  r = step(running(stays), { type: 'childExited', code: null, signal: 'KILL' }, 5000, stays);
  assert.equal(r.rec.exitStatus, -1);
  assert.equal(r.rec.exitSignal, 'KILL');
});

test('autorestart=true restarts after an expected exit; false never restarts', () => {
  let r = step(running({ ...policy, autorestart: 'true' }), { type: 'childExited', code: 0, signal: null }, 5000, {
    ...policy,
    autorestart: 'true',
  });
  assert.deepEqual(r.path, ['running', 'exited', 'starting']);
  const p = { ...policy, autorestart: 'false' as const };
  r = step(running(p), { type: 'childExited', code: 9, signal: null }, 5000, p);
  assert.deepEqual(r.path, ['running', 'exited']);
});

test('no autorestart while shutting down', () => {
  const r = step(running(), { type: 'childExited', code: 9, signal: null }, 5000, policy, true);
  assert.deepEqual(r.path, ['running', 'exited']);
});

test('exitcodes decide what is expected', () => {
  const p = { ...policy, exitCodes: [0, 2] };
  const r = step(running(p), { type: 'childExited', code: 2, signal: null }, 5000, p);
  assert.deepEqual(r.path, ['running', 'exited']);
});

test('stop: signal, timer, SIGKILL on timeout, stopped on exit', () => {
  const p = { ...policy, stopSignal: 'INT', stopAsGroup: true, killAsGroup: true, stopWaitSecs: 2 };
  let r = step(running(p), { type: 'stopRequested' }, 5000, p);
  assert.deepEqual(r.path, ['running', 'stopping']);
  assert.ok(r.rec.stopRequested);
  assert.deepEqual(r.effects, [
    { type: 'cancelTimer', timer: 'startSecs' },
    { type: 'cancelTimer', timer: 'readyTimeout' },
    { type: 'sendSignal', signal: 'INT', toGroup: true },
    { type: 'startTimer', timer: 'stopTimeout', ms: 2000 },
  ]);
  r = step(r.rec, { type: 'stopRequested' }, 5001, p);
  assert.deepEqual(r.path, ['stopping']);
  r = step(r.rec, { type: 'stopTimeoutElapsed' }, 7000, p);
  assert.deepEqual(r.effects, [{ type: 'sendSignal', signal: 'KILL', toGroup: true, overdue: true }]);
  r = step(r.rec, { type: 'childExited', code: null, signal: 'KILL' }, 7001, p);
  assert.deepEqual(r.path, ['stopping', 'stopped']);
  assert.ok(r.effects.some((e) => e.type === 'sweepLeftovers'));
  assert.equal(r.rec.stopRequested, false);
});

test('a fast stop records the stop and sends no stop signal (the shutdown SIGKILLs the group); its exit is a stop', () => {
  const p = { ...policy, stopAsGroup: true };
  let r = step(running(p), { type: 'stopRequested', fast: true }, 5000, p, true);
  assert.deepEqual(r.path, ['running', 'stopping']);
  assert.equal(r.rec.stopCause, 'fastStop');
  assert.ok(r.rec.stopRequested);
  assert.equal(r.effects.filter((e) => e.type === 'sendSignal' || e.type === 'startTimer').length, 0);
  r = step(r.rec, { type: 'childExited', code: null, signal: 'KILL' }, 5001, p, true);
  assert.deepEqual(r.path, ['stopping', 'stopped']);
});

test('a fast stop of a process already stopping cancels its stop timeout and marks it fast', () => {
  let r = step(running(), { type: 'stopRequested' }, 5000);
  r = step(r.rec, { type: 'stopRequested', fast: true }, 5001, policy, true);
  assert.deepEqual(r.path, ['stopping']);
  assert.equal(r.rec.stopCause, 'fastStop');
  assert.ok(r.effects.some((e) => e.type === 'cancelTimer' && e.timer === 'stopTimeout'));
  assert.equal(r.effects.filter((e) => e.type === 'sendSignal').length, 0);
});

test('stop while starting, and in backoff', () => {
  let rec = step(initialRecord(0), { type: 'startRequested' }, 0).rec;
  rec = step(rec, { type: 'spawned', pid: 5 }, 0).rec;
  let r = step(rec, { type: 'stopRequested' }, 10);
  assert.deepEqual(r.path, ['starting', 'stopping']);
  rec = step(initialRecord(0), { type: 'startRequested' }, 0).rec;
  rec = step(rec, { type: 'spawnFailed', reason: 'ENOENT', message: 'x' }, 0).rec;
  r = step(rec, { type: 'stopRequested' }, 10);
  assert.deepEqual(r.path, ['backoff', 'stopped']);
  assert.deepEqual(r.effects, [{ type: 'cancelTimer', timer: 'backoff' }]);
});

test('start again from exited and from fatal', () => {
  let r = step(running({ ...policy, autorestart: 'false' }), { type: 'childExited', code: 0, signal: null }, 5000, {
    ...policy,
    autorestart: 'false',
  });
  r = step(r.rec, { type: 'startRequested' }, 6000);
  assert.deepEqual(r.path, ['exited', 'starting']);
  const p = { ...policy, startRetries: 0 };
  let rec = step(initialRecord(0), { type: 'startRequested' }, 0, p).rec;
  rec = step(rec, { type: 'spawnFailed', reason: 'ENOENT', message: 'x' }, 0, p).rec;
  r = step(rec, { type: 'startRequested' }, 1, p);
  assert.deepEqual(r.path, ['fatal', 'starting']);
  assert.equal(r.rec.backoffCount, 0, 'a manual start after fatal begins a fresh retry count');
});

test('exit noticed after startsecs but before the timer event: exited, not backoff', () => {
  let rec = step(initialRecord(0), { type: 'startRequested' }, 0).rec;
  rec = step(rec, { type: 'spawned', pid: 5 }, 0).rec;
  const r = step(rec, { type: 'childExited', code: 0, signal: null }, 1500);
  assert.deepEqual(r.path, ['starting', 'exited']);
});

test('pidfile follow keeps the state and swaps the pid', () => {
  let rec = step(initialRecord(0), { type: 'startRequested' }, 0).rec;
  rec = step(rec, { type: 'spawned', pid: 5 }, 0).rec;
  let r = step(rec, { type: 'pidFollowed', pid: 77 }, 10);
  assert.equal(r.rec.state, 'starting');
  assert.equal(r.rec.pid, 77);
  r = step(running(), { type: 'pidFollowed', pid: 78 }, 10);
  assert.equal(r.rec.pid, 78);
  rec = step(running(), { type: 'stopRequested' }, 10).rec;
  r = step(rec, { type: 'pidFollowed', pid: 79 }, 11);
  assert.equal(r.rec.state, 'stopping');
});

test('an event missing from the table is an InvariantError naming program, state and allowed events', () => {
  assert.throws(
    () => reduce(policy, initialRecord(0), { type: 'childExited', code: 0, signal: null }, { nowMs: 0, shuttingDown: false, random: 0 }),
    (err: unknown) =>
      err instanceof InvariantError && /program "web": event childExited is not allowed in state stopped \(allowed: startRequested, supervisorRestarted\)/.test(err.message),
  );
  assert.throws(() => reduce(policy, running(), { type: 'startRequested' }, { nowMs: 0, shuttingDown: false, random: 0 }), InvariantError);
});

test('supervisor.restart: a fatal, exited or stopped process starts over as a fresh daemon\'s; a fatal_cooldown retry is called off', () => {
  const restarted = { type: 'supervisorRestarted' } as const;
  const fresh = initialRecord(90_000);
  // fatal, with a retry pending
  const p = { ...policy, startRetries: 0, fatalCooldownSecs: 60 };
  let r = step(initialRecord(0), { type: 'startRequested' }, 0, p);
  r = step(r.rec, { type: 'spawnFailed', reason: 'EACCES', message: 'not executable' }, 0, p);
  assert.equal(r.rec.state, 'fatal');
  r = step(r.rec, restarted, 90_000, p);
  assert.deepEqual(r.path, ['fatal', 'stopped']);
  assert.deepEqual(r.rec, fresh);
  assert.deepEqual(r.effects, [{ type: 'cancelTimer', timer: 'fatalCooldown' }]);
  // exited after a few restarts
  let rec = running({ ...policy, autorestart: 'false' });
  rec = step(rec, { type: 'childExited', code: 3, signal: null }, 5000, { ...policy, autorestart: 'false' }).rec;
  assert.equal(rec.state, 'exited');
  r = step({ ...rec, restarts: 4, spawns: 5, unhealthyRestarts: 1, health: 'unhealthy' }, restarted, 90_000);
  assert.deepEqual(r.path, ['exited', 'stopped']);
  assert.deepEqual(r.rec, fresh);
  // stopped, with its stop time and exit: no state change, but no past either
  r = step(running(), { type: 'stopRequested' }, 2000);
  r = step(r.rec, { type: 'childExited', code: null, signal: 'TERM' }, 2100);
  assert.equal(r.rec.state, 'stopped');
  assert.notEqual(r.rec.stoppedAtMs, null);
  r = step(r.rec, restarted, 90_000);
  assert.deepEqual(r.rec, fresh);
  // one that runs has a past only a stop ends
  assert.throws(() => reduce(policy, running(), restarted, { nowMs: 0, shuttingDown: false, random: 0 }), InvariantError);
});

test('a worker is running when it reports ready, not after startsecs; dying before that is a failed boot', () => {
  const p = { ...policy, readiness: 'reported' as const };
  let r = step(initialRecord(0), { type: 'startRequested' }, 0, p);
  r = step(r.rec, { type: 'spawned', pid: 9 }, 0, p);
  assert.equal(r.effects.length, 0, 'no startsecs timer for a worker');
  const booting = r.rec;
  r = step(booting, { type: 'readyReported' }, 50, p);
  assert.deepEqual(r.path, ['starting', 'running']);
  r = step(r.rec, { type: 'readyReported' }, 60, p);
  assert.deepEqual(r.path, ['running']);
  r = step(booting, { type: 'childExited', code: 3, signal: null }, 60_000, p);
  assert.deepEqual(r.path, ['starting', 'backoff']);
  let s = step(booting, { type: 'stopRequested' }, 10, p).rec;
  s = step(s, { type: 'readyReported' }, 11, p).rec;
  assert.equal(s.state, 'stopping');
});

/** A policy with a ready check (`ready =`): 30 s ready_timeout, 2 health check retries. */
const checked: ProcessPolicy = { ...policy, readiness: 'reported', readyTimeoutSecs: 30, healthcheckRetries: 2 };

function spawnedWithCheck(): ProcessRecord {
  let rec = step(initialRecord(0), { type: 'startRequested' }, 0, checked).rec;
  const r = step(rec, { type: 'spawned', pid: 7 }, 0, checked);
  assert.ok(r.effects.some((e) => e.type === 'startTimer' && e.timer === 'readyTimeout' && e.ms === 30_000), 'ready_timeout timer armed');
  assert.ok(!r.effects.some((e) => e.type === 'startTimer' && e.timer === 'startSecs'), 'no startsecs timer: the check replaces it');
  rec = r.rec;
  return rec;
}

test('ready check: STARTING until it passes, however long that takes; then RUNNING', () => {
  const rec = spawnedWithCheck();
  const r = step(rec, { type: 'readyReported', how: 'tcp://127.0.0.1:5432 accepted a connection' }, 45_000, checked);
  assert.deepEqual(r.path, ['starting', 'running']);
  assert.ok(r.effects.some((e) => e.type === 'cancelTimer' && e.timer === 'readyTimeout'));
  assert.equal(r.rec.backoffCount, 0);
});

test('ready_timeout: the process is stopped, and its exit is a failed start (backoff, then FATAL)', () => {
  let rec = spawnedWithCheck();
  let r = step(rec, { type: 'readyTimeoutElapsed' }, 30_000, checked);
  assert.deepEqual(r.path, ['starting', 'stopping']);
  assert.ok(r.effects.some((e) => e.type === 'sendSignal' && e.signal === 'TERM'));
  assert.ok(r.effects.some((e) => e.type === 'startTimer' && e.timer === 'stopTimeout'));
  r = step(r.rec, { type: 'childExited', code: null, signal: 'TERM' }, 30_100, checked);
  assert.deepEqual(r.path, ['stopping', 'backoff']);
  assert.match(r.rec.spawnError ?? '', /not ready within ready_timeout \(30s\)/);
  assert.equal(r.rec.backoffCount, 1);
  // three more failed starts exhaust startretries = 3
  rec = r.rec;
  for (let i = 0; i < 3; i++) {
    rec = step(rec, { type: 'backoffElapsed' }, 40_000, checked).rec;
    rec = step(rec, { type: 'spawned', pid: 8 + i }, 40_000, checked).rec;
    rec = step(rec, { type: 'readyTimeoutElapsed' }, 70_000, checked).rec;
    r = step(rec, { type: 'childExited', code: 0, signal: null }, 70_001, checked);
    rec = r.rec;
  }
  assert.deepEqual(r.path, ['stopping', 'backoff', 'fatal']);
});

test('ready_timeout during a shutdown: the exit is a plain stop, nothing retries', () => {
  const rec = step(spawnedWithCheck(), { type: 'readyTimeoutElapsed' }, 30_000, checked).rec;
  const r = step(rec, { type: 'childExited', code: 0, signal: null }, 30_001, checked, true);
  assert.deepEqual(r.path, ['stopping', 'stopped']);
});

test('ready_timeout elapsing in a shutdown stops nothing: the process is stopped in its turn, as a plain stop', () => {
  // a failed start's stop now would come before the programs of higher priority, out of the shutdown's order
  let r = step(spawnedWithCheck(), { type: 'readyTimeoutElapsed' }, 30_000, checked, true);
  assert.deepEqual(r.path, ['starting']);
  assert.deepEqual(r.effects.filter((e) => e.type === 'sendSignal' || e.type === 'startTimer'), []);
  r = step(r.rec, { type: 'stopRequested' }, 31_000, checked, true);
  r = step(r.rec, { type: 'childExited', code: 0, signal: null }, 31_001, checked, true);
  assert.deepEqual(r.path, ['stopping', 'stopped']);
});

test('a failed health check in a shutdown is counted, and restarts nothing, even at healthcheck_retries', () => {
  let rec = step(spawnedWithCheck(), { type: 'readyReported' }, 1000, checked).rec;
  rec = step(rec, { type: 'healthCheckFailed', error: 'x' }, 2000, checked).rec;
  const r = step(rec, { type: 'healthCheckFailed', error: 'x' }, 3000, checked, true);
  assert.deepEqual(r.path, ['running']);
  assert.equal(r.rec.healthFailures, 2);
  assert.equal(r.rec.unhealthyRestarts, 0);
  assert.deepEqual(r.effects.filter((e) => e.type === 'sendSignal'), []);
});

test('a stop asked for while a ready_timeout stop is under way ends stopped, not in backoff', () => {
  let rec = step(spawnedWithCheck(), { type: 'readyTimeoutElapsed' }, 30_000, checked).rec;
  rec = step(rec, { type: 'stopRequested' }, 30_001, checked).rec;
  const r = step(rec, { type: 'childExited', code: 0, signal: null }, 30_002, checked);
  assert.deepEqual(r.path, ['stopping', 'stopped']);
});

test('a ready check passed early: it must still stay up startsecs; an exit before that is a failed start', () => {
  // ready after 200 ms of a 1 s startsecs: RUNNING now, but the start counts only at 1 s
  let r = step(spawnedWithCheck(), { type: 'readyReported' }, 200, checked);
  assert.deepEqual(r.path, ['starting', 'running']);
  assert.ok(r.effects.some((e) => e.type === 'startTimer' && e.timer === 'startSecs' && e.ms === 800), 'the rest of startsecs is timed');
  const early = r.rec;
  // it crashes 100 ms later: BACKOFF, and after startretries of those FATAL, instead of restarting at once
  r = step(early, { type: 'childExited', code: 1, signal: null }, 300, checked);
  assert.deepEqual(r.path, ['running', 'backoff']);
  assert.equal(r.rec.backoffCount, 1);
  assert.match(r.rec.spawnError ?? '', /^Exited too quickly/);
  assert.ok(r.effects.some((e) => e.type === 'cancelTimer' && e.timer === 'startSecs'));
  assert.ok(r.effects.some((e) => e.type === 'startTimer' && e.timer === 'backoff'));
  // it stays up: at 1 s its start counts, and a later exit is an ordinary one (autorestart)
  r = step(early, { type: 'startSecsElapsed' }, 1000, checked);
  assert.deepEqual(r.path, ['running']);
  assert.equal(r.rec.backoffCount, 0);
  r = step(r.rec, { type: 'childExited', code: 1, signal: null }, 5000, checked);
  assert.deepEqual(r.path, ['running', 'exited', 'starting']);
});

test('a drover worker that dies unrequested within startsecs of its ready report is a failed start', () => {
  const worker = { ...policy, readiness: 'reported' as const };
  let w = step(initialRecord(0), { type: 'startRequested' }, 0, worker).rec;
  w = step(w, { type: 'spawned', pid: 3 }, 0, worker).rec;
  const r = step(w, { type: 'readyReported' }, 100, worker);
  assert.ok(r.effects.some((e) => e.type === 'startTimer' && e.timer === 'startSecs' && e.ms === 1000), 'startsecs counted from the report');
  w = r.rec;
  const crashed = step(w, { type: 'childExited', code: 1, signal: null }, 200, worker);
  assert.deepEqual(crashed.path, ['running', 'backoff']);
  assert.match(crashed.rec.spawnError ?? '', /^Exited too quickly/);
  // the master's SIGKILL of a stuck worker is no failed start: it is replaced at once
  assert.deepEqual(step(w, { type: 'childExited', code: null, signal: 'KILL', killed: true }, 200, worker).path, ['running', 'exited', 'starting']);
  // nor is a SIGKILL from outside (an operator's kill -9, the OOM killer), as gunicorn replaces it
  assert.deepEqual(step(w, { type: 'childExited', code: null, signal: 'KILL' }, 200, worker).path, ['running', 'exited', 'starting']);
  // a fatal signal of its own (an abort) is a crash like an exit status
  assert.equal(step(w, { type: 'childExited', code: null, signal: 'ABRT' }, 200, worker).rec.state, 'backoff');
  // a stop (recycle, TTOU, a roll) ends it as requested
  const stopping = step(w, { type: 'stopRequested' }, 150, worker).rec;
  assert.deepEqual(step(stopping, { type: 'childExited', code: 0, signal: null }, 200, worker).path, ['stopping', 'stopped']);
  // after startsecs, an exit is an ordinary one: replaced at once, as gunicorn replaces a worker
  const good = step(w, { type: 'startSecsElapsed' }, 1100, worker).rec;
  assert.equal(good.backoffCount, 0);
  assert.deepEqual(step(good, { type: 'childExited', code: 1, signal: null }, 1300, worker).path, ['running', 'exited', 'starting']);
});

test('dying before the ready check passes is a failed start, however long it ran', () => {
  const r = step(spawnedWithCheck(), { type: 'childExited', code: 0, signal: null }, 20_000, checked);
  assert.deepEqual(r.path, ['starting', 'backoff']);
  assert.ok(r.effects.some((e) => e.type === 'cancelTimer' && e.timer === 'readyTimeout'));
});

test('health checks: a pass makes it healthy, fewer than healthcheck_retries failures change nothing', () => {
  let rec = step(spawnedWithCheck(), { type: 'readyReported' }, 1000, checked).rec;
  rec = step(rec, { type: 'healthCheckPassed' }, 2000, checked).rec;
  assert.equal(rec.health, 'healthy');
  const r = step(rec, { type: 'healthCheckFailed', error: 'connect ECONNREFUSED' }, 3000, checked);
  assert.deepEqual(r.path, ['running']);
  assert.equal(r.rec.healthFailures, 1);
  assert.equal(r.rec.health, 'healthy');
  rec = step(r.rec, { type: 'healthCheckPassed' }, 4000, checked).rec;
  assert.equal(rec.healthFailures, 0, 'a pass resets the run of failures');
  assert.equal(rec.healthChecksFailed, 1, 'the total is kept');
});

test('healthcheck_retries failures in a row: unhealthy, stopped, and started again when it has exited', () => {
  let rec = step(spawnedWithCheck(), { type: 'readyReported' }, 1000, checked).rec;
  rec = step(rec, { type: 'healthCheckFailed', error: 'HTTP 500' }, 2000, checked).rec;
  let r = step(rec, { type: 'healthCheckFailed', error: 'HTTP 500' }, 3000, checked);
  assert.deepEqual(r.path, ['running', 'stopping']);
  assert.equal(r.rec.health, 'unhealthy');
  assert.equal(r.rec.unhealthyRestarts, 1);
  assert.ok(r.effects.some((e) => e.type === 'sendSignal' && e.signal === 'TERM'));
  // results still queued for this process change nothing
  assert.deepEqual(step(r.rec, { type: 'healthCheckFailed', error: 'x' }, 3001, checked).path, ['stopping']);
  assert.deepEqual(step(r.rec, { type: 'healthCheckPassed' }, 3001, checked).path, ['stopping']);
  r = step(r.rec, { type: 'childExited', code: null, signal: 'TERM' }, 3500, checked);
  assert.deepEqual(r.path, ['stopping', 'starting']);
  assert.ok(r.effects.some((e) => e.type === 'spawn'));
  assert.equal(r.rec.restarts, 1);
  assert.equal(r.rec.health, 'unhealthy', 'the verdict stands until the new process is checked');
  assert.equal(r.rec.healthFailures, 0, 'the new process starts a new run of failures');
});

test('a start forgets the last health verdict, which was about another process; "unhealthy" stands across its own restart', () => {
  let rec = step(spawnedWithCheck(), { type: 'readyReported' }, 1000, checked).rec;
  rec = step(rec, { type: 'healthCheckPassed' }, 2000, checked).rec;
  assert.equal(rec.health, 'healthy');
  rec = step(rec, { type: 'stopRequested' }, 3000, checked).rec;
  rec = step(rec, { type: 'childExited', code: 0, signal: null }, 3001, checked).rec;
  const r = step(rec, { type: 'startRequested' }, 4000, checked);
  assert.deepEqual(r.path, ['stopped', 'starting']);
  assert.equal(r.rec.health, null, 'no verdict yet about the new process');
});

test('"unhealthy" stands across the restart for it and a failed start\'s retry, until a check passes', () => {
  let rec = step(spawnedWithCheck(), { type: 'readyReported' }, 1000, checked).rec;
  rec = step(rec, { type: 'healthCheckFailed', error: 'x' }, 2000, checked).rec;
  rec = step(rec, { type: 'healthCheckFailed', error: 'x' }, 3000, checked).rec;
  let r = step(rec, { type: 'childExited', code: 0, signal: null }, 3500, checked);
  assert.deepEqual(r.path, ['stopping', 'starting']);
  r = step(r.rec, { type: 'spawned', pid: 101 }, 3500, checked);
  // the new process dies before it is ready: a failed start, retried after the backoff
  r = step(r.rec, { type: 'childExited', code: 1, signal: null }, 3600, checked);
  assert.deepEqual(r.path, ['starting', 'backoff']);
  r = step(r.rec, { type: 'backoffElapsed' }, 5000, checked);
  assert.deepEqual(r.path, ['backoff', 'starting']);
  assert.equal(r.rec.health, 'unhealthy', 'no process has passed a check since');
  r = step(r.rec, { type: 'spawned', pid: 102 }, 5000, checked);
  r = step(r.rec, { type: 'readyReported' }, 5100, checked);
  r = step(r.rec, { type: 'healthCheckPassed' }, 6000, checked);
  assert.equal(r.rec.health, 'healthy');
});

test('an unhealthy process that exits during a shutdown is not started again', () => {
  let rec = step(spawnedWithCheck(), { type: 'readyReported' }, 1000, checked).rec;
  rec = step(rec, { type: 'healthCheckFailed', error: 'x' }, 2000, checked).rec;
  rec = step(rec, { type: 'healthCheckFailed', error: 'x' }, 3000, checked).rec;
  const r = step(rec, { type: 'childExited', code: 0, signal: null }, 3500, checked, true);
  assert.deepEqual(r.path, ['stopping', 'stopped']);
});

test('exponential backoff doubles, is capped, and carries jitter', () => {
  const p = { ...policy, backoff: 'exponential' as const, backoffMaxSecs: 10 };
  assert.equal(backoffDelayMs(p, 1, 0.5), 1000);
  assert.equal(backoffDelayMs(p, 3, 0.5), 4000);
  assert.equal(backoffDelayMs(p, 10, 0.5), 10_000);
  assert.equal(backoffDelayMs(p, 2, 0), 1500);
  assert.equal(backoffDelayMs(p, 2, 0.999), 2499);
});

after(() => {
  const missing = TRANSITIONS.filter((t) => !seen.has(`${t.from}|${t.on}|${t.to}`)).map((t) => `${t.from} --${t.on}--> ${t.to}`);
  assert.deepEqual(missing, [], 'every row of the transition table is exercised');
});

test('a refused stop signal: unknown, no SIGKILL follows; it ignores what a running process would not; its exit stops it', () => {
  const denied = { type: 'signalDenied', signal: 'SIGTERM', error: 'EPERM' } as const;
  let r = step(running(), { type: 'stopRequested' }, 2000);
  r = step(r.rec, denied, 2000);
  assert.deepEqual(r.path, ['stopping', 'unknown']);
  assert.ok(!r.effects.some((e) => e.type === 'sendSignal'), 'no SIGKILL: it would be refused too');
  for (const timer of ['startSecs', 'readyTimeout', 'stopTimeout'] as const) assert.ok(r.effects.some((e) => e.type === 'cancelTimer' && e.timer === timer), timer);
  const same: ProcessEvent[] = [
    denied,
    { type: 'stopRequested' },
    { type: 'readyReported' },
    { type: 'healthCheckPassed' },
    { type: 'healthCheckFailed', error: 'x' },
    { type: 'pidFollowed', pid: 101 },
  ];
  for (const ev of same) {
    const s = step(r.rec, ev, 3000);
    assert.deepEqual(s.path, ['unknown'], ev.type);
    assert.ok(!s.effects.some((e) => e.type === 'sendSignal' || e.type === 'spawn'), ev.type);
  }
  // a start would run a second copy beside one that may still run
  const start = step(r.rec, { type: 'startRequested' }, 3000);
  assert.deepEqual(start.path, ['unknown']);
  assert.deepEqual(start.effects, []);
  // its exit ends it, and autorestart does not apply: it was being stopped
  const exit = step(r.rec, { type: 'childExited', code: null, signal: 'KILL' }, 4000, { ...policy, autorestart: 'true' });
  assert.deepEqual(exit.path, ['unknown', 'stopped']);
  assert.equal(exit.rec.pid, null);
  assert.ok(!exit.effects.some((e) => e.type === 'spawn'));
});

test('a SIGKILL refused while starting or running (a fast shutdown, an internal error) makes the process unknown', () => {
  const denied = { type: 'signalDenied', signal: 'SIGKILL', error: 'EPERM' } as const;
  assert.deepEqual(step(running(), denied, 2000).path, ['running', 'unknown']);
  let rec = step(initialRecord(0), { type: 'startRequested' }, 0).rec;
  rec = step(rec, { type: 'spawned', pid: 100 }, 0).rec;
  assert.deepEqual(step(rec, denied, 10).path, ['starting', 'unknown']);
});
