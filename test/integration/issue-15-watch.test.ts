// watch = (issue 15, item 6): a burst of edits to watched files restarts a command program once
// (watch_debounce), files the globs do not name restart nothing, a directory made later is watched, a
// program stopped by hand stays stopped, and a worker program rolls under load with no failed request.
import assert from 'node:assert/strict';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
// spaces the writes of a burst apart: it paces what the test does, it never waits for drover
import { setTimeout as spaceWrites } from 'node:timers/promises';
import { test } from 'node:test';
import { assertStaysFor, makeTmpDir, runCli, startUp, teardown, waitForAsync, writeConfig, type CliRun } from '../helpers/drover.js';
import { fetchText } from '../helpers/http.js';
import { startLoad } from '../helpers/load.js';

const SPAWNED = /spawned: w with pid (\d+)/g;
const SPAWNED_V = /spawned: v with pid (\d+)/g;

function pids(run: CliRun, re: RegExp): number[] {
  return [...run.output.matchAll(re)].map((m) => Number(m[1]));
}

test('a burst of edits to watched files restarts a command program once; other files restart nothing', async () => {
  const dir = makeTmpDir();
  mkdirSync(join(dir, 'src'));
  writeFileSync(join(dir, 'src', 'a.txt'), 'v0');
  const run = await startUp(
    writeConfig(
      dir,
      `[program:w]
command = /bin/sleep 60
startsecs = 0
stopwaitsecs = 1
watch = src/**/*.txt, settings.json
watch_debounce = 1s
`,
    ),
  );
  try {
    await run.waitForLine(/watch: w:w: watching .*src\/\*\*\/\*\.txt/);
    await run.waitForCount(SPAWNED, 1);
    // a burst: five writes 20 ms apart, well inside the debounce (1 s, so a stalled test cannot split it)
    for (let i = 1; i <= 5; i++) {
      writeFileSync(join(dir, 'src', 'a.txt'), `v${i}`);
      await spaceWrites(20);
    }
    await run.waitForCount(SPAWNED, 2);
    assert.match(run.output, /watch: w:w: \S+\/src\/a\.txt and \d+ more change\(s\); restarting w/);
    await assertStaysFor(1500, () => run.count(SPAWNED) === 2, 'one restart for the burst');
    // not named by the globs: another extension, a hidden file, drover's own runtime directory
    writeFileSync(join(dir, 'src', 'a.log'), 'x');
    writeFileSync(join(dir, 'src', '.a.txt.swp'), 'x');
    writeFileSync(join(dir, '.drover', 'x.txt'), 'x');
    await assertStaysFor(1500, () => run.count(SPAWNED) === 2, 'no restart for files the globs do not name');
    // a directory made after the start is watched too
    mkdirSync(join(dir, 'src', 'new', 'deep'), { recursive: true });
    writeFileSync(join(dir, 'src', 'new', 'deep', 'b.txt'), 'x');
    await run.waitForCount(SPAWNED, 3);
    // a literal file name
    writeFileSync(join(dir, 'settings.json'), '{}');
    await run.waitForCount(SPAWNED, 4);
    // stopped by hand: stays stopped
    const stop = await runCli(['stop', 'w', '-c', join(dir, 'supervisord.conf')]);
    assert.equal(stop.code, 0, stop.output);
    writeFileSync(join(dir, 'src', 'a.txt'), 'after stop');
    await run.waitForLine(/watch: w:w: .*not restarted \(stopped\)/);
    assert.equal(run.count(SPAWNED), 4, run.describe());
  } finally {
    await teardown(run, pids(run, SPAWNED), dir);
  }
});

test('a watched worker program rolls under load with no failed request, and the new code answers', async () => {
  const dir = makeTmpDir();
  const app = join(dir, 'app.mjs');
  writeFileSync(app, `export default (req, res) => res.end('v1');\n`);
  const run = await startUp(
    writeConfig(
      dir,
      `[socket:web]
bind = 127.0.0.1:0

[program:web]
worker = app.mjs
sockets = web
numprocs = 2
graceful_timeout = 5s
watch = *.mjs
`,
    ),
  );
  const workerPids = (): number[] => pids(run, /spawned: web_\d+ with pid (\d+)/g);
  try {
    const port = Number((await run.waitForLine(/socket web: listening on 127\.0\.0\.1:(\d+)/))[1]);
    await run.waitForCount(/web_\d: starting → running/g, 2);
    const load = startLoad(port);
    await load.waitForMore(200);
    const from = run.output.length;
    writeFileSync(app, `export default (req, res) => res.end('v2');\n`);
    await run.waitForLine(/watch: web:web: \S+app\.mjs.*; rolling the workers/, { from });
    await run.waitForLine(/watch \(web:web\): rolled web:web/, { from, timeoutMs: 20_000 });
    await load.waitForMore(200);
    const result = await load.stop();
    assert.equal(result.failed, 0, `failed requests: ${result.errors.join('; ')}\n${run.describe()}`);
    assert.equal((await fetchText(port)).body, 'v2', run.describe());
    // a roll: each new worker was ready before an old one began to stop
    const after = run.output.slice(from);
    const readyAt = [...after.matchAll(/web_\d+: starting → running/g)].map((m) => m.index);
    const stopAt = [...after.matchAll(/web_\d+: running → stopping/g)].map((m) => m.index);
    assert.equal(readyAt.length, 2, run.describe());
    assert.ok((readyAt[0] as number) < (stopAt[0] as number) && (readyAt[1] as number) < (stopAt[1] as number), `a new worker was ready before each old one left\n${after}`);
  } finally {
    await teardown(run, workerPids(), dir);
  }
});

// From an audit: removing a watched tree of a thousand directories froze the master for ~20 s (each
// directory's removal re-read the real path of every other one); a log file named relative to the config
// (stdout_logfile = out.txt) inside a watched tree restarted its program at every line it wrote; and a
// glob's base whose parent was removed and made again (a build's rm -rf dist) was never watched again.
test('watch: a removed tree of 1500 directories costs no stall, a relative log file in the tree is drover\'s own, a removed base is watched again', async () => {
  const dir = makeTmpDir();
  for (let i = 0; i < 30; i++) for (let j = 0; j < 50; j++) mkdirSync(join(dir, 'big', `d${i}`, `e${j}`), { recursive: true });
  writeFileSync(join(dir, 'big', 'd0', 'e0', 'a.txt'), 'x');
  mkdirSync(join(dir, 'dist', 'server', 'js'), { recursive: true });
  writeFileSync(join(dir, 'dist', 'server', 'js', 'old.js'), '0');
  const file = writeConfig(
    dir,
    `[program:w]
command = /bin/sh -c 'while :; do echo tick; sleep 0.3; done'
startsecs = 0
stopwaitsecs = 1
stdout_logfile = out.txt
watch = **/*.txt
watch_debounce = 100ms

[program:v]
command = /bin/sleep 60
startsecs = 0
stopwaitsecs = 1
watch = dist/server/js/*.js
watch_debounce = 100ms
`,
  );
  const run = await startUp(file);
  try {
    await run.waitForLine(/watch: w:w: watching .*\((15\d\d) directories\)/);
    await run.waitForLine(/watch: v:v: watching /);
    await run.waitForCount(SPAWNED, 1);
    // the program writes a line to ./out.txt (which **/*.txt names) every 300 ms (past the debounce): none of them is a change
    await assertStaysFor(1000, () => run.count(SPAWNED) === 1, `no restart for drover's own log file:\n${run.describe()}`);
    rmSync(join(dir, 'big'), { recursive: true });
    const status = await runCli(['status', '-c', file], { timeoutMs: 5000 });
    // answered: 0, or 3 when it caught w in the restart the removal brings (stopped for a few ms)
    assert.ok((status.code === 0 || status.code === 3) && /^w\s/m.test(status.stdout), `status answered within 5 s of the removal: ${status.output}\n${run.describe()}`);
    await run.waitForCount(SPAWNED, 2); // big/d0/e0/a.txt went: a change
    // v watches dist/server/js alone (from dist/server), so nothing else of the test watches dist
    await run.waitForCount(SPAWNED_V, 1);
    rmSync(join(dir, 'dist'), { recursive: true });
    await run.waitForCount(SPAWNED_V, 2); // dist/server/js/old.js went
    mkdirSync(join(dir, 'dist', 'server', 'js'), { recursive: true });
    writeFileSync(join(dir, 'dist', 'server', 'js', 'x.js'), '1');
    await run.waitForCount(SPAWNED_V, 3, 15_000);
  } finally {
    await teardown(run, [...pids(run, SPAWNED), ...pids(run, SPAWNED_V)], dir);
  }
});

// From an audit: a program that writes into its own watched tree (an app's data file, with serve --reload)
// restarted itself for ever; watch_ignore names what never counts.
test('watch_ignore: files the program writes under an ignored directory restart nothing; others still do', async () => {
  const dir = makeTmpDir();
  mkdirSync(join(dir, 'data'));
  writeFileSync(join(dir, 'app.txt'), 'v0');
  const file = writeConfig(
    dir,
    `[program:w]
command = /bin/sh -c 'while :; do date >> data/state.txt; echo wrote; sleep 0.3; done'
directory = ${dir}
startsecs = 0
stopwaitsecs = 1
stdout_logfile = /dev/stdout
watch = **/*.txt
watch_ignore = data
watch_debounce = 100ms
`,
  );
  const run = await startUp(file);
  try {
    await run.waitForLine(/watch: w:w: watching /);
    await run.waitForCount(/w \| wrote/g, 4, 10_000);
    assert.equal(run.count(SPAWNED), 1, `no restart for data/state.txt:\n${run.describe()}`);
    writeFileSync(join(dir, 'app.txt'), 'v1');
    await run.waitForCount(SPAWNED, 2);
  } finally {
    await teardown(run, pids(run, SPAWNED), dir);
  }
});

// A watched directory moved out of the tree takes its files with it, as `rm -rf` does, but the kernel sends
// no event per file for a move: only the directory's own. It used to restart nothing.
test('watch: a directory of watched files moved out of the tree restarts the program; so does one moved in', async () => {
  const dir = makeTmpDir();
  mkdirSync(join(dir, 'src', 'lib'), { recursive: true });
  writeFileSync(join(dir, 'src', 'lib', 'a.txt'), 'v0');
  const run = await startUp(
    writeConfig(
      dir,
      `[program:w]
command = /bin/sleep 60
startsecs = 0
stopwaitsecs = 1
watch = src/**/*.txt
watch_debounce = 100ms
`,
    ),
  );
  try {
    await run.waitForLine(/watch: w:w: watching /);
    await run.waitForCount(SPAWNED, 1);
    renameSync(join(dir, 'src', 'lib'), join(dir, 'lib-moved'));
    await run.waitForCount(SPAWNED, 2);
    assert.match(run.output, /watch: w:w: \S+\/src\/lib(?: and \d+ more change\(s\))?; restarting w/, run.describe());
    renameSync(join(dir, 'lib-moved'), join(dir, 'src', 'lib'));
    await run.waitForCount(SPAWNED, 3);
  } finally {
    await teardown(run, pids(run, SPAWNED), dir);
  }
});

// A review found a watch restart pulled a dependency the operator had stopped by hand: the restart's start
// was a plain start, which starts what the program depends on. It starts as an update's restart does now.
test('a watch restart does not start a dependency stopped by hand: the program waits for it, as after an update', async () => {
  const dir = makeTmpDir();
  mkdirSync(join(dir, 'src'));
  const file = writeConfig(
    dir,
    `[program:db]
command = /bin/sleep 60
startsecs = 0
stopwaitsecs = 1

[program:w]
command = /bin/sleep 60
startsecs = 0
stopwaitsecs = 1
depends_on = db
watch = src/*.txt
watch_debounce = 100ms
`,
  );
  const run = await startUp(file);
  try {
    await run.waitForLine(/watch: w:w: watching/);
    await run.waitForCount(SPAWNED, 1);
    const stop = await runCli(['stop', 'db', '-c', file]);
    assert.equal(stop.code, 0, stop.output);
    const from = run.output.length;
    writeFileSync(join(dir, 'src', 'a.txt'), 'changed');
    await run.waitForLine(/watch: w:w: .*restarting w/, { from });
    let w: Record<string, unknown> = {};
    await waitForAsync(
      async () => {
        const st = JSON.parse((await runCli(['status', '--json', '-c', file])).stdout) as { processes: Record<string, unknown>[] };
        w = st.processes.find((p) => p['name'] === 'w:w') ?? {};
        return w['state'] === 'stopped' && typeof w['waiting'] === 'string';
      },
      'w waiting for db',
      { timeoutMs: 5000, describe: () => `${JSON.stringify(w)}\n${run.describe()}` },
    );
    assert.match(String(w['waiting']), /db is stopped/, JSON.stringify(w));
    await assertStaysFor(500, () => !/spawned: db with pid/.test(run.output.slice(from)), 'db stays stopped');
  } finally {
    await teardown(run, [...pids(run, SPAWNED), ...pids(run, /spawned: db with pid (\d+)/g)], dir);
  }
});

// A code review: a watch restart's start came after its stop, and undid an operator's stop that arrived
// while the program was stopping for the watch.
test('an operator stop while a watch restart is stopping the program wins: the program stays stopped', async () => {
  const dir = makeTmpDir();
  mkdirSync(join(dir, 'src'));
  const go = join(dir, 'go');
  const file = writeConfig(
    dir,
    `[program:w]
command = /bin/sh -c 'trap "while [ ! -f ${go} ]; do sleep 0.05; done; exit 0" TERM; while :; do sleep 0.05; done'
startsecs = 0
stopwaitsecs = 30
watch = src/*.txt
watch_debounce = 100ms
`,
  );
  const run = await startUp(file);
  try {
    await run.waitForLine(/watch: w:w: watching/);
    await run.waitForCount(SPAWNED, 1);
    const from = run.output.length;
    writeFileSync(join(dir, 'src', 'a.txt'), 'changed');
    // the watch's stop is under way, held until `go` exists
    await run.waitForLine(/w: running → stopping/, { from });
    const stop = await runCli(['stop', 'w', '--no-wait', '-c', file]);
    assert.equal(stop.code, 0, stop.output);
    writeFileSync(go, '');
    await run.waitForLine(/w: stopping → stopped/, { from });
    await assertStaysFor(1000, () => run.count(SPAWNED) === 1, 'no start after the operator\'s stop');
    const st = await runCli(['status', 'w', '-c', file]);
    assert.match(st.stdout, /^w\s+stopped/m, `${st.output}\n${run.describe()}`);
  } finally {
    await teardown(run, pids(run, SPAWNED), dir);
  }
});
