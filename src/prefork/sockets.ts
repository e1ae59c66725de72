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
import { closeSync, existsSync, lchownSync, lstatSync, unlinkSync } from 'node:fs';
import { isIP } from 'node:net';
import type { SocketSpec } from '../config/types.js';
import { DroverError } from '../errors.js';
import { listenSocket, resolveIPv4, socketAddress } from '../os/native-net.js';
import { NativeError } from '../os/libc.js';
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

/** A [socket:NAME] that cannot be bound or taken over. */
export class SocketBindError extends DroverError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_SOCKET_BIND', message, options);
  }
}

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
    const inheritedFd = b.kind === 'fd' ? b.fd : inheritedFds[0];
    if (inheritedFd !== undefined) {
      // an fd:// that was never passed to us: say so now, not when a worker fails to listen on it
      if (b.kind === 'fd' && !existsSync(`/proc/self/fd/${inheritedFd}`)) {
        throw new SocketBindError(`[socket:${spec.name}] fd://${b.fd}: no such inherited fd`);
      }
      let address = describe(spec);
      if (b.kind === 'tcp') address = tcpAddress(inheritedFd) ?? address;
      this.sockets.set(spec.name, { spec, fd: inheritedFd, address, inherited: true });
      this.keepSlots(spec, inheritedFds, inheritedFd);
      return;
    }
    if (b.kind === 'fd') throw new SocketBindError(`[socket:${spec.name}] fd://${b.fd}: no such inherited fd`);
    let owner: { uid: number; gid: number } | null = null;
    if (b.kind === 'unix' && spec.owner !== null) {
      const [user, group] = spec.owner.split(':');
      const u = lookupUser(user ?? '');
      // `user:group` takes the group (a name or a gid, 0 included), `user` alone the user's primary group
      const gid = group ? lookupGroupId(group) : (u?.gid ?? null);
      if (!u || gid === null) throw new SocketBindError(`[socket:${spec.name}] owner: no such user or group in ${JSON.stringify(spec.owner)}`);
      owner = { uid: u.uid, gid };
    }
    try {
      const { fd, address } = openListening({ bind: b, backlog: spec.backlog, mode: spec.mode, owner, reusePort: spec.reusePort });
      this.sockets.set(spec.name, { spec, fd, address, inherited: false });
      this.keepSlots(spec, [], fd);
    } catch (err) {
      if (!(err instanceof ListenError)) throw err;
      throw new SocketBindError(`[socket:${spec.name}] cannot bind ${describe(spec)}: ${err.message}`, { cause: err });
    }
  }

  /** A balanced socket's slots: every fd a re-exec'd master inherited under its name, in slot order, or the one just bound. */
  private keepSlots(spec: SocketSpec, inheritedFds: readonly number[], fd: number): void {
    const b = spec.bind;
    if (spec.reusePort && b.kind === 'tcp') {
      // with port 0 the kernel chose one for the first socket; every slot of a balanced socket must share it
      const port = socketAddress(fd)?.port ?? b.port;
      this.slots.set(spec.name, { port, fds: new Map((inheritedFds.length > 0 ? inheritedFds : [fd]).map((f, k) => [k, f])) });
    } else if (b.kind !== 'fd') {
      // more fds under a shared socket's name: the slots of a predecessor whose socket was balanced; only the first is used
      for (const extra of inheritedFds.slice(1)) closeSync(extra);
    }
  }
}

/** Where and how to listen: a [socket:x], or an fcgi-program's socket (src/prefork/fcgi.ts). */
export interface ListenSpec {
  readonly bind: { readonly kind: 'tcp'; readonly host: string; readonly port: number } | { readonly kind: 'unix'; readonly path: string };
  readonly backlog: number;
  /** unix sockets: permission bits of the socket file; null = as the umask makes it */
  readonly mode: number | null;
  /** unix sockets: owner of the socket file (gid -1: unchanged); null = drover's */
  readonly owner: { readonly uid: number; readonly gid: number } | null;
  /** TCP: SO_REUSEPORT, the first slot of a balanced socket */
  readonly reusePort?: boolean;
}

/** A listening socket that cannot be created; `code` is the errno name (EADDRINUSE, EACCES, …) or E_RESOLVE. */
export class ListenError extends DroverError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/**
 * Creates a socket in the LISTEN state that nobody accepts on yet. A TCP host name is resolved to IPv4
 * (as Python's bind does). A unix socket replaces a socket file left at its path by a dead process (but
 * never another kind of file); it is created with its mode through the umask and handed to its owner with
 * lchown, so no path is followed after bind. Throws ListenError.
 */
export function openListening(spec: ListenSpec): { fd: number; address: string } {
  const b = spec.bind;
  let fd: number;
  try {
    if (b.kind === 'unix') {
      // a socket file left by a dead master would make bind fail with EADDRINUSE
      removeStaleSocketFile(b.path);
      // bind(2) creates the file with 0777 & ~umask: set the mode there, not through a later chmod of a path
      const oldUmask = spec.mode !== null ? process.umask(~spec.mode & 0o777) : null;
      try {
        fd = listenSocket({ kind: 'unix', path: b.path }, { backlog: spec.backlog });
      } finally {
        if (oldUmask !== null) process.umask(oldUmask);
      }
      if (spec.owner !== null) {
        try {
          lchownSync(b.path, spec.owner.uid, spec.owner.gid);
        } catch (err) {
          closeListening(fd, spec);
          throw err;
        }
      }
      return { fd, address: `unix:${b.path}` };
    }
    fd = listenSocket({ kind: 'tcp', host: resolveIPv4OrV6(b.host), port: b.port }, { backlog: spec.backlog, reusePort: spec.reusePort === true });
  } catch (err) {
    if (err instanceof ListenError) throw err;
    const code = err instanceof NativeError ? err.code : err instanceof DroverError ? err.code : ((err as NodeJS.ErrnoException).code ?? 'EINVAL');
    throw new ListenError(code, err instanceof NativeError ? code : (err as Error).message, { cause: err });
  }
  return { fd, address: tcpAddress(fd) ?? `${b.host}:${b.port}` };
}

/** Closes a socket from openListening; a unix socket's file goes with it. */
export function closeListening(fd: number, spec: ListenSpec): void {
  closeSync(fd);
  if (spec.bind.kind === 'unix') removeSocketFile(spec.bind.path);
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

/** An IP literal as it is, a host name resolved to IPv4. */
function resolveIPv4OrV6(host: string): string {
  return isIP(host) !== 0 ? host : resolveIPv4(host);
}

/** "127.0.0.1:8000" or "[::]:443" with the real port of a bound TCP socket; null for other families. */
function tcpAddress(fd: number): string | null {
  const a = socketAddress(fd);
  return a ? `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}` : null;
}

/** Removes a socket file left at `path`; anything else there is left alone (bind then fails with EADDRINUSE). */
function removeStaleSocketFile(path: string): void {
  let st;
  try {
    st = lstatSync(path);
  } catch (err) {
    // ENOENT: nothing there, the usual case
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (st.isSocket()) removeSocketFile(path);
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
