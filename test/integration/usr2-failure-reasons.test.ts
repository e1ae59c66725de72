// A USR2 whose new master fails before it is ready, with drover as a daemon (`up -d`): the old master keeps
// running, still named in the pidfile, and its log says why — the config error with its file:line, what
// Node wrote to stderr as it died (a module it cannot load), the pidfile the new master cannot write.
// Until then the log said only "the new master exited (status 2) before it was ready", and a pidfile on a
// read-only filesystem did not stop the hand-over: the old master exited and its pid stayed in the file.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseServerUrl, requestJson } from '../../src/control/client.js';
import { Daemon, show } from '../helpers/daemon.js';
import { livePids, waitForCondition } from '../helpers/drover.js';
import { droverBin } from '../helpers/paths.js';

const PROGRAM = `[program:sleeper]
command = /bin/sleep 1000
startsecs = 0
`;

/** The config, with the pidfile in the runtime directory (.drover/drover.pid) unless `pidfile` is given. */
function config(pidfile?: string): string {
  return `[supervisord]\nlogfile = %(here)s/drover.log\n${pidfile !== undefined ? `pidfile = ${pidfile}\n` : ''}\n${PROGRAM}`;
}

/** drover's log (both masters write it), '' before it exists. */
function log(d: Daemon): string {
  const file = join(d.dir, 'drover.log');
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
}

/** The outcome of the USR2 in the log after `from`: the line saying the old master keeps running, or the hand-over. */
async function usr2Outcome(d: Daemon, from: number): Promise<string> {
  const re = /SIGUSR2: [^]*?; this master keeps running.*(?:\n {4}.*)*|SIGUSR2: the new master \(pid \d+\) is ready.*/;
  await waitForCondition(() => re.test(log(d).slice(from)), 'the USR2 to succeed or fail', {
    timeoutMs: 20_000,
    describe: () => `--- drover.log:\n${log(d).slice(from)}\n${d.daemonStderr()}`,
  });
  return re.exec(log(d).slice(from))?.[0] ?? '';
}

/** The pids of every master that started, from their start-up lines (a failed new master among them). */
function masters(d: Daemon): number[] {
  return [...log(d).matchAll(/drover up: pid (\d+)/g)].map((m) => Number(m[1]));
}

function pidIn(file: string): number {
  return Number(readFileSync(file, 'utf8').trim());
}

test('USR2 with a config error edited in: the old master keeps running and logs the error with its file:line and key', async () => {
  const d = new Daemon(config());
  try {
    await d.up();
    const from = log(d).length;
    // a bad edit before the deploy, in [program:sleeper]: the file's last line
    writeFileSync(d.file, `${config()}numprocs = abc\n`);
    const line = config().split('\n').length;
    process.kill(d.pid, 'SIGUSR2');
    const outcome = await usr2Outcome(d, from);
    assert.match(outcome, new RegExp(`${d.file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:${line}: \\[program:sleeper\\] numprocs: not an integer`), `${outcome}\n${d.daemonStderr()}`);
    assert.equal(pidIn(join(d.dir, '.drover', 'drover.pid')), d.pid, 'the pidfile still names the old master');
    const newMasters = masters(d).filter((pid) => pid !== d.pid);
    assert.deepEqual(newMasters, [], 'the new master did not get as far as starting');
    assert.deepEqual(livePids([d.pid]), [d.pid], 'the old master runs on');
  } finally {
    writeFileSync(d.file, config());
    assert.deepEqual(await d.teardown(), []);
  }
});

test('USR2 when Node cannot load drover any more: the old master logs what the new one wrote to stderr (daemon.stderr)', async () => {
  const d = new Daemon(config());
  // drover run through a file that a deploy then moves away: the new master's `node FILE up …` cannot load it
  const launcher = join(d.dir, 'drover-moved.cjs');
  writeFileSync(launcher, `require(${JSON.stringify(droverBin)});\n`);
  try {
    const env = { ...process.env, NO_COLOR: '1', DROVER_TEST_MARK: 'usr2-failure-reasons' };
    const up = spawnSync(process.execPath, [launcher, 'up', '-d', '--no-wait', '-c', d.file], { cwd: d.dir, env, encoding: 'utf8', timeout: 30_000 });
    assert.equal(up.status, 0, `${up.stdout}${up.stderr}\n${d.daemonStderr()}`);
    d.pid = pidIn(join(d.dir, '.drover', 'drover.pid'));
    d.seen.add(d.pid);
    rmSync(launcher);
    const from = log(d).length;
    process.kill(d.pid, 'SIGUSR2');
    const outcome = await usr2Outcome(d, from);
    assert.match(outcome, /the new master exited \(status 1\) before it was ready; this master keeps running; the new master's stderr ended with:\n/, outcome);
    assert.match(outcome, /\n {4}.*Cannot find module '[^']*drover-moved\.cjs'/, outcome);
    assert.equal(pidIn(join(d.dir, '.drover', 'drover.pid')), d.pid, 'the pidfile still names the old master');
    assert.deepEqual(livePids([d.pid]), [d.pid], 'the old master runs on');
  } finally {
    assert.deepEqual(await d.teardown(), []);
  }
});

/** Why a read-only tmpfs cannot be tried here, or null (mount needs root). */
function noReadOnlyMount(dir: string): string | null {
  if (process.getuid?.() !== 0) return 'needs root (mount -o remount,ro)';
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', dir], { stdio: 'pipe' });
    return null;
  } catch (err) {
    return `cannot mount a tmpfs here: ${(err as Error).message}`;
  }
}

test('USR2 when the new master cannot write the pidfile (read-only filesystem): no hand-over, the old master runs on, named in it', async (t) => {
  const probe = new Daemon(config());
  const rundir = join(probe.dir, 'run');
  mkdirSync(rundir);
  const skip = noReadOnlyMount(rundir);
  if (skip !== null) {
    await probe.teardown();
    t.skip(skip);
    return;
  }
  const pidfile = join(rundir, 'drover.pid');
  const d = new Daemon(config(pidfile), { dir: probe.dir });
  try {
    const r = await d.cli(['up', '-d', '--wait']);
    assert.equal(r.code, 0, `${show(['up', '-d', '--wait'], r)}\n${d.daemonStderr()}`);
    d.pid = pidIn(pidfile);
    d.seen.add(d.pid);
    const sleeper = (await d.processes()).get('sleeper:sleeper');
    execFileSync('mount', ['-o', 'remount,ro', rundir], { stdio: 'pipe' });
    const from = log(d).length;
    process.kill(d.pid, 'SIGUSR2');
    const outcome = await usr2Outcome(d, from);
    assert.match(outcome, new RegExp(`SIGUSR2: the new master cannot take the pidfile over, so it does not take over: could not write pidfile ${pidfile}: EROFS .*; this master keeps running`), outcome);
    // the new master logs its start-up line before it tries the pidfile, but through its own writer: the
    // old master's answer to its failure (over IPC) can reach the file first
    await waitForCondition(() => masters(d).some((pid) => pid !== d.pid), "the new master's start-up line", { describe: () => log(d).slice(from) });
    const newMaster = masters(d).find((pid) => pid !== d.pid) ?? 0;
    d.seen.add(newMaster);
    await waitForCondition(() => livePids([newMaster]).length === 0, 'the failed new master to exit', { timeoutMs: 15_000, describe: () => log(d).slice(from) });
    assert.equal(pidIn(pidfile), d.pid, 'the pidfile still names the old master');
    const info = await requestJson(parseServerUrl(`unix://${join(d.dir, '.drover', 'drover.sock')}`), 'GET', '/api/info');
    assert.equal(info.body['pid'], d.pid, 'the old master answers at the control socket');
    const now = (await d.processes()).get('sleeper:sleeper');
    assert.equal(now?.state, 'running', JSON.stringify(now));
    assert.equal(now?.pid, sleeper?.pid, 'the program the old master runs was not touched');
  } finally {
    // lazily: the tmpfs goes even if drover still ran and held it, before the temp dir is removed
    execFileSync('umount', ['-l', rundir], { stdio: 'pipe' });
    assert.deepEqual(await d.teardown(), []);
  }
});
