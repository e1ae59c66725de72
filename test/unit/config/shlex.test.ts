import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ShlexError, lexWords, splitCommand } from '../../../src/config/shlex.js';

test('splitCommand matches Python shlex.split on quotes and backslashes', () => {
  // expected values produced by /usr/bin/python3 -c 'import shlex; print(shlex.split(...))'
  assert.deepEqual(splitCommand(`a "b c" d\\ e 'f g' "x\\"y" "p\\q" '' end`), ['a', 'b c', 'd e', 'f g', 'x"y', 'p\\q', '', 'end']);
  assert.deepEqual(splitCommand('  /bin/sh   -c  "echo $HOME"  '), ['/bin/sh', '-c', 'echo $HOME']);
  assert.deepEqual(splitCommand(`it''s`), ['its']);
  assert.deepEqual(splitCommand('a#b # c'), ['a#b', '#', 'c']);
  assert.deepEqual(splitCommand(''), []);
});

test('splitCommand rejects an unclosed quote and a trailing backslash', () => {
  assert.throws(() => splitCommand('echo "hi'), ShlexError);
  assert.throws(() => splitCommand('echo hi\\'), ShlexError);
});

test('lexWords keeps quotes and splits punctuation like non-POSIX shlex', () => {
  assert.deepEqual(lexWords('A="a,b",B=c'), ['A', '=', '"a,b"', ',', 'B', '=', 'c']);
  assert.deepEqual(lexWords('A=$HOME'), ['A', '=', '$', 'HOME']);
  assert.deepEqual(lexWords('P=/usr/bin:/bin,V=1.2-3+4'), ['P', '=', '/usr/bin:/bin', ',', 'V', '=', '1.2-3+4']);
  assert.deepEqual(lexWords('A=1 # comment'), ['A', '=', '1']);
});
