// drover serve: --reload (a change to the app's source rolls the workers onto the new code, through watch =), -e quoting,
// and --shared-backend (two serve masters sharing one Redis).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { assertStaysFor, CliRun, makeTmpDir, runCli, teardown, waitForCondition } from '../helpers/drover.js';
import { fetchText } from '../helpers/http.js';
import { startRedis } from '../helpers/redis.js';
import { linkDrover } from '../helpers/shared.js';

test('serve --reload: editing the app rolls the workers and the new code answers', async () => {
  const dir = makeTmpDir();
  const app = join(dir, 'app.mjs');
  writeFileSync(app, `export default (req, res) => res.end('v1');\n`);
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  const port = (blocker.address() as { port: number }).port;
  blocker.close();
  const run = new CliRun(['serve', app, '-w', '2', '-b', `127.0.0.1:${port}`, '--reload', '--runtime-dir', join(dir, '.drover')], { cwd: dir });
  try {
    await run.waitForCount(/starting → running \(worker reported ready\)/g, 2);
    assert.equal((await fetchText(port)).body, 'v1');
    const from = run.output.length;
    writeFileSync(app, `export default (req, res) => res.end('v2');\n`);
    // the master's watch = (the same mechanism as a program's), not a reload of the config
    await run.waitForLine(/watch: app:app: \S+app\.mjs.*; rolling the workers/, { from });
    await run.waitForCount(/stopping → stopped/g, 2, 15_000);
    assert.equal((await fetchText(port)).body, 'v2', run.describe());
  } finally {
    await teardown(run, [...run.output.matchAll(/spawned: \w+ with pid (\d+)/g)].map((m) => Number(m[1])), dir);
  }
});

// Found by a review: with drover's stdout in a file under the app's directory, each roll's log lines changed
// a watched file and brought the next roll, forever. The files behind fds 1 and 2 are drover's own now.
test('serve --reload > serve.log in the app directory: drover\'s own output does not roll the workers; an edit still does', async () => {
  const dir = makeTmpDir();
  const app = join(dir, 'app.mjs');
  const log = join(dir, 'serve.log');
  writeFileSync(app, `export default (req, res) => res.end('v1');\n`);
  // the shell opens serve.log and execs drover on it, as `drover serve … > serve.log 2>&1` does
  const run = new CliRun(['serve', app, '-b', '127.0.0.1:0', '--reload', '--runtime-dir', join(dir, '.drover')], { cwd: dir, wrapper: ['sh', '-c', 'exec "$@" > serve.log 2>&1', 'sh'] });
  const text = (): string => (existsSync(log) ? readFileSync(log, 'utf8') : '');
  const describe = (): string => `serve.log:\n${text()}\n${run.describe()}`;
  try {
    await waitForCondition(() => /starting → running \(worker reported ready\)/.test(text()), 'the worker ready in serve.log', { describe });
    // the lines just written to serve.log (and any after) must not count as a change; the debounce is 200 ms
    await assertStaysFor(1500, () => !/rolling the workers/.test(text()), `no roll (${describe()})`);
    writeFileSync(app, `export default (req, res) => res.end('v2');\n`);
    await waitForCondition(() => /app\.mjs.*; rolling the workers/.test(text()), 'a roll after the edit', { describe });
    await waitForCondition(() => (text().match(/starting → running \(worker reported ready\)/g) ?? []).length >= 2, 'the new worker ready', { describe, timeoutMs: 15_000 });
    await assertStaysFor(1500, () => (text().match(/rolling the workers/g) ?? []).length === 1, `one roll only (${describe()})`);
    // a link loop in the tree (ELOOP where it is followed): a change like any other, never the master's end
    // (the check of drover's own output files threw on it, into the master's uncaughtException)
    symlinkSync('loop.mjs', join(dir, 'loop.mjs'));
    await waitForCondition(() => /loop\.mjs.*; rolling the workers/.test(text()), 'a roll after the link loop appeared', { describe });
    await waitForCondition(() => (text().match(/starting → running \(worker reported ready\)/g) ?? []).length >= 3, 'the third worker ready', { describe, timeoutMs: 15_000 });
    assert.equal(run.child.exitCode, null, `the master runs on\n${describe()}`);
  } finally {
    await teardown(run, [...text().matchAll(/spawned: \w+ with pid (\d+)/g)].map((m) => Number(m[1])), dir);
  }
});

// the README's `kill -HUP $(drover pid)` beside a `drover serve`: the control commands find the server
// through the .drover/serve.ini it wrote, with no -c
test('drover pid and status find a drover serve of the current directory without -c', async () => {
  const dir = makeTmpDir();
  const app = join(dir, 'app.mjs');
  writeFileSync(app, `export default (req, res) => res.end('ok');\n`);
  const run = new CliRun(['serve', app, '-b', '127.0.0.1:0'], { cwd: dir });
  try {
    const master = Number((await run.waitForLine(/drover up: pid (\d+)/))[1]);
    await run.waitForLine(/starting → running \(worker reported ready\)/);
    const pid = await runCli(['pid'], { cwd: dir });
    assert.equal(pid.code, 0, pid.output);
    assert.equal(pid.stdout.trim(), String(master));
    const status = await runCli(['status'], { cwd: dir });
    assert.equal(status.code, 0, status.output);
    assert.match(status.stdout, /app:app_0 +running/);
  } finally {
    await teardown(run, [...run.output.matchAll(/spawned: \w+ with pid (\d+)/g)].map((m) => Number(m[1])), dir);
  }
});

// Found by a differential audit against gunicorn 20.1 (fifteenth session): a second serve in the same
// directory was refused only after it had rewritten .drover/serve.ini, so the running master's next HUP
// replaced its app with the second one's
test("a second drover serve in the same directory is refused and leaves the running one's serve.ini as it was", async () => {
  const dir = makeTmpDir();
  const a = join(dir, 'a.mjs');
  const b = join(dir, 'b.mjs');
  writeFileSync(a, `export default (req, res) => res.end('a');\n`);
  writeFileSync(b, `export default (req, res) => res.end('b');\n`);
  const run = new CliRun(['serve', a, '-b', '127.0.0.1:0'], { cwd: dir });
  try {
    await run.waitForLine(/drover up: pid (\d+)/);
    await run.waitForLine(/starting → running \(worker reported ready\)/);
    const ini = join(dir, '.drover', 'serve.ini');
    const before = readFileSync(ini, 'utf8');
    // a CliRun of its own, torn down whatever happens: a second master that ran would outlive the test
    const second = new CliRun(['serve', b, '-b', '127.0.0.1:0'], { cwd: dir });
    try {
      assert.equal((await second.waitForExit(15_000)).code, 1, second.describe());
      assert.match(second.output, /drover is already running for \S+\.drover/);
      assert.equal(readFileSync(ini, 'utf8'), before, 'serve.ini is the running master\'s still');
    } finally {
      await teardown(second);
    }
  } finally {
    await teardown(run, [...run.output.matchAll(/spawned: \w+ with pid (\d+)/g)].map((m) => Number(m[1])), dir);
  }
});

// Found by the same audit: a second master with the same -p but its own runtime directory took the pidfile
// over without a word, and removed it at its exit, so the first master had none
test('a pidfile that names a running master is not taken over by another (its own runtime directory)', async () => {
  const dir = makeTmpDir();
  const app = join(dir, 'app.mjs');
  writeFileSync(app, `export default (req, res) => res.end('ok');\n`);
  const pidfile = join(dir, 'app.pid');
  const run = new CliRun(['serve', app, '-b', '127.0.0.1:0', '-p', pidfile, '--runtime-dir', join(dir, 'one')], { cwd: dir });
  try {
    const master = Number((await run.waitForLine(/drover up: pid (\d+)/))[1]);
    await run.waitForLine(/starting → running \(worker reported ready\)/);
    assert.equal(readFileSync(pidfile, 'utf8'), `${master}\n`);
    const second = new CliRun(['serve', app, '-b', '127.0.0.1:0', '-p', pidfile, '--runtime-dir', join(dir, 'two')], { cwd: dir });
    try {
      assert.equal((await second.waitForExit(15_000)).code, 1, second.describe());
      assert.match(second.output, new RegExp(`names a running drover master \\(pid ${master}\\)`));
      assert.equal(readFileSync(pidfile, 'utf8'), `${master}\n`, 'the pidfile still names the first master');
    } finally {
      await teardown(second);
    }
  } finally {
    await teardown(run, [...run.output.matchAll(/spawned: \w+ with pid (\d+)/g)].map((m) => Number(m[1])), dir);
  }
});

// gunicorn makes its unix socket under umask 0 (srwxrwxrwx), so a web server of another user connects;
// drover's follows its umask (0755 under 022): --socket-mode sets it, as [socket:x] mode does
test('serve --socket-mode sets the mode of a unix:PATH socket; without a unix bind it is a usage error', async () => {
  const dir = makeTmpDir();
  const app = join(dir, 'app.mjs');
  writeFileSync(app, `export default (req, res) => res.end('ok');\n`);
  const sock = join(dir, 'app.sock');
  const bad = await runCli(['serve', app, '-b', '127.0.0.1:0', '--socket-mode', '0666'], { cwd: dir });
  assert.equal(bad.code, 2, bad.output);
  assert.match(bad.output, /--socket-mode applies to unix:PATH binds/);
  const run = new CliRun(['serve', app, '-b', `unix:${sock}`, '--socket-mode', '0666'], { cwd: dir });
  try {
    await run.waitForLine(/starting → running \(worker reported ready\)/);
    assert.equal(statSync(sock).mode & 0o777, 0o666, run.describe());
  } finally {
    await teardown(run, [...run.output.matchAll(/spawned: \w+ with pid (\d+)/g)].map((m) => Number(m[1])), dir);
  }
});

// gunicorn's --backlog; ss shows a listener's backlog as its Send-Q
test('serve --backlog sets the listen backlog of each socket, balanced slots included; 0 or a word is a usage error', async () => {
  const dir = makeTmpDir();
  const app = join(dir, 'app.mjs');
  writeFileSync(app, `export default (req, res) => res.end('ok');\n`);
  for (const bad of ['0', 'lots']) {
    const r = await runCli(['serve', app, '--backlog', bad], { cwd: dir });
    assert.equal(r.code, 2, r.output);
    assert.match(r.stderr, bad === '0' ? /--backlog must be at least 1/ : /--backlog must be a whole number, got "lots"/);
  }
  const run = new CliRun(['serve', app, '-w', '2', '-b', '127.0.0.1:0', '--reuse-port', '--backlog', '37', '--runtime-dir', join(dir, '.drover')], { cwd: dir });
  try {
    const port = Number((await run.waitForLine(/listening on 127\.0\.0\.1:(\d+)/))[1]);
    await run.waitForLine(/app_1: starting → running/, { timeoutMs: 15_000 });
    const ss = spawnSync('ss', ['-Hltn', `sport = :${port}`], { encoding: 'utf8' });
    const backlogs = ss.stdout.trim().split('\n').filter(Boolean).map((l) => Number(l.trim().split(/\s+/)[2]));
    assert.deepEqual(backlogs, [37, 37], `ss: ${ss.stdout}${ss.stderr}\n${run.describe()}`);
  } finally {
    await teardown(run, [...run.output.matchAll(/spawned: \w+ with pid (\d+)/g)].map((m) => Number(m[1])), dir);
  }
});

test('serve -e passes values with quotes and backslashes through unchanged', async () => {
  const dir = makeTmpDir();
  const app = join(dir, 'env.mjs');
  writeFileSync(app, `export default (req, res) => res.end(JSON.stringify([process.env.A, process.env.B, process.env.C]));\n`);
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  const port = (blocker.address() as { port: number }).port;
  blocker.close();
  const run = new CliRun(
    ['serve', app, '-b', `127.0.0.1:${port}`, '-e', 'A=say "hi" now', '-e', "B=a\\b it's", '-e', 'C=50%', '--runtime-dir', join(dir, '.drover')],
    { cwd: dir },
  );
  try {
    await run.waitForLine(/starting → running \(worker reported ready\)/);
    const bad = await runCli(['serve', app, '-e', 'Q="quoted"'], { cwd: dir });
    assert.equal(bad.code, 2, bad.output);
    assert.match(bad.stderr, /--env value cannot begin or end with a quote/);
    assert.deepEqual(JSON.parse((await fetchText(port)).body), ['say "hi" now', "a\\b it's", '50%'], run.describe());
  } finally {
    await teardown(run, [...run.output.matchAll(/spawned: \w+ with pid (\d+)/g)].map((m) => Number(m[1])), dir);
  }
});

test('serve --shared-backend: HTTP workers of two serve masters share state and a queue in one Redis; a bad URL is exit 2', async () => {
  const dir = makeTmpDir();
  linkDrover(dir);
  const redis = await startRedis(dir);
  const app = join(dir, 'count.mjs');
  writeFileSync(
    app,
    `import { queue, state } from 'drover';
export default async (req, res) => {
  const hits = await state.increment('hits');
  await queue('seen').push({ pid: process.pid });
  res.end(String(hits));
};
`,
  );
  const ports: number[] = [];
  for (let i = 0; i < 2; i++) {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    ports.push((blocker.address() as { port: number }).port);
    blocker.close();
  }
  const runs = ports.map(
    (port, i) =>
      new CliRun(['serve', app, '-w', '1', '-b', `127.0.0.1:${port}`, '--shared-backend', redis.url, '--shared-prefix', 'srv', '--runtime-dir', join(dir, `.drover${i}`)], { cwd: dir }),
  );
  try {
    for (const run of runs) await run.waitForLine(/starting → running \(worker reported ready\)/);
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(Number((await fetchText(ports[i % 2] as number)).body));
    assert.deepEqual(answers, [1, 2, 3, 4], 'one counter across both masters');
    const stats = await runCli(['queue', 'stats', 'seen', '--json', '-c', join(dir, '.drover1', 'serve.ini')], { cwd: dir });
    assert.equal(stats.code, 0, stats.output);
    assert.equal((JSON.parse(stats.stdout) as { queues: { ready: number }[] }).queues[0]?.ready, 4, 'one queue across both masters');
    const bad = await runCli(['serve', app, '--shared-backend', 'mysql://h/1', '--runtime-dir', join(dir, '.drover-bad')], { cwd: dir });
    assert.equal(bad.code, 2, bad.output);
    assert.match(bad.stderr, /--shared-backend mysql:\/\/h\/1: mysql is not a known backend/);
  } finally {
    for (const run of runs) await teardown(run, [...run.output.matchAll(/spawned: \w+ with pid (\d+)/g)].map((m) => Number(m[1])));
    await redis.stop();
  }
});

test('serve: a bad option value is reported as the option given, not as a line of serve.ini, and nothing is left to run', async () => {
  const dir = makeTmpDir();
  const app = join(dir, 'app.mjs');
  writeFileSync(app, "export default (req, res) => res.end('ok');\n");
  const cases: [string[], RegExp][] = [
    [['--max-memory', '5XB'], /^drover serve: --max-memory 5XB: not a byte size \(expected /],
    [['-u', 'nosuchuser_x'], /^drover serve: --user nosuchuser_x: no such user/],
    [['--shared-backend', 'foo://x'], /^drover serve: --shared-backend foo:\/\/x: foo is not a known backend/],
    [['-n', 'a:b'], /^drover serve: --name may hold letters, digits, _ and - only, got "a:b"/],
    [['-n', ''], /^drover serve: --name may hold letters, digits, _ and - only, got ""/],
    [['--chdir', join(dir, 'nosuch')], /^drover serve: --chdir .*nosuch: no such directory/],
  ];
  for (const [args, expected] of cases) {
    const r = await runCli(['serve', app, '-b', '127.0.0.1:0', ...args], { cwd: dir });
    assert.equal(r.code, 2, `${args.join(' ')}\n${r.output}`);
    assert.match(r.stderr, expected, `${args.join(' ')}\n${r.output}`);
    assert.doesNotMatch(r.stderr, /serve\.ini/, `${args.join(' ')}\n${r.output}`);
    // no serve.ini with the bad value for `drover status` to stumble on
    assert.equal(existsSync(join(dir, '.drover', 'serve.ini')), false, `${args.join(' ')}: serve.ini removed`);
  }
  rmSync(dir, { recursive: true, force: true });
});
