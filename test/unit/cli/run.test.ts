// How a CLI command ends its process (src/cli/run.ts): with the command's code once its output is out, and
// never with a silent 0 when the command was left waiting on something nothing will finish. Real processes.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';

const runModule = pathToFileURL(new URL('../../../src/cli/run.js', import.meta.url).pathname).href;

function runMain(body: string): { code: number | null; stderr: string; stdout: string } {
  const script = `import { run } from ${JSON.stringify(runModule)};\nrun('drover test', ${body});\n`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 15_000 });
  return { code: r.status, stderr: r.stderr, stdout: r.stdout };
}

test("a command's code is the process's exit code, after its output", () => {
  const r = runMain(`async () => { process.stdout.write('x'.repeat(100000)); return 3; }`);
  assert.equal(r.code, 3, r.stderr);
  assert.equal(r.stdout.length, 100000);
});

test('a command left waiting on a promise nothing settles fails (exit 1, said on stderr), not a silent 0', () => {
  // a signal listener is unref'd in Node: waiting on it alone leaves the event loop with nothing to do
  const r = runMain(`() => new Promise((resolve) => process.once('SIGTERM', resolve))`);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /internal error: the command was left waiting with nothing that could finish it/);
});

test('a command that waits on a timer is not taken for one left waiting', () => {
  const r = runMain(`() => new Promise((resolve) => setTimeout(() => resolve(4), 50))`);
  assert.equal(r.code, 4, r.stderr);
  assert.equal(r.stderr, '');
});
