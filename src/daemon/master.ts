// The supervisor process itself (foreground or daemon): instance lock, pidfile, control server, the
// supervisor, and an orderly exit. `drover up` calls runMaster; so does the daemon child of `up -d`.
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import { loadConfig, type LoadOptions } from '../config/load.js';
import type { Config, ProcessSpec } from '../config/types.js';
import { ControlApi } from '../control/api.js';
import { isEmptyPassword } from '../control/auth.js';
import { buildRoutes } from '../control/routes.js';
import { ControlServer, type ListenerSpec } from '../control/server.js';
import { Supervisor } from '../core/supervisor.js';
import { createLogger, type Logger } from '../logs/logger.js';
import { LogSink } from '../logs/sink.js';
import { closeInheritedOnExec } from '../os/fds.js';
import { OrphanGuard } from '../os/guard.js';
import { hasPdeathsig } from '../os/spawn.js';
import { inheritedSockets, SocketSet } from '../prefork/sockets.js';
import { lookupGroupId, lookupUser } from '../os/users.js';
import type { SharedBackend } from '../primitives/backend.js';
import { MemoryBackend } from '../primitives/memory-backend.js';
import { RedisBackend } from '../primitives/redis-backend.js';
import { attachJournal, SharedGate } from '../primitives/durable.js';
import { gatedRoutes, sharedRoutes } from '../control/primitives-routes.js';
import { SharedService } from '../primitives/service.js';
import { FileDesiredState } from './desired-state.js';
import { Hooks } from './hooks.js';
import { acquireInstanceLock } from './lock.js';
import { LOCK_FD_NAME, reportToPredecessor, spawnSuccessor } from './reexec.js';
import { controlSocketPath, pidfilePath } from './paths.js';
import { ensureRuntimeDir, RuntimeDirError } from './runtime-dir.js';
import { readPidfile, removePidfile, writePidfile } from '../os/pidfile.js';
import type { SignalRelay } from './signals.js';

export interface ReadyInfo {
  readonly pid: number;
  readonly urls: readonly string[];
  readonly processes: number;
}

export interface MasterOptions {
  readonly config: Config;
  readonly loadOptions: LoadOptions;
  readonly version: string;
  readonly stdout: Writable;
  readonly signals: SignalRelay;
  /** ignore remembered manual starts/stops */
  readonly fresh: boolean;
  /** running detached: no terminal, drover's own log to its logfile */
  readonly daemon: boolean;
  /** called once the control socket answers and autostart programs have been started */
  readonly onReady: (info: ReadyInfo) => void;
  /** called when start-up fails, with the message and the exit code to use */
  readonly onStartFailed: (message: string, exitCode: number) => void;
  /** started by an old master's USR2: inherit its sockets and lock, report ready to it */
  readonly reexec?: boolean;
}

export { controlSocketPath, pidfilePath };

/** Runs the supervisor until it has shut down; resolves with the exit code. */
export async function runMaster(o: MasterOptions): Promise<number> {
  const { config } = o;
  // before anything is spawned: fds a careless parent leaked must not reach the programs (security.md, 10)
  closeInheritedOnExec();
  const runtimeDir = config.supervisord.runtimeDir;
  try {
    ensureRuntimeDir(runtimeDir);
  } catch (err) {
    if (!(err instanceof RuntimeDirError)) throw err;
    o.onStartFailed(err.message, 2);
    return 2;
  }
  // `ps` shows what this is; Linux caps the title at the length of the original command line, which for
  // `node …/drover.js up -c FILE` is long enough for a short name
  process.title = `drover: master [${masterName(config)}]`;

  // A re-exec'd master (USR2) inherits the old one's sockets and its instance lock as fds.
  const inherited = inheritedSockets(process.env);
  const lockFd = o.reexec ? inherited.get(LOCK_FD_NAME) : undefined;
  inherited.delete(LOCK_FD_NAME);
  const lock = await acquireInstanceLock(runtimeDir, lockFd);
  if (!lock) {
    const pid = readPidfile(pidfilePath(config));
    o.onStartFailed(
      `drover is already running for ${runtimeDir}${pid ? ` (pid ${pid}, per ${pidfilePath(config)})` : ''}`,
      1,
    );
    return 1;
  }
  const pidfile = pidfilePath(config);
  // Sockets first: a port that cannot be bound is a start-up error the launching terminal must see.
  let sockets: SocketSet | null = null;
  if (config.sockets.length > 0) {
    try {
      sockets = SocketSet.bind(config.sockets, inherited);
    } catch (err) {
      lock.release();
      o.onStartFailed((err as Error).message, 1);
      return 1;
    }
  }
  // a re-exec'd master takes the pidfile over only once it is ready (the old master's pid stays till then)
  if (!o.reexec) writePidfile(pidfile);

  // children's lines go to their log files and, in the foreground unless `silent`, to stdout with a name
  // prefix; drover's own lines to its log file and, in the foreground, to stdout (src/logs/sink.ts)
  const echo = o.daemon || config.supervisord.silent ? null : o.stdout;
  // A re-exec'd master must not clear AUTO logs at start: the old master is still writing its own.
  const sinkConfig = o.reexec ? { ...config, supervisord: { ...config.supervisord, nocleanup: true } } : config;
  const sink = new LogSink({ config: sinkConfig, echo, stdout: o.stdout, stderr: process.stderr });
  const logger = createLogger(sink.mainLogWriter(echo), config.supervisord.loglevel);
  sink.setErrorReporter((m) => logger.error(m));
  if (process.pid === 1) {
    // Orphans re-parented to PID 1 would need waitpid() on pids Node did not spawn, which Node cannot do
    // without a native helper; they would stay zombies. A tiny init in front of drover reaps them.
    logger.warn('running as PID 1: drover reaps its own children but not adopted orphans; run it under an init such as tini (docker run --init)');
  }
  if (!hasPdeathsig()) {
    logger.warn('setpriv (util-linux) not found: programs will not be signalled if drover is killed with SIGKILL');
  }
  /** start-up failed after the pidfile and sockets were taken: give them back and say why */
  const abort = async (message: string): Promise<number> => {
    sockets?.close();
    removePidfile(pidfile);
    lock.release();
    await sink.close();
    o.onStartFailed(message, 1);
    return 1;
  };
  let hooks: Hooks;
  try {
    hooks = config.supervisord.hooks ? await Hooks.load(config.supervisord.hooks, logger) : Hooks.none(logger);
  } catch (err) {
    return abort(`cannot load the hooks module ${config.supervisord.hooks ?? ''}: ${(err as Error).message}`);
  }
  const serverInfo = { pid: process.pid, configFile: config.file, processes: config.processes.length };
  if (!(await hooks.run('on_starting', 30_000, serverInfo))) {
    return abort('the on_starting hook failed (see the log); nothing was started');
  }
  const guard = OrphanGuard.start(masterName(config));
  // queues, state and locks for the workers (docs/shared.md): in this process, or in a Redis server
  const memoryBackend = config.supervisord.sharedBackend === 'memory' ? new MemoryBackend() : null;
  let sharedBackend: SharedBackend;
  if (memoryBackend) sharedBackend = memoryBackend;
  else {
    const where = `${redactUrl(config.supervisord.sharedBackend)} (prefix ${config.supervisord.sharedPrefix})`;
    try {
      sharedBackend = await RedisBackend.connect({
        url: config.supervisord.sharedBackend,
        prefix: config.supervisord.sharedPrefix,
        livenessMs: config.supervisord.sharedLivenessMs,
        onError: (m) => logger.warn(redactUrl(m)),
      });
    } catch (err) {
      guard?.close();
      return abort(redactUrl((err as Error).message));
    }
    logger.info(`shared backend: Redis at ${where}`);
  }
  const shared = new SharedService(sharedBackend, (m) => logger.warn(m));
  // With a journal, shared requests wait until it is loaded. A re-exec'd master loads it only once the old
  // master has exited (its IPC channel closes): until then the old one appends (docs/shared.md, Durability).
  const gate = new SharedGate();
  const journalFile = config.supervisord.journal;
  const loadJournal = (): string | null => {
    // the config refuses a journal with a Redis backend
    if (journalFile === null || memoryBackend === null) return null;
    try {
      attachJournal(memoryBackend, journalFile, (m) => logger.warn(m), { fsyncEachBatch: config.supervisord.journalFsync });
    } catch (err) {
      return (err as Error).message;
    }
    const restored = memoryBackend.queueStats(null).reduce((n, q) => n + q.ready + q.delayed, 0);
    logger.info(`journal ${journalFile}: ${restored} task(s) restored${config.supervisord.journalFsync ? '; fsync after every batch (journal_fsync)' : ''}`);
    return null;
  };
  // Without a journal there is nothing to hand over (memory: the new master starts empty, as documented;
  // Redis: both masters share the server), so a re-exec'd master's gate opens at once too.
  if (!o.reexec || journalFile === null) {
    const problem = loadJournal();
    if (problem !== null) {
      guard?.close();
      return abort(problem);
    }
    gate.open();
  }
  const supervisor = new Supervisor({
    config,
    logger,
    output: sink,
    guard,
    desired: new FileDesiredState(runtimeDir, { fresh: o.fresh }),
    sockets,
    respawnSpec: (spec, processNum) => respawnSpec(config.file, o.loadOptions, spec, processNum),
    onWorkerRequest: (key, pid, calls, reply) => gate.run(() => shared.handle(key, pid, calls, reply)),
    onWorkerExit: (key, pid) => gate.run(() => shared.workerExited(key, pid)),
    hooks,
    onReload: async () => {
      await hooks.run('on_reload', 30_000, serverInfo);
      await api.update(null);
      await supervisor.rollWorkers();
    },
    onReexec: async () => {
      const r = await spawnSuccessor({
        configFile: config.file,
        sockets: (sockets?.list() ?? []).map((s) => ({ fd: s.fd, name: s.spec.name })),
        lockFd: lock.fd,
        daemon: o.daemon,
        env: process.env,
        timeoutMs: 60_000,
      });
      if (!r.ok) {
        logger.error(`SIGUSR2: ${r.message}; this master keeps running`);
        return;
      }
      handedOver = true;
      logger.info(`SIGUSR2: the new master (pid ${r.pid}) is ready; draining and exiting`);
      await supervisor.command({ type: 'shutdown', fast: false });
    },
  });
  const api = new ControlApi(supervisor, {
    configFile: config.file,
    loadOptions: o.loadOptions,
    logs: sink,
    identification: config.supervisord.identifier,
    version: o.version,
  });
  // /api/queue/… and friends go before the JSON API's catch-all /api/
  const server = new ControlServer([
    ...gatedRoutes(gate, sharedRoutes(shared)),
    ...buildRoutes(api, { queueStats: async () => (gate.isOpen ? [...(await shared.backend.queueStats(null))] : []) }),
  ]);
  /** set once a successor master (USR2) has taken over the sockets and the paths */
  let handedOver = false;
  const cleanup = async (): Promise<void> => {
    await server.close(handedOver);
    sockets?.close(handedOver);
    removePidfile(pidfile);
    lock.release();
    await shared.backend.close();
  };

  try {
    for (const spec of listenerSpecs(config)) {
      const bound = await server.listen(spec);
      if (spec.kind === 'tcp') warnIfExposed(bound.url, logger);
    }
  } catch (err) {
    await cleanup();
    guard?.close();
    const e = err as NodeJS.ErrnoException;
    const code = e instanceof ListenerConfigError ? 2 : 1;
    o.onStartFailed(`cannot open the control socket: ${e.message}`, code);
    return code;
  }

  o.signals.attach((sig) => supervisor.push({ type: 'signalReceived', signal: sig }));
  // The top level (STYLE §5): an error nothing caught kills every process group, and drover then exits 1
  // through the normal cleanup (pidfile, sockets, lock) instead of dying with its files left behind.
  const onUnexpected = (err: unknown): void => supervisor.failUnexpectedly(err);
  process.on('uncaughtException', onUnexpected);
  process.on('unhandledRejection', onUnexpected);
  for (const sock of sockets?.list() ?? []) {
    logger.info(`socket ${sock.spec.name}: listening on ${sock.address}${sock.inherited ? ' (inherited)' : ''} (fd ${sock.fd})`);
  }
  logger.info(
    `drover up: pid ${process.pid}, ${config.processes.length} process(es) from ${config.file}, control at ${server.urls.join(' ')}` +
      (guard ? `, orphan guard pid ${guard.pid ?? '?'}` : ''),
  );
  if (o.reexec) {
    // Start what serves the inherited sockets first; the old master drains once they are ready. Other
    // programs start when the old master has gone (they are restarted, not shared, on a re-exec).
    const serving = (spec: ProcessSpec): boolean => spec.sockets.length > 0;
    supervisor.start(serving);
    void waitForRunning(supervisor, serving, 60_000).then((ok) => {
      writePidfile(pidfile);
      reportToPredecessor(ok ? { t: 'reexec-ready', pid: process.pid } : { t: 'reexec-failed', message: 'its workers did not become ready within 60 s' });
    });
    process.once('disconnect', () => {
      if (!gate.isOpen) {
        const problem = loadJournal();
        if (problem !== null) {
          logger.error(`${problem}; stopping`);
          void supervisor.command({ type: 'shutdown', fast: false });
          return;
        }
        gate.open();
      }
      supervisor.startRemaining();
    });
  } else {
    supervisor.start();
  }
  o.onReady({ pid: process.pid, urls: server.urls, processes: config.processes.length });
  void hooks.run('when_ready', 30_000, serverInfo);

  const { failed } = await supervisor.whenStopped();
  process.off('uncaughtException', onUnexpected);
  process.off('unhandledRejection', onUnexpected);
  await hooks.run('on_exit', 10_000, serverInfo);
  await cleanup();
  o.signals.remove();
  await sink.close();
  return failed ? 1 : 0;
}

/** Resolves true once every autostart process matching `which` is running, false on timeout or failure. */
function waitForRunning(supervisor: Supervisor, which: (spec: ProcessSpec) => boolean, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const check = (): boolean | null => {
      const mine = supervisor.snapshot().filter((p) => which(p.spec) && p.spec.autostart);
      if (mine.every((p) => p.record.state === 'running')) return true;
      if (mine.some((p) => p.record.state === 'fatal')) return false;
      return null;
    };
    const first = check();
    if (first !== null) {
      resolve(first);
      return;
    }
    const timer = setTimeout(() => {
      off();
      resolve(false);
    }, timeoutMs);
    const off = supervisor.onChange(() => {
      const r = check();
      if (r === null) return;
      clearTimeout(timer);
      off();
      resolve(r);
    });
  });
}

/**
 * The spec of process `processNum` of `spec`'s program, from the config file with numprocs raised to
 * include it (how TTIN and worker replacement get a new process); null when the program is gone.
 */
function respawnSpec(file: string, loadOptions: LoadOptions, spec: ProcessSpec, processNum: number): ProcessSpec | null {
  let config: Config;
  try {
    // numprocs counts from numprocs_start (≥ 0), so processNum + 1 always reaches processNum
    config = loadConfig(file, { ...loadOptions, numprocsOverride: { [spec.programName]: processNum + 1 } });
  } catch {
    return null; // the file no longer loads: no new processes until it is fixed
  }
  const found = config.processes.find((p) => p.programName === spec.programName && p.group === spec.group && p.processNum === processNum);
  return found ?? null;
}

/** A short name for the process title: the one program of `drover serve`, else the config's directory. */
function masterName(config: Config): string {
  const programs = new Set(config.processes.map((p) => p.programName));
  if (config.file.endsWith('/serve.ini') && programs.size === 1) return [...programs][0] as string;
  return basename(dirname(config.file)) || config.file;
}

/** A listener the config asks for but that drover refuses to open (exit code 2). */
export class ListenerConfigError extends Error {}

// --- internal ---

function listenerSpecs(config: Config): ListenerSpec[] {
  const out: ListenerSpec[] = [];
  const unix = config.unixHttpServer;
  let owner: { uid: number; gid: number } | null = null;
  if (unix?.chown) {
    const [user, group] = unix.chown.split(':');
    const u = lookupUser(user ?? '');
    if (!u) throw new ListenerConfigError(`[unix_http_server] chown: no such user ${user ?? ''}`);
    // `user:group` takes the group (a name or a gid, 0 included); `user` alone takes the user's primary group
    const gid = group ? lookupGroupId(group) : u.gid;
    if (gid === null) throw new ListenerConfigError(`[unix_http_server] chown: no such group ${JSON.stringify(group)} (expected a group name or gid that getent group knows)`);
    owner = { uid: u.uid, gid };
  }
  out.push({
    kind: 'unix',
    path: controlSocketPath(config),
    mode: unix?.chmod ?? 0o600,
    owner,
    credentials: unix?.username && unix.password !== null ? { username: unix.username, password: unix.password } : null,
    allowedHosts: [hostname().toLowerCase(), ...(unix?.allowedHosts ?? [])],
  });
  const inet = config.inetHttpServer;
  if (inet) {
    if (!inet.username || inet.password === null) {
      throw new ListenerConfigError(
        '[inet_http_server] needs username and password: drover does not open an unauthenticated TCP control port',
      );
    }
    if (isEmptyPassword(inet.password)) {
      throw new ListenerConfigError(
        `[inet_http_server] password is empty (got ${JSON.stringify(inet.password)}; an empty %(ENV_X)s gives this too): drover does not open a TCP control port that takes an empty password; set a non-empty one`,
      );
    }
    out.push({
      kind: 'tcp',
      host: inet.host,
      port: inet.port,
      credentials: { username: inet.username, password: inet.password },
      // the names this port is reached by on purpose: its configured host and this machine's name
      allowedHosts: [...(inet.host ? [inet.host] : []), hostname().toLowerCase(), ...inet.allowedHosts],
    });
  }
  return out;
}

/** Warns when the TCP control listener is reachable from other machines: basic auth over plain HTTP. */
function warnIfExposed(url: string, logger: Logger): void {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  if (/^127\./.test(host) || host === '::1' || /^::ffff:127\./i.test(host)) return;
  const where = host === '::' || host === '0.0.0.0' ? `every interface (${url})` : `${url}, which is not a loopback address`;
  logger.warn(
    `[inet_http_server] listens on ${where}: the username, the password and every answer travel as plain HTTP; ` +
      'give port a loopback host (port = 127.0.0.1:9001, then reach it through ssh -L) or put a TLS proxy in front',
  );
}

/** A backend URL or a message naming it, with any password replaced by *** (it goes to logs). */
function redactUrl(text: string): string {
  return text.replace(/(rediss?:\/\/[^:@/\s]*:)[^@\s]*@/g, '$1***@');
}
