// Issue 15, health checks and essential programs: healthcheck_retries failures in a row restart the process
// (the failures in drover's log, `health` in status --json and the API, counters in /metrics), fewer do not;
// an essential program that stops for good ends drover with its exit status (1 for FATAL, 128+N for a
// signal) after stopping everything else, and a program that is not essential does not.
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { assertStaysFor, fixture, livePids, makeTmpDir, runCli, startUp, teardown, waitForCondition, writeConfig } from '../helpers/drover.js';
import { freePort, inetSection, request } from '../helpers/web.js';

const node = process.execPath;

interface Status {
  readonly name: string;
  readonly state: string;
  readonly restarts: number;
  readonly health: string | null;
  readonly healthcheck: string | null;
}

async function statusOf(file: string, name: string): Promise<Status> {
  const r = await runCli(['status', '--json', '-c', file]);
  const p = (JSON.parse(r.stdout) as { processes: Status[] }).processes.find((x) => x.name === name);
  if (!p) throw new Error(`no ${name}\n${r.output}`);
  return p;
}

/** One series of /metrics, e.g. `drover_process_unhealthy_restarts_total{name="web:web",…}`; null when absent. */
async function metric(port: number, name: string, key: string): Promise<number | null> {
  const text = (await request(port, '/metrics')).text;
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(`name="${key}"`));
  return line === undefined ? null : Number(line.slice(line.lastIndexOf(' ') + 1));
}

test('healthcheck: healthy, then healthcheck_retries failures in a row restart it; log, status and /metrics say so', async () => {
  const dir = makeTmpDir();
  const [port, api] = [await freePort(), await freePort()];
  const sick = join(dir, 'sick');
  const file = writeConfig(
    dir,
    `${inetSection(api)}
[program:web]
command = ${node} ${fixture('serve.mjs')} http ${port} 0 200 ${sick}
ready = http://127.0.0.1:${port}/
ready_interval = 50ms
healthcheck = http://127.0.0.1:${port}/health
healthcheck_interval = 200ms
healthcheck_retries = 3
`,
  );
  const run = await startUp(file);
  try {
    await run.waitForLine(/web: starting → running/);
    await run.waitUntil(() => (run.output.includes('web | listening') ? true : null), 'web to listen');
    // the first health check runs one interval into RUNNING
    const healthy = await waitForStatus(file, 'web:web', (s) => s.health === 'healthy');
    assert.equal(healthy.healthcheck, `http://127.0.0.1:${port}/health`);
    assert.equal(await metric(api, 'drover_process_healthy', 'web:web'), 1);
    const from = run.output.length;
    writeFileSync(sick, '');
    await run.waitForLine(/web: health check http:\/\/127\.0\.0\.1:\d+\/health failed \(1 of 3 in a row\): GET .*: HTTP 500, expected 2xx/, { from });
    await run.waitForLine(/web: running → stopping \(unhealthy: 3 failed health checks in a row \(last: GET .*HTTP 500, expected 2xx\); restarting\)/, { from });
    await run.waitForLine(/web: stopping → starting \(exit status 0; started again \(it was unhealthy\)\)/, { from });
    rmSync(sick);
    await run.waitForLine(/web: starting → running/, { from });
    const after = await waitForStatus(file, 'web:web', (s) => s.health === 'healthy');
    assert.equal(after.restarts, 1);
    assert.equal(run.count(/running → stopping \(unhealthy/), 1);
    assert.equal(await metric(api, 'drover_process_unhealthy_restarts_total', 'web:web'), 1);
    assert.ok(((await metric(api, 'drover_process_healthcheck_failures_total', 'web:web')) ?? 0) >= 3);
  } finally {
    await teardown(run, [], dir);
  }
});

test('negative control: fewer failures than healthcheck_retries never restart it', async () => {
  const dir = makeTmpDir();
  const port = await freePort();
  const sick = join(dir, 'sick');
  writeFileSync(sick, '');
  const file = writeConfig(
    dir,
    `[program:web]
command = ${node} ${fixture('serve.mjs')} http ${port} 0 200 ${sick}
startsecs = 0
healthcheck = http://127.0.0.1:${port}/health
healthcheck_interval = 100ms
healthcheck_retries = 1000
`,
  );
  const run = await startUp(file);
  try {
    await run.waitForCount(/web: health check .* failed/, 3);
    await assertStaysFor(500, () => !run.output.includes('web: running → stopping'), 'web to keep running');
    assert.equal((await statusOf(file, 'web:web')).restarts, 0);
  } finally {
    await teardown(run, [], dir);
  }
});

test('essential: its exit ends drover with its exit status, after stopping everything else', async () => {
  const dir = makeTmpDir();
  const run = await startUp(
    writeConfig(
      dir,
      `[program:main]
command = ${node} ${fixture('exit-with.mjs')} 7 file:${join(dir, 'go')}
startsecs = 0
autorestart = false
essential = true

[program:sidecar]
command = ${node} ${fixture('forever.mjs')}
startsecs = 0
`,
    ),
  );
  try {
    const side = Number((await run.waitForLine(/sidecar \| ready (\d+)/))[1]);
    writeFileSync(join(dir, 'go'), ''); // main exits once sidecar is ready to report its TERM
    const exit = await run.waitForExit(10_000);
    assert.equal(exit.code, 7, run.describe());
    assert.match(run.output, /essential program main exited with status 7 and is not restarted: graceful shutdown/);
    assert.match(run.output, /sidecar \| got TERM/);
    assert.deepEqual(livePids([side]), []);
  } finally {
    await teardown(run, [], dir);
  }
});

test('essential: FATAL ends drover with 1; killed by a signal, with 128+N', async () => {
  const dir = makeTmpDir();
  const fatal = await startUp(
    writeConfig(
      dir,
      `[program:broken]
command = ${node} ${fixture('exit-with.mjs')} 2 0
startretries = 1
essential = true
`,
    ),
  );
  try {
    assert.equal((await fatal.waitForExit(15_000)).code, 1, fatal.describe());
    assert.match(fatal.output, /essential program broken is FATAL/);
  } finally {
    await teardown(fatal, []);
  }
  const killed = await startUp(
    writeConfig(
      dir,
      `[program:victim]
command = ${node} ${fixture('forever.mjs')}
startsecs = 0
autorestart = false
essential = true
`,
    ),
  );
  try {
    const pid = Number((await killed.waitForLine(/victim \| ready (\d+)/))[1]);
    process.kill(pid, 'SIGKILL');
    assert.equal((await killed.waitForExit(10_000)).code, 128 + 9, killed.describe());
    assert.match(killed.output, /essential program victim was killed by SIGKILL/);
  } finally {
    await teardown(killed, [], dir);
  }
});

test('negative control: the same exit of a program that is not essential leaves drover running', async () => {
  const dir = makeTmpDir();
  const run = await startUp(
    writeConfig(
      dir,
      `[program:main]
command = ${node} ${fixture('exit-with.mjs')} 7 0
startsecs = 0
autorestart = false
`,
    ),
  );
  try {
    await run.waitForLine(/main: running → exited/);
    await assertStaysFor(500, () => run.child.exitCode === null, 'drover to keep running');
  } finally {
    await teardown(run, [], dir);
  }
});

/** Polls status until `pred` holds for the process (bounded). */
async function waitForStatus(file: string, name: string, pred: (s: Status) => boolean): Promise<Status> {
  const deadline = Date.now() + 10_000;
  let last: Status | null = null;
  while (Date.now() < deadline) {
    last = await statusOf(file, name);
    if (pred(last)) return last;
  }
  throw new Error(`timed out waiting on the status of ${name}; last: ${JSON.stringify(last)}`);
}

// docs/decisions.md: an exec check's failure message carries the last line of its output. Its output came
// through pipes the runner never read, so the message said only "exit 1".
test('exec healthcheck: the failure message ends with the last line the check wrote', async () => {
  const dir = makeTmpDir();
  const file = writeConfig(
    dir,
    `[program:app]
command = sleep 1000
startsecs = 0
healthcheck = exec:/bin/sh -c 'echo checking; echo "disk is full" >&2; exit 1'
healthcheck_interval = 100ms
healthcheck_retries = 1000
`,
  );
  const run = await startUp(file);
  try {
    await run.waitForLine(/app: health check exec:.* failed \(1 of 1000 in a row\): exit 1: disk is full$/m);
  } finally {
    await teardown(run, [], dir);
  }
});

// A check whose answer no longer matters (its process stopped, or failed its start) is killed at once; it
// ran on to healthcheck_timeout before, one more for each failed start.
test('an exec check under way is killed when its process stops: ready and health', async () => {
  const dir = makeTmpDir();
  const pids = join(dir, 'check-pids');
  // the check writes its pid, then waits far past any wait here
  const check = `exec:/bin/sh -c 'echo $$ >> ${pids}; exec sleep 1000'`;
  const file = writeConfig(
    dir,
    `[program:slowready]
command = sleep 1000
ready = ${check}
ready_timeout = 60s
healthcheck_timeout = 60s

[program:slowhealth]
command = sleep 1000
startsecs = 0
healthcheck = ${check}
healthcheck_interval = 50ms
healthcheck_timeout = 60s
`,
  );
  const run = await startUp(file);
  const checkPids = (): number[] => {
    try {
      return readFileSync(pids, 'utf8').trim().split('\n').filter(Boolean).map(Number);
    } catch {
      return [];
    }
  };
  try {
    await run.waitForLine(/slowhealth: starting → running/);
    // a check writes its pid just before it execs sleep, and while a process execs its /proc environ (which
    // livePids reads) can be unreadable for a moment: wait for both to be seen running, not one instant
    await waitForCondition(() => checkPids().length >= 2 && livePids(checkPids()).length === checkPids().length, 'both checks to run', {
      describe: () => `check pids: ${checkPids().join(' ')}; live: ${livePids(checkPids()).join(' ')}\n${run.describe()}`,
    });
    const running = checkPids();
    assert.deepEqual(livePids(running), running, 'the checks run');
    const r = await runCli(['stop', 'slowready', 'slowhealth', '-c', file]);
    assert.equal(r.code, 0, r.output);
    await waitForCondition(() => livePids(running).length === 0, 'the checks to be killed with their processes', {
      timeoutMs: 5000,
      describe: () => `still running: ${livePids(running).join(' ')}\n${run.describe()}`,
    });
  } finally {
    await teardown(run, checkPids(), dir);
  }
});

// An essential program held back by a dependency that failed for good never starts: as an essential
// program that ends, that ends drover (docker compose up: "dependency failed to start"). It used to run on,
// doing nothing, forever — as PID 1 of a container, a container that never ends.
test('essential: held back for good by a FATAL dependency, it ends drover with 1, naming why', async () => {
  const dir = makeTmpDir();
  const file = writeConfig(
    dir,
    `[program:db]
command = /bin/sh -c 'exit 4'
startretries = 0

[program:app]
command = sleep 1000
depends_on = db
essential = true
`,
  );
  const run = await startUp(file);
  try {
    const exit = await run.waitForExit(15_000);
    assert.equal(exit.code, 1, run.describe());
    assert.match(run.output, /essential program app cannot start: db is FATAL/, run.describe());
    assert.equal(run.count(/spawned: app/g), 0, 'app never started');
  } finally {
    await teardown(run, [], dir);
  }
});

// A spawn that fails at once (no such file) with no retry is FATAL inside drover's first start pass, before
// any event: drover used to act on an essential ending only after an event, so it ran on, doing nothing,
// until some unrelated event (a signal, a command) came.
test('essential: FATAL in the first start pass (cannot exec, no retry) ends drover with 1; so does a dependency FATAL so, tried once', async () => {
  for (const [name, config, why] of [
    ['alone', `[program:e]\ncommand = /nonexistent/e\nstartretries = 0\nessential = true\n\n[program:other]\ncommand = sleep 1000\n`, /essential program e is FATAL/],
    ['through db', `[program:db]\ncommand = /nonexistent/db\nstartretries = 0\n\n[program:app]\ncommand = sleep 1000\ndepends_on = db\nessential = true\n`, /essential program app cannot start: db is FATAL/],
    // the same, the dependency first in the start order (names order processes of the same priority)
    ['through db, db first', `[program:web]\ncommand = sleep 1000\ndepends_on = db\nessential = true\n\n[program:db]\ncommand = /nonexistent/db\nstartretries = 0\npriority = 1\n`, /essential program web cannot start: db is FATAL/],
  ] as const) {
    const dir = makeTmpDir();
    const run = await startUp(writeConfig(dir, config));
    try {
      const exit = await run.waitForExit(10_000);
      assert.equal(exit.code, 1, `${name}: ${run.describe()}`);
      assert.match(run.output, why, `${name}: ${run.describe()}`);
      // asked to start once in the first pass: app's start does not pull the FATAL db into a second try
      if (name.startsWith('through db')) assert.equal(run.count(/db: \w+ → starting/g), 1, run.describe());
    } finally {
      await teardown(run, [], dir);
    }
  }
});

// A check that starts something in the background and exits leaves nothing running: what still holds its
// output is killed with its process group once the check has answered.
test('an exec check that leaves a background process behind: the check passes, and that process is killed', async () => {
  const dir = makeTmpDir();
  const left = join(dir, 'left-pid');
  const file = writeConfig(
    dir,
    `[program:app]
command = sleep 1000
ready = exec:/bin/sh -c 'sleep 1000 & echo $! > ${left}; exit 0'
`,
  );
  const run = await startUp(file);
  const leftPid = (): number[] => {
    try {
      return [Number(readFileSync(left, 'utf8').trim())];
    } catch {
      return [];
    }
  };
  try {
    await run.waitForLine(/app: starting → running \(exec:.*: exit 0\)/);
    const pid = leftPid();
    assert.equal(pid.length, 1, 'the check started its background process');
    await waitForCondition(() => livePids(pid).length === 0, 'the background process of the check to be killed', { describe: () => `still running: ${pid.join(' ')}\n${run.describe()}` });
  } finally {
    await teardown(run, leftPid(), dir);
  }
});

// An audit (seventeenth session): pdeathsig ends an exec check's own process when the master dies, but not
// what the check started in its group; the orphan guard did not know the check's group. And a check killed
// at its timeout said only "no answer", dropping the last line it wrote.
test('an exec check under way when the master is SIGKILLed leaves nothing behind; a timed-out check says its last line', async () => {
  const dir = makeTmpDir();
  const left = join(dir, 'left-pid');
  const file = writeConfig(
    dir,
    `[program:app]
command = sleep 1000
ready = exec:/bin/sh -c 'sleep 1000 & echo $! > ${left}; wait'
ready_timeout = 60s
healthcheck_timeout = 60s

[program:slow]
command = sleep 1000
startsecs = 0
healthcheck = exec:/bin/sh -c 'echo "waiting for the lock"; exec sleep 1000'
healthcheck_timeout = 300ms
healthcheck_interval = 100ms
healthcheck_retries = 1000
`,
  );
  const run = await startUp(file);
  const leftPid = (): number[] => {
    try {
      return readFileSync(left, 'utf8').trim().split('\n').filter(Boolean).map(Number);
    } catch {
      return [];
    }
  };
  try {
    await run.waitForLine(/slow: health check exec:.* failed \(1 of 1000 in a row\): no answer within 0\.3s \(killed\): waiting for the lock$/m);
    await waitForCondition(() => leftPid().length === 1 && livePids(leftPid()).length === 1, 'the ready check to have started its background sleep', {
      describe: () => `left: ${leftPid().join(' ')}\n${run.describe()}`,
    });
    const pid = leftPid();
    process.kill(run.pid, 'SIGKILL');
    await run.waitForExit(5000);
    await waitForCondition(() => livePids(pid).length === 0, 'the background process of the check under way to be ended by the orphan guard', {
      timeoutMs: 5000,
      describe: () => `still running: ${pid.join(' ')}\n${run.describe()}`,
    });
  } finally {
    await teardown(run, leftPid(), dir);
  }
});

test('in a shutdown, checks stop nothing out of turn: a failing health check or a lapsing ready_timeout waits for the program\'s turn', async () => {
  // a (priority 900) is stopped first; b's health check asks whether a is alive, so it fails from then on;
  // c (800) takes 3 s to stop; r's ready check never passes, and its ready_timeout lapses while c stops.
  // b and r (100, 50) used to be stopped (b "unhealthy; restarting", r "a failed start") before c was.
  const dir = makeTmpDir();
  const aPid = join(dir, 'a.pid');
  const file = writeConfig(
    dir,
    `[program:a]
command = sh -c 'echo $$ > ${aPid}; exec sleep 1000'
priority = 900
startsecs = 0

[program:c]
command = sh -c 'trap "sleep 3; exit 0" TERM; while :; do sleep 0.1; done'
priority = 800
startsecs = 0

[program:b]
command = sleep 1000
priority = 100
startsecs = 0
healthcheck = exec:sh -c 'kill -0 $(cat ${aPid})'
healthcheck_interval = 300ms
healthcheck_retries = 2

[program:r]
command = sleep 1000
priority = 50
startsecs = 0
ready = exec:false
ready_interval = 200ms
ready_timeout = 2500ms
`,
  );
  const run = await startUp(file);
  try {
    for (const name of ['a', 'c', 'b']) await run.waitForLine(new RegExp(`${name}: starting → running`));
    await run.waitForLine(/r: stopped → starting/);
    run.signal('SIGTERM');
    const exit = await run.waitForExit(20_000);
    const out = run.output;
    assert.equal(exit.code, 0, out);
    assert.doesNotMatch(out, /unhealthy|not ready within ready_timeout|health check .* failed/, 'no check acted in the shutdown');
    const cStopped = out.indexOf('c: stopping → stopped');
    assert.ok(cStopped > 0, out);
    for (const line of ['b: running → stopping', 'r: starting → stopping']) {
      const at = out.indexOf(line);
      assert.ok(at > cStopped, `${line} after c stopped, in its turn:\n${out}`);
    }
  } finally {
    await teardown(run, [], dir);
  }
});

test('essential: held back for good by a FATAL dependency two steps down, it ends drover with 1, naming why', async () => {
  const dir = makeTmpDir();
  const file = writeConfig(
    dir,
    `[program:c]
command = /bin/sh -c 'exit 1'
startretries = 1

[program:b]
command = sleep 1000
depends_on = c:started

[program:a]
command = sleep 1000
depends_on = b:started
essential = true
`,
  );
  const run = await startUp(file);
  try {
    const exit = await run.waitForExit(20_000);
    assert.equal(exit.code, 1, run.describe());
    assert.match(run.output, /essential program a cannot start: b cannot start: c is FATAL/, run.describe());
    assert.equal(run.count(/spawned: (a|b) /g), 0, 'neither a nor b started');
  } finally {
    await teardown(run, [], dir);
  }
});
