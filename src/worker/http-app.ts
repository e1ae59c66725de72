// How an HTTP worker's export answers requests: a request listener, an object with fetch(), or an
// http.Server. An error in the app's handling of one request is that request's 500 (gunicorn's "Error
// handling request"), logged with its stack; it used to be an uncaught exception that ended the worker and
// every request in flight on it.
import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describeThrown } from '../errors.js';
import { originForm } from '../request-target.js';
import { requestScheme, type SchemePolicy } from './forwarded.js';

export type FetchHandler = { fetch(request: Request): Response | Promise<Response> };

/** A request listener whose throw, or rejected promise, answers 500 (or ends the response if it had begun). */
export function guarded(worker: string, listener: (req: IncomingMessage, res: ServerResponse) => unknown): RequestListener {
  return (req, res) => {
    let out: unknown;
    try {
      out = listener(req, res);
    } catch (err) {
      failedRequest(worker, req, res, err);
      return;
    }
    if (isThenable(out)) out.then(undefined, (err: unknown) => failedRequest(worker, req, res, err));
  };
}

/**
 * An exported http.Server: its own 'request' listeners, as they are when it is served, run guarded. Its
 * settings (timeouts, header limits, its own request classes) and other events ('upgrade') stay its own.
 */
export function guardServer(worker: string, server: Server): void {
  type Listener = ((req: IncomingMessage, res: ServerResponse) => unknown) & { listener?: Listener };
  // raw: a once('request') listener comes as its wrapper (with `.listener`), and runs once here too
  let listeners = server.rawListeners('request') as Listener[];
  server.removeAllListeners('request');
  server.on(
    'request',
    guarded(worker, (req, res) => {
      const pending: PromiseLike<unknown>[] = [];
      const now = listeners;
      listeners = listeners.filter((l) => l.listener === undefined);
      for (const l of now) {
        const out = (l.listener ?? l).call(server, req, res);
        if (isThenable(out)) pending.push(out);
      }
      return pending.length === 0 ? undefined : Promise.all(pending);
    }),
  );
}

/**
 * A fetch() app as a request listener: a Request built from the request line (never from Host alone), its
 * scheme the connection's unless a trusted front end's secure scheme header says otherwise (`policy`).
 */
export function fetchListener(worker: string, app: FetchHandler, policy: SchemePolicy): RequestListener {
  return (req, res) => {
    const scheme = requestScheme(req, policy, (req.socket as { encrypted?: boolean }).encrypted === true ? 'https' : 'http');
    const url = scheme === null ? null : requestUrl(req, scheme);
    if (url === null) {
      res.writeHead(400, { 'content-type': 'text/plain', connection: 'close' });
      res.end(scheme === null ? 'bad request: the secure scheme headers (X-Forwarded-Proto and the like) disagree\n' : 'bad request: the Host header or the request target is not one a URL can be built from\n');
      return;
    }
    if (req.method === 'TRACE') {
      // a method a fetch() Request refuses to carry (as it does CONNECT and TRACK, which never reach here):
      // the app cannot be asked, and it is no error of the app's
      res.writeHead(501, { 'content-type': 'text/plain' });
      res.end('not implemented: a fetch() app cannot be given a TRACE request\n');
      return;
    }
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) {
      if (Array.isArray(v)) for (const x of v) headers.append(k, x);
      else if (v !== undefined) headers.set(k, v);
    }
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
    // request.signal: aborts when the client goes away before the response is complete ('close' also comes
    // after a complete one), so the app can stop its work (an upstream fetch() given the signal ends too)
    const clientGone = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) clientGone.abort(new Error(`the client went away before the response to ${req.method ?? '?'} ${req.url ?? '?'} was complete`));
    });
    const init: RequestInit & { duplex?: 'half' } = { method: req.method ?? 'GET', headers, signal: clientGone.signal };
    if (hasBody) {
      const body = Readable.toWeb(req) as ReadableStream;
      init.body = body;
      init.duplex = 'half';
      // Answered with the body left unread: the stream stopped reading the socket once its buffer was full,
      // and the next request on the connection sat behind the rest of the body until the keep-alive ran
      // out. What Node does for a request listener that ignores the body: the rest is read and dropped. A
      // body the app has begun to read (its stream locked) is the app's to finish.
      res.once('finish', () => {
        if (req.complete || body.locked) return;
        req.removeAllListeners('data');
        req.resume();
      });
    }
    Promise.resolve()
      .then(() => app.fetch(new Request(url, init)))
      .then(async (response) => {
        if (clientGone.signal.aborted) {
          // no one to send it to: the body's source is told (its cancel()) instead of being read
          await response.body?.cancel();
          return;
        }
        const outHeaders: Record<string, string | string[]> = {};
        response.headers.forEach((v, k) => {
          const prev = outHeaders[k];
          outHeaders[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
        });
        res.writeHead(response.status, outHeaders);
        if (!response.body || req.method === 'HEAD') {
          // HEAD: Node sends no body, but would send the head only at the body's end, which may never come
          // (an event stream); the body's source is told instead of being read
          res.end();
          await response.body?.cancel();
          return;
        }
        // pipeline: back-pressure from the client, and the body stops being read if the client goes away
        await pipeline(Readable.fromWeb(response.body as import('node:stream/web').ReadableStream<Uint8Array>), res);
      })
      .catch((err: unknown) => {
        // The client left: the body's pipe closes early, or the app's work ends on request.signal. That is
        // no error of the app's (gunicorn logs a client's EPIPE at debug level only); the access log has it.
        if (clientGone.signal.aborted && isClientGone(err, clientGone.signal)) return;
        failedRequest(worker, req, res, err);
      });
  };
}

/** Whether `err` is what a client that left makes: a pipe closed early, or an abort by request.signal. */
function isClientGone(err: unknown, signal: AbortSignal): boolean {
  if (err === signal.reason) return true;
  const e = err as { code?: unknown; name?: unknown } | null;
  return typeof e === 'object' && e !== null && (CLIENT_GONE_CODES.has(e.code) || e.name === 'AbortError');
}

/** What writing to, or piping into, a response whose connection closed fails with */
const CLIENT_GONE_CODES: ReadonlySet<unknown> = new Set(['ERR_STREAM_PREMATURE_CLOSE', 'ERR_STREAM_DESTROYED', 'EPIPE', 'ECONNRESET']);

/** A Host header: a name, IPv4 or [IPv6] address, and a port; nothing a URL parser would read as a path. */
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=]+)(?::\d{0,5})?$/;
/** A dot segment, also percent-encoded: the URL parser would resolve it away, unlike the request line. */
const DOT_SEGMENT = /(?:^|\/)(?:\.|%2e){1,2}(?:\/|$)/i;

/**
 * The URL of the request: `SCHEME://HOST` + the path and query of the request line. null when it cannot be
 * built as the client wrote it: a Host with characters the URL parser reads as part of the path (`x/admin?`,
 * `x\admin`, `u:p@x`) would change the path the app sees, and so would a dot segment (`/public/../admin`,
 * which `new URL` resolves); a front proxy's rules go by the path as sent.
 */
export function requestUrl(req: IncomingMessage, scheme: 'http' | 'https'): string | null {
  const host = req.headers.host || 'localhost';
  if (!HOST.test(host)) return null;
  // absolute form (RFC 9112, 3.2.2): its path and query, under the same rules
  const target = originForm(req.url ?? '/');
  if (target === null) return null;
  const path = target.split('?', 1)[0] as string;
  if (DOT_SEGMENT.test(path)) return null;
  // a backslash or a # stays a character of the path (the URL parser would take them for a slash and for
  // the start of a fragment)
  const url = `${scheme}://${host}${target.replace(/\\/g, '%5C').replace(/#/g, '%23')}`;
  try {
    new URL(url); // a port past 65535, an IPv6 address that is not one
  } catch {
    return null;
  }
  return url;
}

function failedRequest(worker: string, req: IncomingMessage, res: ServerResponse, err: unknown): void {
  process.stderr.write(`drover worker ${worker}: error handling request ${req.method ?? '?'} ${req.url ?? '?'}: ${describeThrown(err, 'stack')}\n`);
  if (!res.headersSent) {
    res.writeHead(500, { 'content-type': 'text/plain', connection: 'close' });
    res.end('internal error\n');
  } else {
    // the head has gone out: the client must not take a cut body for a whole one
    res.destroy();
  }
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}
