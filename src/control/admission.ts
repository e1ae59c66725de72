// Which connections a TCP control listener keeps when it is full (docs/security.md, section 19). Anyone who
// reaches the port can open connections before any credential is checked; refusing new ones at the cap let
// one client holding idle connections, and reopening them as they timed out, keep every prober and operator
// out. Here a new connection past the cap makes room instead: the oldest connection that is neither
// answering a request nor authenticated is closed. Such a connection has given the server nothing it
// needs (no complete request headers yet, or only requests that failed authentication), so closing it costs
// a legitimate client at most a retry; an attacker's pool of idle connections is recycled under it.
// The total stays at the cap (each connection holds a descriptor, which spawns need for their pipes).
import type { Socket } from 'node:net';

/** What a connection has done so far. */
interface ConnectionState {
  /** requests on it being read or answered (headers complete; pipelined ones count each); 0 at first */
  busy: number;
  /** a request on it carried the listener's credentials; false until then */
  trusted: boolean;
}

/** The connections of one TCP listener, oldest first, and the rule that picks which one to close. */
export class ConnectionAdmission {
  /** open connections in the order they arrived (a Map keeps insertion order); empty at first */
  private readonly open = new Map<Socket, ConnectionState>();

  constructor(readonly cap: number) {}

  /**
   * A connection was accepted. Past the cap, the oldest idle untrusted connection is closed to make room; when
   * every other one is answering or authenticated, the new one is closed instead (a hard cap either way).
   */
  admit(sock: Socket): void {
    this.open.set(sock, { busy: 0, trusted: false });
    sock.once('close', () => this.open.delete(sock));
    if (this.open.size <= this.cap) return;
    // the new connection is last in the map, so it is the victim only when no older one may go
    for (const [s, st] of this.open) {
      if (st.busy > 0 || st.trusted) continue;
      // deleted here and not on 'close' alone: the count must drop before the next accept
      this.open.delete(s);
      s.destroy();
      return;
    }
  }

  /** A request's headers are complete on `sock`: it is not closed to make room until its answer is done. */
  requestStarted(sock: Socket, answered: { once(event: 'close', f: () => void): unknown }): void {
    const st = this.open.get(sock);
    if (st === undefined) return;
    st.busy += 1;
    answered.once('close', () => (st.busy -= 1));
  }

  /** A request on `sock` carried the credentials: an authenticated keep-alive client is never made room from. */
  trust(sock: Socket): void {
    const st = this.open.get(sock);
    if (st !== undefined) st.trusted = true;
  }
}
