// `drover tail -f` and `drover logs -f` whose stdout nobody reads (`drover tail -f fast | sleep 40`) kept
// reading the stream and queued every line in stdout's buffer: the CLI's RSS grew without bound (91 → 318
// MB in 35 s at 10 MB/s). Now a follower stops reading while stdout is backed up, so drover's own bounded
// buffering per client applies (it skips output for that reader and says so with a `lost` event).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Daemon, show } from '../helpers/daemon.js';
import { fixture, waitForCondition } from '../helpers/drover.js';
import { droverBin } from '../helpers/paths.js';

const MiB = 1024 * 1024;
// 256 MiB: the unbounded follower this guards against grew ~0.65 MiB of RSS per MiB written (91 → 318 MB
// over ~350 MB), so it would pass the limit well before the end; a follower that stops reading stays at ~50
const BURST_MIB = 256;
/** the CLI's RSS stays under this: well under the burst it is sent */
const LIMIT_MIB = 100;

/** A process's resident memory in MiB, from /proc; null once it is gone. */
function rssMiB(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

for (const args of [['tail', '-f', 'fast'], ['logs', '-f', 'fast']]) {
  test(`drover ${args.join(' ')} with a stdout nobody reads stays small while the program writes ${BURST_MIB} MiB`, async (t) => {
    const d = new Daemon(`[program:fast]
command = ${process.execPath} ${fixture('burst-on-usr1.mjs')} ${BURST_MIB}
startsecs = 0
stdout_logfile = %(here)s/fast.log
stdout_logfile_maxbytes = 0
`);
    t.after(async () => assert.deepEqual(await d.teardown(), [], 'nothing survives teardown'));
    await d.up();
    const log = join(d.dir, 'fast.log');
    await waitForCondition(() => existsSync(log) && readFileSync(log, 'utf8').startsWith('ready'), 'the program to be ready', { describe: () => d.daemonStderr() });

    // stdout a pipe this test never reads: once its buffers are full, every write of the CLI returns false
    const cli = spawn(process.execPath, [droverBin, ...args, '-c', d.file], { cwd: d.dir, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    cli.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    t.after(() => {
      if (cli.exitCode === null && cli.signalCode === null) cli.kill('SIGKILL');
    });
    // the tail of the log (the "ready" line) printed: the CLI opens its stream next, within milliseconds of
    // a burst that lasts seconds (and the check below shows the burst reached it)
    await waitForCondition(() => cli.stdout.readableLength > 0, 'the CLI to print the tail of the log', { describe: () => stderr });

    const sizeBefore = statSync(log).size;
    const sig = await d.cli(['signal', 'USR1', 'fast']);
    assert.equal(sig.code, 0, show(['signal', 'USR1', 'fast'], sig));
    let peak = 0;
    const state = (): string => `log +${((statSync(log).size - sizeBefore) / MiB).toFixed(0)} of ${BURST_MIB} MiB; CLI peak RSS ${peak.toFixed(0)} MiB; CLI stderr:\n${stderr}\n${d.daemonStderr()}`;
    // drover hands each chunk to the log's followers before writing it to the file: once the file holds
    // the whole burst, all of it has been sent to the CLI or skipped for it
    await waitForCondition(
      () => {
        peak = Math.max(peak, rssMiB(cli.pid as number) ?? 0);
        return statSync(log).size >= sizeBefore + BURST_MIB * MiB;
      },
      'the whole burst in the log',
      { timeoutMs: 120_000, describe: state },
    );
    peak = Math.max(peak, rssMiB(cli.pid as number) ?? 0);
    t.diagnostic(`CLI peak RSS ${peak.toFixed(1)} MiB over a ${BURST_MIB} MiB burst`);
    assert.equal(cli.exitCode, null, `the follower is still following\n${state()}`);
    // more than the "ready" line waits in the pipe: the burst reached the CLI, which then stopped reading
    assert.ok(cli.stdout.readableLength > 4096, `the CLI printed the burst (${cli.stdout.readableLength} bytes unread)\n${state()}`);
    assert.ok(peak < LIMIT_MIB, `the CLI's RSS reached ${peak.toFixed(0)} MiB, over ${LIMIT_MIB}\n${state()}`);
  });
}

