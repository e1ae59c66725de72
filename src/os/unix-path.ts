// How long a unix socket path can be. Linux's sun_path holds 108 bytes, the terminating NUL included. Node
// 20 and 22 cut a longer path short without an error, so a listen() would create a socket at another path
// (a prefix of the one asked, possibly outside the directory named) and a connect() would reach whatever is
// there; Node 24 refuses it (EINVAL). drover checks every path first and says what is wrong.
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';

/** The longest unix socket path, in bytes. */
export const UNIX_PATH_MAX = 107;

/** Why `path` cannot name a unix socket, or null when it can. */
export function unixPathProblem(path: string): string | null {
  const bytes = Buffer.byteLength(path);
  return bytes > UNIX_PATH_MAX ? `a unix socket path can be at most ${UNIX_PATH_MAX} bytes, and this one is ${bytes}` : null;
}

/**
 * Why the control socket `path` cannot be created, its directory missing, or null: the directory exists,
 * or it is the runtime directory or one on the way to it, which drover creates before it listens
 * (daemon/runtime-dir.ts). No other directory is created: its owner and mode would be drover's guess.
 * One rule for `drover check` (the loader) and for `up` when it listens.
 */
export function socketDirectoryProblem(path: string, runtimeDir: string): string | null {
  const dir = dirname(path);
  if (dir === runtimeDir || runtimeDir.startsWith(`${dir}/`) || existsSync(dir)) return null;
  return `its directory ${dir} does not exist`;
}
