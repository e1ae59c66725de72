// A drover worker runs app code, maybe as an unprivileged user: what it writes on its IPC channel is
// untrusted input to the root master. It used to be read by Node without a check: a line that is not JSON
// threw in the master (an internal error that SIGKILLed every program), descriptors sent with messages
// piled up in the master until EMFILE, a line without its newline was buffered without limit, and a
// `retire` reason went raw into drover's log (forged lines, megabytes). Now the worker alone is killed,
// with an ERROR line that says why, and replaced as after any crash; the master, and an unrelated
// program, carry on. The fixture worker attacks on SIGUSR2 (test/fixtures/programs/worker-ipc-attack.mjs).
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fixture, livePids, makeTmpDir, startUp, teardown, writeConfig, type CliRun } from '../helpers/drover.js';

const WAIT_MS = 15_000;

/** The descriptors the master holds now. */
function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

interface Attacked {
  run: CliRun;
  /** the attacking worker's pid */
  bad: number;
  /** the unrelated command program's pid */
  other: number;
  /** the master's descriptors just before the attack */
  fdsBefore: number;
  /** where the output stood when the attack was asked for */
  from: number;
}

/** Starts drover with the attacking worker and a plain program, asks for `mode`, and runs `body`. */
async function withAttack(mode: string, body: (a: Attacked) => Promise<void>): Promise<void> {
  const dir = makeTmpDir('drover-ipc-guard-');
  const attackFile = join(dir, 'attack');
  const conf = writeConfig(
    dir,
    `[program:bad]
worker = ${fixture('worker-ipc-attack.mjs')}
environment = ATTACK_FILE="${attackFile}"

[program:other]
command = ${process.execPath} ${fixture('forever.mjs')}
startsecs = 0
`,
  );
  const run = await startUp(conf);
  const pids = (): number[] => [...run.output.matchAll(/spawned: \w+ with pid (\d+)/g)].map((m) => Number(m[1]));
  try {
    await run.waitForLine(/bad_0: starting → running/, { timeoutMs: WAIT_MS });
    await run.waitForLine(/other: starting → running/, { timeoutMs: WAIT_MS });
    await run.waitForLine(/bad_0 \| attack ready/, { timeoutMs: WAIT_MS });
    const bad = Number((await run.waitForLine(/spawned: bad_0 with pid (\d+)/))[1]);
    const other = Number((await run.waitForLine(/spawned: other with pid (\d+)/))[1]);
    const fdsBefore = fdCount(run.pid);
    const from = run.output.length;
    writeFileSync(attackFile, mode);
    process.kill(bad, 'SIGUSR2');
    await run.waitForLine(new RegExp(`bad_0 \\| attacking: ${mode}`), { from, timeoutMs: WAIT_MS });
    await body({ run, bad, other, fdsBefore, from });
    // everyone else carries on: drover runs, `other` is the same process, never restarted
    assert.equal(run.child.exitCode, null, `drover is still running\n${run.describe()}`);
    assert.deepEqual(livePids([other], run.mark), [other], `the unrelated program is still alive\n${run.describe()}`);
    assert.equal(run.count(/spawned: other with pid/g), 1, 'and was never restarted');
    assert.doesNotMatch(run.output, /internal error/);
  } finally {
    await teardown(run, pids(), dir);
  }
}

/** The worker was killed with an ERROR line naming it and what its channel carried, and a new one runs. */
async function assertKilledAndReplaced(a: Attacked, carried: RegExp): Promise<void> {
  const { run, bad, from } = a;
  const line = await run.waitForLine(new RegExp(`ERROR bad_0: killed: its IPC channel carried ${carried.source} \\(not a drover message\\); worker ${bad}`), { from, timeoutMs: WAIT_MS });
  assert.ok(line.index !== undefined);
  const after = from + run.output.slice(from).indexOf(line[0]);
  const next = Number((await run.waitForLine(/spawned: bad_0 with pid (\d+)/, { from: after, timeoutMs: WAIT_MS }))[1]);
  assert.notEqual(next, bad, 'a new worker');
  await run.waitForLine(/bad_0: starting → running/, { from: after, timeoutMs: WAIT_MS });
  assert.deepEqual(livePids([bad], run.mark), [], 'the attacking worker is gone');
}

test('a worker that writes a line that is not JSON on its channel is killed and replaced; the master and other programs carry on', async () => {
  await withAttack('json', (a) => assertKilledAndReplaced(a, /a line that is not JSON \(SyntaxError: [^)]*\)/));
});

test('a worker that sends descriptors is killed at the first; the master keeps no descriptor of it', async () => {
  await withAttack('fds', async (a) => {
    await assertKilledAndReplaced(a, /a file descriptor/);
    // the new worker's channel and pipes replace the old one's; the hundreds a leak would leave are not there
    const now = fdCount(a.run.pid);
    assert.ok(now <= a.fdsBefore + 2, `the master holds ${now} descriptors, ${a.fdsBefore} before the attack\n${a.run.describe()}`);
  });
});

test("a worker that sends Node's own handle acknowledgement with no handle on its way is killed (Node's assert stopped the master)", async () => {
  await withAttack('ack', (a) => assertKilledAndReplaced(a, /an internal message of Node's \("NODE_HANDLE_ACK"\)/));
});

test('a worker that writes a line longer than the bound, with no newline, is killed', async () => {
  await withAttack('huge', (a) => assertKilledAndReplaced(a, /a line longer than 67108864 characters/));
});

test("a retire message's reason reaches the log without control characters and cut to 200 characters", async () => {
  await withAttack('retire', async ({ run, from }) => {
    const head = await run.waitForLine(/bad_0: recycling worker \d+ \(/, { from, timeoutMs: WAIT_MS });
    const at = from + run.output.slice(from).indexOf(head[0]) + head[0].length;
    // the successor's spawn is logged after the recycling line is written whole
    await run.waitForLine(/spawned: bad_\d+ with pid/, { from: at, timeoutMs: WAIT_MS });
    const rest = run.output.slice(at, run.output.indexOf('\n', at));
    const reason = rest.slice(0, -1);
    assert.ok(rest.endsWith(')'), `the reason and its line end together: ${JSON.stringify(rest.slice(0, 300))}`);
    assert.ok(reason.startsWith('spoofed?2030-01-01 00:00:00,000 ERROR FORGED line?yyy'), JSON.stringify(reason.slice(0, 300)));
    assert.ok(reason.length <= 201, `a reason of ${reason.length} characters`);
    assert.doesNotMatch(run.output, /^[^\n]*ERROR FORGED line$/m, 'no forged line of its own');
    assert.ok(run.output.length - from < 100_000, `${run.output.length - from} characters of output since the attack`);
  });
});
