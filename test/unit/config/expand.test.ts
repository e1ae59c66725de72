import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExpandError, expand } from '../../../src/config/expand.js';

const names = new Map<string, string | number>([
  ['program_name', 'web'],
  ['process_num', 7],
  ['n', 'ab'],
]);

test('named conversions and %% as Python formats them', () => {
  assert.equal(expand('%(program_name)s_%(process_num)02d', names), 'web_07');
  assert.equal(expand('100%% %(process_num)d', names), '100% 7');
  // expected from Python: "%(n)5s|%(n)-5s|%(i)+d|%(i)05.1f|%(i)#x|%(i)03d|%(i)o" % {"n":"ab","i":7}
  assert.equal(expand('%(n)5s|%(n)-5s|%(process_num)+d|%(process_num)05.1f|%(process_num)#x|%(process_num)03d|%(process_num)o', names), '   ab|ab   |+7|007.0|0x7|007|7');
  assert.equal(expand('%(program_name)r', names), "'web'");
  assert.equal(expand('no expansions', names), 'no expansions');
});

test('unknown names and bad formats are ExpandErrors', () => {
  assert.throws(() => expand('%(nope)s', names), (e: unknown) => e instanceof ExpandError && e.unknownName === 'nope');
  assert.throws(() => expand('100%', names), ExpandError);
  assert.throws(() => expand('%(program_name', names), ExpandError);
  assert.throws(() => expand('%(program_name)d', names), /needs a number/);
  assert.throws(() => expand('%(program_name)z', names), /unsupported format character/);
  assert.throws(() => expand('%s', names), ExpandError);
});
