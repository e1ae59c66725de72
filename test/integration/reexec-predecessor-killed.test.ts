// A USR2 whose old master dies (SIGKILL, the OOM killer) while the new master still reads its config or
// runs on_starting: the old master's channel has closed before the new one listens for that, and Node does
// not say 'disconnect' again. The new master held the programs the old one "still stopped" for good:
// every start refused (E_PREVIOUS_MASTER, "wait for pid 1 to exit"), every USR2 ignored.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { livePids, makeTmpDir, runCli, startUp, teardown, waitForAsync, waitForCondition, writeConfig } from '../helpers/drover.js';

/** The child of `pid` that is a drover master (the new master of a USR2: it names itself so in its title), or 0. */
function reexecChildOf(pid: number): number {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const ppid = Number(/^PPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${name}/status`, 'utf8'))?.[1]);
      if (ppid === pid && readFileSync(`/proc/${name}/cmdline`, 'utf8').startsWith('drover: master')) return Number(name);
    } catch {
      // gone while listed
    }
  }
  return 0;
}

test('the old master killed while the new one runs on_starting: the new master starts the programs itself', async () => {
  const dir = makeTmpDir();
  const [mark, gate] = [join(dir, 'usr2-sent'), join(dir, 'go-on')];
  // the new master's on_starting waits for the test (the first master's, before the mark exists, does not)
  writeFileSync(join(dir, 'hooks.mjs'), `import { existsSync } from 'node:fs';
export async function on_starting() {
  if (!existsSync(${JSON.stringify(mark)})) return;
  console.log('HOOK waiting');
  while (!existsSync(${JSON.stringify(gate)})) await new Promise((r) => setTimeout(r, 20));
}
`);
  const file = writeConfig(dir, `[supervisord]\nhooks = hooks.mjs\n\n[program:sleeper]\ncommand = /bin/sleep 1000\nstartsecs = 0\n`);
  const run = await startUp(file);
  let newPid = 0;
  try {
    await run.waitForLine(/sleeper: starting → running/);
    writeFileSync(mark, '');
    run.signal('SIGUSR2');
    await run.waitForLine(/HOOK waiting/);
    newPid = reexecChildOf(run.pid);
    assert.ok(newPid > 0, `the new master, a child of ${run.pid} titled drover: master\n${run.describe()}`);
    process.kill(run.pid, 'SIGKILL');
    await waitForCondition(() => livePids([run.pid]).length === 0, `the old master (${run.pid}) to die`, { describe: () => run.describe() });
    writeFileSync(gate, '');
    let last = await runCli(['status', '-c', file]);
    await waitForAsync(async () => /^sleeper +running /m.test((last = await runCli(['status', '-c', file])).stdout), 'sleeper running under the new master', {
      timeoutMs: 20_000,
      describe: () => `${last.output}\n${run.describe()}`,
    });
    assert.doesNotMatch(last.stdout, /previous master/, last.output);
    const down = await runCli(['down', '-c', file], { timeoutMs: 30_000 });
    assert.equal(down.code, 0, down.output);
  } finally {
    if (newPid > 0 && livePids([newPid]).length > 0) process.kill(newPid, 'SIGKILL');
    await teardown(run, [], dir);
  }
});
