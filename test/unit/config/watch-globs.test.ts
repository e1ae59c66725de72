// watch = globs: splitting the key, matching absolute paths, and which directories the watcher enters.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ValueProblem } from '../../../src/config/datatypes.js';
import { compileWatchGlob, globMatches, globMayContain, watchGlobs } from '../../../src/config/watch-globs.js';

test('the key splits on commas outside braces and trims; empty gives none', () => {
  assert.deepEqual(watchGlobs('src/**/*.{ts,js}, package.json ,'), ['src/**/*.{ts,js}', 'package.json']);
  assert.deepEqual(watchGlobs(''), []);
  assert.deepEqual(watchGlobs('a\\,b/*.js'), ['a\\,b/*.js']);
  assert.throws(() => watchGlobs('src/{a,b'), ValueProblem);
  assert.throws(() => watchGlobs('src/a}'), ValueProblem);
  assert.throws(() => watchGlobs('src/x**.js'), ValueProblem);
});

test('* and ? stay within a name, ** crosses directories, {a,b} is either, [..] a set', () => {
  const g = compileWatchGlob('/app/src/**/*.{ts,mjs}');
  assert.equal(g.base, '/app/src');
  assert.ok(globMatches(g, '/app/src/a.ts'));
  assert.ok(globMatches(g, '/app/src/x/y/z.mjs'));
  assert.ok(!globMatches(g, '/app/src/a.js'));
  assert.ok(!globMatches(g, '/app/lib/a.ts'));
  const one = compileWatchGlob('/app/*.js');
  assert.ok(globMatches(one, '/app/server.js'));
  assert.ok(!globMatches(one, '/app/sub/server.js'));
  assert.ok(globMatches(compileWatchGlob('/app/v?.[0-9].json'), '/app/v1.2.json'));
  assert.ok(!globMatches(compileWatchGlob('/app/v[!0-9].json'), '/app/v1.json'));
  assert.ok(globMatches(compileWatchGlob('/app/src/**'), '/app/src/deep/file'));
  assert.ok(globMatches(compileWatchGlob('/app/server.js'), '/app/server.js'));
  assert.ok(globMatches(compileWatchGlob('/a\\[b\\]/*.js'), '/a[b]/x.js'));
});

test('hidden names and node_modules match only where the pattern spells them out', () => {
  const g = compileWatchGlob('/app/**/*.js');
  assert.ok(!globMatches(g, '/app/.git/hooks/x.js'));
  assert.ok(!globMatches(g, '/app/node_modules/lib/index.js'));
  assert.ok(!globMatches(g, '/app/.hidden.js'));
  assert.ok(globMatches(compileWatchGlob('/app/node_modules/lib/*.js'), '/app/node_modules/lib/index.js'));
  assert.ok(globMatches(compileWatchGlob('/app/.env*'), '/app/.env.local'));
  assert.ok(globMatches(compileWatchGlob('/app/{.env,config.json}'), '/app/.env'));
});

test('the watcher descends only into directories below which a match can lie', () => {
  const g = compileWatchGlob('/app/src/**/*.ts');
  assert.ok(globMayContain(g, '/app'));
  assert.ok(globMayContain(g, '/app/src'));
  assert.ok(globMayContain(g, '/app/src/a/b'));
  assert.ok(!globMayContain(g, '/app/lib'));
  assert.ok(!globMayContain(g, '/app/src/node_modules'));
  assert.ok(!globMayContain(g, '/app/src/.cache'));
  const flat = compileWatchGlob('/app/*.js');
  assert.ok(globMayContain(flat, '/app'));
  assert.ok(!globMayContain(flat, '/app/sub'));
});
