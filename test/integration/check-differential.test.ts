// Differential test: for each config in test/fixtures/configs/diff/, `drover check --json` must print
// exactly what the real supervisor 4.2 resolves (test/fixtures/supervisor-resolve.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { droverBin, fixturesDir } from '../helpers/paths.js';

const PYTHON = '/usr/bin/python3';
const TIMEOUT_MS = 20_000 * Number(process.env['DROVER_TEST_TIMEOUT_SCALE'] ?? '1');
const diffDir = join(fixturesDir, 'configs', 'diff');
const resolver = join(fixturesDir, 'supervisor-resolve.py');
const env = { ...process.env, DROVER_TEST_HOME: '/srv/app', DROVER_TEST_PORT: '8080' };

function run(cmd: string, args: string[]): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { env, encoding: 'utf8', timeout: TIMEOUT_MS });
}

function describe(r: SpawnSyncReturns<string>): string {
  return `exit ${String(r.status)} signal ${String(r.signal)}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

test('real supervisor is importable by /usr/bin/python3', () => {
  const r = run(PYTHON, ['-c', 'import supervisor.options']);
  assert.equal(r.status, 0, `supervisor is not installed for ${PYTHON}: run \`apt-get install supervisor\` (CI installs it)\n${describe(r)}`);
});

const configs = readdirSync(diffDir).filter((f) => f.endsWith('.conf')).sort();

test('there are at least 20 differential configs', () => {
  assert.ok(configs.length >= 20, `only ${configs.length} configs in ${diffDir}`);
});

for (const name of configs) {
  test(`drover check --json matches supervisor: ${name}`, () => {
    const file = join(diffDir, name);
    const sup = run(PYTHON, [resolver, file]);
    assert.equal(sup.status, 0, `supervisor could not read ${name}\n${describe(sup)}`);
    const drover = run(process.execPath, [droverBin, 'check', '-c', file, '--json']);
    assert.equal(drover.status, 0, `drover check failed on ${name}\n${describe(drover)}`);
    const expected: unknown = JSON.parse(sup.stdout);
    const actual: unknown = JSON.parse(drover.stdout);
    assert.deepEqual(actual, expected, `drover and supervisor disagree on ${name}\n--- drover\n${describe(drover)}\n--- supervisor\n${describe(sup)}`);
  });
}

// supervisor's parser.read skips an included file it cannot open (RawConfigParser.read catches OSError), so
// a glob that also matches a dangling symlink or a directory still runs what the other matches define.
// drover skips the same matches, with a warning at the [include] line; a literal name matching nothing is
// supervisor's "No file matches" warning.
test('an [include] match that cannot be opened is skipped as supervisor skips it, with a warning at the include line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'drover-diff-include-'));
  try {
    const file = join(dir, 'main.conf');
    writeFileSync(file, '[supervisord]\n[include]\nfiles = conf.d/* conf.d/gone.conf\n');
    mkdirSync(join(dir, 'conf.d', 'old'), { recursive: true });
    writeFileSync(join(dir, 'conf.d', 'web.conf'), '[program:web]\ncommand=/bin/sleep 30\n');
    symlinkSync('/nonexistent-drover-removed-app/app.conf', join(dir, 'conf.d', 'app.conf'));
    symlinkSync('loop.conf', join(dir, 'conf.d', 'loop.conf'));
    const sup = run(PYTHON, [resolver, file]);
    assert.equal(sup.status, 0, `supervisor could not read the config\n${describe(sup)}`);
    const drover = run(process.execPath, [droverBin, 'check', '-c', file, '--json']);
    assert.equal(drover.status, 0, `drover check failed\n${describe(drover)}`);
    const expected: unknown = JSON.parse(sup.stdout);
    assert.deepEqual(JSON.parse(drover.stdout), expected, `drover and supervisor disagree\n--- drover\n${describe(drover)}\n--- supervisor\n${describe(sup)}`);
    const at = `${file}:3: warning: [include] files:`;
    for (const [match, why] of [
      ['app.conf', 'a dangling symlink to "/nonexistent-drover-removed-app/app.conf"'],
      ['loop.conf', 'a symlink loop'],
      ['old', 'a directory, not a config file'],
    ] as const) {
      const line = `${at} skipped ${JSON.stringify(join(dir, 'conf.d', match))}, matched by "conf.d/*": ${why} (supervisor skips a file it cannot open)`;
      assert.ok(drover.stderr.split('\n').includes(line), `missing warning ${JSON.stringify(line)}\n${describe(drover)}`);
    }
    assert.ok(drover.stderr.includes(`${at} no file matches ${JSON.stringify(join(dir, 'conf.d', 'gone.conf'))}`), describe(drover));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
