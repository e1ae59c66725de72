// Issue 11, finding 10: an fd that drover inherits without close-on-exec (a careless parent's `exec 100<…`)
// must not reach the programs drover starts — not even as a copy under another number.
import assert from 'node:assert/strict';
import { readlinkSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CliRun, makeTmpDir, teardown, writeConfig } from '../helpers/drover.js';

/** The targets of a process's open fds (from /proc), by fd number. */
function openFiles(pid: number): Map<number, string> {
  const out = new Map<number, string>();
  for (const name of readdirSync(`/proc/${pid}/fd`)) {
    try {
      out.set(Number(name), readlinkSync(`/proc/${pid}/fd/${name}`));
    } catch {
      // closed while we listed
    }
  }
  return out;
}

test('an fd leaked by drover’s parent reaches no program drover starts', async () => {
  const dir = makeTmpDir();
  const secret = join(dir, 'secret.txt');
  writeFileSync(secret, 'TOPSECRET\n', { mode: 0o600 });
  writeConfig(
    dir,
    `[program:child]
command = /bin/sh -c 'echo "child-pid $$"; exec sleep 1000'
startsecs = 0
`,
  );
  // bash opens the secret as fd 100 without close-on-exec, then execs drover: drover inherits it
  const run = new CliRun(['up', '-c', join(dir, 'supervisord.conf')], {
    cwd: dir,
    wrapper: ['bash', '-c', `exec 100<'${secret}'; exec "$@"`, 'wrapper'],
  });
  try {
    const hit = await run.waitForLine(/child \| child-pid (\d+)/);
    const childPid = Number(hit[1]);
    const droverFds = openFiles(run.pid);
    // the negative control: drover itself did inherit it (else this test could not fail)
    assert.equal(droverFds.get(100), secret, `drover should hold the leaked fd 100; it has ${JSON.stringify([...droverFds])}`);
    const childFds = openFiles(childPid);
    const leaked = [...childFds].filter(([, target]) => target === secret);
    assert.deepEqual(leaked, [], `the program got drover's inherited fd: ${JSON.stringify([...childFds])}\n${run.output}`);
  } finally {
    await teardown(run, [], dir);
  }
});
