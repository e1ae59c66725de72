// The routes of the control server, in one list: JSON API, supervisor's XML-RPC, and (later) the web page.
import type { ControlApi } from './api.js';
import { jsonApiRoute } from './json-api.js';
import type { RouteHandler } from './server.js';
import { xmlRpcRoute } from './xmlrpc/route.js';

/** Every route the control server serves, for one supervisor. */
export function buildRoutes(api: ControlApi): RouteHandler[] {
  return [jsonApiRoute(api), xmlRpcRoute(api)];
}
