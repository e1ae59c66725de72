// The exit peek (os/exit-peek.ts) records a child killed by a real-time signal, because Node reads that
// death as "exit 0". A record is taken by childExit() when drover reads the exit of what it spawned. Two
// things must not go wrong: an exec check's command killed by such a signal is a failed check, not a
// pass; and a record nobody took (an adopted orphan, reaped by the reaper; a hook's or the guard's
// child) must not be given to the next process that gets the same pid.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCheckCommand } from '../../../src/os/check-command.js';
import { startExitPeek } from '../../../src/os/exit-peek.js';
import { AS_PID1, skipNamespaces } from '../../helpers/namespaces.js';

const ENV: Record<string, string> = { PATH: process.env['PATH'] ?? '/usr/bin:/bin' };

test('an exec check whose command is killed by SIGRTMIN+2 fails, named; one that exits 0 passes', async () => {
  assert.equal(startExitPeek(), null, 'the exit peek runs here');
  const check = (script: string) => runCheckCommand({ argv: ['/bin/sh', '-c', script], env: ENV, cwd: null, user: null, timeoutMs: 10_000 });
  assert.deepEqual(await check('kill -s RTMIN+2 $$'), { ok: false, error: 'killed by SIGRTMIN+2' });
  assert.deepEqual(await check('kill -s TERM $$'), { ok: false, error: 'killed by SIGTERM' });
  assert.deepEqual(await check('exit 0'), { ok: true, detail: 'exit 0' });
});

/**
 * Run as PID 1 of a new PID namespace, where the next pid can be chosen (ns_last_pid): a process dies of
 * SIGRTMIN+2 without its exit being read through childExit(), then the next program is given its pid and
 * exits 0. Prints one JSON line per case: the pids and the exit drover would record.
 */
const FIXTURE = (src: string, fifo: string) => `
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
const { startExitPeek } = await import(${JSON.stringify(`${src}/os/exit-peek.js`)});
const { recordSpawned } = await import(${JSON.stringify(`${src}/os/children.js`)});
const { reapChild } = await import(${JSON.stringify(`${src}/os/native.js`)});
const { childExit, spawnProcess } = await import(${JSON.stringify(`${src}/os/spawn.js`)});
const why = startExitPeek();
if (why !== null) throw new Error('no exit peek: ' + why);
const state = (pid) => readFileSync('/proc/' + pid + '/stat', 'utf8').replace(/^.*\\) /, '')[0];
/** a program given \`pid\` (the next one the kernel hands out), exiting 0: what drover records of it */
async function nextAt(pid, kase) {
  writeFileSync('/proc/sys/kernel/ns_last_pid', String(pid - 1));
  const r = spawnProcess({ argv: ['/bin/sh', '-c', 'exit 0'], env: { PATH: '/usr/bin:/bin' }, cwd: null, umask: null, user: null, pdeathsig: false, stdinPipe: false });
  if (!r.ok) throw new Error(r.message);
  const [code, signal] = await once(r.child, 'exit');
  console.log(JSON.stringify({ kase, died: pid, next: r.pid, exit: childExit(r.pid, code, signal) }));
}
// a child whose exit nobody reads through childExit (a hook's: recorded as every spawn is)
const hook = spawn('/bin/sh', ['-c', 'kill -s RTMIN+2 $$'], { stdio: 'ignore' });
recordSpawned(hook);
await once(hook, 'exit');
await nextAt(hook.pid, 'unread child');
// an orphan: its parent exits, it is re-parented here, then dies of SIGRTMIN+2 when told to (the fifo)
const parent = spawn('/bin/sh', ['-c', '/bin/sh -c \\'read x < "$1"; kill -s RTMIN+2 $$\\' sh ' + ${JSON.stringify(fifo)} + ' & echo $!'], { stdio: ['ignore', 'pipe', 'ignore'] });
let out = '';
parent.stdout.on('data', (d) => (out += d));
await once(parent, 'exit');
const orphan = Number(out.trim());
writeFileSync(${JSON.stringify(fifo)}, 'go\\n');
for (const until = Date.now() + 5000; state(orphan) !== 'Z'; ) if (Date.now() > until) throw new Error('orphan ' + orphan + ' did not die');
// its SIGCHLD reaches the peek before this turn ends; then it is reaped as the reaper would
await new Promise((r) => setImmediate(r));
reapChild(orphan);
await nextAt(orphan, 'orphan');
`;

test('a real-time death nobody read (a hook\'s child, an adopted orphan) is not given to the next holder of its pid', { skip: skipNamespaces, timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'exit-peek-'));
  try {
    const fifo = join(dir, 'go');
    const mk = spawn('mkfifo', [fifo]);
    await new Promise((resolve) => mk.on('exit', resolve));
    const script = join(dir, 'fixture.mjs');
    writeFileSync(script, FIXTURE(new URL('../../../src', import.meta.url).pathname, fifo));
    const child = spawn(AS_PID1[0], [...AS_PID1.slice(1), process.execPath, script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise((resolve) => child.on('exit', resolve));
    assert.equal(code, 0, `fixture failed:\n${out}\n${err}`);
    const cases = out.trim().split('\n').map((l) => JSON.parse(l) as { kase: string; died: number; next: number; exit: unknown });
    assert.deepEqual(cases.map((c) => c.kase), ['unread child', 'orphan'], out + err);
    for (const c of cases) {
      assert.equal(c.next, c.died, `${c.kase}: the next program got the same pid (${out})`);
      assert.deepEqual(c.exit, { code: 0, signal: null }, `${c.kase}: its clean exit is recorded as one`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
