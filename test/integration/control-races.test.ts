// Control commands at awkward moments (found by an audit that ran them concurrently):
// - a stop while a process is being stopped for failing its health check was dropped (the process started
//   again, the CLI hung), and a start then hung for good (the process went from stopping to starting);
// - a start waiting for a process to stop raced with an update dropping or changing it: the start won, and
//   left a process drover no longer tracked, or running its old command;
// - an update started again a changed program an operator was stopping;
// - start --no-wait of a stopping process waited for the whole stop.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { CliRun, livePids, makeTmpDir, runCli, startUp, teardown, writeConfig } from '../helpers/drover.js';

const SPAWNED = (name: string): RegExp => new RegExp(`spawned: ${name} with pid (\\d+)`, 'g');

function pids(run: CliRun): number[] {
  return [...run.output.matchAll(/spawned: \S+ with pid (\d+)/g)].map((m) => Number(m[1]));
}

/**
 * POSTs to drover's JSON API; resolves with the request's answer. `sent` resolves once the request has been
 * written whole, so a request sent after it reaches drover after this one.
 */
function apiPost(dir: string, path: string, body: object): { sent: Promise<void>; answer: Promise<{ status: number; body: string }> } {
  let sent!: () => void;
  const written = new Promise<void>((resolve) => (sent = resolve));
  const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request({ socketPath: join(dir, '.drover', 'drover.sock'), path, method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.on('finish', sent);
    req.end(JSON.stringify(body));
  });
  return { sent: written, answer };
}

/** A program that takes `secs` to stop after TERM: it says when the TERM came, so the test knows it is stopping. */
function slowStopper(dir: string, secs: number): string {
  const file = join(dir, 'slowstop.sh');
  writeFileSync(file, `#!/bin/sh\ntrap 'echo got TERM; sleep ${secs}; exit 0' TERM\necho up\nwhile :; do sleep 1; done\n`, { mode: 0o755 });
  return file;
}

test('a stop while a process is being stopped for being unhealthy stops it for good; a start then returns', async () => {
  const dir = makeTmpDir();
  const conf = writeConfig(
    dir,
    `[program:sick]
command = ${slowStopper(dir, 1)}
startsecs = 0
stopwaitsecs = 10
healthcheck = exec:/bin/false
healthcheck_interval = 1s
healthcheck_retries = 1
stdout_logfile = /dev/stdout
`,
  );
  const run = await startUp(conf);
  try {
    await run.waitForLine(/sick: running → stopping \(unhealthy/, { timeoutMs: 15_000 });
    await run.waitForLine(/sick \| got TERM/);
    const stop = await runCli(['stop', '-c', conf, 'sick'], { timeoutMs: 10_000 });
    assert.equal(stop.code, 0, `${stop.output}\n${run.describe()}`);
    const status = await runCli(['status', '-c', conf, 'sick']);
    assert.match(status.stdout, /sick\s+stopped/i, `${status.output}\n${run.describe()}`);
    assert.equal(run.count(SPAWNED('sick')), 1, `not started again after the stop:\n${run.describe()}`);

    // a start while it is stopping for being unhealthy: the process goes on to starting, and the start returns
    const start = await runCli(['start', '-c', conf, 'sick'], { timeoutMs: 10_000 });
    assert.equal(start.code, 0, `${start.output}\n${run.describe()}`);
    await run.waitForCount(/sick: running → stopping \(unhealthy/g, 2, 15_000);
    await run.waitForCount(/sick \| got TERM/g, 2);
    const during = await runCli(['start', '-c', conf, 'sick'], { timeoutMs: 10_000 });
    assert.equal(during.code, 0, `a start during the unhealthy stop returns: ${during.output}\n${run.describe()}`);
    await run.waitForLine(/sick: stopping → starting .*started again \(it was unhealthy\)/);
  } finally {
    await teardown(run, pids(run), dir);
  }
});

test('a start waiting for a stop, then an update that removes the program: nothing is left running; one that changes it: the new command runs', async () => {
  const dir = makeTmpDir();
  const script = slowStopper(dir, 1);
  const section = (arg: string): string => `[program:slow]\ncommand = ${script} ${arg}\nstartsecs = 0\nautostart = false\nstdout_logfile = /dev/stdout\n`;
  const conf = writeConfig(dir, `[program:keep]\ncommand = /bin/sleep 1000\nstartsecs = 0\n\n${section('v1')}`);
  const run = await startUp(conf);
  try {
    // changed while a start waits
    assert.equal((await runCli(['start', '-c', conf, 'slow'])).code, 0);
    assert.equal((await runCli(['stop', '--no-wait', '-c', conf, 'slow'])).code, 0);
    await run.waitForLine(/slow \| got TERM/);
    writeFileSync(conf, readFileSync(conf, 'utf8').replace(`${script} v1`, `${script} v2`));
    const pending = apiPost(dir, '/api/start', { patterns: ['slow'] });
    await pending.sent;
    const update = await apiPost(dir, '/api/update', {}).answer;
    assert.equal(update.status, 200, `${update.body}\n${run.describe()}`);
    const started = await pending.answer;
    assert.equal(started.status, 200, `${started.body}\n${run.describe()}`);
    await run.waitForCount(SPAWNED('slow'), 2, 10_000);
    const status = await runCli(['status', '--json', '-c', conf, 'slow']);
    const [proc] = (JSON.parse(status.stdout) as { processes: { pid: number | null; state: string }[] }).processes;
    assert.equal(proc?.state, 'running', status.output);
    assert.match(readFileSync(`/proc/${proc?.pid}/cmdline`, 'utf8'), /v2/, `the running process has the new command:\n${run.describe()}`);

    // removed while a start waits
    assert.equal((await runCli(['stop', '--no-wait', '-c', conf, 'slow'])).code, 0);
    await run.waitForCount(/slow \| got TERM/g, 2);
    writeFileSync(conf, `[program:keep]\ncommand = /bin/sleep 1000\nstartsecs = 0\n`);
    const doomed = apiPost(dir, '/api/start', { patterns: ['slow'] });
    await doomed.sent;
    const removal = await apiPost(dir, '/api/update', {}).answer;
    assert.equal(removal.status, 200, `${removal.body}\n${run.describe()}`);
    const told = await doomed.answer;
    assert.match(told.body, /"ok":false.*was removed/, `the start is told the program was removed: ${told.body}`);
    assert.equal(run.count(SPAWNED('slow')), 2, `slow was not started again:\n${run.describe()}`);
    const slowPids = [...run.output.matchAll(SPAWNED('slow'))].map((m) => Number(m[1]));
    assert.deepEqual(livePids(slowPids, run.mark), [], `no slow process left:\n${run.describe()}`);
  } finally {
    await teardown(run, pids(run), dir);
  }
});

test('an update does not start again a changed program an operator is stopping; start --no-wait of a stopping process returns at once', async () => {
  const dir = makeTmpDir();
  const script = slowStopper(dir, 2);
  const conf = writeConfig(dir, `[program:slow]\ncommand = ${script} v1\nstartsecs = 0\nautostart = false\nstdout_logfile = /dev/stdout\n`);
  const run = await startUp(conf);
  try {
    assert.equal((await runCli(['start', '-c', conf, 'slow'])).code, 0);
    assert.equal((await runCli(['stop', '--no-wait', '-c', conf, 'slow'])).code, 0);
    await run.waitForLine(/slow \| got TERM/);
    writeFileSync(conf, readFileSync(conf, 'utf8').replace(`${script} v1`, `${script} v2`));
    const update = await runCli(['update', '-c', conf], { timeoutMs: 10_000 });
    assert.equal(update.code, 0, `${update.output}\n${run.describe()}`);
    const status = await runCli(['status', '-c', conf, 'slow']);
    assert.match(status.stdout, /slow\s+stopped/i, `${status.output}\n${run.describe()}`);
    assert.equal(run.count(SPAWNED('slow')), 1, run.describe());

    // start --no-wait while it stops (2 s): answered before the stop ends, and it does start after
    assert.equal((await runCli(['start', '-c', conf, 'slow'])).code, 0);
    assert.equal((await runCli(['stop', '--no-wait', '-c', conf, 'slow'])).code, 0);
    await run.waitForCount(/slow \| got TERM/g, 2);
    const quick = await runCli(['start', '--no-wait', '-c', conf, 'slow'], { timeoutMs: 10_000 });
    assert.equal(quick.code, 0, quick.output);
    assert.equal(run.count(/slow: stopping → stopped/g), 1, `answered before the stop ended:\n${run.describe()}`);
    await run.waitForCount(SPAWNED('slow'), 3, 10_000);
  } finally {
    await teardown(run, pids(run), dir);
  }
});

test('a restart whose start finds the process started by another command meanwhile exits 0 (already started), as start does', async () => {
  const dir = makeTmpDir();
  const conf = writeConfig(dir, `[program:slow]\ncommand = ${slowStopper(dir, 1)}\nstartsecs = 0\nstdout_logfile = /dev/stdout\n`);
  const run = await startUp(conf);
  try {
    await run.waitForCount(SPAWNED('slow'), 1);
    const restart = new CliRun(['restart', '-c', conf, 'slow']);
    await run.waitForLine(/slow \| got TERM/);
    // a start sent while the restart's stop runs starts the process as soon as it has stopped, ahead of the restart
    const start = await apiPost(dir, '/api/start', { patterns: ['slow'] }).answer;
    assert.equal(start.status, 200, start.body);
    const done = await restart.waitForExit(10_000);
    assert.equal(done.code, 0, `${restart.output}\n${run.describe()}`);
    assert.match(restart.output, /slow: (already started|started)/, restart.output);
    assert.equal(run.count(SPAWNED('slow')), 2, run.describe());
  } finally {
    await teardown(run, pids(run), dir);
  }
});
