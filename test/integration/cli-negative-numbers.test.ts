// A negative number on the command line reaches the option's or argument's own check (known gap of the
// thirty-sixth session): parseArgs read `-1` as an option and answered in its own words ("Unknown option
// '-1'", "Option '-w' argument is ambiguous … use '--workers=-XYZ'"), then printed the whole usage.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeTmpDir, runCli } from '../helpers/drover.js';

test('negative numbers get the message any other bad value of the same option or argument gets (exit 2)', async () => {
  const dir = makeTmpDir();
  writeFileSync(join(dir, 'drover.ini'), '[program:a]\ncommand = sleep 100\n');
  writeFileSync(join(dir, 'app.mjs'), 'export default (req, res) => res.end("ok");\n');
  const cases: [string[], RegExp][] = [
    [['scale', 'a', '-1'], /^drover scale: N must be an integer from 1 to 10000, got "-1"$/m],
    [['logs', 'a', '-n', '-5'], /^drover logs: -n needs a number of lines, got "-5"$/m],
    [['tail', 'a', '-n', '-1'], /^drover tail: -n needs a number of lines, got "-1"$/m],
    [['serve', 'app.mjs', '-w', '-2'], /^drover serve: --workers must be a whole number, got "-2"$/m],
    [['serve', '--max-requests', '-5', 'app.mjs'], /^drover serve: --max-requests must be a whole number, got "-5"$/m],
    [['up', '--wait-timeout', '-3'], /^drover up: --wait-timeout "-3": expected a number of seconds above 0$/m],
  ];
  for (const [args, expected] of cases) {
    const r = await runCli(args, { cwd: dir });
    const said = `drover ${args.join(' ')} → exit ${r.code}\n${r.output}`;
    assert.equal(r.code, 2, said);
    assert.match(r.stderr, expected, said);
    assert.doesNotMatch(r.stderr, /Unknown option|ambiguous|argument missing/, said);
  }
});
