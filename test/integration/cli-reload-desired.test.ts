// reload restarts only the processes whose own config changed; what an operator stopped by hand stays
// stopped across down + up (and `up --fresh` forgets it).
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Daemon, show } from '../helpers/daemon.js';
import { makeTmpDir, waitForCondition } from '../helpers/drover.js';

test('reload applies only what changed: one program of a group changes, only its process restarts', async () => {
  const config = (p2: string): string => `[group:g]
programs = p1,p2

[program:p1]
command = sleep 1000
startsecs = 0

[program:p2]
command = ${p2}
startsecs = 0

[program:solo]
command = sleep 1000
startsecs = 0
`;
  const d = new Daemon(config('sleep 1000'));
  try {
    await d.up();
    const before = await d.processes();
    for (const p of before.values()) if (p.pid) d.seen.add(p.pid);
    let r = await d.cli(['reload']);
    assert.equal(r.code, 0, show(['reload'], r));
    assert.match(r.stdout, /reload: no changes/);

    writeFileSync(d.file, config('sleep 1001'));
    r = await d.cli(['reread']);
    assert.equal(r.stdout, 'g: changed\n', show(['reread'], r));
    r = await d.cli(['reload']);
    assert.equal(r.code, 0, show(['reload'], r));
    assert.match(r.stdout, /^g:p2: changed$/m, show(['reload'], r));
    assert.match(r.stdout, /reload: 1 changed, 0 added, 0 removed/, show(['reload'], r));
    const after = await d.processes();
    for (const p of after.values()) if (p.pid) d.seen.add(p.pid);
    assert.equal(after.get('g:p1')?.pid, before.get('g:p1')?.pid, 'p1 (same group, unchanged) keeps its pid');
    assert.equal(after.get('solo:solo')?.pid, before.get('solo:solo')?.pid, 'solo keeps its pid');
    assert.notEqual(after.get('g:p2')?.pid, before.get('g:p2')?.pid, 'p2 was restarted');
    assert.equal(after.get('g:p2')?.state, 'running');

    r = await d.cli(['reload', '--json']);
    assert.equal(r.code, 0, show(['reload', '--json'], r));
    const body = JSON.parse(r.stdout) as { ok: boolean; changed: string[]; results: unknown[] };
    assert.deepEqual([body.ok, body.changed, body.results], [true, [], []]);

    writeFileSync(d.file, `${config('sleep 1001')}startretries = many\n`);
    r = await d.cli(['reload']);
    assert.equal(r.code, 2, `a bad config is a config error\n${show(['reload'], r)}`);
    assert.match(r.stderr, /startretries/, show(['reload'], r));
    assert.equal((await d.processes()).get('g:p2')?.pid, after.get('g:p2')?.pid, 'nothing was applied');
  } finally {
    assert.deepEqual(await d.teardown(), []);
  }
});

test('a program stopped by hand stays stopped after down + up; up --fresh forgets it', async () => {
  const d = new Daemon(`[program:keep]
command = sleep 1000
startsecs = 0

[program:manual]
command = sleep 1000
startsecs = 0
`);
  try {
    await d.up();
    let r = await d.cli(['stop', 'manual']);
    assert.equal(r.code, 0, show(['stop', 'manual'], r));
    for (const p of (await d.processes()).values()) if (p.pid) d.seen.add(p.pid);
    assert.equal((await d.cli(['down'])).code, 0);

    await d.up();
    let procs = await d.processes();
    for (const p of procs.values()) if (p.pid) d.seen.add(p.pid);
    assert.equal(procs.get('manual:manual')?.state, 'stopped', 'stopped by hand, still stopped');
    assert.equal(procs.get('keep:keep')?.state, 'running');
    r = await d.cli(['status']);
    assert.equal(r.code, 3, show(['status'], r));
    assert.equal((await d.cli(['down'])).code, 0);

    await d.up(['--fresh']);
    procs = await d.processes();
    for (const p of procs.values()) if (p.pid) d.seen.add(p.pid);
    assert.equal(procs.get('manual:manual')?.state, 'running', '--fresh follows autostart again');
  } finally {
    assert.deepEqual(await d.teardown(), []);
  }
});

/** The files under `dir` that process `pid` holds open, one entry per descriptor. */
function openFilesUnder(pid: number, dir: string): string[] {
  const out: string[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue; // closed since the listing
    }
    if (target.startsWith(`${dir}/`)) out.push(target);
  }
  return out;
}

test('a reload that changes a program closes its old log files: AUTO ones, once its last lines are in them', async () => {
  const dir = makeTmpDir('drover-cli-');
  const autoDir = join(dir, 'auto');
  const fixedDir = join(dir, 'fixed');
  // the process says goodbye on TERM, so lines still come while it stops; `fixed` has one file for both streams
  const config = (n: number): string => `[supervisord]
childlogdir = ${autoDir}

[program:auto]
command = /bin/sh -c 'trap "echo bye ${n}; exit 0" TERM; echo hello ${n}; while :; do sleep 0.1; done'
startsecs = 0

[program:fixed]
command = /bin/sh -c 'echo fixed ${n}; exec sleep 1000'
startsecs = 0
stdout_logfile = ${fixedDir}/fixed.log
stderr_logfile = ${fixedDir}/fixed.log
`;
  const d = new Daemon(config(0), { dir });
  mkdirSync(autoDir);
  mkdirSync(fixedDir);
  try {
    await d.up();
    const counts = (): string => `auto: ${openFilesUnder(d.pid, autoDir).join(' ')}; fixed: ${openFilesUnder(d.pid, fixedDir).join(' ')}\n${d.daemonStderr()}`;
    assert.equal(openFilesUnder(d.pid, autoDir).length, 2, counts());
    assert.equal(openFilesUnder(d.pid, fixedDir).length, 1, counts());
    for (let n = 1; n <= 4; n++) {
      writeFileSync(d.file, config(n));
      const r = await d.cli(['reload']);
      assert.equal(r.code, 0, show(['reload'], r));
      assert.match(r.stdout, /reload: 2 changed/, show(['reload'], r));
      // the old AUTO files close once the stopped process's pipes have ended
      await waitForCondition(() => openFilesUnder(d.pid, autoDir).length === 2, `2 AUTO log descriptors after reload ${n}`, { describe: counts });
      assert.equal(openFilesUnder(d.pid, fixedDir).length, 1, counts());
    }
    // every old AUTO stdout file holds its process's whole output, its goodbye included
    const stdoutFiles = readdirSync(autoDir).filter((f) => f.startsWith('auto-stdout---'));
    const texts = stdoutFiles.map((f) => readFileSync(join(autoDir, f), 'utf8'));
    for (let n = 0; n < 4; n++) assert.ok(texts.includes(`hello ${n}\nbye ${n}\n`), `a file with hello ${n} and bye ${n}: ${JSON.stringify(texts)}`);
    // the shared fixed file stayed open across the reloads and has every process's line
    await waitForCondition(() => readFileSync(join(fixedDir, 'fixed.log'), 'utf8').includes('fixed 4\n'), 'the last fixed line', { describe: counts });
    assert.equal(readFileSync(join(fixedDir, 'fixed.log'), 'utf8'), 'fixed 0\nfixed 1\nfixed 2\nfixed 3\nfixed 4\n');
  } finally {
    assert.deepEqual(await d.teardown(), []);
  }
});
