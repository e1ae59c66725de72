// Process groups and parent death: stopasgroup/killasgroup take grandchildren (also one that left the
// group), a plain stop does not (negative control), and a SIGKILLed drover leaves no program behind,
// also after its orphan guard was killed and replaced.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  CliRun,
  fixture,
  livePids,
  makeTmpDir,
  runCli,
  startUp,
  teardown,
  waitForCondition,
  writeConfig,
} from '../helpers/drover.js';

const node = process.execPath;

function config(extra: string): string {
  return `[program:tree]
command = ${node} ${fixture('grandchildren.mjs')}
startsecs = 0
stopwaitsecs = 1
autorestart = false
${extra}
`;
}

/** drover runs the grandchildren tree with `extra`, is sent `signal`, exits 0, and no process of the tree is left. */
async function treeGoneAfter(extra: string, signal: NodeJS.Signals): Promise<void> {
  const dir = makeTmpDir();
  const run = await startUp(writeConfig(dir, config(extra)));
  let pids: number[] = [];
  try {
    const m = await run.waitForLine(/tree \| grandchildren (\d+) (\d+)/);
    const leader = Number((await run.waitForLine(/spawned: tree with pid (\d+)/))[1]);
    pids = [leader, Number(m[1]), Number(m[2])];
    assert.equal(livePids(pids).length, 3);
    run.signal(signal);
    assert.equal((await run.waitForExit(10_000)).code, 0, run.describe());
    await waitForCondition(() => livePids(pids).length === 0, 'every process of the tree to be gone', {
      describe: () => `alive: ${livePids(pids).join(' ')}\n${run.describe()}`,
    });
  } finally {
    assert.deepEqual(await teardown(run, pids, dir), []);
  }
}

test('stopasgroup + killasgroup: a stop takes every grandchild, also one that left the group', () => treeGoneAfter('stopasgroup = true\nkillasgroup = true', 'SIGTERM'));

// A fast shutdown (SIGQUIT) SIGKILLs each program's group; a descendant that left the group (setsid) was
// not recorded and survived it, where a graceful stop reached it
test('a fast shutdown also kills a descendant that left the group, as a graceful stop does', () => treeGoneAfter('pdeathsig = false', 'SIGQUIT'));

test('negative control: without group semantics the grandchildren outlive a stop', async () => {
  const dir = makeTmpDir();
  const run = await startUp(writeConfig(dir, config('stopasgroup = false\nkillasgroup = false\npdeathsig = false')));
  let pids: number[] = [];
  try {
    const m = await run.waitForLine(/tree \| grandchildren (\d+) (\d+)/);
    pids = [Number(m[1]), Number(m[2])];
    run.signal('SIGTERM');
    assert.equal((await run.waitForExit(10_000)).code, 0, run.describe());
    // the leader is gone; its grandchildren ignore TERM and were never signalled
    assert.deepEqual(livePids(pids), pids, 'grandchildren survive a leader-only stop (shows the group test can fail)');
  } finally {
    await teardown(run, pids, dir); // kills the survivors
  }
});

test('drover SIGKILLed: no program and no grandchild in its group survives', async () => {
  const dir = makeTmpDir();
  const run = await startUp(
    writeConfig(
      dir,
      `${config('')}
[program:plain]
command = ${node} ${fixture('forever.mjs')}
startsecs = 0

[program:shell]
command = /bin/sh -c "sleep 1000; echo never"
startsecs = 0
`,
    ),
  );
  let pids: number[] = [];
  let checked = false;
  try {
    const m = await run.waitForLine(/tree \| grandchildren (\d+) (\d+)/);
    const plain = Number((await run.waitForLine(/plain \| ready (\d+)/))[1]);
    const leaders = [...run.output.matchAll(/spawned: \w+ with pid (\d+)/g)].map((x) => Number(x[1]));
    await run.waitForLine(/shell: starting → running/);
    // the shell's `sleep` is a grandchild in the shell's group; pdeathsig alone would not reach it
    const shellPid = Number((run.output.match(/spawned: shell with pid (\d+)/) ?? [])[1]);
    const sleepPid = await findChild(shellPid);
    pids = [...leaders, Number(m[1]), plain, sleepPid];
    run.signal('SIGKILL');
    await run.waitForExit();
    await waitForCondition(() => livePids(pids).length === 0, 'every program and in-group grandchild to be gone', {
      timeoutMs: 5000,
      describe: () => `alive: ${livePids(pids).join(' ')}\n${run.describe()}`,
    });
    checked = true;
  } finally {
    // the grandchild that left the group (setsid) is out of reach of a dead drover by design: clean it up,
    // whatever happened above (a failed wait above has said what was alive: this must not hide it)
    const away = Number((run.output.match(/grandchildren \d+ (\d+)/) ?? [])[1] ?? 0);
    const survivors = await teardown(run, pids, dir);
    if (away) await teardown(run, [away]);
    if (checked) assert.deepEqual(survivors, [], `alive at teardown: ${survivors.join(' ')} of ${pids.join(' ')}\n${run.describe()}`);
  }
});

// The guard could die while drover ran (an operator's kill, a `kill -1` inside a PID namespace where drover
// is PID 1) and was never started again: a later SIGKILL of drover left the programs' children running.
test('an orphan guard killed while drover runs is replaced: a SIGKILLed drover still leaves no grandchild', async () => {
  const dir = makeTmpDir();
  const run = await startUp(
    writeConfig(
      dir,
      `[program:shell]
command = /bin/sh -c 'sleep 1000 & wait'
startsecs = 0
`,
    ),
  );
  let pids: number[] = [];
  let checked = false;
  try {
    const guardPid = Number((await run.waitForLine(/orphan guard pid (\d+)/))[1]);
    await run.waitForLine(/shell: starting → running/);
    const shellPid = Number((run.output.match(/spawned: shell with pid (\d+)/) ?? [])[1]);
    const sleepPid = await findChild(shellPid);
    pids = [shellPid, sleepPid];
    process.kill(guardPid, 'SIGTERM');
    const m = await run.waitForLine(
      new RegExp(`WARN orphan guard pid ${guardPid} ended unexpectedly \\(killed by SIGTERM\\); started a new one, pid (\\d+), guarding the 1 process group\\(s\\) alive now`),
    );
    pids.push(Number(m[1]));
    run.signal('SIGKILL');
    await run.waitForExit();
    await waitForCondition(() => livePids(pids).length === 0, 'the shell, its sleep and the new guard to be gone', {
      timeoutMs: 5000,
      describe: () => `alive: ${livePids(pids).join(' ')}\n${run.describe()}`,
    });
    checked = true;
  } finally {
    const survivors = await teardown(run, pids, dir);
    if (checked) assert.deepEqual(survivors, [], `alive at teardown: ${survivors.join(' ')} of ${pids.join(' ')}\n${run.describe()}`);
  }
});

/** The first child of `ppid`, found in /proc (waits for it to appear). */
async function findChild(ppid: number): Promise<number> {
  const { readdirSync, readFileSync } = await import('node:fs');
  let found = 0;
  await waitForCondition(() => {
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      try {
        const s = readFileSync(`/proc/${name}/stat`, 'utf8');
        if (Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]) === ppid) {
          found = Number(name);
          return true;
        }
      } catch {
        // the process ended while we were listing
      }
    }
    return false;
  }, `a child of ${ppid}`);
  return found;
}

test('killasgroup: when the leader dies on its own, what it left in its group is killed before the restart', async () => {
  const dir = makeTmpDir();
  const run = await startUp(writeConfig(dir, config('stopasgroup = true\nkillasgroup = true').replace('autorestart = false', 'autorestart = true')));
  let pids: number[] = [];
  try {
    const m = await run.waitForLine(/tree \| grandchildren (\d+) (\d+)/);
    const leader = Number((await run.waitForLine(/spawned: tree with pid (\d+)/))[1]);
    const inGroup = Number(m[1]);
    const away = Number(m[2]);
    pids = [leader, inGroup, away];
    const from = run.output.length;
    process.kill(leader, 'SIGKILL');
    await run.waitForLine(/tree: killing 1 process\(es\) left behind in its group: /, { from });
    await run.waitForLine(/spawned: tree with pid/, { from });
    const out = run.output.slice(from);
    assert.ok(out.indexOf('left behind in its group') < out.indexOf('spawned: tree'), `swept before the respawn\n${out}`);
    await waitForCondition(() => livePids([inGroup]).length === 0, 'the in-group grandchild to be gone', {
      describe: () => run.describe(),
    });
    // the grandchild that left the group (setsid) was not recorded by a stop: nothing proves it is the
    // program's, so it is not killed on a guess (an orphan running the same executable could be anyone's)
    assert.deepEqual(livePids([away]), [away]);
    const next = await run.waitForLine(/tree \| grandchildren (\d+) (\d+)/, { from });
    pids.push(Number(next[1]), Number(next[2]));
  } finally {
    await teardown(run, pids, dir);
  }
});

/**
 * drover running a program whose background child outlives it and keeps writing to the pipe drover reads,
 * once the first line came: the run, its directory and the writer's pid.
 */
async function startChatty(): Promise<{ run: CliRun; dir: string; leftover: number }> {
  const dir = makeTmpDir();
  const pidFile = join(dir, 'leftover.pid');
  const run = await startUp(
    writeConfig(
      dir,
      `[program:chatty]
command = sh -c '(while :; do echo tick; sleep 0.2; done) & echo $! > ${pidFile}; exec sleep 1000'
startsecs = 0
pdeathsig = false
`,
    ),
  );
  try {
    await run.waitForLine(/chatty \| tick/);
    return { run, dir, leftover: Number(readFileSync(pidFile, 'utf8').trim()) };
  } catch (err) {
    await teardown(run, [], dir);
    throw err;
  }
}

test('a leftover that keeps writing to the pipe does not keep drover from exiting: reading stops after 5 s', async () => {
  const { run, dir, leftover } = await startChatty();
  const leftovers = [leftover];
  try {
    // a restart leaves a second leftover, on the second run's pipe: the message still names the stream once
    const pidFile = join(dir, 'leftover.pid');
    rmSync(pidFile);
    assert.equal((await runCli(['restart', 'chatty', '-c', join(dir, 'supervisord.conf')])).code, 0);
    leftovers.push(Number(await run.waitUntil(() => (existsSync(pidFile) ? readFileSync(pidFile, 'utf8').trim() || null : null), "the second leftover's pid")));
    run.signal('SIGTERM');
    await run.waitForLine(/all processes stopped/);
    // the 5 s cap plus the rest of the exit; before, drover read the pipe for as long as the leftover wrote
    assert.equal((await run.waitForExit(15_000, { drained: false })).code, 0, run.describe());
    assert.match(run.output, /output still comes to chatty stdout, chatty stderr 5 s after the programs stopped .*no longer read/, run.describe());
    assert.match(run.output.slice(run.output.indexOf('all processes stopped')), /chatty \| tick/, 'drover read on after the programs stopped');
  } finally {
    await teardown(run, leftovers, dir);
  }
});

test('while the last output is read, a second TERM ends drover at once', async () => {
  const { run, dir, leftover } = await startChatty();
  try {
    run.signal('SIGTERM');
    // drover listens for the second TERM from the moment it logs this line (the shutdown's end)
    const stopped = await run.waitForLine(/all processes stopped/);
    // the next tick shows drover reading on after every program stopped
    await run.waitForLine(/chatty \| tick/, { from: run.output.indexOf(stopped[0]) });
    run.signal('SIGTERM');
    assert.equal((await run.waitForExit(15_000, { drained: false })).code, 0, run.describe());
    assert.doesNotMatch(run.output, /no longer read/, `the TERM ended the reading, not the 5 s cap\n${run.describe()}`);
  } finally {
    await teardown(run, [leftover], dir);
  }
});

// From a PID 1 audit: with stopasgroup, a shell wrapper dies of the TERM at once while the workers it started
// handle theirs; drover SIGKILLed them as soon as the wrapper was gone, cutting their graceful stop short
// (supervisord lets them finish). They get the rest of stopwaitsecs now, and SIGKILL after it.
test('stopasgroup: what is left of the group when its leader exits first gets the rest of stopwaitsecs, then SIGKILL', async () => {
  const dir = makeTmpDir();
  const done = join(dir, 'DONE');
  const wrapper = (name: string, onTerm: string): string => {
    const file = join(dir, `${name}.sh`);
    writeFileSync(file, `#!/bin/sh\n/bin/sh -c 'trap "${onTerm}" TERM; echo worker $$; while :; do sleep 0.2; done' &\nwait\n`, { mode: 0o755 });
    return file;
  };
  const conf = writeConfig(
    dir,
    `[program:graceful]
command = ${wrapper('graceful', `sleep 1; echo done > ${done}; exit 0`)}
startsecs = 0
stopasgroup = true
stopwaitsecs = 20
stdout_logfile = /dev/stdout

[program:stubborn]
command = ${wrapper('stubborn', 'echo ignoring TERM')}
startsecs = 0
stopasgroup = true
stopwaitsecs = 2
stdout_logfile = /dev/stdout
`,
  );
  const run = await startUp(conf);
  const workers: number[] = [];
  try {
    for (const name of ['graceful', 'stubborn']) workers.push(Number((await run.waitForLine(new RegExp(`${name} \\| worker (\\d+)`)))[1]));
    const stop = await runCli(['stop', '-c', conf, 'graceful', 'stubborn'], { timeoutMs: 15_000 });
    assert.equal(stop.code, 0, `${stop.output}\n${run.describe()}`);
    await run.waitForLine(/graceful: \d+ process\(es\) of its group still stopping \([\d, ]+\); SIGKILL in (19|20)\.\d s if they have not exited/);
    await waitForCondition(() => existsSync(done), 'the graceful worker to finish its stop', { describe: () => run.describe() });
    await run.waitForLine(/stubborn \| ignoring TERM/);
    await run.waitForLine(/stubborn: killing \d+ process\(es\) still running after stopwaitsecs: [\d, ]+/, { timeoutMs: 10_000 });
    await waitForCondition(() => livePids(workers).length === 0, 'both workers to be gone', { describe: () => `alive: ${livePids(workers).join(' ')}\n${run.describe()}` });
    assert.doesNotMatch(run.output, /graceful: killing/, run.describe());
  } finally {
    assert.deepEqual(await teardown(run, workers, dir), []);
  }
});

/** A `/bin/sh -c 'WORKER & wait'` wrapper around a worker script `body`, both in `dir`; the wrapper's path. */
function wrapperOf(dir: string, body: string): string {
  const worker = join(dir, 'worker.sh');
  writeFileSync(worker, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  const wrapper = join(dir, 'wrap.sh');
  writeFileSync(wrapper, `#!/bin/sh\n${worker} &\nwait\n`, { mode: 0o755 });
  return wrapper;
}

// A graceful shutdown ended as soon as every program was STOPPED, while what a stopasgroup leader left was
// still within the rest of its stopwaitsecs: closing the orphan guard had the guard TERM the group and KILL
// it a second later. supervisord's shutdown waits for them; so does drover's now, and then exits 0.
test('a graceful shutdown waits for what a stopasgroup leader left to finish its stop, then exits 0', async () => {
  const dir = makeTmpDir();
  const marker = join(dir, 'MARKER');
  // the worker's stop takes 2 s (past the guard's 1 s between TERM and KILL); a second TERM cannot cut it
  const wrapper = wrapperOf(dir, `trap 'trap "" TERM; sleep 2; echo done > ${marker}; exit 0' TERM\necho worker $$\nwhile :; do sleep 0.2; done`);
  const conf = writeConfig(dir, `[program:wrap]\ncommand = ${wrapper}\nstartsecs = 0\nstopasgroup = true\nstopwaitsecs = 10\nstdout_logfile = /dev/stdout\n`);
  const run = await startUp(conf);
  const workers: number[] = [];
  try {
    workers.push(Number((await run.waitForLine(/wrap \| worker (\d+)/))[1]));
    run.signal('SIGTERM');
    await run.waitForLine(/wrap: \d+ process\(es\) of its group still stopping \([\d, ]+\); SIGKILL in (9|10)\.\d s/);
    assert.equal((await run.waitForExit(15_000)).code, 0, run.describe());
    assert.ok(existsSync(marker), `the worker finished its stop before drover exited\n${run.describe()}`);
    assert.deepEqual(livePids(workers), [], run.describe());
    const waited = run.output.indexOf('every program stopped; waiting for 1 process group(s) they left to exit');
    assert.ok(waited >= 0 && waited < run.output.indexOf('all processes stopped'), run.describe());
    assert.doesNotMatch(run.output, /wrap: killing/, run.describe());
  } finally {
    assert.deepEqual(await teardown(run, workers, dir), []);
  }
});

// The grace's timer skipped timerDelay: stopwaitsecs = 3000000 (34 days) overflowed Node's 32-bit timer,
// which fired after 1 ms (TimeoutOverflowWarning), so the leftovers were SIGKILLed at once. The worker
// prints a line 0.3 s into its stop: it is there only if no SIGKILL came first.
test('stopasgroup, stopwaitsecs past 24.8 days: what the leader left keeps its grace; a fast shutdown kills it', async () => {
  const dir = makeTmpDir();
  const wrapper = wrapperOf(dir, `trap 'trap "" TERM; sleep 0.3; echo worker still stopping' TERM\necho worker $$\nwhile :; do sleep 0.2; done`);
  const conf = writeConfig(dir, `[program:wrap]\ncommand = ${wrapper}\nstartsecs = 0\nstopasgroup = true\nstopwaitsecs = 3000000\nstdout_logfile = /dev/stdout\n`);
  const run = await startUp(conf);
  const workers: number[] = [];
  try {
    workers.push(Number((await run.waitForLine(/wrap \| worker (\d+)/))[1]));
    const stop = await runCli(['stop', '-c', conf, 'wrap']);
    assert.equal(stop.code, 0, `${stop.output}\n${run.describe()}`);
    const sweep = await run.waitForLine(/wrap: \d+ process\(es\) of its group still stopping \([\d, ]+\); SIGKILL in \d+\.\d s/);
    await run.waitForLine(/wrap \| worker still stopping/, { from: run.output.indexOf(sweep[0]) });
    assert.deepEqual(livePids(workers), workers, `the worker outlived the first 0.3 s of its grace\n${run.describe()}`);
    assert.doesNotMatch(run.output, /wrap: killing|TimeoutOverflowWarning/, run.describe());
    // a fast shutdown does not wait for it
    run.signal('SIGQUIT');
    await run.waitForLine(/wrap: killing \d+ process\(es\) still stopping when a fast shutdown began: [\d, ]+/);
    assert.equal((await run.waitForExit(10_000)).code, 0, run.describe());
    await waitForCondition(() => livePids(workers).length === 0, 'the worker to be gone', { describe: () => `alive: ${livePids(workers).join(' ')}\n${run.describe()}` });
  } finally {
    assert.deepEqual(await teardown(run, workers, dir), []);
  }
});
