// User and group look-ups (os/users.ts) go through getent, so NSS sources count; a minimal image (distroless,
// a busybox without getent) has none, and there `user = nobody` must still resolve, from /etc/passwd and
// /etc/group, to what getent would have said.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

const USERS = new URL('../../../src/os/users.js', import.meta.url).href;

/** The look-ups in a fresh Node whose PATH is `path`, as JSON. */
function lookUp(path: string): { out: unknown; stderr: string; status: number | null } {
  const script = `
    const { lookupUser, lookupGroupId } = await import(${JSON.stringify(USERS)});
    const out = {};
    for (const k of ['root', '0', 'nobody', '65534', 'no-such-user-drover']) out['user ' + k] = lookupUser(k);
    for (const k of ['root', '0', 'nogroup', 'no-such-group-drover']) out['group ' + k] = lookupGroupId(k);
    console.log(JSON.stringify(out));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env: { PATH: path }, encoding: 'utf8', timeout: 20_000 });
  let out: unknown = null;
  try {
    out = JSON.parse(r.stdout);
  } catch {
    // left null: the assertion below prints stderr
  }
  return { out, stderr: r.stderr, status: r.status };
}

test('without getent on PATH, users and groups resolve from /etc/passwd and /etc/group as getent resolves them', () => {
  const empty = mkdtempSync(join(tmpdir(), 'drover-nogetent-'));
  try {
    const withGetent = lookUp(process.env['PATH'] ?? '/usr/bin:/bin');
    const without = lookUp(empty);
    assert.equal(withGetent.status, 0, `with getent: ${withGetent.stderr}`);
    assert.equal(without.status, 0, `without getent: ${without.stderr}`);
    assert.deepEqual(without.out, withGetent.out);
    const o = without.out as Record<string, { uid: number } | number | null>;
    assert.equal((o['user nobody'] as { uid: number }).uid, 65534);
    assert.equal(o['user no-such-user-drover'], null);
    assert.equal(o['group no-such-group-drover'], null);
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
});
