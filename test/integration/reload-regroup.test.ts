// From a review of reloads: a program moved into a [group:x] (or out of one, or its group renamed) is a
// process removed and another added. The reload started the new one while the old one was still stopping,
// so a program that holds something only one copy may hold (a port, a lock) failed to start, again and
// again, until fatal. supervisorctl's update stops and removes a group before it adds one; so does drover now.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeTmpDir, runCli, startUp, teardown, writeConfig } from '../helpers/drover.js';

test('a program moved into a group by a reload starts once its old process has stopped', async () => {
  const dir = makeTmpDir();
  const lock = join(dir, 'lock');
  // one copy at a time: the lock is a directory; the old copy takes a while to let it go at TERM
  const script = join(dir, 'one.sh');
  writeFileSync(script, `#!/bin/sh\nmkdir ${lock} 2>/dev/null || { echo "lock taken"; exit 1; }\ntrap 'sleep 1; rmdir ${lock}; exit 0' TERM\necho "has the lock"\nwhile :; do sleep 0.05 & wait $!; done\n`, { mode: 0o755 });
  const program = `[program:web]\ncommand = ${script}\nstartsecs = 0\nstartretries = 0\nstopwaitsecs = 10\n`;
  const conf = writeConfig(dir, program);
  const run = await startUp(conf);
  try {
    await run.waitForLine(/web \| has the lock/);
    writeFileSync(conf, `${program}\n[group:site]\nprograms = web\n`);
    const reload = await runCli(['reload', '-c', conf], { timeoutMs: 30_000 });
    assert.equal(reload.code, 0, `${reload.output}\n${run.describe()}`);
    // the new process (site:web; its log lines say web) took the lock after the old one let it go
    await run.waitForCount(/web \| has the lock/, 2);
    assert.ok(run.output.indexOf('web: stopping → stopped') < run.output.lastIndexOf('web | has the lock'), run.describe());
    const status = await runCli(['status', '-c', conf]);
    assert.match(status.stdout, /^site:web\s+running\s/m, status.output);
    assert.doesNotMatch(run.output, /lock taken|fatal/, run.describe());
  } finally {
    await teardown(run, [], dir);
  }
});
