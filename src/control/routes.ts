// The routes of the control server, in one list: JSON API, supervisor's XML-RPC, metrics, health probes
// and the web page (the catch-all, so last).
import type { ControlApi } from './api.js';
import { healthzRoute, readyzRoute } from './health.js';
import { jsonApiRoute } from './json-api.js';
import { metricsRoute } from './metrics.js';
import type { RouteHandler } from './server.js';
import { webRoute } from './web.js';
import { xmlRpcRoute } from './xmlrpc/route.js';

/** Every route the control server serves, for one supervisor. */
export function buildRoutes(api: ControlApi): RouteHandler[] {
  return [jsonApiRoute(api), xmlRpcRoute(api), metricsRoute(api), healthzRoute(api), readyzRoute(api), webRoute()];
}
