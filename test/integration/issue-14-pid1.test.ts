// drover as PID 1 of a PID namespace (`unshare --pid --fork --mount-proc`, what `docker run` without
// `--init` gives an ENTRYPOINT), modelled on tini's tests: a steady stream of orphans leaves at most 3
// zombies (a plain Node PID 1 piles them up: the negative control), double-forked daemons are reaped within
// 500 ms of their exit (a few ms here; the bound allows a loaded machine), TERM/INT/QUIT/HUP do what they do outside a container, USR2 is refused, and the exit
// statuses are 0 after a stop and 2 for a bad config. Outside a namespace drover is a child subreaper: an
// orphan of a program comes back to it, is reaped, and is stopped with its program's group; and it keeps
// reaping after its programs have stopped, while it reads what a leftover still writes.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CliRun, fixture, makeTmpDir, procState, runCli, startUp, statFields, teardown, TIMEOUT_SCALE, waitForCondition, writeConfig, zombieChildren } from '../helpers/drover.js';
import { instanceRunning } from '../../src/daemon/lock.js';
import { AS_PID1, childrenOf, pid1Of, sampleZombies, skipNamespaces, startAsPid1 } from '../helpers/namespaces.js';

const node = process.execPath;
const skip = skipNamespaces;

/** `drover up -c conf` as PID 1 of a new namespace; resolves once it is up, with its host pid. */
async function upAsPid1(conf: string): Promise<{ run: CliRun; pid: number }> {
  const run = new CliRun(['up', '-c', conf], { wrapper: AS_PID1 });
  await run.waitForLine(/drover up: pid 1,/);
  return { run, pid: pid1Of(run.pid) };
}

function ppidOf(pid: number): number {
  return Number(statFields(pid)?.[1]);
}

const STREAM = `[supervisord]
loglevel = debug

[program:orphans]
command = ${node} ${fixture('orphans.mjs')} stream 100 0.05
startsecs = 0
`;

test('as PID 1, a steady stream of orphans (one every 0.1 s) leaves at most 3 zombies, and no exit of its own children is lost', { skip }, async (t) => {
  const dir = makeTmpDir();
  // flap exits every 0.2 s: a lost exit event would leave it "running" for ever
  const { run, pid } = await upAsPid1(
    writeConfig(dir, `${STREAM}\n[program:flap]\ncommand = /bin/sh -c "sleep 0.2; exit 3"\nstartsecs = 0\nautorestart = true\n`),
  );
  try {
    await run.waitForLine(/orphans \| ready/);
    const from = run.output.length;
    const samples = await sampleZombies(pid, 3000);
    const out = run.output.slice(from);
    const made = [...out.matchAll(/orphans \| orphan \d+/g)].length;
    const reaped = [...out.matchAll(/reaped orphan pid \d+ \(sleep\): exit 0/g)].length;
    const flapExits = [...out.matchAll(/flap: running → exited/g)].length;
    const worst = Math.max(...samples);
    const detail = `zombies sampled every 20 ms: max ${worst}, ${samples.join(' ')}; ${made} orphans made, ${reaped} reaped`;
    t.diagnostic(`${samples.length} samples, max ${worst} zombie(s); ${made} orphans made, ${reaped} reaped`);
    assert.ok(made >= 20, `the program makes orphans: ${detail}\n${run.describe()}`);
    assert.ok(worst <= 3, detail);
    assert.ok(reaped >= made - 3, detail);
    assert.ok(flapExits >= 8, `every exit of flap is seen (${flapExits})\n${run.describe()}`);

    process.kill(pid, 'SIGTERM');
    assert.deepEqual(await run.waitForExit(10_000), { code: 0, signal: null }, run.describe());
  } finally {
    await teardown(run, [], dir);
  }
});

test('negative control: the same stream under a PID 1 that does not reap (plain Node, as drover was) piles up zombies', { skip }, async (t) => {
  // Node reaps only what it spawned; the orphans re-parented to it stay zombies
  const script = `const c = require('child_process').spawn(process.execPath, [${JSON.stringify(fixture('orphans.mjs'))}, 'stream', '100', '0.05'], { stdio: 'inherit' });
process.on('SIGTERM', () => process.exit(0));`;
  const pid1 = startAsPid1([node, '-e', script]);
  try {
    await waitForCondition(() => /ready/.test(pid1.output()), 'the orphan maker to start', { describe: pid1.output });
    const pid = pid1Of(pid1.child.pid as number);
    const samples = await sampleZombies(pid, 2000);
    t.diagnostic(`zombies after 2 s: ${samples.at(-1) ?? 0}`);
    assert.ok(Math.max(...samples) >= 10, `zombies pile up: ${samples.join(' ')}`);
  } finally {
    try {
      process.kill(-(pid1.child.pid as number), 'SIGKILL'); // the namespace ends with its PID 1
    } catch {
      // ESRCH: already gone
    }
  }
});

test('as PID 1, double-forked daemons are re-parented to drover and reaped within 500 ms of their exit (a few ms here)', { skip }, async (t) => {
  const dir = makeTmpDir();
  const { run, pid } = await upAsPid1(
    writeConfig(
      dir,
      `[program:daemons]
command = /bin/sh -c "for i in 1 2 3 4 5 6 7 8 9 10; do (setsid sleep 1000 >/dev/null 2>&1 &); done; echo forked; exec sleep 999"
startsecs = 0
`,
    ),
  );
  try {
    await run.waitForLine(/daemons \| forked/);
    const isDaemon = (p: number): boolean => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8') === 'sleep\x001000\x00';
      } catch {
        return false; // gone
      }
    };
    let daemons: number[] = [];
    await waitForCondition(() => (daemons = childrenOf(pid).filter(isDaemon)).length === 10, 'ten daemons, children of drover', {
      describe: () => `children of ${pid}: ${childrenOf(pid).join(' ')}\n${run.describe()}`,
    });
    const latencies: number[] = [];
    for (const d of daemons) {
      const t0 = performance.now();
      process.kill(d, 'SIGTERM');
      while (procState(d) !== null) {
        if (performance.now() - t0 > 5000 * TIMEOUT_SCALE) assert.fail(`daemon ${d} still ${procState(d)} after 5 s\n${run.describe()}`);
        await new Promise((r) => setTimeout(r, 2));
      }
      latencies.push(performance.now() - t0);
    }
    t.diagnostic(`from kill to reaped, ms: ${latencies.map((l) => l.toFixed(1)).join(' ')}`);
    // reaped on SIGCHLD, not by a periodic sweep: well under a second even on 2 loaded cores (here, a few ms)
    assert.ok(Math.max(...latencies) <= 500 * TIMEOUT_SCALE, `each reaped within 500 ms: ${latencies.map((l) => l.toFixed(1)).join(' ')}`);
    assert.deepEqual(zombieChildren(pid), []);

    // drover's own child still reports its stop
    process.kill(pid, 'SIGTERM');
    assert.deepEqual(await run.waitForExit(10_000), { code: 0, signal: null }, run.describe());
    assert.match(run.output, /daemons: stopping → stopped/);
  } finally {
    await teardown(run, [], dir);
  }
});

test('as PID 1: HUP reloads, USR2 is refused, TERM stops the programs in reverse priority with their stop signals and exits 0', { skip }, async () => {
  const dir = makeTmpDir();
  const program = (name: string, extra: string): string =>
    `[program:${name}]\ncommand = ${node} ${fixture('orphans.mjs')} keep 1\nstartsecs = 0\nstopasgroup = true\n${extra}\n`;
  // last's orphan, a shell's background job, ignores INT: the shutdown waits out its stopwaitsecs, then SIGKILLs it
  const { run, pid } = await upAsPid1(writeConfig(dir, `${program('first', 'priority = 100')}\n${program('last', 'priority = 200\nstopsignal = INT\nstopwaitsecs = 1')}`));
  try {
    await run.waitForCount(/(first|last) \| ready/g, 2);
    process.kill(pid, 'SIGHUP');
    await run.waitForLine(/SIGHUP: reloading/);
    await run.waitForLine(/reload: done/);

    const from = run.output.length;
    process.kill(pid, 'SIGUSR2');
    await run.waitForLine(/SIGUSR2: drover is PID 1 here.*ignored/, { from });
    assert.doesNotMatch(run.output.slice(from), /re-executing|spawned:/, 'no new master, no new program');

    process.kill(pid, 'SIGTERM');
    assert.deepEqual(await run.waitForExit(10_000), { code: 0, signal: null }, run.describe());
    const out = run.output.slice(from);
    const lastGot = out.indexOf('last | got INT');
    const firstGot = out.indexOf('first | got TERM');
    assert.ok(lastGot >= 0 && firstGot > lastGot, `last (priority 200) gets its INT before first gets TERM:\n${out}`);
    assert.match(out, /all processes stopped/);
  } finally {
    await teardown(run, [], dir);
  }
});

test("as PID 1, the warning about a program that seems to daemonize names what it left, not another program's processes", { skip }, async () => {
  const dir = makeTmpDir();
  // both run /bin/sh: oneshot leaves a sleep behind as it exits; steady, a shell that stays, is a program
  // drover spawned after it (what the guess goes by: same executable, started since, parent 1)
  const { run } = await upAsPid1(
    writeConfig(
      dir,
      `[program:oneshot]\ncommand = /bin/sh -c 'sleep 1000 & sleep 0.5; echo bye'\nstartsecs = 0\nautorestart = false\npriority = 1\n\n` +
        `[program:steady]\ncommand = /bin/sh -c 'echo up; while :; do sleep 1; done'\nstartsecs = 0\n`,
    ),
  );
  try {
    const steady = Number((await run.waitForLine(/spawned: steady with pid (\d+)/))[1]);
    const warning = (await run.waitForLine(/oneshot: exited but left (.*) running/, { timeoutMs: 10_000 }))[1] ?? '';
    assert.doesNotMatch(warning, new RegExp(`\\b${steady}\\b`), `steady (pid ${steady}) is drover's own program:\n${run.describe()}`);
    assert.match(warning, /\(sleep\)/, run.describe());
  } finally {
    await teardown(run, [], dir);
  }
});

test('as PID 1: QUIT is a fast stop (a program ignoring TERM does not hold it up) and exits 0; INT stops gracefully and exits 0', { skip }, async () => {
  const dir = makeTmpDir();
  const conf = writeConfig(dir, `[program:stubborn]\ncommand = ${node} ${fixture('ignore-term.mjs')}\nstartsecs = 0\nstopwaitsecs = 60\n`);
  const quit = await upAsPid1(conf);
  try {
    await quit.run.waitForLine(/stubborn \| ready/);
    const t0 = Date.now();
    process.kill(quit.pid, 'SIGQUIT');
    assert.deepEqual(await quit.run.waitForExit(10_000), { code: 0, signal: null }, quit.run.describe());
    assert.ok(Date.now() - t0 < 5000, `fast: ${Date.now() - t0} ms`);
    assert.match(quit.run.output, /SIGQUIT: fast shutdown/);
  } finally {
    await teardown(quit.run);
  }
  const int = await upAsPid1(writeConfig(dir, `[program:polite]\ncommand = ${node} ${fixture('orphans.mjs')} keep 1\nstartsecs = 0\n`, 'polite.conf'));
  try {
    await int.run.waitForLine(/polite \| ready/);
    process.kill(int.pid, 'SIGINT');
    assert.deepEqual(await int.run.waitForExit(10_000), { code: 0, signal: null }, int.run.describe());
    assert.match(int.run.output, /SIGINT: graceful shutdown/);
    assert.match(int.run.output, /polite \| got TERM/);
  } finally {
    await teardown(int.run, [], dir);
  }
});

test('as PID 1: a bad config exits 2 at once, starting nothing', { skip }, async () => {
  const dir = makeTmpDir();
  const run = new CliRun(['up', '-c', writeConfig(dir, '[program:x]\ncommand = /bin/true\nstartsecs = soon\n')], { wrapper: AS_PID1 });
  try {
    assert.deepEqual(await run.waitForExit(10_000), { code: 2, signal: null }, run.describe());
    assert.match(run.output, /startsecs/);
  } finally {
    await teardown(run, [], dir);
  }
});

// The launcher of `up -d` exits once the daemon runs: as PID 1 that ends the namespace, and the kernel
// SIGKILLs the daemon and its programs (it printed "drover started", exited 0, and left drover.sock and
// drover.pid). So it refuses, as a usage error, and says to run in the foreground.
test('as PID 1: up -d and serve -D refuse with exit 2, saying to run in the foreground, and start nothing', { skip }, async () => {
  const dir = makeTmpDir();
  const conf = writeConfig(dir, `[program:x]\ncommand = ${node} ${fixture('forever.mjs')}\nstartsecs = 0\n`);
  const up = new CliRun(['up', '-d', '-c', conf], { wrapper: AS_PID1, cwd: dir });
  const serve = new CliRun(['serve', '-D', fixture('worker-app.mjs')], { wrapper: AS_PID1, cwd: dir });
  try {
    for (const [run, flag, command] of [[up, '-d', 'up'], [serve, '-D', 'serve']] as const) {
      assert.deepEqual(await run.waitForExit(15_000), { code: 2, signal: null }, run.describe());
      assert.match(run.stderr, new RegExp(`drover ${command}: drover is PID 1 here .*: ${flag} would end it as soon as drover detached; run \`drover ${command}\` in the foreground \\(without ${flag}\\)`));
      assert.doesNotMatch(run.output, /drover started/);
    }
    assert.equal(existsSync(join(dir, '.drover', 'drover.sock')), false, 'no control socket left behind');
    assert.equal(existsSync(join(dir, '.drover', 'drover.pid')), false, 'no pidfile left behind');
  } finally {
    await teardown(serve, []);
    await teardown(up, [], dir);
  }
});

// `drover down` from the host, for a drover that is PID 1 of its own namespace with its runtime directory
// shared (a bind mount, here the same directory): /api/info says pid 1, which here is the host's init.
// down waited on that pid and failed after 10 s ("has not exited", exit 1) while drover had exited 0; it
// waits on drover's instance lock now, and on the pid only in drover's own PID namespace.
test('drover down from outside the PID namespace of drover as PID 1 returns 0 once drover has exited (its lock released)', { skip }, async () => {
  const dir = makeTmpDir();
  const conf = writeConfig(dir, `[program:x]\ncommand = ${node} ${fixture('forever.mjs')}\nstartsecs = 0\n`);
  const { run } = await upAsPid1(conf);
  try {
    await run.waitForLine(/x: starting → running/);
    const down = await runCli(['down', '-c', conf], { timeoutMs: 20_000 });
    assert.equal(down.code, 0, `${down.output}\n${run.describe()}`);
    assert.doesNotMatch(down.output, /has not exited/);
    // it returned once drover had gone: the lock is free (a new drover could start)
    assert.equal(instanceRunning(join(dir, '.drover')), false, 'the instance lock is released when down returns');
    assert.deepEqual(await run.waitForExit(10_000), { code: 0, signal: null }, run.describe());
  } finally {
    await teardown(run, [], dir);
  }
});

test("outside a namespace drover is a child subreaper: a program's orphan comes back to it, is reaped, and is stopped with the program's group", async () => {
  const dir = makeTmpDir();
  const conf = writeConfig(dir, `[program:keeper]\ncommand = ${node} ${fixture('orphans.mjs')} keep 2\nstartsecs = 0\nstopasgroup = true\n`);
  const run = await startUp(conf);
  let orphans: number[] = [];
  try {
    assert.match(run.output, /child subreaper: orphans of the programs are re-parented to drover/);
    await run.waitForLine(/keeper \| ready/);
    orphans = [...run.output.matchAll(/keeper \| orphan (\d+)/g)].map((m) => Number(m[1]));
    assert.equal(orphans.length, 2, run.describe());
    const [a, b] = orphans as [number, number];
    for (const o of orphans) assert.equal(ppidOf(o), run.pid, `orphan ${o} is re-parented to drover, not to init`);

    process.kill(a, 'SIGKILL');
    await waitForCondition(() => procState(a) === null, `orphan ${a} to be reaped (not left a zombie)`, { describe: () => `state ${procState(a)}\n${run.describe()}` });

    const stop = await runCli(['stop', 'keeper', '-c', conf], { cwd: dir });
    assert.equal(stop.code, 0, stop.output);
    await waitForCondition(() => procState(b) === null, `orphan ${b} to be stopped with its group and reaped`, { describe: () => `state ${procState(b)}\n${run.describe()}` });
    assert.deepEqual(zombieChildren(run.pid), []);
  } finally {
    assert.deepEqual(await teardown(run, orphans, dir), []);
  }
});

test('orphans are still reaped after "all processes stopped", while drover reads the output a leftover still writes', async () => {
  const dir = makeTmpDir();
  // the program leaves behind a loop in its own session (its stop does not reach it) that writes a line and
  // makes a short-lived orphan (re-parented to drover) each turn, so drover's close reads on for up to 5 s
  const loop = `echo loop \\$\\$; while :; do (sleep 0.01 &); echo tick; sleep 0.05; done`;
  const conf = writeConfig(
    dir,
    `[supervisord]
loglevel = debug

[program:leaver]
command = /bin/sh -c 'setsid /bin/sh -c "${loop}" & exec sleep 1000'
startsecs = 0
`,
  );
  const run = await startUp(conf);
  let loopPid = 0;
  try {
    loopPid = Number((await run.waitForLine(/leaver \| loop (\d+)/))[1]);
    assert.match(readFileSync(`/proc/${loopPid}/cmdline`, 'utf8'), /^\/bin\/sh\0-c\0echo loop/, 'the pid is the loop\'s');
    await run.waitForLine(/reaped orphan pid \d+ \(sleep\)/);
    run.signal('SIGTERM');
    const stopped = (await run.waitForLine(/all processes stopped/)).index ?? 0;
    // five orphans reaped after the stop; without the reaping they stay zombies of drover until it exits
    const reapedAfter = (): number => [...run.output.slice(stopped).matchAll(/reaped orphan pid \d+ \(sleep\)/g)].length;
    await waitForCondition(() => reapedAfter() >= 5, 'five orphans reaped after the stop', {
      timeoutMs: 4000,
      describe: () => `zombies of drover: ${zombieChildren(run.pid).join(' ')}\n${run.describe()}`,
    });
    run.signal('SIGTERM'); // a second TERM ends the reading of the leftover's output
    assert.deepEqual(await run.waitForExit(10_000), { code: 0, signal: null }, run.describe());
  } finally {
    await teardown(run, loopPid > 0 ? [loopPid] : [], dir); // the loop outlives drover: killed here
  }
});
