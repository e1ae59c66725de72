// A reviewer's report: drover kept its deadlines and durations as Date.now() wall times, so a step of the
// wall clock (an NTP step, `date -s`) moved them by the length of the step. drover runs here on a clock the
// test steps by an hour (libfaketime, test/helpers/faketime.ts; the monotonic clock is left alone), and:
// a stopasgroup group's grace after its leader exited is the real stopwaitsecs, forward and backward (and
// `drover down` does not wait an hour for it); a removed log file is opened again within its usual second;
// uptime is never negative and CPU and memory keep being sampled.
// Negative controls: with Date.now() put back in leftovers.ts, log-file.ts, supervisor.ts (the records'
// clock) and proc-sampler.ts, each of these tests fails (docs/decisions.md, "Wall-clock steps").
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { XmlRpcValue } from '../../src/control/xmlrpc/codec.js';
import { SteppableClock } from '../helpers/faketime.js';
import { rpcValue } from '../helpers/xmlrpc.js';
import { CliRun, fixture, makeTmpDir, runCli, startUp, teardown, waitForAsync, waitForCondition, writeConfig } from '../helpers/drover.js';

type Run = CliRun;

const node = process.execPath;

// the group leader: starts child.mjs in its own group; on TERM it waits for DIR/go (the test steps the clock
// first), then exits, leaving the child to the rest of stopwaitsecs
const LEADER = `
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
const dir = process.argv[2];
const child = spawn(process.execPath, [dir + '/child.mjs', dir, process.argv[3]], { stdio: 'inherit' });
process.on('SIGTERM', () => {
  console.log('leader stopping');
  setInterval(() => { if (existsSync(dir + '/go')) process.exit(0); }, 20);
});
console.log('leader up, child ' + child.pid);
setInterval(() => {}, 1 << 30);
`;

// the child: 'finish' writes DIR/clean.txt once DIR/release exists and exits; 'ignore' never exits on TERM
const CHILD = `
import { existsSync, writeFileSync } from 'node:fs';
const [dir, mode] = process.argv.slice(2);
process.on('SIGTERM', () => {
  console.log('child stopping');
  if (mode === 'finish') setInterval(() => { if (existsSync(dir + '/release')) { writeFileSync(dir + '/clean.txt', 'clean'); process.exit(0); } }, 20);
});
console.log('child up');
setInterval(() => {}, 1 << 30);
`;

/** drover in the foreground on a steppable clock, running the group leader with the child in `mode`. */
async function groupOnClock(mode: 'finish' | 'ignore', stopWaitSecs: number): Promise<{ run: Run; dir: string; conf: string; clock: SteppableClock }> {
  const dir = makeTmpDir('drover-clock-');
  writeFileSync(join(dir, 'leader.mjs'), LEADER);
  writeFileSync(join(dir, 'child.mjs'), CHILD);
  const clock = new SteppableClock(dir);
  const conf = writeConfig(
    dir,
    `[program:grp]\ncommand = ${node} ${dir}/leader.mjs ${dir} ${mode}\nstopasgroup = true\nkillasgroup = true\nstopwaitsecs = ${stopWaitSecs}\nstartsecs = 0\nautorestart = false\n`,
  );
  const run = await startUp(conf, clock.env());
  await run.waitForLine(/grp \| child up/);
  return { run, dir, conf, clock };
}

/** The seconds drover gives what the leader left ("SIGKILL in N s"), or null when it killed them at once. */
async function graceGiven(run: Run): Promise<number | null> {
  const m = await run.waitForLine(/grp: (?:killing \d+ process\(es\) left behind in its group|\d+ process\(es\) of its group still stopping .*SIGKILL in ([\d.]+) s)/);
  return m[1] === undefined ? null : Number(m[1]);
}

test('a clock step forward while the group leader stops: its child still gets the rest of stopwaitsecs and finishes', async () => {
  const { run, dir, conf, clock } = await groupOnClock('finish', 20);
  try {
    const stop = await runCli(['stop', 'grp', '--no-wait', '-c', conf], { cwd: dir });
    assert.equal(stop.code, 0, stop.output);
    await run.waitForLine(/grp \| child stopping/);
    await run.waitForLine(/grp \| leader stopping/);
    clock.set(3600);
    writeFileSync(join(dir, 'go'), '');
    const grace = await graceGiven(run);
    assert.ok(grace !== null && grace > 15 && grace <= 20, `a grace of the rest of stopwaitsecs = 20 expected, got ${grace}\n${run.describe()}`);
    writeFileSync(join(dir, 'release'), '');
    await waitForCondition(() => existsSync(join(dir, 'clean.txt')), 'the child to finish its clean-up', { describe: () => run.describe() });
    assert.equal(run.count(/grp: killing/), 0, run.describe());
  } finally {
    assert.deepEqual(await teardown(run, [], dir), []);
  }
});

test('a clock step back while the group leader stops: its child is killed after stopwaitsecs, and drover down does not hang', async () => {
  const { run, dir, conf, clock } = await groupOnClock('ignore', 2);
  let down: CliRun | null = null;
  try {
    down = new CliRun(['down', '-c', conf], { cwd: dir });
    await run.waitForLine(/grp \| child stopping/);
    await run.waitForLine(/grp \| leader stopping/);
    clock.set(-3600);
    writeFileSync(join(dir, 'go'), '');
    const grace = await graceGiven(run);
    assert.ok(grace !== null && grace <= 2, `a grace of at most stopwaitsecs = 2 expected, got ${grace}\n${run.describe()}`);
    await run.waitForLine(/grp: killing 1 process\(es\) still running after stopwaitsecs/);
    assert.equal((await run.waitForExit(10_000)).code, 0, run.describe());
    assert.equal((await down.waitForExit(10_000)).code, 0, down.describe());
  } finally {
    if (down) await teardown(down);
    assert.deepEqual(await teardown(run, [], dir), []);
  }
});

test('a log file removed after a clock step back is opened again within its usual second', async () => {
  const dir = makeTmpDir('drover-clock-');
  const clock = new SteppableClock(dir);
  const log = join(dir, 'app.log');
  const run = await startUp(writeConfig(dir, `[program:app]\ncommand = ${node} ${fixture('lines-forever.mjs')} 20 10\nstdout_logfile = ${log}\nstartsecs = 0\n`), clock.env());
  const size = (): number => (existsSync(log) ? readFileSync(log).length : 0);
  try {
    // lines written before the step: the file held has been checked for removal on the clock before it
    await waitForCondition(() => size() > 200, 'lines in app.log', { describe: () => run.describe() });
    clock.set(-3600);
    const before = size();
    await waitForCondition(() => size() > before + 100, 'lines in app.log after the step', { describe: () => run.describe() });
    rmSync(log);
    await waitForCondition(() => size() > 0, 'app.log to be made again', { timeoutMs: 4000, describe: () => `${run.describe()}` });
  } finally {
    assert.deepEqual(await teardown(run, [], dir), []);
  }
});

// grows its memory by 64 MiB on USR1, spins a core on USR2
const HUNGRY = `
const kept = [];
process.on('SIGUSR1', () => { kept.push(Buffer.alloc(64 << 20, 1)); console.log('grown'); });
process.on('SIGUSR2', () => { console.log('spinning'); const spin = () => { const end = performance.now() + 20; while (performance.now() < end); setImmediate(spin); }; spin(); });
console.log('hungry up');
setInterval(() => {}, 1 << 30);
`;

interface StatusJson {
  readonly processes: { readonly name: string; readonly pid: number | null; readonly uptime_ms: number | null; readonly rss_bytes: number | null; readonly cpu_percent: number | null }[];
}

async function hungryOnClock(): Promise<{ run: Run; dir: string; clock: SteppableClock; status: () => Promise<StatusJson['processes'][number]> }> {
  const dir = makeTmpDir('drover-clock-');
  writeFileSync(join(dir, 'hungry.mjs'), HUNGRY);
  const clock = new SteppableClock(dir);
  const conf = writeConfig(dir, `[program:hungry]\ncommand = ${node} ${dir}/hungry.mjs\nstartsecs = 0\n`);
  const run = await startUp(conf, clock.env());
  await run.waitForLine(/hungry \| hungry up/);
  const status = async (): Promise<StatusJson['processes'][number]> => {
    const r = await runCli(['status', '--json', '-c', conf], { cwd: dir });
    const p = (JSON.parse(r.stdout) as StatusJson).processes[0];
    assert.ok(p, r.output);
    return p;
  };
  return { run, dir, clock, status };
}

test('uptime after a clock step back is not negative and still grows', async () => {
  const { run, dir, clock, status } = await hungryOnClock();
  try {
    const first = await status();
    clock.set(-3600);
    const after = await status();
    assert.ok(after.uptime_ms !== null && first.uptime_ms !== null && after.uptime_ms >= first.uptime_ms, `uptime ${first.uptime_ms} ms, then ${after.uptime_ms} ms after the step\n${run.describe()}`);
    let last = after;
    await waitForAsync(async () => (last = await status()).uptime_ms! > after.uptime_ms! + 200, 'uptime to grow', { describe: () => `last: ${JSON.stringify(last)}` });
    // XML-RPC: now - start is the uptime, and both are on drover's (stepped) wall clock, as times to be read
    const info = (await rpcValue(join(dir, '.drover', 'drover.sock'), 'supervisor.getProcessInfo', ['hungry'])) as Record<string, XmlRpcValue>;
    const [start, now] = [Number(info['start']), Number(info['now'])];
    assert.ok(now - start >= 0 && now - start <= 10, `start ${start}, now ${now}`);
    assert.ok(Math.abs(now - (Date.now() / 1000 - 3600)) <= 10, `now ${now} is not drover's wall clock, an hour back (${Date.now() / 1000 - 3600})`);
  } finally {
    assert.deepEqual(await teardown(run, [], dir), []);
  }
});

test('CPU and memory of a process keep being sampled after a clock step back', async () => {
  const { run, dir, clock, status } = await hungryOnClock();
  try {
    const first = await status();
    assert.ok(first.pid !== null && first.rss_bytes !== null, JSON.stringify(first));
    clock.set(-3600);
    await status();
    process.kill(first.pid, 'SIGUSR1');
    await run.waitForLine(/hungry \| grown/);
    let last = first;
    await waitForAsync(async () => ((last = await status()).rss_bytes ?? 0) > (first.rss_bytes ?? 0) + (40 << 20), 'the 64 MiB more to show', {
      describe: () => `first: ${JSON.stringify(first)}\nlast: ${JSON.stringify(last)}`,
    });
    process.kill(first.pid, 'SIGUSR2');
    await run.waitForLine(/hungry \| spinning/);
    await waitForAsync(async () => ((last = await status()).cpu_percent ?? 0) > 30, 'the spinning core to show', { describe: () => `last: ${JSON.stringify(last)}` });
  } finally {
    assert.deepEqual(await teardown(run, [], dir), []);
  }
});
