// Listening sockets owned by the master ([socket:NAME]). The master binds each once, puts it in the LISTEN
// state, and never accepts on it: every worker inherits the fd and accepts directly (DESIGN §8: no round
// robin through the master). The fds stay open across reloads, so connections queue in the backlog while
// workers change; they are also what a re-exec or systemd hands over through LISTEN_FDS.
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { getSystemErrorName } from 'node:util';
import type { SocketSpec } from '../config/types.js';
import { lookupGroupId, lookupUser } from '../os/users.js';

/** The parts of a libuv handle we use: its fd, its address, and close. */
interface ServerHandle {
  readonly fd: number;
  getsockname?(out: Record<string, unknown>): number;
  close(cb?: () => void): void;
}

/** net._createServerHandle: the binding helper Node's cluster module uses for exactly this purpose. */
type CreateServerHandle = (address: string | null, port: number, addressType: number, fd?: number, flags?: number) => ServerHandle | number;

export interface BoundSocket {
  readonly spec: SocketSpec;
  readonly fd: number;
  /** "127.0.0.1:8000", "[::]:443" or "unix:/path" with the real port when 0 was asked */
  readonly address: string;
  /** true when the fd came from our parent (systemd, or the old master of a re-exec) */
  readonly inherited: boolean;
}

export class SocketBindError extends Error {}

export class SocketSet {
  private readonly sockets = new Map<string, BoundSocket & { handle: ServerHandle }>();

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

  /** fds for a program's `sockets =` list, in its order. */
  fdsFor(names: readonly string[]): number[] {
    return names.map((n) => {
      const s = this.sockets.get(n);
      if (!s) throw new SocketBindError(`socket ${n} is not bound`);
      return s.fd;
    });
  }

  /** Closes every socket (at shutdown); unix socket files we created are removed unless a successor has them. */
  close(keepFiles = false): void {
    for (const s of this.sockets.values()) {
      // handing over: leave the fds to this process's exit (closing a bound unix handle unlinks its path)
      if (keepFiles) continue;
      s.handle.close();
      if (s.spec.bind.kind === 'unix' && !s.inherited && !keepFiles) removeSocketFile(s.spec.bind.path);
    }
    this.sockets.clear();
  }

  // --- internal ---

  private bindOne(spec: SocketSpec, inherited: number | undefined): void {
    let inheritedFd = inherited;
    const create = (net as unknown as { _createServerHandle: CreateServerHandle })._createServerHandle;
    const b = spec.bind;
    let handle: ServerHandle | number;
    if (b.kind === 'fd') inheritedFd = b.fd;
    if (inheritedFd !== undefined) {
      // port and address must be falsy with an fd (net.js asserts it)
      handle = create(null, 0, 0, inheritedFd);
    } else if (b.kind === 'unix') {
      // a socket file left by a dead master would make bind fail with EADDRINUSE
      if (existsSync(b.path)) removeSocketFile(b.path);
      handle = create(b.path, -1, -1);
    } else if (b.kind === 'tcp') {
      handle = create(b.host, b.port, net.isIPv6(b.host) ? 6 : 4);
    } else {
      throw new SocketBindError(`[socket:${spec.name}] fd://${b.fd}: no such inherited fd`);
    }
    if (typeof handle === 'number') {
      const code = errnoName(handle);
      throw new SocketBindError(`[socket:${spec.name}] cannot bind ${describe(spec)}: ${code}`);
    }
    let address = describe(spec);
    if (b.kind === 'tcp' && handle.getsockname) {
      const out: Record<string, unknown> = {};
      handle.getsockname(out);
      const host = String(out['address'] ?? b.host);
      address = `${host.includes(':') ? `[${host}]` : host}:${String(out['port'] ?? b.port)}`;
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
    if (inheritedFd === undefined) startListening(handle.fd, spec);
    this.sockets.set(spec.name, { spec, fd: handle.fd, address, inherited: inheritedFd !== undefined, handle });
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

/**
 * Puts a bound socket into the LISTEN state without accepting on it. Node has no API to listen without
 * also accepting in this process, so a one-line perl (perl-base is part of every Debian system) inherits
 * the fd, calls listen(2) and exits; the socket stays listening in the master and connections wait in the
 * backlog until a worker accepts. Node workers would call listen themselves, but servers in other languages
 * that follow systemd's convention expect a socket that already listens.
 */
function startListening(fd: number, spec: SocketSpec): void {
  // perl first (perl-base is essential in Debian); python3 where there is no perl
  const helpers: [string, string[]][] = [
    ['perl', ['-e', 'open(my $s, "+<&=", 3) or die "open: $!\\n"; listen($s, $ARGV[0]) or die "listen: $!\\n";', String(spec.backlog)]],
    ['python3', ['-c', 'import socket, sys; socket.socket(fileno=3).listen(int(sys.argv[1]))', String(spec.backlog)]],
  ];
  for (const [cmd, args] of helpers) {
    const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe', fd], encoding: 'utf8' });
    // ENOENT: this helper is not installed; try the next one
    if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') continue;
    if (r.error || r.status !== 0) {
      throw new SocketBindError(
        `[socket:${spec.name}] cannot listen on ${describe(spec)}: ${r.error ? r.error.message : (r.stderr || `${cmd} exited ${String(r.status)}`).trim()}`,
      );
    }
    return;
  }
  throw new SocketBindError(
    `[socket:${spec.name}] cannot put ${describe(spec)} in the listening state: drover needs perl or python3 for that (Node cannot listen without accepting)`,
  );
}

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

function errnoName(code: number): string {
  try {
    return getSystemErrorName(code);
  } catch {
    return `error ${code}`; // not an errno Node knows
  }
}
