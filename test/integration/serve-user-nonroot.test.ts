// `drover serve -u USER` by a user that is not root: drover cannot run the workers as another user. The
// option was written into serve.ini as a program's user=, which `up` only warns about (the config may be
// meant for root), so serve spent its workers' start retries and exited 1 over a file the user never wrote.
import assert from 'node:assert/strict';
import { chownSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { makeTmpDir } from '../helpers/drover.js';
import { droverBin } from '../helpers/paths.js';
import { canCreateUsers, createTestUser, type TestUser } from '../helpers/users.js';

let user: TestUser | null = null;
before(() => {
  if (canCreateUsers()) user = createTestUser('drvserveu');
});
after(() => user?.remove());

test('serve -u another user, run by a user that is not root: refused at once with exit 2, nothing started', { skip: !canCreateUsers() && 'needs root to create a test user' }, () => {
  const u = user as TestUser;
  const dir = makeTmpDir();
  chownSync(dir, u.uid, u.gid);
  const app = join(dir, 'app.mjs');
  writeFileSync(app, 'export default (req, res) => res.end("ok")\n', { mode: 0o644 });
  const serve = (who: string) => u.run([process.execPath, droverBin, 'serve', app, '-w', '1', '-b', '127.0.0.1:0', '-u', who, '--runtime-dir', join(dir, 'rt'), '--check-config'], { cwd: dir });
  const other = serve('nobody');
  assert.equal(other.code, 2, `${other.stdout}${other.stderr}`);
  assert.match(other.stderr, /^drover serve: -u nobody: drover runs as uid \d+, not as root, so it cannot run the workers as nobody/m, other.stderr);
  const unknown = serve('drover-no-such-user');
  assert.equal(unknown.code, 2, `${unknown.stdout}${unknown.stderr}`);
  assert.match(unknown.stderr, /^drover serve: -u drover-no-such-user: no such user/m, unknown.stderr);
  // the user's own name is not a switch: taken as it is
  const own = serve(u.name);
  assert.equal(own.code, 0, `${own.stdout}${own.stderr}`);
});
