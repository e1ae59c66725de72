// systemd's STATUS= line, from a snapshot of the processes: what `systemctl status` shows for drover.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../../../src/config/load.js';
import { notReadyProcesses } from '../../../src/control/health.js';
import { initialRecord, type ProcessRecord } from '../../../src/core/program.js';
import type { ProcessSnapshot } from '../../../src/core/types.js';
import { statusLine } from '../../../src/daemon/service-notify.js';

// loadConfig reads a file, but nothing here spawns or signals
const dir = mkdtempSync(join(tmpdir(), 'drover-status-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const file = join(dir, 'supervisord.conf');
writeFileSync(
  file,
  ['web', 'app', 'jobs', 'cron'].map((n) => `[program:${n}]\ncommand = /bin/true\n`).join('\n') +
    '\n[program:manual]\ncommand = /bin/true\nautostart = false\n\n[program:migrate]\ncommand = /bin/true\nautorestart = false\n',
);
const specs = loadConfig(file).processes;

/** The processes with the given states (by program name; the rest stopped). */
function snapshot(states: Record<string, Partial<ProcessRecord>>): ProcessSnapshot[] {
  return specs.map((spec) => ({ key: `${spec.group}:${spec.name}`, spec, record: { ...initialRecord(0), ...states[spec.name] } }));
}
const running: Partial<ProcessRecord> = { state: 'running' };

test('every autostart process ready: running out of all', () => {
  const s = snapshot({ web: running, app: running, jobs: running, cron: running, migrate: { state: 'exited', exitStatus: 0 } });
  assert.equal(statusLine(s, 'running'), '4 of 6 processes running');
});

test('the first three that keep drover from being ready are named, the rest counted', () => {
  const s = snapshot({ web: { state: 'backoff' }, app: running, jobs: { state: 'starting' }, cron: { state: 'fatal' } });
  assert.equal(statusLine(s, 'running'), '1 of 6 processes running; cron: fatal, jobs: starting, migrate: stopped, 1 more');
  assert.equal(statusLine(snapshot({ web: running, app: running, jobs: running, cron: { state: 'backoff' }, migrate: running }), 'running'), '4 of 6 processes running; cron: backoff');
});

test('a one-shot program that exited with an unexpected status keeps drover not ready', () => {
  const s = snapshot({ web: running, app: running, jobs: running, cron: running, migrate: { state: 'exited', exitStatus: 1 } });
  assert.equal(statusLine(s, 'running'), '4 of 6 processes running; migrate: exited');
});

test('the start-up counts an expected exit with no restart to come as done, under autorestart = unexpected too; /readyz only under false', () => {
  const all: Partial<ProcessRecord> = { state: 'exited', exitStatus: 0 };
  const s = snapshot({ web: running, app: running, jobs: all, cron: running, migrate: all });
  // jobs is left at supervisor's default (unexpected): its exit 0 is not restarted
  assert.equal(statusLine(s, 'running', { startUp: true }), '3 of 6 processes running');
  assert.deepEqual(notReadyProcesses(s, { startUp: true }), []);
  assert.deepEqual(notReadyProcesses(s).map((p) => p.name), ['jobs:jobs']);
  // an unexpected status, or a signal death (exit status null), is not done
  for (const how of [{ exitStatus: 1 }, { exitStatus: null }]) {
    const bad = snapshot({ web: running, app: running, jobs: { state: 'exited', ...how }, cron: running, migrate: all });
    assert.equal(statusLine(bad, 'running', { startUp: true }), '3 of 6 processes running; jobs: exited');
  }
});

test('during a shutdown: the processes still there (starting, running or stopping)', () => {
  const s = snapshot({ web: { state: 'stopping' }, app: running, jobs: { state: 'starting' }, cron: { state: 'backoff' } });
  assert.equal(statusLine(s, 'shuttingDown'), 'stopping: 3 of 6 processes left');
  assert.equal(statusLine(snapshot({}), 'stopped'), 'stopping: 0 of 6 processes left');
});

test('one process is not "processes"', () => {
  assert.equal(statusLine(snapshot({}).slice(0, 1), 'shuttingDown'), 'stopping: 0 of 1 process left');
});
