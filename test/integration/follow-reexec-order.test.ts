// The follow across a USR2 against a stand-in for drover's control socket, to order its events exactly as
// a busy program makes them: the new master's `start` and its first output arrive in one chunk. What the
// files got during the hand-over (read with GET /api/logs/read) must come before that output, and a read
// that fails must be said, not crash the CLI with a stack trace.
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { CliRun, makeTmpDir } from '../helpers/drover.js';

/** A control socket that ends the first follow as a re-exec does and answers the gap read with `gap`. */
async function standIn(socket: string, gap: { status: number; data: string; body: object }): Promise<() => void> {
  let follows = 0;
  let second: ServerResponse | null = null;
  const at = (offset: number): object[] => [{ name: 'x:x', stream: 'stdout', position: { file: '1:2', offset } }];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    // into a pipe `tail -f` asks for bytes, in base64
    const b64 = url.searchParams.get('encoding') === 'base64';
    const text = (t: string): string => JSON.stringify(b64 ? Buffer.from(t).toString('base64') : t);
    if (url.pathname === '/api/logs/follow') {
      follows++;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      if (follows === 1) {
        res.end(`: following\n\nevent: start\ndata: ${JSON.stringify({ logs: at(6) })}\n\ndata: ${text('line1\n')}\n\nevent: end\ndata: ${JSON.stringify({ reason: 'reexec', logs: at(6) })}\n\n`);
      } else {
        second = res;
        res.write(`: following\n\nevent: start\ndata: ${JSON.stringify({ logs: at(12) })}\n\ndata: ${text('line3\n')}\n\n`);
      }
      return;
    }
    if (url.pathname === '/api/logs/read') {
      const body = gap.status === 200 ? { ok: true, process: 'x:x', data: JSON.parse(text(gap.data)) as string, ...(b64 ? { encoding: 'base64' } : {}) } : gap.body;
      res.writeHead(gap.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
      // the new master stops once the gap has been asked for: the follow then ends as at a shutdown
      second?.end('event: end\ndata: {"reason":"shutdown"}\n\n');
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ok: false, code: 'E_NOT_FOUND', message: `no ${url.pathname}` }));
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  return () => {
    server.closeAllConnections();
    server.close();
  };
}

test('the gap read at a hand-over comes before the new master\'s first output, even in the same chunk as its start', async () => {
  const socket = join(makeTmpDir(), 'ctl.sock');
  const close = await standIn(socket, { status: 200, data: 'line2\n', body: {} });
  const tail = new CliRun(['tail', '-f', 'x', '-s', `unix://${socket}`]);
  try {
    const exit = await tail.waitForExit(20_000);
    assert.equal(exit.code, 0, tail.describe());
    assert.equal(tail.stdout, 'line1\nline2\nline3\n', tail.describe());
  } finally {
    close();
  }
});

test('a gap read that fails is said on stderr, and the follow goes on', async () => {
  const socket = join(makeTmpDir(), 'ctl.sock');
  const close = await standIn(socket, { status: 400, data: '', body: { ok: false, code: 'E_BAD_ARGUMENTS', message: 'no such range' } });
  const tail = new CliRun(['tail', '-f', 'x', '-s', `unix://${socket}`]);
  try {
    const exit = await tail.waitForExit(20_000);
    assert.equal(exit.code, 0, tail.describe());
    assert.equal(tail.stdout, 'line1\nline3\n', tail.describe());
    assert.match(tail.stderr, /6 bytes of x:x stdout written while the new master took over could not be read: .*no such range.* \(the log file has them\)/, tail.describe());
    assert.doesNotMatch(tail.stderr, /\n\s+at /, tail.describe());
  } finally {
    close();
  }
});
