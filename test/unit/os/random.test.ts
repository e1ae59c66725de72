// Random names come from getrandom(2) through the native layer (src/os/random.ts), so that the daemon does
// not load node:crypto for them: hex of the asked length, never the same twice in many draws, and
// node:crypto stays unloaded in a process that draws them.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { randomHex } from '../../../src/os/random.js';

test('randomHex: hex of twice the bytes asked, no repeats over 10 000 draws', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 10_000; i++) {
    const h = randomHex(8);
    assert.match(h, /^[0-9a-f]{16}$/);
    seen.add(h);
  }
  assert.equal(seen.size, 10_000);
  assert.match(randomHex(1), /^[0-9a-f]{2}$/);
});

test('randomHex: drawing does not load node:crypto', () => {
  const module = fileURLToPath(new URL('../../../src/os/random.js', import.meta.url));
  const script = `const { randomHex } = await import(${JSON.stringify(module)}); randomHex(8);
    console.log(JSON.stringify(process.moduleLoadList.filter((m) => /^NativeModule (internal\\/)?crypto/.test(m))));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), [], `loaded: ${r.stdout}`);
});
