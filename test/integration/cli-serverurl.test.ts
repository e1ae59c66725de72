// A review of the control surface: the CLI ignored `[supervisorctl] serverurl` (a client-only config
// pointing at a drover's TCP port or socket got "no drover is running at unix:///…/.drover/drover.sock",
// exit 7), and with `-s URL` it ignored `[supervisorctl]` username/password (exit 4, asking for -u/-p).
// supervisorctl uses both. `status` runs from its bundle (status-main.ts) and `pid` through main.ts: both
// must find drover the same way.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeTmpDir, runCli, startUp, teardown, writeConfig } from '../helpers/drover.js';
import { freePort } from '../helpers/web.js';

test('[supervisorctl] serverurl (http:// and unix://) is where the CLI finds drover; -s takes [supervisorctl] credentials', async () => {
  const dir = makeTmpDir();
  const port = await freePort();
  const sock = join(dir, 'ctl.sock');
  const server = writeConfig(
    dir,
    `[unix_http_server]\nfile = ${sock}\n\n[inet_http_server]\nport = 127.0.0.1:${port}\nusername = u\npassword = pw\n\n` +
      `[supervisorctl]\nusername = u\npassword = pw\n\n[program:p]\ncommand = /bin/sleep 1000\nstartsecs = 0\n`,
  );
  // client-only configs in a directory of their own: no socket of theirs to fall back on
  const clients = makeTmpDir();
  const overTcp = writeConfig(clients, `[supervisorctl]\nserverurl = http://127.0.0.1:${port}\nusername = u\npassword = pw\n`, 'tcp.conf');
  const overUnix = writeConfig(clients, `[supervisorctl]\nserverurl = unix://${sock}\n`, 'unix.conf');
  const run = await startUp(server);
  try {
    const daemonPid = /drover up: pid (\d+)/.exec(run.output)?.[1];
    for (const args of [
      ['-c', overTcp],
      ['-c', overUnix],
      ['-c', server, '-s', `http://127.0.0.1:${port}`],
    ]) {
      const status = await runCli(['status', ...args], { cwd: clients });
      assert.ok(status.code === 0 || status.code === 3, `drover status ${args.join(' ')}: exit ${status.code}\n${status.output}\n${run.describe()}`);
      assert.match(status.stdout, /^p\s+(starting|running)\s/m, `drover status ${args.join(' ')}\n${status.output}`);
      const pid = await runCli(['pid', ...args], { cwd: clients });
      assert.equal(pid.code, 0, `drover pid ${args.join(' ')}\n${pid.output}`);
      assert.equal(pid.stdout.trim(), daemonPid, `drover pid ${args.join(' ')}\n${pid.output}`);
    }
    // -p over the file's: a wrong one is refused (exit 4), so the flag is what was sent
    const wrong = await runCli(['pid', '-c', overTcp, '-p', 'nope'], { cwd: clients });
    assert.equal(wrong.code, 4, wrong.output);
    // -s over serverurl: nothing listens at this socket
    const elsewhere = await runCli(['status', '-c', overTcp, '-s', `unix://${join(clients, 'none.sock')}`], { cwd: clients });
    assert.equal(elsewhere.code, 7, elsewhere.output);
    assert.match(elsewhere.stderr, /no drover is running at unix:\/\/.*none\.sock/, elsewhere.output);
  } finally {
    await teardown(run, [], dir);
  }
});
