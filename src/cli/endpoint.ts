// Finding the running supervisor from the CLI: `-s URL`, then DROVER_URL, then the config file (`-c`, or
// drover.ini / drover.conf / supervisord.conf in the current directory) whose control socket it names.
import { resolve } from 'node:path';
import { findConfigFile, loadConfig } from '../config/load.js';
import type { Config } from '../config/types.js';
import { parseServerUrl, type Endpoint } from '../control/client.js';
import { controlSocketPath } from '../daemon/master.js';
import { UsageError } from '../errors.js';

export interface EndpointOptions {
  readonly serverUrl?: string | undefined;
  readonly configuration?: string | undefined;
  readonly username?: string | undefined;
  readonly password?: string | undefined;
}

/** The endpoint to talk to, and the config it came from (null when given by URL). */
export function findEndpoint(
  opts: EndpointOptions,
  env: Readonly<Record<string, string | undefined>>,
  cwd: string,
): { endpoint: Endpoint; config: Config | null } {
  const explicit =
    opts.username !== undefined ? { username: opts.username, password: opts.password ?? '' } : null;
  const url = opts.serverUrl ?? (opts.configuration ? undefined : env['DROVER_URL']);
  if (url) return { endpoint: parseServerUrl(url, explicit), config: null };
  const file = opts.configuration ? resolve(cwd, opts.configuration) : findConfigFile(cwd);
  if (file === null) {
    throw new UsageError(
      `cannot find a running drover: give -c FILE or -s URL (or set DROVER_URL); no drover.ini, drover.conf or supervisord.conf in ${cwd}`,
    );
  }
  const config = loadConfig(file, { env });
  const ctl = config.supervisorctl;
  const unix = config.unixHttpServer;
  const creds =
    explicit ??
    (ctl?.username ? { username: ctl.username, password: ctl.password ?? '' } : null) ??
    (unix?.username ? { username: unix.username, password: unix.password ?? '' } : null);
  return { endpoint: parseServerUrl(`unix://${controlSocketPath(config)}`, creds), config };
}
