// A typed config's module at `drover up` (a review of containers and typed configs). It was evaluated twice
// per start: once before the foreground master re-exec'd itself with the daemon's flags (or before `up -d`
// started the daemon), and again after, so whatever the module does happened twice. And it was evaluated
// synchronously, so a TERM sent meanwhile (a `docker stop` during a slow start) was lost with the exec:
// drover started every program and ran on. The evaluation is now made once, without blocking, and handed on.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CliRun, makeTmpDir, runCli, teardown } from '../helpers/drover.js';

/** A module that notes each evaluation in evals.txt; with `gate`, it says so and waits for the file `go`. */
function countingConfig(dir: string, gate: boolean): string {
  const file = join(dir, 'drover.config.mjs');
  writeFileSync(
    file,
    `import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
appendFileSync(${JSON.stringify(join(dir, 'evals.txt'))}, 'evaluated ' + process.pid + '\\n');
if (${gate}) {
  writeFileSync(${JSON.stringify(join(dir, 'loading'))}, '');
  await new Promise((resolve) => { const t = setInterval(() => { if (existsSync(${JSON.stringify(join(dir, 'go'))})) { clearInterval(t); resolve(); } }, 20); });
}
export default { programs: { a: { command: 'sleep 1000', startsecs: 0 } } };
`,
  );
  return file;
}

const evaluations = (dir: string): number => (existsSync(join(dir, 'evals.txt')) ? readFileSync(join(dir, 'evals.txt'), 'utf8').trim().split('\n').length : 0);

test('a typed config is evaluated once per `drover up`, in the foreground and with -d', async () => {
  const dir = makeTmpDir();
  const file = countingConfig(dir, false);
  const run = new CliRun(['up', '-c', file], { cwd: dir });
  try {
    await run.waitForLine(/\ba: starting → running/);
    assert.equal(evaluations(dir), 1, `${readFileSync(join(dir, 'evals.txt'), 'utf8')}\n${run.describe()}`);
    const down = await runCli(['down', '-c', file], { cwd: dir });
    assert.equal(down.code, 0, down.output);
    assert.equal((await run.waitForExit(15_000)).code, 0, run.describe());
  } finally {
    await teardown(run, [], dir);
  }
  const dir2 = makeTmpDir();
  const file2 = countingConfig(dir2, false);
  try {
    const up = await runCli(['up', '-d', '--wait', '-c', file2], { cwd: dir2, timeoutMs: 30_000 });
    assert.equal(up.code, 0, up.output);
    assert.equal(evaluations(dir2), 1, readFileSync(join(dir2, 'evals.txt'), 'utf8'));
  } finally {
    const down = await runCli(['down', '-c', file2], { cwd: dir2 });
    assert.equal(down.code, 0, down.output);
  }
});

test('a TERM sent while a typed config is still being evaluated stops drover before it starts anything', async () => {
  const dir = makeTmpDir();
  const file = countingConfig(dir, true);
  const run = new CliRun(['up', '-c', file], { cwd: dir });
  try {
    await run.waitUntil(() => (existsSync(join(dir, 'loading')) ? true : null), 'the module to be loading');
    run.signal('SIGTERM');
    // the module may end only once the TERM has certainly been received (a handler for it exists from the start)
    writeFileSync(join(dir, 'go'), '');
    const exit = await run.waitForExit(20_000);
    assert.doesNotMatch(run.output, /spawned: a/, `a program was started after the TERM\n${run.describe()}`);
    assert.equal(exit.code, 0, run.describe());
  } finally {
    await teardown(run, [], dir);
  }
});
