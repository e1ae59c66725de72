import { test } from 'node:test';
import assert from 'node:assert/strict';
import { negativeNumbersAsValues, notACommand } from '../../../src/cli/argv.js';

const isCommand = (w: string): boolean => ['status', 'up'].includes(w);

test('an option that may come before the command, reaching main.ts unmoved, is not called unknown', () => {
  // dist/src/cli/main.js run directly: bin/drover.js, which moves -c behind the command, did not run
  const m = notACommand('-c', ['-c', 'drover.ini', 'status'], isCommand);
  assert.doesNotMatch(m, /unknown option/, m);
  assert.match(m, /"-c" before the command "status"/, m);
  assert.match(m, /bin\/drover\.js/, m);
});

test('an unknown option before the command is still called unknown', () => {
  assert.equal(
    notACommand('-x', ['-x', 'status'], isCommand),
    'unknown option "-x" before the command "status": only -c, -s, -u, -p and --json may come before the command; its own options go after it',
  );
});

const OPTIONS = { workers: { type: 'string', short: 'w' }, lines: { type: 'string', short: 'n' }, follow: { type: 'boolean', short: 'f' }, json: { type: 'boolean' } } as const;

test('a command line with no negative number is passed on as it is', () => {
  const argv = ['app.mjs', '-w', '2', '--json', '-fn', '5'];
  assert.deepEqual(negativeNumbersAsValues(argv, OPTIONS), argv);
});

test('a negative number after an option that takes a value becomes its value; any other is a positional in its place', () => {
  assert.deepEqual(negativeNumbersAsValues(['app.mjs', '-w', '-2'], OPTIONS), ['--workers=-2', '--', 'app.mjs']);
  assert.deepEqual(negativeNumbersAsValues(['--workers', '-0.5', 'app.mjs'], OPTIONS), ['--workers=-0.5', '--', 'app.mjs']);
  // a cluster whose last letter takes a value: the word after it is that value
  assert.deepEqual(negativeNumbersAsValues(['web', '-fn', '-5'], OPTIONS), ['-f', '--lines=-5', '--', 'web']);
  // order among positionals is kept: `scale web -1`, `signal -9 web`
  assert.deepEqual(negativeNumbersAsValues(['web', '-1', '--json'], OPTIONS), ['--json', '--', 'web', '-1']);
  assert.deepEqual(negativeNumbersAsValues(['-9', 'web'], OPTIONS), ['--', '-9', 'web']);
  // what follows a -- stays positional; a value that is not a number stays a word of its own
  assert.deepEqual(negativeNumbersAsValues(['-w', '3', 'a', '--', '-x', '-1'], OPTIONS), ['--workers', '3', '--', 'a', '-x', '-1']);
  // an option given last without its value is left for parseArgs to refuse
  assert.deepEqual(negativeNumbersAsValues(['-1', '-w'], OPTIONS), ['--workers', '--', '-1']);
});
