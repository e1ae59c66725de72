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
// Where the kernel lets drover load a BPF program (root), the slots are not picked by hash but in turn,
// among those the master lists as ready (src/os/steering.ts): a dead worker's slot gets no new connection
// while its replacement loads, and a slot that closes is taken out of turn and drained first. A re-exec
// hands the steering over with the sockets: the old master lists the new master's ready slots, drains the
// slots the new one does not keep while its own workers still accept, and only then lets the new master
// write the list (handSteeringOver, takeSteering).
import { closeSync, fstatSync, lchownSync, renameSync, unlinkSync, type Stats } from 'node:fs';
import { steadyNowMs } from '../os/clock.js';
import { describeFileKind, lstatOrNull } from '../os/safe-dir.js';
import { isIP } from 'node:net';
import type { SocketSpec } from '../config/types.js';
import { DroverError, formatConfigProblem } from '../errors.js';
import { boundAddress, describeAddress, listenSocket, resolveIPv4, socketAddress, unixSocketAnswers } from '../os/native-net.js';
import { NativeError } from '../os/libc.js';
import { assignPassedSockets, describePassed, STEERING_FD_PREFIX } from './passed-sockets.js';
import { acceptQueueLength, ReuseportSteering } from '../os/steering.js';
import { lookupGroupId, lookupUser } from '../os/users.js';

/**
 * What a re-exec'd master tells its predecessor when it is ready, per balanced socket whose steering it
 * adopted: the slots it keeps open and those whose worker is ready (where new connections may go).
 */
export type SteeringView = Readonly<Record<string, { readonly open: readonly number[]; readonly ready: readonly number[] }>>;

export interface BoundSocket {
  readonly spec: SocketSpec;
  /** the socket's fd; for a balanced socket, slot 0's as bound at start (slotFd and handOver give the open slots) */
  readonly fd: number;
  /** "127.0.0.1:8000", "[::]:443" or "unix:/path" with the real port when 0 was asked */
  readonly address: string;
  /** true when the fd came from our parent (systemd, or the old master of a re-exec) */
  readonly inherited: boolean;
  /**
   * true when the socket is not drover's: passed at drover's first start (by systemd, or `bind = fd://N`),
   * and handed down each re-exec as such. A reload never binds it anew nor closes it for a change, and its
   * unix file is never removed: its address and settings are its passer's (a .socket unit).
   */
  readonly passed: boolean;
}

/** What take() takes out of a SocketSet, whole, so that restore() can put it back exactly. */
interface Retired {
  readonly bound: BoundSocket;
  readonly fds: readonly number[];
  readonly slots: { readonly port: number; readonly fds: Map<number, number> } | null;
  readonly steering: ReuseportSteering | null;
  readonly steeringFailure: string | null;
  readonly steeringHeld: readonly number[] | null;
  readonly adoptable: boolean;
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
  /** balanced sockets' round-robin steering; absent where it could not be loaded (the kernel's hash decides) */
  private readonly steering = new Map<string, ReuseportSteering>();
  /** why steering could not be loaded, per balanced socket */
  private readonly steeringFailures = new Map<string, string>();
  /** slots taken out of turn and waiting for their queue to drain before they close */
  private readonly draining = new Set<number>();
  /**
   * steering adopted from a predecessor that still writes the list: name → the slots this master would
   * list (written once takeSteering() is called)
   */
  private readonly steeringHeld = new Map<string, readonly number[]>();
  /** this master handed its steering over to a successor: it writes the lists no more */
  private steeringHandedOver = false;
  /**
   * inherited unix sockets whose file the master before this one had made or adopted (names): this master
   * removes their files at its exit once it has taken over (adoptFiles), so the last master of a chain of
   * re-execs leaves no file behind; a systemd-passed socket is never in it
   */
  private readonly adoptable = new Set<string>();
  private filesAdopted = false;
  /** sections with reuse_port = true served by a passed socket, so shared (not balanced); empty at first */
  private readonly reusePortIgnored = new Set<string>();
  /**
   * sockets a reload replaced or removed ([]): the master's copies, closed by closeRetired() once the
   * programs that used them have been restarted, rolled or stopped (their own copies keep them open till then)
   */
  private readonly retired: Retired[] = [];

  /**
   * Binds every socket, or takes it over from `inherited` (name → fds) when the parent passed it: under its
   * name, as fd://N, or bound to its address (src/prefork/passed-sockets.ts); a balanced socket takes every
   * fd passed under its name as its slots 0, 1, … `fileOwned` (a re-exec's old master's socketFiles()) names
   * the unix socket paths whose files this master may adopt; `passedFds` the inherited fds that are not
   * drover's (every one at a first start; those a re-exec's old master marked so, PASSED_FDS_ENV). Throws
   * SocketBindError naming the socket and address when one cannot be bound.
   */
  static bind(
    specs: readonly SocketSpec[],
    inherited: ReadonlyMap<string, readonly number[]> = new Map(),
    fileOwned: ReadonlySet<string> = new Set(),
    passedFds: ReadonlySet<number> = new Set(),
  ): SocketSet {
    const set = new SocketSet();
    const { assigned, unclaimed } = assignPassedSockets(specs, inherited, passedFds);
    try {
      for (const spec of specs) {
        set.bindOne(spec, assigned.get(spec.name) ?? [], assigned.get(STEERING_FD_PREFIX + spec.name) ?? [], false, passedFds);
        // the config may have moved the socket since (a re-exec reads it again): only the same path is adopted
        if (set.sockets.get(spec.name)?.inherited === true && spec.bind.kind === 'unix' && fileOwned.has(spec.bind.path)) {
          set.adoptable.add(spec.name);
          rememberSocketFile(spec.bind.path); // the file the master before this one made, as it is now
        }
      }
    } catch (err) {
      set.close();
      // the address is taken by a passed socket of a slightly different address ([::]:80 holds 0.0.0.0:80 too)
      if (err instanceof SocketBindError && err.cause instanceof ListenError && err.cause.code === 'EADDRINUSE' && unclaimed.length > 0) {
        const passed = unclaimed.map((fd) => `fd ${fd} on ${describePassed(fd)}`).join(', ');
        throw new SocketBindError(`${err.message} (passed to drover and served by no [socket:x]: ${passed}; a section bound to exactly that address, or serve's -b, serves it)`, { cause: err.cause });
      }
      throw err;
    }
    // steering handed over and not adopted (the socket is no longer balanced, or no longer there): not needed
    for (const [name, fds] of assigned) {
      if (!name.startsWith(STEERING_FD_PREFIX) || set.steeringHeld.has(name.slice(STEERING_FD_PREFIX.length))) continue;
      for (const fd of fds) closeSync(fd);
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
    if (b.kind !== 'tcp') throw new SocketBindError(`${shownName(base.spec)} reuse_port needs a TCP address`);
    let fd: number;
    try {
      fd = listenSocket({ kind: 'tcp', host: b.host, port: slots.port }, { backlog: base.spec.backlog, reusePort: true, listen: false });
    } catch (err) {
      const code = err instanceof NativeError ? err.code : (err as Error).message;
      throw new SocketBindError(`${shownName(base.spec)} cannot open slot ${slot} on ${base.address}: ${code}`, { cause: err });
    }
    slots.fds.set(slot, fd);
    return fd;
  }

  /**
   * Closes the master's copy of a slot. The socket itself closes when the last worker holding it does; the
   * kernel then resets the connections still queued on it, unless net.ipv4.tcp_migrate_req moves them to
   * another slot (docs/decisions.md, Prefork). With steering and `drain`, the slot is first taken out of
   * turn and the master waits (up to DRAIN_MS) until its worker, still accepting, has emptied its queue;
   * resolves once the copy is closed. The last open slot stays: it keeps the address bound, and
   * connections queue there as they would on a shared socket.
   */
  async closeSlot(name: string, slot: number, drain = false): Promise<void> {
    const slots = this.slots.get(name);
    const fd = slots?.fds.get(slot);
    if (!slots || fd === undefined || slots.fds.size <= 1) return;
    slots.fds.delete(slot);
    const steering = this.writableSteering(name);
    let steered = false;
    if (steering) {
      try {
        steering.steer(steering.listed().filter((f) => f !== fd));
        steered = true;
      } catch {
        // the list could not be rewritten (the kernel refused the map update): close without draining
      }
    }
    if (steered && drain) {
      this.draining.add(fd);
      await drained(fd);
      // closed meanwhile by close(): the number may already name another file
      if (!this.draining.delete(fd)) return;
    }
    try {
      closeSync(fd);
    } catch {
      // already closed: nothing is left to release
    }
  }

  /**
   * New connections to the balanced socket `name` go to `slots` (those with a ready worker) in turn. A
   * no-op without steering; an empty list leaves the choice to the kernel's hash.
   */
  steer(name: string, slots: readonly number[]): { changed: boolean; listed: readonly number[]; refused: readonly { slot: number; code: string }[] } | null {
    const open = this.slots.get(name)?.fds;
    if (!this.steering.has(name) || !open) return null;
    if (this.steeringHeld.has(name)) {
      // the predecessor still writes the list: remembered for takeSteering()
      this.steeringHeld.set(name, [...slots]);
      return { changed: false, listed: [], refused: [] };
    }
    const steering = this.writableSteering(name);
    if (!steering) return { changed: false, listed: [], refused: [] };
    const fds = slots.flatMap((k) => (open.has(k) ? [open.get(k) as number] : []));
    const r = steering.steer(fds);
    const slotOf = (fd: number): number => slots.find((k) => open.get(k) === fd) ?? -1;
    return { changed: r.changed, listed: r.listed.map(slotOf), refused: r.refused.map((x) => ({ slot: slotOf(x.fd), code: x.code })) };
  }

  /**
   * In a master whose re-exec'd successor is ready (`view`: what it keeps, for the sockets whose steering it
   * adopted): from now on this master writes no list. Each adopted list becomes the successor's ready
   * slots, and the slots the successor does not keep (TTIN'd beyond its numprocs) are drained while this
   * master's workers still accept on them; resolves once they are empty (at most DRAIN_MS), so that
   * stopping those workers resets nothing. A list the successor did not adopt (it loaded its own program)
   * is emptied instead, since a socket can be in one process's list only.
   */
  async handSteeringOver(view: SteeringView): Promise<void> {
    this.steeringHandedOver = true;
    const drains: Promise<void>[] = [];
    for (const [name, steering] of this.steering) {
      const fds = this.slots.get(name)?.fds;
      const v = view[name];
      try {
        if (!v || !fds) {
          steering.steer([]);
          continue;
        }
        steering.steer(v.ready.flatMap((k) => (fds.has(k) ? [fds.get(k) as number] : [])));
      } catch {
        // the kernel refused the map update: the successor rewrites the list when it takes it
        continue;
      }
      const keep = new Set(v.open);
      for (const [slot, fd] of fds) if (!keep.has(slot)) drains.push(drained(fd));
    }
    await Promise.all(drains);
  }

  /**
   * In a re-exec'd master, once its predecessor has handed the steering over (or has gone): writes the
   * lists it held back. Returns the names of the sockets concerned.
   */
  takeSteering(): string[] {
    const names = [...this.steeringHeld.keys()];
    this.steeringHeld.clear();
    return names;
  }

  /** In a re-exec'd master that has taken over (its predecessor handed over or has gone): the adoptable files are this master's to remove. */
  adoptFiles(): void {
    this.filesAdopted = true;
  }

  /**
   * The unix socket paths this master made or may adopt, for a successor's SocketSet.bind: the files of
   * sockets inherited from systemd are not among them.
   */
  socketFiles(): string[] {
    return this.list().flatMap((s) => (s.spec.bind.kind === 'unix' && (!s.inherited || this.adoptable.has(s.spec.name)) ? [s.spec.bind.path] : []));
  }

  /** What handSteeringOver() in the predecessor needs to know, per socket whose steering this master adopted. */
  steeringView(): SteeringView {
    const view: Record<string, { open: number[]; ready: number[] }> = {};
    for (const [name, ready] of this.steeringHeld) view[name] = { open: this.openSlots(name), ready: [...ready] };
    return view;
  }

  /** Whether any balanced socket is steered (nothing to recompute on a worker's change otherwise). */
  anySteered(): boolean {
    return this.steering.size > 0;
  }

  /** Whether new connections to `name` are steered in turn (false: by the kernel's hash, or a shared socket). */
  isSteered(name: string): boolean {
    return this.steering.has(name);
  }

  /** Sections with reuse_port = true whose socket was passed: served as one shared socket. */
  reusePortPassed(): readonly string[] {
    return [...this.reusePortIgnored].filter((name) => this.sockets.has(name));
  }

  /** Balanced sockets whose steering could not be loaded, with the reason. */
  steeringFailed(): ReadonlyMap<string, string> {
    return this.steeringFailures;
  }

  /** The open slots of a balanced socket, in slot order (empty for a shared socket). */
  openSlots(name: string): number[] {
    return [...(this.slots.get(name)?.fds.keys() ?? [])].sort((a, b) => a - b);
  }

  /**
   * Every fd a successor master inherits, with its name: a balanced socket's slots in slot order, then its
   * steering program and maps (under STEERING_FD_PREFIX + name).
   */
  handOver(): { fd: number; name: string; passed?: boolean }[] {
    return this.list().flatMap((s) => {
      const name = s.spec.name;
      const slots = this.slots.get(name);
      if (!slots) return [{ fd: s.fd, name, ...(s.passed ? { passed: true } : {}) }];
      const steering = this.steering.get(name)?.handles() ?? [];
      return [...this.openSlots(name).map((k) => ({ fd: slots.fds.get(k) as number, name })), ...steering.map((fd) => ({ fd, name: STEERING_FD_PREFIX + name }))];
    });
  }

  /**
   * A reload's [socket:x] that is new or whose settings changed: binds it; a changed one is bound anew beside
   * the old one, which is retired (the programs still using it keep their copies until they are restarted or
   * rolled). A unix socket at the same path is bound under a temporary name and renamed over the old file,
   * so the path never stops answering. A TCP address held by the old socket cannot be bound twice: changing
   * only its backlog or reuse_port is refused (it waits for drover's next start). A passed socket is not
   * drover's to replace: any change to its section is refused. Throws SocketBindError and leaves the old
   * socket as it was.
   */
  rebind(spec: SocketSpec): void {
    const name = spec.name;
    const old = this.sockets.get(name);
    // systemd's socket (by name or address): binding the section's own address instead would move its
    // programs off it, close systemd's fd (closeRetired) and, for a unix path, rename drover's file over
    // systemd's; what the section says applies only when drover is started without it
    if (old?.passed === true && old.spec.bind.kind !== 'fd') {
      throw new SocketBindError(
        `[socket:${name}] is a socket drover was passed (fd ${old.fd} on ${old.address}): a reload cannot change it, and its programs keep it; its address and settings are its passer's (systemd's .socket unit: ListenStream=, Backlog=, SocketMode=), and the section's own apply only when drover starts without that socket (a re-exec with SIGUSR2 keeps it too)`,
      );
    }
    if (old && old.spec.bind.kind === 'tcp' && spec.bind.kind === 'tcp' && old.spec.bind.port !== 0 && old.spec.bind.host === spec.bind.host && old.spec.bind.port === spec.bind.port) {
      throw new SocketBindError(`[socket:${name}] cannot be bound anew on ${describe(spec)} while its programs still listen there (only backlog or reuse_port changed): the change waits for drover's next start (drover down and up, or a re-exec with SIGUSR2)`);
    }
    // a passed socket is not drover's to bind again: the new one would be the very fd that closeRetired()
    // then closes under it
    if (old && (old.spec.bind.kind === 'fd' || spec.bind.kind === 'fd')) {
      throw new SocketBindError(`[socket:${name}] is a socket drover was passed (${describe(old.spec)}): a reload cannot change it; the change waits for drover's next start`);
    }
    const taken = this.take(name);
    try {
      this.bindOne(spec, [], [], old !== undefined && old.spec.bind.kind === 'unix' && spec.bind.kind === 'unix' && old.spec.bind.path === spec.bind.path);
    } catch (err) {
      if (taken) this.restore(taken);
      throw err;
    }
    if (taken) this.retired.push(taken);
  }

  /** A reload removed the [socket:x] `name`: retired, closed by closeRetired() once its programs are stopped. */
  remove(name: string): void {
    const taken = this.take(name);
    if (taken) this.retired.push(taken);
  }

  /**
   * Closes the sockets a reload retired, now that the programs using them have moved or stopped; a unix
   * socket's file goes with it while it is still the one this master bound and no current socket took its path.
   */
  closeRetired(stillNamed: ReadonlySet<string> = new Set()): void {
    // fds a current socket holds are never closed here, whatever was retired
    const current = new Set(this.list().flatMap((s) => [s.fd, ...(this.slots.get(s.spec.name)?.fds.values() ?? [])]));
    for (const r of this.retired.splice(0)) {
      // removed, but a process the reload did not apply (another group's, a pool's) still names it: it stays
      if (!this.sockets.has(r.bound.spec.name) && stillNamed.has(r.bound.spec.name)) {
        this.restore(r);
        continue;
      }
      for (const fd of r.fds) if (!current.has(fd)) closeSync(fd);
      r.steering?.close();
      const b = r.bound.spec.bind;
      const ownsFile = !r.bound.inherited || (this.filesAdopted && r.adoptable);
      if (b.kind === 'unix' && ownsFile && !this.list().some((s) => s.spec.bind.kind === 'unix' && s.spec.bind.path === b.path)) removeOwnSocketFile(b.path);
    }
  }

  /**
   * Closes every socket (at shutdown); unix socket files we created, or adopted from the master before us,
   * are removed unless a successor has them.
   */
  close(keepFiles = false): void {
    for (const s of this.sockets.values()) {
      // handing over: the successor holds its own copies of the fds; this process's exit closes ours
      if (keepFiles) continue;
      const slots = this.slots.get(s.spec.name);
      if (slots) for (const fd of slots.fds.values()) closeSync(fd);
      else closeSync(s.fd);
      this.steering.get(s.spec.name)?.close();
      if (s.spec.bind.kind === 'unix' && (!s.inherited || (this.filesAdopted && this.adoptable.has(s.spec.name)))) removeOwnSocketFile(s.spec.bind.path);
    }
    if (!keepFiles) for (const fd of this.draining) closeSync(fd);
    if (!keepFiles) this.closeRetired();
    this.draining.clear();
    this.sockets.clear();
    this.slots.clear();
    this.steering.clear();
  }

  // --- internal ---

  /** The steering of `name` when this master writes its list now (not held for a predecessor, not handed over). */
  private writableSteering(name: string): ReuseportSteering | null {
    if (this.steeringHandedOver || this.steeringHeld.has(name)) return null;
    return this.steering.get(name) ?? null;
  }

  /** Takes `name` out of the set, with what it holds, for rebind() and remove(). */
  private take(name: string): Retired | null {
    const bound = this.sockets.get(name);
    if (!bound) return null;
    const slots = this.slots.get(name) ?? null;
    const fds = [...(slots?.fds.values() ?? [bound.fd])];
    const taken: Retired = {
      bound,
      fds,
      slots,
      steering: this.steering.get(name) ?? null,
      steeringFailure: this.steeringFailures.get(name) ?? null,
      steeringHeld: this.steeringHeld.get(name) ?? null,
      adoptable: this.adoptable.has(name),
    };
    this.sockets.delete(name);
    this.slots.delete(name);
    this.steering.delete(name);
    this.steeringFailures.delete(name);
    this.steeringHeld.delete(name);
    this.adoptable.delete(name);
    return taken;
  }

  /** Puts back what take() took (a rebind that failed). */
  private restore(t: Retired): void {
    const name = t.bound.spec.name;
    this.sockets.set(name, t.bound);
    if (t.slots) this.slots.set(name, t.slots);
    if (t.steering) this.steering.set(name, t.steering);
    if (t.steeringFailure !== null) this.steeringFailures.set(name, t.steeringFailure);
    if (t.steeringHeld !== null) this.steeringHeld.set(name, t.steeringHeld);
    if (t.adoptable) this.adoptable.add(name);
  }

  private bindOne(spec: SocketSpec, inheritedFds: readonly number[], steeringFds: readonly number[], replaceFile = false, passedFds: ReadonlySet<number> = new Set()): void {
    const b = spec.bind;
    // passed by name (systemd's LISTEN_FDNAMES, or a USR2 predecessor, which passes every socket at 3, 4, …
    // whatever its number was), else the number the config gives
    const byNumber = inheritedFds[0] === undefined && b.kind === 'fd';
    const inheritedFd = inheritedFds[0] ?? (b.kind === 'fd' ? b.fd : undefined);
    if (inheritedFd !== undefined) {
      // an fd:// that was never passed to us, or a number open but not a socket (Node's own fds take free
      // numbers): say so now, not when a worker fails to listen on it
      if (byNumber) {
        const problem = inheritedSocketProblem(inheritedFd);
        if (problem !== null) throw new SocketBindError(`${shownName(spec)} fd://${inheritedFd}: ${problem}`);
      }
      // what the passed socket listens on (its own address, not the section's bind =, which may differ)
      const address = passedAddress(inheritedFd) ?? describe(spec);
      const passed = byNumber || b.kind === 'fd' || passedFds.has(inheritedFd);
      this.sockets.set(spec.name, { spec, fd: inheritedFd, address, inherited: true, passed });
      // the slots of a balanced socket are SO_REUSEPORT sockets drover binds beside slot 0: beside a socket
      // bound without SO_REUSEPORT, or by another user (systemd binds as root), they fail with EADDRINUSE;
      // systemd's ReusePort=yes sets it on its one socket and binds no slot either. One shared socket serves.
      if (passed && spec.reusePort) {
        this.reusePortIgnored.add(spec.name);
        this.keepSlots(spec, inheritedFds.slice(0, 1), inheritedFd, steeringFds, false);
        return;
      }
      this.keepSlots(spec, inheritedFds, inheritedFd, steeringFds);
      return;
    }
    if (b.kind === 'fd') throw new SocketBindError(`${shownName(spec)} fd://${b.fd}: no such inherited fd`);
    let owner: { uid: number; gid: number } | null = null;
    if (b.kind === 'unix' && spec.owner !== null) {
      const [user, group] = spec.owner.split(':');
      const u = lookupUser(user ?? '');
      // `user:group` takes the group (a name or a gid, 0 included), `user` alone the user's primary group
      const gid = group ? lookupGroupId(group) : (u?.gid ?? null);
      if (!u || gid === null) throw new SocketBindError(`${shownName(spec)} owner: no such user or group in ${JSON.stringify(spec.owner)}`);
      owner = { uid: u.uid, gid };
    }
    try {
      const { fd, address } = openListening({ bind: b, backlog: spec.backlog, mode: spec.mode, owner, reusePort: spec.reusePort, replaceFile });
      this.sockets.set(spec.name, { spec, fd, address, inherited: false, passed: false });
      this.keepSlots(spec, [], fd, []);
    } catch (err) {
      if (!(err instanceof ListenError)) throw err;
      // what the user wrote and where: the path is theirs to clear, not a server to find (as EADDRINUSE said)
      if (err.code === 'ENOTSOCK' && b.kind === 'unix' && spec.label === undefined) {
        const { file, line, path } = spec.source;
        const at = { file, line, ...(path !== undefined ? { path } : {}) };
        throw new SocketBindError(formatConfigProblem({ ...at, section: `socket:${spec.name}`, key: 'bind', message: `${err.message} (remove it, or bind another path)`, got: `unix:${b.path}` }), { cause: err });
      }
      // the one bind error whose fix is not obvious from its name
      const hint = err.code === 'EACCES' && b.kind === 'tcp' && b.port < 1024 ? ' (a port below 1024 needs root or the CAP_NET_BIND_SERVICE capability)' : '';
      throw new SocketBindError(`${shownName(spec)} cannot bind ${describe(spec)}: ${err.message}${hint}`, { cause: err });
    }
  }

  /**
   * Loads the round-robin steering of a balanced socket's group, through its first slot. Turned off by
   * DROVER_REUSEPORT_STEERING=hash; where the kernel refuses it (no CAP_BPF, a kernel without BPF) the
   * reason is kept for the master's warning and the kernel's hash decides.
   */
  private attachSteering(name: string, fd: number, handed: readonly number[]): void {
    // handed-over fds not adopted here are closed by bind()
    if (process.env.DROVER_REUSEPORT_STEERING === 'hash') return;
    const [ctl, sock, prog] = handed;
    if (handed.length === 3 && ctl !== undefined && sock !== undefined && prog !== undefined) {
      try {
        this.steering.set(name, ReuseportSteering.adopt(ctl, sock, prog));
        this.steeringHeld.set(name, []);
        return;
      } catch (err) {
        if (!(err instanceof NativeError)) throw err;
        // not the maps we expected: load a program of our own, as a first master does
      }
    }
    try {
      this.steering.set(name, ReuseportSteering.attach(fd));
    } catch (err) {
      if (!(err instanceof NativeError)) throw err;
      this.steeringFailures.set(name, err.message);
    }
  }

  /** A balanced socket's slots: every fd a re-exec'd master inherited under its name, in slot order, or the one just bound. */
  private keepSlots(spec: SocketSpec, inheritedFds: readonly number[], fd: number, steeringFds: readonly number[], balanced = spec.reusePort): void {
    const b = spec.bind;
    if (balanced && b.kind === 'tcp') {
      // with port 0 the kernel chose one for the first socket; every slot of a balanced socket must share it
      const port = socketAddress(fd)?.port ?? b.port;
      this.slots.set(spec.name, { port, fds: new Map((inheritedFds.length > 0 ? inheritedFds : [fd]).map((f, k) => [k, f])) });
      this.attachSteering(spec.name, fd, steeringFds);
    } else if (b.kind !== 'fd') {
      // more fds under a shared socket's name: the slots of a predecessor whose socket was balanced; only the first is used
      for (const extra of inheritedFds.slice(1)) closeSync(extra);
    }
  }
}

/** How long closeSlot waits for a slot's queue to drain; its worker normally empties it in microseconds. */
const DRAIN_MS = 1000;
/**
 * How long closeSlot waits at least: a connection whose handshake began before the slot left the turn
 * reaches its accept queue one round trip later (TCP_INFO does not count half-open ones).
 */
const DRAIN_MIN_MS = 200;
/** How often closeSlot looks at the queue while it drains. */
const DRAIN_POLL_MS = 2;

/** Resolves when the listening socket `fd` has an empty accept queue (after DRAIN_MIN_MS), or after DRAIN_MS. */
async function drained(fd: number): Promise<void> {
  const deadline = steadyNowMs() + DRAIN_MS;
  await new Promise((resolve) => setTimeout(resolve, DRAIN_MIN_MS));
  for (;;) {
    let queued: number;
    try {
      queued = acceptQueueLength(fd);
    } catch {
      return; // not a listening TCP socket any more: nothing to wait for
    }
    if (queued === 0 || steadyNowMs() >= deadline) return;
    await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
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
  /**
   * unix sockets: a socket of ours already listens at the path (a reload changed its settings): bind under
   * a temporary name beside it, then rename over it, so the path answers throughout
   */
  readonly replaceFile?: boolean;
}

/** A listening socket that cannot be created; `code` is the errno name (EADDRINUSE, EACCES, …) or E_RESOLVE. */
export class ListenError extends DroverError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/**
 * Creates a socket in the LISTEN state that nobody accepts on yet. A TCP host name is resolved to IPv4
 * (as Python's bind does). A unix socket replaces a socket file left at its path by a server that is gone
 * (never another kind of file, ENOTSOCK, nor a socket a server still listens on, EADDRINUSE); it is created with its mode through the umask and handed to its owner with
 * lchown, so no path is followed after bind. Throws ListenError.
 */
export function openListening(spec: ListenSpec): { fd: number; address: string } {
  const b = spec.bind;
  let fd: number;
  try {
    if (b.kind === 'unix') {
      // a socket file left by a dead master would make bind fail with EADDRINUSE; a live one is refused
      const at = spec.replaceFile === true ? `${b.path}.${process.pid}.new` : b.path;
      removeStaleSocketFile(at);
      // bind(2) creates the file with 0777 & ~umask: set the mode there, not through a later chmod of a path
      const oldUmask = spec.mode !== null ? process.umask(~spec.mode & 0o777) : null;
      try {
        fd = listenSocket({ kind: 'unix', path: at }, { backlog: spec.backlog });
      } finally {
        if (oldUmask !== null) process.umask(oldUmask);
      }
      try {
        if (spec.owner !== null) lchownSync(at, spec.owner.uid, spec.owner.gid);
        // rename(2) replaces the old file at once: a client connects to the old socket or to this one
        if (at !== b.path) renameSync(at, b.path);
      } catch (err) {
        closeSync(fd);
        removeSocketFile(at);
        throw err;
      }
      rememberSocketFile(b.path);
      return { fd, address: `unix:${b.path}` };
    }
    fd = listenSocket({ kind: 'tcp', host: resolveIPv4OrV6(b.host), port: b.port }, { backlog: spec.backlog, reusePort: spec.reusePort === true });
  } catch (err) {
    if (err instanceof ListenError) throw err;
    const code = err instanceof NativeError ? err.code : err instanceof DroverError ? err.code : ((err as NodeJS.ErrnoException).code ?? 'EINVAL');
    throw new ListenError(code, err instanceof NativeError ? bindErrorWords(code) : (err as Error).message, { cause: err });
  }
  return { fd, address: tcpAddress(fd) ?? `${b.host}:${b.port}` };
}

/** What bind(2)'s commonest errors mean for a TCP address, in words, with the code. */
function bindErrorWords(code: string): string {
  const words: Record<string, string> = {
    EADDRINUSE: 'the address is already in use (another process listens on it: `ss -ltnp` names it)',
    EADDRNOTAVAIL: 'no interface of this machine has that address',
    EACCES: 'permission denied',
  };
  return words[code] === undefined ? code : `${words[code]} (${code})`;
}

/** Closes a socket from openListening; a unix socket's file goes with it (while it is still the one bound). */
export function closeListening(fd: number, spec: ListenSpec): void {
  closeSync(fd);
  if (spec.bind.kind === 'unix') removeOwnSocketFile(spec.bind.path);
}

// --- helpers ---

/** An IP literal as it is, a host name resolved to IPv4. */
function resolveIPv4OrV6(host: string): string {
  return isIP(host) !== 0 ? host : resolveIPv4(host);
}

/** "unix:/run/app.sock", "127.0.0.1:8000" or "[::]:443": what an inherited socket listens on; null when unknown. */
function passedAddress(fd: number): string | null {
  try {
    const a = boundAddress(fd);
    return a === null ? null : describeAddress(a);
  } catch (err) {
    // ENOTSOCK, EBADF: not a socket; a worker's listen on it says so
    if (err instanceof NativeError) return null;
    throw err;
  }
}

/** "127.0.0.1:8000" or "[::]:443" with the real port of a bound TCP socket; null for other families. */
function tcpAddress(fd: number): string | null {
  const a = socketAddress(fd);
  return a ? `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}` : null;
}

/**
 * Removes a socket file left at `path` by a server that is gone (connect(2) is refused); anything else there
 * is left alone: another kind of file (ENOTSOCK here: bind(2) would say EADDRINUSE, as if a server had it),
 * and a socket a server still listens on, which is another server's address (another drover, or whatever
 * made it: taking its path would cut it off, and our exit would remove its file), as supervisord refuses it.
 * Throws ListenError.
 */
function removeStaleSocketFile(path: string): void {
  // nothing there is the usual case
  const st = lstatOrNull(path);
  if (st === null) return;
  // a file or directory someone put there is theirs (gunicorn refuses it too: "is not a socket")
  if (!st.isSocket()) throw new ListenError('ENOTSOCK', notASocketMessage(path, st));
  let answers: boolean;
  try {
    answers = unixSocketAnswers(path);
  } catch (err) {
    if (!(err instanceof NativeError)) throw err;
    throw new ListenError(err.code, `${err.code} (cannot connect to the socket file there to tell whether a server still uses it; it is left in place)`, { cause: err });
  }
  if (answers) throw new ListenError('EADDRINUSE', 'EADDRINUSE (a server is listening on it: another drover, or another server that is running; its socket file is left in place)');
  removeSocketFile(path);
}

/**
 * What is wrong with binding a unix socket at `path` when something other than a socket is there (a regular
 * file, a directory, a link); null when nothing or a socket is there (a leftover socket is replaced at bind).
 */
export function notASocketAt(path: string): string | null {
  let st: Stats | null;
  try {
    st = lstatOrNull(path);
  } catch {
    // ENOTDIR, EACCES, ELOOP: not a file in the way; the bind says what is wrong with the path
    return null;
  }
  return st === null || st.isSocket() ? null : notASocketMessage(path, st);
}

function notASocketMessage(path: string, st: Stats): string {
  return `${path} exists and is ${describeFileKind(st)}, not a socket; drover will not remove it`;
}

/** How a message names a socket: its label (serve's -b as typed) when it has one, else its section. */
function shownName(spec: SocketSpec): string {
  return spec.label ?? `[socket:${spec.name}]`;
}

function describe(spec: SocketSpec): string {
  const b = spec.bind;
  if (b.kind === 'fd') return `fd://${b.fd}`;
  return b.kind === 'unix' ? `unix:${b.path}` : `${b.host.includes(':') ? `[${b.host}]` : b.host}:${b.port}`;
}

/**
 * The socket files this master made (or adopted from the master before it), by path: the file's device and
 * inode as bind(2) left it. A file is removed only while the path still leads to that file: one that another
 * server has put there since (after removing ours) is that server's address, and is left alone.
 */
const ownFiles = new Map<string, { dev: number; ino: number }>();

function rememberSocketFile(path: string): void {
  // gone already (removed by someone else): there is nothing of ours to remove later
  const st = lstatOrNull(path);
  if (st?.isSocket()) ownFiles.set(path, { dev: st.dev, ino: st.ino });
}

function removeOwnSocketFile(path: string): void {
  const own = ownFiles.get(path);
  ownFiles.delete(path);
  if (own === undefined) return;
  const st = lstatOrNull(path);
  if (st !== null && st.dev === own.dev && st.ino === own.ino) removeSocketFile(path);
}

function removeSocketFile(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    // ENOENT: already gone, which is what we wanted
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** Why fd `fd` is not an inherited socket ("no such inherited fd", "not a socket"), or null when it is one. */
function inheritedSocketProblem(fd: number): string | null {
  try {
    return fstatSync(fd).isSocket() ? null : `not a socket (no listening socket was inherited as fd ${fd})`;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EBADF') return 'no such inherited fd';
    throw err;
  }
}
