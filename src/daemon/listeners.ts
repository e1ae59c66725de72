// The control plane's listeners as the config asks for them: the unix socket (mode, owner, the host names it
// answers to) and the TCP port, which drover opens only with a username and a non-empty password.
import { closeSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Config } from '../config/types.js';
import { isEmptyPassword } from '../control/auth.js';
import { CONTROL_FD_PREFIX, type ListenerSpec } from '../control/server.js';
import { DroverError } from '../errors.js';
import type { Logger } from '../logs/logger.js';
import { socketDirectoryProblem } from '../os/unix-path.js';
import { lookupGroupId, lookupUser } from '../os/users.js';
import { controlSocketPath } from './paths.js';

/** A listener the config asks for but that drover refuses to open (exit code 2). */
export class ListenerConfigError extends DroverError {
  constructor(message: string) {
    super('E_LISTENER_CONFIG', message);
  }
}

/** The control plane's listeners: the unix socket (always) and the TCP port (`[inet_http_server]`). */
export function listenerSpecs(config: Config): ListenerSpec[] {
  const out: ListenerSpec[] = [];
  const unix = config.unixHttpServer;
  let owner: { uid: number; gid: number } | null = null;
  if (unix?.chown) {
    const [user, group] = unix.chown.split(':');
    const u = lookupUser(user ?? '');
    if (!u) throw new ListenerConfigError(`[unix_http_server] chown: no such user ${user ?? ''}`);
    // `user:group` takes the group (a name or a gid, 0 included); `user` alone takes the user's primary group
    const gid = group ? lookupGroupId(group) : u.gid;
    if (gid === null) throw new ListenerConfigError(`[unix_http_server] chown: no such group ${JSON.stringify(group)} (expected a group name or gid that getent group knows)`);
    owner = { uid: u.uid, gid };
  }
  out.push({
    kind: 'unix',
    path: controlSocketPath(config),
    mode: unix?.chmod ?? 0o600,
    owner,
    credentials: unix?.username && unix.password !== null ? { username: unix.username, password: unix.password } : null,
    allowedHosts: [hostname().toLowerCase(), ...(unix?.allowedHosts ?? [])],
  });
  const inet = config.inetHttpServer;
  if (inet) {
    if (!inet.username || inet.password === null) {
      throw new ListenerConfigError(
        '[inet_http_server] needs username and password: drover does not open an unauthenticated TCP control port',
      );
    }
    if (isEmptyPassword(inet.password)) {
      throw new ListenerConfigError(
        `[inet_http_server] password is empty (got ${JSON.stringify(inet.password)}; an empty %(ENV_X)s gives this too): drover does not open a TCP control port that takes an empty password; set a non-empty one`,
      );
    }
    out.push({
      kind: 'tcp',
      host: inet.host,
      port: inet.port,
      credentials: { username: inet.username, password: inet.password },
      // the names this port is reached by on purpose: its configured host and this machine's name
      allowedHosts: [...(inet.host ? [inet.host] : []), hostname().toLowerCase(), ...inet.allowedHosts],
    });
  }
  return out;
}

/** Warns when the TCP control listener is reachable from other machines: basic auth over plain HTTP. */
export function warnIfExposed(url: string, logger: Logger): void {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  if (/^127\./.test(host) || host === '::1' || /^::ffff:127\./i.test(host)) return;
  const where = host === '::' || host === '0.0.0.0' ? `every interface (${url})` : `${url}, which is not a loopback address`;
  logger.warn(
    `[inet_http_server] listens on ${where}: the username, the password and every answer travel as plain HTTP; ` +
      'give port a loopback host (port = 127.0.0.1:9001, then reach it through ssh -L) or put a TLS proxy in front',
  );
}

/**
 * Where programs reach drover (SUPERVISOR_SERVER_URL), as supervisord picks its serverurl: the unix socket
 * first, else `[inet_http_server]`'s address (`http://localhost:PORT` for one bound to every address), else
 * drover's own socket in its runtime directory (supervisord passes none then). With the server's credentials
 * when it has them in plain text (a {SHA} password cannot be handed on).
 */
export function callbackAddress(config: Config): { url: string; credentials: { username: string; password: string } | null } {
  const unix = config.unixHttpServer;
  const inet = unix === null ? config.inetHttpServer : null;
  const server = unix ?? inet;
  const plain = server?.username && server.password !== null && !server.password.startsWith('{SHA}');
  return {
    url: inet !== null ? `http://${inet.host === '' ? 'localhost' : inet.host.includes(':') ? `[${inet.host}]` : inet.host}:${inet.port}` : `unix://${controlSocketPath(config)}`,
    credentials: plain && server.username !== null && server.password !== null ? { username: server.username, password: server.password } : null,
  };
}

/**
 * Refuses a unix socket path whose directory does not exist, as supervisord does ("Cannot open an HTTP
 * server: … ENOENT"): drover creates its runtime directory (before this), never other directories, whose
 * owner and mode would be drover's guess (a 0700 root directory a user's supervisorctl cannot enter).
 */
export function requireSocketDirectory(path: string, runtimeDir: string): void {
  const problem = socketDirectoryProblem(path, runtimeDir);
  if (problem !== null) throw new ListenerConfigError(`[unix_http_server] file = ${path}: ${problem}; create it, or use a path in an existing directory`);
}

/**
 * In a re-exec'd master: the TCP control sockets the old master handed over (name → fd, see controlFdName),
 * taken out of `inherited` so that no [socket:x] looks for them.
 */
export function takeControlFds(inherited: Map<string, number[]>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [name, fds] of inherited) {
    if (!name.startsWith(CONTROL_FD_PREFIX)) continue;
    inherited.delete(name);
    const [first, ...rest] = fds;
    if (first !== undefined) out.set(name, first);
    // the same name twice is not what an old master passes: not kept open for nothing
    for (const fd of rest) closeSync(fd);
  }
  return out;
}
