import { test } from 'node:test';
import assert from 'node:assert/strict';
import { notACommand } from '../../../src/cli/argv.js';

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
