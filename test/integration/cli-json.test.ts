// From a review: DESIGN.md §2 says every command takes --json, but `drover up -d --json` and `drover unit
// --json` exited 2 with "Unknown option '--json'", and `check --json` printed {"processes": [...]} without
// the "ok" every other command's answer has. `up -d --json` now prints the start's result as one object,
// `unit --json` the unit in one; the foreground `up` and `serve`, which stream logs until they stop, refuse
// --json with a message saying why (docs/decisions.md).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseServerUrl, requestJson } from '../../src/control/client.js';
import { fixture, livePids, makeTmpDir, runCli, waitForCondition, writeConfig } from '../helpers/drover.js';

const CONFIG = '[program:sleeper]\ncommand = /bin/sleep 1000\nstartsecs = 0\n';

/** stdout parsed as one JSON object; fails with the whole output when it is not one. */
function oneJson(r: { stdout: string; output: string }): Record<string, unknown> {
  try {
    return JSON.parse(r.stdout) as Record<string, unknown>;
  } catch (err) {
    assert.fail(`stdout is not one JSON object (${(err as Error).message}):\n${r.output}`);
  }
}

test('up -d --json prints {ok, pid, processes, urls}, and nothing else on stdout', async () => {
  const dir = makeTmpDir();
  const conf = writeConfig(dir, CONFIG);
  const r = await runCli(['up', '-d', '--json', '-c', conf], { cwd: dir });
  const answer = r.code === 0 ? oneJson(r) : null;
  const pid = typeof answer?.['pid'] === 'number' ? answer['pid'] : null;
  try {
    assert.equal(r.code, 0, r.output);
    assert.deepEqual(Object.keys(answer ?? {}).sort(), ['ok', 'pid', 'processes', 'urls'], r.output);
    assert.equal(answer?.['ok'], true);
    assert.equal(answer?.['processes'], 1);
    assert.deepEqual(answer?.['urls'], [`unix://${join(dir, '.drover', 'drover.sock')}`]);
    assert.ok(pid !== null && livePids([pid]).length === 1, `the daemon runs\n${r.output}`);
  } finally {
    if (pid !== null) {
      await requestJson(parseServerUrl(`unix://${join(dir, '.drover', 'drover.sock')}`), 'POST', '/api/shutdown', {}, { timeoutMs: 5000 });
      await waitForCondition(() => livePids([pid]).length === 0, `daemon ${pid} to exit`, { timeoutMs: 15_000 });
    }
  }
});

test('up -d --json: a start that fails prints {ok: false, code, message} with the exit code', async () => {
  const dir = makeTmpDir();
  const bad = writeConfig(dir, '[program:x]\nstartsecs = 0\n', 'bad.conf');
  const r = await runCli(['up', '-d', '--json', '-c', bad], { cwd: dir });
  assert.equal(r.code, 2, r.output);
  const answer = oneJson(r);
  assert.equal(answer['ok'], false);
  assert.equal(answer['code'], 'E_CONFIG');
  assert.match(String(answer['message']), /bad\.conf.*command/, r.output);
});

test('foreground up and serve refuse --json (exit 2), saying why; the error is JSON on stdout too', async () => {
  const dir = makeTmpDir();
  const conf = writeConfig(dir, CONFIG);
  const runs = [
    { argv: ['up', '--json', '-c', conf], why: /--json needs -d: in the foreground drover streams its log/ },
    { argv: ['up', '-d', '--wait', '--json', '-c', conf], why: /--json and --wait do not go together/ },
    { argv: ['serve', fixture('worker-app.mjs'), '--json', '--runtime-dir', join(dir, '.serve')], why: /--json is not taken by drover serve: it streams its log/ },
  ];
  for (const { argv, why } of runs) {
    const r = await runCli(argv, { cwd: dir });
    assert.equal(r.code, 2, `${argv.join(' ')}\n${r.output}`);
    assert.match(r.stderr, why, r.output);
    assert.equal(oneJson(r)['code'], 'E_USAGE', r.output);
    assert.doesNotMatch(r.output, /drover up: pid|spawned:/, r.output);
  }
});

test('unit --json prints {ok: true, unit: TEXT}, the unit the plain command prints', async () => {
  const dir = makeTmpDir();
  const conf = writeConfig(dir, CONFIG);
  const plain = await runCli(['unit', '-c', conf], { cwd: dir });
  assert.equal(plain.code, 0, plain.output);
  const r = await runCli(['unit', '--json', '-c', conf], { cwd: dir });
  assert.equal(r.code, 0, r.output);
  assert.deepEqual(oneJson(r), { ok: true, unit: plain.stdout });
  const badName = await runCli(['unit', '--json', '--name', 'a/b', '-c', conf], { cwd: dir });
  assert.equal(badName.code, 2, badName.output);
  assert.equal(oneJson(badName)['code'], 'E_USAGE', badName.output);
});

test('check --json says "ok": true beside the processes', async () => {
  const dir = makeTmpDir();
  const conf = writeConfig(dir, CONFIG);
  const r = await runCli(['check', '--json', '-c', conf], { cwd: dir });
  assert.equal(r.code, 0, r.output);
  const answer = oneJson(r);
  assert.equal(answer['ok'], true, r.output);
  assert.equal((answer['processes'] as { name: string }[])[0]?.name, 'sleeper');
});
