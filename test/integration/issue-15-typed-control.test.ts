// The control commands on a typed config (issue 15): `status`, `stop NAME` and `down` read only the control
// sections of the evaluated module, as they read only those of an INI file, so a bad program value is left
// to `drover check`; a module that cannot be evaluated at all falls back to the default control socket beside
// it, and fails with the evaluation error only when nothing is there. And `drover scale` after a failed
// `reread` re-resolves the config that was loaded, not the failure.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CliRun, fixture, makeTmpDir, runCli, teardown } from '../helpers/drover.js';

const FOREVER = `${process.execPath} ${fixture('forever.mjs')}`;

function programs(extra: string): string {
  return `export const programs = {
  c: { command: ${JSON.stringify(FOREVER)}, startsecs: 0, stopwaitsecs: 2${extra} },
  d: { command: ${JSON.stringify(FOREVER)}, startsecs: 0, stopwaitsecs: 2 },
};
`;
}

function pidsOf(run: CliRun): number[] {
  return [...run.output.matchAll(/spawned: \S+ with pid (\d+)/g)].map((m) => Number(m[1]));
}

async function upAndRunning(dir: string, file: string): Promise<CliRun> {
  const run = new CliRun(['up', '-c', file], { cwd: dir });
  await run.waitForLine(/\bc: starting → running/);
  await run.waitForLine(/\bd: starting → running/);
  return run;
}

/** `status`, `stop c` and `down` all reach the running drover; the last one ends it. */
async function controlCommandsWork(run: CliRun, dir: string, file: string): Promise<void> {
  const status = await runCli(['status', '-c', file], { cwd: dir });
  assert.equal(status.code, 0, status.output);
  assert.match(status.stdout, /^c\s+running\s/m, status.output);
  const stop = await runCli(['stop', 'c', '-c', file], { cwd: dir });
  assert.equal(stop.code, 0, stop.output);
  await run.waitForLine(/\bc: stopping → stopped/);
  const down = await runCli(['down', '-c', file], { cwd: dir });
  assert.equal(down.code, 0, down.output);
  const exit = await run.waitForExit(15_000);
  assert.equal(exit.code, 0, run.output);
}

test('a typed config that imports a module and names its control socket: status, stop and down ignore a bad program value, as for the INI', async () => {
  const dir = makeTmpDir();
  const file = join(dir, 'drover.config.ts');
  writeFileSync(join(dir, 'extra.mjs'), programs(''));
  writeFileSync(
    file,
    `import os from 'node:os';
import { programs } from './extra.mjs';
export default { unix_http_server: { file: '%(here)s/ctl.sock' }, supervisord: { identifier: os.hostname() }, programs };
`,
  );
  const run = await upAndRunning(dir, file);
  try {
    writeFileSync(join(dir, 'extra.mjs'), programs(`, numprocs: 'two'`));
    // the problem is there, and `check` says so
    const check = await runCli(['check', '-c', file], { cwd: dir });
    assert.equal(check.code, 2, check.output);
    assert.match(check.stderr, /programs\.c\.numprocs: not an integer/, check.output);
    await controlCommandsWork(run, dir, file);
  } finally {
    await teardown(run, pidsOf(run), dir);
  }
});

test('a typed config whose module throws: status, stop and down reach the drover at the default socket, with a warning; with nothing there, they fail with the evaluation error', async () => {
  const dir = makeTmpDir();
  const file = join(dir, 'drover.config.ts');
  writeFileSync(join(dir, 'extra.mjs'), programs(''));
  writeFileSync(file, `import { programs } from './extra.mjs';\nexport default { programs };\n`);
  const run = await upAndRunning(dir, file);
  try {
    writeFileSync(join(dir, 'extra.mjs'), `export const programs = (() => {\n  throw new Error('half-edited');\n})();\n`);
    const check = await runCli(['check', '-c', file], { cwd: dir });
    assert.equal(check.code, 2, check.output);
    const status = await runCli(['status', '-c', file], { cwd: dir });
    assert.match(status.stderr, /drover status: warning: cannot evaluate .*drover\.config\.ts, so using the default control socket .*\.drover\/drover\.sock: .*half-edited/, status.output);
    // a syntax error in the module is the same
    writeFileSync(join(dir, 'extra.mjs'), `export const programs = {;\n`);
    await controlCommandsWork(run, dir, file);
    // with nothing at the default socket any more, the evaluation error stands
    writeFileSync(join(dir, 'extra.mjs'), `export const programs = (() => {\n  throw new Error('still broken');\n})();\n`);
    for (const args of [['status'], ['stop', 'c'], ['down']]) {
      const r = await runCli([...args, '-c', file], { cwd: dir });
      assert.equal(r.code, 2, r.output);
      assert.match(r.stderr, /drover\.config\.ts: Error: still broken/, r.output);
      assert.doesNotMatch(r.stderr, /warning/, r.output);
    }
  } finally {
    await teardown(run, pidsOf(run), dir);
  }
});

test('drover scale after a failed reread of a typed config re-resolves the loaded config, not the failure', async () => {
  const dir = makeTmpDir();
  const file = join(dir, 'drover.config.ts');
  const good = `import os from 'node:os';\nexport default { programs: { web: { command: ${JSON.stringify(FOREVER)}, process_name: '%(program_name)s_%(process_num)d', numprocs: 1, startsecs: 0, stopwaitsecs: 2 } } };\n`;
  writeFileSync(file, good);
  const run = new CliRun(['up', '-c', file], { cwd: dir });
  try {
    await run.waitForLine(/\bweb_0: starting → running/);
    writeFileSync(file, `import os from 'node:os';\nexport default { programs: { web: ;\n`);
    const reread = await runCli(['reread', '-c', file], { cwd: dir });
    assert.equal(reread.code, 2, reread.output);
    assert.match(reread.stderr, /SyntaxError/, reread.output);
    writeFileSync(file, good);
    const check = await runCli(['check', '-c', file], { cwd: dir });
    assert.equal(check.code, 0, check.output);
    const scale = await runCli(['scale', 'web', '3', '-c', file], { cwd: dir });
    assert.equal(scale.code, 0, scale.output);
    await run.waitForLine(/\bweb_2: starting → running/);
  } finally {
    await teardown(run, pidsOf(run), dir);
  }
});
