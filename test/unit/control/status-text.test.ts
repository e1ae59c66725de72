// The status table drover writes for GET /api/status and the CLI writes for an older drover: columns as
// wide as their widest cell, two spaces between, the last column unpadded, colour taking no width, and the
// last column saying why a process is as it is.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatBytes, formatDuration, statusCells, statusTable, statusText, table, type StatusSource } from '../../../src/control/status-text.js';

function proc(name: string, over: Partial<StatusSource> = {}): StatusSource {
  return {
    name: `${name}:${name}`,
    group: name,
    process: name,
    state: 'running',
    pid: 4242,
    uptime_ms: 65_000,
    restarts: 0,
    cpu_percent: 1.25,
    rss_bytes: 1_700_000,
    exit_status: null,
    spawn_error: null,
    stopped_at: null,
    waiting: null,
    health: null,
    role: null,
    ...over,
  };
}

const PROCS: StatusSource[] = [
  proc('web', { name: 'web:web_01', process: 'web_01', health: 'healthy', rss_bytes: 150 * 1024 * 1024 }),
  proc('spare', { role: 'spare', pid: 7, uptime_ms: 900 }),
  proc('db', { state: 'fatal', pid: null, uptime_ms: null, cpu_percent: null, rss_bytes: null, exit_status: 1, spawn_error: 'spawn error: ENOENT' }),
  proc('job', { state: 'exited', pid: null, uptime_ms: null, cpu_percent: null, rss_bytes: null, exit_status: 2, restarts: 12 }),
  proc('idle', { state: 'stopped', pid: null, uptime_ms: null, cpu_percent: null, rss_bytes: null, stopped_at: '2026-12-04T06:00:01.123Z' }),
  proc('api', { state: 'starting', pid: null, uptime_ms: null, cpu_percent: null, rss_bytes: null, waiting: 'waiting for db:running' }),
];

test('the status table: aligned columns, the last one unpadded, and what each state has to say', () => {
  assert.equal(
    statusText(PROCS, false),
    [
      'NAME        STATE     PID   UPTIME  RESTARTS  CPU%  RSS',
      'web:web_01  running   4242  1m 5s   0         1.3   150M  healthy',
      'spare       running   7     900ms   0         1.3   1.6M  spare (accepts nothing until it takes over)',
      'db          fatal     -     -       0         -     -     spawn error: ENOENT',
      'job         exited    -     -       12        -     -     exit status 2',
      'idle        stopped   -     -       0         -     -     since 2026-12-04 06:00:01Z',
      'api         starting  -     -       0         -     -     waiting for db:running',
      '',
    ].join('\n'),
  );
  assert.equal(statusText([], false), 'no processes\n');
});

test('a process ended by a signal says which (supervisor reports its exit status as -1)', () => {
  const killed = proc('job', { state: 'exited', pid: null, uptime_ms: null, cpu_percent: null, rss_bytes: null, exit_status: -1, exit_signal: 'KILL' });
  assert.match(statusText([killed], false), /^job +exited .* terminated by SIGKILL$/m);
  // an older drover sends no exit_signal: the status is shown as it comes
  const { exit_signal: _unused, ...old } = killed;
  assert.match(statusText([old], false), /^job +exited .* exit status -1$/m);
});

test('colour wraps the state word only and moves no column', () => {
  const colored = statusText(PROCS, true);
  assert.match(colored, /\x1b\[32mrunning\x1b\[0m {3}4242/);
  assert.match(colored, /\x1b\[1;31mfatal\x1b\[0m {5}-/);
  assert.equal(colored.replace(/\x1b\[[0-9;]*m/g, ''), statusText(PROCS, false));
});

test('kept cells with a fresh uptime give the same table as the records do', () => {
  const rows = PROCS.map((p) => ({ cells: statusCells(p, false), uptimeMs: p.uptime_ms }));
  assert.equal(statusTable(rows), statusText(PROCS, false));
  // the uptime is the one cell not kept: a later one changes that column only
  const later = statusTable(rows.map((r) => ({ ...r, uptimeMs: r.uptimeMs === null ? null : r.uptimeMs + 3_600_000 })));
  assert.match(later, /^web:web_01 {2}running {3}4242 {2}1h 1m {3}0/m);
});

test('durations and sizes as the table writes them', () => {
  assert.deepEqual(
    [0, 999, 1000, 59_999, 60_000, 3_599_999, 3_600_000, 86_399_999, 86_400_000 * 3 + 3_600_000 * 4].map(formatDuration),
    ['0ms', '999ms', '1s', '59s', '1m 0s', '59m 59s', '1h 0m', '23h 59m', '3d 4h'],
  );
  assert.deepEqual([0, 1023, 1024, 1536, 99.94 * 1024, 100 * 1024, 1024 ** 3 * 3.2, 1024 ** 5 * 2].map(formatBytes), ['0B', '1023B', '1.0K', '1.5K', '99.9K', '100K', '3.2G', '2048T']);
});

/** The plain definition of the layout: every cell but the last padded to its column's width, two spaces between. */
function plainTable(rows: readonly (readonly string[])[]): string {
  const visible = (c: string): number => c.replace(/\x1b\[[0-9;]*m/g, '').length;
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, visible(c))));
  return rows.map((r) => `${r.map((c, i) => (i === r.length - 1 ? c : c + ' '.repeat((widths[i] as number) - visible(c)))).join('  ')}`.trimEnd() + '\n').join('');
}

test('table() lays out what the plain definition does, on random rows; statusTable puts the uptime fourth', () => {
  // a small deterministic generator: the same rows on every run
  let seed = 7;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const word = (): string => ['', '-', 'a', 'web_01', 'x'.repeat(rand(30)), '\x1b[32mrunning\x1b[0m', 'é✓', 'since 2026-12-04 06:00:01Z  '][rand(8)] as string;
  for (let round = 0; round < 300; round++) {
    const width = 1 + rand(9);
    const rows = Array.from({ length: rand(12) }, () => Array.from({ length: width }, word));
    assert.equal(table(rows), plainTable(rows), JSON.stringify(rows));
    const status = rows.map((cells) => ({ cells: Array.from({ length: 7 }, (_, i) => cells[i] ?? word()), uptimeMs: rand(3) === 0 ? null : rand(100_000_000) }));
    const expected = plainTable([
      ['NAME', 'STATE', 'PID', 'UPTIME', 'RESTARTS', 'CPU%', 'RSS', ''],
      ...status.map(({ cells: c, uptimeMs }) => [c[0], c[1], c[2], uptimeMs === null ? '-' : formatDuration(uptimeMs), c[3], c[4], c[5], c[6]] as string[]),
    ]);
    assert.equal(statusTable(status), status.length === 0 ? 'no processes\n' : expected, JSON.stringify(status));
  }
});
