// `drover signal RTMIN+1 x` (or supervisorctl's, or the JSON API's) used to kill drover and every program it
// ran: the control API checked the name, passed it on as the number 35, which the core's signal table did
// not know, and the throw became an internal error that stops everything. supervisord delivers it. Both the
// names and the numbers of the real-time signals now reach the program, and drover runs on.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { makeTmpDir, runCli, startUp, teardown, writeConfig } from '../helpers/drover.js';

test('a real-time signal by name or by number reaches the program, and drover and its other programs run on', async () => {
  const dir = makeTmpDir();
  // dash traps signals by number; `sleep & wait` so that a trap runs at once
  const trapper = `sh -c 'trap "echo got 35" 35; trap "echo got 62" 62; echo ready; while :; do sleep 0.05 & wait $!; done'`;
  const conf = writeConfig(dir, `[program:rt]\ncommand = ${trapper}\nstartsecs = 0\n\n[program:other]\ncommand = sleep 1000\nstartsecs = 0\n`);
  const run = await startUp(conf);
  try {
    await run.waitForLine(/rt \| ready/);
    await run.waitForLine(/other: starting → running/);
    const byName = await runCli(['signal', 'RTMIN+1', 'rt', '-c', conf]);
    assert.equal(byName.code, 0, byName.output);
    await run.waitForLine(/rt \| got 35/);
    const byNumber = await runCli(['signal', '62', 'rt', '-c', conf]);
    assert.equal(byNumber.code, 0, byNumber.output);
    await run.waitForLine(/rt \| got 62/);
    const status = await runCli(['status', '-c', conf]);
    assert.equal(status.code, 0, `${status.output}\n${run.describe()}`);
    assert.match(status.stdout, /other\s+running/, status.output);
    assert.doesNotMatch(run.output, /internal error/, run.describe());
  } finally {
    await teardown(run, [], dir);
  }
});
