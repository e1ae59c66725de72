// Server hooks ([supervisord] hooks = module): called at the points gunicorn calls its own, in order;
// a failing on_starting aborts the start-up with a clear message and nothing left running.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CliRun, fixture, livePids, makeTmpDir, runCli, startUp, teardown, waitForCondition, writeConfig } from '../helpers/drover.js';

test('hooks run in order: on_starting, pre/post_spawn, when_ready, worker_exit, on_reload, on_exit', async () => {
  const dir = makeTmpDir();
  writeFileSync(
    join(dir, 'hooks.mjs'),
    `const say = (m) => console.log('HOOK ' + m);
export function on_starting(s) { say('on_starting ' + s.processes); }
export function when_ready() { say('when_ready'); }
export function preSpawn(p) { say('pre_spawn ' + p.name + ' ' + p.pid); }
export function post_spawn(p) { say('post_spawn ' + p.name + ' ' + p.pid); }
export function worker_exit(p, how) { say('worker_exit ' + p.name + ' ' + how.code + ' ' + how.signal); }
export async function on_reload() { await new Promise((r) => setTimeout(r, 10)); say('on_reload'); }
export function on_exit() { say('on_exit'); }
`,
  );
  const run = await startUp(
    writeConfig(
      dir,
      `[supervisord]
hooks = hooks.mjs

[socket:web]
bind = 127.0.0.1:0

[program:web]
worker = ${fixture('worker-app.mjs')}
sockets = web
numprocs = 1
`,
    ),
  );
  try {
    await run.waitForLine(/HOOK when_ready/);
    const pid = Number((await run.waitForLine(/HOOK post_spawn web_0 (\d+)/))[1]);
    await run.waitForLine(/web_0: starting → running/);
    run.signal('SIGHUP');
    await run.waitForLine(/HOOK on_reload/);
    await run.waitForLine(/web_0: stopping → stopped/, { timeoutMs: 10_000 });
    run.signal('SIGTERM');
    assert.equal((await run.waitForExit()).code, 0, run.describe());
    const order = [...run.output.matchAll(/HOOK (\w+)/g)].map((m) => m[1]);
    assert.equal(order[0], 'on_starting');
    assert.equal(order.at(-1), 'on_exit');
    assert.ok(order.indexOf('pre_spawn') < order.indexOf('post_spawn'), order.join(' '));
    assert.ok(order.indexOf('post_spawn') < order.indexOf('when_ready') || order.includes('when_ready'), order.join(' '));
    assert.match(run.output, /HOOK pre_spawn web_0 null/);
    assert.match(run.output, new RegExp(`HOOK worker_exit web_0 0 null`));
    assert.ok(pid > 0);
  } finally {
    await teardown(run, [], dir);
  }
});

test('an on_starting hook that throws aborts the start-up: exit 1, nothing started, nothing claimed', async () => {
  const dir = makeTmpDir();
  writeFileSync(join(dir, 'bad-hooks.mjs'), `export function on_starting() { throw new Error('not today'); }\n`);
  const file = writeConfig(dir, `[supervisord]\nhooks = bad-hooks.mjs\n\n[program:x]\ncommand = ${process.execPath} ${fixture('forever.mjs')}\n`);
  const r = await runCli(['up', '-c', file], { cwd: dir });
  assert.equal(r.code, 1, r.output);
  assert.match(r.output, /hook on_starting failed: Error: not today/);
  assert.match(r.output, /the on_starting hook failed \(see the log\); nothing was started/);
  assert.doesNotMatch(r.output, /spawned:/);
  const missing = await runCli(['check', '-c', writeConfig(dir, '[supervisord]\nhooks = nope.mjs\n', 'missing.conf')], { cwd: dir });
  assert.equal(missing.code, 2, missing.output);
  assert.match(missing.stderr, /missing\.conf:2: \[supervisord\] hooks: the hooks module does not exist/);
});

test('an error a hook leaves uncaught (a promise it did not return) stops drover and its programs, and the log names the hooks module', async () => {
  const dir = makeTmpDir();
  writeFileSync(join(dir, 'hooks.mjs'), `export function when_ready() { setTimeout(() => Promise.reject(new Error('stray from a hook')), 50); }\n`);
  const run = await startUp(writeConfig(dir, `[supervisord]\nhooks = hooks.mjs\n\n[program:sleeper]\ncommand = sleep 1000\nstartsecs = 0\n`));
  try {
    const pid = Number((await run.waitForLine(/spawned: sleeper with pid (\d+)/))[1]);
    const exit = await run.waitForExit(15_000);
    assert.equal(exit.code, 1, run.describe());
    assert.match(run.output, new RegExp(`ERROR an error nothing caught in the hooks module ${join(dir, 'hooks.mjs').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, stopping everything: Error: stray from a hook`), run.describe());
    assert.doesNotMatch(run.output, /internal error/);
    await waitForCondition(() => livePids([pid]).length === 0, 'the program to be gone', { describe: () => run.describe() });
  } finally {
    await teardown(run, [], dir);
  }
});

// From a PID 1 audit: a TERM during a slow on_starting hook (docker stop while the container starts) started
// every program and then stopped it, cutting a one-shot job short. The stop comes first now.
// The hook ends once the TERM has reached JavaScript: its listener runs right after drover's own (listeners
// of one signal are called in the order they were added, in the same turn), so by then drover holds the TERM.
// (Waiting until the kernel has handed the signal to a thread was not enough: on a loaded machine that thread
// can be descheduled before its handler tells the event loop, and start-up went on first.)
test('a TERM while on_starting runs: drover stops without starting any program', async () => {
  const dir = makeTmpDir();
  writeFileSync(
    join(dir, 'hooks.mjs'),
    `export async function on_starting() {
  await new Promise((resolve) => {
    process.once('SIGTERM', resolve);
    console.log('HOOK on_starting');
  });
}
`,
  );
  const conf = writeConfig(dir, `[supervisord]\nhooks = hooks.mjs\n\n[program:job]\ncommand = /bin/sleep 1000\nstartsecs = 0\n`);
  const run = new CliRun(['up', '-c', conf]);
  try {
    await run.waitForLine(/HOOK on_starting/);
    process.kill(run.pid, 'SIGTERM');
    const exit = await run.waitForExit(15_000);
    assert.equal(exit.code, 0, run.describe());
    // (the hook ends with the TERM, and drover stops waiting for it then too: either line says it)
    assert.match(run.output, /SIGTERM (came while drover was starting: no program is started|during on_starting: not waiting for the hook; nothing is started)/, run.describe());
    assert.doesNotMatch(run.output, /spawned: job/, run.describe());
  } finally {
    await teardown(run, [], dir);
  }
});

// Review finding: Ctrl-C while on_starting ran was ignored until the hook ended (or ran out its 30 s), and
// then when_ready ran although nothing had started. gunicorn's Ctrl-C interrupts on_starting at once. The
// hook here never ends: drover must stop well within its 30 s, start nothing, skip when_ready and still run
// on_exit once.
test('an INT while on_starting runs: drover stops at once without waiting for the hook, skips when_ready, runs on_exit once', async () => {
  const dir = makeTmpDir();
  writeFileSync(
    join(dir, 'hooks.mjs'),
    `export async function on_starting() {
  console.log('HOOK on_starting');
  await new Promise(() => undefined); // never ends (drover's own 30 s timer keeps the process alive)
}
export function when_ready() { console.log('HOOK when_ready'); }
export function on_exit() { console.log('HOOK on_exit'); }
`,
  );
  const conf = writeConfig(dir, `[supervisord]\nhooks = hooks.mjs\n\n[program:job]\ncommand = /bin/sleep 1000\nstartsecs = 0\n`);
  const run = new CliRun(['up', '-c', conf]);
  try {
    await run.waitForLine(/HOOK on_starting/);
    process.kill(run.pid, 'SIGINT');
    // the hook would hold drover for 30 s: 10 s is a bound it can only meet by not waiting for it
    const exit = await run.waitForExit(10_000);
    assert.equal(exit.code, 0, run.describe());
    assert.match(run.output, /SIGINT during on_starting: not waiting for the hook; nothing is started/, run.describe());
    assert.doesNotMatch(run.output, /spawned: job/, run.describe());
    assert.doesNotMatch(run.output, /HOOK when_ready/, run.describe());
    assert.equal(run.count(/HOOK on_exit/), 1, run.describe());
  } finally {
    await teardown(run, [], dir);
  }
});

// Code review: a stop already queued when on_starting would be called (it came while the config loaded)
// still called the hook, then left it unwaited. The foreground up hands such a signal on through
// DROVER_PENDING_SIGNALS (src/daemon/signals.ts), which puts it there deterministically.
test('a TERM that came before on_starting: the hook is not called, nothing is started, on_exit runs once', async () => {
  const dir = makeTmpDir();
  writeFileSync(
    join(dir, 'hooks.mjs'),
    `export function on_starting() { console.log('HOOK on_starting'); }
export function when_ready() { console.log('HOOK when_ready'); }
export function on_exit() { console.log('HOOK on_exit'); }
`,
  );
  const conf = writeConfig(dir, `[supervisord]\nhooks = hooks.mjs\n\n[program:job]\ncommand = /bin/sleep 1000\nstartsecs = 0\n`);
  const run = new CliRun(['up', '-c', conf], { env: { DROVER_PENDING_SIGNALS: 'TERM' } });
  try {
    const exit = await run.waitForExit(15_000);
    assert.equal(exit.code, 0, run.describe());
    assert.match(run.output, /SIGTERM came before on_starting: the hook is not run; nothing is started/, run.describe());
    assert.doesNotMatch(run.output, /HOOK on_starting|HOOK when_ready|spawned: job/, run.describe());
    assert.equal(run.count(/HOOK on_exit/), 1, run.describe());
  } finally {
    await teardown(run, [], dir);
  }
});

// Review finding: a second Ctrl-C while on_exit ran was ignored: drover waited out the hook's 10 s. A second
// INT means a fast shutdown (DESIGN §5); it ends the wait for on_exit too.
test('a second INT while on_exit runs: drover exits without waiting for the hook', async () => {
  const dir = makeTmpDir();
  writeFileSync(
    join(dir, 'hooks.mjs'),
    `export async function on_exit() {
  console.log('HOOK on_exit');
  await new Promise(() => undefined); // never ends (drover's own 10 s timer keeps the process alive)
}
`,
  );
  const run = await startUp(writeConfig(dir, `[supervisord]\nhooks = hooks.mjs\n\n[program:sleeper]\ncommand = /bin/sleep 1000\nstartsecs = 0\n`));
  try {
    await run.waitForLine(/sleeper: starting → running/);
    run.signal('SIGINT');
    await run.waitForLine(/HOOK on_exit/);
    run.signal('SIGINT');
    // the hook would hold drover for 10 s
    const exit = await run.waitForExit(6_000);
    assert.equal(exit.code, 0, run.describe());
    assert.match(run.output, /SIGINT during on_exit: not waiting for the hook/, run.describe());
  } finally {
    await teardown(run, [], dir);
  }
});
