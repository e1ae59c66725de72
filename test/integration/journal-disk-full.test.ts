// The journal's disk fills up (a 256 KiB tmpfs, so root only): the master must not die with the write that
// failed, nor answer pushes it then loses. It says so once, goes on in memory (pushes, deliveries, acks),
// keeps the file a valid journal (no torn line in its middle), and writes the live state again once there is
// room; a kill -9 after that loses nothing. A start (or a USR2 successor: the same code) on a full disk
// restores the journal, says it cannot write it, leaves no temp file behind, and writes it once it can.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseServerUrl, requestJson } from '../../src/control/client.js';
import { livePids, makeTmpDir, runCli, startUp, teardown, waitForCondition, writeConfig, type CliRun } from '../helpers/drover.js';
import { linkDrover } from '../helpers/shared.js';

const CONSUMER = `import { appendFileSync } from 'node:fs';
import { defineWorker } from 'drover';
export default defineWorker({
  async run(ctx) {
    await ctx.queue('jobs').process(async (task) => {
      appendFileSync(process.env.RECORD, task.data.n + '\\n');
    });
  },
});
`;

const PAD = 'x'.repeat(2000);
const isRoot = process.getuid?.() === 0;

test('a full disk under the journal: the master says so, works on in memory, and writes the journal again once there is room', { skip: isRoot ? false : 'mounts a tmpfs: needs root' }, async () => {
  const dir = makeTmpDir();
  linkDrover(dir);
  const data = join(dir, 'data');
  mkdirSync(data);
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', data], { encoding: 'utf8' });
  assert.equal(mounted.status, 0, `mount: ${mounted.stderr}`);
  const record = join(dir, 'done.txt');
  writeFileSync(record, '');
  writeFileSync(join(dir, 'consumer.mjs'), CONSUMER);
  const conf = writeConfig(
    dir,
    `[supervisord]
journal = data/q.journal

[program:consumer]
worker = ${join(dir, 'consumer.mjs')}
startsecs = 0
autostart = false
environment = RECORD="${record}"
`,
  );
  const ep = parseServerUrl(`unix://${join(dir, '.drover', 'drover.sock')}`);
  const journal = join(data, 'q.journal');
  const filler = join(data, 'filler');
  const runs: CliRun[] = [];
  const describe = (): string => runs.map((r, i) => `=== master ${i}\n${r.describe()}`).join('\n');
  const push = async (n: number): Promise<void> => {
    const r = await requestJson(ep, 'POST', '/api/queue/push', { queue: 'jobs', task: { n, pad: PAD } });
    assert.equal(r.body['ok'], true, `push ${n}: ${JSON.stringify(r.body)}\n${describe()}`);
  };
  const done = (): number => readFileSync(record, 'utf8').split('\n').filter((l) => l !== '').length;
  try {
    runs.push(await startUp(conf));
    const first = runs[0] as CliRun;
    assert.equal((await runCli(['start', 'consumer', '-c', conf])).code, 0);
    await first.waitForLine(/consumer_0: starting → running/);
    // leave room for about 20 of the 60 push records to come
    const fs = statfsSync(data);
    writeFileSync(filler, Buffer.alloc(Math.max(0, fs.bavail * fs.bsize - 40 * 1024)));

    // consumed while the journal fails: pushes, deliveries and acks all go on
    for (let n = 0; n < 60; n++) await push(n);
    await first.waitForLine(/ERROR journal .*q\.journal: cannot be written \(ENOSPC/);
    await waitForCondition(() => done() === 60, 'the 60 tasks consumed', { describe });
    assert.equal(first.child.exitCode, null, `the master is still running\n${describe()}`);
    assert.equal(first.output.match(/cannot be written/g)?.length, 1, 'the failure is said once, not per batch');
    // what stays in the file is whole records: a later start can read it
    const text = readFileSync(journal, 'utf8');
    assert.ok(text.endsWith('\n'), 'no partly written record at the end of the journal');
    for (const line of text.split('\n').slice(0, -1)) JSON.parse(line);

    // kept: pushed with no consumer, while the journal still fails
    assert.equal((await runCli(['stop', 'consumer', '-c', conf])).code, 0);
    for (let n = 100; n < 120; n++) await push(n);
    rmSync(filler);
    await first.waitForLine(/INFO journal .*q\.journal: written again/, { timeoutMs: 40_000 });
    const workers = ((await requestJson(ep, 'GET', '/api/processes')).body['processes'] as { pid: number | null }[]).map((p) => p.pid).filter((p): p is number => p !== null);
    first.signal('SIGKILL');
    await first.waitForExit(10_000);
    await waitForCondition(() => livePids(workers, first.mark).length === 0, 'the killed master\'s workers to exit', { describe });

    runs.push(await startUp(conf));
    const second = runs[1] as CliRun;
    await second.waitForLine(/journal .*q\.journal: 20 task\(s\) restored/);
    await teardown(second);

    // a start with no room for its compaction: the journal is read and kept as it was, no temp file left
    const full = statfsSync(data);
    writeFileSync(filler, Buffer.alloc(full.bavail * full.bsize));
    const before = readFileSync(journal, 'utf8');
    runs.push(await startUp(conf));
    const third = runs[2] as CliRun;
    await third.waitForLine(/ERROR journal .*q\.journal: cannot be written \(ENOSPC/);
    await third.waitForLine(/journal .*q\.journal: 20 task\(s\) restored/);
    assert.deepEqual(readdirSync(data).sort(), ['filler', 'q.journal']);
    assert.equal(readFileSync(journal, 'utf8'), before);
    rmSync(filler);
    await third.waitForLine(/INFO journal .*q\.journal: written again/, { timeoutMs: 40_000 });
    const pushes = readFileSync(journal, 'utf8').split('\n').filter((l) => l.startsWith('{"t":"push"'));
    assert.equal(pushes.length, 20, 'the compacted journal holds the 20 tasks');
  } finally {
    for (const run of runs) await teardown(run);
    spawnSync('umount', [data]);
    rmSync(dir, { recursive: true, force: true });
  }
});
