// A reload cut short by `drover down`: the changed program is stopped for its new config, the shutdown
// begins while it stops, and it is never started again. The reload's caller was told "changed" and exit 0;
// it now hears E_SHUTTING_DOWN and exits 1 (supervisorctl's update fails too: supervisord closes the
// connection under it).
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { CliRun, makeTmpDir, runCli, startUp, teardown, writeConfig } from '../helpers/drover.js';

/** A program that ignores TERM, so that its stop lasts stopwaitsecs: time for a `down` to begin meanwhile. */
function config(value: string): string {
  return `[program:slow]
command = /bin/sh -c 'trap "" TERM; while :; do sleep 0.2; done'
startsecs = 0
stopwaitsecs = 3
environment = V="${value}"
`;
}

/** Starts drover, changes the program's config, runs `args` (a reload), and `down` while the program stops. */
async function reloadDuringDown(args: readonly string[]): Promise<{ up: CliRun; reload: CliRun; exit: number | null; dir: string }> {
  const dir = makeTmpDir();
  const file = writeConfig(dir, config('1'));
  const up = await startUp(file);
  await up.waitForLine(/slow: starting → running/);
  writeFileSync(file, config('2'));
  const reload = new CliRun([...args, '-c', file]);
  try {
    await up.waitForLine(/slow: running → stopping \(stop requested\)/);
    const down = await runCli(['down', '-c', file], { timeoutMs: 20_000 });
    assert.equal(down.code, 0, down.output);
    const exit = await reload.waitForExit(20_000);
    return { up, reload, exit: exit.code, dir };
  } catch (err) {
    await teardown(reload);
    await teardown(up, [], dir);
    throw err;
  }
}

test('drover reload cut short by drover down fails with E_SHUTTING_DOWN, exit 1', async () => {
  const { up, reload, exit, dir } = await reloadDuringDown(['reload']);
  try {
    assert.equal(exit, 1, reload.describe());
    assert.match(reload.stdout, /^slow:slow: ERROR E_SHUTTING_DOWN \(stopped for its new config and not started again: drover is shutting down\)$/m, reload.describe());
    assert.match(reload.stdout, /^reload: 1 changed, 0 added, 0 removed; .*; cut short: drover is shutting down$/m, reload.describe());
    assert.equal((await up.waitForExit(20_000)).code, 0, up.describe());
    assert.match(up.output, /WARN POST \/api\/update: reload cut short: drover began shutting down while it applied the changes/);
    assert.doesNotMatch(up.output, /reload: done/);
  } finally {
    await teardown(up, [], dir);
  }
});

test('drover update --json cut short by drover down answers ok false with E_SHUTTING_DOWN, exit 1', async () => {
  const { up, reload, exit, dir } = await reloadDuringDown(['update', '--json']);
  try {
    assert.equal(exit, 1, reload.describe());
    const body = JSON.parse(reload.stdout) as { ok: boolean; results: { key: string; ok: boolean; code?: string }[] };
    assert.equal(body.ok, false, reload.stdout);
    assert.deepEqual(
      body.results.map((r) => [r.key, r.ok, r.code]),
      [['slow:slow', false, 'E_SHUTTING_DOWN']],
      reload.stdout,
    );
  } finally {
    await teardown(up, [], dir);
  }
});
