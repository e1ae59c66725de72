// Listening sockets owned by the master ([socket:NAME]). The master binds each once, puts it in the LISTEN
// state, and never accepts on it: every worker inherits the fd and accepts directly (DESIGN §8: no round
// robin through the master). The fds stay open across reloads, so connections queue in the backlog while
// workers change; they are also what a re-exec or systemd hands over through LISTEN_FDS.
import { chmodSync, chownSync, closeSync, existsSync, unlinkSync } from 'node:fs';
import type { SocketSpec } from '../config/types.js';
import { DroverError } from '../errors.js';
import { listenSocket, NativeError, socketAddress } from '../os/native.js';
import { lookupGroupId, lookupUser } from '../os/users.js';

export interface BoundSocket {
  readonly spec: SocketSpec;
  readonly fd: number;
  /** "127.0.0.1:8000", "[::]:443" or "unix:/path" with the real port when 0 was asked */
  readonly address: string;
  /** true when the fd came from our parent (systemd, or the old master of a re-exec) */
  readonly inherited: boolean;
}

/** A [socket:NAME] that cannot be bound or taken over. */
export class SocketBindError extends DroverError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_SOCKET_BIND', message, options);
  }
}

export class SocketSet {
  private readonly sockets = new Map<string, BoundSocket>();

  /**
   * Binds every socket, or takes it over from `inherited` (name → fd) when the parent passed it.
   * Throws SocketBindError naming the socket and address when one cannot be bound.
   */
  static bind(specs: readonly SocketSpec[], inherited: ReadonlyMap<string, number> = new Map()): SocketSet {
    const set = new SocketSet();
    try {
      for (const spec of specs) set.bindOne(spec, inherited.get(spec.name));
    } catch (err) {
      set.close();
      throw err;
    }
    return set;
  }

  get(name: string): BoundSocket | undefined {
    return this.sockets.get(name);
  }

  list(): BoundSocket[] {
    return [...this.sockets.values()];
  }

  /** Closes every socket (at shutdown); unix socket files we created are removed unless a successor has them. */
  close(keepFiles = false): void {
    for (const s of this.sockets.values()) {
      // handing over: the successor holds its own copies of the fds; this process's exit closes ours
      if (keepFiles) continue;
      closeSync(s.fd);
      if (s.spec.bind.kind === 'unix' && !s.inherited) removeSocketFile(s.spec.bind.path);
    }
    this.sockets.clear();
  }

  // --- internal ---

  private bindOne(spec: SocketSpec, inherited: number | undefined): void {
    const b = spec.bind;
    const inheritedFd = b.kind === 'fd' ? b.fd : inherited;
    let fd: number;
    if (inheritedFd !== undefined) {
      fd = inheritedFd;
      // an fd:// that was never passed to us: say so now, not when a worker fails to listen on it
      if (b.kind === 'fd' && !existsSync(`/proc/self/fd/${fd}`)) {
        throw new SocketBindError(`[socket:${spec.name}] fd://${b.fd}: no such inherited fd`);
      }
    } else if (b.kind === 'unix' || b.kind === 'tcp') {
      // a socket file left by a dead master would make bind fail with EADDRINUSE
      if (b.kind === 'unix' && existsSync(b.path)) removeSocketFile(b.path);
      try {
        fd = listenSocket(b.kind === 'unix' ? { kind: 'unix', path: b.path } : { kind: 'tcp', host: b.host, port: b.port }, {
          backlog: spec.backlog,
        });
      } catch (err) {
        const code = err instanceof NativeError ? err.code : (err as Error).message;
        throw new SocketBindError(`[socket:${spec.name}] cannot bind ${describe(spec)}: ${code}`, { cause: err });
      }
    } else {
      throw new SocketBindError(`[socket:${spec.name}] fd://${b.fd}: no such inherited fd`);
    }
    let address = describe(spec);
    if (b.kind === 'tcp') {
      const a = socketAddress(fd);
      if (a) address = `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
    }
    if (b.kind === 'unix' && inheritedFd === undefined) {
      if (spec.mode !== null) chmodSync(b.path, spec.mode);
      if (spec.owner !== null) {
        const [user, group] = spec.owner.split(':');
        const u = lookupUser(user ?? '');
        // `user:group` takes the group (a name or a gid, 0 included), `user` alone the user's primary group
        const gid = group ? lookupGroupId(group) : (u?.gid ?? null);
        if (!u || gid === null) throw new SocketBindError(`[socket:${spec.name}] owner: no such user or group in ${JSON.stringify(spec.owner)}`);
        chownSync(b.path, u.uid, gid);
      }
    }
    this.sockets.set(spec.name, { spec, fd, address, inherited: inheritedFd !== undefined });
  }
}

/** Reads systemd's LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES: socket name (or index) → fd, when meant for us. */
export function inheritedSockets(env: Readonly<Record<string, string | undefined>>): Map<string, number> {
  const out = new Map<string, number>();
  if (env['LISTEN_PID'] !== String(process.pid)) return out;
  const count = Number(env['LISTEN_FDS'] ?? '0');
  const names = (env['LISTEN_FDNAMES'] ?? '').split(':');
  for (let i = 0; i < count; i++) out.set(names[i] || String(i), 3 + i);
  return out;
}

// --- helpers ---

function describe(spec: SocketSpec): string {
  const b = spec.bind;
  if (b.kind === 'fd') return `fd://${b.fd}`;
  return b.kind === 'unix' ? `unix:${b.path}` : `${b.host.includes(':') ? `[${b.host}]` : b.host}:${b.port}`;
}

function removeSocketFile(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    // ENOENT: already gone, which is what we wanted
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
