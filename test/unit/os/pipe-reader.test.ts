// Output pipes are read through one epoll set waited on off the main thread (src/os/poller.ts): reads
// arrive in order, pause stops them and resume restarts them, the writers' close ends the reader ('end',
// then 'close', the fd closed), and a process whose readers are done, or that calls process.exit with one
// still open, exits at once (a wait in progress holds a thread of libuv's pool, which Node joins on exit).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, fstatSync, writeSync } from 'node:fs';
import { test } from 'node:test';
import { outputPipe, PipeReader } from '../../../src/os/pipe-reader.js';
import { sharedPoller } from '../../../src/os/poller.js';
import { assertStaysFor, waitForCondition } from '../../helpers/drover.js';

test('reads arrive in order; paused, nothing is read; resumed, the rest comes; the writer closing ends it', async () => {
  const p = outputPipe(null);
  const reader = new PipeReader(p.readFd);
  const got: string[] = [];
  const events: string[] = [];
  reader.on('data', (chunk) => got.push(chunk.toString()));
  reader.on('end', () => events.push('end'));
  reader.on('close', () => events.push('close'));
  writeSync(p.writeFd, 'one\n');
  await waitForCondition(() => got.join('') === 'one\n', 'the first write', { describe: () => JSON.stringify(got) });
  writeSync(p.writeFd, 'two\n');
  writeSync(p.writeFd, 'three\n');
  await waitForCondition(() => got.join('') === 'one\ntwo\nthree\n', 'the next writes', { describe: () => JSON.stringify(got) });

  reader.pause();
  writeSync(p.writeFd, 'held\n');
  await assertStaysFor(150, () => got.join('') === 'one\ntwo\nthree\n', 'a paused reader to read nothing');
  reader.resume();
  await waitForCondition(() => got.join('').endsWith('held\n'), 'what was written while paused', { describe: () => JSON.stringify(got) });

  closeSync(p.writeFd);
  await waitForCondition(() => events.length === 2, "'end' and 'close'", { describe: () => JSON.stringify(events) });
  assert.deepEqual(events, ['end', 'close']);
  assert.throws(() => fstatSync(p.readFd), { code: 'EBADF' }, 'the reader closed its fd');
  assert.equal(sharedPoller().size, 0, 'the pipe left the set');
});

test('a pipe written faster than it is read delivers every byte once, and destroy closes it at once', async () => {
  const p = outputPipe(null);
  const reader = new PipeReader(p.readFd);
  let bytes = 0;
  reader.on('data', (chunk) => (bytes += chunk.length));
  const block = Buffer.alloc(60_000, 'x');
  // a blocking writer in a child fills the pipe over and over
  const writer = spawn(process.execPath, ['-e', `const b = Buffer.alloc(60000, 'x'); for (let i = 0; i < 100; i++) require('fs').writeSync(1, b);`], { stdio: ['ignore', p.writeFd, 'inherit'] });
  const writerExit = new Promise((resolve) => writer.once('exit', resolve));
  closeSync(p.writeFd);
  let closed = false;
  reader.on('close', () => (closed = true));
  await waitForCondition(() => closed, 'the end of 6 MB', { timeoutMs: 20_000, describe: () => `${bytes} bytes` });
  assert.equal(bytes, block.length * 100);
  await writerExit;

  const q = outputPipe(null);
  const other = new PipeReader(q.readFd);
  let otherClosed = false;
  other.on('close', () => (otherClosed = true));
  other.destroy();
  assert.throws(() => fstatSync(q.readFd), { code: 'EBADF' });
  await waitForCondition(() => otherClosed, "'close' after destroy");
  closeSync(q.writeFd);
});

/** Runs a module script in a new Node; resolves to its exit code and how long it took, in ms. */
function runScript(body: string): Promise<{ code: number | null; ms: number; stderr: string }> {
  const url = new URL('../../../src/os/pipe-reader.js', import.meta.url).href;
  const started = Date.now();
  const child = spawn(process.execPath, ['--input-type=module', '-e', `import { outputPipe, PipeReader } from ${JSON.stringify(url)};\n${body}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, ms: Date.now() - started, stderr })));
}

test('a process exits by itself once its readers have ended, and at once on process.exit with one still open', async () => {
  const ended = await runScript(`
    import { closeSync, writeSync } from 'node:fs';
    const p = outputPipe(null);
    const r = new PipeReader(p.readFd);
    r.on('data', () => {});
    writeSync(p.writeFd, 'x');
    closeSync(p.writeFd);`);
  assert.equal(ended.code, 0, ended.stderr);
  // the set's wait is bounded at 10 s: a waiter left waiting would show as an exit that slow
  assert.ok(ended.ms < 5000, `exited after ${ended.ms} ms`);

  const open = await runScript(`
    const p = outputPipe(null);
    new PipeReader(p.readFd).on('data', () => {});
    setTimeout(() => process.exit(7), 50);`);
  assert.equal(open.code, 7, open.stderr);
  assert.ok(open.ms < 5000, `exited after ${open.ms} ms`);
});

test('listeners of one event are called in the order they were added; an error without a listener is dropped', async () => {
  const p = outputPipe(null);
  const reader = new PipeReader(p.readFd);
  const calls: string[] = [];
  reader.on('end', () => calls.push('end 1'));
  reader.on('close', () => calls.push('close 1'));
  reader.on('end', () => calls.push('end 2'));
  reader.on('close', () => calls.push('close 2'));
  closeSync(p.writeFd);
  await waitForCondition(() => calls.length === 4, 'end and close', { describe: () => JSON.stringify(calls) });
  assert.deepEqual(calls, ['end 1', 'end 2', 'close 1', 'close 2']);
});
