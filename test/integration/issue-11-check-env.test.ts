// Issue 11 (security review): the exec checks of a `user=` program ran as that user but with drover's own
// HOME (/root) and no USER or LOGNAME, while the program itself has its user's: a check that reads its
// dotfiles (~/.pgpass for pg_isready, ~/.my.cnf) read root's, or failed. A check now gets the environment
// the program gets, built by the same code.
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { makeTmpDir, startUp, teardown, waitForCondition, writeConfig } from '../helpers/drover.js';
import { canCreateUsers, createTestUser, type TestUser } from '../helpers/users.js';

let user: TestUser | null = null;

before(() => {
  if (canCreateUsers()) user = createTestUser('drvce');
});

after(() => {
  user?.remove();
});

/** `env` output as a map (one VAR=value a line; values here hold no newline). */
function parseEnv(text: string): Map<string, string> {
  const env = new Map<string, string>();
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) env.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return env;
}

test("a user= program's ready and health exec checks get its user's HOME, USER and LOGNAME, as the program does", async (t) => {
  if (user === null) return t.skip('needs root and useradd to create a throw-away user');
  const dir = makeTmpDir('drover-checkenv-');
  chmodSync(dir, 0o755);
  const out = join(dir, 'out'); // the program and its checks, run as the user, write their `env` here
  mkdirSync(out);
  chownSync(out, user.uid, user.gid);
  // each writes to a temp name then renames: the test never reads half a file
  const dump = (name: string): string => `exec:/bin/sh -c "env > ${out}/${name}.tmp && mv ${out}/${name}.tmp ${out}/${name}"`;
  const file = writeConfig(
    dir,
    `[program:app]
command = /bin/sh -c 'env > ${out}/program.tmp && mv ${out}/program.tmp ${out}/program && exec sleep 1000'
user = ${user.name}
directory = ${out}
ready = ${dump('ready')}
ready_interval = 50ms
healthcheck = ${dump('health')}
healthcheck_interval = 100ms
stopasgroup = true
`,
  );
  chmodSync(file, 0o644);
  const run = await startUp(file);
  try {
    await run.waitForLine(/app: starting → running/);
    const paths = ['program', 'ready', 'health'].map((n) => join(out, n));
    await waitForCondition(() => paths.every((p) => existsSync(p)), 'the program and both checks to write their env', {
      describe: () => `${paths.map((p) => `${p}: ${existsSync(p) ? 'written' : 'missing'}`).join('\n')}\n${run.describe()}`,
    });
    const [program, ready, health] = paths.map((p) => parseEnv(readFileSync(p, 'utf8'))) as [Map<string, string>, Map<string, string>, Map<string, string>];
    assert.equal(program.get('HOME'), user.home);
    assert.equal(program.get('USER'), user.name);
    assert.equal(program.get('LOGNAME'), user.name);
    for (const [what, env] of [
      ['ready', ready],
      ['health', health],
    ] as const) {
      for (const key of ['HOME', 'USER', 'LOGNAME', 'SUPERVISOR_PROCESS_NAME', 'SUPERVISOR_GROUP_NAME', 'SUPERVISOR_ENABLED']) {
        assert.equal(env.get(key), program.get(key), `${what} check's ${key} (the program's is ${program.get(key) ?? 'unset'})`);
      }
    }
  } finally {
    await teardown(run, [], dir);
  }
});
