// Fencing tokens across masters (docs/shared.md "Locks", docs/decisions.md "Fencing tokens"): a store that
// refuses writes with a token older than one it has seen must never see a legitimate new holder's token go
// down. So the tokens a master grants are above those of any master before it — after `drover down` and
// `drover up` (with a journal, whose queues and state carry on) and after a USR2 re-exec. And without a
// journal, a re-exec'd master grants no lock while the old master's worker may still hold it.
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { assertStaysFor, type CliRun, livePids, makeTmpDir, runCli, startUp, teardown, writeConfig } from '../helpers/drover.js';
import { linkDrover } from '../helpers/shared.js';

// takes and gives back lock F three times, logging each token with the master it runs under
const CYCLER = `import { defineWorker } from 'drover';
export default defineWorker({
  async run(ctx) {
    for (let i = 0; i < 3; i++) {
      const l = await ctx.lock('F');
      ctx.log('master ' + process.ppid + ' F token ' + l.token);
      await l.release();
    }
    await new Promise((r) => ctx.signal.addEventListener('abort', r));
  },
});
`;

// Under the first master (OLD exists at load) GET /hold takes L and keeps it until the worker gets
// SIGUSR2 from the test; under the new master GET /take takes L, logs when, and gives it back. The old
// worker turns /take away (503), so the test knows which master's worker answered.
const WEB = `import { existsSync } from 'node:fs';
import { lock } from 'drover';
const old = existsSync(process.env.OLD);
export default async (req, res) => {
  if (req.url === '/hold' && old) {
    const l = await lock('L');
    console.log('old worker ' + process.pid + ' holds L token ' + l.token);
    await new Promise((r) => process.once('SIGUSR2', r));
    const at = Date.now();
    await l.release();
    console.log('old worker released L at ' + at);
    return res.end('released');
  }
  if (req.url === '/take' && !old) {
    console.log('new worker ' + process.pid + ' asks for L');
    const l = await lock('L');
    console.log('new worker got L token ' + l.token + ' at ' + Date.now());
    await l.release();
    return res.end(String(l.token));
  }
  res.statusCode = 503;
  res.end(old ? 'old' : 'new');
};
`;

/** Every pid drover logged as spawned, and the new master's, for teardown. */
function spawned(run: CliRun): number[] {
  return [
    ...[...run.output.matchAll(/spawned: \w+ with pid (\d+)/g)].map((m) => Number(m[1])),
    ...[...run.output.matchAll(/the new master \(pid (\d+)\)/g)].map((m) => Number(m[1])),
  ];
}

/** The three F tokens the cycler logged under master `pid`, from `from` on in the output. */
async function tokensUnder(run: CliRun, pid: number, from: number): Promise<number[]> {
  const re = new RegExp(`master ${pid} F token (\\d+)`, 'g');
  await run.waitUntil(() => ([...run.output.slice(from).matchAll(re)].length >= 3 ? true : null), `three F tokens under master ${pid}`, 15_000);
  return [...run.output.slice(from).matchAll(re)].map((m) => Number(m[1]));
}

function fetchBody(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

test('with a journal, the fencing tokens of each new master are above the last one granted before: down and up, then USR2', async () => {
  const dir = makeTmpDir();
  linkDrover(dir);
  mkdirSync(join(dir, 'data'));
  writeFileSync(join(dir, 'cycler.mjs'), CYCLER);
  const conf = writeConfig(dir, `[supervisord]\njournal = data/journal.jsonl\n\n[program:cycler]\nworker = ${join(dir, 'cycler.mjs')}\nstartsecs = 0\n`);
  let run = await startUp(conf);
  const runs = [run];
  try {
    const first = await tokensUnder(run, run.pid, 0);
    assert.ok(first[0]! < first[1]! && first[1]! < first[2]!, `tokens grow within a master: ${first.join(',')}`);
    const down = await runCli(['down', '-c', conf]);
    assert.equal(down.code, 0, down.output);
    await run.waitForExit(15_000);

    run = await startUp(conf);
    runs.push(run);
    const second = await tokensUnder(run, run.pid, 0);
    assert.ok(second[0]! > first[2]!, `after down and up: ${second.join(',')} must be above ${first.join(',')}\n${run.describe()}`);

    const from = run.output.length;
    run.signal('SIGUSR2');
    const newMaster = Number((await run.waitForLine(/the new master \(pid (\d+)\) is ready/, { from, timeoutMs: 20_000 }))[1]);
    await run.waitForExit(20_000, { drained: false });
    // the new master shares the old one's stdout; its cycler starts once the old master has gone
    const third = await tokensUnder(run, newMaster, from);
    assert.ok(third[0]! > second[2]!, `after USR2: ${third.join(',')} must be above ${second.join(',')}\n${run.describe()}`);
    const stop = await runCli(['down', '-c', conf]);
    assert.equal(stop.code, 0, stop.output);
    await run.waitUntil(() => (livePids([newMaster]).length === 0 ? true : null), 'the new master to exit', 15_000);
  } finally {
    for (const r of runs) await teardown(r, spawned(r));
    rmSync(dir, { recursive: true, force: true });
  }
});

test('without a journal, USR2: the new master grants a lock the old master\'s worker holds only once the old master has gone, with a greater token', async () => {
  const dir = makeTmpDir();
  linkDrover(dir);
  const oldFlag = join(dir, 'old');
  writeFileSync(oldFlag, '');
  writeFileSync(join(dir, 'web.mjs'), WEB);
  const conf = writeConfig(
    dir,
    `[socket:web]\nbind = 127.0.0.1:0\n\n[program:web]\nworker = ${join(dir, 'web.mjs')}\nsockets = web\nnumprocs = 1\ngraceful_timeout = 60s\nenvironment = OLD="${oldFlag}"\n`,
  );
  const run = await startUp(conf);
  try {
    const port = Number((await run.waitForLine(/socket web: listening on 127\.0\.0\.1:(\d+)/))[1]);
    await run.waitForLine(/web_0: starting → running/);
    const hold = fetchBody(port, '/hold');
    const held = await run.waitForLine(/old worker (\d+) holds L token (\d+)/);
    const oldWorker = Number(held[1]);
    const oldToken = Number(held[2]);
    rmSync(oldFlag);
    const from = run.output.length;
    run.signal('SIGUSR2');
    await run.waitForLine(/the new master \(pid (\d+)\) is ready/, { from, timeoutMs: 20_000 });

    // the old worker drains (it still serves /hold) and turns /take away: ask until a new worker has it
    let take: Promise<{ status: number; body: string }> | null = null;
    for (let i = 0; take === null; i++) {
      assert.ok(i < 500, `no new worker took /take\n${run.describe()}`);
      let answer: { status: number; body: string } | null = null;
      const attempt = fetchBody(port, '/take').then((r) => (answer = r));
      const asked = await run.waitUntil(() => (run.count(/new worker \d+ asks for L/g) > 0 ? true : answer !== null ? false : null), '/take answered or asked for L', 10_000);
      if (asked || (answer as { status: number } | null)?.status !== 503) take = attempt;
      else await new Promise((r) => setTimeout(r, 10));
    }
    // the old worker still holds L: the new master must not grant it meanwhile
    await assertStaysFor(1000, () => !/new worker got L/.test(run.output.slice(from)), 'L not granted to the new worker while the old one holds it').catch((err: Error) => {
      throw new Error(`${err.message}\n${run.describe()}`);
    });
    process.kill(oldWorker, 'SIGUSR2');
    assert.equal((await hold).body, 'released');
    const releasedAt = Number((await run.waitForLine(/old worker released L at (\d+)/, { from }))[1]);
    await run.waitForExit(20_000, { drained: false });
    const answer = await take;
    const got = await run.waitForLine(/new worker got L token (\d+) at (\d+)/, { from });
    assert.equal(answer.status, 200, answer.body);
    assert.ok(Number(got[2]) >= releasedAt, `granted at ${got[2]}, before the old holder released it at ${releasedAt}\n${run.describe()}`);
    assert.ok(Number(got[1]) > oldToken, `the new master's token ${got[1]} is above the old master's ${oldToken}\n${run.describe()}`);
  } finally {
    await teardown(run, spawned(run), dir);
  }
});
