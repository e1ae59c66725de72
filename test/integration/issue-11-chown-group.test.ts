// Issue 11, finding 14: `[unix_http_server] chown = user:group` gives the control socket that group, by
// name or by gid (0 included), instead of the user's primary group; `[socket:x] owner = user:group` too.
import assert from 'node:assert/strict';
import { chmodSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { makeTmpDir, startUp, teardown, writeConfig } from '../helpers/drover.js';
import { canCreateUsers, createTestUser, removeTestGroup, type TestUser } from '../helpers/users.js';
import { execFileSync } from 'node:child_process';

const GROUP = 'drvd14g';
let user: TestUser | null = null;

before(() => {
  if (canCreateUsers()) user = createTestUser('drvd14', { group: GROUP });
});

after(() => {
  user?.remove();
  if (user) removeTestGroup(GROUP);
});

function gidOf(group: string): number {
  return Number(execFileSync('getent', ['group', group], { encoding: 'utf8' }).split(':')[2]);
}

/** Starts drover with the control socket and a [socket:s] unix socket owned by `owner`; returns both gids. */
async function socketGroups(owner: string): Promise<{ control: number; socket: number; uid: number }> {
  const dir = makeTmpDir();
  chmodSync(dir, 0o755);
  const control = join(dir, 'control.sock');
  const sock = join(dir, 'app.sock');
  const run = await startUp(
    writeConfig(
      dir,
      `[unix_http_server]
file = ${control}
chown = ${owner}

[socket:s]
bind = unix:${sock}
owner = ${owner}

[program:p]
command = /bin/sleep 1000
sockets = s
startsecs = 0
`,
    ),
  );
  try {
    return { control: statSync(control).gid, socket: statSync(sock).gid, uid: statSync(control).uid };
  } finally {
    run.signal('SIGTERM');
    assert.equal((await run.waitForExit(10_000)).code, 0, run.describe());
    await teardown(run, [], dir);
  }
}

test('chown = user:groupname gives the sockets that group, not the user\'s primary group', async (t) => {
  const u = user;
  if (!u) return t.skip('needs root and useradd to create a throw-away user and group');
  const want = gidOf(GROUP);
  assert.notEqual(want, u.gid, 'the group under test is not the primary one');
  const got = await socketGroups(`${u.name}:${GROUP}`);
  assert.equal(got.uid, u.uid);
  assert.equal(got.control, want, `control socket gid ${got.control}, expected ${GROUP} (${want}), not the primary ${u.gid}`);
  assert.equal(got.socket, want, `[socket:s] gid ${got.socket}, expected ${GROUP} (${want})`);
});

test('chown = user:0 gives the sockets gid 0, not the user\'s primary group', async (t) => {
  const u = user;
  if (!u) return t.skip('needs root and useradd to create a throw-away user and group');
  const got = await socketGroups(`${u.name}:0`);
  assert.equal(got.control, 0, `control socket gid ${got.control}, expected 0, not the primary ${u.gid}`);
  assert.equal(got.socket, 0);
});

test('control: chown = user gives the user\'s primary group', async (t) => {
  const u = user;
  if (!u) return t.skip('needs root and useradd to create a throw-away user and group');
  const got = await socketGroups(u.name);
  assert.equal(got.control, u.gid);
  assert.equal(got.socket, u.gid);
});
