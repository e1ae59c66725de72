// The control client used by the CLI: JSON requests to a running drover over its unix socket or TCP,
// and the server-sent event stream.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { DroverError } from '../errors.js';
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
}

/** Parses `unix:///path.sock`, `unix:/path`, or `http://host:port`. */
export function parseServerUrl(url: string, credentials: Credentials | null = null): Endpoint {
  if (url.startsWith('unix://') || url.startsWith('unix:')) {
    const path = url.startsWith('unix://') ? url.slice('unix://'.length) : url.slice('unix:'.length);
    if (!path.startsWith('/')) throw new Error(`bad server URL ${JSON.stringify(url)}: expected unix:///absolute/path`);
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

/** Sends one JSON request and parses the JSON answer. */
export function requestJson(
  ep: Endpoint,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
  opts: { timeoutMs?: number } = {},
): Promise<JsonAnswer> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = httpRequest(
      {
        ...target(ep),
        method,
        path,
        agent: false, // one connection per request: a CLI must not leave a keep-alive socket in the server
        headers: {
          ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}),
          ...authHeader(ep),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown;
          try {
            body = JSON.parse(text);
          } catch {
            reject(new Error(`drover answered ${res.statusCode ?? '?'} with something that is not JSON: ${text.slice(0, 200)}`));
            return;
          }
          if (isJsonObject(body)) resolve({ status: res.statusCode ?? 0, body });
          else reject(new Error(`drover answered ${res.statusCode ?? '?'} with JSON that is not an object: ${text.slice(0, 200)}`));
        });
        res.on('error', reject);
      },
    );
    if (opts.timeoutMs !== undefined) {
      req.setTimeout(opts.timeoutMs, () => req.destroy(new Error(`no answer from ${ep.url} within ${opts.timeoutMs} ms`)));
    }
    req.on('error', (err: NodeJS.ErrnoException) => {
      reject(connectError(ep, err));
    });
    req.end(payload);
  });
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

/** Opens an event stream (SSE) and calls `onEvent` per event; returns a function that closes it. */
export function openEventStream(
  ep: Endpoint,
  path: string,
  onEvent: (e: ServerEvent) => void,
  onEnd: (err: Error | null) => void,
): Promise<() => void> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        ...target(ep),
        method: 'GET',
        path,
        headers: { accept: 'text/event-stream', ...authHeader(ep) },
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
        res.on('data', (chunk: string) => {
          buf += chunk;
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
            onEvent({ event, data: parsed });
          }
        });
        res.on('end', () => onEnd(null));
        res.on('error', (err) => onEnd(err));
        resolve(() => req.destroy());
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => reject(connectError(ep, err)));
    req.end();
  });
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

function authHeader(ep: Endpoint): Record<string, string> {
  if (!ep.credentials) return {};
  const token = Buffer.from(`${ep.credentials.username}:${ep.credentials.password}`).toString('base64');
  return { authorization: `Basic ${token}` };
}
