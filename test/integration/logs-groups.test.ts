// One process name in two groups (supervisor allows a program in several [group:x]): each keeps its own log.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseServerUrl, requestJson } from '../../src/control/client.js';
import { makeTmpDir, startUp, teardown, writeConfig } from '../helpers/drover.js';
import { waitForValue } from '../helpers/web.js';

test('the same process name in two groups writes two logs, each read back by group:name', async () => {
  const dir = makeTmpDir();
  const run = await startUp(
    writeConfig(
      dir,
      `[group:a]
programs = x

[group:b]
programs = x

[program:x]
command = /bin/sh -c 'echo "from $SUPERVISOR_GROUP_NAME"; exec sleep 1000'
startsecs = 0
stopasgroup = true
`,
    ),
  );
  try {
    await run.waitForLine(/x \| from a/);
    await run.waitForLine(/x \| from b/);
    const ep = parseServerUrl(`unix://${join(dir, '.drover', 'drover.sock')}`);
    const read = async (name: string): Promise<string> =>
      String((await requestJson(ep, 'GET', `/api/logs/read?process=${name}`)).body['data']);
    // the line on drover's output is in the file a moment later (writes are batched for up to 2 ms)
    for (const [name, line] of [['a:x', 'from a\n'], ['b:x', 'from b\n']] as const) {
      let last = '';
      await waitForValue(async () => ((last = await read(name)) === '' ? null : last), `${name}'s log`, undefined, () => JSON.stringify(last));
      assert.equal(last, line);
    }
    const procs = (await requestJson(ep, 'GET', '/api/processes')).body['processes'] as { name: string; stdout_logfile: string }[];
    const files = procs.map((p) => p.stdout_logfile);
    assert.equal(new Set(files).size, 2, JSON.stringify(procs));
  } finally {
    await teardown(run, [], dir);
  }
});
