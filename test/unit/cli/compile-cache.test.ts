// The compile cache's directory (issue 16): only one the user drover runs as owns and alone can write, since
// Node runs what it finds there without compiling it. Real directories, real owners (these tests chown, so
// the ownership cases run as root only).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
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

// --- runBundle: V8's code cache for the status bundle where Node has no compile cache (Node 20) ---

const compileCacheUrl = new URL('../../../src/cli/compile-cache.js', import.meta.url).href;

/** Runs `file` through runBundle in a fresh Node with HOME `h`; its output, exit status and stderr. */
function runThrough(h: string, file: string, extraEnv: Record<string, string> = {}, keep = '() => true'): { out: string; status: number | null; err: string } {
  const env: Record<string, string | undefined> = { ...process.env, HOME: h, ...extraEnv };
  delete env['XDG_CACHE_HOME'];
  if (!('NODE_DISABLE_COMPILE_CACHE' in extraEnv)) delete env['NODE_DISABLE_COMPILE_CACHE'];
  const code = `import { runBundle } from ${JSON.stringify(compileCacheUrl)}; runBundle(${JSON.stringify(file)}, 't', process.env, ${keep});`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { env, encoding: 'utf8', timeout: 20_000 });
  return { out: r.stdout, status: r.status, err: r.stderr };
}

/** Inode and change time of a path, to tell whether a run wrote it again. */
function version(path: string): string {
  const st = statSync(path, { bigint: true });
  return `${st.ino}:${st.ctimeNs}`;
}

test('runBundle runs a file as require does, then from its code cache until the file changes', () => {
  const h = home('v8cache');
  const lib = join(h, 'lib');
  mkdirSync(lib);
  // a module that requires a neighbour by a relative path and prints what its wrapper gave it
  writeFileSync(join(lib, 'other.cjs'), "module.exports = 'neighbour';\n");
  const file = join(lib, 'bundle.cjs');
  const body = (letter: string): string =>
    `'use strict';\nconst o = require('./other.cjs');\nprocess.stdout.write(['${letter}', o, __filename === ${JSON.stringify(file)}, __dirname === ${JSON.stringify(lib)}, module.exports === exports, this === exports].join(' '));\n`;
  writeFileSync(file, body('A'));
  const entry = join(h, '.cache', 'drover', 'compile-cache', 't.v8cache');

  const first = runThrough(h, file);
  assert.equal(first.status, 0, first.err);
  assert.equal(first.out, 'A neighbour true true true true');
  assert.ok(existsSync(entry), 'the entry is written when the process exits');
  assert.equal(statSync(entry).mode & 0o777, 0o600);
  const head = readFileSync(entry, 'latin1').split('\n')[0] ?? '';
  assert.match(head, /^drover-v8cache 1 \d+:\d+:\d+:\d+:\d+ v\d+\.\d+\.\d+ linux-/, 'first line: the file identity and Node');

  const written = version(entry);
  const second = runThrough(h, file);
  assert.equal(second.out, 'A neighbour true true true true', second.err);
  assert.equal(version(entry), written, 'a valid entry is used as it is, not written again');

  // Same length, other code: V8 checks the source's length only, so only the file identity catches this
  writeFileSync(file, body('B'));
  const third = runThrough(h, file);
  assert.equal(third.out, 'B neighbour true true true true', `the changed file's code runs, not the cached one; ${third.err}`);
  assert.notEqual(version(entry), written, 'the entry is written again for the changed file');
});

test('runBundle: a damaged entry is rejected and replaced; NODE_DISABLE_COMPILE_CACHE writes none', () => {
  const h = home('v8cache-damaged');
  const file = join(h, 'bundle.cjs');
  writeFileSync(file, "'use strict';\nprocess.stdout.write('ran');\n");
  const entry = join(h, '.cache', 'drover', 'compile-cache', 't.v8cache');
  assert.equal(runThrough(h, file).out, 'ran');
  const data = readFileSync(entry);
  const headLength = data.indexOf(10) + 1;
  // the right first line, then bytes V8 cannot take
  writeFileSync(entry, Buffer.concat([data.subarray(0, headLength), Buffer.alloc(data.length - headLength, 0x5a)]), { mode: 0o600 });
  const damaged = version(entry);
  const r = runThrough(h, file);
  assert.equal(r.status, 0, r.err);
  assert.equal(r.out, 'ran');
  assert.notEqual(version(entry), damaged, 'the rejected entry is replaced');
  assert.equal(runThrough(h, file).out, 'ran');

  const h2 = home('v8cache-disabled');
  const file2 = join(h2, 'bundle.cjs');
  writeFileSync(file2, "'use strict';\nprocess.stdout.write('ran');\n");
  assert.equal(runThrough(h2, file2, { NODE_DISABLE_COMPILE_CACHE: '1' }).out, 'ran');
  assert.equal(existsSync(join(h2, '.cache', 'drover', 'compile-cache', 't.v8cache')), false);
});

test('runBundle keeps an entry only from a run whose exit code `keep` accepts', () => {
  const h = home('v8cache-keep');
  const file = join(h, 'bundle.cjs');
  const entry = join(h, '.cache', 'drover', 'compile-cache', 't.v8cache');
  writeFileSync(file, "'use strict';\nprocess.exitCode = Number(process.env.CODE);\n");
  const failed = runThrough(h, file, { CODE: '7' }, '(code) => code === 0 || code === 3');
  assert.equal(failed.status, 7, failed.err);
  assert.equal(existsSync(entry), false, 'no entry from a run that ended with 7');
  assert.equal(runThrough(h, file, { CODE: '3' }, '(code) => code === 0 || code === 3').status, 3);
  assert.equal(existsSync(entry), true, 'an entry from a run that ended with 3');
});
