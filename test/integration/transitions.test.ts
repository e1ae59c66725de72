// The transitions not already driven by the other integration tests, on real processes:
// starting → stopping, backoff → stopped, fatal → starting (fatal_cooldown), fatal → stopped,
// exponential backoff, and `user =` (as root: uid, groups, HOME/USER/LOGNAME of that user).
import assert from 'node:assert/strict';
import { readdirSync, readlinkSync } from 'node:fs';
import { test } from 'node:test';
import { fixture, makeTmpDir, procState, startUp, teardown, waitForCondition, writeConfig } from '../helpers/drover.js';

const node = process.execPath;

test('starting → stopping and backoff → stopped on shutdown', async () => {
  const dir = makeTmpDir();
  const run = await startUp(
    writeConfig(
      dir,
      `[program:slowstart]
command = ${node} ${fixture('forever.mjs')}
startsecs = 30

[program:failing]
command = /bin/sh -c "exit 1"
startsecs = 1
startretries = 10
`,
    ),
  );
  try {
    await run.waitForLine(/slowstart \| ready/);
    await run.waitForLine(/failing: starting → backoff/);
    run.signal('SIGTERM');
    await run.waitForLine(/slowstart: starting → stopping/);
    await run.waitForLine(/failing: backoff → stopped/);
    assert.equal((await run.waitForExit()).code, 0, run.describe());
  } finally {
    await teardown(run, [], dir);
  }
});

test('fatal_cooldown retries after fatal; a shutdown during the cooldown goes fatal → stopped', async () => {
  const dir = makeTmpDir();
  const run = await startUp(
    writeConfig(
      dir,
      `[program:phoenix]
command = /bin/sh -c "exit 1"
startsecs = 1
startretries = 0
fatal_cooldown = 1
`,
    ),
  );
  try {
    await run.waitForLine(/phoenix: backoff → fatal/);
    const from = run.output.length;
    await run.waitForLine(/phoenix: fatal → starting \(fatal_cooldown elapsed/, { from });
    await run.waitForLine(/phoenix: backoff → fatal/, { from });
    run.signal('SIGTERM');
    await run.waitForLine(/phoenix: fatal → stopped/);
    assert.equal((await run.waitForExit()).code, 0, run.describe());
  } finally {
    await teardown(run, [], dir);
  }
});

test('backoff = exponential: delays grow and are capped by backoff_max', async () => {
  const dir = makeTmpDir();
  const run = await startUp(
    writeConfig(
      dir,
      `[program:expo]
command = /bin/sh -c "exit 1"
startsecs = 1
startretries = 3
backoff = exponential
backoff_max = 1
`,
    ),
  );
  try {
    await run.waitForLine(/expo: backoff → fatal/, { timeoutMs: 10_000 });
    const times = [...run.output.matchAll(/^(\S+) INFO spawned: expo/gm)].map((m) => Date.parse(m[1] ?? ''));
    assert.equal(times.length, 4, run.describe());
    const gaps = times.slice(1).map((t, i) => t - (times[i] as number));
    // capped at 1 s: each gap is the cap (±25 % jitter, clamped to the cap) plus the time to fail
    for (const g of gaps) assert.ok(g >= 700 && g < 1600, `gap ${g} ms within the 1 s cap\n${run.describe()}`);
    run.signal('SIGTERM');
    assert.equal((await run.waitForExit()).code, 0, run.describe());
  } finally {
    await teardown(run, [], dir);
  }
});

test('user = nobody (as root): uid, supplementary groups, and that user\'s HOME/USER/LOGNAME', { skip: process.getuid?.() !== 0 ? 'needs root' : false }, async () => {
  const dir = makeTmpDir();
  const run = await startUp(
    writeConfig(
      dir,
      `[program:asnobody]
command = /bin/sh -c 'echo "U=$(id -u) G=$(id -G) HOME=$HOME USER=$USER LOGNAME=$LOGNAME"'
user = nobody
directory = /
startsecs = 0
autorestart = false
`,
    ),
  );
  try {
    const m = await run.waitForLine(/asnobody \| U=(\d+) G=([\d ]+) HOME=(\S*) USER=(\S*) LOGNAME=(\S*)/);
    assert.equal(m[1], '65534');
    assert.ok(!(m[2] ?? '').split(' ').includes('0'), `root's group dropped: ${m[2]}`);
    assert.equal(m[3], '/nonexistent');
    assert.equal(m[4], 'nobody');
    assert.equal(m[5], 'nobody');
    run.signal('SIGTERM');
    assert.equal((await run.waitForExit()).code, 0, run.describe());
  } finally {
    await teardown(run, [], dir);
  }
});

// Node names a child's fatal signal from its own table (1–31): a child killed by a real-time one reached
// drover as "exit 0", an expected exit, and autorestart = unexpected left it down (supervisord restarts it)
test('a program killed by a real-time signal is "terminated by SIGRTMIN+5", not exit 0, and autorestart = unexpected restarts it', async () => {
  const dir = makeTmpDir();
  const run = await startUp(writeConfig(dir, `[program:rt]\ncommand = /bin/sh -c 'echo "ready $$"; exec sleep 1000'\nstartsecs = 0\nautorestart = unexpected\n`));
  try {
    const pid = Number((await run.waitForLine(/rt \| ready (\d+)/))[1]);
    process.kill(pid, 34 + 5);
    await run.waitForLine(/rt: running → exited \(terminated by SIGRTMIN\+5; not expected\)/);
    await run.waitForLine(/rt: exited → starting \(autorestart=unexpected\)/);
    const again = Number((await run.waitForLine(new RegExp(`rt \\| ready (?!${pid}\\b)(\\d+)`)))[1]);
    assert.notEqual(again, pid, run.describe());
  } finally {
    await teardown(run, [], dir);
  }
});

// Several children ended by real-time signals before drover looks: one SIGCHLD for them all (drover is
// stopped while they die), and waitid(P_ALL) shows only the first; each is still named
test('three programs killed by a real-time signal while drover is stopped: each is "terminated by SIGRTMIN+5"', async () => {
  const dir = makeTmpDir();
  const names = ['rta', 'rtb', 'rtc'];
  const run = await startUp(writeConfig(dir, names.map((n) => `[program:${n}]\ncommand = /bin/sh -c 'echo "ready $$"; exec sleep 1000'\nstartsecs = 0\nautorestart = false\n`).join('\n')));
  try {
    const pids = await Promise.all(names.map(async (n) => Number((await run.waitForLine(new RegExp(`${n} \\| ready (\\d+)`)))[1])));
    // drover holds a pidfd of each; no program inherits one (a program started later would get the others')
    const fds = (pid: number | string): string[] => readdirSync(`/proc/${pid}/fd`).map((fd) => `${fd} ${readlinkSync(`/proc/${pid}/fd/${fd}`)}`);
    assert.ok(fds(run.pid).filter((f) => f.endsWith('anon_inode:[pidfd]')).length >= names.length, fds(run.pid).join(', '));
    // only drover's kinds of descriptor count: a program just past exec may hold a file of its own for a
    // moment (CI saw sleep's locale file as fd 3)
    for (const pid of pids) assert.deepEqual(fds(pid).filter((f) => /anon_inode:|socket:/.test(f)), [], `pid ${pid}: ${fds(pid).join(', ')}`);
    process.kill(run.pid, 'SIGSTOP');
    try {
      for (const pid of pids) process.kill(pid, 34 + 5);
      await waitForCondition(() => pids.every((pid) => procState(pid) === 'Z'), 'the three to be zombies of the stopped drover', {
        describe: () => `${pids.map((pid) => `${pid}: ${procState(pid)}`).join(', ')}\n${run.describe()}`,
      });
    } finally {
      process.kill(run.pid, 'SIGCONT');
    }
    for (const n of names) await run.waitForLine(new RegExp(`${n}: running → exited \\(terminated by SIGRTMIN\\+5; not expected\\)`));
  } finally {
    await teardown(run, [], dir);
  }
});

test('stopsignal = RTMIN (a real-time signal Node has no name for) reaches the program', async () => {
  const dir = makeTmpDir();
  const run = await startUp(
    writeConfig(
      dir,
      `[program:rt]
command = /bin/bash -c 'trap "echo got RTMIN; exit 0" RTMIN; echo ready; while :; do sleep 0.05; done'
stopsignal = RTMIN
startsecs = 0
`,
    ),
  );
  try {
    await run.waitForLine(/rt \| ready/);
    run.signal('SIGTERM');
    await run.waitForLine(/rt \| got RTMIN/);
    await run.waitForLine(/rt: stopping → stopped \(exit status 0\)/);
    assert.equal((await run.waitForExit()).code, 0, run.describe());
  } finally {
    await teardown(run, [], dir);
  }
});
