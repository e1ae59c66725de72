// A config with an error: the warnings met before it (a misspelt key's "did you mean") often explain it,
// and `drover check` prints them before the error. `reload`, `reread` and `update` against a running drover
// printed the error alone.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { makeTmpDir, runCli, startUp, teardown, writeConfig } from '../helpers/drover.js';

const TYPO = '[program:web]\ncomand = /bin/sleep 1000\n';
const WARNING = /:2: warning: \[program:web\] comand: unknown key, ignored \(did you mean "command"\?\)\n.*:1: \[program:web\] command: every program needs a command/;

test('reload, reread and update of a config with an error print the warnings that explain it, then the error (exit 2)', async () => {
  const dir = makeTmpDir();
  const file = writeConfig(dir, '[program:web]\ncommand = /bin/sleep 1000\nstartsecs = 0\n');
  const run = await startUp(file);
  try {
    await run.waitForLine(/web: starting → running/);
    writeFileSync(file, TYPO);
    for (const verb of ['reload', 'reread', 'update']) {
      const r = await runCli([verb, '-c', file]);
      assert.equal(r.code, 2, `${verb}\n${r.output}`);
      assert.match(r.stderr, WARNING, `${verb}\n${r.output}`);
    }
    const json = await runCli(['reread', '--json', '-c', file]);
    assert.equal(json.code, 2, json.output);
    const answer = JSON.parse(json.stdout) as { ok: boolean; code: string; message: string };
    assert.equal(answer.code, 'E_CONFIG', json.output);
    assert.match(answer.message, WARNING, json.output);
  } finally {
    await teardown(run, [], dir);
  }
});

test('up and up -d of a config with an error print the warnings that explain it, then the error (exit 2)', async () => {
  for (const args of [['up'], ['up', '-d']]) {
    const dir = makeTmpDir();
    const file = writeConfig(dir, TYPO);
    const r = await runCli([...args, '-c', file], { timeoutMs: 30_000 });
    assert.equal(r.code, 2, `${args.join(' ')}\n${r.output}`);
    assert.match(r.stderr, WARNING, `${args.join(' ')}\n${r.output}`);
  }
});
