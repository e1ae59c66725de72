// Listening sockets owned by the master ([socket:NAME]). The master binds each once, puts it in the LISTEN
// state, and never accepts on it: every worker inherits the fd and accepts directly (DESIGN §8: no round
// robin through the master). The fds stay open across reloads, so connections queue in the backlog while
// workers change; they are also what a re-exec or systemd hands over through LISTEN_FDS.
//
// A balanced socket (`reuse_port = true`) is a set of slots: one SO_REUSEPORT socket per worker slot, all
// bound to the same address, so the kernel spreads new connections over them by a hash of the connection.
// The master keeps every slot open, so the connections queued on a slot wait there while its worker is
// replaced. Slot 0 is bound and listens at start (connections queue from the first moment, as on a shared
// socket); a later slot is only bound, and joins the group when its first worker's listen(2) on the
// inherited fd puts it in the LISTEN state — a slot whose worker is still loading gets no connections.
import { chmodSync, chownSync, closeSync, existsSync, unlinkSync } from 'node:fs';
import type { SocketSpec } from '../config/types.js';
import { listenSocket, NativeError, socketAddress } from '../os/native.js';
import { lookupGroupId, lookupUser } from '../os/users.js';

export interface BoundSocket {
  readonly spec: SocketSpec;
  /** the socket's fd; for a balanced socket, slot 0's as bound at start (slotFd and handOver give the open slots) */
  readonly fd: number;
  /** "127.0.0.1:8000", "[::]:443" or "unix:/path" with the real port when 0 was asked */
  readonly address: string;
  /** true when the fd came from our parent (systemd, or the old master of a re-exec) */
  readonly inherited: boolean;
}

export class SocketBindError extends Error {}

export class SocketSet {
  private readonly sockets = new Map<string, BoundSocket>();
  /** balanced sockets: name → their port (the real one when 0 was asked) and open slots, slot → fd */
  private readonly slots = new Map<string, { readonly port: number; readonly fds: Map<number, number> }>();

  /**
   * Binds every socket, or takes it over from `inherited` (name → fds) when the parent passed it; a balanced
   * socket takes every fd passed under its name as its slots 0, 1, … Throws SocketBindError naming the
   * socket and address when one cannot be bound.
   */
  static bind(specs: readonly SocketSpec[], inherited: ReadonlyMap<string, readonly number[]> = new Map()): SocketSet {
    const set = new SocketSet();
    try {
      for (const spec of specs) set.bindOne(spec, inherited.get(spec.name) ?? []);
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

  /** Whether `name` is a balanced socket (one SO_REUSEPORT socket per worker slot). */
  isBalanced(name: string): boolean {
    return this.slots.has(name);
  }

  /**
   * The fd of `slot` of the balanced socket `name`. A slot not open yet is bound now, without listening:
   * the first worker to listen(2) on it makes it take connections. Throws SocketBindError when it cannot
   * be bound (EMFILE, …) or `name` is not balanced.
   */
  slotFd(name: string, slot: number): number {
    const slots = this.slots.get(name);
    const base = this.sockets.get(name);
    if (!slots || !base) throw new SocketBindError(`socket ${name} is not balanced (reuse_port = false)`);
    const open = slots.fds.get(slot);
    if (open !== undefined) return open;
    const b = base.spec.bind;
    if (b.kind !== 'tcp') throw new SocketBindError(`[socket:${name}] reuse_port needs a TCP address`);
    let fd: number;
    try {
      fd = listenSocket({ kind: 'tcp', host: b.host, port: slots.port }, { backlog: base.spec.backlog, reusePort: true, listen: false });
    } catch (err) {
      const code = err instanceof NativeError ? err.code : (err as Error).message;
      throw new SocketBindError(`[socket:${name}] cannot open slot ${slot} on ${base.address}: ${code}`, { cause: err });
    }
    slots.fds.set(slot, fd);
    return fd;
  }

  /**
   * Closes the master's copy of a slot. The socket itself closes when the last worker holding it does; the
   * kernel then resets the connections still queued on it, unless net.ipv4.tcp_migrate_req moves them to
   * another slot (docs/decisions.md, Prefork). The last open slot stays: it keeps the address bound, and
   * connections queue there as they would on a shared socket.
   */
  closeSlot(name: string, slot: number): void {
    const slots = this.slots.get(name);
    const fd = slots?.fds.get(slot);
    if (!slots || fd === undefined || slots.fds.size <= 1) return;
    closeSync(fd);
    slots.fds.delete(slot);
  }

  /** The open slots of a balanced socket, in slot order (empty for a shared socket). */
  openSlots(name: string): number[] {
    return [...(this.slots.get(name)?.fds.keys() ?? [])].sort((a, b) => a - b);
  }

  /** Every fd a successor master inherits, with its name: a balanced socket's slots in slot order. */
  handOver(): { fd: number; name: string }[] {
    return this.list().flatMap((s) => {
      const slots = this.slots.get(s.spec.name);
      if (!slots) return [{ fd: s.fd, name: s.spec.name }];
      return this.openSlots(s.spec.name).map((k) => ({ fd: slots.fds.get(k) as number, name: s.spec.name }));
    });
  }

  /** Closes every socket (at shutdown); unix socket files we created are removed unless a successor has them. */
  close(keepFiles = false): void {
    for (const s of this.sockets.values()) {
      // handing over: the successor holds its own copies of the fds; this process's exit closes ours
      if (keepFiles) continue;
      const slots = this.slots.get(s.spec.name);
      if (slots) for (const fd of slots.fds.values()) closeSync(fd);
      else closeSync(s.fd);
      if (s.spec.bind.kind === 'unix' && !s.inherited) removeSocketFile(s.spec.bind.path);
    }
    this.sockets.clear();
    this.slots.clear();
  }

  // --- internal ---

  private bindOne(spec: SocketSpec, inheritedFds: readonly number[]): void {
    const b = spec.bind;
    const inherited = inheritedFds[0];
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
          reusePort: spec.reusePort,
        });
      } catch (err) {
        const code = err instanceof NativeError ? err.code : (err as Error).message;
        throw new SocketBindError(`[socket:${spec.name}] cannot bind ${describe(spec)}: ${code}`, { cause: err });
      }
    } else {
      throw new SocketBindError(`[socket:${spec.name}] fd://${b.fd}: no such inherited fd`);
    }
    let address = describe(spec);
    let port = b.kind === 'tcp' ? b.port : 0;
    if (b.kind === 'tcp') {
      const a = socketAddress(fd);
      if (a) address = `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
      // with port 0 the kernel chose one for the first socket; every slot of a balanced socket must share it
      if (a) port = a.port;
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
    if (spec.reusePort && b.kind === 'tcp') {
      // a re-exec'd master inherits every slot of its predecessor, in slot order; extra fds of a shared socket are closed
      this.slots.set(spec.name, { port, fds: new Map((inheritedFds.length > 0 ? inheritedFds : [fd]).map((f, k) => [k, f])) });
    } else if (b.kind !== 'fd') {
      // more fds under a shared socket's name: the slots of a predecessor whose socket was balanced; only the first is used
      for (const extra of inheritedFds.slice(1)) closeSync(extra);
    }
  }
}

/**
 * Reads systemd's LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES: socket name (or index) → fds, when meant for us. A
 * name given several times (the slots of a balanced socket, from a re-exec) maps to all its fds, in order.
 */
export function inheritedSockets(env: Readonly<Record<string, string | undefined>>): Map<string, number[]> {
  const out = new Map<string, number[]>();
  if (env['LISTEN_PID'] !== String(process.pid)) return out;
  const count = Number(env['LISTEN_FDS'] ?? '0');
  const names = (env['LISTEN_FDNAMES'] ?? '').split(':');
  for (let i = 0; i < count; i++) {
    const name = names[i] || String(i);
    out.set(name, [...(out.get(name) ?? []), 3 + i]);
  }
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
