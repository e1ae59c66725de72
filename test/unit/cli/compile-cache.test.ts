// The compile cache's directory (issue 16): only one the user drover runs as owns and alone can write, since
// Node runs what it finds there without compiling it. Real directories, real owners (these tests chown, so
// the ownership cases run as root only).
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { cacheDirectory } from '../../../src/cli/compile-cache.js';

const root = mkdtempSync(join(tmpdir(), 'drover-cc-'));
test.after(() => rmSync(root, { recursive: true, force: true }));
const asRoot = process.geteuid?.() === 0;

function home(name: string): string {
  const h = join(root, name);
  mkdirSync(h, { mode: 0o755 });
  return h;
}

test('a home of this user: ~/.cache/drover/compile-cache, made private', () => {
  const h = home('mine');
  const dir = cacheDirectory({ HOME: h });
  assert.equal(dir, join(h, '.cache', 'drover', 'compile-cache'));
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  assert.equal(cacheDirectory({ HOME: h, XDG_CACHE_HOME: join(h, 'xdg') }), join(h, 'xdg', 'drover', 'compile-cache'));
});

test('no cache without a home, or in a directory others can write or a link points to', () => {
  assert.equal(cacheDirectory({}), null);
  const h = home('open');
  const xdg = join(h, 'xdg');
  mkdirSync(xdg);
  chmodSync(xdg, 0o777);
  assert.equal(cacheDirectory({ HOME: h, XDG_CACHE_HOME: xdg }), null, 'a world-writable cache base');
  const h2 = home('linked');
  mkdirSync(join(h2, '.cache'));
  symlinkSync(join(root, 'elsewhere'), join(h2, '.cache', 'drover'));
  mkdirSync(join(root, 'elsewhere'), { mode: 0o700 });
  assert.equal(cacheDirectory({ HOME: h2 }), null, 'drover/ is a symlink');
  const h3 = home('loose');
  mkdirSync(join(h3, '.cache', 'drover', 'compile-cache'), { recursive: true, mode: 0o755 });
  assert.equal(cacheDirectory({ HOME: h3 }), null, 'a cache others can read or list is not taken over');
});

test('root with another user\'s HOME (sudo keeping HOME) gets no cache, and makes nothing there', { skip: !asRoot && 'needs root to chown' }, () => {
  const h = home('theirs');
  chownSync(h, 65534, 65534);
  assert.equal(cacheDirectory({ HOME: h }), null);
  assert.equal(existsSync(join(h, '.cache')), false);
});
