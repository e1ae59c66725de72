// The control server: HTTP on a unix socket (always) and on TCP (when [inet_http_server] asks, with
// required authentication). Routes by path prefix to the JSON API (/api/), supervisor's XML-RPC (/RPC2),
// metrics, health probes and the web page. Request bodies are capped; no path from a request is ever opened as a file.
import { chmodSync, chownSync, closeSync, constants as fsConstants, lstatSync, openSync, realpathSync, renameSync, unlinkSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, isIP } from 'node:net';
import { basename, dirname, join } from 'node:path';
import { socketAddress } from '../os/native-net.js';
import { listeningFd } from '../os/pass-socket.js';
import { openFileLimit, outOfDescriptors } from '../os/proc.js';
import { UNIX_PATH_MAX, unixPathProblem } from '../os/unix-path.js';
import { originForm } from '../request-target.js';
import { ConnectionAdmission } from './admission.js';
import { isAuthorized, type Credentials } from './auth.js';
import { encodeRawTargets } from './request-line.js';
import type { ApiErrorCode, ErrorJson } from './wire.js';

/** Largest request body accepted; XML-RPC multicalls and JSON commands are far smaller. */
export const MAX_BODY_BYTES = 1024 * 1024;

export interface RouteHandler {
  /** path prefix this handler serves, e.g. "/api/" or "/RPC2" */
  readonly prefix: string;
  /**
   * Handles one request whose body has been read in full. Streams (SSE, log follow) may keep `res` open.
   * Must always answer; a thrown error becomes a 500 JSON answer.
   */
  handle(req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> | void;
}

export interface ListenerSpec {
  readonly kind: 'unix' | 'tcp';
  /** socket path (unix) */
  readonly path?: string;
  readonly host?: string;
  readonly port?: number;
  /** unix: permission bits of the socket file */
  readonly mode?: number;
  /** unix: "user" or "user:group" to own the socket file */
  readonly owner?: { uid: number; gid: number } | null;
  readonly credentials: Credentials | null;
  /** Host header names accepted besides the built-in ones (see isAllowedHost); ['*'] accepts any */
  readonly allowedHosts?: readonly string[];
}

export interface BoundListener {
  /** what it answers with; a reload may replace its credentials, mode, owner and host names (reconfigure) */
  spec: ListenerSpec;
  readonly server: Server;
  /** "unix:///path" or "http://host:port" */
  readonly url: string;
  /** unix: where the socket file is now (a staging name until `publish`); null for TCP */
  boundPath: string | null;
  /** unix: the socket file's device and inode as bind(2) made it (a rename keeps them); null for TCP */
  fileId?: { readonly dev: number; readonly ino: number } | null;
  /**
   * TCP: the old master's listening socket, inherited (USR2), that this master listens on once it takes
   * over (`publish`); null once it listens, and for a socket bound here
   */
  heldFd: number | null;
}

/**
 * LISTEN_FDNAMES name under which an old master hands a TCP control listener to its successor (USR2):
 * the prefix and the configured host and port, so the new master takes the socket only for the same
 * `[inet_http_server] port` (URI-encoded: the names are separated by colons).
 */
export function controlFdName(spec: ListenerSpec): string | null {
  return spec.kind === 'tcp' ? `${CONTROL_FD_PREFIX}${encodeURIComponent(spec.host ?? '')}/${spec.port ?? 0}` : null;
}

/** The prefix of controlFdName's names. */
export const CONTROL_FD_PREFIX = 'drover-control/';

/** Sends a JSON answer. */
export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  sendJsonText(res, status, JSON.stringify(value));
}

/** Sends a JSON answer serialised already (text, or its UTF-8 bytes). */
export function sendJsonText(res: ServerResponse, status: number, json: string | Buffer, headers: Readonly<Record<string, string>> = {}): void {
  const body = typeof json === 'string' ? Buffer.from(json) : json;
  // nosniff: a browser must never read an answer that echoes a name as HTML or script
  res.writeHead(status, { ...headers, 'content-type': 'application/json; charset=utf-8', 'x-content-type-options': 'nosniff', 'content-length': body.length });
  res.end(body);
}

/** Sends the answer to a refused request: `{ ok: false, code, message }` with an HTTP error status. */
export function sendError(res: ServerResponse, status: number, code: ApiErrorCode, message: string): void {
  sendJson(res, status, { ok: false, code, message } satisfies ErrorJson);
}

/** 405 with the methods the path takes in `Allow`, as RFC 9110 asks. */
export function sendMethodNotAllowed(res: ServerResponse, method: string | undefined, path: string, allowed: readonly string[]): void {
  res.setHeader('allow', allowed.join(', '));
  sendError(res, 405, 'E_METHOD', `${method ?? '?'} not allowed on ${path}`);
}

/**
 * Most bytes an event stream may leave queued for one client (in Node's buffers, beyond what the kernel
 * holds). A client that stops reading would otherwise make drover keep everything sent to it.
 */
export const MAX_STREAM_BACKLOG_BYTES = 1024 * 1024;

/**
 * Why drover ends an event stream, said in its last event (`event: end`, docs/api.md): `shutdown`, drover
 * stops; `reexec`, this master hands over to a new one (USR2), where a client may go on.
 */
export type StreamEndReason = 'shutdown' | 'reexec';

/**
 * Writes a server-sent event stream without letting a slow client grow drover's memory. Once more than
 * MAX_STREAM_BACKLOG_BYTES wait for the client, `onBehind` decides: 'skip' drops what follows (write returns
 * false, the caller counts it) until the client has read everything, then calls `onCaughtUp` (to say what
 * was lost); 'close' ends the connection (for streams a gap would make wrong, which a client re-opens).
 */
export class EventStreamWriter {
  /** true from the first skipped write until the client has read everything queued */
  private behind = false;
  /** the stream's last event(s) for a reason; null: `event: end` with the reason alone */
  private lastEvents: ((reason: StreamEndReason) => string) | null = null;

  /**
   * `extraBacklogBytes`: allowed on top of the limit, for a large first event (a snapshot of thousands of
   * processes) that a client reading at full speed has not yet taken when the next events come.
   */
  constructor(
    private readonly res: ServerResponse,
    private readonly onBehind: 'skip' | 'close',
    private readonly onCaughtUp: () => void = () => undefined,
    private readonly extraBacklogBytes = 0,
  ) {
    // 'drain' comes once everything queued is written; a write returned false before any skip, because the
    // limit is above the response's high-water mark
    res.on('drain', () => {
      if (!this.behind) return;
      this.behind = false;
      this.onCaughtUp();
    });
  }

  /**
   * Makes an event stream end with `event: end` when drover ends it (ControlServer.close); `lastEvents`
   * writes more (an `end` event with more than the reason, a `lost` not yet told). Not for a stream that is
   * not server-sent events (supervisor's logtail).
   */
  endsWithEvent(lastEvents: ((reason: StreamEndReason) => string) | null = null): void {
    this.lastEvents = lastEvents;
    WRITERS.set(this.res, this);
  }

  /** The stream's last events, written past the backlog limit: they are what the client acts on. */
  end(reason: StreamEndReason): void {
    if (this.res.destroyed || this.res.writableEnded) return;
    this.res.end(this.lastEvents?.(reason) ?? `event: end\ndata: ${JSON.stringify({ reason })}\n\n`);
  }

  /** Queues `text` (or bytes) for the client; false when it was not queued (the client is behind, or gone). */
  write(text: string | Uint8Array): boolean {
    if (this.res.destroyed || this.res.writableEnded) return false;
    if (this.behind || this.res.writableLength > MAX_STREAM_BACKLOG_BYTES + this.extraBacklogBytes) {
      if (this.onBehind === 'close') {
        this.res.destroy();
        return false;
      }
      this.behind = true;
      return false;
    }
    this.res.write(text);
    return true;
  }
}

/** The writer of each event stream, for its last event when drover ends it (ControlServer.close). */
const WRITERS = new WeakMap<ServerResponse, EventStreamWriter>();

/** For routes that serve one path by GET: answers 404 for another path and 405 for another method. */
export function exactGet(url: string | undefined, method: string | undefined, path: string, res: ServerResponse): boolean {
  if ((url ?? '').split('?')[0] !== path) {
    sendError(res, 404, 'E_NOT_FOUND', `no such path: ${url ?? ''}`);
    return false;
  }
  if (method !== 'GET' && method !== 'HEAD') {
    sendMethodNotAllowed(res, method, path, ['GET', 'HEAD']);
    return false;
  }
  return true;
}

/** how long closing waits for answers still being written */
const CLOSE_GRACE_MS = 2000;

export class ControlServer {
  private readonly listeners: BoundListener[] = [];
  /** open connections, closed at shutdown so the process can exit */
  private readonly sockets = new Set<import('node:net').Socket>();
  /** responses not yet sent in full (a shutdown request's own answer among them), event streams aside */
  private readonly answering = new Set<ServerResponse>();
  /** responses still open, event streams and supervisor's logtail included: `close` ends them properly */
  private readonly responses = new Set<ServerResponse>();
  /** set by `close` for a hand-over (USR2): a connection accepted from then on is reset at once */
  private closing = false;
  /** set by `drain`: every answer closes its connection */
  private draining = false;
  /** told each time an answer (not an event stream) has been sent or given up */
  private readonly answered = new Set<() => void>();

  /** true while accepts fail for want of a descriptor, once that has been said; false when none has */
  private acceptShort = false;

  /** the config file this drover runs, as its real path (symlinks resolved); null: requests are not checked */
  private readonly configFile: string | null;

  /**
   * `onProblem`: told what the server survived (accepts failing with EMFILE), for drover's log;
   * `configFile`: the config this drover runs, which a CLI request names in `x-drover-config` (a second
   * config beside it shares the default control socket, and must not stop this one's programs)
   */
  constructor(
    private readonly routes: readonly RouteHandler[],
    private readonly onProblem: (message: string) => void = () => undefined,
    configFile: string | null = null,
  ) {
    this.configFile = configFile === null ? null : realPathOr(configFile);
  }

  /**
   * Why a request that names its config file (`x-drover-config`, percent-encoded: the CLI's -c, or the
   * config it found) is not for this drover; null when it is, or names none.
   */
  private otherConfig(header: string | string[] | undefined): string | null {
    if (this.configFile === null || typeof header !== 'string') return null;
    let asked: string;
    try {
      asked = decodeURIComponent(header);
    } catch {
      return `x-drover-config ${JSON.stringify(header.slice(0, 200))} is not a percent-encoded path`;
    }
    if (asked === this.configFile || realPathOr(asked) === this.configFile) return null;
    return `the drover answering here runs ${this.configFile}, not ${asked}: the two share this control socket (the .drover directory beside them); give the second its own (\`runtime_dir =\` in its [drover] section, or its own directory), or name this socket with -s to talk to this drover anyway`;
  }

  /** Calls `listener` after each answer (event streams aside); returns the function that stops it. */
  onAnswered(listener: () => void): () => void {
    this.answered.add(listener);
    return () => this.answered.delete(listener);
  }

  /**
   * Starts listening; rejects with a clear error (EADDRINUSE, EACCES, …) when a listener cannot bind.
   * `staged` (a master started by USR2, while the old one still answers at the path): a unix socket is
   * bound under a staging name beside its path, and moved onto the path by `publish` once this master
   * takes over. A successor that fails never touches the old master's socket.
   * `inheritedFd` (TCP, staged): the old master's listening socket for the same address, which the old
   * master keeps accepting on until this one takes over; `publish` starts listening on it. (Binding the
   * address again would fail, EADDRINUSE, while the old master holds it.)
   */
  async listen(spec: ListenerSpec, opts: { readonly staged?: boolean; readonly inheritedFd?: number } = {}): Promise<BoundListener> {
    // connectionsCheckingInterval: headersTimeout and requestTimeout are enforced on this period. On TCP,
    // where anyone may connect, 2 s (Node's default, 30 s, let a client that trickles its headers hold its
    // descriptor ~40 s); the unix socket keeps Node's default (fewer wake-ups of an idle daemon)
    const checking = spec.kind === 'tcp' ? { connectionsCheckingInterval: 2000 } : {};
    // TCP: who is kept when the listener is full (admission.ts); the unix socket, which only its owner (or
    // chmod =) may reach, has no cap
    const admission = spec.kind === 'tcp' ? new ConnectionAdmission(tcpConnectionCap()) : null;
    // each request is checked against the listener's spec as it is then: a reload may have replaced it
    let bound: BoundListener | null = null;
    const server = createServer({ maxHeaderSize: 16 * 1024, ...checking }, (req, res) => {
      admission?.requestStarted(req.socket, res);
      // a request line whose raw bytes were encoded (request-line.ts): the next request comes on a new connection
      if (this.draining || rawTargets.has(req.socket)) res.setHeader('Connection', 'close');
      this.responses.add(res);
      res.once('close', () => this.responses.delete(res));
      // event streams (asked for by their Accept header, as EventSource and drover's client do) never finish
      if (!String(req.headers.accept ?? '').includes('text/event-stream')) {
        this.answering.add(res);
        res.once('close', () => {
          this.answering.delete(res);
          for (const l of this.answered) l();
        });
      }
      void this.serve(bound?.spec ?? spec, req, res, admission);
    });
    server.on('error', (err) => {
      // before listening, listenOn's own listener takes the error (EADDRINUSE…)
      if (!server.listening) return;
      // accept() out of descriptors: libuv has dropped the waiting connection and listens on; a throw here
      // would stop drover and every program for a client it could not take
      if (!outOfDescriptors(err)) throw err;
      if (!this.acceptShort) this.onProblem(`cannot accept a control connection: ${err.message}; its client is refused`);
      this.acceptShort = true;
    });
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
    const rawTargets = encodeRawTargets(server, (sock) => {
      // handing over to a new master (USR2): a stream begun now would be cut when this one exits (a follower
      // reconnecting after its `end` reached the old master and was cut mid-stream, "aborted"); reset, its
      // client tries again and reaches the new master
      if (this.closing) {
        sock.destroy();
        return false;
      }
      this.acceptShort = false;
      this.sockets.add(sock);
      sock.on('close', () => this.sockets.delete(sock));
      admission?.admit(sock);
      return true;
    });
    if (spec.kind === 'unix') {
      const target = spec.path as string;
      const staging = opts.staged ? stagingName(target) : null;
      const path = staging?.path ?? target;
      // The instance lock covers the runtime directory, not a socket the config puts elsewhere
      // (/var/run/supervisor.sock): something may answer there, a drover or a supervisord of another config.
      // Refuse, as supervisord does, rather than take its path away from it. (A staged socket never binds
      // at the path: the old master answers there.)
      if (staging === null && (await socketAnswers(path))) {
        throw Object.assign(new Error(`another process is already listening on ${path} (a drover or supervisord that is running?)`), { code: 'EADDRINUSE' });
      }
      try {
        // Nothing answers: a socket file here is a leftover of a dead drover (or, staged, of a successor that
        // died with this pid's name).
        unlinkSync(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      // Create the socket with no access for others, then open it up to the configured mode: no window in
      // which another user could connect.
      const old = process.umask(0o077);
      try {
        await listenOn(server, { path: staging?.bindAt ?? path });
      } finally {
        process.umask(old);
        staging?.close();
      }
      chmodSync(path, spec.mode ?? 0o600);
      if (spec.owner) chownSync(path, spec.owner.uid, spec.owner.gid);
      const made = lstatSync(path);
      bound = { spec, server, url: `unix://${target}`, boundPath: path, heldFd: null, fileId: { dev: made.dev, ino: made.ino } };
      this.listeners.push(bound);
      return bound;
    }
    // Anyone who reaches a TCP port can open connections before any credential is checked: each holds a
    // descriptor, which a spawn needs for its pipes. The admission keeps them at the cap by closing an idle
    // one for each new one past it, synchronously, so Node's own cap one above is only a backstop (it would
    // close the new connection, which is what let a flood of idle ones keep every prober out)
    server.maxConnections = (admission?.cap ?? 0) + 1;
    const held = opts.staged ? (opts.inheritedFd ?? null) : null;
    // no host (`port = 9001`, `*:9001`, `:9001`): 0.0.0.0, IPv4 only, as supervisord's AF_INET socket binds;
    // Node would take '' as `::`, which is IPv6 too (dual stack): more exposure than the same line gives
    // under supervisord. An IPv6 address is bound only when written (`[::]:9001`).
    if (held === null) await listenOn(server, { host: tcpHost(spec), port: spec.port ?? 0 });
    const addr = held === null ? server.address() : socketAddress(held);
    const port = typeof addr === 'object' && addr ? addr.port : spec.port;
    // the address actually bound: with no host (`port = 9001`) that is every IPv4 interface, as in supervisor
    const host = typeof addr === 'object' && addr ? ('address' in addr ? addr.address : addr.host) : tcpHost(spec);
    bound = { spec, server, url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`, boundPath: null, heldFd: held };
    this.listeners.push(bound);
    return bound;
  }

  /**
   * A reload's settings for the listener at `spec`'s address (the same socket path, or the same TCP host and
   * port): its credentials and host names take effect from the next request (connections already
   * authenticated are asked again at their next request: every request is checked), a unix socket file
   * gets the new mode and owner. Returns false when no listener is at that address (one a reload does not
   * open: the next start does).
   */
  reconfigure(spec: ListenerSpec): boolean {
    const l = this.listeners.find((x) => x.spec.kind === spec.kind && (spec.kind === 'unix' ? x.spec.path === spec.path : x.spec.host === spec.host && x.spec.port === spec.port));
    if (l === undefined) return false;
    const prev = l.spec;
    l.spec = spec;
    if (spec.kind === 'unix' && l.boundPath !== null) {
      // chmod and chown follow links, and this runs as root long after the bind: only while the path still
      // leads to the socket drover bound (a cleaner of /tmp may have removed it, and anyone planted a link)
      const now = lstatSync(l.boundPath, { throwIfNoEntry: false });
      if (!now?.isSocket() || l.fileId == null || now.dev !== l.fileId.dev || now.ino !== l.fileId.ino) {
        throw new Error(`${l.boundPath} is no longer the socket drover bound: its mode and owner are left as they are (the credentials apply)`);
      }
      const owner = spec.owner ?? { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
      const was = prev.owner ?? { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
      if (owner.uid !== was.uid || owner.gid !== was.gid) {
        // closed to all but drover's user while the owner changes: neither the old owner keeps the new mode
        // nor the new one the old mode, for a moment
        chmodSync(l.boundPath, 0o600);
        chownSync(l.boundPath, owner.uid, owner.gid);
      }
      chmodSync(l.boundPath, spec.mode ?? 0o600);
    }
    return true;
  }

  get urls(): string[] {
    return this.listeners.map((l) => l.url);
  }

  /**
   * A successor takes over: it listens on the TCP sockets inherited from the old master (which accepts on
   * them until it learns of the takeover: a connection is taken by one master or the other, never refused),
   * then moves staged unix sockets onto their paths (rename(2): a client connects to the old socket or the
   * new one). Rejects when an inherited socket cannot be listened on; nothing is renamed then.
   */
  async publish(): Promise<void> {
    for (const l of this.listeners) {
      if (l.heldFd === null) continue;
      await listenOn(l.server, { fd: l.heldFd });
      l.heldFd = null;
    }
    for (const l of this.listeners) {
      const target = l.spec.path;
      if (l.boundPath === null || target === undefined || l.boundPath === target) continue;
      renameSync(l.boundPath, target);
      l.boundPath = target;
    }
  }

  /** The TCP listeners' sockets, to hand to a successor (USR2) under controlFdName's names. */
  handOver(): { fd: number; name: string }[] {
    const out: { fd: number; name: string }[] = [];
    for (const l of this.listeners) {
      const name = controlFdName(l.spec);
      const fd = l.server.listening ? listeningFd(l.server) : null;
      if (name !== null && fd !== null) out.push({ fd, name });
    }
    return out;
  }

  /**
   * The successor (USR2) has taken over and listens on the TCP sockets handed to it: this master stops
   * accepting on them. Closing a listener closes this process's descriptor only; the socket, and the
   * connections queued on it, stay with the new master. Connections open here are served and drained.
   */
  closeHandedOver(): void {
    for (const l of [...this.listeners]) {
      if (l.spec.kind !== 'tcp') continue;
      l.server.close();
      this.listeners.splice(this.listeners.indexOf(l), 1);
    }
  }

  /**
   * This master is going away (a shutdown, or the end of a USR2 hand-over): keep-alive clients are moved off
   * it. Idle connections are closed now and every answer from now on closes its connection, so that a
   * client's next request reaches the new master (or finds none) rather than one stopping its programs,
   * which answers E_SHUTTING_DOWN for as long as their stopwaitsecs.
   */
  drain(): void {
    if (this.draining) return;
    this.draining = true;
    for (const r of this.responses) if (!r.headersSent) r.setHeader('Connection', 'close');
    for (const l of this.listeners) l.server.closeIdleConnections();
  }

  /**
   * Stops accepting, ends open connections (event streams included) and removes the socket files.
   * `keepSocketFiles`: a successor master (USR2) now serves the same paths. Closing a unix listener makes
   * libuv unlink its path, which would remove the successor's socket file; so the listeners are left open
   * and go away with this process's exit, which closes the fds without touching the paths.
   */
  async close(keepSocketFiles = false, endReason: StreamEndReason = keepSocketFiles ? 'reexec' : 'shutdown'): Promise<void> {
    // handing over (USR2): the clients go on with the new master; a shutdown still answers in its grace
    if (keepSocketFiles) this.closing = true;
    // A stream (its headers sent, never finished by itself) is ended with its final chunk, so its client
    // sees drover end it (`drover tail -f` exits 0) and not a connection cut mid-response (exit 1; curl
    // says "transfer closed with outstanding read data"). An event stream's last event says why (`end`):
    // after a re-exec its client goes on with the new master. A write to it afterwards is refused by its
    // EventStreamWriter.
    const streams = [...this.responses].filter((r) => r.headersSent && !r.writableEnded && !r.destroyed);
    for (const r of streams) {
      const writer = WRITERS.get(r);
      if (writer) writer.end(endReason);
      else r.end();
    }
    // Answers being written, and those final chunks, finish first (bounded: a client that stops reading
    // cannot hold the shutdown): `drover down` must get its answer even when the master has nothing to
    // stop and closes at once.
    const finishing = [...new Set([...this.answering, ...streams])];
    if (finishing.length > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all(finishing.map((r) => new Promise((resolve) => (r.writableFinished || r.destroyed ? resolve(null) : r.once('close', resolve))))),
        new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_GRACE_MS))),
      ]);
      clearTimeout(timer);
    }
    for (const sock of this.sockets) sock.destroy();
    if (keepSocketFiles) {
      for (const l of this.listeners) l.server.unref();
      this.listeners.length = 0;
      return;
    }
    // a successor that never took over: the old master's socket it held goes back (the old one keeps its own)
    for (const l of this.listeners) if (l.heldFd !== null) closeSync(l.heldFd);
    await Promise.all(
      this.listeners.map(
        (l) =>
          new Promise<void>((resolve) => {
            l.server.close(() => resolve());
          }),
      ),
    );
    for (const l of this.listeners) {
      if (l.boundPath === null) continue;
      try {
        unlinkSync(l.boundPath);
      } catch (err) {
        // ENOENT: already removed; the goal is met
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    this.listeners.length = 0;
  }

  // --- internal ---

  private async serve(spec: ListenerSpec, req: IncomingMessage, res: ServerResponse, admission: ConnectionAdmission | null): Promise<void> {
    try {
      // a request target in absolute form (`GET http://host:port/healthz`), which a server must accept
      // (RFC 9112, 3.2.2): the routes see its path and query; the Host header is checked as for any other
      // The path is taken as written, as in origin form: a URL parser would resolve `%2e%2e` and `..`,
      // which the origin form gets a 404 for
      if (req.url !== undefined && /^https?:\/\//i.test(req.url)) req.url = originForm(req.url) ?? req.url;
      if (!isAllowedHost(req.headers.host, spec.kind, spec.allowedHosts ?? [])) {
        // DNS rebinding: a page from the attacker's name, re-pointed at this listener (or at a socket
        // forwarded to TCP), is same-origin to the browser; only the Host header still shows its name
        sendError(
          res,
          421,
          'E_BAD_HOST',
          `Host ${JSON.stringify(req.headers.host ?? '')} is not a name of this server: drover answers to localhost, IP addresses${spec.kind === 'unix' ? ', names without a dot' : ''} and allowed_hosts (docs/security.md, section 7)`,
        );
        req.resume();
        return;
      }
      if (!isAuthorized(req, spec.credentials)) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="drover"', 'content-type': 'application/json', 'x-content-type-options': 'nosniff' });
        res.end(JSON.stringify({ ok: false, code: 'E_UNAUTHORIZED', message: 'authentication required' } satisfies ErrorJson));
        req.resume();
        return;
      }
      admission?.trust(req.socket);
      const otherConfig = this.otherConfig(req.headers['x-drover-config']);
      if (otherConfig !== null) {
        sendError(res, 409, 'E_OTHER_CONFIG', otherConfig);
        req.resume();
        return;
      }
      if (isCrossSiteWrite(req)) {
        // A browser that holds the TCP listener's basic credentials sends them with any site's form or
        // fetch; a POST from another origin must not stop programs (CSRF). CLIs send no Origin header.
        sendError(res, 403, 'E_CROSS_ORIGIN', 'requests that change state must come from this origin');
        req.resume();
        return;
      }
      const body = await readBody(req);
      if (body === null) {
        sendError(res, 413, 'E_TOO_LARGE', `request body over ${MAX_BODY_BYTES} bytes`);
        return;
      }
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      const route = this.routes.find((r) => path === r.prefix || path.startsWith(r.prefix.endsWith('/') ? r.prefix : `${r.prefix}/`));
      if (!route) {
        sendError(res, 404, 'E_NOT_FOUND', `no such path: ${path}`);
        return;
      }
      await route.handle(req, res, body);
    } catch (err) {
      if (!res.headersSent) {
        sendError(res, 500, 'E_INTERNAL', (err as Error).message);
      } else {
        res.destroy();
      }
    }
  }
}

// --- helpers ---

/** The address a TCP listener binds: 0.0.0.0 for no host (every IPv4 interface, as supervisord binds). */
function tcpHost(spec: ListenerSpec): string {
  return spec.host === '' ? '0.0.0.0' : (spec.host ?? '127.0.0.1');
}

function listenOn(server: Server, opts: { path: string } | { host: string; port: number } | { fd: number }): Promise<void> {
  const tooLong = 'path' in opts ? unixPathProblem(opts.path) : null;
  if (tooLong !== null) return Promise.reject(new Error(`${(opts as { path: string }).path}: ${tooLong}; set [unix_http_server] file to a shorter path`));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/**
 * Whether a Host header names this server in a way DNS rebinding cannot forge: a page a browser loaded
 * from the attacker's name sends that name, also once the name points at 127.0.0.1. Accepted: no Host
 * (not a browser), an IP literal (the page's origin is then that address), localhost and *.localhost
 * (browsers resolve them to loopback themselves), on the unix socket a name without a dot (`curl
 * --unix-socket S http://x/…` sends `x`; a rebinding attacker needs a name in a zone they control), and the
 * names in `allowed` (`*`: any).
 */
export function isAllowedHost(header: string | undefined, kind: 'unix' | 'tcp', allowed: readonly string[]): boolean {
  if (header === undefined) return true;
  // supervisorctl's own HTTP client (tail -f, fg) names no host on a unix socket; no browser sends that
  if (kind === 'unix' && header.trim() === '') return true;
  const name = hostName(header);
  if (name === null) return false;
  if (isIP(name) !== 0) return true;
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  if (kind === 'unix' && !name.includes('.')) return true;
  return allowed.includes('*') || allowed.includes(name);
}

/** The host of a Host header, lower-cased, without port, brackets or a trailing dot; null if malformed. */
function hostName(header: string): string | null {
  const h = header.trim().toLowerCase();
  const v6 = /^\[([0-9a-f:.]+)\](?::\d{1,5})?$/.exec(h);
  if (v6) return isIP(v6[1] ?? '') === 6 ? (v6[1] as string) : null;
  const m = /^([a-z0-9_-]+(?:\.[a-z0-9_-]+)*)\.?(?::\d{1,5})?$/.exec(h);
  return m ? (m[1] as string) : null;
}

/** A state-changing request that a browser sent on behalf of another origin. */
function isCrossSiteWrite(req: IncomingMessage): boolean {
  if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') return false;
  const site = req.headers['sec-fetch-site'];
  if (site === 'cross-site' || site === 'same-site') return true;
  const origin = req.headers.origin;
  if (origin === undefined) return false;
  try {
    return new URL(origin).host !== (req.headers.host ?? '');
  } catch {
    return true; // "null" (sandboxed frames, file: pages) or garbage: not our page
  }
}

/** Reads the whole body, or null when it exceeds the cap (the rest is discarded). */
function readBody(req: IncomingMessage): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? '0');
    if (declared > MAX_BODY_BYTES) {
      req.resume();
      resolve(null);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) over = true;
      else chunks.push(c);
    });
    req.on('end', () => resolve(over ? null : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/**
 * Whether something accepts connections on the unix socket at `path` (false: no file, refused, not a
 * socket). Rejects when connect(2) is not allowed to tell (EACCES, EPERM: a socket file whose mode denies
 * this user, such as another user's live drover's 0600 socket in a shared directory).
 */
function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolveAnswer, reject) => {
    const sock = connect({ path });
    const done = (answers: boolean | Error): void => {
      clearTimeout(timer);
      sock.destroy();
      if (answers instanceof Error) reject(answers);
      else resolveAnswer(answers);
    };
    // a listener that accepts nothing within a second (its backlog full, its process stopped) counts as one
    const timer = setTimeout(() => done(true), 1000);
    sock.once('connect', () => done(true));
    sock.once('error', (err: NodeJS.ErrnoException) => {
      // a refused permission says nothing about a listener: removing the file could take a live server's
      // address away from it (as removeStaleSocketFile in prefork/sockets.ts refuses for [socket:x])
      if (err.code === 'EACCES' || err.code === 'EPERM') {
        done(
          Object.assign(
            new Error(`${err.code}: cannot connect to ${path} to tell whether a drover or supervisord still listens on it (its mode or owner denies this user); the file is left in place`),
            { code: err.code },
          ),
        );
      } else done(err.code === 'EAGAIN');
    });
  });
}

/**
 * Where a successor (USR2) binds its unix control socket until it takes over: `.NAME.PID` beside the path,
 * on the same filesystem, so that rename(2) can move it onto the path. When that name is over the length
 * limit of a socket path (the path itself may be up to 107 bytes), bind(2) reaches the same directory
 * through /proc/self/fd/N of an O_PATH descriptor of it, under a short name: only bind's sun_path is
 * limited, not the paths chmod and rename take. `bindAt` is what to bind, `path` the file it creates;
 * `close` closes the directory's descriptor once bound.
 */
function stagingName(target: string): { readonly path: string; readonly bindAt: string; readonly close: () => void } {
  const dir = dirname(target);
  const beside = join(dir, `.${basename(target)}.${process.pid}`);
  if (Buffer.byteLength(beside) <= UNIX_PATH_MAX) return { path: beside, bindAt: beside, close: () => undefined };
  // O_PATH (the same on x86_64 and aarch64): search permission on the directory is all bind needs; a
  // directory that cannot be opened fails the bind here, as the path itself would
  const dirFd = openSync(dir, O_PATH | fsConstants.O_DIRECTORY);
  const name = `.drover-control.${process.pid}`;
  // libuv unlinks the path it bound when the server closes, through the then-closed descriptor's number:
  // harmless, the file has been renamed away by then (or is removed by its own path, `boundPath`), and
  // this pid's name is nobody else's
  return { path: join(dir, name), bindAt: `/proc/self/fd/${dirFd}/${name}`, close: () => closeSync(dirFd) };
}

/** Linux's O_PATH, which node:fs does not export. */
const O_PATH = 0o10000000;

/**
 * How many connections a TCP listener holds at once: a quarter of the open-file limit, between 16 and 512.
 * supervisord's web UI and XML-RPC clients use a few; past the cap an idle unauthenticated connection is
 * closed for each new one (admission.ts), so a flood cannot take the descriptors the programs' spawns and
 * the unix control socket need, nor keep a prober out.
 */
export function tcpConnectionCap(): number {
  let limit: number;
  try {
    limit = openFileLimit();
  } catch {
    limit = 1024;
  }
  return Math.max(16, Math.min(512, Math.floor(limit / 4)));
}

/** `path` with its symlinks resolved; as given when that fails (gone, unreadable). */
function realPathOr(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    // ENOENT, EACCES: compared as written
    return path;
  }
}
