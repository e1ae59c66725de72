// The access log of an HTTP worker (`access_log = true`): one line per request, written to the worker's
// stdout once the response has ended, so it lands in the program's stdout_logfile and follows its
// rotation, USR1 reopen and `drover tail`. The format takes gunicorn's atoms (`%(h)s`, `%(r)s`,
// `%({user-agent}i)s`, …), so a gunicorn access_log_format carries over; an atom it does not know prints
// `-`, as gunicorn does.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

/** gunicorn's default format */
export const DEFAULT_ACCESS_LOG_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"';

/** What one atom prints, from the request, its response, the body bytes sent and the time taken. */
type Atom = (r: Finished) => string;

interface Finished {
  readonly req: IncomingMessage;
  /** the status sent, CLIENT_CLOSED when none was */
  readonly status: number;
  /** a response header as sent; undefined for a connection the app took over */
  readonly header: (name: string) => string | number | readonly string[] | undefined;
  /** the client's address, read as the request came: a socket gone by the log line has none */
  readonly remoteAddress: string | undefined;
  readonly startedAt: Date;
  readonly elapsedNs: bigint;
  readonly sent: number;
}

/** Starts an access log in `format`: call the result as each request arrives. */
export function accessLog(format: string, write: (line: string) => void = writeStdout): (req: IncomingMessage, res: ServerResponse) => void {
  const parts = compile(format);
  return (req, res) => {
    const remoteAddress = req.socket.remoteAddress;
    const startedAt = new Date();
    const start = process.hrtime.bigint();
    let sent = 0;
    // the body bytes the app writes (gunicorn's "response length"): counted at the write, as no counter
    // of Node's separates them from the head and the chunk framing
    onWrites(res, (chunk, encoding) => (sent += byteLength(chunk, encoding)));
    // 'close' comes once the response has ended, or the connection went away before it did
    res.once('close', () => {
      const status = res.headersSent ? res.statusCode : CLIENT_CLOSED;
      const header = (name: string) => res.getHeader(name);
      write(render(parts, { req, status, header, remoteAddress, startedAt, elapsedNs: process.hrtime.bigint() - start, sent }));
    });
  };
}

/**
 * The access log of requests whose connection the app takes over ('upgrade': a WebSocket; 'connect'): one
 * line when the connection closes, its status read from the head the app writes on it (101), 499 when it
 * wrote none, the bytes it wrote after that head, and the time the connection lasted.
 */
export function accessLogTakenOver(format: string, write: (line: string) => void = writeStdout): (req: IncomingMessage, socket: Duplex) => void {
  const parts = compile(format);
  return (req, socket) => {
    const remoteAddress = req.socket.remoteAddress;
    const startedAt = new Date();
    const start = process.hrtime.bigint();
    let status = CLIENT_CLOSED;
    let sent = 0;
    let head = true;
    onWrites(socket, (chunk, encoding) => {
      const n = byteLength(chunk, encoding);
      if (!head || n === 0) return void (sent += n);
      head = false;
      // the head: its status line, and the bytes after its blank line (all of it is the head when the
      // blank line comes in a later write: those are then counted in full)
      const text = typeof chunk === 'string' ? chunk.slice(0, HEAD_MAX) : Buffer.from((chunk as Uint8Array).subarray(0, HEAD_MAX)).toString('latin1');
      const m = /^HTTP\/\d(?:\.\d)? (\d{3})\b/.exec(text);
      if (m === null) return void (sent += n);
      status = Number(m[1]);
      const end = text.indexOf('\r\n\r\n');
      if (end >= 0) sent += n - Buffer.byteLength(text.slice(0, end + 4), 'latin1');
    });
    socket.once('close', () => {
      write(render(parts, { req, status, header: () => undefined, remoteAddress, startedAt, elapsedNs: process.hrtime.bigint() - start, sent }));
    });
  };
}

// --- internal ---

/** How much of the first write on a taken-over connection is searched for the end of its head */
const HEAD_MAX = 8192;

/** Calls `seen` with each chunk written to `stream` (write and end), before it is written. */
function onWrites(stream: ServerResponse | Duplex, seen: (chunk: unknown, encoding: unknown) => void): void {
  const write0 = stream.write as (...a: unknown[]) => boolean;
  const end0 = stream.end as (...a: unknown[]) => unknown;
  stream.write = function (this: unknown, chunk: unknown, ...rest: unknown[]) {
    seen(chunk, rest[0]);
    return write0.call(this, chunk, ...rest);
  } as typeof stream.write;
  stream.end = function (this: unknown, chunk?: unknown, ...rest: unknown[]) {
    if (typeof chunk !== 'function') seen(chunk, rest[0]);
    return end0.call(this, chunk, ...rest);
  } as typeof stream.end;
}

function render(parts: readonly (string | Atom)[], done: Finished): string {
  let line = '';
  for (const p of parts) line += typeof p === 'string' ? p : p(done);
  return line;
}

function writeStdout(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** `%(name)s` (or `d`) pieces and the text between them; `%%` is a percent sign. */
function compile(format: string): (string | Atom)[] {
  const parts: (string | Atom)[] = [];
  const re = /%%|%\(([^)]*)\)[sd]/g;
  let last = 0;
  for (let m = re.exec(format); m !== null; m = re.exec(format)) {
    if (m.index > last) parts.push(format.slice(last, m.index));
    parts.push(m[0] === '%%' ? '%' : atom(m[1] as string));
    last = m.index + m[0].length;
  }
  if (last < format.length) parts.push(format.slice(last));
  return parts;
}

function atom(name: string): Atom {
  const header = /^\{([^}]+)\}([io])$/.exec(name);
  if (header) {
    const key = (header[1] as string).toLowerCase();
    return header[2] === 'i' ? (r) => show(r.req.headers[key]) : (r) => show(r.header(key));
  }
  return ATOMS[name] ?? (() => '-');
}

/**
 * The status of a request whose client went away before a response was begun: res.statusCode would say
 * 200, which no client got. nginx's 499 "client closed request" (gunicorn has none; docs/decisions.md).
 */
const CLIENT_CLOSED = 499;

const ATOMS: Readonly<Record<string, Atom>> = {
  h: (r) => r.remoteAddress ?? '-',
  l: () => '-',
  u: (r) => basicUser(r.req.headers.authorization),
  t: (r) => `[${clfTime(r.startedAt)}]`,
  r: (r) => `${r.req.method ?? '-'} ${r.req.url ?? '-'} HTTP/${r.req.httpVersion}`,
  m: (r) => r.req.method ?? '-',
  U: (r) => (r.req.url ?? '').split('?', 1)[0] as string,
  q: (r) => {
    const url = r.req.url ?? '';
    const i = url.indexOf('?');
    return i < 0 ? '' : url.slice(i + 1);
  },
  H: (r) => `HTTP/${r.req.httpVersion}`,
  s: (r) => String(r.status),
  B: (r) => String(r.sent),
  b: (r) => String(r.sent),
  f: (r) => show(r.req.headers.referer),
  a: (r) => show(r.req.headers['user-agent']),
  T: (r) => String(r.elapsedNs / 1_000_000_000n),
  M: (r) => String(r.elapsedNs / 1_000_000n),
  D: (r) => String(r.elapsedNs / 1_000n),
  L: (r) => {
    const us = r.elapsedNs / 1_000n;
    return `${us / 1_000_000n}.${String(us % 1_000_000n).padStart(6, '0')}`;
  },
  p: () => `<${process.pid}>`,
};

function show(v: string | number | readonly string[] | undefined): string {
  if (v === undefined || v === '') return '-';
  return Array.isArray(v) ? v.join(', ') : String(v);
}

/** The user name of a Basic Authorization header, as gunicorn logs it; `-` otherwise. */
function basicUser(auth: string | undefined): string {
  const m = auth ? /^basic\s+(\S+)$/i.exec(auth) : null;
  if (!m) return '-';
  const decoded = Buffer.from(m[1] as string, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon > 0 ? decoded.slice(0, colon) : '-';
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Common Log Format's time, in local time with its offset: 05/Dec/2026:23:50:01 +0000 */
function clfTime(d: Date): string {
  const two = (n: number) => String(n).padStart(2, '0');
  const offset = -d.getTimezoneOffset();
  const sign = offset < 0 ? '-' : '+';
  const abs = Math.abs(offset);
  return `${two(d.getDate())}/${MONTHS[d.getMonth()]}/${d.getFullYear()}:${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())} ${sign}${two(Math.floor(abs / 60))}${two(abs % 60)}`;
}

function byteLength(chunk: unknown, encoding: unknown): number {
  if (chunk === undefined || chunk === null) return 0;
  if (typeof chunk === 'string') return Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
  if (chunk instanceof Uint8Array) return chunk.byteLength;
  return 0;
}
