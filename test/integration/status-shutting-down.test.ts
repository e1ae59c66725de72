// `drover status` while drover shuts down: the table still shows each process (the ones being stopped
// among them), and drover says that it is shutting down (supervisorctl's status says only "supervisord
// shutting down"): on stderr beside the table, as "state" in the JSON answer.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CliRun, makeTmpDir, runCli, startUp, teardown, writeConfig } from '../helpers/drover.js';

test('status says drover is shutting down while its processes are being stopped', async () => {
  const dir = makeTmpDir();
  // `slow` ignores TERM: its stop lasts stopwaitsecs, time to ask while drover shuts down
  const file = writeConfig(dir, `[program:slow]
command = /bin/sh -c 'trap "" TERM; while :; do sleep 0.2; done'
startsecs = 0
stopwaitsecs = 4

[program:quick]
command = sleep 1000
startsecs = 0
`);
  const up = await startUp(file);
  let down: CliRun | null = null;
  try {
    await up.waitForLine(/slow: starting → running/);
    await up.waitForLine(/quick: starting → running/);
    let table = await runCli(['status', '-c', file]);
    assert.equal(table.code, 0, table.output);
    assert.equal(table.stderr, '', table.output);
    let json = await runCli(['status', '--json', '-c', file]);
    assert.equal((JSON.parse(json.stdout) as { state: string }).state, 'running', json.output);

    down = new CliRun(['down', '-c', file]);
    await up.waitForLine(/slow: running → stopping/);
    table = await runCli(['status', '-c', file]);
    assert.match(table.stdout, /^slow +stopping /m, table.output);
    assert.equal(table.stderr, 'drover status: drover is shutting down: it is stopping its processes and starts nothing more\n', table.output);
    json = await runCli(['status', '--json', '-c', file]);
    const answer = JSON.parse(json.stdout) as { ok: boolean; state: string; processes: { name: string; state: string }[] };
    assert.equal(answer.state, 'shuttingDown', json.output);
    assert.equal(answer.processes.find((p) => p.name === 'slow:slow')?.state, 'stopping', json.output);
    assert.equal(json.stderr, '', json.output);
    assert.equal((await down.waitForExit(20_000)).code, 0, down.describe());
    assert.equal((await up.waitForExit(20_000)).code, 0, up.describe());
  } finally {
    if (down) await teardown(down);
    await teardown(up, [], dir);
  }
});
