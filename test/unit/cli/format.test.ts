// Whether the CLI colours its output and rewrites a progress line in place (src/cli/format.ts): only on a
// terminal that takes escape sequences, never with NO_COLOR, and neither on a TERM=dumb terminal.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isCapableTerminal, useColor } from '../../../src/cli/format.js';

test('a terminal gets colours and the in-place progress line; a pipe or file gets neither', () => {
  assert.equal(useColor({ isTTY: true, env: { TERM: 'xterm-256color' } }), true);
  assert.equal(isCapableTerminal({ isTTY: true, env: { TERM: 'xterm-256color' } }), true);
  assert.equal(useColor({ isTTY: false, env: { TERM: 'xterm-256color' } }), false);
  assert.equal(isCapableTerminal({ isTTY: false, env: { TERM: 'xterm-256color' } }), false);
});

test('NO_COLOR turns colours off; the progress line stays', () => {
  assert.equal(useColor({ isTTY: true, env: { TERM: 'xterm', NO_COLOR: '1' } }), false);
  assert.equal(useColor({ isTTY: true, env: { TERM: 'xterm', NO_COLOR: '' } }), true, 'an empty NO_COLOR is unset (no-color.org)');
  assert.equal(isCapableTerminal({ isTTY: true, env: { TERM: 'xterm', NO_COLOR: '1' } }), true);
});

test('TERM=dumb turns off both colours and the in-place progress line', () => {
  assert.equal(useColor({ isTTY: true, env: { TERM: 'dumb' } }), false);
  assert.equal(isCapableTerminal({ isTTY: true, env: { TERM: 'dumb' } }), false);
});
