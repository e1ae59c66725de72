// What a draining HTTP worker waits for (DESIGN §8): the connections on which a request is being handled.
// Node's http.Server#closeIdleConnections() closes only a keep-alive connection between two requests: Node
// counts a connection as active from its accept until its first response, so one that has sent nothing yet
// or part of its headers (a preconnecting browser, a slow or stalled client), and a TLS connection still in
// its handshake (not in Node's list at all), kept a draining worker until graceful_timeout, which then
// reported requests cut off that never were. Here each connection says whether a request is in progress.
//
// What it costs a request: nothing until a drain begins. Whether a connection has a response in progress
// is read from http's own mark (below) when it is asked, and only responses in progress once the drain has
// begun are followed to their end (the second of grace after it). Following every response cost a
// listener, two closures and a clock read per request, about 4% of a hello-world worker's busy time
// (issue 17).
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { Server as TlsServer, type TLSSocket } from 'node:tls';
import { steadyNowMs } from '../os/clock.js';

/**
 * How long a connection with no request in progress stays open once the drain has begun: a request may be
 * on its way on it (closing at once is what makes naive reloads fail requests).
 */
const IDLE_GRACE_MS = 1000;

/**
 * A connection as http leaves it (not documented; both there since Node 0.x, and Node's own
 * closeIdleConnections() reads the first): the response being written on it, or null between two; and its
 * parser, null once http has handed the connection over (below).
 */
type HttpSocket = Socket & { _httpMessage?: unknown; parser?: unknown };

/** The open connections of the servers a worker made or was given, and what is in progress on each. */
export class Connections {
  /** the sockets http reads from (the TCP socket while a TLS handshake is under way), until their 'close' */
  readonly #open = new Set<HttpSocket>();
  /** those of #open that are TCP sockets of a TLS handshake under way (http has not seen them) */
  readonly #handshaking = new Set<HttpSocket>();
  /** false once a TLS socket could not be matched with its TCP socket: handshakes are then waited for; true */
  #canCloseHandshakes = true;
  /** called (on the next turn) once no connection is left; null */
  #whenEmpty: (() => void) | null = null;
  /** steadyNowMs() when the drain began; null before */
  #drainStartMs: number | null = null;
  /** since the drain began: when each connection's last response ended (its 'close') */
  readonly #idleSinceMs = new Map<HttpSocket, number>();
  /**
   * Whether http's mark of a response in progress can be read: settled by the first request (its own
   * response must be the mark). Where it cannot, every request is counted from its start to its end, as
   * during a drain. null until then.
   */
  #markReadable: boolean | null = null;
  /** requests counted since the drain began (or all along where the mark cannot be read), until their 'close' */
  readonly #handling = new Map<HttpSocket, number>();
  /** each open socket's one 'close' listener (one function for all: none is made per connection) */
  readonly #onSocketClose: (this: HttpSocket) => void;
  /** each plain http server's 'connection' listener */
  readonly #onConnection = (socket: HttpSocket): void => this.#add(socket, false);

  constructor() {
    const closed = (socket: HttpSocket): void => {
      if (!this.#open.delete(socket)) return;
      this.#handshaking.delete(socket);
      this.#idleSinceMs.delete(socket);
      this.#handling.delete(socket);
      if (this.#open.size === 0 && this.#whenEmpty !== null) setImmediate(this.#whenEmpty);
    };
    this.#onSocketClose = function (this: HttpSocket) {
      closed(this);
    };
  }

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
    if (server instanceof TlsServer) {
      server.on('connection', (tcp: Socket) => this.#add(tcp, true));
      server.on('secureConnection', (socket: TLSSocket) => {
        // Node keeps the TCP socket a server's TLSSocket wraps as its _parent (not documented; there since
        // 0.11). Were it gone, a busy TLS connection must not pass for a handshake: those are then waited for.
        const tcp = (socket as { _parent?: unknown })._parent;
        if (!(tcp instanceof Socket) || !this.#open.delete(tcp)) this.#canCloseHandshakes = false;
        else this.#handshaking.delete(tcp);
        this.#add(socket, false);
      });
    } else server.on('connection', this.#onConnection);
  }

  /**
   * A request on one of the watched connections is being handled, until its response's 'close'. Called by the
   * worker's own first listener of each request (before the app: an app may answer at once, and the
   * response's 'close' must find its request counted), once per request.
   */
  requestBegun(req: IncomingMessage, res: ServerResponse): void {
    // (a request an exported server emits itself may come without a socket: it settles nothing)
    if (this.#markReadable === null && req.socket) this.#markReadable = (req.socket as HttpSocket)._httpMessage === res;
    if (this.#markReadable && this.#drainStartMs === null) return;
    const socket = req.socket as HttpSocket;
    if (this.#open.has(socket)) this.#follow(socket, res);
  }

  /**
   * The drain has begun: from now on each response is followed to its end, for the second of grace a
   * connection gets after its last one. Those in progress now are followed from here.
   */
  beginDrain(): void {
    if (this.#drainStartMs !== null) return;
    this.#drainStartMs = steadyNowMs();
    if (!this.#markReadable) return; // counted all along
    for (const socket of this.#open) {
      const res = socket._httpMessage;
      if (res !== null && typeof res === 'object') this.#follow(socket, res as ServerResponse);
    }
  }

  /** Whether a request is in flight: one being handled, or a connection http handed to the app (upgrade). */
  hasRequestsInFlight(): boolean {
    for (const socket of this.#open) if (this.#busy(socket)) return true;
    return false;
  }

  /**
   * Closes the connections with no request in progress (none received yet, headers incomplete, a keep-alive
   * one between two requests, a TLS handshake) that have had nothing to do for IDLE_GRACE_MS since the
   * drain began or later. A request whose body is still coming is in progress: its connection stays.
   */
  closeIdle(): void {
    const startMs = this.#drainStartMs;
    if (startMs === null) return;
    const now = steadyNowMs();
    for (const socket of this.#open) {
      if (this.#busy(socket) || (this.#handshaking.has(socket) && !this.#canCloseHandshakes)) continue;
      if (now - Math.max(this.#idleSinceMs.get(socket) ?? startMs, startMs) >= IDLE_GRACE_MS) socket.destroy();
    }
  }

  // --- internal ---

  #add(socket: HttpSocket, handshaking: boolean): void {
    this.#open.add(socket);
    if (handshaking) this.#handshaking.add(socket);
    // a TLS connection whose handshake ends during the drain: idle from now
    else if (this.#drainStartMs !== null) this.#idleSinceMs.set(socket, steadyNowMs());
    socket.on('close', this.#onSocketClose);
  }

  /** `res` is counted on `socket` until its 'close'; then the connection is idle, or the next response on it is followed */
  #follow(socket: HttpSocket, res: ServerResponse): void {
    this.#handling.set(socket, (this.#handling.get(socket) ?? 0) + 1);
    res.once('close', () => {
      const left = (this.#handling.get(socket) ?? 1) - 1;
      if (left > 0) this.#handling.set(socket, left);
      else this.#handling.delete(socket);
      if (this.#drainStartMs !== null && this.#open.has(socket)) this.#idleSinceMs.set(socket, steadyNowMs());
      // a pipelined request's response, queued behind this one since before the drain, is written next:
      // http makes it the mark before this 'close'
      const next = socket._httpMessage;
      if (this.#markReadable && this.#drainStartMs !== null && left <= 0 && next !== null && typeof next === 'object' && next !== res) this.#follow(socket, next as ServerResponse);
    });
  }

  /** Whether a request is in progress on `socket`, or http handed it to the app (upgrade) */
  #busy(socket: HttpSocket): boolean {
    if (this.#handshaking.has(socket)) return false;
    if (this.#handling.has(socket)) return true;
    if (this.#markReadable === true && socket._httpMessage !== null && socket._httpMessage !== undefined) return true;
    return isHandedOver(socket);
  }
}

/**
 * A connection http handed over ('upgrade', 'connect'): the app owns it now (a WebSocket), and it counts as
 * in flight, as it did before. http sets `socket.parser` at the accept and null when it lets go (not
 * documented; there since Node 0.x); a connection is never handed over without a request, so no event of
 * ours can say it (an 'upgrade' listener of our own would change how Node routes an Upgrade request).
 */
function isHandedOver(socket: HttpSocket): boolean {
  return socket.parser === null;
}
