// The listening TCP sockets on a port, as the kernel reports them (`ss` from iproute2): with reuse_port one
// per worker slot. Recv-Q of a listening socket is the number of connections waiting to be accepted.
import { spawnSync } from 'node:child_process';

export interface ListeningSocket {
  /** connections queued, not yet accepted */
  readonly queued: number;
  /** processes holding the socket open */
  readonly pids: readonly number[];
  /** the socket's inode: the same socket across a re-exec or a worker's replacement keeps it */
  readonly inode: number;
}

/** Every listening TCP socket on `port` (127.0.0.1 or any address). */
export function listeningSockets(port: number): ListeningSocket[] {
  const r = spawnSync('ss', ['-Hltnpe', `( sport = :${port} )`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ss failed (${r.status}): ${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter((l) => l.startsWith('LISTEN'))
    .map((l) => ({
      queued: Number(l.split(/\s+/)[1]),
      pids: [...l.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1])),
      inode: Number(/\bino:(\d+)/.exec(l)?.[1] ?? 0),
    }));
}
