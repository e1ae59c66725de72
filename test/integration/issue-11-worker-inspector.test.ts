// Issue 11, finding 2: workers used to start with --inspect-port=127.0.0.1:0, and SIGUSR1 — sent by
// `drover signal USR1`, the web page, or drover itself to read a stuck worker's stack — opened Node's
// inspector on a loopback port any local user could drive (code execution as the worker's uid). Now no
// worker ever owns a listening TCP socket: not after USR1 (which it survives), not while stuck, not during
// drover's heartbeat-timeout diagnosis; and the stuck worker's JavaScript stack still reaches drover's log.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseServerUrl, requestJson } from '../../src/control/client.js';
import { assertStaysFor, CliRun, livePids, makeTmpDir, runCli, startUp, teardown, waitForCondition, writeConfig } from '../helpers/drover.js';
import { linkDrover } from '../helpers/shared.js';

const WORKER = `import { defineWorker } from 'drover';
export default defineWorker({
  async run(ctx) {
    await ctx.queue('q').process(async (task) => {
      if (task.data === 'spin') {
        ctx.log('spinning');
        setTimeout(function spinForever() {
          for (;;) {
            // a CPU-bound bug: the event loop never comes back
          }
        }, 10);
        return;
      }
      ctx.log('took ' + JSON.stringify(task.data));
    });
  },
});
`;

/**
 * The TCP sockets in LISTEN state that process `pid` holds, as "address:port" (hex, as in /proc): its
 * socket fds' inodes matched against its network namespace's tcp and tcp6 tables. [] once it is gone.
 */
function tcpListeners(pid: number): string[] {
  const inodes = new Set<string>();
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []; // the process is gone
    throw err;
  }
  for (const fd of fds) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // closed while we listed
      throw err;
    }
    const m = /^socket:\[(\d+)\]$/.exec(target);
    if (m?.[1]) inodes.add(m[1]);
  }
  const found: string[] = [];
  for (const table of ['tcp', 'tcp6']) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/net/${table}`, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return found; // the process is gone
      throw err;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode; st 0A is LISTEN
      if (f[3] === '0A' && f[9] !== undefined && inodes.has(f[9])) found.push(f[1] ?? '?');
    }
  }
  return found;
}

/** Whether SIGUSR1 is pending for process `pid` (blocked: Node's --disable-sigusr1 blocks it in every thread). */
function usr1Pending(pid: number): boolean {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const SIGUSR1_BIT = 1n << 9n; // signal n is bit n − 1 of the hex masks
  for (const m of status.matchAll(/^(?:ShdPnd|SigPnd):\s*([0-9a-f]+)$/gm)) {
    if ((BigInt(`0x${m[1] ?? '0'}`) & SIGUSR1_BIT) !== 0n) return true;
  }
  return false;
}

async function boot(dir: string, extra = ''): Promise<{ run: CliRun; conf: string; pid: number; push: (task: unknown) => Promise<void> }> {
  linkDrover(dir);
  writeFileSync(join(dir, 'jobs.mjs'), WORKER);
  const conf = writeConfig(
    dir,
    `[program:jobs]
worker = ${join(dir, 'jobs.mjs')}
timeout = 2s
startretries = 0
${extra}`,
  );
  const run = await startUp(conf);
  await run.waitForLine(/jobs_0: starting → running/);
  const pid = Number((await run.waitForLine(/spawned: jobs_0 with pid (\d+)/))[1]);
  const ep = parseServerUrl(`unix://${join(dir, '.drover', 'drover.sock')}`);
  const push = async (task: unknown): Promise<void> => {
    const r = await requestJson(ep, 'POST', '/api/queue/push', { queue: 'q', task });
    assert.equal(r.body['ok'], true, JSON.stringify(r.body));
  };
  return { run, conf, pid, push };
}

test('drover signal USR1 to a worker opens no inspector: no TCP listener, and the worker lives on and works', async () => {
  const dir = makeTmpDir();
  const { run, conf, pid, push } = await boot(dir);
  try {
    assert.deepEqual(tcpListeners(pid), [], 'no listener before the signal');
    const sent = await runCli(['signal', 'USR1', 'jobs_0', '-c', conf]);
    assert.equal(sent.code, 0, sent.output);
    // The signal has arrived: the worker's listener notes it on stderr (an unprotected Node announces its
    // inspector there instead), or, where Node has --disable-sigusr1, it is held pending, never delivered.
    await waitForCondition(() => /jobs_0 ! .*(SIGUSR1|Debugger listening)/.test(run.output) || usr1Pending(pid), 'the worker to receive USR1', {
      describe: () => run.describe(),
    });
    // an inspector opens within milliseconds of the signal
    await assertStaysFor(500, () => tcpListeners(pid).length === 0, `no TCP listener in the worker (${tcpListeners(pid).join(', ')})`);
    assert.doesNotMatch(run.output, /Debugger listening/, 'Node started no inspector');
    assert.deepEqual(livePids([pid], run.mark), [pid], 'the worker is alive');
    await push({ n: 1 });
    await run.waitForLine(/jobs_0 \| took \{"n":1\}/);
    assert.equal(run.count(/spawned: jobs_0 with pid/g), 1, 'and was never replaced');
  } finally {
    await teardown(run, [pid], dir);
  }
});

test('a stuck worker: no TCP listener at any time (USR1 while stuck, then the diagnosis), and its JavaScript stack is in the log', async () => {
  const dir = makeTmpDir();
  const { run, conf, pid, push } = await boot(dir);
  // sampled every few ms from before the worker is stuck until it has been killed
  const seen = new Set<string>();
  const sampler = setInterval(() => {
    for (const l of tcpListeners(pid)) seen.add(l);
  }, 3);
  try {
    await push('spin');
    await run.waitForLine(/jobs_0 \| spinning/);
    const sent = await runCli(['signal', 'USR1', 'jobs_0', '-c', conf]);
    assert.equal(sent.code, 0, sent.output);
    await run.waitForLine(/jobs_0: worker \d+ sent no heartbeat for 2s/, { timeoutMs: 8000 });
    const m = await run.waitForLine(/JavaScript stack of the stuck worker (\d+):\n((?:    .*\n)+)/, { timeoutMs: 8000 });
    assert.equal(Number(m[1]), pid);
    assert.match(m[2] ?? '', /^    at spinForever \(file:\/\/.*jobs\.mjs:\d+:\d+\)$/m, `the stack names the stuck function\n${run.describe()}`);
    await run.waitForLine(/jobs_0: running → \w+ \(terminated by SIGKILL/);
    clearInterval(sampler);
    assert.deepEqual([...seen], [], `the worker never listened on a TCP port\n${run.describe()}`);
    assert.doesNotMatch(run.output, /Debugger listening/, 'Node started no inspector');
  } finally {
    clearInterval(sampler);
    await teardown(run, [pid], dir);
  }
});

test('with redirect_stderr the stuck worker\'s report still comes (it is read from the one pipe that carries both streams)', async () => {
  const dir = makeTmpDir();
  const { run, pid, push } = await boot(dir, 'redirect_stderr = true\n');
  try {
    await push('spin');
    await run.waitForLine(/jobs_0 \| spinning/);
    await run.waitForLine(/jobs_0: worker \d+ sent no heartbeat for 2s/, { timeoutMs: 8000 });
    const m = await run.waitForLine(/JavaScript stack of the stuck worker (\d+):\n((?:    .*\n)+)/, { timeoutMs: 8000 });
    assert.equal(Number(m[1]), pid);
    assert.match(m[2] ?? '', /^    at spinForever \(file:\/\/.*jobs\.mjs:\d+:\d+\)$/m, `the stack names the stuck function\n${run.describe()}`);
  } finally {
    await teardown(run, [pid], dir);
  }
});

// The master too. Until drover's first line runs, Node's own SIGUSR1 handler opens the inspector, and a
// foreground `drover up` replaces itself once at start (execve, for its V8 flags), after which signals are
// Node's again. SIGUSR1 is logrotate's postrotate signal: one that came in the first half second used to
// leave a root drover with an inspector on 127.0.0.1:9229 for its whole life, or (in the new program's first
// milliseconds) kill it with status 138. Here SIGUSR1 comes every few milliseconds from the moment drover's
// Node starts (a shell that ignores it execs drover, as a process that already ignores USR1 would) until
// drover is up: drover must come up, hold no TCP listener, and reopen its logs for the signals it got.
test('the master: SIGUSR1 again and again from its first millisecond on never opens an inspector nor kills it', async () => {
  const dir = makeTmpDir();
  const conf = writeConfig(dir, `[program:idle]\ncommand = sleep 1000\nstartsecs = 0\n`);
  const run = new CliRun(['up', '-c', conf], { cwd: dir, wrapper: ['bash', '-c', `trap '' USR1; echo usr1-ignored; exec "$@"`, 'wrapper'] });
  let sent = 0;
  let hammer: NodeJS.Timeout | undefined;
  try {
    await run.waitForLine(/^usr1-ignored$/m);
    hammer = setInterval(() => {
      try {
        process.kill(run.pid, 'SIGUSR1');
        sent += 1;
      } catch {
        clearInterval(hammer); // gone: the wait below reports how
      }
    }, 2);
    const up = await run.waitForLine(/drover up: pid (\d+)/, { timeoutMs: 15_000 });
    assert.equal(Number(up[1]), run.pid, `the master kept the wrapper's pid\n${run.describe()}`);
    await run.waitForLine(/idle: starting → running/);
    clearInterval(hammer);
    assert.ok(sent > 20, `SIGUSR1 was sent all through the start-up (${sent} times)`);
    assert.deepEqual(tcpListeners(run.pid), [], `the master holds no TCP listener\n${run.describe()}`);
    // the signals that came while the master was starting were relayed: at least one reopen
    await run.waitForCount(/SIGUSR1 received: reopened the log files/g, 1);
    assert.deepEqual(tcpListeners(run.pid), [], 'still none');
    run.signal('SIGTERM');
    assert.equal((await run.waitForExit(15_000)).code, 0, run.describe());
  } finally {
    clearInterval(hammer);
    await teardown(run, [], dir);
  }
});
