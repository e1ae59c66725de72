// Status figures come from /proc/PID/stat files held open (os/proc.ts StatFile, control/proc-sampler.ts):
// against real processes, a held file reads its process while it lives, fails once it is reaped, and is
// closed when the sampler lets the process go, so the daemon holds no file for a process that is gone;
// and the held files are opened only under half the open-file limit and never number more than an eighth
// of it (a spawn needs descriptors).
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ProcSampler, REFRESH_WHILE_ASKED_MS } from '../../src/control/proc-sampler.js';
import { StatFile } from '../../src/os/proc.js';
import { makeTmpDir, waitForCondition } from '../helpers/drover.js';
import { repoRoot } from '../helpers/paths.js';

/** The pids whose /proc/PID/stat this process holds open. */
function heldStatPids(): number[] {
  const out: number[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // the directory's own fd, closed by the time it is read
    }
    const m = /^\/proc\/(\d+)\/stat$/.exec(target);
    if (m) out.push(Number(m[1]));
  }
  return out.sort((a, b) => a - b);
}

function startSleeper(): ChildProcess & { pid: number } {
  const child = spawn('sleep', ['1000'], { stdio: 'ignore' });
  assert.ok(child.pid !== undefined, 'sleep started');
  return child as ChildProcess & { pid: number };
}

async function killAndReap(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited; // Node has reaped it when 'exit' is emitted
}

test('a held stat file reads its process while it lives and fails once it is reaped', async () => {
  const child = startSleeper();
  const file = StatFile.open(child.pid);
  try {
    assert.ok(file, 'opened');
    assert.deepEqual(heldStatPids(), [child.pid]);
    const st = file.read();
    assert.equal(st?.pid, child.pid);
    assert.equal(st?.ppid, process.pid);
    // read again in place: the process as it is now, not the first text again
    process.kill(child.pid, 'SIGSTOP');
    await waitForCondition(() => file.read()?.state === 'T', 'the stopped process to read as stopped', { timeoutMs: 5000, describe: () => JSON.stringify(file.read()) });
    assert.equal(file.read()?.startTicks, st?.startTicks, 'the same process');
    process.kill(child.pid, 'SIGCONT');
    await killAndReap(child);
    assert.equal(file.read(), null, 'a reaped process reads as gone');
    assert.deepEqual(heldStatPids(), [], 'and its file is closed');
    assert.equal(StatFile.open(child.pid), null, 'no process: nothing to open');
  } finally {
    file?.close();
    child.kill('SIGKILL');
  }
});

test('the sampler holds a file per process it reads and closes those of processes that are gone', async () => {
  const children = [startSleeper(), startSleeper(), startSleeper()];
  const live = new Set(children.map((c) => c.pid));
  const sampler = new ProcSampler(() => live);
  try {
    for (const c of children) {
      const f = sampler.figures(c.pid);
      // a process a moment after its exec may have no resident pages yet: figures, not their size
      assert.ok(f !== null && f.rssBytes >= 0 && f.cpuPercent >= 0, `figures of ${c.pid}: ${JSON.stringify(f)}`);
    }
    assert.deepEqual(heldStatPids(), [...live].sort((a, b) => a - b));
    // close-on-exec: a program spawned now inherits none of them
    const inherited = spawnSync('sh', ['-c', 'for f in /proc/$$/fd/*; do readlink "$f" || true; done'], { encoding: 'utf8' });
    assert.equal(inherited.status, 0, inherited.stderr);
    assert.match(inherited.stdout, /pipe:|socket:|\/dev\//, `the child's descriptors are listed: ${inherited.stdout}`);
    assert.doesNotMatch(inherited.stdout, /^\/proc\/\d+\/stat$/m, 'no held stat file in a child');
    const [gone, ...rest] = children as [ChildProcess & { pid: number }, ...(ChildProcess & { pid: number })[]];
    await killAndReap(gone);
    live.delete(gone.pid);
    // the background refresh (once a second while asked) lets the gone process go and closes its file
    await waitForCondition(() => !heldStatPids().includes(gone.pid), 'the gone process\'s file to be closed', { timeoutMs: 5000, describe: () => JSON.stringify(heldStatPids()) });
    assert.deepEqual(heldStatPids(), rest.map((c) => c.pid).sort((a, b) => a - b));
    assert.equal(sampler.figures(gone.pid), null);
    // a process reaped between refreshes is found gone by its own read, and its file closed at once
    const [next] = rest as [ChildProcess & { pid: number }];
    await killAndReap(next);
    await waitForCondition(() => sampler.figures(next.pid) === null, 'the reaped process to read as gone', { timeoutMs: 5000, describe: () => JSON.stringify(heldStatPids()) });
    assert.ok(!heldStatPids().includes(next.pid), JSON.stringify(heldStatPids()));
  } finally {
    for (const c of children) c.kill('SIGKILL');
  }
});

// The background refresh stops REFRESH_WHILE_ASKED_MS after the last request; the files of processes that
// ended meanwhile are closed then, not held until someone asks again (a prefork master held the stat files
// of recycled workers for as long as nobody ran a status). The sampler's clock is moved past that quiet time.
test('when the refresh stops for want of requests, the files of processes that ended are closed', async () => {
  const children = [startSleeper(), startSleeper()];
  const live = new Set(children.map((c) => c.pid));
  let nowMs = 0;
  const sampler = new ProcSampler(() => live, () => nowMs);
  // only these children's files: the sampler of the test before may still be letting its own go
  const ours = new Set(live);
  const held = (): number[] => heldStatPids().filter((pid) => ours.has(pid));
  try {
    for (const c of children) assert.ok(sampler.figures(c.pid) !== null, `figures of ${c.pid}`);
    assert.deepEqual(held(), [...live].sort((a, b) => a - b));
    const [gone, stays] = children as [ChildProcess & { pid: number }, ChildProcess & { pid: number }];
    await killAndReap(gone);
    live.delete(gone.pid);
    nowMs = REFRESH_WHILE_ASKED_MS + 1; // the next tick (a second away) finds nobody asked for that long
    await waitForCondition(() => !held().includes(gone.pid), "the ended process's file to be closed as the refresh stops", {
      timeoutMs: 5000,
      describe: () => JSON.stringify(held()),
    });
    assert.deepEqual(held(), [stays.pid]);
  } finally {
    for (const c of children) c.kill('SIGKILL');
  }
});

test('held stat files stop at half the open-file limit and an eighth of it; past that every process is still read, by path', () => {
  // a Node with a limit of 64 descriptors (prlimit) samples 40 processes: holding a file for each would
  // take it to ~60 in use, leaving a spawn none to spare
  const dir = makeTmpDir('drover-sampler-');
  const script = join(dir, 'sample.mjs');
  writeFileSync(
    script,
    `import { spawn } from 'node:child_process';
import { readdirSync, readlinkSync } from 'node:fs';
import { ProcSampler } from ${JSON.stringify(join(repoRoot, 'dist', 'src', 'control', 'proc-sampler.js'))};
import { countOpenFds, openFileLimit } from ${JSON.stringify(join(repoRoot, 'dist', 'src', 'os', 'proc.js'))};
const kids = Array.from({ length: 40 }, () => spawn('sleep', ['1000'], { stdio: 'ignore' }));
const sampler = new ProcSampler(() => kids.map((k) => k.pid));
const missing = kids.filter((k) => sampler.figures(k.pid) === null).length;
const held = readdirSync('/proc/self/fd').filter((fd) => { try { return /^\\/proc\\/\\d+\\/stat$/.test(readlinkSync('/proc/self/fd/' + fd)); } catch { return false; } }).length;
console.log(JSON.stringify({ limit: openFileLimit(), open: countOpenFds(), held, missing }));
for (const k of kids) k.kill('SIGKILL');
process.exit(0);
`,
  );
  const r = spawnSync('prlimit', ['--nofile=64:64', process.execPath, script], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  const got = JSON.parse(r.stdout) as { limit: number; open: number; held: number; missing: number };
  assert.equal(got.limit, 64, r.stdout);
  assert.equal(got.missing, 0, `every process has figures: ${r.stdout}`);
  assert.ok(got.held > 0, `some files are held: ${r.stdout}`);
  assert.ok(got.held <= 64 / 8, `never more than an eighth of the limit: ${r.stdout}`);
  // the listing of /proc/self/fd counts its own descriptor
  assert.ok(got.open <= 32 + 1, `at most half the limit in use: ${r.stdout}`);
});
