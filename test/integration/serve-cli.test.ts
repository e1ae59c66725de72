// drover serve's command line against the serve.ini it writes: every value the config loader reads back is
// the value typed (INI comments, trimming and % expansion included), gunicorn's names for its options, and
// relative paths read from --chdir. --check-config writes serve.ini and checks it without starting anything.
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import { CliRun, makeTmpDir, procState, runCli, teardown, waitForCondition } from '../helpers/drover.js';

// what a shell passes through untouched and an INI reader does not: comments, trimming, expansions, quotes
const NASTY = [' ;a', ';b', 'c;d', ' #e', '#f', '%g', '%(here)s', "q'\"", ' lead', 'trail ', 'p%n$x', 'a ; b # c %% d'];

test('serve --check-config: every value in serve.ini reads back as typed (; # % quotes, leading and trailing spaces)', async () => {
  const dir = makeTmpDir();
  try {
    for (const [i, n] of NASTY.entries()) {
      // a --chdir whose name is the value too, holding the files given relative to it
      const chdir = join(dir, `d${i}${n}`);
      mkdirSync(chdir);
      writeFileSync(join(chdir, `app${n}.mjs`), 'export default (req, res) => res.end("ok");\n');
      for (const f of [`c${n}.pem`, `k${n}.pem`]) writeFileSync(join(chdir, f), '');
      // supervisor's environment = has no escapes: a value cannot hold both quotes (refused, exit 2)
      const env = /['"]/.test(n) ? [] : ['-e', `A=x${n}y`, '-e', `B=${n.trim() === n ? n : `x${n}`}`];
      const args = ['serve', `app${n}.mjs`, '--check-config', '--chdir', `d${i}${n}`, '--runtime-dir', `rt${i}${n}`,
        '-b', `unix:s${n}.sock`, '-p', `pid${n}.pid`, '--access-logfile', `acc${n}.log`, '--access-logformat', `%(s)s${n}%(r)s`,
        '--error-logfile', `err${n}.log`, '--certfile', `c${n}.pem`, '--keyfile', `k${n}.pem`,
        '--reload', '--reload-ignore', `ig${n}/**`, '--shared-prefix', `P${n}Q`, ...env];
      const r = await runCli(args, { cwd: dir });
      assert.equal(r.code, 0, `${JSON.stringify(n)}: ${r.output}`);
      const config = loadConfig(join(dir, `rt${i}${n}`, 'serve.ini'));
      const s = config.supervisord;
      const p = config.processes[0];
      assert.ok(p !== undefined);
      const why = `value ${JSON.stringify(n)}`;
      assert.equal(s.runtimeDir, join(dir, `rt${i}${n}`), why);
      assert.equal(s.pidfile, join(chdir, `pid${n}.pid`), why);
      assert.equal(s.logfile, join(chdir, `err${n}.log`), why);
      assert.equal(s.sharedPrefix, `P${n}Q`, why);
      assert.equal(p.worker, join(chdir, `app${n}.mjs`), why);
      assert.equal(p.directory, chdir, why);
      assert.equal(p.stdoutLogfile, join(chdir, `acc${n}.log`), why);
      assert.equal(p.accessLogFormat, `%(s)s${n}%(r)s`, why);
      assert.deepEqual([p.tls?.certFile, p.tls?.keyFile], [join(chdir, `c${n}.pem`), join(chdir, `k${n}.pem`)], why);
      assert.deepEqual(p.watchIgnore, [join(chdir, `ig${n}/**`)], why);
      assert.deepEqual(config.sockets.map((k) => k.bind), [{ kind: 'unix', path: join(chdir, `s${n}.sock`) }], why);
      if (env.length > 0) assert.deepEqual(p.environment, { A: `x${n}y`, B: n.trim() === n ? n : `x${n}` }, why);
    }
  } finally {
    rmTmp(dir);
  }
});

test('serve: a line break in any value is refused, naming the option (exit 2)', async () => {
  const dir = makeTmpDir();
  try {
    writeFileSync(join(dir, 'app.mjs'), 'export default (req, res) => res.end("ok");\n');
    const r = await runCli(['serve', 'app.mjs', '--check-config', '-p', 'a\nb.pid'], { cwd: dir });
    assert.equal(r.code, 2, r.output);
    assert.match(r.stderr, /--pidfile cannot hold a line break, got "a\\nb\.pid"/);
  } finally {
    rmTmp(dir);
  }
});

test("serve takes gunicorn's names: --pid, -t, --log-file; the last of two names given wins", async () => {
  const dir = makeTmpDir();
  try {
    writeFileSync(join(dir, 'app.mjs'), 'export default (req, res) => res.end("ok");\n');
    const r = await runCli(['serve', 'app.mjs', '--check-config', '-p', 'first.pid', '--pid', 'g.pid', '-t', '7', '--log-file', 'g.log'], { cwd: dir });
    assert.equal(r.code, 0, r.output);
    const config = loadConfig(join(dir, '.drover', 'serve.ini'));
    assert.equal(config.supervisord.pidfile, join(dir, 'g.pid'));
    assert.equal(config.supervisord.logfile, join(dir, 'g.log'));
    assert.equal(config.processes[0]?.heartbeatTimeoutSecs, 7);
    const back = await runCli(['serve', 'app.mjs', '--check-config', '--log-file', 'g.log', '--error-logfile', 'e.log'], { cwd: dir });
    assert.equal(back.code, 0, back.output);
    assert.equal(loadConfig(join(dir, '.drover', 'serve.ini')).supervisord.logfile, join(dir, 'e.log'));
  } finally {
    rmTmp(dir);
  }
});

test("serve refuses a gunicorn option it does not take with the reason (exit 2)", async () => {
  const dir = makeTmpDir();
  try {
    writeFileSync(join(dir, 'app.mjs'), 'export default (req, res) => res.end("ok");\n');
    for (const [flag, why] of [['--preload', /each worker loads the app itself/], ['-k', /no worker class/], ['--worker-connections=5', /maxConnections/]] as const) {
      const r = await runCli(['serve', 'app.mjs', '--check-config', flag, ...(flag === '-k' ? ['gevent'] : [])], { cwd: dir });
      assert.equal(r.code, 2, r.output);
      assert.match(r.stderr, new RegExp(`gunicorn's ${flag.split('=')[0] as string} is not taken by drover serve: `));
      assert.match(r.stderr, why);
    }
  } finally {
    rmTmp(dir);
  }
});

/** Removes a test's directory: nothing was started in it (--check-config only writes serve.ini). */
function rmTmp(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

test("serve -m 007: a unix: bind's socket file gets mode 0770, as gunicorn's (0777 less the umask); --socket-mode still wins", async () => {
  const dir = makeTmpDir();
  writeFileSync(join(dir, 'app.mjs'), `export default (req, res) => res.end('ok');\n`);
  const sock = join(dir, 'app.sock');
  const run = new CliRun(['serve', join(dir, 'app.mjs'), '-w', '1', '-m', '007', '-b', `unix:${sock}`, '--runtime-dir', join(dir, '.drover')], { cwd: dir });
  const pids = (): number[] => [...run.output.matchAll(/spawned: \S+ with pid (\d+)/g)].map((m) => Number(m[1]));
  try {
    await run.waitForLine(/app_0: starting → running/, { timeoutMs: 15_000 });
    assert.equal((statSync(sock).mode & 0o777).toString(8), '770', run.describe());
  } finally {
    await teardown(run, pids(), dir);
  }
  const dir2 = makeTmpDir();
  writeFileSync(join(dir2, 'app.mjs'), `export default (req, res) => res.end('ok');\n`);
  const run2 = new CliRun(['serve', join(dir2, 'app.mjs'), '-w', '1', '-m', '007', '--socket-mode', '0600', '-b', `unix:${join(dir2, 'other.sock')}`, '--runtime-dir', join(dir2, '.drover')], { cwd: dir2 });
  try {
    await run2.waitForLine(/app_0: starting → running/, { timeoutMs: 15_000 });
    assert.equal((statSync(join(dir2, 'other.sock')).mode & 0o777).toString(8), '600', run2.describe());
  } finally {
    await teardown(run2, [...run2.output.matchAll(/spawned: \S+ with pid (\d+)/g)].map((m) => Number(m[1])), dir2);
  }
});

test('serve: INT is a graceful stop (unlike gunicorn) and its log says so; a worker kept past --graceful-timeout is named by it', async () => {
  const help = await runCli(['serve', '--help']);
  assert.match(help.output, /INT stops gracefully too \(gunicorn's INT is quick\)/, help.output);
  const dir = makeTmpDir();
  // a request that never returns to the event loop: the worker cannot run its graceful stop
  writeFileSync(join(dir, 'spin.mjs'), `export default (req, res) => { if (req.url === '/spin') for (;;); res.end('ok'); };\n`);
  const sock = join(dir, 'app.sock');
  const run = new CliRun(['serve', join(dir, 'spin.mjs'), '-w', '1', '-t', '0', '--graceful-timeout', '1', '-b', `unix:${sock}`, '--runtime-dir', join(dir, '.drover')], { cwd: dir });
  const pids = (): number[] => [...run.output.matchAll(/spawned: \S+ with pid (\d+)/g)].map((m) => Number(m[1]));
  try {
    await run.waitForLine(/spin_0: starting → running/, { timeoutMs: 15_000 });
    const client = createConnection(sock, () => client.write('GET /spin HTTP/1.1\r\nHost: x\r\n\r\n'));
    client.on('error', () => undefined); // the worker is killed with the request open
    await waitForCondition(() => procState(pids()[0] ?? 0) === 'R', 'the worker to spin (state R)', { describe: () => run.describe() });
    run.signal('SIGINT');
    await run.waitForLine(/SIGINT: graceful shutdown \(INT again: fast shutdown\)/);
    await run.waitForLine(/spin_0: still running 1s after its stop signal \(graceful_timeout, --graceful-timeout\): SIGKILL/, { timeoutMs: 10_000 });
    assert.equal((await run.waitForExit(10_000)).code, 0, run.describe());
    client.destroy();
  } finally {
    await teardown(run, pids(), dir);
  }
});
