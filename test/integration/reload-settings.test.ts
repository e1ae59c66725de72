// From a review of reloads: `drover reload`, SIGHUP and supervisorctl's reload/update ignored the config
// outside the programs and said "no changes". A changed [unix_http_server] password locked every later command
// out (the daemon kept the old one), an [inet_http_server] port change was silently dropped, and identifier
// stayed as drover started. A reload now applies the control listeners' credentials and identifier in place,
// and names every other setting it does not apply, with what applies it.
import assert from 'node:assert/strict';
import { rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeTmpDir, runCli, startUp, teardown, writeConfig } from '../helpers/drover.js';
import { freePort } from '../helpers/web.js';
import { rpcValue } from '../helpers/xmlrpc.js';

const PROGRAM = `[program:p]\ncommand = /bin/sleep 1000\nstartsecs = 0\n`;

test('a changed [unix_http_server] password applies at the reload: the new one is taken, the old one refused', async () => {
  const dir = makeTmpDir();
  const unix = (pw: string): string => `[unix_http_server]\nfile = ${join(dir, 'ctl.sock')}\nusername = u\npassword = ${pw}\n\n${PROGRAM}`;
  const conf = writeConfig(dir, unix('old'));
  const run = await startUp(conf);
  try {
    writeFileSync(conf, unix('new'));
    // the file holds the new password now: the reload itself is asked with the one drover still expects
    const reload = await runCli(['reload', '-c', conf, '-p', 'old']);
    assert.equal(reload.code, 0, `${reload.output}\n${run.describe()}`);
    assert.match(reload.stdout, /\[unix_http_server\] password changed: applied/, reload.output);
    assert.doesNotMatch(reload.output, /\bnew\b|\bold\b/, 'a password is never shown');
    const withNew = await runCli(['pid', '-c', conf]);
    assert.equal(withNew.code, 0, `${withNew.output}\n${run.describe()}`);
    const withOld = await runCli(['pid', '-c', conf, '-p', 'old']);
    assert.equal(withOld.code, 4, withOld.output);
  } finally {
    await teardown(run, [], dir);
  }
});

test('an [inet_http_server] port change is reported at reread and reload, with the USR2 hint; the old port keeps answering', async () => {
  const dir = makeTmpDir();
  const [a, b] = [await freePort(), await freePort()];
  const inet = (port: number): string => `[inet_http_server]\nport = 127.0.0.1:${port}\nusername = u\npassword = pw\n\n${PROGRAM}`;
  const conf = writeConfig(dir, inet(a));
  const run = await startUp(conf);
  try {
    writeFileSync(conf, inet(b));
    const line = new RegExp(`\\[inet_http_server\\] port changed \\(127\\.0\\.0\\.1:${a} → 127\\.0\\.0\\.1:${b}\\): applies at the next start of drover \\(USR2 re-execs it without stopping the programs\\)`);
    const reread = await runCli(['reread', '-c', conf]);
    assert.equal(reread.code, 0, reread.output);
    assert.match(reread.stdout, line, reread.output);
    const reload = await runCli(['reload', '-c', conf]);
    assert.equal(reload.code, 0, `${reload.output}\n${run.describe()}`);
    assert.match(reload.stdout, line, reload.output);
    assert.doesNotMatch(reload.stdout, /reload: no changes$/m, reload.output);
    await run.waitForLine(line);
    const old = await runCli(['pid', '-c', conf, '-s', `http://127.0.0.1:${a}`, '-u', 'u', '-p', 'pw']);
    assert.equal(old.code, 0, `${old.output}\n${run.describe()}`);
  } finally {
    await teardown(run, [], dir);
  }
});

test('a changed identifier applies at the reload (getIdentification answers with it)', async () => {
  const dir = makeTmpDir();
  const conf = writeConfig(dir, `[supervisord]\nidentifier = first\n\n${PROGRAM}`);
  const run = await startUp(conf);
  try {
    const sock = join(dir, '.drover', 'drover.sock');
    assert.equal(await rpcValue(sock, 'supervisor.getIdentification'), 'first');
    writeFileSync(conf, `[supervisord]\nidentifier = second\n\n${PROGRAM}`);
    const reload = await runCli(['reload', '-c', conf]);
    assert.equal(reload.code, 0, `${reload.output}\n${run.describe()}`);
    assert.match(reload.stdout, /\[supervisord\] identifier changed \(first → second\): applied/, reload.output);
    assert.equal(await rpcValue(sock, 'supervisor.getIdentification'), 'second', run.describe());
  } finally {
    await teardown(run, [], dir);
  }
});

// From a code review: the reload's chmod and chown of the control socket followed links, as root, long after
// the bind: a cleaner of /tmp removes the socket, someone plants a link at its path, the next reload with
// a changed chmod made the link's target 0777. They now apply only while the path is the socket drover bound.
test('a reload does not chmod what a link planted at the control socket path points to', async () => {
  const dir = makeTmpDir();
  const sock = join(dir, 'ctl.sock');
  const victim = join(dir, 'victim');
  writeFileSync(victim, 'secret\n', { mode: 0o600 });
  const unix = (mode: string): string => `[unix_http_server]\nfile = ${sock}\nchmod = ${mode}\n\n${PROGRAM}`;
  const conf = writeConfig(dir, unix('0700'));
  const run = await startUp(conf);
  try {
    rmSync(sock);
    symlinkSync(victim, sock);
    writeFileSync(conf, unix('0777'));
    run.signal('SIGHUP');
    await run.waitForLine(/is no longer the socket drover bound: its mode and owner are left as they are/);
    assert.equal(statSync(victim).mode & 0o777, 0o600, `the link's target keeps its mode\n${run.describe()}`);
  } finally {
    rmSync(sock, { force: true });
    await teardown(run, [], dir);
  }
});
