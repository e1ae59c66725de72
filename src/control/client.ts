// The control client used by the CLI: JSON requests to a running drover over its unix socket or TCP,
// and the server-sent event stream.
import type { IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { DroverError } from '../errors.js';
import { unixPathProblem } from '../os/unix-path.js';
import type { Credentials } from './auth.js';
import { isJsonObject, type Check } from './check.js';

export interface Endpoint {
  /** unix socket path, or null for TCP */
  readonly socketPath: string | null;
  readonly host: string;
  readonly port: number;
  readonly credentials: Credentials | null;
  /** as given, for messages */
  readonly url: string;
  /**
   * the config file this endpoint was found from (its own control socket), sent as `x-drover-config`: the
   * drover there answers only when it runs that file (a second config in the same directory shares the
   * socket); absent for -s and a config's serverurl
   */
  readonly configFile?: string;
}

/** Parses `unix:///path.sock`, `unix:/path`, or `http://host:port`. */
export function parseServerUrl(url: string, credentials: Credentials | null = null): Endpoint {
  if (url.startsWith('unix://') || url.startsWith('unix:')) {
    const path = url.startsWith('unix://') ? url.slice('unix://'.length) : url.slice('unix:'.length);
    if (!path.startsWith('/')) throw new Error(`bad server URL ${JSON.stringify(url)}: expected unix:///absolute/path`);
    const tooLong = unixPathProblem(path);
    if (tooLong !== null) throw new Error(`bad server URL ${JSON.stringify(url)}: ${tooLong}`);
    return { socketPath: path, host: 'localhost', port: 0, credentials, url };
  }
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`bad server URL ${JSON.stringify(url)}: expected unix:///path.sock or http://host:port`);
  }
  if (u.protocol !== 'http:') throw new Error(`bad server URL ${JSON.stringify(url)}: only unix:// and http:// are supported`);
  const creds = u.username ? { username: decodeURIComponent(u.username), password: decodeURIComponent(u.password) } : credentials;
  return { socketPath: null, host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || 80), credentials: creds, url };
}

/** Thrown when nothing answers at the endpoint (exit code 7 in the CLI). */
export class NotRunning extends DroverError {
  constructor(readonly endpoint: Endpoint, cause: unknown) {
    super('E_NOT_RUNNING', `no drover is running at ${endpoint.url} (${(cause as NodeJS.ErrnoException).code ?? String(cause)})`, { cause });
  }
}

export interface JsonAnswer {
  readonly status: number;
  /** a JSON object; what its fields hold is for the caller to check (expectAnswer) */
  readonly body: Readonly<Record<string, unknown>>;
}

/** An answer that is not what its endpoint sends (docs/api.md): a bug, or a drover of another version. */
export class UnexpectedAnswer extends DroverError {
  constructor(what: string, problem: string) {
    super('E_BAD_ANSWER', `drover's answer to ${what} is not what this client reads: ${problem}`);
  }
}

/** `body` as a T once `check` has passed; throws UnexpectedAnswer naming `what` (e.g. "GET /api/info") otherwise. */
export function expectAnswer<T>(check: Check<T>, body: unknown, what: string): T {
  if (check.is(body)) return body;
  throw new UnexpectedAnswer(what, check.problem(body) ?? check.expected);
}

/** A whole HTTP answer: status, the header block (lower-cased) and the body. */
export interface RawAnswer {
  readonly status: number;
  /** the body in one buffer (joined from `pieces` when first asked for) */
  readonly body: Buffer;
  /** the body as it came off the socket, in order: to pass on without joining 0.7 MB first */
  readonly pieces: readonly Buffer[];
  /** a header's value, or null when the answer has none */
  header(name: string): string | null;
}

/**
 * Sends one request and reads the whole answer. HTTP/1.1 written on a plain socket, one request per
 * connection (`Connection: close`): a CLI must not leave a keep-alive socket in the server, and loading
 * node:http cost a `drover status` as much as a fifth of its time (its agent also compiles the IPv6
 * pattern for a server name a unix socket does not need). The answer is read to the end of the connection;
 * Content-Length and chunked bodies are both understood (a proxy in front of a TCP listener may chunk).
 */
export function requestRaw(
  ep: Endpoint,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
  opts: { timeoutMs?: number } = {},
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? null : Buffer.from(JSON.stringify(body));
    const head = [`${method} ${path} HTTP/1.1`, `host: ${hostHeader(ep)}`, 'connection: close'];
    if (payload) head.push('content-type: application/json', `content-length: ${payload.length}`);
    const auth = authHeader(ep).authorization;
    if (auth !== undefined) head.push(`authorization: ${auth}`);
    if (ep.configFile !== undefined) head.push(`x-drover-config: ${encodeURIComponent(ep.configFile)}`);
    const request = Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'latin1');
    const socket = ep.socketPath ? connect(ep.socketPath) : connect(ep.port, ep.host);
    const chunks: Buffer[] = [];
    let connected = false;
    socket.on('connect', () => {
      connected = true;
      // write, not end: node's server drops a request whose client half-closes before the answer
      socket.write(payload ? Buffer.concat([request, payload]) : request);
    });
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => {
      try {
        resolve(readResponse(chunks));
      } catch (err) {
        reject(err);
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) => reject(connected ? err : connectError(ep, err)));
    if (opts.timeoutMs !== undefined) {
      socket.setTimeout(opts.timeoutMs, () => socket.destroy(new Error(`no answer from ${ep.url} within ${opts.timeoutMs} ms`)));
    }
  });
}

/** Sends one JSON request (requestRaw) and parses the JSON answer, which must be an object. */
export async function requestJson(
  ep: Endpoint,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
  opts: { timeoutMs?: number } = {},
): Promise<JsonAnswer> {
  const { status, body: raw } = await requestRaw(ep, method, path, body, opts);
  return { status, body: parseAnswer(status, raw.toString('utf8')) };
}

/** The JSON object an answer's text holds; throws when it holds something else. */
export function parseAnswer(status: number, text: string): Readonly<Record<string, unknown>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`drover answered ${status} with something that is not JSON: ${text.slice(0, 200)}`);
  }
  if (isJsonObject(parsed)) return parsed;
  throw new Error(`drover answered ${status} with JSON that is not an object: ${text.slice(0, 200)}`);
}

/** An event stream answered with an error instead of a stream; `body` is its JSON when it has one. */
export class StreamRefused extends DroverError {
  readonly body: Readonly<Record<string, unknown>> | null;
  constructor(
    readonly status: number,
    text: string,
  ) {
    super('E_STREAM_REFUSED', `event stream refused (${status}): ${text}`);
    let body: unknown = null;
    try {
      body = JSON.parse(text);
    } catch {
      body = null; // not JSON: keep the text in the message
    }
    this.body = isJsonObject(body) ? body : null;
  }
}

export interface ServerEvent {
  readonly event: string;
  readonly data: unknown;
}

/**
 * Opens an event stream (SSE) and calls `onEvent` per event; returns a function that closes it. When
 * `onEvent` returns a promise (its output is backed up), reading stops until the promise settles: the
 * events then wait in drover, whose buffering per client is bounded (docs/api.md, slow readers), not here.
 */
export function openEventStream(
  ep: Endpoint,
  path: string,
  onEvent: (e: ServerEvent) => Promise<void> | void,
  onEnd: (err: Error | null) => void,
): Promise<() => void> {
  // once: a handler's failure destroys the request, whose own end or error would follow
  let ended = false;
  const end = (err: Error | null): void => {
    if (ended) return;
    ended = true;
    onEnd(err);
  };
  // node:http only here: the one-shot commands (status, start, …) never load it
  return import('node:http').then(({ request: httpRequest }) => new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        ...target(ep),
        method: 'GET',
        path,
        headers: { accept: 'text/event-stream', ...authHeader(ep), ...(ep.configFile !== undefined ? { 'x-drover-config': encodeURIComponent(ep.configFile) } : {}) },
      },
      (res: IncomingMessage) => {
        if (res.statusCode !== 200) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => reject(new StreamRefused(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8'))));
          return;
        }
        res.setEncoding('utf8');
        let buf = '';
        // an event whose handler returned a promise holds back the stream and every event after it, those
        // of the same chunk too (a follow reads what a USR2's hand-over left in the files before going on)
        let held = false;
        const drain = (): void => {
          for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            let event = 'message';
            const data: string[] = [];
            for (const line of block.split('\n')) {
              if (line.startsWith('event:')) event = line.slice(6).trim();
              else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
            }
            if (data.length === 0) continue; // a comment or keep-alive
            let parsed: unknown;
            try {
              parsed = JSON.parse(data.join('\n'));
            } catch {
              parsed = data.join('\n');
            }
            const backedUp = onEvent({ event, data: parsed });
            if (!backedUp) continue;
            held = true;
            res.pause();
            backedUp.then(
              () => {
                held = false;
                res.resume();
                drain();
              },
              (err: unknown) => {
                end(err instanceof Error ? err : new Error(String(err)));
                req.destroy();
              },
            );
            return;
          }
        };
        res.on('data', (chunk: string) => {
          buf += chunk;
          if (!held) drain();
        });
        res.on('end', () => end(null));
        res.on('error', (err) => end(err));
        resolve(() => req.destroy());
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => reject(connectError(ep, err)));
    req.end();
  }));
}

// --- internal ---

/** Where a request goes: the unix socket, or host and port. */
function target(ep: Endpoint): { socketPath: string } | { host: string; port: number } {
  return ep.socketPath ? { socketPath: ep.socketPath } : { host: ep.host, port: ep.port };
}

/** Nothing listening, or the socket file is gone, means the supervisor is not running (exit code 7). */
function connectError(ep: Endpoint, err: NodeJS.ErrnoException): Error {
  return err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? new NotRunning(ep, err) : err;
}

/** The Host header node:http sends for the same endpoint (the server checks it against DNS rebinding). */
function hostHeader(ep: Endpoint): string {
  if (ep.socketPath) return 'localhost';
  const host = ep.host.includes(':') && !ep.host.startsWith('[') ? `[${ep.host}]` : ep.host;
  return ep.port === 80 ? host : `${host}:${ep.port}`;
}

/**
 * Status, headers and body of a whole HTTP/1.1 response, from the chunks read off the socket; throws when
 * it is not one. The body stays in the chunks it came in (`pieces`) unless it has to be joined: when the
 * header block does not end in the first chunk, and for a chunked transfer coding.
 */
export function readResponse(chunks: readonly Buffer[]): RawAnswer {
  let first = chunks[0] ?? Buffer.alloc(0);
  let rest = chunks.slice(1);
  let end = first.indexOf('\r\n\r\n');
  if (end < 0 && rest.length > 0) {
    first = Buffer.concat(chunks);
    rest = [];
    end = first.indexOf('\r\n\r\n');
  }
  const statusLine = /^HTTP\/1\.[01] (\d{3})/.exec(first.toString('latin1', 0, Math.min(first.length, 32)));
  if (end < 0 || !statusLine) throw new Error(`drover's answer is not HTTP: ${JSON.stringify(first.toString('latin1', 0, 200))}`);
  const status = Number(statusLine[1]);
  const headers = first.toString('latin1', 0, end).toLowerCase();
  let pieces = [first.subarray(end + 4), ...rest].filter((b) => b.length > 0);
  if (/\r\ntransfer-encoding:[^\r]*chunked/.test(headers)) pieces = [dechunk(Buffer.concat(pieces))];
  else {
    const length = /\r\ncontent-length: *(\d+)/.exec(headers);
    if (length) pieces = cut(pieces, Number(length[1]));
  }
  let body: Buffer | null = null;
  return {
    status,
    get body() {
      body ??= pieces.length === 1 ? (pieces[0] as Buffer) : Buffer.concat(pieces);
      return body;
    },
    pieces,
    header: (name) => new RegExp(`\r\n${name.toLowerCase()}: *([^\r]*)`).exec(headers)?.[1] ?? null,
  };
}

/** The first `length` bytes of `pieces`; throws when they hold fewer (the answer was cut short). */
function cut(pieces: readonly Buffer[], length: number): Buffer[] {
  const out: Buffer[] = [];
  let left = length;
  for (const p of pieces) {
    if (left === 0) break;
    out.push(p.length <= left ? p : p.subarray(0, left));
    left -= Math.min(p.length, left);
  }
  if (left > 0) throw new Error(`drover's answer ended after ${length - left} of ${length} bytes`);
  return out;
}

/** The body of a chunked transfer coding (chunk extensions and trailers ignored). */
function dechunk(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = data.indexOf('\r\n', at);
    const size = eol < 0 ? NaN : parseInt(data.toString('latin1', at, eol), 16);
    if (!Number.isInteger(size) || eol + 2 + size > data.length) throw new Error("drover's chunked answer is cut short");
    if (size === 0) return Buffer.concat(parts);
    parts.push(data.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}

function authHeader(ep: Endpoint): Record<string, string> {
  if (!ep.credentials) return {};
  const token = Buffer.from(`${ep.credentials.username}:${ep.credentials.password}`).toString('base64');
  return { authorization: `Basic ${token}` };
}
