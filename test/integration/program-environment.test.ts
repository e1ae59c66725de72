// What a program's environment holds when drover runs it through a shell wrapper (`user=` with `directory=`
// enters the directory as the user; `sockets =` sets LISTEN_PID): variables whose names are not shell
// identifiers, and PWD/OLDPWD, reach the program as supervisord passes them (dash dropped the first and set
// the second).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fixture, makeTmpDir, startUp, teardown, writeConfig } from '../helpers/drover.js';
import { canCreateUsers, createTestUser, type TestUser } from '../helpers/users.js';

const skip = !canCreateUsers() && 'needs root and useradd to create a throw-away user';

test('user= with directory=, and sockets=: every variable reaches the program as given', { skip }, async () => {
  const user: TestUser = createTestUser('drenv');
  const dir = makeTmpDir();
  const conf = writeConfig(
    dir,
    `[socket:s]
bind = 127.0.0.1:0

[program:ud]
command = ${process.execPath} ${fixture('print-env.mjs')}
user = ${user.name}
directory = /tmp
environment = spring.profiles.active="prod",my-var="x",PWD="/custom"
startsecs = 0
autorestart = false

[program:ls]
command = ${process.execPath} ${fixture('print-env.mjs')}
sockets = s
environment = a.b="1"
startsecs = 0
autorestart = false
`,
  );
  // inherited from drover's own environment too
  const run = await startUp(conf, { 'INH.DOT': '1', OLDPWD: '/previous' });
  try {
    const seen = async (name: string): Promise<Record<string, string>> =>
      (JSON.parse((await run.waitForLine(new RegExp(`^${name} \\| ENV (.*)$`, 'm')))[1] as string) as { env: Record<string, string> }).env;
    const ud = await seen('ud');
    const want = { 'spring.profiles.active': 'prod', 'my-var': 'x', 'INH.DOT': '1', PWD: '/custom', OLDPWD: '/previous', USER: user.name };
    for (const [k, v] of Object.entries(want)) assert.equal(ud[k], v, `ud's ${k}: ${JSON.stringify(ud)}\n${run.describe()}`);
    const ls = await seen('ls');
    assert.equal(ls['a.b'], '1', JSON.stringify(ls));
    assert.equal(ls['INH.DOT'], '1', JSON.stringify(ls));
    assert.equal(ls['LISTEN_FDS'], '1', JSON.stringify(ls));
    assert.match(ls['LISTEN_PID'] ?? '', /^\d+$/, JSON.stringify(ls));
  } finally {
    await teardown(run, [], dir);
    user.remove();
  }
});
