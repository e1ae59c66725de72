// A USR2 whose new master fails before it is ready, with drover as a daemon (`up -d`): the old master keeps
// running, still named in the pidfile, and its log says why — the config error with its file:line, what
// Node wrote to stderr as it died (a module it cannot load). Until then the log said only "the new master
// exited (status 2) before it was ready".
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Daemon } from '../helpers/daemon.js';
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
