// The worker runtime: the entry point of every `worker =` process. It loads the user's module, serves it
// on the inherited sockets (or runs it as a job worker), tells the master when it is ready, sends
// heartbeats from its event loop, drains gracefully on SIGTERM or the master's "stop", asks to be replaced
// after max_requests, and exits when the master goes away. A spare loads the module and reports ready but
// has no socket: the master hands it its sockets over IPC when it must take over, then says "accept".
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, Server as NetServer } from 'node:net';
import type { Duplex } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { describeThrown } from '../errors.js';
import { parseMasterMessage, WORKER_BOOT_ERROR, WORKER_CUT_SHORT, WORKER_ENV, type WorkerMessage } from '../ipc/protocol.js';
import { lock, queue, setRuntimeDefaults, state } from '../primitives/api.js';
import { accessLog, accessLogTakenOver } from './access-log.js';
import { listenBesideApp } from './beside-app.js';
import { Connections } from './drain.js';
import { fetchListener, guarded, guardServer, type FetchHandler } from './http-app.js';
import { isJobWorker, type JobWorker, type WorkerContext } from './index.js';
import { schemePolicyFrom } from './forwarded.js';
import { httpsServer, readTls, tlsFilesFrom } from './tls.js';
import { startWatchdog } from './watchdog.js';


const env = process.env;
const id = Number(env[WORKER_ENV.id] ?? '0');
const name = env[WORKER_ENV.name] ?? `worker ${id}`;
const heartbeatMs = Number(env[WORKER_ENV.heartbeatMs] ?? '0');
const stuckMs = Number(env[WORKER_ENV.stuckMs] ?? '0');
const maxRequests = Number(env[WORKER_ENV.maxRequests] ?? '0');
const gracefulMs = Number(env[WORKER_ENV.gracefulMs] ?? '30000');
const concurrency = Math.max(1, Number(env[WORKER_ENV.concurrency] ?? '1') || 1);
/** HTTP: the access log's format (null: none), and the keep-alive time of the servers made here (null: Node's) */
const accessLogFormat = env[WORKER_ENV.accessLogFormat] ?? null;
const keepAliveMs = env[WORKER_ENV.keepAliveMs] === undefined ? null : Math.max(0, Number(env[WORKER_ENV.keepAliveMs]) || 0);
/** HTTP: HTTPS with these files (certfile, keyfile, ca_certs) and client certificates (cert_reqs); null: plain HTTP */
const tlsFiles = tlsFilesFrom(env);
/** a spare: how many sockets the master hands over when it promotes it; null for a worker that serves at once */
const spareSockets = env[WORKER_ENV.spareSockets] === undefined ? null : Math.max(0, Number(env[WORKER_ENV.spareSockets]) || 0);
/** aborted when a stop begins: ends job workers' run() and waiting queue takes (shared primitives) */
const stopController = new AbortController();
// tasks count toward max_requests in job workers only: an HTTP worker counts its requests
setRuntimeDefaults({ signal: stopController.signal, concurrency, onTaskSettled: () => jobWorker && countRequest() });

/** requests answered so far (HTTP), or tasks a job worker settled (acked or nacked) */
let requests = 0;
/** set once a stop began */
let stopping = false;
let retireSent = false;
let onStop: (() => void) | null = null;
/** HTTP: the connections of the servers, and what is in progress on each (a drain waits for those) */
const connections = new Connections();

function send(m: WorkerMessage): void {
  if (process.send && process.connected) process.send(m);
}

/** One more request answered or task settled; past max_requests the worker asks the master for a successor once. */
function countRequest(): void {
  requests += 1;
  if (maxRequests > 0 && requests >= maxRequests && !retireSent) {
    retireSent = true;
    // the count so far first: the master adds up what its workers report, and a heartbeat may be a second away
    send({ t: 'hb', requests, rss: process.memoryUsage.rss() });
    send({ t: 'retire', reason: `${jobWorker ? 'settled' : 'served'} ${requests} ${jobWorker ? 'tasks' : 'requests'} (max_requests)` });
  }
}

/** set when the module is a job worker (defineWorker) */
let jobWorker = false;
/** how far the start got: the module loading, a job worker's setup() running, or up (serving, run(), stop()) */
let phase: 'load' | 'setup' | 'up' = 'load';

/**
 * Exits with `code` once a last heartbeat has gone to the master: what was served since the previous one
 * would be lost from the program's request count otherwise (drover_worker_requests_total).
 */
function reportAndExit(code: number): void {
  if (!process.send || !process.connected) process.exit(code);
  // the send's callback runs once the message is written; the master may be gone meanwhile
  setTimeout(() => process.exit(code), 500).unref();
  process.send({ t: 'hb', requests, rss: process.memoryUsage.rss() } satisfies WorkerMessage, () => process.exit(code));
}

function fail(message: string, err?: unknown): never {
  process.stderr.write(`drover worker ${name}: ${message}${err ? `: ${describeThrown(err, 'stack')}` : ''}\n`);
  process.exit(WORKER_BOOT_ERROR);
}

// First of all: without a listener, SIGUSR1 makes Node open its inspector, an unauthenticated port through
// which any local user could run code as this worker's user. A listener replaces Node's own handler for
// good (drover also passes --disable-sigusr1 where Node has it). A stuck worker's stack comes from the
// watchdog instead.
process.on('SIGUSR1', () => {
  process.stderr.write(`drover worker ${name}: SIGUSR1 ignored (drover workers never open Node's inspector)\n`);
});

async function main(): Promise<void> {
  const { positionals } = parseArgs({ allowPositionals: true, strict: false });
  const modulePath = positionals[0];
  if (!modulePath) fail('no module given');
  process.title = `drover: worker ${id} [${name}]`;

  // A stop can arrive before the module is loaded: the worker then leaves at once (beginStop). The stop
  // begins in routeSigterm's emit, after the app's listeners. Routed first: Node binds process.emit when the
  // first listener of a signal is added. A preload (NODE_OPTIONS=--require: an APM agent, OpenTelemetry)
  // may have added one before this module ran: Node then calls its own emit, and this listener begins the
  // stop (the app's listeners then run once per SIGTERM, as without drover).
  routeSigterm();
  process.on('SIGTERM', () => {
    if (sigtermCame) return;
    sigtermCame = true;
    beginStop('SIGTERM');
  });
  process.on('SIGINT', () => beginStop('SIGINT'));
  // The master is gone (killed, crashed): finish quickly and leave, never outlive it. The app's own SIGTERM
  // listeners (a WebSocket server saying goodbye) run as at any stop, and once (sigterm below).
  process.on('disconnect', () => masterGone('master went away'));
  // The parent-death signal has a race: a worker spawned as the master dies may be set up after the master
  // is gone and never get it, and its IPC channel may close before anyone listens. Being re-parented is
  // the one sign that cannot be missed, so it is checked now and every second.
  const master = process.ppid;
  // (a parent pid of 1 proves nothing: drover itself may be PID 1 in a container)
  if (process.send !== undefined && !process.connected) masterGone('master went away before the worker started');
  setInterval(() => {
    if (process.ppid !== master) masterGone('master went away');
  }, 1000).unref();
  // before the module loads: a module stuck at its top level is a stuck worker too
  if (stuckMs > 0) {
    startWatchdog(stuckMs, (err) => process.stderr.write(`drover worker ${name}: the watchdog thread failed, a stuck worker's stack will be missing: ${err.stack ?? err.message}\n`));
  }

  let mod: { default?: unknown };
  try {
    mod = (await import(pathToFileURL(modulePath).href)) as { default?: unknown };
  } catch (err) {
    fail(`cannot load ${modulePath}`, err);
  }
  const exported = mod.default ?? mod;
  if (isJobWorker(exported)) await runJobWorker(exported);
  else {
    phase = 'up';
    startHeartbeat();
    await serveHttp(exported);
  }
}

/**
 * Heartbeats from a timer on the event loop: a stuck loop stops them, which is what the master watches.
 * They begin once the app is loaded (a job worker's once its setup() has returned): until then the master's
 * `timeout` counts the load, so a top-level await or a setup() that never settles is killed as a failed start.
 */
function startHeartbeat(): void {
  if (heartbeatMs <= 0) return;
  setInterval(() => send({ t: 'hb', requests, rss: process.memoryUsage.rss() }), heartbeatMs).unref();
}

/** set once the app's SIGTERM listeners ran: a SIGTERM came, or the master is gone */
let sigtermCame = false;

/**
 * A worker's SIGTERM runs the app's listeners once, then begins the stop. The master sends one SIGTERM;
 * at its death the kernel's pdeathsig and the orphan guard's TERM can both come, and Node would run the
 * listeners for each. Node hands a signal to its listeners through process.emit (the one there when the
 * signal's first listener was added), so that is where the second one is dropped.
 */
function routeSigterm(): void {
  // A preload's listeners (NODE_OPTIONS=--require) were added before: Node bound its own emit for them. They
  // are taken off, which ends Node's listening for the signal, and put back once the emit is replaced, which
  // begins it again with this one (`rawListeners`: a `once` listener stays one).
  const preloaded = process.rawListeners('SIGTERM') as ((...args: unknown[]) => void)[];
  process.removeAllListeners('SIGTERM');
  process.emit = function (this: NodeJS.Process, event: string | symbol, ...args: unknown[]): boolean {
    return event === 'SIGTERM' ? sigterm('SIGTERM') : emitOnProcess.call(this, event, ...args);
  } as typeof process.emit;
  for (const listener of preloaded) process.on('SIGTERM', listener);
}

type Emit = (this: NodeJS.Process, event: string | symbol, ...args: unknown[]) => boolean;
/** Node's own process.emit */
const emitOnProcess = process.emit as Emit;

function sigterm(why: string): boolean {
  if (sigtermCame) return false;
  sigtermCame = true;
  try {
    return emitOnProcess.call(process, 'SIGTERM', 'SIGTERM');
  } finally {
    beginStop(why);
  }
}

/**
 * The master is gone: the app's SIGTERM listeners run now, before a worker with nothing in flight can exit
 * (a signal handled later never runs them), and the stop begins.
 */
function masterGone(why: string): void {
  if (stopping) return;
  sigterm(why);
}

function beginStop(why: string): void {
  if (!enterStopping(0)) return;
  if (onStop) onStop();
  // A worker whose module is still loading has nothing in flight and nothing to drain: it leaves at once,
  // rather than finish a load that may take seconds (or never end) and then drain an empty server, or wait
  // out graceful_timeout (docs/decisions.md, "A worker stopped while it loads").
  else if (why !== 'SIGTERM' || !process.connected || phase === 'load') process.exit(0);
}

/**
 * The stop begins (once; false when it already had): waits end (the stop signal aborts) and the graceful
 * budget runs, after which the worker exits with `code`.
 */
function enterStopping(code: number): boolean {
  if (stopping) return false;
  stopping = true;
  stopController.abort();
  armGracefulExit(code);
  return true;
}

/**
 * Past the graceful budget the master sends SIGKILL anyway; leaving a little earlier lets the worker exit
 * with `code` (capped at the longest delay Node's timers honour, 2^31 - 1 ms: a longer one fires at once).
 * Leaving on this timer cuts work short, so it says so (stderr is a pipe: written before the exit), and a
 * worker that was up exits WORKER_CUT_SHORT rather than 0, so that the master's log says so too. One still
 * loading or in setup(), or an HTTP worker whose connections carry no request, had nothing in flight: its
 * exit stays `code`.
 */
function armGracefulExit(code: number): void {
  setTimeout(() => {
    // connections with nothing in progress (nothing sent yet, a TLS handshake) are no work cut off
    if (phase === 'up' && !jobWorker && !connections.hasRequestsInFlight()) return reportAndExit(code);
    const cut =
      phase === 'load'
        ? 'before the module finished loading'
        : phase === 'setup'
          ? 'before setup() returned: run() and stop() are not called'
          : !jobWorker
            ? 'with requests in flight'
            : finishing
              ? 'before stop() returned'
              : 'before run() returned: the tasks still in flight go back to the queue (an attempt spent), and stop() is not called';
    process.stderr.write(`drover worker ${name}: graceful_timeout (${gracefulMs} ms) ran out ${cut}; exiting\n`);
    process.exit(phase === 'up' && code === 0 ? WORKER_CUT_SHORT : code);
  }, Math.max(0, Math.min(gracefulMs - gracefulLead(gracefulMs), 2 ** 31 - 1))).unref();
}

/**
 * How long before the master's SIGKILL the worker leaves by itself: a quarter of graceful_timeout, at most
 * 500 ms. Its exit must reach the master first, or the master logs a SIGKILL and not the cut-off status
 * (100 ms was too little on a loaded machine).
 */
function gracefulLead(gracefulMs: number): number {
  return Math.min(500, gracefulMs / 4);
}

// --- job workers ---

async function runJobWorker(worker: JobWorker): Promise<void> {
  const signal = stopController.signal;
  const ctx: WorkerContext = {
    id,
    name,
    signal,
    log: (message) => process.stdout.write(`${message}\n`),
    concurrency,
    queue: (queueName) => queue(queueName, { signal, concurrency }),
    state,
    lock,
  };
  jobWorker = true;
  phase = 'setup';
  // the stop signal aborts run(); nothing else to do here
  onStop = () => undefined;
  try {
    await worker.setup?.(ctx);
  } catch (err) {
    fail('setup() failed', err);
  }
  phase = 'up';
  startHeartbeat();
  send({ t: 'ready' });
  if (spareSockets !== null) {
    // a spare that leaves without serving still undoes its setup()
    await awaitPromotion(0, () => void finishJob(worker, ctx, 0));
    onStop = () => undefined;
    send({ t: 'serving' });
  }
  let code = 0;
  try {
    await worker.run(ctx);
  } catch (err) {
    // an abort that a stop caused is how run() is meant to end
    if (stopping && (err as Error)?.name === 'AbortError') return finishJob(worker, ctx, 0);
    // said before stop() runs: a stop() that hangs must not hide why the worker is leaving
    process.stderr.write(`drover worker ${name}: run() failed: ${describeThrown(err, 'stack')}\n`);
    code = 1;
  }
  await finishJob(worker, ctx, code);
}

/**
 * Ends a job worker: stop() (once), then exit with `code`. A run() that ended by itself ends the worker as
 * a stop does: waits end (the stop signal aborts) and stop() has the graceful budget, after which the
 * worker exits anyway, so a stop() that hangs cannot keep a worker that does nothing, or its locks.
 */
let finishing = false;
async function finishJob(worker: JobWorker, ctx: WorkerContext, code: number): Promise<never> {
  if (!finishing) {
    finishing = true;
    enterStopping(code);
    try {
      await worker.stop?.(ctx);
    } catch (err) {
      process.stderr.write(`drover worker ${name}: stop() failed: ${describeThrown(err, 'stack')}\n`);
      code = code === 0 ? 1 : code;
    }
    reportAndExit(code);
  }
  return new Promise<never>(() => undefined);
}

// --- HTTP ---

/** The request listener for any of the supported default exports; an exported http.Server is its own. */
function toListener(exported: unknown): { listener: RequestListener; server: null } | { listener: null; server: Server } {
  if (exported && typeof exported === 'object' && 'listen' in exported && 'on' in exported) {
    const server = exported as Server;
    if (server.listening) fail('the exported http.Server is already listening; export it without calling listen()');
    guardServer(name, server);
    return { listener: null, server };
  }
  if (typeof exported === 'function') return { listener: guarded(name, exported as RequestListener), server: null };
  if (exported && typeof exported === 'object' && typeof (exported as FetchHandler).fetch === 'function') {
    return { listener: fetchListener(name, exported as FetchHandler, schemePolicyFrom(env)), server: null };
  }
  fail('the module must export (default) a request listener, an object with fetch(), an http.Server, or defineWorker({...})');
}

async function serveHttp(exported: unknown): Promise<void> {
  const count = spareSockets ?? Number(env['LISTEN_FDS'] ?? '0');
  if (spareSockets === null && env['LISTEN_PID'] !== undefined && env['LISTEN_PID'] !== String(process.pid)) {
    fail(`LISTEN_PID ${env['LISTEN_PID']} is not this process (${process.pid}): the sockets are not meant for it`);
  }
  if (count < 1) fail('no sockets were passed: give the program sockets = NAME and a [socket:NAME] section');
  const app = toListener(exported);
  const userServer = app.server;
  if (userServer !== null && tlsFiles !== null) fail('certfile and keyfile apply to the servers drover makes: export a request listener or fetch handler, or make an https.Server yourself and leave certfile and keyfile out');
  let tls = null;
  try {
    tls = tlsFiles === null ? null : readTls(tlsFiles);
  } catch (err) {
    fail((err as Error).message);
  }

  /** what listens, one per socket */
  const servers: NetServer[] = [];
  const logRequest = accessLogFormat === null ? null : accessLog(accessLogFormat);
  const logTakenOver = accessLogFormat === null ? null : accessLogTakenOver(accessLogFormat);
  // keep_alive = 0 (gunicorn's keepalive 0): every response closes its connection
  const closeEach = keepAliveMs === 0 && userServer === null;
  /** Each request, once, before the app sees it: counted (drain, max_requests), logged, and marked when draining. */
  const track = (req: IncomingMessage, res: ServerResponse): void => {
    connections.requestBegun(req, res);
    // Draining: every answer from now on tells the client to reconnect elsewhere (to a live worker).
    if (stopping || closeEach) res.setHeader('connection', 'close');
    logRequest?.(req, res);
    countRequest();
  };
  /**
   * requests the app took through its 'checkContinue' or 'checkExpectation' (tracked there): its handler may
   * hand them on to 'request' (Node's docs show it), where they are not tracked again. Empty but for those.
   */
  const viaExpect = new WeakSet<IncomingMessage>();
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    if (!viaExpect.has(req)) track(req, res);
  };
  // an app that is a request listener gets one 'request' listener, ours then the app's: a second listener
  // costs an array copy per request in EventEmitter's emit (issue 17)
  const tracked =
    (listener: RequestListener): RequestListener =>
    (req, res) => {
      onRequest(req, res);
      listener(req, res);
    };
  const onExpectation = (req: IncomingMessage, res: ServerResponse): void => {
    viaExpect.add(req);
    track(req, res);
  };
  // a request whose connection the app takes over (a WebSocket's 'upgrade', 'connect') is a request too:
  // logged when the connection closes, and counted toward max_requests
  const trackTakenOver = (req: IncomingMessage, socket: Duplex): void => {
    logTakenOver?.(req, socket);
    countRequest();
  };
  for (let i = 0; i < count; i++) {
    if (userServer && i > 0) {
      // the exported server serves every socket: its settings and its 'upgrade' handler apply on each
      servers.push(createNetServer((socket) => userServer.emit('connection', socket)));
      continue;
    }
    let server: Server;
    try {
      server = app.server !== null ? app.server : tls === null ? createServer(tracked(app.listener)) : httpsServer(tls, tracked(app.listener));
    } catch (err) {
      fail((err as Error).message);
    }
    if (userServer === null && keepAliveMs !== null && keepAliveMs > 0) server.keepAliveTimeout = keepAliveMs;
    // ours runs first, so the Connection: close header is set before the app writes its head
    if (app.server !== null) server.prependListener('request', onRequest);
    // only an app that listens for these gets them (else http answers or closes itself): so is ours
    listenBesideApp(server, ['checkContinue', 'checkExpectation'], onExpectation);
    listenBesideApp(server, ['upgrade', 'connect'], trackTakenOver);
    connections.watch(server);
    servers.push(server);
  }
  // A spare reports ready now, loaded but not listening: it accepts nothing until the master hands it its
  // sockets. server.listen(handle) then listens on the very socket the master holds (its slot, with
  // reuse_port), so it accepts what is already queued there.
  const targets: unknown[] = spareSockets === null ? servers.map((_, i) => ({ fd: 3 + i })) : await promoted(count);
  // listen() on a socket that listens already sets its backlog again: the socket's, or Node's 511
  const backlogs = (env[WORKER_ENV.backlogs] ?? '').split(',').map((b) => Number(b) || undefined);
  await Promise.all(
    servers.map(
      (s, i) =>
        new Promise<void>((resolve, reject) => {
          s.once('error', reject);
          s.listen(targets[i] as { fd: number }, backlogs[i], () => {
            s.off('error', reject);
            resolve();
          });
        }),
    ),
  );
  onStop = () => drain(servers);
  if (stopping) {
    drain(servers);
    return;
  }
  send({ t: spareSockets === null ? 'ready' : 'serving' });
}

/** A spare: reports ready, then waits until the master says accept and hands over its `count` sockets. */
async function promoted(count: number): Promise<unknown[]> {
  send({ t: 'ready' });
  return awaitPromotion(count);
}

/**
 * Waits for the master's `accept` and the sockets that follow it (by index); a stop meanwhile ends the
 * spare at once (it has nothing in flight).
 */
function awaitPromotion(count: number, leave: () => void = () => process.exit(0)): Promise<unknown[]> {
  onStop = leave;
  if (stopping) leave();
  return new Promise((resolve) => {
    const handles: unknown[] = Array.from({ length: count }, () => undefined);
    let told = false;
    const onMessage = (raw: unknown, handle: unknown): void => {
      const m = parseMasterMessage(raw);
      if (m?.t === 'accept') {
        if (m.sockets !== count) fail(`told to accept on ${m.sockets} socket(s), but the program has ${count}`);
        told = true;
      } else if (m?.t === 'socket' && m.index < count && handle) handles[m.index] = handle;
      if (!told || handles.some((h) => h === undefined)) return;
      process.off('message', onMessage);
      onStop = null;
      resolve(handles);
    };
    process.on('message', onMessage);
  });
}

/**
 * Graceful drain (DESIGN §8): stop accepting, answer each open connection's next request with
 * `Connection: close`, close connections with no request in progress once they have stayed so for a second
 * (drain.ts), then exit when the last connection is gone.
 */
function drain(servers: NetServer[]): void {
  let open = servers.length;
  for (const s of servers) {
    // net.Server's close: stop listening only. http.Server#close would also close idle keep-alive
    // connections at once (Node ≥ 19), which drops a request already in flight on one of them.
    NetServer.prototype.close.call(s, () => {
      open -= 1;
      // a server closes once its last connection is destroyed, before that socket's 'close' (where an
      // upgraded connection's access line is written): the exit waits for those
      if (open === 0) connections.afterLastClose(() => reportAndExit(0));
    });
  }
  // a response that began before the drain carried no Connection: close, so its connection would
  // otherwise stay open
  connections.beginDrain();
  setInterval(() => connections.closeIdle(), 250).unref();
}

void main().catch((err: unknown) => fail('unexpected error', err));
