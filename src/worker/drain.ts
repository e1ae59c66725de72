// What a draining HTTP worker waits for (DESIGN §8): the connections on which a request is being handled.
// Node's http.Server#closeIdleConnections() closes only a keep-alive connection between two requests: Node
// counts a connection as active from its accept until its first response, so one that has sent nothing yet
// or part of its headers (a preconnecting browser, a slow or stalled client), and a TLS connection still in
// its handshake (not in Node's list at all), kept a draining worker until graceful_timeout, which then
// reported requests cut off that never were. Here each connection says whether a request is in progress.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { Server as TlsServer, type TLSSocket } from 'node:tls';
import { steadyNowMs } from '../os/clock.js';

/**
 * How long a connection with no request in progress stays open once the drain has begun: a request may be
 * on its way on it (closing at once is what makes naive reloads fail requests).
 */
const IDLE_GRACE_MS = 1000;

interface Connection {
  /** requests on it being handled: from 'request' until the response's 'close'; 0 */
  handling: number;
  /** when it last had nothing to do (steadyNowMs): its accept, or the end of its last response */
  idleSinceMs: number;
  /** a TLS connection still in its handshake, known by its TCP socket (http has not seen it); false */
  handshaking: boolean;
}

/** The open connections of the servers a worker made or was given, and what is in progress on each. */
export class Connections {
  /** by the socket http reads from (the TCP socket while a TLS handshake is under way); empty */
  readonly #open = new Map<Socket, Connection>();
  /** false once a TLS socket could not be matched with its TCP socket: handshakes are then waited for; true */
  #canCloseHandshakes = true;
  /** called (on the next turn) once no connection is left; null */
  #whenEmpty: (() => void) | null = null;

  /**
   * Calls `done` once every connection has closed, on the turn after the last one's 'close', so that what
   * other listeners do at a 'close' (an upgraded connection's access line) is done first.
   */
  afterLastClose(done: () => void): void {
    this.#whenEmpty = done;
    if (this.#open.size === 0) setImmediate(done);
  }

  /** Follows the connections of `server` (an https.Server's from their accept, through the handshake). */
  watch(server: Server): void {
    const add = (socket: Socket, handshaking: boolean): void => {
      this.#open.set(socket, { handling: 0, idleSinceMs: steadyNowMs(), handshaking });
      socket.once('close', () => {
        this.#open.delete(socket);
        if (this.#open.size === 0 && this.#whenEmpty !== null) setImmediate(this.#whenEmpty);
      });
    };
    if (server instanceof TlsServer) {
      server.on('connection', (tcp: Socket) => add(tcp, true));
      server.on('secureConnection', (socket: TLSSocket) => {
        // Node keeps the TCP socket a server's TLSSocket wraps as its _parent (not documented; there since
        // 0.11). Were it gone, a busy TLS connection must not pass for a handshake: those are then waited for.
        const tcp = (socket as { _parent?: unknown })._parent;
        if (!(tcp instanceof Socket) || !this.#open.delete(tcp)) this.#canCloseHandshakes = false;
        add(socket, false);
      });
    } else server.on('connection', (socket: Socket) => add(socket, false));
  }

  /**
   * A request on one of the watched connections is being handled, until its response's 'close'. Called by the
   * worker's own first listener of each request (before the app: an app may answer at once, and the
   * response's 'close' must find its request counted), once per request.
   */
  requestBegun(req: IncomingMessage, res: ServerResponse): void {
    const c = this.#open.get(req.socket);
    if (c === undefined) return;
    c.handling += 1;
    res.once('close', () => {
      c.handling -= 1;
      c.idleSinceMs = steadyNowMs();
    });
  }

  /** Whether a request is in flight: one being handled, or a connection http handed to the app (upgrade). */
  hasRequestsInFlight(): boolean {
    for (const [socket, c] of this.#open) if (c.handling > 0 || isHandedOver(socket, c)) return true;
    return false;
  }

  /**
   * Closes the connections with no request in progress (none received yet, headers incomplete, a keep-alive
   * one between two requests, a TLS handshake) that have had nothing to do for IDLE_GRACE_MS since
   * `drainStartMs` or later. A request whose body is still coming is in progress: its connection stays.
   */
  closeIdle(drainStartMs: number): void {
    const now = steadyNowMs();
    for (const [socket, c] of this.#open) {
      if (c.handling > 0 || isHandedOver(socket, c) || (c.handshaking && !this.#canCloseHandshakes)) continue;
      if (now - Math.max(c.idleSinceMs, drainStartMs) >= IDLE_GRACE_MS) socket.destroy();
    }
  }
}

// --- internal ---

/**
 * A connection http handed over ('upgrade', 'connect'): the app owns it now (a WebSocket), and it counts as
 * in flight, as it did before. http sets `socket.parser` at the accept and null when it lets go (not
 * documented; there since Node 0.x); a connection is never handed over without a request, so no event of
 * ours can say it (an 'upgrade' listener of our own would change how Node routes an Upgrade request).
 */
function isHandedOver(socket: Socket, c: Connection): boolean {
  return !c.handshaking && (socket as { parser?: unknown }).parser === null;
}
