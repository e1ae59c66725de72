// Listening sockets passed to drover (systemd's LISTEN_FDS convention, from systemd, systemd-socket-activate
// or a USR2 predecessor) and the [socket:x] sections that serve them. A section takes the fds passed under
// its name (LISTEN_FDNAMES: systemd's FileDescriptorName=, or the section name a predecessor used); `bind =
// fd://N` takes fd N; else a section takes the passed fd bound to the address it would bind itself
// (getsockname: family, IP address and port, or unix path). That last rule is what the usual unit needs:
// `ListenStream=/run/app.sock` with `ExecStart=drover serve app.mjs -b unix:/run/app.sock` serves systemd's
// socket (the connection that started the service included) instead of replacing its file, and a TCP port
// systemd holds is not bound a second time (EADDRINUSE). gunicorn serves every passed socket and ignores
// --bind; drover matches, so a section never serves an address it does not name (docs/decisions.md).
import { isIP } from 'node:net';
import type { SocketSpec } from '../config/types.js';
import { DroverError } from '../errors.js';
import { NativeError } from '../os/libc.js';
import { boundAddress, describeAddress, isBoundTo, resolveIPv4 } from '../os/native-net.js';

/** LISTEN_FDNAMES prefix of a balanced socket's steering program and maps, handed to a re-exec'd master. */
export const STEERING_FD_PREFIX = 'drover-steering/';

/**
 * Reads systemd's LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES: socket name (or index) → fds, when meant for us. A
 * name given several times (the slots of a balanced socket from a re-exec, or every socket of one systemd
 * .socket unit, named after the unit by default) maps to all its fds, in order.
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

/**
 * The passed fds each section takes. Returns `inherited` with every fd a section takes by its address moved
 * under that section's name, and `unclaimed`: the passed fds no section takes by name, number or address
 * (their connections would wait unanswered; the master warns about them). Only one fd per section is taken
 * by address, and each fd by one section at most. Of several fds passed under a section's name, the
 * section takes the first: the others (several ListenStream= of one .socket unit) are candidates for the
 * other sections' addresses, as fds under a name no section has are. Only fds not in `passedFds` (a
 * re-exec'd master's own balanced slots, handed over under the socket's name) all go to the section.
 */
export function assignPassedSockets(
  specs: readonly SocketSpec[],
  inherited: ReadonlyMap<string, readonly number[]>,
  passedFds: ReadonlySet<number> = new Set(),
): { assigned: Map<string, number[]>; unclaimed: number[] } {
  const assigned = new Map([...inherited].map(([name, fds]) => [name, [...fds]]));
  const byNumber = new Set(specs.flatMap((s) => (s.bind.kind === 'fd' ? [s.bind.fd] : [])));
  // fds under a name no section has (systemd's own names, or "0", "1", … without LISTEN_FDNAMES), and the
  // passed fds after the first under a section's name
  const candidates: { name: string; fd: number }[] = [];
  for (const [name, fds] of inherited) {
    if (name.startsWith(STEERING_FD_PREFIX)) continue;
    if (!specs.some((s) => s.name === name)) {
      for (const fd of fds) if (!byNumber.has(fd)) candidates.push({ name, fd });
      continue;
    }
    // an fd another section takes by number (`bind = fd://N`) is that section's, whatever its name
    const own = fds.filter((fd) => !byNumber.has(fd));
    const extra = own.slice(1).filter((fd) => passedFds.has(fd));
    for (const fd of extra) candidates.push({ name, fd });
    const kept = own.filter((fd) => !extra.includes(fd));
    if (kept.length > 0) assigned.set(name, kept);
    else assigned.delete(name);
  }
  for (const spec of specs) {
    if (candidates.length === 0) break;
    if (spec.bind.kind === 'fd' || (assigned.get(spec.name)?.length ?? 0) > 0) continue;
    const address = resolvedAddress(spec.bind);
    if (address === null) continue;
    const i = candidates.findIndex((c) => boundToOrNot(c.fd, address));
    const match = candidates[i];
    if (match === undefined) continue;
    candidates.splice(i, 1);
    const rest = (assigned.get(match.name) ?? []).filter((fd) => fd !== match.fd);
    if (rest.length > 0) assigned.set(match.name, rest);
    else assigned.delete(match.name);
    assigned.set(spec.name, [match.fd]);
  }
  return { assigned, unclaimed: candidates.map((c) => c.fd) };
}

/** What a passed fd listens on, for messages: "unix:/run/app.sock", "[::]:8000", or why it is not known. */
export function describePassed(fd: number): string {
  let a;
  try {
    a = boundAddress(fd);
  } catch (err) {
    // ENOTSOCK, EBADF: something other than a socket was passed at that number
    if (err instanceof NativeError) return `none (not a socket: ${err.code})`;
    throw err;
  }
  if (a === null) return 'an unnamed or non-stream socket';
  return describeAddress(a);
}

// --- internal ---

/** A section's address as getsockname would give it back: a host name resolved as openListening does. */
function resolvedAddress(bind: SocketSpec['bind']): { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string } | null {
  if (bind.kind === 'unix') return { kind: 'unix', path: bind.path };
  if (bind.kind !== 'tcp') return null;
  // port 0 asks the kernel for a free port: no passed socket is "that" address
  if (bind.port === 0) return null;
  try {
    return { kind: 'tcp', host: isIP(bind.host) !== 0 ? bind.host : resolveIPv4(bind.host), port: bind.port };
  } catch (err) {
    // E_RESOLVE: no passed socket matches; binding the section reports the name
    if (err instanceof DroverError && err.code === 'E_RESOLVE') return null;
    throw err;
  }
}

function boundToOrNot(fd: number, address: { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string }): boolean {
  try {
    return isBoundTo(fd, address);
  } catch (err) {
    // ENOTSOCK, EBADF: not a socket, so not this address (a section naming it by fd:// reports that)
    if (err instanceof NativeError) return false;
    throw err;
  }
}
