// The routes of the control server, in one list: JSON API, supervisor's XML-RPC, metrics, health probes
// and the web page (the catch-all, so last).
import type { ControlApi } from './api.js';
import { healthzRoute, readyzRoute } from './health.js';
import { jsonApiRoute } from './json-api.js';
import { metricsRoute, type QueueFigures } from './metrics.js';
import type { RouteHandler } from './server.js';
import { webRoute } from './web.js';
import { xmlRpcRoute } from './xmlrpc/route.js';

export interface RouteOptions {
  /** the master's task queues, for /metrics */
  readonly queueStats?: () => QueueFigures[] | Promise<QueueFigures[]>;
}

/** Every route the control server serves, for one supervisor. */
export function buildRoutes(api: ControlApi, opts: RouteOptions = {}): RouteHandler[] {
  return [jsonApiRoute(api), xmlRpcRoute(api), metricsRoute(api, opts.queueStats ?? null), healthzRoute(api), readyzRoute(api), webRoute()];
}
