// The journal's disk fills up (a 256 KiB tmpfs, so root only): the master must not die with the write that
// failed, nor answer pushes it then loses. It says so once, goes on in memory (pushes, deliveries, acks),
// keeps the file a valid journal (no torn line in its middle), and writes the live state again once there is
// room; a kill -9 after that loses nothing. A start (or a USR2 successor: the same code) on a full disk
// restores the journal, says it cannot write it, leaves no temp file behind, and writes it once it can.
// While it cannot write, an operator sees it where queues are looked at: the queue stats of the JSON API and
// of `drover queue stats`, and /metrics (drover_journal_degraded); all of it clears once it writes again.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { parseServerUrl, requestJson, requestRaw } from '../../src/control/client.js';
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

test('a journal that cannot be written shows in the queue stats, `drover queue stats` and /metrics, and clears once it is written again', { skip: isRoot ? false : 'mounts a tmpfs: needs root' }, async () => {
  const dir = makeTmpDir();
  const data = join(dir, 'data');
  mkdirSync(data);
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', data], { encoding: 'utf8' });
  assert.equal(mounted.status, 0, `mount: ${mounted.stderr}`);
  const conf = writeConfig(
    dir,
    `[supervisord]
journal = data/q.journal

[program:idle]
command = sleep 1000
autostart = false
`,
  );
  const ep = parseServerUrl(`unix://${join(dir, '.drover', 'drover.sock')}`);
  const journal = join(data, 'q.journal');
  const filler = join(data, 'filler');
  let run: CliRun | null = null;
  const seen: string[] = [];
  const describe = (): string => `--- answers seen ---\n${seen.join('\n')}\n--- drover ---\n${run?.describe() ?? ''}`;
  const stats = async (): Promise<Record<string, unknown>> => {
    const r = await requestJson(ep, 'GET', '/api/queue/stats');
    seen.push(JSON.stringify(r.body));
    assert.equal(r.body['ok'], true, describe());
    return r.body;
  };
  const journalOf = async (): Promise<Record<string, unknown>> => (await stats())['journal'] as Record<string, unknown>;
  /** the drover_journal_* series as "name{labels} value" lines, sorted */
  const journalSeries = async (): Promise<string[]> => {
    const text = (await requestRaw(ep, 'GET', '/metrics')).body.toString('utf8');
    seen.push(text.split('\n').filter((l) => l.includes('drover_journal')).join('\n'));
    return parsePrometheusTextFormat(text)
      .filter((f) => f.name.startsWith('drover_journal_'))
      .flatMap((f) => f.metrics.map((m) => `${f.name}${JSON.stringify(m.labels ?? {})} ${m.value}`))
      .sort();
  };
  // exit 0 while the journal is written, 1 while it cannot be (the stats are printed all the same)
  const cliStats = async (json: boolean, code = 0): Promise<string> => {
    const r = await runCli(['queue', 'stats', '-c', conf, ...(json ? ['--json'] : [])]);
    assert.equal(r.code, code, `drover queue stats: ${r.output}`);
    return r.stdout;
  };
  const healthy = { file: journal, degraded: false, error: null, since: null };
  try {
    run = await startUp(conf);
    await run.waitForLine(/journal .*q\.journal: 0 task\(s\) restored/);
    assert.deepEqual(await journalOf(), healthy, describe());
    assert.deepEqual(await journalSeries(), [`drover_journal_degraded{"file":${JSON.stringify(journal)}} 0`], describe());

    // no room left: the next batch of records cannot be written. A page the journal already has may
    // still take a record or two, so push until the stats say the journal failed (each push is answered
    // after its batch was written or failed)
    const fs = statfsSync(data);
    writeFileSync(filler, Buffer.alloc(fs.bavail * fs.bsize));
    let failed: Record<string, unknown> | null = null;
    for (let n = 0; n < 20 && failed === null; n++) {
      const r = await requestJson(ep, 'POST', '/api/queue/push', { queue: 'jobs', task: { n, pad: PAD } });
      assert.equal(r.body['ok'], true, `push ${n}: ${JSON.stringify(r.body)}\n${describe()}`);
      const j = await journalOf();
      if (j['degraded'] === true) failed = j;
    }
    assert.ok(failed !== null, `20 pushes on a full disk and the stats never said the journal failed\n${describe()}`);
    await run.waitForLine(/ERROR journal .*q\.journal: cannot be written \(ENOSPC/);
    assert.equal(failed['file'], journal);
    assert.match(String(failed['error']), /ENOSPC/);
    assert.ok(typeof failed['since'] === 'string' && !Number.isNaN(Date.parse(failed['since'])), `since is a time: ${JSON.stringify(failed)}`);
    const pushed = ((await stats())['queues'] as { name: string; ready: number }[]).find((q) => q.name === 'jobs');
    assert.ok(pushed && pushed.ready > 0, `the tasks are answered and kept in memory: ${describe()}`);

    const text = await cliStats(false, 1);
    assert.match(text, /^jobs\s/m, text);
    assert.match(text, /^journal .*q\.journal: cannot be written since \S+ \(ENOSPC.*in memory only, not durable/m, text);
    const json = JSON.parse(await cliStats(true, 1)) as Record<string, unknown>;
    assert.equal((json['journal'] as Record<string, unknown>)['degraded'], true, JSON.stringify(json));

    const series = await journalSeries();
    assert.equal(series.length, 2, series.join('\n'));
    assert.equal(series[0], `drover_journal_degraded{"file":${JSON.stringify(journal)}} 1`);
    assert.match(series[1] ?? '', /^drover_journal_error_info\{"file":".*q\.journal","error":"ENOSPC[^"]*"\} 1$/);

    // room again: the retry writes the live state, and every sign of the failure goes
    rmSync(filler);
    await run.waitForLine(/INFO journal .*q\.journal: written again/, { timeoutMs: 40_000 });
    assert.deepEqual(await journalOf(), healthy, describe());
    assert.deepEqual(await journalSeries(), [`drover_journal_degraded{"file":${JSON.stringify(journal)}} 0`], describe());
    assert.doesNotMatch(await cliStats(false), /^journal /m);
  } finally {
    if (run) await teardown(run);
    spawnSync('umount', [data]);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('without a journal the queue stats say journal: null and /metrics has no journal series', async () => {
  const dir = makeTmpDir();
  const conf = writeConfig(dir, `[program:idle]\ncommand = sleep 1000\nautostart = false\n`);
  const ep = parseServerUrl(`unix://${join(dir, '.drover', 'drover.sock')}`);
  let run: CliRun | null = null;
  try {
    run = await startUp(conf);
    const r = await requestJson(ep, 'GET', '/api/queue/stats');
    assert.deepEqual(r.body, { ok: true, queues: [], journal: null });
    const text = (await requestRaw(ep, 'GET', '/metrics')).body.toString('utf8');
    assert.deepEqual(text.split('\n').filter((l) => l.startsWith('drover_journal')), [], text);
  } finally {
    if (run) await teardown(run);
    rmSync(dir, { recursive: true, force: true });
  }
});
