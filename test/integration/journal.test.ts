// Issue 5, durability: with `journal = PATH`, tasks pushed with no consumer and state keys survive a graceful
// restart and a kill -9 of the master, and are then consumed exactly once; a corrupt journal stops the
// start with the file and line; the journal file itself compacts and drops a torn tail; `journal_fsync`
// puts an fsync of the journal between each batch's write and its answer.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseServerUrl, requestJson } from '../../src/control/client.js';
import { encodeRecord } from '../../src/primitives/journal-core.js';
import { JournalFile } from '../../src/primitives/journal.js';
import { MemoryBackend } from '../../src/primitives/memory-backend.js';
import { CliRun, makeTmpDir, runCli, startUp, teardown, waitForCondition, writeConfig } from '../helpers/drover.js';
import { linkDrover } from '../helpers/shared.js';

const TASKS = 60;

const SETTER = `import { existsSync } from 'node:fs';
import { defineWorker } from 'drover';
export default defineWorker({
  async run(ctx) {
    if (existsSync(process.env.SET_FLAG)) {
      await ctx.state.set('config', { mode: 'fast', list: [1, 2] });
      await ctx.state.increment('counter', 5);
      await ctx.state.set('doomed', 1);
      await ctx.state.delete('doomed');
    }
    console.log('state written');
    await new Promise((r) => ctx.signal.addEventListener('abort', r));
  },
});
`;

const CONSUMER = `import { appendFileSync } from 'node:fs';
import { defineWorker } from 'drover';
export default defineWorker({
  async run(ctx) {
    await ctx.queue('jobs').process(async (task) => {
      appendFileSync(process.env.RECORD, task.data.n + ' ' + task.id + '\\n');
    });
  },
});
`;

type Stats = { ready: number; delayed: number; leased: number; dead: number; pushed: number; acked: number };

test('tasks and state survive a restart and a kill -9 of the master, then are consumed exactly once', async () => {
  const dir = makeTmpDir();
  linkDrover(dir);
  mkdirSync(join(dir, 'data'));
  const record = join(dir, 'done.txt');
  writeFileSync(record, '');
  writeFileSync(join(dir, 'set-state'), '');
  writeFileSync(join(dir, 'setter.mjs'), SETTER);
  writeFileSync(join(dir, 'consumer.mjs'), CONSUMER);
  const conf = writeConfig(
    dir,
    `[supervisord]
journal = data/queue.journal

[program:setter]
worker = ${join(dir, 'setter.mjs')}
startsecs = 0
environment = SET_FLAG="${join(dir, 'set-state')}"

[program:consumer]
worker = ${join(dir, 'consumer.mjs')}
autostart = false
numprocs = 2
concurrency = 4
startsecs = 0
environment = RECORD="${record}"
`,
  );
  const ep = parseServerUrl(`unix://${join(dir, '.drover', 'drover.sock')}`);
  const stats = async (): Promise<Stats> => {
    const cli = await runCli(['queue', 'stats', 'jobs', '--json', '-c', conf]);
    assert.equal(cli.code, 0, cli.output);
    return (JSON.parse(cli.stdout) as { queues: Stats[] }).queues[0] as Stats;
  };
  const stateOf = async (key: string): Promise<unknown> => {
    const r = await requestJson(ep, 'GET', `/api/state?key=${key}`);
    return r.body['found'] === true ? r.body['value'] : undefined;
  };
  const runs: CliRun[] = [];
  try {
    // 1: state written by a worker, tasks pushed by the API and the CLI, no consumer; then a graceful down
    let run = await startUp(conf);
    runs.push(run);
    await run.waitForLine(/state written/);
    for (let n = 0; n < 5; n++) {
      const cli = await runCli(['queue', 'push', 'jobs', JSON.stringify({ n }), '-c', conf]);
      assert.equal(cli.code, 0, cli.output);
    }
    for (let n = 5; n < TASKS - 10; n++) {
      const r = await requestJson(ep, 'POST', '/api/queue/push', { queue: 'jobs', task: { n } });
      assert.equal(r.body['ok'], true, JSON.stringify(r.body));
    }
    assert.equal((await stats()).ready, TASKS - 10);
    rmSync(join(dir, 'set-state'));
    process.kill(run.pid, 'SIGTERM');
    assert.equal((await run.waitForExit(15_000)).code, 0, run.describe());

    // 2: up again: everything is back; push the rest, then kill -9 the master
    run = await startUp(conf);
    runs.push(run);
    await run.waitForLine(/state written/);
    assert.match(run.output, new RegExp(`journal .*queue.journal: ${TASKS - 10} task\\(s\\) restored`));
    assert.equal((await stats()).ready, TASKS - 10);
    for (let n = TASKS - 10; n < TASKS; n++) {
      const r = await requestJson(ep, 'POST', '/api/queue/push', { queue: 'jobs', task: { n } });
      assert.equal(r.body['ok'], true, JSON.stringify(r.body));
    }
    process.kill(run.pid, 'SIGKILL');
    await run.waitForExit(15_000);

    // 3: up after the crash: all tasks and keys are there; consumers take each task exactly once
    run = await startUp(conf);
    runs.push(run);
    const s = await stats();
    assert.deepEqual({ ready: s.ready, leased: s.leased, dead: s.dead }, { ready: TASKS, leased: 0, dead: 0 }, run.describe());
    assert.deepEqual(await stateOf('config'), { mode: 'fast', list: [1, 2] });
    assert.equal(await stateOf('counter'), 5);
    assert.equal(await stateOf('doomed'), undefined);
    const start = await runCli(['start', 'consumer:*', '-c', conf]);
    assert.equal(start.code, 0, start.output);
    const lines = (): string[] => readFileSync(record, 'utf8').split('\n').filter((l) => /^\d+ \d+$/.test(l));
    await waitForCondition(() => lines().length >= TASKS, 'every task consumed', { timeoutMs: 20_000, describe: () => run.describe() });
    for (let tries = 0; (await stats()).acked < TASKS; tries++) assert.ok(tries < 500, `every task acked\n${run.describe()}`);
    const ns = lines().map((l) => Number(l.split(' ')[0])).sort((a, b) => a - b);
    assert.deepEqual(ns, Array.from({ length: TASKS }, (_, i) => i), 'each task ran exactly once');
    const ids = new Set(lines().map((l) => l.split(' ')[1]));
    assert.equal(ids.size, TASKS, 'task ids were not reused across restarts');
  } finally {
    for (const r of runs) await teardown(r, []);
    await teardown(runs[runs.length - 1] as CliRun, [], dir);
  }
});

test('a corrupt journal line stops the start with the file and line; exit 1', async () => {
  const dir = makeTmpDir();
  const journal = join(dir, 'j.journal');
  writeFileSync(
    journal,
    encodeRecord({ t: 'push', q: 'jobs', id: 1, data: 1, pri: 0, max: 5, due: 0 }) + '{"t":"push","q":"jobs","id":"two"}\n' + encodeRecord({ t: 'ack', q: 'jobs', id: 1 }),
  );
  const conf = writeConfig(dir, `[supervisord]\njournal = j.journal\n`);
  const r = await runCli(['up', '-c', conf]);
  assert.equal(r.code, 1, r.output);
  assert.match(r.output, /journal .*j\.journal, line 2: a malformed push record/);
  // nothing was rewritten
  assert.match(readFileSync(journal, 'utf8'), /"id":"two"/);
  rmSync(dir, { recursive: true, force: true });
});

test('the journal file: a torn tail is dropped with a warning, start compacts, growth compacts again', async () => {
  const dir = makeTmpDir();
  const file = join(dir, 'j.journal');
  writeFileSync(file, encodeRecord({ t: 'push', q: 'a', id: 1, data: 'x', pri: 0, max: 5, due: 0 }) + encodeRecord({ t: 'ack', q: 'a', id: 1 }));
  appendFileSync(file, encodeRecord({ t: 'push', q: 'a', id: 2, data: 'y', pri: 0, max: 5, due: 0 }).slice(0, 20));
  const warnings: string[] = [];
  const { journal, image } = JournalFile.load(file, (m) => warnings.push(m), { minCompactBytes: 4096 });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0] ?? '', /line 3 was cut short/);
  const backend = new MemoryBackend(Date.now, journal);
  backend.restore(image);
  journal.start(() => backend.snapshotRecords());
  // compacted: the header only (no live task), and the id counter kept
  assert.equal(readFileSync(file, 'utf8'), encodeRecord({ t: 'snap', v: 1, lastId: 1 }));
  backend.push('a', 'kept', {});
  for (let i = 0; i < 200; i++) {
    backend.stateSet(`k${i % 10}`, `${i} ${'p'.repeat(100)}`);
    backend.flush();
  }
  // growth schedules the compaction for the next turn (after the answers of this one): let that turn run
  await new Promise((resolve) => setImmediate(resolve));
  // 200 writes of ~120 bytes to 10 keys passed 4 KiB several times: a snapshot plus a tail, not every line
  const text = readFileSync(file, 'utf8');
  assert.match(text, /^\{"t":"snap"/);
  assert.ok(text.length < 2 * 4096, `compacted (${text.length} bytes)`);
  backend.close();
  const again = JournalFile.load(file, () => assert.fail('no warning'));
  assert.deepEqual([...(again.image.queues.get('a')?.tasks.values() ?? [])].map((t) => [t.id, t.data]), [[2, 'kept']]);
  assert.equal(again.image.state.get('k8'), `198 ${'p'.repeat(100)}`);
  rmSync(dir, { recursive: true, force: true });
});

test('temp files of compactions cut short by a crash are removed at load, with a warning; nothing else is', () => {
  const dir = makeTmpDir();
  const file = join(dir, 'j.journal');
  writeFileSync(file, encodeRecord({ t: 'push', q: 'a', id: 1, data: 'x', pri: 0, max: 5, due: 0 }));
  // as a kill -9 mid-compaction leaves them (the random part is 8 bytes in hex)
  writeFileSync(join(dir, 'j.journal.0123456789abcdef.tmp'), encodeRecord({ t: 'snap', v: 1, lastId: 1 }));
  writeFileSync(join(dir, 'j.journal.fedcba9876543210.tmp'), '');
  // not temp files of this journal
  for (const other of ['j.journal.mine.tmp', 'k.journal.0123456789abcdef.tmp', 'j.journal.bak']) writeFileSync(join(dir, other), 'keep');
  const warnings: string[] = [];
  const { journal, image } = JournalFile.load(file, (m) => warnings.push(m));
  assert.equal(warnings.length, 2, warnings.join('\n'));
  assert.match(warnings[0] ?? '', /removed j\.journal\.[0-9a-f]{16}\.tmp, the temp file of a compaction that was cut short/);
  assert.deepEqual(readdirSync(dir).sort(), ['j.journal', 'j.journal.bak', 'j.journal.mine.tmp', 'k.journal.0123456789abcdef.tmp']);
  assert.equal(image.queues.get('a')?.tasks.size, 1);
  journal.close();
  rmSync(dir, { recursive: true, force: true });
});

test('journal_fsync = true: every batch is fsynced before it is answered; without it only the close fsyncs (strace)', async () => {
  // strace watches the real master's system calls (nothing is mocked): writes to the journal, fsyncs of it,
  // and the HTTP answers on the control socket. Without -f it follows drover's main thread only, which is
  // where the journal is written and fsynced (synchronously) and where the answers are written.
  // What it cannot show: that the fsynced data survives a power loss — that is the kernel's and the disk's
  // promise for fsync(2), and testing it would take a disk that drops its cache (dm-log-writes, a VM).
  const which = spawnSync('sh', ['-c', 'command -v strace'], { encoding: 'utf8' });
  assert.equal(which.status, 0, 'strace is installed (Debian package strace; scripts/install-test-deps.sh)');
  const PUSHES = 12;
  for (const fsync of [false, true]) {
    const dir = realpathSync(makeTmpDir());
    const journal = join(dir, 'q.journal');
    const trace = join(dir, 'trace.txt');
    const conf = writeConfig(dir, `[supervisord]\njournal = q.journal\njournal_fsync = ${fsync}\n`);
    const ep = parseServerUrl(`unix://${join(dir, '.drover', 'drover.sock')}`);
    const run = new CliRun(['up', '-c', conf], { wrapper: ['strace', '-o', trace, '-y', '-e', 'trace=fsync,fdatasync,write,writev', '--'] });
    let again: CliRun | null = null;
    try {
      // strace is the child: drover's own pid is the one its start-up line names
      const master = Number((await run.waitForLine(/drover up: pid (\d+)/, { timeoutMs: 15_000 }))[1]);
      assert.equal(/journal .*q\.journal: 0 task\(s\) restored; fsync after every batch/.test(run.output), fsync, run.describe());
      // one request at a time: each push is a batch of its own, answered before the next is sent
      for (let n = 0; n < PUSHES; n++) {
        const r = await requestJson(ep, 'POST', '/api/queue/push', { queue: 'jobs', task: { n } });
        assert.equal(r.body['ok'], true, JSON.stringify(r.body));
      }
      process.kill(master, 'SIGTERM');
      // strace exits with drover, once the whole trace is written
      assert.equal((await run.waitForExit(15_000)).code, 0, run.describe());

      const text = readFileSync(trace, 'utf8');
      const lines = text.split('\n');
      const isJournal = (l: string, call: RegExp): boolean => call.test(l) && l.includes(`<${journal}>`);
      const writes = lines.filter((l) => isJournal(l, /^write\(\d+</)).length;
      const fsyncs = lines.filter((l) => isJournal(l, /^f(data)?sync\(\d+</)).length;
      // drover's stdout is a socket too (a pipe from the test): an answer is an HTTP response on a socket
      const isAnswer = (l: string): boolean => /^writev?\(\d+<socket:\[\d+\]>, .*HTTP\/1\.1 /.test(l);
      const answers = lines.filter(isAnswer).length;
      // an answer written while the last journal write has not been fsynced yet
      let unsynced = false;
      let answeredUnsynced = 0;
      for (const l of lines) {
        if (isJournal(l, /^write\(\d+</)) unsynced = true;
        else if (isJournal(l, /^f(data)?sync\(\d+</)) unsynced = false;
        else if (isAnswer(l) && unsynced) answeredUnsynced += 1;
      }
      const what = `journal_fsync = ${fsync}: ${writes} journal write(s), ${fsyncs} fsync(s), ${answers} answer(s), ${answeredUnsynced} before an fsync\n${run.describe()}\n--- trace (journal and answers):\n${lines.filter((l) => l.includes(`<${journal}>`) || isAnswer(l)).join('\n')}`;
      assert.equal(writes, PUSHES, what);
      assert.equal(answers, PUSHES, what);
      if (fsync) {
        assert.equal(answeredUnsynced, 0, what);
        assert.equal(fsyncs, PUSHES + 1, `one fsync per batch and one at close; ${what}`);
      } else {
        // the negative control: the same run without the key answers every push before any fsync
        assert.equal(answeredUnsynced, PUSHES, what);
        assert.equal(fsyncs, 1, `only the close fsyncs; ${what}`);
      }
      const pushed = readFileSync(journal, 'utf8').split('\n').filter((l) => l.startsWith('{"t":"push"')).length;
      assert.equal(pushed, PUSHES, 'every push is in the journal');
      if (fsync) {
        // and the journal written that way is read back by the next start
        again = await startUp(conf);
        await again.waitForLine(new RegExp(`journal .*q\\.journal: ${PUSHES} task\\(s\\) restored; fsync after every batch`));
      }
    } finally {
      await teardown(run, []);
      if (again) await teardown(again, []);
      rmSync(dir, { recursive: true, force: true });
    }
  }
});
