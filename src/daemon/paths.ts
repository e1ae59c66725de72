// Where a config's runtime files are. Kept apart from master.ts so the CLI can find the control socket
// without loading the daemon.
import { join } from 'node:path';
import type { ControlSections } from '../config/control-socket.js';
import type { Config } from '../config/types.js';

/** Where the control socket of a config lives (a Config, or the CLI's lean reading of one: config/control-socket.ts). */
export function controlSocketPath(config: Pick<ControlSections, 'unixHttpServer' | 'supervisord'>): string {
  return config.unixHttpServer?.file ?? join(config.supervisord.runtimeDir, 'drover.sock');
}

/** The pidfile of a config. */
export function pidfilePath(config: Config): string {
  return config.supervisord.pidfile ?? join(config.supervisord.runtimeDir, 'drover.pid');
}
