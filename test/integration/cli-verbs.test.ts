// The CLI verbs end to end against a real daemon: output, --json shapes, patterns and exit codes
// (0 ok, 1 failure, 2 usage, 3 status not running, 7 drover not running).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Daemon, show } from '../helpers/daemon.js';
import { CliRun, livePids, makeTmpDir, runCli, teardown, waitForAsync } from '../helpers/drover.js';
import { droverBin } from '../helpers/paths.js';
import { parseServerUrl, requestJson } from '../../src/control/client.js';

const CONFIG = `[program:a]
command = sleep 1000
startsecs = 0

[program:w]
command = sleep 1000
process_name = %(program_name)s_%(process_num)02d
numprocs = 2
startsecs = 0
`;

test('status, start, stop, restart, signal, pid: output and exit codes', async () => {
  const d = new Daemon(CONFIG);
  try {
    await d.up();
    let r = await d.cli(['status']);
    assert.equal(r.code, 0, show(['status'], r));
    assert.match(r.stdout, /^NAME\s+STATE\s+PID\s+UPTIME\s+RESTARTS\s+CPU%\s+RSS/m, show(['status'], r));
    assert.match(r.stdout, /^a\s+running\s+\d+/m);
    assert.match(r.stdout, /^w:w_01\s+running\s+\d+/m);
    assert.doesNotMatch(r.stdout, /\x1b\[/, 'no colour without a terminal');

    r = await d.cli(['status', '--json']);
    assert.equal(r.code, 0, show(['status', '--json'], r));
    const body = JSON.parse(r.stdout) as { ok: boolean; processes: Record<string, unknown>[] };
    assert.equal(body.ok, true);
    assert.deepEqual(body.processes.map((p) => p['name']), ['a:a', 'w:w_00', 'w:w_01']);
    for (const p of body.processes) {
      for (const k of ['state', 'pid', 'uptime_ms', 'restarts', 'cpu_percent', 'rss_bytes', 'group', 'process']) {
        assert.ok(k in p, `status --json has ${k}: ${JSON.stringify(p)}`);
      }
      assert.equal(typeof p['pid'], 'number');
      assert.equal(typeof p['rss_bytes'], 'number');
    }

    r = await d.cli(['stop', 'a']);
    assert.equal(r.code, 0, show(['stop', 'a'], r));
    // named as status and supervisorctl name it: `a`, not `a:a`
    assert.equal(r.stdout, 'a: stopped\n');
    r = await d.cli(['stop', 'a']);
    assert.equal(r.code, 0, `stopping a stopped process reaches what was asked\n${show(['stop', 'a'], r)}`);
    r = await d.cli(['status', 'a']);
    assert.equal(r.code, 3, show(['status', 'a'], r));
    r = await d.cli(['status', 'w:*']);
    assert.equal(r.code, 0, show(['status', 'w:*'], r));
    assert.equal(r.stdout.trim().split('\n').length, 3, 'header and two processes');
    r = await d.cli(['status']);
    assert.equal(r.code, 3, show(['status'], r));
    r = await d.cli(['status', 'nosuch']);
    assert.equal(r.code, 1, show(['status', 'nosuch'], r));
    assert.match(r.stderr, /no such process or group: nosuch/);

    r = await d.cli(['start', 'all']);
    assert.equal(r.code, 0, show(['start', 'all'], r));
    assert.match(r.stdout, /^a: started$/m);
    assert.match(r.stdout, /^w:w_00: already started$/m);
    r = await d.cli(['start', 'nosuch']);
    assert.equal(r.code, 1, show(['start', 'nosuch'], r));
    // however long, a name that names nothing is an unknown name (supervisorctl: "no such process", exit 1)
    r = await d.cli(['start', 'x'.repeat(300)]);
    assert.equal(r.code, 1, show(['start', 'x…'], r));
    assert.match(r.stderr, /no such process or group: x{100}… \(300 characters\)/, show(['start', 'x…'], r));
    // a bare * is no name (a shell glob that matched no file passes it on): not `all`, as supervisorctl
    r = await d.cli(['stop', '*']);
    assert.equal(r.code, 1, show(['stop', '*'], r));
    assert.match(r.stderr, /no such process or group: \*/, show(['stop', '*'], r));
    r = await d.cli(['status', 'w:*']);
    assert.equal(r.code, 0, `stop '*' stopped nothing\n${show(['status', 'w:*'], r)}`);

    const before = await d.processes();
    r = await d.cli(['restart', 'w:*', '--json']);
    assert.equal(r.code, 0, show(['restart', 'w:*', '--json'], r));
    const restarted = JSON.parse(r.stdout) as { ok: boolean; results: { key: string; ok: boolean }[] };
    assert.deepEqual(restarted.results.map((o) => [o.key, o.ok]), [['w:w_00', true], ['w:w_01', true]]);
    const after = await d.processes();
    assert.notEqual(after.get('w:w_00')?.pid, before.get('w:w_00')?.pid, 'w_00 has a new pid');
    assert.equal(after.get('a:a')?.pid, before.get('a:a')?.pid, 'a was not restarted');
    for (const p of [...before.values(), ...after.values()]) if (p.pid) d.seen.add(p.pid);

    r = await d.cli(['signal', 'FOO', 'all']);
    assert.equal(r.code, 2, show(['signal', 'FOO', 'all'], r));
    assert.match(r.stderr, /unknown signal "FOO"/);
    r = await d.cli(['signal', 'CONT', 'w']);
    assert.equal(r.code, 0, show(['signal', 'CONT', 'w'], r));
    assert.equal(r.stdout, 'w:w_00: SIGCONT sent\nw:w_01: SIGCONT sent\n');
    // a number is named too
    r = await d.cli(['signal', '18', 'w:w_00']);
    assert.equal(r.code, 0, show(['signal', '18', 'w:w_00'], r));
    assert.equal(r.stdout, 'w:w_00: SIGCONT (18) sent\n');
    // 0 sends nothing: kill(pid, 0) checks that the process is there (supervisord takes it too)
    r = await d.cli(['signal', '0', 'w:w_00']);
    assert.equal(r.code, 0, show(['signal', '0', 'w:w_00'], r));
    assert.equal(r.stdout, 'w:w_00: signal 0 sent (it is there)\n');
    await d.cli(['stop', 'a']);
    r = await d.cli(['signal', 'CONT', 'a']);
    assert.equal(r.code, 1, `signalling a stopped process fails\n${show(['signal', 'CONT', 'a'], r)}`);

    r = await d.cli(['pid']);
    assert.equal(r.code, 0, show(['pid'], r));
    assert.equal(r.stdout, `${d.pid}\n`);
    r = await d.cli(['pid', 'w:w_00']);
    assert.equal(r.stdout, `${String(after.get('w:w_00')?.pid)}\n`, show(['pid', 'w:w_00'], r));
    r = await d.cli(['pid', 'a']);
    assert.equal(r.code, 1, `no pid for a stopped process\n${show(['pid', 'a'], r)}`);
    // docs/cli.md and the help: a process without a pid prints "-", also when it is the only one named
    assert.equal(r.stdout, '-\n', show(['pid', 'a'], r));
    assert.match(r.stderr, /a:a is stopped: no pid/, show(['pid', 'a'], r));
  } finally {
    assert.deepEqual(await d.teardown(), []);
  }
});

test('scale, reread, avail, add, remove, tail; usage errors exit 2', async () => {
  // numprocs = 3 in the file: the log sink knows w_00..w_02 from the start (see the report on processes
  // added at run time)
  const d = new Daemon(CONFIG.replace('numprocs = 2', 'numprocs = 3'));
  try {
    await d.up();
    const before = await d.processes();
    let r = await d.cli(['scale', 'w', '1']);
    assert.equal(r.code, 0, show(['scale', 'w', '1'], r));
    assert.equal(r.stdout, 'w:w_01: removed\nw:w_02: removed\n');
    let now = await d.processes();
    assert.deepEqual([...now.keys()], ['a:a', 'w:w_00']);
    assert.equal(now.get('w:w_00')?.pid, before.get('w:w_00')?.pid, 'the process that stays is not restarted');
    r = await d.cli(['scale', 'w', '3', '--json']);
    assert.equal(r.code, 0, show(['scale', 'w', '3', '--json'], r));
    assert.deepEqual(
      (JSON.parse(r.stdout) as { results: { key: string; message: string }[] }).results.map((o) => [o.key, o.message]),
      [['w:w_01', 'added'], ['w:w_02', 'added']],
    );
    now = await d.processes();
    assert.deepEqual([...now.entries()].map(([k, p]) => [k, p.state]), [['a:a', 'running'], ['w:w_00', 'running'], ['w:w_01', 'running'], ['w:w_02', 'running']]);
    for (const p of now.values()) if (p.pid) d.seen.add(p.pid);
    r = await d.cli(['scale', 'w', '3']);
    assert.equal(r.code, 0, show(['scale', 'w', '3'], r));
    assert.match(r.stdout, /already 3/);
    for (const bad of [['scale', 'w', 'x'], ['scale', 'w', '0'], ['scale', 'w']]) {
      r = await d.cli(bad);
      assert.equal(r.code, 2, show(bad, r));
    }
    r = await d.cli(['scale', 'nosuch', '2']);
    assert.equal(r.code, 1, show(['scale', 'nosuch', '2'], r));
    assert.match(r.stderr, /no such program: nosuch/);

    r = await d.cli(['reread']);
    assert.equal(r.code, 0, show(['reread'], r));
    r = await d.cli(['avail']);
    assert.match(r.stdout, /^w\s+in use\s+999$/m, show(['avail'], r));
    r = await d.cli(['remove', 'w']);
    assert.equal(r.code, 1, `a running group cannot be removed\n${show(['remove', 'w'], r)}`);
    assert.match(r.stdout, /E_STILL_RUNNING/);
    assert.equal((await d.cli(['stop', 'w:*'])).code, 0);
    r = await d.cli(['remove', 'w']);
    assert.equal(r.code, 0, show(['remove', 'w'], r));
    assert.equal(r.stdout, 'w: removed process group\n');
    r = await d.cli(['avail', '--json']);
    const avail = JSON.parse(r.stdout) as { groups: { name: string; active: boolean }[] };
    assert.deepEqual(avail.groups.map((g) => [g.name, g.active]), [['a', true], ['w', false]]);
    r = await d.cli(['add', 'w']);
    assert.equal(r.code, 0, show(['add', 'w'], r));
    // an active group reaches what was asked (supervisorctl: "process group already active", exit 0)
    r = await d.cli(['add', 'w']);
    assert.equal(r.code, 0, show(['add', 'w'], r));
    assert.equal(r.stdout, 'w: already active\n');
    // a section not in the file as last read: the answer says how to make it known
    r = await d.cli(['add', 'notyet']);
    assert.equal(r.code, 1, show(['add', 'notyet'], r));
    assert.match(`${r.stdout}${r.stderr}`, /no group notyet in the config as last read \(run reread after editing the file\)/, show(['add', 'notyet'], r));
    now = await d.processes();
    for (const p of now.values()) if (p.pid) d.seen.add(p.pid);

    r = await d.cli(['tail', 'a']);
    if (r.code !== 0) {
      assert.equal(r.code, 1, show(['tail', 'a'], r));
      assert.match(r.stderr, /no access to log files/, show(['tail', 'a'], r));
    }
    r = await d.cli(['tail', 'a', 'stdlog']);
    assert.equal(r.code, 2, show(['tail', 'a', 'stdlog'], r));

    for (const bad of [['start'], ['status', '--bogus'], ['signal', 'HUP'], ['reread', 'x'], ['down', 'x']]) {
      r = await d.cli(bad);
      assert.equal(r.code, 2, show(bad, r));
      assert.match(r.stderr, /usage: drover/, show(bad, r));
    }
  } finally {
    assert.deepEqual(await d.teardown(), []);
  }
});

test('signal all skips what is not running; tail of a stream kept in no file says so and exits 1', async () => {
  const d = new Daemon(`[program:up]
command = sleep 1000
startsecs = 0

[program:nolog]
command = sleep 1000
autostart = false
stdout_logfile = NONE
redirect_stderr = true

[program:g]
command = sleep 1000
process_name = g_%(process_num)d
numprocs = 2
startsecs = 0
`);
  try {
    await d.up();
    assert.equal((await d.cli(['stop', 'g:g_1'])).code, 0);
    // as supervisord: all, a group and group:* signal the processes that run, and that is a success
    let r = await d.cli(['signal', 'CONT', 'all']);
    assert.equal(r.code, 0, show(['signal', 'CONT', 'all'], r));
    assert.equal(r.stdout, 'g:g_0: SIGCONT sent\nup: SIGCONT sent\n');
    r = await d.cli(['signal', 'CONT', 'g:*']);
    assert.equal(r.code, 0, show(['signal', 'CONT', 'g:*'], r));
    assert.equal(r.stdout, 'g:g_0: SIGCONT sent\n');
    // "g:" is the group too, as supervisor's split_namespec reads it (it was "no such process or group")
    r = await d.cli(['signal', 'CONT', 'g:']);
    assert.equal(r.code, 0, show(['signal', 'CONT', 'g:'], r));
    assert.equal(r.stdout, 'g:g_0: SIGCONT sent\n');
    // one process named that does not run is still an error
    r = await d.cli(['signal', 'CONT', 'nolog']);
    assert.equal(r.code, 1, show(['signal', 'CONT', 'nolog'], r));
    assert.match(r.stdout, /^nolog: ERROR E_NOT_RUNNING/m, show(['signal', 'CONT', 'nolog'], r));

    // supervisorctl: "nolog: ERROR (no log file)", exit 1; a follow must not wait for ever either
    for (const args of [['tail', 'nolog'], ['tail', '-f', 'nolog'], ['tail', 'nolog', 'stderr']]) {
      r = await d.cli(args);
      assert.equal(r.code, 1, show(args, r));
      assert.match(r.stderr, /nolog has no std(out|err) log file \((stdout_logfile = NONE|redirect_stderr = true)\)/, show(args, r));
    }
    // `logs` of it is not an error: there is nothing kept to print
    r = await d.cli(['logs', 'nolog']);
    assert.equal(r.code, 0, show(['logs', 'nolog'], r));
  } finally {
    assert.deepEqual(await d.teardown(), []);
  }
});

test('down waits until drover has exited; every verb then exits 7', async () => {
  const d = new Daemon(CONFIG);
  try {
    await d.up();
    const procs = await d.processes();
    for (const p of procs.values()) if (p.pid) d.seen.add(p.pid);
    let r = await d.cli(['down']);
    assert.equal(r.code, 0, show(['down'], r));
    assert.match(r.stdout, /drover stopped \(pid \d+\): 3 processes stopped in/);
    assert.deepEqual(livePids([d.pid]), [], 'drover has exited when down returns');
    assert.deepEqual(livePids([...d.seen]), [], 'no program survives');
    assert.equal(existsSync(join(d.dir, '.drover', 'drover.sock')), false, 'socket removed');
    for (const args of [['status'], ['status', '--json'], ['start', 'all'], ['down'], ['pid'], ['reload'], ['scale', 'w', '2']]) {
      r = await d.cli(args);
      assert.equal(r.code, 7, show(args, r));
      assert.match(r.stderr, /no drover is running/);
    }
    r = await d.cli(['status', '--json']);
    assert.equal((JSON.parse(r.stdout) as { code: string }).code, 'E_NOT_RUNNING');
    const other = makeTmpDir();
    r = await d.cli(['status', '-s', `unix://${join(other, 'nothing.sock')}`], { noConfig: true });
    assert.equal(r.code, 7, show(['status', '-s', '…'], r));
    r = await d.cli(['status'], { noConfig: true, env: { DROVER_URL: 'http://127.0.0.1:1' } });
    assert.equal(r.code, 7, show(['status (DROVER_URL)'], r));
  } finally {
    assert.deepEqual(await d.teardown(), []);
  }
});

// `drover logs | head`: the reader goes away after one line; drover ends quietly with 0, as cat does,
// instead of an unhandled EPIPE with a stack trace and exit 1
test('-c with a file that is not a config is a config error (exit 2) for every verb, not "no drover is running"', async () => {
  const dir = makeTmpDir();
  const notConfig = join(dir, 'hostname');
  writeFileSync(notConfig, 'myhost\n');
  for (const args of [['status'], ['down'], ['start', 'all']]) {
    const r = await runCli([...args, '-c', notConfig], { cwd: dir });
    assert.equal(r.code, 2, show(args, r));
    assert.match(r.stderr, /hostname:1: a key before any \[section\] header/, show(args, r));
  }
  // a config with comments before its first section is still read the quick way
  const commented = join(dir, 'commented.conf');
  writeFileSync(commented, '# a comment\n\n; another\n[program:a]\ncommand = sleep 1\n');
  let r = await runCli(['status', '-c', commented], { cwd: dir });
  assert.equal(r.code, 7, show(['status'], r));
  // check takes --configuration as every other verb does (and --config, as before)
  for (const opt of ['--configuration', '--config', '-c']) {
    r = await runCli(['check', opt, commented], { cwd: dir });
    assert.equal(r.code, 0, show(['check', opt], r));
  }
  rmSync(dir, { recursive: true, force: true });
});

test('drover help COMMAND is the command\'s --help; an unknown one exits 2', async () => {
  for (const name of ['status', 'check', 'up', 'tail']) {
    const [viaHelp, viaOption] = await Promise.all([runCli(['help', name]), runCli([name, '--help'])]);
    assert.equal(viaHelp.code, 0, viaHelp.output);
    assert.match(viaHelp.stdout, new RegExp(`^usage: drover ${name} `), viaHelp.output);
    assert.equal(viaHelp.stdout, viaOption.stdout);
  }
  const r = await runCli(['help', 'nosuch']);
  assert.equal(r.code, 2, r.output);
  assert.match(r.stderr, /drover help: no command "nosuch"/);
});

test('options before the command: `-c FILE help stop` is the help of stop; an unknown one is named as an unknown option', async () => {
  const [viaHelp, viaOption] = await Promise.all([runCli(['-c', '/nonexistent.conf', 'help', 'stop']), runCli(['stop', '--help'])]);
  assert.equal(viaHelp.code, 0, viaHelp.output);
  assert.match(viaHelp.stdout, /^usage: drover stop /, viaHelp.output);
  assert.equal(viaHelp.stdout, viaOption.stdout);
  let r = await runCli(['-c', '/nonexistent.conf', '--bogus', 'status']);
  assert.equal(r.code, 2, r.output);
  assert.match(r.stderr, /^drover: unknown option "--bogus" before the command "status"/, r.output);
  assert.doesNotMatch(r.stderr, /no command given/, r.output);
  // options alone, with no command after them, are still said to be that
  r = await runCli(['-c', '/nonexistent.conf']);
  assert.equal(r.code, 2, r.output);
  assert.match(r.stderr, /^drover: no command given, only options \(-c …\)/, r.output);
});

test('a failed write of stdout (a full disk) is said on stderr and exits 1, for every verb and for --help', async () => {
  const d = new Daemon(`[program:a]\ncommand = sh -c 'echo hello; exec sleep 1000'\nstartsecs = 0\n`);
  const full = openSync('/dev/full', 'w');
  try {
    await d.up();
    // tail and logs write only what the log holds: wait until it holds the line
    let last = await d.cli(['tail', 'a']);
    await waitForAsync(async () => (last = await d.cli(['tail', 'a'])).stdout.includes('hello'), 'a line in the log of a', { describe: () => show(['tail', 'a'], last) });
    for (const args of [['status'], ['status', '--json'], ['pid'], ['check', '--json'], ['avail'], ['reread'], ['tail', 'a'], ['logs', 'a'], ['unit'], ['status', '--help'], ['up', '--help'], ['serve', '--help'], ['help', 'stop'], ['--version']]) {
      const noConfig = args[0] === 'help' || args[0] === '--version' || args[1] === '--help';
      const argv = [droverBin, ...args, ...(noConfig ? [] : ['-c', d.file])];
      const r = spawnSync(process.execPath, argv, { cwd: d.dir, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', full, 'pipe'], encoding: 'utf8', timeout: 15_000 });
      const said = `drover ${args.join(' ')} > /dev/full → exit ${String(r.status)}\n--- stderr:\n${r.stderr}---`;
      assert.equal(r.status, 1, said);
      const label = args[0] === '--version' ? 'drover' : `drover ${args[0] ?? ''}`;
      assert.equal(r.stderr, `${label}: cannot write the output: ENOSPC (no space left on device)\n`, said);
    }
  } finally {
    closeSync(full);
    await d.teardown();
  }
});

test('logs and logs -f into a pipe whose reader goes away end quietly with 0', async () => {
  const d = new Daemon(`[program:talker]
command = sh -c 'i=0; while :; do i=$((i+1)); echo line $i; sleep 0.02; done'
startsecs = 0
`);
  try {
    await d.up();
    for (const args of ['logs', 'logs -f']) {
      const r = spawnSync('bash', ['-c', `'${process.execPath}' '${droverBin}' ${args} -c '${d.file}' | head -1; echo "drover exit $\{PIPESTATUS[0]}"`], { encoding: 'utf8', timeout: 20_000 });
      const out = `${r.stdout}${r.stderr}`;
      assert.match(r.stdout, /talker +\| line \d+\n/, out);
      assert.match(r.stdout, /drover exit 0\n$/, out);
      assert.doesNotMatch(out, /EPIPE|Unhandled/, out);
    }
  } finally {
    await d.teardown();
  }
});

test('logs -f and tail -f into a pipe whose reader exits end quietly with 0, though the program stays quiet', async () => {
  const d = new Daemon(`[program:quiet]\ncommand = sh -c 'echo ready; exec sleep 1000'\nstartsecs = 0\n`);
  try {
    await d.up();
    for (const args of [['logs', '-f', 'quiet'], ['tail', '-f', 'quiet']]) {
      // grep exits at its first match; nothing is written after it, so no EPIPE can tell drover it is gone
      const pipeline = new CliRun([...args, '-c', d.file], {
        cwd: d.dir,
        wrapper: ['bash', '-c', '"$@" | grep -m1 ready; echo "drover exit ${PIPESTATUS[0]}"', 'pipeline'],
      });
      try {
        await pipeline.waitForLine(/ready\n/);
        const exit = await pipeline.waitForExit(8000);
        assert.equal(exit.code, 0, pipeline.describe());
        assert.match(pipeline.stdout, /drover exit 0\n$/, pipeline.describe());
        assert.equal(pipeline.stderr, '', pipeline.describe());
      } finally {
        await teardown(pipeline);
      }
    }
  } finally {
    await d.teardown();
  }
});

// docs/api.md: POST /api/signal takes a name or a number, and integers as JSON integers or digit strings
test('POST /api/signal takes the signal as a name, as digits or as a JSON integer', async () => {
  const d = new Daemon(`[program:a]\ncommand = sh -c 'trap "echo got-usr2" USR2; while :; do sleep 0.05; done'\nstartsecs = 0\n`);
  try {
    await d.up();
    const ep = parseServerUrl(`unix://${join(d.dir, '.drover', 'drover.sock')}`, null);
    for (const signal of ['USR2', '12', 12]) {
      const r = await requestJson(ep, 'POST', '/api/signal', { patterns: ['a'], signal });
      assert.equal(r.status, 200, `${JSON.stringify(signal)}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body['ok'], true, JSON.stringify(r.body));
    }
    const bad = await requestJson(ep, 'POST', '/api/signal', { patterns: ['a'], signal: 12.5 });
    assert.equal(bad.status, 400, JSON.stringify(bad.body));
  } finally {
    await d.teardown();
  }
});

// -u and -p each override the config's value, as supervisorctl's options do (-p alone used to be ignored,
// and -u alone dropped the config's password)
test('-p alone keeps the config\'s username, -u alone (the same user) its password', async () => {
  const d = new Daemon(`[unix_http_server]\nfile = %(here)s/ctl.sock\nusername = ops\npassword = s3cret\n\n[program:a]\ncommand = sleep 1000\nstartsecs = 0\n`);
  try {
    await d.up();
    const cases: [readonly string[], number][] = [
      [['-p', 'wrong'], 4],
      [['-p', 's3cret'], 0],
      [['-u', 'ops'], 0],
      [['-u', 'other'], 4],
      [[], 0],
    ];
    for (const [flags, code] of cases) {
      for (const verb of ['status', 'pid']) {
        const r = await d.cli([verb, ...flags]);
        assert.equal(r.code, code, `${verb} ${flags.join(' ')}\n${r.stdout}${r.stderr}`);
        // credentials given and refused are not "give -u USER -p PASS"
        if (code === 4) assert.match(r.stderr, /the username "(ops|other)" and its password were refused/, `${verb} ${flags.join(' ')}\n${r.stderr}`);
      }
    }
  } finally {
    await d.teardown();
  }
});

// an empty name used to match nothing and succeed (`drover status ''` → "no processes", exit 0)
test('an empty pattern is refused (exit 2), not taken as naming nothing; an unknown option with --json answers in JSON', async () => {
  const d = new Daemon(CONFIG);
  try {
    await d.up();
    for (const verb of ['status', 'pid', 'logs']) {
      const r = await d.cli([verb, '']);
      assert.equal(r.code, 2, `${verb} ''\n${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /"patterns" is empty/);
    }
    // an unknown option with --json: the error is JSON on stdout too
    const bogus = await d.cli(['status', '--json', '--bogus']);
    assert.equal(bogus.code, 2, `${bogus.stdout}${bogus.stderr}`);
    assert.equal((JSON.parse(bogus.stdout) as { code: string }).code, 'E_USAGE');
  } finally {
    await d.teardown();
  }
});
