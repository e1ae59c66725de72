// Short-lived Node scripts with an answer channel on fd 3 (src/os/node-script.ts): the blocking runner the
// CLI uses and the daemon's non-blocking twin must say the same things — the answer, the output, a time
// limit hit, an output limit hit — and the twin must not hold the event loop. Real processes.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runNodeScript, runNodeScriptSync, type NodeScriptRun } from '../../../src/os/node-script.js';

const dir = mkdtempSync(join(tmpdir(), 'drover-ns-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function script(name: string, body: string): string {
  const file = join(dir, name);
  writeFileSync(file, body);
  return file;
}

const limits = { env: { ...process.env, DROVER_TEST_MARK: 'node-script' }, cwd: dir, timeoutMs: 2_000, maxBytes: 64 * 1024 };

async function both(file: string, opts = limits): Promise<[NodeScriptRun, NodeScriptRun]> {
  return [runNodeScriptSync([file], opts), await runNodeScript([file], opts)];
}

test('the answer on fd 3 and the output on stdout and stderr, apart, with the exit status', async () => {
  const file = script('answer.mjs', `import { writeSync } from 'node:fs';\nconsole.log('out');\nconsole.error('err');\nwriteSync(3, '{"ok":true}');\nprocess.exitCode = 3;\n`);
  for (const r of await both(file)) {
    assert.equal(r.answer, '{"ok":true}');
    assert.equal(r.output, 'out\nerr\n');
    assert.equal(r.status, 3);
    assert.equal(r.timedOut, false);
    assert.equal(r.failure, null);
  }
});

test('a script past the time limit is killed and said to have timed out, also when a process of its own holds its output open', async () => {
  const hung = script('hung.mjs', `setInterval(() => {}, 1000);\n`);
  const pids = join(dir, 'holder.pids');
  const holder = script(
    'holder.mjs',
    `import { spawn } from 'node:child_process';\nimport { appendFileSync } from 'node:fs';\nconst c = spawn('/bin/sleep', ['30'], { stdio: ['ignore', 'inherit', 'inherit', 'inherit'] });\nappendFileSync(${JSON.stringify(pids)}, c.pid + '\\n');\nc.unref();\n`,
  );
  try {
    const [sync, async] = await both(hung, { ...limits, timeoutMs: 300 });
    assert.equal(sync.timedOut, true, JSON.stringify(sync));
    assert.equal(async.timedOut, true, JSON.stringify(async));
    // the holder exits once it has started its sleep: only the sleep's hold on the pipes can make it time out
    // (a Node start slower than the limit, on a loaded machine, has it killed first: timed out all the same)
    const held = await runNodeScript([holder], { ...limits, timeoutMs: 1_500 });
    assert.equal(held.timedOut, true, JSON.stringify(held));
    assert.equal(held.failure, null);
  } finally {
    for (const pid of (existsSync(pids) ? readFileSync(pids, 'utf8') : '').split('\n').filter(Boolean).map(Number)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  }
});

test('output over the limit ends the script with a failure that says so', async () => {
  const file = script('loud.mjs', `process.stdout.write('x'.repeat(1024 * 1024));\nsetInterval(() => {}, 1000);\n`);
  for (const r of await both(file)) {
    assert.equal(r.failure, `it wrote more than ${limits.maxBytes} bytes`, JSON.stringify({ ...r, output: r.output.length }));
    assert.equal(r.timedOut, false);
  }
});

test('the non-blocking runner leaves the event loop free while the script runs', async () => {
  const file = script('slow.mjs', `const until = Date.now() + 400;\nwhile (Date.now() < until);\n`);
  let ticks = 0;
  const ticker = setInterval(() => (ticks += 1), 20);
  try {
    const r = await runNodeScript([file], limits);
    assert.equal(r.status, 0);
    assert.ok(ticks >= 5, `the loop turned ${ticks} times while the script ran`);
  } finally {
    clearInterval(ticker);
  }
});
