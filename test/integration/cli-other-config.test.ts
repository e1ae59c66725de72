// Two configs in one directory share the default control socket (.drover/drover.sock beside them). A
// command given the second (`drover stop all -c staging.conf`) reached the drover running the first and
// stopped its programs, exit 0. The CLI now names the config it found the socket from (x-drover-config),
// and a drover running another file refuses with E_OTHER_CONFIG (exit 7: no drover runs the config asked
// about); -s still reaches it on purpose, and a symlink to the running file is the same file.
import assert from 'node:assert/strict';
import { symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeTmpDir, runCli } from '../helpers/drover.js';

test('a command for another config in the same directory is refused by the drover there, and changes nothing', async () => {
  const dir = makeTmpDir();
  const prod = join(dir, 'prod.conf');
  const staging = join(dir, 'staging.conf');
  writeFileSync(prod, '[program:web]\ncommand = /bin/sleep 1001\nstartsecs = 0\n');
  writeFileSync(staging, '[program:other]\ncommand = /bin/sleep 1002\nstartsecs = 0\n');
  const up = await runCli(['up', '-d', '--wait', '-c', prod], { cwd: dir });
  assert.equal(up.code, 0, up.output);
  try {
    for (const args of [['stop', 'all'], ['status']]) {
      const r = await runCli([...args, '-c', staging], { cwd: dir });
      assert.equal(r.code, 7, r.output);
      assert.match(r.stderr, new RegExp(`the drover answering here runs ${prod.replace(/[.]/g, '\\.')}, not ${staging.replace(/[.]/g, '\\.')}`), r.output);
    }
    // nothing was stopped; the running config, by its name or through a symlink, is answered as before
    const link = join(dir, 'link.conf');
    symlinkSync(prod, link);
    for (const file of [prod, link]) {
      const r = await runCli(['status', '-c', file], { cwd: dir });
      assert.equal(r.code, 0, r.output);
      assert.match(r.stdout, /web\s+running/, r.output);
    }
    // a start of the second config is refused by the runtime directory's lock, which names the holder
    const second = await runCli(['up', '-d', '-c', staging], { cwd: dir });
    assert.equal(second.code, 1, second.output);
    assert.match(second.stderr, new RegExp(`already running for \\S+ \\(pid \\d+, config ${prod.replace(/[.]/g, '\\.')}\\); to run ${staging.replace(/[.]/g, '\\.')} beside it, give it a runtime directory of its own`), second.output);
    // -s names the socket on purpose: no config is sent, so the drover answers
    const viaUrl = await runCli(['status', '-s', `unix://${join(dir, '.drover', 'drover.sock')}`], { cwd: dir });
    assert.equal(viaUrl.code, 0, viaUrl.output);
  } finally {
    const down = await runCli(['down', '-c', prod], { cwd: dir });
    assert.equal(down.code, 0, down.output);
  }
});
