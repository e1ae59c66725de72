// serve's -b values checked against each other and against what is at a unix: path, before anything is
// bound, so that a problem names the -b as typed and which one it is (#1, #2, …), not a [socket:bindN] of
// serve.ini the user never wrote, nor an errno (EADDRINUSE said both "given twice" and "not a socket").
import { addressClashes, everyAddress } from '../../config/address-clash.js';
import type { SocketSpec } from '../../config/types.js';
import { notASocketAt } from '../../prefork/sockets.js';

/** One -b: as typed, and as the config's parser read it (a unix: path resolved). */
export interface GivenBind {
  readonly typed: string;
  readonly bind: SocketSpec['bind'];
}

/**
 * The first -b whose address an earlier one already binds, in words: the same address (gunicorn 20.1 binds
 * each -b and so fails on a repeat: "Connection in use", five retries, exit 1), or one inside an earlier
 * wildcard's. null when each has its own. `resolveHost` gives a host name's IPv4 address, as bind resolves it.
 * With `reusePort` (--reuse-port: SO_REUSEPORT on every socket) an address inside a wildcard's binds too,
 * so only a repeat is refused.
 */
export function bindClash(binds: readonly GivenBind[], resolveHost: (host: string) => string, reusePort = false): string | null {
  const clash = addressClashes(binds.map((b) => b.bind), resolveHost, () => reusePort)[0];
  if (clash === undefined) return null;
  const [earlier, later] = [binds[clash.earlier], binds[clash.later]];
  if (earlier === undefined || later === undefined) return null;
  const which = `-b ${later.typed} (#${clash.later + 1})`;
  const first = `-b #${clash.earlier + 1}${earlier.typed === later.typed ? '' : ` (${earlier.typed})`}`;
  switch (clash.how) {
    case 'same':
      return `${which} is given twice: ${first} is the same address; give each address once`;
    case 'inside':
      return `${which} is already bound by -b #${clash.earlier + 1} (${earlier.typed}, ${everyAddress(clash.hosts?.earlier ?? '')}); give each -b an address of its own`;
    case 'around':
      return `${which} takes in the address of -b #${clash.earlier + 1} (${earlier.typed}), bound before it: ${later.typed} is ${everyAddress(clash.hosts?.later ?? '')}; give one of the two`;
    default: {
      const never: never = clash.how;
      throw new Error(`unhandled clash ${String(never)}`);
    }
  }
}

/** The first unix: -b whose path holds something other than a socket (a leftover socket is replaced); null if none. */
export function bindPathProblem(binds: readonly GivenBind[]): string | null {
  for (const [i, { typed, bind }] of binds.entries()) {
    if (bind.kind !== 'unix') continue;
    const problem = notASocketAt(bind.path);
    if (problem !== null) return `-b ${typed} (#${i + 1}): ${problem} (remove it, or give -b another path)`;
  }
  return null;
}
