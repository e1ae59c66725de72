// Restart policy on real processes: 100 crash-restart cycles with no zombie and no leaked fd, backoff to
// fatal, programs that cannot exec, and programs that daemonize themselves.
import assert from 'node:assert/strict';
import { chmodSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseServerUrl, requestJson } from '../../src/control/client.js';
import {
  assertStaysFor,
  fixture,
  livePids,
  makeTmpDir,
  runCli,
  startUp,
  teardown,
  waitForCondition,
  writeConfig,
  zombieChildren,
} from '../helpers/drover.js';

const node = process.execPath;

function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

test('100 crash-restart cycles: restarts come from exit events, no zombie, no leaked fd', async () => {
  const dir = makeTmpDir();
  const counter = join(dir, 'count');
  // crashes (exit 3, unexpected) until its counter reaches a multiple of 10 past 100, then exits 0 (expected)
  // and stays exited: drover then holds no child, so its fd count can be compared exactly
  const script = `n=$(cat ${counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > ${counter}; if [ $n -eq 10 ] || [ $n -eq 110 ]; then exit 0; fi; exit 3`;
  const run = await startUp(
    writeConfig(
      dir,
      `[program:crasher]
command = /bin/sh -c "${script}"
startsecs = 0
autorestart = unexpected
`,
    ),
  );
  try {
    await run.waitForLine(/crasher: running → exited \(exit status 0; expected\)/);
    const fdsAfter10 = fdCount(run.pid);
    const t0 = Date.now();
    const from = run.output.length;
    const ep = parseServerUrl(`unix://${join(dir, '.drover', 'drover.sock')}`);
    const answer = await requestJson(ep, 'POST', '/api/start', { patterns: ['crasher'], wait: false });
    assert.equal(answer.body['ok'], true, JSON.stringify(answer.body));
    await run.waitForLine(/crasher: running → exited \(exit status 0; expected\)/, { from, timeoutMs: 60_000 });
    const perCycleMs = (Date.now() - t0) / 100;
    assert.equal(run.count(/spawned: crasher with pid/g), 110, run.describe());
    // the last child's pipes close just after its exit is logged: wait (bounded) for the count to settle;
    // a leak of even one fd per cycle would leave it 100 above
    await waitForCondition(() => fdCount(run.pid) <= fdsAfter10, 'drover to hold no more fds than after 10 cycles', {
      describe: () => `fds now ${fdCount(run.pid)}, after 10 cycles ${fdsAfter10}`,
    });
    assert.deepEqual(zombieChildren(run.pid), [], 'no zombie children of drover');
    // supervisord waits for its 1 s tick between restarts; event-driven restarts take milliseconds (three
    // execs a cycle: tens of ms here, more on a loaded machine, still well under the tick)
    assert.ok(perCycleMs < 500, `a crash-restart cycle took ${perCycleMs} ms on average`);
    run.signal('SIGTERM');
    assert.equal((await run.waitForExit(10_000)).code, 0, run.describe());
  } finally {
    await teardown(run, [], dir);
  }
});

test('a program that exits before startsecs goes through backoff to fatal after startretries', async () => {
  const dir = makeTmpDir();
  const run = await startUp(
    writeConfig(
      dir,
      `[program:flaky]
command = ${node} ${fixture('exit-with.mjs')} 1
startsecs = 5
startretries = 2
`,
    ),
  );
  try {
    await run.waitForLine(/flaky: backoff → fatal \(too many failed starts/, { timeoutMs: 15_000 });
    assert.equal(run.count(/spawned: flaky with pid/g), 3, `1 start + 2 retries\n${run.describe()}`);
    assert.equal(run.count(/flaky: starting → backoff \(exited too quickly/g), 3, run.describe());
    run.signal('SIGTERM');
    assert.equal((await run.waitForExit()).code, 0, run.describe());
  } finally {
    await teardown(run, [], dir);
  }
});

test('programs that cannot exec go to fatal with a clear message; drover keeps running', async () => {
  const dir = makeTmpDir();
  const notExec = join(dir, 'not-executable.sh');
  writeFileSync(notExec, '#!/bin/sh\necho hi\n');
  chmodSync(notExec, 0o644);
  const run = await startUp(
    writeConfig(
      dir,
      `[program:missing]
command = /no/such/program --flag
startretries = 1

[program:onpath]
command = no-such-command-drover-test
startretries = 0

[program:denied]
command = ${notExec}
startretries = 0

[program:baddir]
command = /bin/true
directory = /no/such/dir
startretries = 0

[program:fine]
command = ${node} ${fixture('forever.mjs')}
startsecs = 0
`,
    ),
  );
  try {
    const cases: [string, RegExp][] = [
      ['missing', /missing: cannot start: can't find command '\/no\/such\/program'/],
      ['onpath', /onpath: cannot start: can't find command 'no-such-command-drover-test' on PATH/],
      ['denied', /denied: cannot start: command at '.*not-executable\.sh' is not executable/],
      ['baddir', /baddir: cannot start: directory \/no\/such\/dir does not exist/],
    ];
    for (const [name, re] of cases) {
      await run.waitForLine(re);
      await run.waitForLine(new RegExp(`${name}: backoff → fatal`), { timeoutMs: 8000 });
    }
    await run.waitForLine(/fine \| ready/);
    assert.equal(run.child.exitCode, null, 'drover is still running');
    run.signal('SIGTERM');
    assert.equal((await run.waitForExit()).code, 0, run.describe());
  } finally {
    await teardown(run, [], dir);
  }
});

test('starting a program whose command is missing or not executable fails at once and changes nothing (as supervisord)', async () => {
  const dir = makeTmpDir();
  const notExec = join(dir, 'not-executable.sh');
  writeFileSync(notExec, '#!/bin/sh\necho hi\n');
  chmodSync(notExec, 0o644);
  const noInterp = join(dir, 'no-interpreter.sh');
  writeFileSync(noInterp, '#!/no/such/interpreter -x\necho hi\n', { mode: 0o755 });
  const file = writeConfig(dir, `[program:nointerp]\ncommand = ${noInterp}\nautostart = false\n\n[program:nobin]\ncommand = /no/such/program\nautostart = false\n\n[program:noexec]\ncommand = ${notExec}\nautostart = false\n\n[program:adir]\ncommand = ${dir}\nautostart = false\n`);
  const run = await startUp(file);
  try {
    for (const [name, answer] of [
      ['nobin', /nobin: ERROR E_NO_FILE \(can't find command '\/no\/such\/program'\)/],
      ['noexec', /noexec: ERROR E_NOT_EXECUTABLE \(command at '.*not-executable\.sh' is not executable/],
      ['adir', /adir: ERROR E_NOT_EXECUTABLE \(command at '.*' is a directory\)/],
      // the kernel's ENOENT would read as the script itself missing: the #! line is checked first
      ['nointerp', /nointerp: ERROR E_NO_FILE \(.*no-interpreter\.sh: its interpreter \/no\/such\/interpreter \(the #! line\) does not exist\)/],
    ] as const) {
      const r = await runCli(['start', '-c', file, name]);
      assert.notEqual(r.code, 0, r.output);
      assert.match(r.output, answer);
      // still stopped: no backoff, no retries, no restart counted; a second start says the same
      const again = await runCli(['start', '-c', file, name]);
      assert.match(again.output, answer);
      const status = await runCli(['status', '-c', file, name]);
      assert.match(status.stdout, new RegExp(`^${name}\\s+stopped\\s+-\\s+-\\s+0\\s`, 'm'), status.output);
    }
    assert.doesNotMatch(run.output, /(nobin|noexec|adir|nointerp): stopped → starting/, run.describe());
  } finally {
    await teardown(run, [], dir);
  }
});

// From a review: a text file with no #! line ran, through execvp's fallback to /bin/sh, and drover's stop
// signal then reached that shell, leaving what it ran behind. supervisord's own execve fails it (ENOEXEC) in
// the child: a failed spawn, "spawn error", then FATAL. So does drover now.
test('a command that is a text file without a #! line fails to spawn (ENOEXEC) and goes fatal, as under supervisord', async () => {
  const dir = makeTmpDir();
  const noShebang = join(dir, 'no-shebang.sh');
  writeFileSync(noShebang, 'echo hi\nsleep 100\n', { mode: 0o755 });
  const file = writeConfig(dir, `[program:noshebang]\ncommand = ${noShebang}\nautostart = false\nstartretries = 0\n`);
  const run = await startUp(file);
  try {
    const r = await runCli(['start', '-c', file, 'noshebang']);
    assert.notEqual(r.code, 0, r.output);
    await run.waitForLine(/noshebang: cannot start: .*no-shebang\.sh is neither a binary nor a script with a #! line \(ENOEXEC\)/);
    await run.waitForLine(/noshebang: backoff → fatal/);
    assert.doesNotMatch(run.output, /noshebang \| hi/, `it never ran\n${run.describe()}`);
  } finally {
    await teardown(run, [], dir);
  }
});

test('a start asked for while the program is stopping starts it again once it has stopped', async () => {
  const dir = makeTmpDir();
  // it ignores TERM: the stop takes stopwaitsecs (5 s, longer than a CLI start on a loaded machine), then SIGKILL
  const file = writeConfig(dir, `[program:slow]\ncommand = ${node} ${fixture('ignore-term.mjs')}\nstartsecs = 0\nstopwaitsecs = 5\n`);
  const run = await startUp(file);
  try {
    const first = Number((await run.waitForLine(/slow \| ready (\d+)/))[1]);
    const stop = await runCli(['stop', '--no-wait', '-c', file, 'slow']);
    assert.equal(stop.code, 0, stop.output);
    await run.waitForLine(/slow: running → stopping/);
    const start = await runCli(['start', '-c', file, 'slow']);
    assert.equal(start.code, 0, start.output);
    // the start was asked for during the stop (it came back only after the SIGKILL)
    assert.ok(run.output.indexOf('slow: stopping → stopped (terminated by SIGKILL)') > 0, run.describe());
    assert.doesNotMatch(start.output, /already started/);
    const second = Number((await run.waitForLine(/slow \| ready (\d+)/, { from: run.output.indexOf('running → stopping') }))[1]);
    assert.notEqual(second, first);
    const out = run.output;
    assert.ok(out.indexOf('slow: stopping → stopped') < out.lastIndexOf('slow: stopped → starting'), run.describe());
  } finally {
    await teardown(run, [], dir);
  }
});

test('a self-daemonizing program is detected and reported with the fix', async () => {
  const dir = makeTmpDir();
  const run = await startUp(
    writeConfig(
      dir,
      `[program:daemonic]
command = ${node} ${fixture('daemonize.mjs')}
startsecs = 0
autorestart = false
`,
    ),
  );
  let daemon = 0;
  try {
    daemon = Number((await run.waitForLine(/daemonic \| daemon (\d+)/))[1]);
    const m = await run.waitForLine(/daemonic: exited but left (.*) running: the program seems to daemonize itself/);
    assert.match(m[1] ?? '', new RegExp(`\\b${daemon}\\b`));
    assert.match(run.output, /daemon off;/);
    run.signal('SIGTERM');
    assert.equal((await run.waitForExit()).code, 0, run.describe());
  } finally {
    await teardown(run, [daemon], dir);
  }
});

test('a self-daemonizing program whose daemon has a clean environment (no SUPERVISOR_PROCESS_NAME) is still reported', async () => {
  const dir = makeTmpDir();
  const run = await startUp(writeConfig(dir, `[program:clean]\ncommand = ${node} ${fixture('daemonize.mjs')}\nenvironment = CLEAN_ENV="1"\nstartsecs = 0\nautorestart = false\n`));
  let daemon = 0;
  try {
    daemon = Number((await run.waitForLine(/clean \| daemon (\d+)/))[1]);
    const m = await run.waitForLine(/clean: exited but left (.*) running: the program seems to daemonize itself/);
    assert.match(m[1] ?? '', new RegExp(`\\b${daemon}\\b`));
    run.signal('SIGTERM');
    assert.equal((await run.waitForExit()).code, 0, run.describe());
  } finally {
    await teardown(run, [daemon], dir);
  }
});

test('two self-daemonizing programs of one executable: each warning names its own daemon only', async () => {
  const dir = makeTmpDir();
  // the first exits only once the second's daemon has written its pidfile: its exit then finds that
  // daemon running, a node process started after its own start
  const pidfile = join(dir, 'second.pid');
  const program = (name: string, more: string): string => `[program:${name}]
command = ${node} ${fixture('daemonize.mjs')}${more}
startsecs = 0
autorestart = false
`;
  const run = await startUp(writeConfig(dir, `${program('first', `\nenvironment = WAIT_FOR="${pidfile}"\npriority = 1`)}\n${program('second', ` ${pidfile}\npriority = 2`)}`));
  const daemons: number[] = [];
  try {
    for (const name of ['first', 'second']) daemons.push(Number((await run.waitForLine(new RegExp(`${name} \\| daemon (\\d+)`)))[1]));
    for (const name of ['first', 'second']) await run.waitForLine(new RegExp(`${name}: exited but left .* running`));
    const [first, second] = daemons;
    const named = (name: string): string => run.output.match(new RegExp(`${name}: exited but left (.*) running`))?.[1] ?? '';
    // both daemons run node, and each started after the other program's own start: only the
    // environment drover gave each program (SUPERVISOR_PROCESS_NAME) tells them apart
    assert.match(named('first'), new RegExp(`\\b${first}\\b`), run.describe());
    assert.doesNotMatch(named('first'), new RegExp(`\\b${second}\\b`), run.describe());
    assert.match(named('second'), new RegExp(`\\b${second}\\b`), run.describe());
    assert.doesNotMatch(named('second'), new RegExp(`\\b${first}\\b`), run.describe());
    run.signal('SIGTERM');
    assert.equal((await run.waitForExit()).code, 0, run.describe());
  } finally {
    await teardown(run, daemons, dir);
  }
});

test('pidfile = follows a self-daemonizing program: stop reaches the daemon, its death restarts it', async () => {
  const dir = makeTmpDir();
  const pidfile = join(dir, 'daemon.pid');
  const run = await startUp(
    writeConfig(
      dir,
      `[program:followed]
command = ${node} ${fixture('daemonize.mjs')} ${pidfile}
pidfile = ${pidfile}
startsecs = 0
autorestart = true
`,
    ),
  );
  const daemons: number[] = [];
  try {
    daemons.push(Number((await run.waitForLine(/followed: following pid (\d+)/))[1]));
    const from = run.output.length;
    process.kill(daemons[0] as number, 'SIGKILL');
    // drover, its subreaper, reaped the daemon and knows how it ended (it said "exit status unknown")
    await run.waitForLine(/followed: running → exited \(terminated by SIGKILL; not expected\)/, { from });
    const next = await run.waitForLine(/followed: following pid (\d+)/, { from });
    daemons.push(Number(next[1]));
    assert.notEqual(daemons[1], daemons[0]);
    run.signal('SIGTERM');
    assert.equal((await run.waitForExit()).code, 0, run.describe());
    assert.match(run.output, /followed: stopping → stopped/);
    assert.deepEqual(livePids(daemons), [], 'the followed daemon was stopped');
  } finally {
    await teardown(run, daemons, dir);
  }
});

// Node's timers cannot wait past 2^31 - 1 ms (24.8 days): a longer delay used to fire after 1 ms, so a
// stopwaitsecs of 3000000 meant SIGKILL at once and a startsecs of 3000000 meant running at once
test('durations past 24.8 days wait (they are cut to the longest timer Node has), never fire at once', async () => {
  const dir = makeTmpDir();
  const file = writeConfig(
    dir,
    `[program:slow]\ncommand = ${node} ${fixture('ignore-term.mjs')}\nstartsecs = 0\nstopwaitsecs = 3000000\n\n[program:patient]\ncommand = ${node} ${fixture('forever.mjs')}\nstartsecs = 3000000\n`,
  );
  const run = await startUp(file);
  try {
    const pid = Number((await run.waitForLine(/slow \| ready (\d+)/))[1]);
    await run.waitForLine(/spawned: patient with pid/);
    const stop = await runCli(['stop', '--no-wait', '-c', file, 'slow']);
    assert.equal(stop.code, 0, stop.output);
    await run.waitForLine(/slow: running → stopping/);
    await assertStaysFor(1500, () => livePids([pid]).length === 1 && !/slow: stopping → stopped|patient: starting → running/.test(run.output), 'slow to keep stopping and patient to keep starting');
    process.kill(pid, 'SIGKILL');
    await run.waitForLine(/slow: stopping → stopped/);
  } finally {
    await teardown(run, [], dir);
  }
});

// The checks' own timeout had its setTimeout too: healthcheck_timeout = 1000h killed an exec check 1 ms after
// its spawn ("no answer"), so a program whose check takes a moment never became RUNNING
test('a check timeout past 24.8 days waits: an exec check that takes 0.3 s passes', async () => {
  const dir = makeTmpDir();
  const file = writeConfig(dir, `[program:job]\ncommand = ${node} ${fixture('forever.mjs')}\nready = exec:/bin/sh -c 'sleep 0.3'\nhealthcheck_timeout = 1000h\n`);
  const run = await startUp(file);
  try {
    await run.waitForLine(/job: starting → running \(exec:\/bin\/sh -c 'sleep 0\.3': exit 0\)/, { timeoutMs: 10_000 });
    assert.doesNotMatch(run.output, /TimeoutOverflowWarning/, run.describe());
  } finally {
    await teardown(run, [], dir);
  }
});
