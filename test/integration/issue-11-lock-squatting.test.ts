// Issue 11, finding 12: the single-instance lock must not be something any local user can take first.
// drover used an abstract unix socket named after the runtime directory; an unprivileged user who bound that
// name kept root's drover from starting. The lock is now a flock on a file inside the 0700 runtime directory.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Daemon } from '../helpers/daemon.js';
import { canCreateUsers, createTestUser, type TestUser } from '../helpers/users.js';

let user: TestUser | null = null;

before(() => {
  if (canCreateUsers()) user = createTestUser('drvlock');
});
after(() => user?.remove());

test('an unprivileged user holding the old abstract lock name cannot keep drover from starting', { skip: !canCreateUsers() && 'needs root and useradd' }, async () => {
  const u = user as TestUser;
  const d = new Daemon('[program:sleeper]\ncommand = /bin/sleep 1000\nstartsecs = 0\n');
  // the user binds every name a lock could have (the old scheme's) and holds it while drover starts
  const runtimeDir = join(d.dir, '.drover');
  const name = `drover-${createHash('sha256').update(runtimeDir).digest('hex').slice(0, 24)}`;
  const squat = u.run([
    '/usr/bin/python3',
    '-c',
    `import socket, os, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
# Node binds abstract names padded with NULs to the full sun_path (108 bytes)
s.bind((b"\\0" + sys.argv[1].encode()).ljust(108, b"\\0"))
s.listen(1)
if os.fork() == 0:
    os.setsid()
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    import time
    time.sleep(60)
print("squatting", flush=True)`,
    name,
  ]);
  assert.equal(squat.code, 0, `squatter failed: ${squat.stderr}`);
  try {
    // up() throws, with the daemon's output, when drover does not start; it also records the pid teardown stops
    await d.up();
    // the runtime directory is drover's and closed to others, so the lock file inside cannot be squatted
    const again = u.run(['sh', '-c', `exec 9>>'${join(runtimeDir, 'drover.lock')}'`]);
    assert.notEqual(again.code, 0, 'the test user could open the lock file');
  } finally {
    u.run(['pkill', '-KILL', '-u', u.name]);
    await d.teardown();
  }
});
