// What `drover reload` and `drover update` answer about worker pools. A review found a reload whose new
// worker code failed to load answering "reload: no changes" with exit 0 (`--json`: "ok": true): the old
// workers kept serving, as gunicorn's do after a HUP with broken code, but a deploy script believed the
// broken deploy had gone out. Only drover's log said "kept the old workers". It also found a reload that
// changed only a pool's keys (spare_workers, max_requests) answering "no changes to the config".
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fixture, makeTmpDir, runCli, startUp, teardown, waitForAsync, writeConfig, type CliRun } from '../helpers/drover.js';
import { fetchText } from '../helpers/http.js';
import { rpcValue } from '../helpers/xmlrpc.js';

function pool(app: string, spares: number, extra = ''): string {
  return `[socket:web]
bind = 127.0.0.1:0

[program:web]
worker = ${app}
sockets = web
numprocs = 2
spare_workers = ${spares}
startretries = 0
graceful_timeout = 5s
${extra}`;
}

function workerPids(run: CliRun): number[] {
  return [...run.output.matchAll(/spawned: web_\d+ with pid (\d+)/g)].map((m) => Number(m[1]));
}

interface Proc {
  readonly name: string;
  readonly state: string;
  readonly pid: number | null;
  readonly role: string | null;
}

async function processes(file: string): Promise<Proc[]> {
  const r = await runCli(['status', '--json', '-c', file]);
  return (JSON.parse(r.stdout) as { processes: Proc[] }).processes;
}

/** The running workers' pids (`role`: serving, spare, or either), once `drover status` shows none starting or stopping. */
async function settled(file: string, run: CliRun, role?: string): Promise<number[]> {
  let now: Proc[] = [];
  await waitForAsync(
    async () => {
      now = await processes(file);
      return now.every((p) => p.state !== 'starting' && p.state !== 'stopping');
    },
    'the pool to settle',
    { timeoutMs: 10_000, describe: () => `${JSON.stringify(now)}\n${run.describe()}` },
  );
  return now
    .filter((p) => p.state === 'running' && (role === undefined || p.role === role))
    .map((p) => p.pid as number)
    .sort();
}

for (const spares of [0, 1]) {
  test(`spare_workers = ${spares}: a reload whose new worker code fails to load exits 1 and names the pool; the old workers keep serving`, async () => {
    const dir = makeTmpDir();
    const broken = join(dir, 'broken.mjs');
    writeFileSync(broken, `throw new Error('broken at import');\n`);
    const file = writeConfig(dir, pool(fixture('worker-app.mjs'), spares));
    const run = await startUp(file);
    try {
      const port = Number((await run.waitForLine(/socket web: listening on 127\.0\.0\.1:(\d+)/))[1]);
      await run.waitForCount(/web_\d+: starting → running/g, 2 + spares, 15_000);
      const before = await settled(file, run);
      assert.equal(before.length, 2 + spares, run.describe());
      writeFileSync(file, pool(broken, spares));

      const text = await runCli(['reload', '-c', file], { timeoutMs: 30_000 });
      const told = `${text.output}\n${run.describe()}`;
      assert.equal(text.code, 1, told);
      assert.match(text.stdout, /^web:web: ERROR E_KEPT_OLD_WORKERS \(kept the old workers: the new ones did not get ready \(.+\)\)$/m, told);
      assert.match(text.stdout, /^reload: .*kept the old workers of web:web/m, told);
      // its worker = changed: the summary says so, not "no changes"
      assert.match(text.stdout, /^reload: 1 pool changed: web:web; kept the old workers of web:web: the new ones did not get ready$/m, told);

      const json = await runCli(['reload', '--json', '-c', file], { timeoutMs: 30_000 });
      assert.equal(json.code, 1, `${json.output}\n${run.describe()}`);
      const body = JSON.parse(json.stdout) as { ok: boolean; kept?: string[]; rolled: string[]; results: { key: string; ok: boolean; code?: string }[] };
      assert.equal(body.ok, false, json.stdout);
      assert.deepEqual(body.kept, ['web:web'], json.stdout);
      assert.deepEqual(body.rolled, [], json.stdout);
      assert.ok(body.results.some((o) => o.key === 'web:web' && !o.ok && o.code === 'E_KEPT_OLD_WORKERS'), json.stdout);

      const update = await runCli(['update', '-c', file], { timeoutMs: 30_000 });
      assert.equal(update.code, 1, `${update.output}\n${run.describe()}`);
      assert.match(update.stdout, /^web:web: ERROR E_KEPT_OLD_WORKERS \(kept the old workers: /m, update.output);
      // an update that changes the section to more broken code: the pool changed, but nothing was updated
      const broken2 = join(dir, 'broken2.mjs');
      writeFileSync(broken2, `throw new Error('broken again at import');\n`);
      writeFileSync(file, pool(broken2, spares));
      const update2 = await runCli(['update', '-c', file], { timeoutMs: 30_000 });
      assert.equal(update2.code, 1, `${update2.output}\n${run.describe()}`);
      assert.match(update2.stdout, /^web:web: ERROR E_KEPT_OLD_WORKERS \(kept the old workers: /m, update2.output);
      assert.doesNotMatch(update2.stdout, /updated worker pool/, update2.output);

      // two old workers, and only old ones, still serve (the old spare stays a spare: the test below)
      const serving = await settled(file, run, 'serving');
      assert.equal(serving.length, 2, run.describe());
      assert.ok(serving.every((pid) => before.includes(pid)), `serving ${serving.join(' ')}, old workers ${before.join(' ')}\n${run.describe()}`);
      const answer = await fetchText(port, '/');
      assert.ok(before.includes(Number(answer.body)), `answered by ${answer.body}, old workers ${before.join(' ')}`);
    } finally {
      await teardown(run, workerPids(run), dir);
    }
  });
}

// Worker pools are not diffed process by process (they are renumbered as they roll), so a reload that
// changed only a pool's keys said "no changes to the config" though it applied them.
test('a reload that changes only a worker pool\'s keys (spare_workers, max_requests) names the pool as changed, in text, --json and the log', async () => {
  const dir = makeTmpDir();
  const app = fixture('worker-app.mjs');
  const file = writeConfig(dir, pool(app, 1));
  const run = await startUp(file);
  try {
    await run.waitForCount(/web_\d+: starting → running/g, 3, 15_000);
    writeFileSync(file, pool(app, 0));
    const from = run.output.length;
    const text = await runCli(['reload', '-c', file], { timeoutMs: 30_000 });
    assert.equal(text.code, 0, `${text.output}\n${run.describe()}`);
    assert.match(text.stdout, /^reload: 1 pool changed: web:web; 1 pool\(s\) rolled: web:web$/m, `${text.output}\n${run.describe()}`);
    const done = await run.waitForLine(/reload: done \([^\n]*\)/, { from, timeoutMs: 10_000 });
    assert.match(done[0], /0 changed, 0 added, 0 removed, 1 pool changed: web:web; 1 pool\(s\) rolled: web:web/, run.describe());
    assert.deepEqual(await settled(file, run, 'spare'), [], run.describe());

    writeFileSync(file, pool(app, 0, 'max_requests = 1000\n'));
    const json = await runCli(['reload', '--json', '-c', file], { timeoutMs: 30_000 });
    assert.equal(json.code, 0, `${json.output}\n${run.describe()}`);
    const body = JSON.parse(json.stdout) as { ok: boolean; changed_pools?: string[]; rolled: string[] };
    assert.equal(body.ok, true, json.stdout);
    assert.deepEqual(body.changed_pools, ['web:web'], json.stdout);

    writeFileSync(file, pool(app, 0, 'max_requests = 2000\n'));
    const update = await runCli(['update', '-c', file], { timeoutMs: 30_000 });
    assert.equal(update.code, 0, `${update.output}\n${run.describe()}`);
    assert.match(update.stdout, /^web:web: updated worker pool$/m, update.output);

    // nothing changed: the pool still rolls (gunicorn's HUP), and the summary says the config did not change
    const same = await runCli(['reload', '-c', file], { timeoutMs: 30_000 });
    assert.equal(same.code, 0, `${same.output}\n${run.describe()}`);
    assert.match(same.stdout, /^reload: no changes to the config; 1 pool\(s\) rolled: web:web$/m, same.output);
  } finally {
    await teardown(run, workerPids(run), dir);
  }
});

// `reread` left worker pools out of its diff, as the reload did before the test above: after an edit of
// only a pool's keys it said "No config updates to processes" while `reload` and `update` named the pool.
test('reread names a group whose worker pool\'s keys changed (text and --json), and an added and a removed pool; XML-RPC reloadConfig applies a changed pool itself', async () => {
  const dir = makeTmpDir();
  const app = fixture('worker-app.mjs');
  const file = writeConfig(dir, pool(app, 1));
  const run = await startUp(file);
  try {
    await run.waitForCount(/web_\d+: starting → running/g, 3, 15_000);
    const unchanged = await runCli(['reread', '-c', file]);
    assert.equal(unchanged.code, 0, `${unchanged.output}\n${run.describe()}`);
    assert.equal(unchanged.stdout, 'No config updates to processes\n', unchanged.output);

    writeFileSync(file, pool(app, 0));
    const text = await runCli(['reread', '-c', file]);
    assert.equal(text.code, 0, `${text.output}\n${run.describe()}`);
    assert.equal(text.stdout, 'web: changed\n', `${text.output}\n${run.describe()}`);
    const json = await runCli(['reread', '--json', '-c', file]);
    assert.equal(json.code, 0, `${json.output}\n${run.describe()}`);
    const body = JSON.parse(json.stdout) as { changed: string[]; changed_pools?: string[]; processes: { changed: string[] } };
    assert.deepEqual(body.changed, ['web'], json.stdout);
    assert.deepEqual(body.changed_pools, ['web:web'], json.stdout);
    // a pool's processes are replaced as it rolls, not changed one by one
    assert.deepEqual(body.processes.changed, [], json.stdout);

    // supervisorctl's reread and update: reloadConfig rolls the pools onto the file itself, so it leaves the
    // pool out of [[added, changed, removed]], or update would stop, remove and add the group while it rolls
    const from = run.output.length;
    const answer = await rpcValue(join(dir, '.drover', 'drover.sock'), 'supervisor.reloadConfig');
    assert.deepEqual(answer, [[[], [], []]]);
    await run.waitForLine(/reload: done \(XML-RPC reloadConfig[^\n]*1 pool\(s\) rolled: web:web\)/, { from, timeoutMs: 15_000 });
    const applied = await runCli(['reread', '-c', file]);
    assert.equal(applied.stdout, 'No config updates to processes\n', `${applied.output}\n${run.describe()}`);

    // a pool that goes and one that comes, as programs do
    writeFileSync(file, pool(app, 0).replace(/web/g, 'api'));
    const moved = await runCli(['reread', '-c', file]);
    assert.equal(moved.code, 0, `${moved.output}\n${run.describe()}`);
    assert.equal(moved.stdout, 'api: available\nweb: disappeared\n', `${moved.output}\n${run.describe()}`);
  } finally {
    await teardown(run, workerPids(run), dir);
  }
});

// A helper found that with spare_workers the broken reload above lost the pool's spare: the failing new-code
// successor of serving worker web_0 held web_0's slot while it loaded, so its exit handed that slot to the
// old spare as if a serving worker had left; the roll's end then stopped an old serving worker as surplus.
// The pool served on with no spare, though a broken deploy is to keep what ran (docs/config.md).
test('spare_workers = 1: a reload whose new worker code fails to load keeps the old spare a spare; a good reload then rolls', async () => {
  const dir = makeTmpDir();
  const broken = join(dir, 'broken.mjs');
  writeFileSync(broken, `throw new Error('broken at import');\n`);
  const good = fixture('worker-app.mjs');
  const file = writeConfig(dir, pool(good, 1));
  const run = await startUp(file);
  try {
    await run.waitForCount(/web_\d+: starting → running/g, 3, 15_000);
    const serving = await settled(file, run, 'serving');
    const spare = await settled(file, run, 'spare');
    assert.equal(serving.length, 2, run.describe());
    assert.equal(spare.length, 1, run.describe());

    writeFileSync(file, pool(broken, 1));
    const from = run.output.length;
    const text = await runCli(['reload', '-c', file], { timeoutMs: 30_000 });
    assert.equal(text.code, 1, `${text.output}\n${run.describe()}`);
    const told = (): string => `${JSON.stringify(now)}\n${run.describe()}`;
    let now: Proc[] = await processes(file);
    assert.deepEqual(await settled(file, run, 'serving'), serving, `serving before: ${serving.join(' ')}\n${told()}`);
    assert.deepEqual(await settled(file, run, 'spare'), spare, `spare before: ${spare.join(' ')}\n${told()}`);
    now = await processes(file);
    assert.deepEqual(now.filter((p) => p.state !== 'running'), [], `a process left down\n${told()}`);
    assert.doesNotMatch(run.output.slice(from), /takes over/, run.describe());

    // the good code again: a normal roll, a new spare and new serving workers
    writeFileSync(file, pool(good, 1));
    const back = await runCli(['reload', '-c', file], { timeoutMs: 30_000 });
    assert.equal(back.code, 0, `${back.output}\n${run.describe()}`);
    const servingAfter = await settled(file, run, 'serving');
    const spareAfter = await settled(file, run, 'spare');
    now = await processes(file);
    assert.equal(servingAfter.length, 2, told());
    assert.equal(spareAfter.length, 1, told());
    assert.ok([...servingAfter, ...spareAfter].every((pid) => !serving.includes(pid) && !spare.includes(pid)), `old ${[...serving, ...spare].join(' ')}, now ${[...servingAfter, ...spareAfter].join(' ')}\n${told()}`);
  } finally {
    await teardown(run, workerPids(run), dir);
  }
});
