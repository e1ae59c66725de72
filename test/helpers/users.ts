// Throw-away local users for privilege tests (the suite runs as root): `useradd` in a test's `before`,
// `userdel -r` in its `after`. Each test file uses its own names, so files running in parallel never share one.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export interface TestUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
  /** Runs argv as this user (real and effective ids, its groups, HOME); returns exit code and output. */
  run(argv: readonly string[], opts?: { cwd?: string; input?: string }): { code: number | null; stdout: string; stderr: string };
  /** Deletes the user, its home directory and its processes. */
  remove(): void;
}

/** Whether this test run can create users (root with useradd); tests that need one skip loudly otherwise. */
export function canCreateUsers(): boolean {
  return process.getuid?.() === 0 && spawnSync('useradd', ['--help']).status === 0;
}

/**
 * Creates a user named `prefix` plus a random suffix (≤ 32 characters), with a home directory and, when
 * `group` is given, membership of that supplementary group (created if missing).
 */
export function createTestUser(prefix: string, opts: { group?: string } = {}): TestUser {
  const name = `${prefix}${randomBytes(3).toString('hex')}`.slice(0, 32);
  if (opts.group && spawnSync('getent', ['group', opts.group]).status !== 0) execFileSync('groupadd', [opts.group]);
  const args = ['--create-home', '--shell', '/bin/sh', '--user-group'];
  if (opts.group) args.push('--groups', opts.group);
  execFileSync('useradd', [...args, name]);
  const id = (flag: string): number => Number(execFileSync('id', [flag, name], { encoding: 'utf8' }).trim());
  const home = execFileSync('getent', ['passwd', name], { encoding: 'utf8' }).trim().split(':')[5] ?? `/home/${name}`;
  const uid = id('-u');
  const gid = id('-g');
  return {
    name,
    uid,
    gid,
    home,
    run(argv, o = {}) {
      const r = spawnSync('setpriv', ['--reuid', String(uid), '--regid', String(gid), '--init-groups', '--', ...argv], {
        cwd: o.cwd ?? home,
        env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: home, USER: name, LOGNAME: name },
        input: o.input ?? '',
        encoding: 'utf8',
        timeout: 30_000,
      });
      return { code: r.status, stdout: r.stdout, stderr: r.stderr };
    },
    remove() {
      // its processes first: userdel refuses a user that is still logged in or running something
      spawnSync('pkill', ['-KILL', '-u', String(uid)]);
      spawnSync('userdel', ['--remove', '--force', name]);
    },
  };
}

/** Removes a group created by `createTestUser({ group })`, once no test user needs it. */
export function removeTestGroup(group: string): void {
  spawnSync('groupdel', [group]);
}
