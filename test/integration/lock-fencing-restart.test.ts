// Fencing tokens across masters (docs/shared.md "Locks", docs/decisions.md "Fencing tokens"): a store that
// refuses writes with a token older than one it has seen must never see a legitimate new holder's token go
// down. So the tokens a master grants are above those of any master before it — after `drover down` and
// `drover up` (with a journal, whose queues and state carry on) and after a USR2 re-exec.
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { type CliRun, livePids, makeTmpDir, runCli, startUp, teardown, writeConfig } from '../helpers/drover.js';
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
