// `drover up` under systemd's socket activation: [socket:x] sections take the fds systemd passed, matched by
// LISTEN_FDNAMES name (not by position), instead of binding their own address. systemd-socket-activate plays
// systemd: it listens, and on the first connection execs drover with LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { CliRun, fixture, makeTmpDir, teardown, writeConfig } from '../helpers/drover.js';

const ACTIVATE = '/usr/bin/systemd-socket-activate';
const skip = !existsSync(ACTIVATE) && 'systemd-socket-activate is not installed (scripts/install-test-deps.sh installs systemd)';

/** GET PATH over a unix socket: status and body. */
function getUnix(socketPath: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get({ socketPath, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

interface WorkerEnv {
  LISTEN_FDS?: string;
  LISTEN_FDNAMES?: string;
  title: string;
}

/** Starts drover under systemd-socket-activate with two named sockets, passed in the other order than the config's. */
async function activate(dir: string, extraEnv: Record<string, string> = {}): Promise<{ run: CliRun; web: string; admin: string }> {
  const web = join(dir, 'activated-web.sock');
  const admin = join(dir, 'activated-admin.sock');
  const conf = writeConfig(
    dir,
    `[socket:web]
bind = unix:${join(dir, 'own-web.sock')}

[socket:admin]
bind = unix:${join(dir, 'own-admin.sock')}

[program:web]
worker = ${fixture('worker-app.mjs')}
sockets = web

[program:admin]
worker = ${fixture('worker-app.mjs')}
sockets = admin

[program:env]
command = ${process.execPath} ${fixture('print-env.mjs')}
startsecs = 0
autorestart = false
`,
  );
  // systemd-socket-activate hands its child only LISTEN_* and what -E sets, as systemd builds a service's environment
  const setenv = Object.entries(extraEnv).flatMap(([k, v]) => ['-E', `${k}=${v}`]);
  const run = new CliRun(['up', '-c', conf], {
    cwd: dir,
    wrapper: [ACTIVATE, '-l', admin, '-l', web, '--fdname=admin:web', ...setenv],
  });
  await run.waitForCount(/Listening on .* as \d+\./g, 2);
  return { run, web, admin };
}

test('[socket:x] takes the fd systemd passed under its name, and binds nothing itself', { skip }, async () => {
  const dir = makeTmpDir();
  const { run, web, admin } = await activate(dir);
  try {
    // the first connection makes systemd-socket-activate exec drover; the request waits in the backlog
    const w = await getUnix(web, '/env');
    assert.equal(w.status, 200, run.describe());
    const a = await getUnix(admin, '/env');
    assert.equal(a.status, 200, run.describe());
    const wEnv = JSON.parse(w.body) as WorkerEnv;
    const aEnv = JSON.parse(a.body) as WorkerEnv;
    assert.match(wEnv.title, /\[web(_\d+)?\]/, `the socket named "web" reaches program web: ${w.body}`);
    assert.match(aEnv.title, /\[admin(_\d+)?\]/, `the socket named "admin" reaches program admin: ${a.body}`);
    assert.equal(wEnv.LISTEN_FDNAMES, 'web');
    assert.equal(wEnv.LISTEN_FDS, '1');
    assert.match(run.output, /socket web: .*\(inherited\)/);
    assert.match(run.output, /socket admin: .*\(inherited\)/);
    assert.equal(existsSync(join(dir, 'own-web.sock')), false, 'the configured address was not bound');
    assert.equal(existsSync(join(dir, 'own-admin.sock')), false, 'the configured address was not bound');
    run.signal('SIGTERM');
    assert.equal((await run.waitForExit(15_000)).code, 0, run.describe());
    // systemd's socket outlives the service: drover never removes the file of a socket it was passed
    assert.ok(existsSync(web) && existsSync(admin), 'the activated sockets\' files are left in place');
  } finally {
    await teardown(run, [], dir);
  }
});

test(
  "systemd's variables for drover (NOTIFY_SOCKET, WATCHDOG_*, LISTEN_*) do not reach a program",
  { skip },
  async () => {
    const dir = makeTmpDir();
    const { run, web } = await activate(dir, { NOTIFY_SOCKET: '@drover-test-not-for-programs', WATCHDOG_USEC: '30000000' });
    try {
      assert.equal((await getUnix(web, '/')).status, 200, run.describe());
      const m = await run.waitForLine(/env \| ENV (.*)/);
      const env = (JSON.parse(m[1] as string) as { env: Record<string, string> }).env;
      const leaked = ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID', 'LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES'].filter((k) => k in env);
      assert.deepEqual(leaked, [], `a program without sockets inherited ${leaked.join(', ')}`);
    } finally {
      await teardown(run, [], dir);
    }
  },
);

test('a passed socket that no [socket:x] takes is named in a warning (its connections would wait unanswered)', { skip }, async () => {
  const dir = makeTmpDir();
  const web = join(dir, 'activated-web.sock');
  const stray = join(dir, 'activated-stray.sock');
  const conf = writeConfig(dir, `[socket:web]\nbind = unix:${join(dir, 'own-web.sock')}\n\n[program:web]\nworker = ${fixture('worker-app.mjs')}\nsockets = web\n`);
  const run = new CliRun(['up', '-c', conf], { cwd: dir, wrapper: [ACTIVATE, '-l', web, '-l', stray, '--fdname=web:stray'] });
  try {
    await run.waitForCount(/Listening on .* as \d+\./g, 2);
    assert.equal((await getUnix(web, '/')).status, 200, run.describe());
    await run.waitForLine(/WARN a socket passed to drover \(LISTEN_FDNAMES "stray", fd 4\) is named by no \[socket:x\]/);
    assert.doesNotMatch(run.output, /LISTEN_FDNAMES "web"/, 'the socket a section takes is not named');
    run.signal('SIGTERM');
    assert.equal((await run.waitForExit(15_000)).code, 0, run.describe());
  } finally {
    await teardown(run, [], dir);
  }
});
