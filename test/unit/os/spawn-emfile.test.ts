// A spawn that fails because drover has run out of file descriptors must say so. libuv needs a pipe of
// its own to start a child, after drover has made the child's output pipes; when that pipe cannot be made,
// Node gives no error until the next tick, and the start failed with a bare "could not spawn /bin/sh".
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';

const SRC = new URL('../../../src', import.meta.url).href;

/**
 * In a fresh Node with an open-file limit of 64: fill every descriptor, then for k = 0…10 free k of them
 * and spawn a program. One JSON line: what each spawn returned.
 */
const FIXTURE = `
import { closeSync, openSync } from 'node:fs';
const { spawnProcess } = await import(${JSON.stringify(`${SRC}/os/spawn.js`)});
const { getRlimit, RLIMIT, setRlimit } = await import(${JSON.stringify(`${SRC}/os/native.js`)});
setRlimit(RLIMIT.NOFILE, { soft: 64, hard: getRlimit(RLIMIT.NOFILE).hard });
const held = [];
const fill = () => {
  for (;;) {
    try { held.push(openSync('/dev/null', 'r')); } catch (e) { if (e.code !== 'EMFILE') throw e; return; }
  }
};
fill();
const out = [];
for (let k = 0; k <= 10; k++) {
  for (const fd of held.splice(0, k)) closeSync(fd);
  const r = spawnProcess({ argv: ['/bin/sh', '-c', 'exit 0'], env: { PATH: '/usr/bin:/bin' }, cwd: null, umask: null, user: null, pdeathsig: false, stdinPipe: false });
  out.push(r.ok ? { k, ok: true } : { k, ok: false, reason: r.reason, message: r.message });
  if (r.ok) await new Promise((res) => r.child.once('exit', res));
  // the next tick's spawn error, if any, is emitted before the descriptors are taken again
  await new Promise((res) => setImmediate(res));
  fill();
}
console.log(JSON.stringify(out));
process.exit(0);
`;

test('a spawn refused for want of file descriptors says EMFILE and how many are open, at every step that can run out', () => {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', FIXTURE], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, `fixture failed:\n${r.stdout}\n${r.stderr}`);
  const results = JSON.parse(r.stdout) as { k: number; ok: boolean; reason?: string; message?: string }[];
  const failed = results.filter((x) => !x.ok);
  const shown = JSON.stringify(results, null, 1);
  assert.ok(results.some((x) => x.ok), `with ten descriptors free the spawn works:\n${shown}`);
  assert.ok(failed.some((x) => /^could not spawn \/bin\/sh/.test(x.message ?? '')), `some k reaches the spawn itself (past the output pipes):\n${shown}`);
  for (const x of failed) {
    assert.equal(x.reason, 'EMFILE', `k=${x.k}:\n${shown}`);
    assert.match(x.message ?? '', /EMFILE/, `k=${x.k}:\n${shown}`);
  }
  assert.ok(failed.some((x) => /out of file descriptors \(EMFILE; (none free|\d+ open, the limit is 64)\)$/.test(x.message ?? '')), shown);
});
