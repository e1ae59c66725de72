// The shared primitives in drover's JSON API (docs/api.md, "Queues, state and locks"): producers outside
// the workers (the CLI's `drover queue push`, scripts), stats and the dead-letter list. Answers follow the
// JSON API's shape: `{ ok: true, ... }` or `{ ok: false, code, message }`.
import type { IncomingMessage } from 'node:http';
import { DroverError } from '../errors.js';
import type { JournalHealth } from '../primitives/journal.js';
import type { DeadTask, QueueStats } from '../primitives/queue-core.js';
import { Args, pushOptions, SharedError, type SharedService } from '../primitives/service.js';
import { sendError, sendJson, sendMethodNotAllowed, type RouteHandler } from './server.js';
import type { DeadLettersJson, DeadTaskJson, JournalJson, LocksJson, PushedJson, QueuesJson, QueueStatsJson, RetriedJson, StateValueJson } from './wire.js';

type Handler = (service: SharedService, a: Args) => unknown;

const GET: Record<string, Handler> = {
  '/api/queue/stats': async (s, a) => {
    const q = a.optionalString('queue');
    const queues = await s.backend.queueStats(q === null || q === '' ? null : a.name('queue'));
    // a failing journal shows here, where an operator looks at the queues, not only in drover's log
    return { ok: true, queues: queues.map(statsJson), journal: journalJson(s.backend.journalHealth?.() ?? null) } satisfies QueuesJson;
  },
  '/api/queue/dead': async (s, a) => {
    const queue = a.name('queue');
    const tasks = await s.backend.deadLetters(queue, a.int('limit', 100, 0));
    return { ok: true, queue, tasks: tasks.map(deadJson) } satisfies DeadLettersJson;
  },
  '/api/state': async (s, a) => {
    const key = a.name('key');
    const { found, value } = await s.backend.stateGet(key);
    return { ok: true, key, found, value } satisfies StateValueJson;
  },
  '/api/locks': async (s) => ({ ok: true, locks: await s.backend.locks() }) satisfies LocksJson,
};

const POST: Record<string, Handler> = {
  '/api/queue/push': async (s, a) => {
    const queue = a.name('queue');
    const id = await s.backend.push(queue, a.task('task', queue), pushOptions(a, { delayMs: 'delay_ms', maxAttempts: 'max_attempts' }));
    return { ok: true, queue, id } satisfies PushedJson;
  },
  '/api/queue/retry-dead': async (s, a) => {
    const queue = a.name('queue');
    return { ok: true, queue, moved: await s.backend.retryDead(queue) } satisfies RetriedJson;
  },
};

/** The routes under /api/queue/, /api/state and /api/locks; listed before the JSON API's catch-all /api/. */
export function sharedRoutes(service: SharedService): RouteHandler[] {
  const paths = [...new Set([...Object.keys(GET), ...Object.keys(POST)])];
  return paths.map((prefix) => ({
    prefix,
    async handle(req, res, body) {
      const url = new URL(req.url ?? '/', 'http://drover');
      if (url.pathname !== prefix) {
        sendError(res, 404, 'E_NOT_FOUND', `no such endpoint: ${url.pathname}`);
        return;
      }
      const table = req.method === 'GET' ? GET : req.method === 'POST' ? POST : null;
      const handler = table && Object.hasOwn(table, prefix) ? table[prefix] : undefined;
      if (!handler) {
        sendMethodNotAllowed(res, req.method, prefix, [Object.hasOwn(GET, prefix) ? 'GET' : null, Object.hasOwn(POST, prefix) ? 'POST' : null].filter((m) => m !== null));
        return;
      }
      const data = input(req, url, body);
      if (data instanceof SharedError) {
        sendError(res, 400, data.code, data.message);
        return;
      }
      try {
        sendJson(res, 200, await handler(service, new Args(data, req.method === 'GET')));
      } catch (err) {
        // the master holds shared_max_bytes already: the request was sound, there is no room for it
        if (err instanceof SharedError) sendError(res, err.code === 'E_QUOTA' ? 507 : 400, err.code, err.message);
        // Redis unreachable or not answering in time: the server's trouble, not the request's, under its own code
        else if (err instanceof DroverError && err.code === 'E_BACKEND') sendError(res, 503, err.code, err.message);
        else throw err;
      }
    },
  }));
}

/** Route handlers that answer only once `gate` is open (a re-exec'd master's journal is loaded). */
export function gatedRoutes(gate: { readonly isOpen: boolean; whenOpen(): Promise<void> }, routes: readonly RouteHandler[]): RouteHandler[] {
  return routes.map((r) => ({
    prefix: r.prefix,
    handle: async (req, res, body) => {
      if (!gate.isOpen) await gate.whenOpen();
      await r.handle(req, res, body);
    },
  }));
}

// --- internal ---

/** Query parameters (GET, as strings; Args reads numbers from them) or the JSON body (POST), as the API names them (snake_case). */
function input(req: IncomingMessage, url: URL, body: Buffer): Record<string, unknown> | SharedError {
  let data: Record<string, unknown>;
  if (req.method === 'GET') {
    data = {};
    for (const [k, v] of url.searchParams) data[k] = v;
  } else {
    const text = body.toString('utf8');
    let parsed: unknown = {};
    try {
      if (text.trim() !== '') parsed = JSON.parse(text);
    } catch {
      return new SharedError('E_BAD_JSON', 'the body is not valid JSON');
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      return new SharedError('E_BAD_REQUEST', 'the body must be a JSON object');
    }
    data = { ...(parsed as Record<string, unknown>) };
  }
  // The API's names are snake_case. The worker API's spellings (q.push's delayMs, maxAttempts) used to be
  // taken too, undocumented (the API's were renamed to them); now they are refused with the API's name,
  // since ignoring one would push the task with no delay or the default attempts (docs/decisions.md).
  for (const [worker, api] of [['delayMs', 'delay_ms'], ['maxAttempts', 'max_attempts']] as const) {
    if (Object.hasOwn(data, worker)) return new SharedError('E_BAD_REQUEST', `unknown parameter "${worker}": the JSON API calls it "${api}"`);
  }
  return data;
}

function statsJson(q: QueueStats): QueueStatsJson {
  return { ...q };
}

function journalJson(h: JournalHealth | null): JournalJson | null {
  if (h === null) return null;
  return { file: h.file, degraded: h.degraded, error: h.error, since: h.sinceMs === null ? null : new Date(h.sinceMs).toISOString() };
}

function deadJson(d: DeadTask): DeadTaskJson {
  return {
    id: d.id,
    task: d.data,
    priority: d.priority,
    attempts: d.attempts,
    reason: d.reason,
    error: d.error,
    dead_at: new Date(d.deadAtMs).toISOString(),
  };
}
