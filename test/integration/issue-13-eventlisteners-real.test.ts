// Listeners as real configs use them, written with supervisor's own supervisor.childutils (Debian's
// python3 supervisor) or in plain shell: a memmon-like one that restarts a program over a memory limit on
// TICK_5 through XML-RPC; a crashmail-like one on PROCESS_STATE_EXITED; a PROCESS_LOG copier to `docker
// logs`; `kill -15 $PPID` on PROCESS_STATE_FATAL, which must stop drover and leave nothing behind; and
// Debian's supervisorctl showing and controlling a listener as it does under supervisord.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { livePids, makeTmpDir, startUp, teardown, TIMEOUT_SCALE, writeConfig, withDrover as withDroverIn, type CliRun } from '../helpers/drover.js';
import { fixturesDir } from '../helpers/paths.js';

const listeners = join(fixturesDir, 'listeners');

const withDrover = (text: (dir: string) => string, body: (run: CliRun, dir: string) => Promise<void>): Promise<void> => withDroverIn('drover-ev-', text, body);

const spawnedPids = (run: CliRun, name: string): number[] =>
  [...run.output.matchAll(new RegExp(`spawned: ${name} with pid (\\d+)`, 'g'))].map((m) => Number(m[1]));

test('memmon-like: on TICK_5 it finds a program over its memory limit through getAllProcessInfo and restarts it over XML-RPC', async () => {
  await withDrover(
    (dir) => `[unix_http_server]
file = ${dir}/ctl.sock

[eventlistener:memmon]
command = /usr/bin/python3 ${listeners}/memmon.py hog 20000000
events = TICK_5

[program:hog]
command = /usr/bin/python3 -c "import time; x = b'x' * (40 * 1024 * 1024); print('allocated', flush=True); time.sleep(1000)"
`,
    async (run) => {
      await run.waitForLine(/hog \| allocated/);
      // TICK_5 comes at the next multiple of 5 s: within 5 s, plus the restart
      const m = await run.waitForLine(/memmon ! hog:hog pid (\d+) uses \d+ bytes > 20000000: restarting/, { timeoutMs: 12_000 });
      await run.waitForLine(/memmon ! restarted hog:hog/, { timeoutMs: 12_000 });
      const pids = spawnedPids(run, 'hog');
      assert.equal(pids[0], Number(m[1]), 'memmon saw the first hog');
      assert.ok(pids.length >= 2, `hog was started again:\n${run.describe()}`);
      assert.match(run.output, /hog: running → stopping \(stop requested\)[^]*hog: stopping → stopped[^]*hog: stopped → starting \(start requested\)/);
    },
  );
});

test('crashmail-like: an unexpected exit is reported with crashmail\'s message, an expected one is not', async () => {
  await withDrover(
    (dir) => `[eventlistener:crashmail]
command = /usr/bin/python3 ${listeners}/crashmail.py
events = PROCESS_STATE_EXITED
environment = MAIL_OUT="${dir}/mail.txt"

[program:crasher]
command = /bin/sh -c 'sleep 0.2; exit 3'
startsecs = 0
autorestart = false

[program:finisher]
command = /bin/sh -c 'sleep 0.2; exit 0'
startsecs = 0
autorestart = false
`,
    async (run, dir) => {
      await run.waitForLine(/crashmail ! handled PROCESS_STATE_EXITED crasher/);
      await run.waitForLine(/crashmail ! handled PROCESS_STATE_EXITED finisher/);
      const crasher = spawnedPids(run, 'crasher')[0];
      assert.equal(readFileSync(join(dir, 'mail.txt'), 'utf8'), `Process crasher in group crasher exited unexpectedly (pid ${crasher}) from state RUNNING\n`);
    },
  );
});

test('a PROCESS_LOG copier in plain shell ships programs\' output to drover\'s stderr (docker logs)', async () => {
  await withDrover(
    () => `[eventlistener:copier]
command = ${listeners}/log-copier.sh
events = PROCESS_LOG
buffer_size = 100
stderr_logfile = /dev/stderr

[program:chatty]
command = /bin/sh -c 'sleep 1.2; echo one; echo two >&2; echo three; exec sleep 1000'
stdout_events_enabled = true
stderr_events_enabled = true
stdout_logfile = NONE
stderr_logfile = NONE
`,
    async (run) => {
      await run.waitForLine(/copier ! chatty stdout \| one\n/);
      await run.waitForLine(/copier ! chatty stderr \| two\n/);
      await run.waitForLine(/copier ! chatty stdout \| three\n/);
      assert.match(run.stderr, /copier ! chatty stdout \| one\n/, 'on drover\'s stderr');
    },
  );
});

test('kill -15 $PPID on PROCESS_STATE_FATAL stops drover and every program; nothing is left behind', async () => {
  const dir = makeTmpDir('drover-ev-');
  const run = await startUp(
    writeConfig(
      dir,
      `[eventlistener:fatal]
command = ${listeners}/fatal-kill.sh
events = PROCESS_STATE_FATAL

[program:broken]
command = /bin/false
startretries = 1

[program:sleeper]
command = /bin/sleep 1000
`,
    ),
  );
  let pids: number[] = [];
  try {
    await run.waitForLine(/broken: backoff → fatal/, { timeoutMs: 10_000 });
    const exit = await run.waitForExit(15_000);
    pids = [...spawnedPids(run, 'sleeper'), ...spawnedPids(run, 'fatal')];
    assert.equal(exit.code, 0, run.describe());
    assert.match(run.output, /fatal ! Processing Event: ver:3\.0 server:supervisor serial:\d+ pool:fatal poolserial:0 eventname:PROCESS_STATE_FATAL len:\d+/);
    assert.match(run.output, /SIGTERM: graceful shutdown/);
    // the listener (priority -1) stops after the programs
    assert.match(run.output, /sleeper: stopping → stopped[^]*fatal: stopping → stopped/);
    assert.deepEqual(livePids(pids), [], 'no program survives drover');
  } finally {
    assert.deepEqual(await teardown(run, pids, dir), []);
  }
});

test('supervisorctl shows a listener and stops and starts it as under supervisord', async () => {
  await withDrover(
    (dir) => `[unix_http_server]
file = ${dir}/ctl.sock

[supervisorctl]
serverurl = unix://${dir}/ctl.sock

[eventlistener:rec]
command = /usr/bin/python3 ${listeners}/record.py
events = TICK_60
startsecs = 0
environment = REC_OUT="${dir}/events.jsonl"
`,
    async (run, dir) => {
      await run.waitForLine(/rec: starting → running/);
      const ctl = (args: string): Promise<{ code: number; out: string }> =>
        new Promise((resolve) => {
          execFile('/usr/bin/supervisorctl', ['-c', join(dir, 'supervisord.conf'), ...args.split(' ')], { timeout: 20_000 * TIMEOUT_SCALE }, (err, stdout, stderr) =>
            resolve({ code: err ? Number(err.code) : 0, out: stdout + stderr }),
          );
        });
      const pid = spawnedPids(run, 'rec')[0] ?? 0;
      let r = await ctl('status');
      assert.match(r.out, new RegExp(`^rec\\s+RUNNING\\s+pid ${pid}, uptime 0:00:\\d\\d\\n$`), r.out);
      r = await ctl('stop rec');
      assert.equal(r.out, 'rec: stopped\n');
      assert.deepEqual(livePids([pid]), []);
      r = await ctl('start rec');
      assert.equal(r.out, 'rec: started\n');
      r = await ctl('status rec');
      assert.match(r.out, /^rec\s+RUNNING\s+pid \d+/);
    },
  );
});
