// The routes of the control server, in one list: JSON API, supervisor's XML-RPC, metrics, health probes
// and the web page (the catch-all, so last). XML-RPC, metrics and the web page are loaded on their first
// request: most daemons never get one (docs/decisions.md, "Modules loaded on first use").
import type { ControlApi } from './api.js';
import { healthzRoute, readyzRoute } from './health.js';
import { jsonApiRoute } from './json-api.js';
import type { JournalHealth } from '../primitives/journal.js';
import type { QueueFigures } from './metrics.js';
import type { RouteHandler } from './server.js';

export interface RouteOptions {
  /** the master's task queues, for /metrics */
  readonly queueStats?: () => QueueFigures[] | Promise<QueueFigures[]>;
  /** whether the master's journal is written (null: no journal), for /metrics */
  readonly journalHealth?: () => JournalHealth | null;
}

/** Every route the control server serves, for one supervisor. */
export function buildRoutes(api: ControlApi, opts: RouteOptions = {}): RouteHandler[] {
  return [
    jsonApiRoute(api),
    onFirstUse('/RPC2', async () => (await import('./xmlrpc/route.js')).xmlRpcRoute(api)),
    // supervisorctl's tail -f, maintail -f and fg
    onFirstUse('/logtail', async () => (await import('./xmlrpc/logtail.js')).logtailRoute(api)),
    onFirstUse('/mainlogtail', async () => (await import('./xmlrpc/logtail.js')).mainlogtailRoute(api)),
    onFirstUse('/metrics', async () => (await import('./metrics.js')).metricsRoute(api, opts.queueStats ?? null, opts.journalHealth ?? null)),
    healthzRoute(api),
    readyzRoute(api),
    onFirstUse('/', async () => (await import('./web.js')).webRoute()),
  ];
}

/** A route whose module is loaded, and whose handler built, by its first request (once, shared by all). */
export function onFirstUse(prefix: string, load: () => Promise<RouteHandler>): RouteHandler {
  let loading: Promise<RouteHandler> | null = null;
  return {
    prefix,
    async handle(req, res, body) {
      loading ??= load();
      const route = await loading;
      await route.handle(req, res, body);
    },
  };
}
