// From a review: before binding its unix control socket, drover connects to the file at its path and
// removes it when nothing answers; a connect refused for permission (EACCES: the socket file's mode denies
// this user) counted as "nothing answers". A second drover run by another user in a shared, group-writable
// directory so removed a live drover's control socket and took its path: the first ran on, unreachable.
// A connect that cannot tell (EACCES, EPERM) now refuses the start (exit 1) and leaves the file, as a
// [socket:x] path does (unix-socket-in-use.test.ts).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CliRun, makeTmpDir, runCli, startUp, teardown, writeConfig } from '../helpers/drover.js';

const skip = process.getuid?.() !== 0 ? 'needs root (a second drover runs as nobody)' : false;

test('a control socket path where another user\'s drover listens: exit 1 naming EACCES; its socket file stays and answers', { skip }, async () => {
  const dir = makeTmpDir();
  chmodSync(dir, 0o755);
  // a directory shared by root and nobody's group, writable by both (so nobody could remove the file)
  const shared = join(dir, 'shared');
  mkdirSync(shared);
  spawnSync('chown', ['root:nogroup', shared]);
  chmodSync(shared, 0o775);
  const sock = join(shared, 'control.sock');
  const home = join(dir, 'home');
  mkdirSync(home);
  spawnSync('chown', ['nobody', home]);
  const program = '[program:sleeper]\ncommand = /bin/sleep 1000\nstartsecs = 0\n';
  const first = writeConfig(dir, `[unix_http_server]\nfile = ${sock}\n\n${program}`, 'first.conf');
  const second = writeConfig(dir, `[supervisord]\nuser = nobody\nruntime_dir = ${join(home, 'run')}\n\n[unix_http_server]\nfile = ${sock}\n\n${program}`, 'second.conf');
  const a = await startUp(first);
  const b = new CliRun(['up', '-c', second], { cwd: dir });
  try {
    const inode = statSync(sock).ino;
    assert.equal(statSync(sock).mode & 0o777, 0o600, 'the first drover\'s socket denies nobody');
    const exit = await b.waitForExit(15_000);
    assert.equal(exit.code, 1, b.describe());
    assert.match(b.stderr, /cannot open the control socket: EACCES: cannot connect to \S*control\.sock to tell whether a drover or supervisord still listens on it .*the file is left in place/, b.describe());
    assert.doesNotMatch(b.output, /spawned: sleeper/, b.describe());
    assert.equal(statSync(sock).ino, inode, 'the first drover\'s socket file is left in place');
    const status = await runCli(['status', '-c', first, 'sleeper']);
    assert.equal(status.code, 0, `the first drover still answers at its socket\n${status.output}\n${a.describe()}`);
  } finally {
    await teardown(b);
    await teardown(a, [], dir);
  }
});
