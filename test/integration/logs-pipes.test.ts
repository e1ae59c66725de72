// Children's stdout and stderr are real pipes (issue 16): the program's fd 1 and 2 are FIFOs (so it may open
// /dev/stdout, see issue-14-container.test.ts), drover holds only the read ends (so a pipe ends when the
// program and what inherited it are gone), and lines written one write(2) at a time at full speed arrive
// exactly once, whole, across rotation, with timestamps, the last one without a newline included.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import { LogSink } from '../../src/logs/sink.js';
import { spawnProcess } from '../../src/os/spawn.js';
import { canCreateUsers, createTestUser } from '../helpers/users.js';
import { rawRequest, rpc, rpcValue } from '../helpers/xmlrpc.js';
import { checkNumberedLines, describeCheck, logAndBackups, readLogText } from '../helpers/log-lines.js';
import { fixture, makeTmpDir, startUp, teardown, waitForCondition, writeConfig } from '../helpers/drover.js';

const node = process.execPath;

/** The fds of `pid` that are an end of the pipe `link` (`pipe:[INODE]`), with their access mode. */
function pipeEnds(pid: number, link: string): { fd: number; mode: 'read' | 'write' | 'readwrite' }[] {
  const ends: { fd: number; mode: 'read' | 'write' | 'readwrite' }[] = [];
  for (const name of readdirSync(`/proc/${pid}/fd`)) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${name}`);
    } catch (err) {
      // ENOENT: closed while listing (the directory listing's own fd, a short-lived file)
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    if (target !== link) continue;
    const flags = /^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/${pid}/fdinfo/${name}`, 'utf8'))?.[1] ?? '0';
    const access = Number.parseInt(flags, 8) & 3; // O_ACCMODE
    ends.push({ fd: Number(name), mode: access === 0 ? 'read' : access === 1 ? 'write' : 'readwrite' });
  }
  return ends;
}

test("a program's stdout and stderr are pipes; drover holds only their read ends", async () => {
  const dir = makeTmpDir();
  const run = await startUp(writeConfig(dir, `[program:w]\ncommand = ${node} ${fixture('forever.mjs')}\nstartsecs = 0\nstdout_logfile = ${join(dir, 'out.log')}\nstderr_logfile = ${join(dir, 'err.log')}\n`));
  try {
    const pid = Number((await run.waitForLine(/spawned: w with pid (\d+)/))[1]);
    await waitForCondition(() => existsSync(join(dir, 'out.log')) && readFileSync(join(dir, 'out.log'), 'utf8').startsWith('ready'), 'the ready line in the log', { describe: () => run.describe() });
    for (const fd of [1, 2]) {
      const link = readlinkSync(`/proc/${pid}/fd/${fd}`);
      assert.match(link, /^pipe:\[\d+\]$/, `fd ${fd} of the program`);
      assert.ok(statSync(`/proc/${pid}/fd/${fd}`).isFIFO(), `fd ${fd} is a FIFO`);
      // one read end in the master, no write end: the pipe ends when the program's side closes
      assert.deepEqual(pipeEnds(run.pid, link).map((e) => e.mode), ['read'], `drover's ends of the program's fd ${fd}`);
    }
    // stdin is a pipe too, as under supervisord, of which drover holds only the write end (for
    // sendProcessStdin; it was a socketpair, which cost the daemon a socket per program)
    const stdin = readlinkSync(`/proc/${pid}/fd/0`);
    assert.match(stdin, /^pipe:\[\d+\]$/, 'fd 0 of the program');
    assert.deepEqual(pipeEnds(run.pid, stdin).map((e) => e.mode), ['write'], "drover's ends of the program's fd 0");
  } finally {
    await teardown(run, [], dir);
  }
});

test('a program that exits ends its pipe: its last line, without a newline, is in the log at once', async () => {
  const dir = makeTmpDir();
  const log = join(dir, 'out.log');
  const run = await startUp(writeConfig(dir, `[program:w]\ncommand = /bin/sh -c 'echo first; printf "no newline"'\nstartsecs = 0\nautorestart = false\nstdout_logfile = ${log}\n`));
  try {
    await run.waitForLine(/w: running → exited/);
    // drover keeps running: only the end of the pipe can deliver the partial line (shutdown would too)
    await waitForCondition(() => existsSync(log) && readFileSync(log, 'utf8') === 'first\nno newline\n', 'both lines in the log', {
      describe: () => `log: ${JSON.stringify(existsSync(log) ? readFileSync(log, 'utf8') : null)}\n${run.describe()}`,
    });
  } finally {
    await teardown(run, [], dir);
  }
});

// supervisord writes what it reads at once, so a prompt or progress dots show in the log (and `tail -f`)
// before their newline; drover used to hold a partial line until its end
test('a partial line (a prompt) reaches the log file before its newline, and the rest follows it; the echo shows the whole line once', async () => {
  const dir = makeTmpDir();
  const log = join(dir, 'out.log');
  const gate = join(dir, 'gate');
  const script = `printf "prompt> "; while [ ! -e ${gate} ]; do sleep 0.02; done; echo answer`;
  const run = await startUp(writeConfig(dir, `[program:w]\ncommand = /bin/sh -c '${script}'\nstartsecs = 0\nautorestart = false\nstdout_logfile = ${log}\n`));
  const content = (): string | null => (existsSync(log) ? readFileSync(log, 'latin1') : null);
  try {
    await waitForCondition(() => content() === 'prompt> ', 'the prompt in the log, without a newline', {
      describe: () => `log: ${JSON.stringify(content())}\n${run.describe()}`,
    });
    spawnSync('touch', [gate]);
    await run.waitForLine(/w \| prompt> answer\n/);
    await waitForCondition(() => content() === 'prompt> answer\n', 'the rest of the line after it, once', {
      describe: () => `log: ${JSON.stringify(content())}\n${run.describe()}`,
    });
    assert.doesNotMatch(run.output, /w \| prompt> \n/, 'the echo waits for the whole line');
  } finally {
    await teardown(run, [], dir);
  }
});

test("a background process that inherited the program's stdout keeps logging into it after the program exits", async () => {
  const dir = makeTmpDir();
  const log = join(dir, 'out.log');
  const gate = join(dir, 'gate');
  // the background process waits for the test to create `gate`, then writes and exits
  const script = `(while [ ! -e ${gate} ]; do sleep 0.02; done; echo from-background) & echo from-program`;
  const run = await startUp(writeConfig(dir, `[program:w]\ncommand = /bin/sh -c '${script}'\nstartsecs = 0\nautorestart = false\nstdout_logfile = ${log}\n`));
  try {
    await run.waitForLine(/w: running → exited/);
    await waitForCondition(() => existsSync(log) && readFileSync(log, 'utf8') === 'from-program\n', 'the program line', { describe: () => run.describe() });
    spawnSync('touch', [gate]);
    await waitForCondition(() => readFileSync(log, 'utf8') === 'from-program\nfrom-background\n', 'the background line', {
      describe: () => `log: ${JSON.stringify(readFileSync(log, 'utf8'))}\n${run.describe()}`,
    });
  } finally {
    await teardown(run, [], dir);
  }
});

test('lines written one write(2) each at full speed, stdout and stderr, rotated, with timestamps: every line once, none torn', async () => {
  const dir = makeTmpDir();
  const count = 60_000;
  // every 7000th line is 300 000 bytes: longer than a pipe and than one read, and than maxbytes
  const [longEvery, longBytes] = [7000, 300_000];
  const out = join(dir, 'out.log');
  const err = join(dir, 'err.log');
  const run = await startUp(
    writeConfig(
      dir,
      `[program:w]
command = ${node} ${fixture('write-lines.mjs')} ${count} ${longEvery} ${longBytes}
startsecs = 0
autorestart = false
timestamps = true
stdout_logfile = ${out}
stdout_logfile_maxbytes = 65536
stdout_logfile_backups = 1000
stderr_logfile = ${err}
stderr_logfile_maxbytes = 65536
stderr_logfile_backups = 1000
`,
    ),
  );
  try {
    await run.waitForLine(/w: running → exited \(exit status 0/, { timeoutMs: 60_000 });
    run.signal('SIGTERM');
    assert.equal((await run.waitForExit(15_000)).code, 0, run.describe());
  } finally {
    await teardown(run);
  }
  const outFiles = logAndBackups(out);
  const errFiles = logAndBackups(err);
  assert.ok(outFiles.length > 20 && errFiles.length > 20, `rotated: ${outFiles.length} and ${errFiles.length} files`);
  const strip = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /;
  const check = checkNumberedLines([...outFiles, ...errFiles].map(readLogText), count, { longEvery, longBytes, strip });
  assert.equal(check.torn.length + check.missing.length + check.duplicated.length, 0, describeCheck(check));
  // each line in the stream it was written to, with its timestamp
  const numbers = (files: string[]): number[] =>
    files.flatMap((f) => [...readLogText(f).matchAll(/^\S+ L(\d+) /gm)].map((m) => Number(m[1])));
  assert.ok(numbers(outFiles).every((n) => n % 2 === 1), 'stdout holds the odd lines only');
  assert.ok(numbers(errFiles).every((n) => n % 2 === 0), 'stderr holds the even lines only');
  assert.equal(numbers(outFiles).length + numbers(errFiles).length, count);
  rmSync(dir, { recursive: true, force: true });
});

test('back-pressure through a pipe: the sink stops and restarts reading many times and nothing is lost', async () => {
  const dir = makeTmpDir();
  const log = join(dir, 'w.log');
  const config = loadConfig(writeConfig(dir, `[program:w]\ncommand = /bin/true\nstdout_logfile = ${log}\nstdout_logfile_maxbytes = 65536\nstdout_logfile_backups = 100\n`), { env: process.env });
  const quiet = { write: (): boolean => true };
  const sink = new LogSink({ config, echo: null, stdout: quiet, stderr: quiet, highWaterMark: 1 });
  const env = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined));
  const spawned = spawnProcess({ argv: [node, fixture('numbered-lines.mjs'), '20000'], env, cwd: null, umask: null, user: null, pdeathsig: false, stdinPipe: false });
  assert.ok(spawned.ok && spawned.stdout !== null, JSON.stringify(spawned));
  sink.attach('w', 'stdout', spawned.stdout);
  spawned.stderr?.resume();
  let closed = false;
  spawned.stdout.on('close', () => (closed = true));
  await waitForCondition(() => closed, 'the end of the pipe', { timeoutMs: 30_000, describe: () => `paused ${sink.pauses} times` });
  await sink.close();
  assert.ok(sink.pauses > 10, `paused ${sink.pauses} times`);
  const check = checkNumberedLines(logAndBackups(log).map(readLogText), 20_000);
  assert.equal(check.torn.length + check.missing.length + check.duplicated.length, 0, describeCheck(check));
  rmSync(dir, { recursive: true, force: true });
});

test('a program running as another user may open /dev/stdin and /dev/stdout too (its pipes belong to it)', { skip: !canCreateUsers() && 'needs root to create a user' }, async () => {
  const user = createTestUser('drpipe');
  const dir = makeTmpDir();
  const log = join(dir, 'out.log');
  const run = await startUp(
    writeConfig(dir, `[program:w]\ncommand = /bin/sh -c 'exec 3< /dev/stdin && echo via-dev-stdin; echo via-dev-stdout > /dev/stdout; echo via-dev-stderr > /dev/stderr'\nuser = ${user.name}\nstartsecs = 0\nautorestart = false\nstdout_logfile = ${log}\nredirect_stderr = true\n`),
  );
  try {
    await run.waitForLine(/w: running → exited/);
    await waitForCondition(() => existsSync(log) && readFileSync(log, 'utf8') === 'via-dev-stdin\nvia-dev-stdout\nvia-dev-stderr\n', 'the three lines', {
      describe: () => `log: ${JSON.stringify(existsSync(log) ? readFileSync(log, 'utf8') : null)}\n${run.describe()}`,
    });
  } finally {
    await teardown(run, [], dir);
    user.remove();
  }
});

test('a program with user= enters its directory as that user: one the user may not enter fails the start (as supervisord)', { skip: !canCreateUsers() && 'needs root to create a user' }, async () => {
  const user = createTestUser('drcwd');
  const dir = makeTmpDir();
  chmodSync(dir, 0o755); // the user must be able to pass through the test's directory to reach `open`
  const closed = join(dir, 'root-only');
  mkdirSync(closed, { mode: 0o700 });
  const open = join(dir, 'open');
  mkdirSync(open, { mode: 0o755 });
  const err = join(dir, 'err.log');
  const run = await startUp(
    writeConfig(
      dir,
      `[program:shut]\ncommand = /bin/sleep 1000\nuser = ${user.name}\ndirectory = ${closed}\nstartretries = 0\nstderr_logfile = ${err}\n\n` +
        `[program:fine]\ncommand = /bin/sh -c 'pwd; exec sleep 1000'\nuser = ${user.name}\ndirectory = ${open}\nstartsecs = 0\nstdout_logfile = ${join(dir, 'fine.log')}\n`,
    ),
  );
  try {
    await run.waitForLine(/shut: backoff → fatal/, { timeoutMs: 10_000 });
    await waitForCondition(() => existsSync(err) && /can't cd to .*root-only/.test(readFileSync(err, 'utf8')), "the shell's refusal in shut's stderr log", {
      describe: () => `${existsSync(err) ? readFileSync(err, 'utf8') : '(no log)'}\n${run.describe()}`,
    });
    // a directory the user may enter works, with the pid being the program's own
    const pid = Number((await run.waitForLine(/spawned: fine with pid (\d+)/))[1]);
    await waitForCondition(() => readlinkSync(`/proc/${pid}/cwd`) === open && readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'sleep', 'fine running sleep in its directory', {
      describe: () => run.describe(),
    });
  } finally {
    await teardown(run, [], dir);
    user.remove();
  }
});

test('sendProcessStdin reaches the program through its stdin pipe, for each process in turn, and not after it exits', async () => {
  const dir = makeTmpDir();
  const log = join(dir, 'cat.log');
  const run = await startUp(writeConfig(dir, `[unix_http_server]\nfile = ${join(dir, 's.sock')}\n\n[program:cat]\ncommand = /bin/cat\nstartsecs = 0\nautorestart = false\nstdout_logfile = ${log}\n`));
  try {
    await run.waitForLine(/cat: starting → running/);
    const socket = join(dir, 's.sock');
    const text = (): string => (existsSync(log) ? readFileSync(log, 'utf8') : '');
    assert.equal(await rpcValue(socket, 'supervisor.sendProcessStdin', ['cat', 'first line\n']), true);
    assert.equal(await rpcValue(socket, 'supervisor.sendProcessStdin', ['cat', 'second\n']), true);
    await waitForCondition(() => text() === 'first line\nsecond\n', 'both lines echoed by cat', { describe: () => `log ${JSON.stringify(text())}\n${run.describe()}` });
    // a CR as Python's client sends it, unescaped, is a line end like supervisord's parser reads it (XML
    // 1.0, 2.11); a CR written as a reference stays a CR
    const crs = await rawRequest(socket, {
      body: `<?xml version='1.0'?><methodCall><methodName>supervisor.sendProcessStdin</methodName><params><param><value><string>cat</string></value></param><param><value><string>a\r\nb\rc&#13;d\n</string></value></param></params></methodCall>`,
    });
    assert.match(crs.body, /<boolean>1<\/boolean>/, crs.body);
    await waitForCondition(() => text() === 'first line\nsecond\na\nb\nc\rd\n', 'the CRs as supervisord reads them', { describe: () => `log ${JSON.stringify(text())}\n${run.describe()}` });
    // a restart makes a new pipe: the next process gets what is sent now
    assert.equal(await rpcValue(socket, 'supervisor.stopProcess', ['cat']), true);
    const fault = await rpc(socket, 'supervisor.sendProcessStdin', ['cat', 'lost\n']);
    assert.ok(fault.type === 'fault' && fault.faultString === 'NOT_RUNNING: cat', JSON.stringify(fault));
    assert.equal(await rpcValue(socket, 'supervisor.startProcess', ['cat']), true);
    assert.equal(await rpcValue(socket, 'supervisor.sendProcessStdin', ['cat', 'third\n']), true);
    await waitForCondition(() => text() === 'first line\nsecond\na\nb\nc\rd\nthird\n', 'the new process echoes the third line', { describe: () => `log ${JSON.stringify(text())}\n${run.describe()}` });
  } finally {
    await teardown(run, [], dir);
  }
});

// A program that leaves a writer behind holding its stdout and stderr, restarted in a loop: drover read each
// earlier process's pipes for as long as the leftover held them, two more descriptors per restart without
// bound (supervisord closes a process's pipes when it exits). Now an earlier process's pipes are read on only
// while they deliver, at most CLOSE_MAX_MS (5 s) after its successor started.
test("an earlier process's pipes held by what it left behind are closed soon after its successor starts", async () => {
  const dir = makeTmpDir();
  const script = join(dir, 'leaver.sh');
  // the leftover ends by itself after 30 s at the latest (or on SIGPIPE once drover closes its pipe)
  writeFileSync(script, `setsid /bin/sh -c 'i=0; while [ $i -lt 150 ]; do echo "tick $$"; i=$((i+1)); sleep 0.2; done' &\nsleep 0.3\nexit 3\n`);
  const run = await startUp(writeConfig(dir, `[program:w]\ncommand = /bin/sh ${script}\nstartsecs = 0\nautorestart = true\nstdout_logfile = ${join(dir, 'out.log')}\n`));
  const pipes = (): number => readdirSync(`/proc/${run.pid}/fd`).filter((fd) => {
    try {
      return readlinkSync(`/proc/${run.pid}/fd/${fd}`).startsWith('pipe:');
    } catch {
      return false; // closed while listing
    }
  }).length;
  const spawns = (): number => (run.output.match(/spawned: w with pid/g) ?? []).length;
  const leftovers = (): number[] => (!existsSync(join(dir, 'out.log')) ? [] : [...new Set([...readFileSync(join(dir, 'out.log'), 'utf8').matchAll(/^tick (\d+)$/gm)].map((m) => Number(m[1])))]);
  try {
    await run.waitForLine(/spawned: w with pid/);
    const before = pipes();
    // 30 generations take ~10 s, twice the 5 s after which a retired pipe is given up
    await waitForCondition(() => spawns() >= 30, '30 spawns of w', { timeoutMs: 60_000, describe: () => `pipes: ${pipes()}\n${run.describe()}` });
    await run.waitForLine(/w stdout: output of an earlier process still comes 5 s after its successor started .*no longer read/);
    // each generation's leftover writes every 0.2 s, so without the retirement every one of the 30
    // generations held both its pipes; with it, only those of the last ~5 s (about 16 stdout pipes and
    // the stderr pipes of the last 2 s) are open
    const held = pipes() - before;
    assert.ok(held < 30, `drover holds ${held} pipes more than with one generation running (${spawns()} spawns)\n${run.describe()}`);
  } finally {
    await teardown(run, leftovers(), dir);
  }
});

// The retirement above once took the new process's own stdout for its predecessor's (the stdout pipe was
// attached a moment before the stderr pipe): a program quiet on stdout for 2 s was then cut off, and died
// of SIGPIPE at its next line.
test('a program quiet on stdout for longer than 2 s keeps its pipes: its next line is logged and it runs on', async () => {
  const dir = makeTmpDir();
  const out = join(dir, 'out.log');
  const run = await startUp(writeConfig(dir, `[program:quiet]\ncommand = /bin/sh -c 'echo start; sleep 3; echo later; exec sleep 100'\nstartsecs = 0\nstdout_logfile = ${out}\nstderr_logfile = ${join(dir, 'err.log')}\n`));
  try {
    await run.waitForLine(/spawned: quiet with pid/);
    await waitForCondition(() => existsSync(out) && readFileSync(out, 'utf8').includes('later\n'), 'the line written after 3 s of quiet', {
      timeoutMs: 10_000,
      describe: () => `log: ${JSON.stringify(existsSync(out) ? readFileSync(out, 'utf8') : null)}\n${run.describe()}`,
    });
    assert.doesNotMatch(run.output, /quiet: running → exited/, `the program exited\n${run.describe()}`);
  } finally {
    await teardown(run, [], dir);
  }
});
