// supervisorctl's HTTP client (tail -f, fg) writes a process name into the request line as raw UTF-8
// (`GET /logtail/h\xc3\xa9llo/stdout HTTP/1.1`), which supervisord's medusa takes; Node's HTTP parser
// answers 400 before any handler runs, and its only way round is insecureHTTPParser, which loosens the
// header rules too (docs/security.md, section 24). So the first request line of each connection is read
// here before the parser sees it, bytes >= 0x80 in its target become their percent-encoding (what a
// client that follows RFC 3986 sends, and what the routes decode), and the bytes go back onto the socket
// for the parser, unchanged otherwise. A connection whose line was changed is closed after its answer:
// only the first line is looked at, and the client's next request then comes on a new connection.
// Node's headersTimeout starts when the parser sees the first byte, that is at the hand-off: a client that
// sends its line just before the deadline and then trickles headers would be held twice headersTimeout.
// So the deadline of the first request's headers is kept here, from the connection's start, until Node
// emits its 'request'; the requests after it on a keep-alive connection are Node's alone.
import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';

/** Most bytes read ahead for a request line; past it the bytes go to the parser as they are (it refuses). */
const MAX_REQUEST_LINE_BYTES = 16 * 1024;

/**
 * Takes over `server`'s connections: `onConnection` sees each at once (tracking, admission; false: it closed
 * it, nothing more is done with it); Node's HTTP
 * parser gets it once its first request line is in, with that line's target percent-encoded where it held
 * raw bytes >= 0x80. Returns the sockets whose line was changed (to be closed after their answer).
 * A connection whose first request's headers are not complete within the server's headersTimeout (from
 * its start) is closed.
 */
export function encodeRawTargets(server: Server, onConnection: (sock: Socket) => boolean): WeakSet<Socket> {
  const changed = new WeakSet<Socket>();
  /** the deadline of each connection's first request headers, until that request comes */
  const firstDeadline = new WeakMap<Socket, NodeJS.Timeout>();
  const headersCame = (sock: Socket): void => {
    clearTimeout(firstDeadline.get(sock));
    firstDeadline.delete(sock);
  };
  server.on('request', (req: IncomingMessage) => headersCame(req.socket));
  // http.Server installs its own connection listener, which attaches the parser; it runs later, from here
  const parsers = server.listeners('connection');
  server.removeAllListeners('connection');
  server.on('connection', (sock: Socket) => {
    if (!onConnection(sock)) return; // refused (and closed) by the caller
    const timeoutMs = server.headersTimeout > 0 ? server.headersTimeout : 10_000;
    // Nothing written means nothing answered: a request Node answers itself without a 'request' event
    // (417 to an Expect it cannot meet) is past its headers, and its connection is not cut here
    const timer = setTimeout(() => {
      firstDeadline.delete(sock);
      if (sock.bytesWritten === 0) sock.destroy();
    }, timeoutMs);
    firstDeadline.set(sock, timer);
    sock.once('close', () => headersCame(sock));
    readRequestLine(sock, (head) => {
      const encoded = encodeRawTarget(head);
      if (encoded !== null) changed.add(sock);
      // paused, so that what goes back is read by the parser's data listener only once it is attached
      sock.pause();
      if (head.length > 0) sock.unshift(encoded ?? head);
      for (const parse of parsers) Reflect.apply(parse, server, [sock]);
      sock.resume();
    });
  });
  return changed;
}

/**
 * The first request line of `head` (after any empty lines) with bytes >= 0x80 between its first and last
 * space percent-encoded, and the rest of `head` after it as it is; null when there is nothing to change
 * (no complete line, no such byte, or no target).
 */
export function encodeRawTarget(head: Buffer): Buffer | null {
  let start = 0;
  while (head[start] === 0x0d || head[start] === 0x0a) start += 1;
  const eol = head.indexOf(0x0a, start);
  if (eol < 0) return null;
  const lineEnd = eol > start && head[eol - 1] === 0x0d ? eol - 1 : eol;
  const from = head.indexOf(0x20, start);
  const to = lineEnd > 0 ? head.lastIndexOf(0x20, lineEnd - 1) : -1;
  if (from < 0 || from >= lineEnd || to <= from) return null;
  let raw = 0;
  for (let i = from + 1; i < to; i += 1) if ((head[i] as number) >= 0x80) raw += 1;
  if (raw === 0) return null;
  const out = Buffer.allocUnsafe(head.length + 2 * raw);
  let o = head.copy(out, 0, 0, from + 1);
  for (let i = from + 1; i < to; i += 1) {
    const b = head[i] as number;
    if (b < 0x80) out[o++] = b;
    else o += out.write(`%${b.toString(16).toUpperCase()}`, o, 'latin1');
  }
  head.copy(out, o, to);
  return out;
}

// --- internal ---

/**
 * Reads `sock` until its first request line is complete (or MAX_REQUEST_LINE_BYTES have come), then calls
 * `done` with everything read, from within the data event. A connection that ends or fails before is closed
 * (there is no request to answer yet); the caller's deadline closes one that sends too slowly.
 */
function readRequestLine(sock: Socket, done: (head: Buffer) => void): void {
  let head = Buffer.alloc(0);
  const stop = (): void => {
    sock.off('data', onData);
    sock.off('end', onGone);
    sock.off('error', onGone);
    sock.off('close', onGone);
  };
  // before the parser's listeners are there, an error (ECONNRESET) must not go unheard: it would be thrown
  const onGone = (): void => {
    stop();
    sock.destroy();
  };
  const onData = (chunk: Buffer): void => {
    head = Buffer.concat([head, chunk]);
    if (!hasLine(head) && head.length < MAX_REQUEST_LINE_BYTES) return;
    stop();
    done(head);
  };
  sock.on('data', onData);
  sock.once('end', onGone);
  sock.once('error', onGone);
  sock.once('close', onGone);
}

/** Whether `head` holds a line end after its leading empty lines. */
function hasLine(head: Buffer): boolean {
  let start = 0;
  while (head[start] === 0x0d || head[start] === 0x0a) start += 1;
  return head.indexOf(0x0a, start) >= 0;
}
