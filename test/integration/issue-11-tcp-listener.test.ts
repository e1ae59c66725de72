// Issue 11, findings 11 and 13: the TCP control listener. An empty password (written as such, through an
// empty %(ENV_X)s, or as {SHA} of the empty string) is refused at start with exit 2, as a missing one is;
// `port = N` with no host binds every interface and drover now says so, with a warning about plain HTTP.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { CliRun, makeTmpDir, teardown, writeConfig } from '../helpers/drover.js';
import { freePort } from '../helpers/web.js';

const PROGRAM = '[program:p]\ncommand = /bin/sleep 1000\nstartsecs = 0\n';

/** Runs drover until it exits or reports that it is up. */
async function settle(run: CliRun): Promise<{ code: number | null; started: boolean }> {
  return run.waitUntil(
    () => {
      if (run.child.exitCode !== null || run.child.signalCode !== null) return { code: run.child.exitCode, started: false };
      return /drover up: pid \d+/.test(run.output) ? { code: null, started: true } : null;
    },
    'drover to exit or to start',
    15_000,
  );
}

const EMPTY: readonly [string, string, Record<string, string>][] = [
  ['password = (nothing)', 'password =', {}],
  ['password = %(ENV_PW)s with PW set but empty', 'password = %(ENV_PW)s', { PW: '' }],
  ['password = {SHA} of the empty string', 'password = {SHA}da39a3ee5e6b4b0d3255bfef95601890afd80709', {}],
];

for (const [what, line, env] of EMPTY) {
  test(`finding 11: an empty TCP password is refused at start with exit 2: ${what}`, async () => {
    const dir = makeTmpDir();
    const port = await freePort();
    const file = writeConfig(dir, `[inet_http_server]\nport = 127.0.0.1:${port}\nusername = admin\n${line}\n\n${PROGRAM}`);
    const run = new CliRun(['up', '-c', file], { env });
    try {
      const r = await settle(run);
      assert.equal(r.started, false, `drover opened a TCP port with an empty password\n${run.describe()}`);
      assert.equal(r.code, 2, run.describe());
      assert.match(run.stderr, /\[inet_http_server\] password is empty/, run.describe());
    } finally {
      await teardown(run, [], dir);
    }
  });
}

test('finding 13: port = N with no host reports the address it binds (every interface) and warns about plain HTTP', async () => {
  const dir = makeTmpDir();
  const port = await freePort();
  const file = writeConfig(dir, `[inet_http_server]\nport = ${port}\nusername = admin\npassword = s3cret\n\n${PROGRAM}`);
  const run = new CliRun(['up', '-c', file]);
  try {
    const r = await settle(run);
    assert.equal(r.started, true, run.describe());
    const line = (await run.waitForLine(/drover up: pid \d+.*control at ([^\n]*)/))[1] ?? '';
    assert.doesNotMatch(line, new RegExp(`127\\.0\\.0\\.1:${port}`), `drover claims loopback for a listener on every interface\n${run.describe()}`);
    assert.match(line, new RegExp(`http://0\\.0\\.0\\.0:${port}`), run.describe());
    assert.match(run.output, new RegExp(`WARN\\s+\\[inet_http_server\\] listens on every interface \\(http://0\\.0\\.0\\.0:${port}\\): the username, the password and every answer travel as plain HTTP`), run.describe());
    run.signal('SIGTERM');
    assert.equal((await run.waitForExit(10_000)).code, 0, run.describe());
  } finally {
    await teardown(run, [], dir);
  }
});

test('finding 13, control: port = 127.0.0.1:N reports loopback and gives no warning', async () => {
  const dir = makeTmpDir();
  const port = await freePort();
  const file = writeConfig(dir, `[inet_http_server]\nport = 127.0.0.1:${port}\nusername = admin\npassword = s3cret\n\n${PROGRAM}`);
  const run = new CliRun(['up', '-c', file]);
  try {
    const r = await settle(run);
    assert.equal(r.started, true, run.describe());
    assert.match(run.output, new RegExp(`control at \\S+ http://127\\.0\\.0\\.1:${port}`), run.describe());
    assert.doesNotMatch(run.output, /plain HTTP/, run.describe());
    run.signal('SIGTERM');
    assert.equal((await run.waitForExit(10_000)).code, 0, run.describe());
  } finally {
    await teardown(run, [], dir);
  }
});

/** Whether a TCP connection to host:port is accepted (false: refused). */
function connects(host: string, port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host, port });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNREFUSED' ? resolve(false) : reject(err)));
  });
}

// A reviewer against supervisord 4.2.5: a wildcard port listened on [::] (IPv6 and IPv4, dual stack), where
// supervisord's AF_INET socket takes IPv4 only: more exposure than the same line gives under supervisord.
// The wildcard forms now bind 0.0.0.0; an IPv6 address is bound only when written.
for (const [form, bound, v6] of [
  ['*:PORT', '0.0.0.0', false],
  [':PORT', '0.0.0.0', false],
  ['PORT', '0.0.0.0', false],
  ['[::]:PORT', '[::]', true],
] as const) {
  test(`port = ${form} binds ${bound}${v6 ? ': IPv6 (and IPv4) only when written so' : ': IPv4 only, as supervisord binds the same line'}`, async () => {
    const dir = makeTmpDir();
    const port = await freePort();
    const file = writeConfig(dir, `[inet_http_server]\nport = ${form.replace('PORT', String(port))}\nusername = admin\npassword = s3cret\n\n${PROGRAM}`);
    const run = new CliRun(['up', '-c', file]);
    try {
      const r = await settle(run);
      assert.equal(r.started, true, run.describe());
      const line = (await run.waitForLine(/drover up: pid \d+.*control at ([^\n]*)/))[1] ?? '';
      assert.match(line, new RegExp(`http://${bound.replace(/[.[\]]/g, '\\$&')}:${port}`), run.describe());
      assert.equal(await connects('127.0.0.1', port), true, `no IPv4 connection\n${run.describe()}`);
      assert.equal(await connects('::1', port), v6, `IPv6 connection ${v6 ? 'refused' : 'accepted'}\n${run.describe()}`);
      run.signal('SIGTERM');
      assert.equal((await run.waitForExit(10_000)).code, 0, run.describe());
    } finally {
      await teardown(run, [], dir);
    }
  });
}
