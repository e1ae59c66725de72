// The generated docs match the tables they come from: docs/states.md (the transition table) and
// docs/config.md (the schema). A change to either table must regenerate its doc.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../helpers/paths.js';

for (const script of ['gen-states-doc.mjs', 'gen-config-doc.mjs']) {
  test(`${script} --check: the committed doc is current`, () => {
    const r = spawnSync(process.execPath, [join(repoRoot, 'scripts', script), '--check'], { encoding: 'utf8', cwd: repoRoot });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}\nrun: node scripts/${script}`);
  });
}
