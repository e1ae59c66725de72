// `drover up` in the foreground: priority order, graceful stop in reverse order, stopwaitsecs → SIGKILL,
// a second SIGINT and SIGQUIT as fast shutdowns, and supervisor's environment for programs.
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fixture, livePids, makeTmpDir, startUp, teardown, writeConfig } from '../helpers/drover.js';
import { freePort } from '../helpers/web.js';

const node = process.execPath;

test('starts in ascending priority, stops in descending priority, exits 0 on SIGTERM', async () => {
  const dir = makeTmpDir();
  const file = writeConfig(
    dir,
    `[program:late]
command = ${node} ${fixture('forever.mjs')}
priority = 300
startsecs = 0

[program:early]
command = ${node} ${fixture('forever.mjs')}
priority = 100
startsecs = 0

[program:middle]
command = ${node} ${fixture('forever.mjs')}
priority = 200
startsecs = 0
`,
  );
  const run = await startUp(file);
  const pids: number[] = [];
  try {
    for (const name of ['early', 'middle', 'late']) {
      const m = await run.waitForLine(new RegExp(`${name} \\| ready (\\d+)`));
      pids.push(Number(m[1]));
    }
    const spawnOrder = [...run.output.matchAll(/spawned: (\w+) with pid/g)].map((m) => m[1]);
    assert.deepEqual(spawnOrder, ['early', 'middle', 'late'], run.describe());
    run.signal('SIGTERM');
    const exit = await run.waitForExit(10_000);
    assert.equal(exit.code, 0, run.describe());
    const stopOrder = [...run.output.matchAll(/(\w+): stopping → stopped/g)].map((m) => m[1]);
    assert.deepEqual(stopOrder, ['late', 'middle', 'early'], run.describe());
    // each level was asked to stop only after the level above it had stopped
    const out = run.output;
    assert.ok(out.indexOf('late: stopping → stopped') < out.indexOf('middle: running → stopping'), run.describe());
    assert.ok(out.indexOf('middle: stopping → stopped') < out.indexOf('early: running → stopping'), run.describe());
    assert.deepEqual(livePids(pids), [], 'no program survives');
  } finally {
    assert.deepEqual(await teardown(run, pids, dir), []);
  }
});

test("an explicit group's priority orders its programs as a whole, before their own priorities (as supervisord)", async () => {
  const dir = makeTmpDir();
  // postgres has the default priority 999, but its group has 1: it starts before app (100) and stops after it
  const file = writeConfig(
    dir,
    `[group:db]
programs = postgres
priority = 1

[program:postgres]
command = ${node} ${fixture('forever.mjs')}
startsecs = 0

[program:app]
command = ${node} ${fixture('forever.mjs')}
priority = 100
startsecs = 0
`,
  );
  const run = await startUp(file);
  const pids: number[] = [];
  try {
    for (const name of ['postgres', 'app']) pids.push(Number((await run.waitForLine(new RegExp(`${name} \\| ready (\\d+)`)))[1]));
    const spawnOrder = [...run.output.matchAll(/spawned: ([\w:]+) with pid/g)].map((m) => m[1]);
    assert.deepEqual(spawnOrder, ['postgres', 'app'], run.describe());
    run.signal('SIGTERM');
    assert.equal((await run.waitForExit(10_000)).code, 0, run.describe());
    const stopOrder = [...run.output.matchAll(/([\w:]+): stopping → stopped/g)].map((m) => m[1]);
    assert.deepEqual(stopOrder, ['app', 'postgres'], run.describe());
    const out = run.output;
    assert.ok(out.indexOf('app: stopping → stopped') < out.indexOf('postgres: running → stopping'), run.describe());
  } finally {
    assert.deepEqual(await teardown(run, pids, dir), []);
  }
});

test('stopwaitsecs elapsed → SIGKILL; the program reaches stopped', async () => {
  const dir = makeTmpDir();
  const file = writeConfig(
    dir,
    `[program:stubborn]
command = ${node} ${fixture('ignore-term.mjs')}
startsecs = 0
stopwaitsecs = 1
`,
  );
  const run = await startUp(file);
  let pid = 0;
  try {
    pid = Number((await run.waitForLine(/stubborn \| ready (\d+)/))[1]);
    const t0 = Date.now();
    run.signal('SIGTERM');
    await run.waitForLine(/stubborn \| ignoring TERM/);
    await run.waitForLine(/stubborn: stopping → stopped \(terminated by SIGKILL\)/, { timeoutMs: 5000 });
    const took = Date.now() - t0;
    assert.ok(took >= 900, `SIGKILL came after stopwaitsecs (took ${took} ms)`);
    assert.equal((await run.waitForExit()).code, 0, run.describe());
  } finally {
    assert.deepEqual(await teardown(run, [pid], dir), []);
  }
});

test('a second SIGINT kills every process group at once', async () => {
  const dir = makeTmpDir();
  const file = writeConfig(
    dir,
    `[program:stubborn]
command = ${node} ${fixture('ignore-term.mjs')}
startsecs = 0
stopsignal = INT
stopwaitsecs = 60
`,
  );
  const run = await startUp(file);
  let pid = 0;
  try {
    pid = Number((await run.waitForLine(/stubborn \| ready (\d+)/))[1]);
    run.signal('SIGINT');
    await run.waitForLine(/stubborn \| ignoring INT/);
    run.signal('SIGINT');
    await run.waitForLine(/second SIGINT: fast shutdown/);
    const exit = await run.waitForExit(5000);
    assert.equal(exit.code, 0, run.describe());
    assert.match(run.output, /stubborn: stopping → stopped \(terminated by SIGKILL\)/);
    assert.deepEqual(livePids([pid]), []);
  } finally {
    assert.deepEqual(await teardown(run, [pid], dir), []);
  }
});

test('SIGQUIT is a fast shutdown', async () => {
  const dir = makeTmpDir();
  const file = writeConfig(
    dir,
    `[program:stubborn]
command = ${node} ${fixture('ignore-term.mjs')}
startsecs = 0
stopwaitsecs = 60
`,
  );
  const run = await startUp(file);
  let pid = 0;
  try {
    pid = Number((await run.waitForLine(/stubborn \| ready (\d+)/))[1]);
    run.signal('SIGQUIT');
    const exit = await run.waitForExit(5000);
    assert.equal(exit.code, 0, run.describe());
    assert.match(run.output, /SIGQUIT: fast shutdown/);
    assert.deepEqual(livePids([pid]), []);
  } finally {
    assert.deepEqual(await teardown(run, [pid], dir), []);
  }
});

test('a fast stop (SIGQUIT) SIGKILLs each process group and sends no stop signal, and says nothing of leftovers', async () => {
  const dir = makeTmpDir();
  // a leader (sleep, TERM's default action) and a child in its group that traps TERM, writing $1 on it
  const script = join(dir, 'family.sh');
  writeFileSync(
    script,
    `sh -c 'trap "echo term > $1; exit 0" TERM; echo "child $$ ready"; while :; do sleep 0.1; done' &\nexec sleep 1000\n`,
  );
  const program = (name: string, extra: string): string => `[program:${name}]
command = /bin/sh ${script} ${join(dir, `${name}.termed`)}
startsecs = 0
stopwaitsecs = 60
${extra}
`;
  // stopasgroup: a stop signal would reach the trapping child; without it, the leftover warning could come
  const run = await startUp(writeConfig(dir, `${program('fam', '')}\n${program('famg', 'stopasgroup = true')}`));
  const pids: number[] = [];
  try {
    for (const name of ['fam', 'famg']) {
      pids.push(Number((await run.waitForLine(new RegExp(`${name} \\| child (\\d+) ready`)))[1]));
      pids.push(Number((await run.waitForLine(new RegExp(`spawned: ${name} with pid (\\d+)`)))[1]));
    }
    run.signal('SIGQUIT');
    assert.equal((await run.waitForExit(5000)).code, 0, run.describe());
    // a TERM to an unhandled leader is fatal on delivery, before the KILL: the exit names the first signal
    assert.match(run.output, /fam: stopping → stopped \(terminated by SIGKILL\)/, run.describe());
    assert.match(run.output, /famg: stopping → stopped \(terminated by SIGKILL\)/, run.describe());
    assert.doesNotMatch(run.output, /processes of its group still run/, run.describe());
    assert.equal(existsSync(join(dir, 'fam.termed')) || existsSync(join(dir, 'famg.termed')), false, 'a child ran its TERM trap');
    assert.deepEqual(livePids(pids), []);
  } finally {
    assert.deepEqual(await teardown(run, pids, dir), []);
  }
});

test('environment, directory and umask reach the program, with SUPERVISOR_* set as supervisor sets them', async () => {
  const dir = makeTmpDir();
  const file = writeConfig(
    dir,
    `[supervisord]
environment = FROM_SUPERVISORD="yes"

[group:tools]
programs = envy

[program:envy]
command = ${node} ${fixture('print-env.mjs')} one "two words"
directory = /tmp
umask = 027
environment = GREETING="hello world",EMPTY=""
startsecs = 0
autorestart = false
`,
  );
  const run = await startUp(file);
  try {
    const m = await run.waitForLine(/envy \| ENV (.*)\n/);
    const seen = JSON.parse(m[1] ?? '{}') as {
      env: Record<string, string>;
      cwd: string;
      umask: number;
      argv: string[];
    };
    assert.equal(seen.env['GREETING'], 'hello world');
    assert.equal(seen.env['EMPTY'], '');
    assert.equal(seen.env['FROM_SUPERVISORD'], 'yes');
    assert.equal(seen.env['SUPERVISOR_ENABLED'], '1');
    assert.equal(seen.env['SUPERVISOR_PROCESS_NAME'], 'envy');
    assert.equal(seen.env['SUPERVISOR_GROUP_NAME'], 'tools');
    // no serverurl: drover's own control socket, as supervisord passes its own (childutils.getRPCInterface reads it)
    assert.equal(seen.env['SUPERVISOR_SERVER_URL'], `unix://${join(dir, '.drover', 'drover.sock')}`);
    assert.equal(seen.cwd, '/tmp');
    assert.equal(seen.umask, 0o027);
    assert.deepEqual(seen.argv, ['one', 'two words']);
    await run.waitForLine(/envy: running → exited \(exit status 0; expected\)/);
    run.signal('SIGTERM');
    assert.equal((await run.waitForExit()).code, 0, run.describe());
  } finally {
    await teardown(run, [], dir);
  }
});

// Found by a differential audit against supervisord 4.2.5 (fifteenth session): with [inet_http_server] and
// no [unix_http_server], supervisord passes its TCP address; drover passed its private runtime socket, which
// a program running as another user cannot reach (the runtime directory is 0700).
test('with only [inet_http_server], SUPERVISOR_SERVER_URL is its address, as supervisord passes it', async () => {
  const dir = makeTmpDir();
  const port = await freePort();
  const file = writeConfig(
    dir,
    `[inet_http_server]
port = 127.0.0.1:${port}
username = u
password = pw

[program:envy]
command = ${node} ${fixture('print-env.mjs')}
startsecs = 0
autorestart = false
`,
  );
  const run = await startUp(file);
  try {
    const m = await run.waitForLine(/envy \| ENV (.*)\n/);
    const seen = JSON.parse(m[1] ?? '{}') as { env: Record<string, string> };
    assert.equal(seen.env['SUPERVISOR_SERVER_URL'], `http://127.0.0.1:${port}`, run.describe());
    await run.waitForLine(/envy: running → exited \(exit status 0; expected\)/);
    run.signal('SIGTERM');
    assert.equal((await run.waitForExit()).code, 0, run.describe());
  } finally {
    await teardown(run, [], dir);
  }
});
