import { test } from 'node:test';
import assert from 'node:assert/strict';
import { escapeJsonControls, neutralizeControls } from '../../../../src/cli/commands/logs.js';

test('neutralizeControls shows every control character but tab as text, as cat -v does (issue 11)', () => {
  assert.equal(neutralizeControls('a\r\u001b[2K\u0007b'), 'a^M^[[2K^Gb');
  assert.equal(neutralizeControls('\u0000\u001f\u007f'), '^@^_^?');
  assert.equal(neutralizeControls('\u0080\u009b\u009f'), 'M-^@M-^[M-^_');
  assert.equal(neutralizeControls('\u001b]0;title\u0007'), '^[]0;title^G');
  assert.equal(neutralizeControls('col1\tcol2'), 'col1\tcol2', 'tabs stay');
  assert.equal(neutralizeControls('crlf line\r'), 'crlf line', 'a CR that ends the line is dropped');
  assert.equal(neutralizeControls('café ✓ \u00a0'), 'café ✓ \u00a0', 'printable text is untouched');
});

test('escapeJsonControls writes DEL and C1 as \\u escapes: same data, nothing a terminal acts on', () => {
  const value = { line: 'a\u007fb\u009bc\u001bd' };
  const json = escapeJsonControls(JSON.stringify(value));
  assert.equal(json, '{"line":"a\\u007fb\\u009bc\\u001bd"}');
  assert.deepEqual(JSON.parse(json), value);
});
