// The control server reads each connection's first request line itself before Node's parser sees it
// (src/control/request-line.ts). Node's headersTimeout starts only when the parser sees that line, so a
// slowloris client that sent its line just before the pre-read's deadline and then trickled its headers
// was held about twice headersTimeout (measured 6.4 s against 3.6 s with headersTimeout 3 s). The first
// request's headers now have one deadline, from the connection's start. The server here is Node's, with
// the control server's hand-off (encodeRawTargets) and a headersTimeout short enough to test: the control
// server's own is 10 s.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { test } from 'node:test';
import { encodeRawTargets } from '../../src/control/request-line.js';
import { assertStaysFor, waitForCondition } from '../helpers/drover.js';

const HEADERS_TIMEOUT_MS = 2000;
/** the pace of the slow client's header bytes (its behaviour, not a wait on the server) */
const TRICKLE_MS = 50;

async function startServer(): Promise<{ server: Server; port: number }> {
  // Node checks its own timeouts every connectionsCheckingInterval: short, so that its headersTimeout
  // (the one the client escaped) would have acted near its time
  const server = createServer({ connectionsCheckingInterval: 50 }, (_req, res) => res.end('ok\n'));
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = 0;
  server.keepAliveTimeout = 4 * HEADERS_TIMEOUT_MS;
  encodeRawTargets(server, () => true);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  assert.ok(addr !== null && typeof addr === 'object');
  return { server, port: addr.port };
}

/** A client socket whose received bytes, close and times (since its connect) are recorded. */
async function client(port: number): Promise<{ sock: Socket; received: () => string; closedAtMs: () => number | null; sinceConnectMs: () => number }> {
  const sock = connect(port, '127.0.0.1');
  let text = '';
  let closedAt: number | null = null;
  sock.on('data', (b: Buffer) => (text += b.toString('latin1')));
  sock.on('error', () => {});
  await new Promise<void>((resolve) => sock.once('connect', resolve));
  const start = performance.now();
  sock.once('close', () => (closedAt = performance.now() - start));
  return { sock, received: () => text, closedAtMs: () => closedAt, sinceConnectMs: () => performance.now() - start };
}

test('a client that sends its first line late and trickles its headers is cut at headersTimeout from its connect, not twice that', async () => {
  const { server, port } = await startServer();
  const c = await client(port);
  let trickle: NodeJS.Timeout | null = null;
  try {
    // the line comes at nine tenths of the deadline: open until then
    await assertStaysFor(HEADERS_TIMEOUT_MS * 0.9, () => c.closedAtMs() === null, 'the connection open before its first line');
    c.sock.write('GET /status HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    trickle = setInterval(() => c.sock.write('a'), TRICKLE_MS);
    await waitForCondition(() => c.closedAtMs() !== null, 'the server to close the trickling connection', {
      timeoutMs: 4 * HEADERS_TIMEOUT_MS,
      describe: () => `received: ${JSON.stringify(c.received())}, ${Math.round(c.sinceConnectMs())} ms since connect`,
    });
    const closedAt = c.closedAtMs() as number;
    // before: Node's own headersTimeout, started at the hand-off, closed it at about 1.9 × headersTimeout
    // (half of headersTimeout left between the bound and that, for a loaded machine's late timers)
    assert.ok(closedAt < HEADERS_TIMEOUT_MS * 1.5, `closed ${Math.round(closedAt)} ms after connect; headersTimeout is ${HEADERS_TIMEOUT_MS} ms`);
    assert.ok(closedAt >= HEADERS_TIMEOUT_MS * 0.95, `closed ${Math.round(closedAt)} ms after connect, before headersTimeout (${HEADERS_TIMEOUT_MS} ms)`);
    assert.doesNotMatch(c.received(), /^HTTP\/1\.1 200/, 'no answer to a request whose headers never ended');
  } finally {
    if (trickle) clearInterval(trickle);
    c.sock.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

test('a keep-alive connection whose first request came in time is not cut at that deadline: its next request is answered', async () => {
  const { server, port } = await startServer();
  const c = await client(port);
  const answers = (): number => c.received().match(/HTTP\/1\.1 200/g)?.length ?? 0;
  const describe = (): string => `received: ${JSON.stringify(c.received())}, ${Math.round(c.sinceConnectMs())} ms since connect`;
  try {
    c.sock.write('GET /one HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitForCondition(() => answers() === 1, 'the first answer', { describe });
    await assertStaysFor(HEADERS_TIMEOUT_MS + 300, () => c.closedAtMs() === null, 'the keep-alive connection open past the first deadline');
    c.sock.write('GET /two HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitForCondition(() => answers() === 2, 'the second answer on the same connection', { describe });
  } finally {
    c.sock.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});
