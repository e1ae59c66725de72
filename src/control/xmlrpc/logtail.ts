// supervisor's streaming log paths, which supervisorctl's `tail -f`, `maintail -f` and `fg` read beside its
// XML-RPC: GET /logtail/NAME[/stdout|/stderr] and GET /mainlogtail. Each answers with the last 1 KiB of the
// log, then every byte written to it from then on (across rotations), in one chunked text response that
// lasts until the client goes. No such process, channel or log file: 404, which supervisorctl prints as
// "Cannot read, status code 404". A client that stops reading loses what it falls behind by (a note in the
// stream says how much), rather than growing drover's memory.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ControlApi, StreamName } from '../api.js';
import { EventStreamWriter, type RouteHandler } from '../server.js';
import { lookupProcess } from './methods.js';

/** supervisor's paths. */
export const LOGTAIL_PATH = '/logtail';
export const MAINLOGTAIL_PATH = '/mainlogtail';

/** How much of the log is sent before following it (supervisor sends the same). */
const HEAD_BYTES = 1024;

/** GET /logtail/NAME[/CHANNEL]: one process's stdout (the default) or stderr log, followed. */
export function logtailRoute(api: ControlApi): RouteHandler {
  return {
    prefix: LOGTAIL_PATH,
    handle(req, res) {
      if (!isGet(req, res)) return;
      const target = parseLogtailPath((req.url ?? '').split('?')[0] ?? '');
      const logs = api.logs;
      if (target === null || !logs) return notFound(res);
      let key: string;
      try {
        key = lookupProcess(api, target.namespec).key;
      } catch {
        return notFound(res);
      }
      if (logs.logPath(key, target.stream) === null) return notFound(res);
      follow(req, res, (onChunk) => logs.follow(key, target.stream, onChunk, { tailBytes: HEAD_BYTES }));
    },
  };
}

/** GET /mainlogtail: drover's own log, followed. */
export function mainlogtailRoute(api: ControlApi): RouteHandler {
  return {
    prefix: MAINLOGTAIL_PATH,
    handle(req, res) {
      if (!isGet(req, res)) return;
      const logs = api.logs;
      if ((req.url ?? '').split('?')[0] !== MAINLOGTAIL_PATH || !logs?.mainLogPath()) return notFound(res);
      follow(req, res, (onChunk) => logs.followMain(onChunk, { tailBytes: HEAD_BYTES }));
    },
  };
}

/**
 * "/logtail/NAME" or "/logtail/NAME/CHANNEL" (NAME may be "group:name", percent-encoded or not); null for
 * a channel other than stdout and stderr, or no name.
 */
export function parseLogtailPath(path: string): { namespec: string; stream: StreamName } | null {
  let rest = path.replace(/^\/+/, '');
  try {
    rest = decodeURIComponent(rest);
  } catch {
    return null;
  }
  const parts = rest.split('/');
  if (parts[0] !== LOGTAIL_PATH.slice(1) || !parts[1]) return null;
  const channel = parts.slice(2).join('/') || 'stdout';
  if (channel !== 'stdout' && channel !== 'stderr') return null;
  return { namespec: parts[1], stream: channel };
}

// --- internal ---

function isGet(req: IncomingMessage, res: ServerResponse): boolean {
  if (req.method === 'GET') return true;
  // supervisor answers 400 to any other method on these paths
  res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(`${req.method ?? '?'} is not served here: GET only\n`);
  return false;
}

function notFound(res: ServerResponse): void {
  res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
  res.end('no such process, channel or log file\n');
}

/** Streams what `subscribe` delivers until the client closes the connection. */
function follow(req: IncomingMessage, res: ServerResponse, subscribe: (onChunk: (chunk: Uint8Array) => void) => () => void): void {
  // no content-length: Node sends the body chunked, as supervisor's server does
  res.writeHead(200, { 'content-type': 'text/plain;charset=utf-8', 'x-accel-buffering': 'no', 'cache-control': 'no-cache' });
  // the status line now, as supervisord sends it, not with the first byte of an empty log
  res.flushHeaders();
  let lost = 0;
  const out = new EventStreamWriter(res, 'skip', () => {
    out.write(`\n==> ${lost} bytes skipped: this client fell behind <==\n`);
    lost = 0;
  });
  const stop = subscribe((chunk) => {
    if (!out.write(chunk)) lost += chunk.length;
  });
  req.on('close', stop);
  res.on('close', stop);
}
