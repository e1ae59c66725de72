// Single instance per runtime directory: hold an abstract unix socket named after the directory for the
// whole life of the supervisor. The kernel frees it the instant the process dies (even by SIGKILL), and
// bind() lets exactly one of several racing starters win — unlike an O_EXCL pidfile or a lock file.
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:net';

/** The abstract socket name for a runtime directory ("\0" prefix: abstract namespace, no file). */
export function lockName(runtimeDir: string): string {
  const hash = createHash('sha256').update(runtimeDir).digest('hex').slice(0, 24);
  return `\0drover-${hash}`;
}

export interface InstanceLock {
  readonly release: () => void;
  /** the socket's fd, handed to the new master on a re-exec (USR2) so the lock never lapses */
  readonly fd: number;
}

/**
 * Takes the lock (or adopts `inheritedFd`, the lock an old master passed on a re-exec); resolves with it,
 * or null when another live process holds it.
 */
export function acquireInstanceLock(runtimeDir: string, inheritedFd?: number): Promise<InstanceLock | null> {
  return new Promise((resolve, reject) => {
    const server: Server = createServer((sock) => sock.destroy());
    server.once('error', (err: NodeJS.ErrnoException) => {
      // EADDRINUSE: a live drover holds it (the kernel drops it when that process dies)
      if (err.code === 'EADDRINUSE') resolve(null);
      else reject(err);
    });
    const onListening = (): void => {
      server.unref(); // the lock must not keep the process alive by itself
      const fd = (server as unknown as { _handle?: { fd?: number } })._handle?.fd ?? -1;
      resolve({ release: () => server.close(), fd });
    };
    if (inheritedFd !== undefined) server.listen({ fd: inheritedFd }, onListening);
    else server.listen({ path: lockName(runtimeDir) }, onListening);
  });
}
