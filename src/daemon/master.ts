// The supervisor process itself (foreground or daemon), as a composition root: claim the runtime directory
// (lock, sockets, pidfile), open the logs, the hooks and the shared primitives, build the engine — the
// supervisor, drover workers as a kind of process with the arbiter's pool policy over them, the one reload,
// the re-exec — wire each signal to what its command does, serve the control plane, and exit in order.
// `drover up` calls runMaster; so does the daemon child of `up -d`, and a new master after USR2.
import { closeSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Writable } from 'node:stream';
import { loadConfig, loadConfigAsync, type LoadOptions } from '../config/load.js';
import type { Config, ProcessSpec } from '../config/types.js';
import { Checks } from '../checks/checks.js';
import { ControlApi } from '../control/api.js';
import { gatedRoutes, sharedRoutes } from '../control/primitives-routes.js';
import { buildRoutes } from '../control/routes.js';
import { ControlServer, controlFdName } from '../control/server.js';
import { Supervisor } from '../core/supervisor.js';
import { createLogger, type Logger } from '../logs/logger.js';
import { LogSink, OwnLogError, ownStream } from '../logs/sink.js';
import { StdOut } from '../logs/std-out.js';
import { closeInheritedOnExec } from '../os/fds.js';
import { OrphanGuard } from '../os/guard.js';
import { pidfileWriteProblem, readPidfile, removePidfile, tryWritePidfile } from '../os/pidfile.js';
import { closeStrayInspector } from '../os/node-features.js';
import { readCmdline, tcpMigratesRequests } from '../os/proc.js';
import { hasPdeathsig } from '../os/spawn.js';
import { lookupUser, switchToUser } from '../os/users.js';
import { FastCgiSockets } from '../prefork/fcgi.js';
import { describePassed, inheritedSockets } from '../prefork/passed-sockets.js';
import { SocketSet } from '../prefork/sockets.js';
import { Workers } from '../prefork/workers.js';
import { FileDesiredState } from './desired-state.js';
import { Hooks, ON_STARTING_MS } from './hooks.js';
import { EventSystem } from '../events/system.js';
import { callbackAddress, ListenerConfigError, listenerSpecs, requireSocketDirectory, takeControlFds, warnIfExposed } from './listeners.js';
import { acquireInstanceLock, lockHolder, recordHolder, type InstanceLock } from './lock.js';
import { withoutSystemdEnv } from './notify.js';
import { controlSocketPath, pidfilePath } from './paths.js';
import { openPrimitives, type OpenPrimitives } from './primitives.js';
import { startReaping } from './reaping.js';
import { trimWhenQuiet } from './memory.js';
import { formatConfigWarning } from '../config/sources.js';
import { descriptorShortage, raiseToMinimums } from './limits.js';
import { LOCK_FD_NAME, Reexec, takeOver, takePassedFds, takeSocketFiles } from './reexec.js';
import { Reloader } from './reload.js';
import { FileWatch } from './watch.js';
import { ensureRuntimeDir, RuntimeDirError } from './runtime-dir.js';
import { ServiceNotifications } from './service-notify.js';
import { STOP_SIGNALS, type MasterSignal, type SignalRelay } from './signals.js';

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
  /** a start-up step with a limit of its own begins: it may take up to `ms` (the on_starting hook) */
  readonly onLongStep?: (ms: number) => void;
  /** started by an old master's USR2: inherit its sockets and lock, report ready to it */
  readonly reexec?: boolean;
}

export { controlSocketPath, pidfilePath };

/** how long drover, once everything has stopped, waits for a reader of its stdout that takes nothing */
const STDOUT_STALL_MS = 2000;

/** Becomes `[supervisord] user` (when set), first thing, as supervisord drops privileges. Returns why it cannot, or null. */
function becomeConfiguredUser(config: Config): string | null {
  const asUser = config.supervisord.user;
  if (asUser === null) return null;
  const problem = switchToUser(asUser);
  return problem === null ? null : `[supervisord] user = ${asUser}: ${problem} (drover runs as uid ${process.getuid?.() ?? '?'})`;
}

/** What becomeConfiguredUser would say of an unknown user, without switching; null when the user exists or none is set. */
export function configuredUserProblem(config: Config): string | null {
  const asUser = config.supervisord.user;
  if (asUser === null || lookupUser(asUser) !== null) return null;
  return `[supervisord] user = ${asUser}: ${/^\d+$/.test(asUser) ? `Can't find uid ${asUser}` : `Can't find username ${JSON.stringify(asUser)}`}`;
}

/** Runs the supervisor until it has shut down; resolves with the exit code. */
export async function runMaster(o: MasterOptions): Promise<number> {
  const { config } = o;
  // before anything is spawned: fds a careless parent leaked must not reach the programs (security.md, 10)
  closeInheritedOnExec();
  // [supervisord] user: the master becomes that user before it makes or opens anything, as supervisord
  // does (its runtime directory, logs, pidfile and sockets are then that user's; programs run as it)
  const asUser = becomeConfiguredUser(config);
  if (asUser !== null) {
    o.onStartFailed(asUser, 2);
    return 2;
  }
  // then, as that user (as supervisord does), minfds and minprocs
  const limits = raiseToMinimums(config.supervisord) ?? descriptorShortage(config.processes);
  if (limits !== null) {
    o.onStartFailed(limits, 2);
    return 2;
  }
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
  const socketFiles = takeSocketFiles(process.env);
  // at a first start every inherited fd is its passer's (systemd's); a re-exec'd one is told which are
  const markedPassed = takePassedFds(process.env);
  const passedFds = o.reexec ? markedPassed : new Set([...inherited.values()].flat());
  const lockFds = o.reexec ? (inherited.get(LOCK_FD_NAME) ?? []) : [];
  inherited.delete(LOCK_FD_NAME);
  const controlFds = o.reexec ? takeControlFds(inherited) : new Map<string, number>();
  const lock = await acquireInstanceLock(runtimeDir, lockFds);
  const pidfile = pidfilePath(config);
  if (!lock) {
    const holder = lockHolder(runtimeDir);
    const pid = holder?.pid ?? readPidfile(pidfile);
    const other = holder !== null && holder.configFile !== config.file;
    o.onStartFailed(
      `drover is already running for ${runtimeDir}${pid ? ` (pid ${pid}${holder ? `, config ${holder.configFile}` : `, per ${pidfile}`})` : ''}` +
        (other ? `; to run ${config.file} beside it, give it a runtime directory of its own (runtime_dir = in its [drover] section)` : ''),
      1,
    );
    return 1;
  }
  recordHolder(lock, config.file);
  // Sockets first: a port that cannot be bound is a start-up error the launching terminal must see.
  // (a set even when the config has none: a reload may add some, src/daemon/socket-reload.ts)
  let sockets: SocketSet;
  try {
    sockets = SocketSet.bind(config.sockets, inherited, o.reexec ? socketFiles : new Set(), passedFds);
  } catch (err) {
    lock.release();
    o.onStartFailed((err as Error).message, 1);
    return 1;
  }
  // fcgi-program sockets: tried once now, as supervisord does (after a USR2 the old master's processes still hold them)
  const fcgiProblem = o.reexec ? null : FastCgiSockets.tryEach(config);
  if (fcgiProblem !== null) {
    sockets?.close();
    lock.release();
    o.onStartFailed(fcgiProblem, 1);
    return 1;
  }
  // a pidfile that names another live master (of another runtime directory: this one's lock is ours) is
  // not taken over: its master would lose the pidfile init scripts and logrotate signal it by, and lose it
  // for good when this one removed it at exit (gunicorn refuses too)
  const holder = o.reexec ? null : readPidfile(pidfile);
  if (holder !== null && holder !== process.pid && readCmdline(holder)?.startsWith('drover: master') === true) {
    sockets?.close();
    lock.release();
    o.onStartFailed(`pidfile ${pidfile} names a running drover master (pid ${holder}) of another runtime directory; give this one its own pidfile`, 1);
    return 1;
  }
  // a re-exec'd master takes the pidfile over only once it is ready (the old master's pid stays till then)
  const pidfileProblem = o.reexec ? null : tryWritePidfile(pidfile);

  // children's lines go to their log files and, in the foreground unless `silent`, to stdout with a name
  // prefix; drover's own lines to its log file and, in the foreground, to stdout (src/logs/sink.ts)
  // (through StdOut: a slow reader pauses the programs that write there, a vanished one stops nothing)
  const stdout = new StdOut(o.stdout, 'stdout');
  const stderr = new StdOut(process.stderr, 'stderr');
  const echo = o.daemon || config.supervisord.silent ? null : stdout;
  // A re-exec'd master must not clear AUTO logs at start: the old master is still writing its own.
  const sinkConfig = o.reexec ? { ...config, supervisord: { ...config.supervisord, nocleanup: true } } : config;
  let sink: LogSink;
  try {
    sink = new LogSink({ config: sinkConfig, echo, stdout, stderr });
  } catch (err) {
    if (!(err instanceof OwnLogError)) throw err;
    sockets?.close();
    removePidfile(pidfile);
    lock.release();
    o.onStartFailed(err.message, 1);
    return 1;
  }
  const logger = createLogger(sink.mainLogWriter(echo), config.supervisord.loglevel);
  sink.setErrorReporter((m) => logger.error(m));
  if (pidfileProblem !== null) logger.log('critical', pidfileProblem);
  stdout.setReporter((m) => logger.warn(m));
  stderr.setReporter((m) => logger.warn(m));
  // before anything is spawned (hooks included): orphans come back to drover, and drover reaps them
  const reaping = startReaping(logger);
  warnAboutPlatform(logger);
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
  // `up -d`'s launcher gives up on a daemon silent for its start timeout: it is told to wait out the hook first
  if (hooks.has('on_starting')) o.onLongStep?.(ON_STARTING_MS);
  // a stop (Ctrl-C) is not made to wait out the hook, as gunicorn's Ctrl-C interrupts its on_starting: the
  // signal stays queued, and the start-up below takes the path that starts nothing
  // (one that came before the hook: the hook is not called at all, rather than called and left unwaited)
  const stopBefore = o.signals.pending().find((s) => STOP_SIGNALS.includes(s));
  const starting = stopBefore !== undefined ? 'skipped' : await hooks.runUnless('on_starting', ON_STARTING_MS, o.signals.stopQueued(), serverInfo);
  if (starting === 'failed') return abort('the on_starting hook failed (see the log); nothing was started');
  /** whether the start-up has already said that a stop came first and nothing is started */
  let stopAnnounced = false;
  if (starting === 'skipped' && hooks.has('on_starting')) {
    logger.info(`SIG${stopBefore} came before on_starting: the hook is not run; nothing is started`);
    stopAnnounced = true;
  } else if (starting === 'interrupted') {
    const sig = o.signals.pending().find((s) => STOP_SIGNALS.includes(s)) ?? 'INT';
    logger.info(`SIG${sig} during on_starting: not waiting for the hook; nothing is started`);
    stopAnnounced = true;
  }
  let primitives: OpenPrimitives;
  try {
    primitives = await openPrimitives(config, logger, { deferJournal: o.reexec === true });
  } catch (err) {
    return abort((err as Error).message);
  }
  const { service: shared, gate } = primitives;
  const guard = OrphanGuard.start(masterName(config), (message) => logger.warn(message));

  // the engine: the supervisor with drover workers as a kind of process, and the pool policy over them
  // a reload reads the file anew; a sibling or a scale re-resolves what was read (a typed config is not evaluated again)
  const readConfig = (overrides: LoadOptions['numprocsOverride'] = {}, reuseEvaluation = false): Config =>
    loadConfig(config.file, { ...o.loadOptions, numprocsOverride: { ...o.loadOptions.numprocsOverride, ...overrides }, reuseEvaluation });
  const workers = new Workers({
    logger,
    buildSpec: (spec, processNum) => siblingSpec((overrides) => readConfig(overrides, true), spec, processNum),
    onRequest: (key, pid, calls, reply) => gate.run(() => shared.handle(key, pid, calls, reply)),
    onExit: (key, pid) => gate.run(() => shared.workerExited(key, pid)),
    sockets,
  });
  const fcgi = new FastCgiSockets(logger);
  const checks = new Checks({ logger, lines: sink, guard });
  // supervisor's event listeners: a kind of process, a tap on programs' output, and the event bus
  // where programs reach drover (SUPERVISOR_SERVER_URL): the control socket bound at start
  const callback = callbackAddress(config);
  const events = new EventSystem({ logger, identifier: config.supervisord.identifier, callback });
  const supervisor = new Supervisor({
    config,
    logger,
    output: sink,
    guard,
    desired: new FileDesiredState(runtimeDir, { fresh: o.fresh, onError: (m) => logger.error(m) }),
    baseEnv: withoutSystemdEnv(process.env),
    sockets: sockets && { fd: (name) => sockets?.get(name)?.fd ?? null },
    kinds: [workers, fcgi, events.kind],
    hooks,
    launchEnv: checks,
    outputTap: events.tap,
    serverUrl: () => callback.url,
  });
  workers.manage(supervisor, config);
  const service = ServiceNotifications.fromEnv(supervisor, logger, { successor: o.reexec === true });
  checks.watch(supervisor);
  const reloader = new Reloader({
    supervisor,
    workers,
    sockets,
    readConfig: () => loadConfigAsync(config.file, o.loadOptions),
    logger,
    ownLog: config.supervisord,
    settings: { started: config, apply: (next) => applyReloadSettings(next) },
    onReloadHook: () => hooks.run('on_reload', 30_000, serverInfo),
    onApplied: (applied) => fileWatch.apply(applied),
    onReloading: (cause) => service?.reloading(cause),
    onReloaded: () => service?.reloaded(),
    handedOver: (): boolean => reexec.handedOver,
  });
  const fileWatch = new FileWatch({ supervisor, logger, roll: (group, program, cause) => reloader.roll(group, program, cause) });
  const reexec = new Reexec({
    supervisor,
    logger,
    configFile: config.file,
    // the serving sockets and the TCP control listeners (a unix one is staged by the new master instead)
    sockets: () => [...(sockets?.handOver() ?? []), ...server.handOver()],
    socketFiles: () => sockets?.socketFiles() ?? [],
    // its own lock, and those of the runtime directories a reload moved it to: the new master keeps the one its config names
    lockFds: () => [lock.fd, ...[...claimed.values()].map((c) => c.fd)],
    daemon: o.daemon,
    stderrIsLog: ownStream(config.supervisord.logfile) === 'stderr',
    ownsWatchdog: () => service?.ownsWatchdog ?? false,
    onHandedOver: async (steering) => {
      // the new master listens on the TCP control sockets now: connections queued there are its own
      server.closeHandedOver();
      service?.handedOver();
      // the new master's workers get the new connections, and the slots it does not keep are drained
      // before this master's workers stop (src/prefork/sockets.ts)
      await sockets?.handSteeringOver(steering);
    },
    onCarriesOn: (pid) => service?.successorCarriesOn(pid),
  });
  // each signal does what its command does, through the same implementation (DESIGN §5)
  supervisor.onSignal('HUP', () => {
    // supervisord's HUP restarts it, which opens every log anew: a logrotate that sends HUP works here too
    sink.reopen();
    void reloader.reload({ groups: null, apply: 'all', cause: 'SIGHUP' }).catch(() => undefined); // logged by the reload
  });
  supervisor.onSignal('USR2', () => reexec.begin());
  supervisor.onMoodChange((mood) => {
    if (mood !== 'running') reexec.shutdownBegun(supervisor.shutdownCause);
    if (mood !== 'running') server.drain(); // keep-alive clients go to the new master, or find none
  });
  supervisor.onSignal('CHLD', () => reaping.reap());
  supervisor.onSignal('USR1', () => {
    sink.reopen();
    logger.info('SIGUSR1 received: reopened the log files');
  });

  const api = new ControlApi(supervisor, {
    configFile: config.file,
    updates: {
      reread: (quiet) => reloader.reread('reread', quiet),
      pendingConfig: () => reloader.pendingConfig(),
      reload: (opts) => reloader.reload(opts),
      syncSockets: (read) => void reloader.syncSockets(read, 'XML-RPC reloadConfig'),
      bindGroupSockets: (read, group) => reloader.bindGroupSockets(read, group, `add ${group}`),
      readScaled: (program, count) => readConfig({ [program]: count }, true),
    },
    workers,
    events,
    logs: sink,
    identification: config.supervisord.identifier,
    version: o.version,
  });
  // /api/queue/… and friends go before the JSON API's catch-all /api/
  const server = new ControlServer([
    ...gatedRoutes(gate, sharedRoutes(shared)),
    ...buildRoutes(api, {
      queueStats: async () => (gate.isOpen ? [...(await shared.backend.queueStats(null))] : []),
      journalHealth: () => (gate.isOpen ? (shared.backend.journalHealth?.() ?? null) : null),
    }),
  ], (m) => logger.warn(m), config.file);
  /** runtime directories a reload named, whose lock this master holds too (no second drover starts there) */
  const claimed = new Map<string, InstanceLock>();
  /** What a reload applies of the settings outside the programs (settings-diff.ts); returns why it cannot, or null. */
  const applyReloadSettings = (next: Config): string | null => {
    const dir = next.supervisord.runtimeDir;
    if (dir !== runtimeDir && !claimed.has(dir)) void claimRuntimeDir(dir);
    let specs;
    try {
      specs = listenerSpecs(next);
    } catch (err) {
      if (!(err instanceof ListenerConfigError)) throw err;
      return `${err.message}; the control listeners keep their settings`;
    }
    try {
      for (const spec of specs) server.reconfigure(spec);
    } catch (err) {
      return `the control socket: ${(err as Error).message}`;
    }
    api.setIdentification(next.supervisord.identifier);
    events.bus.identifier = next.supervisord.identifier;
    return null;
  };
  /**
   * A reload moved runtime_dir: drover keeps answering in the directory it started with (until USR2), but takes
   * the new directory's lock as well, so that `drover up` with the new config finds it running there instead of
   * starting a second drover over the same programs.
   */
  const claimRuntimeDir = async (dir: string): Promise<void> => {
    try {
      ensureRuntimeDir(dir);
      const extra = await acquireInstanceLock(dir);
      if (extra === null) logger.warn(`runtime_dir ${dir}: another drover holds its lock`);
      else claimed.set(dir, extra);
    } catch (err) {
      logger.warn(`runtime_dir ${dir}: cannot take its lock: ${(err as Error).message}`);
    }
  };
  const cleanup = async (): Promise<void> => {
    for (const extra of claimed.values()) extra.release();
    fileWatch.close();
    service?.close();
    await server.close(reexec.handedOver);
    sockets?.close(reexec.handedOver);
    fcgi.closeAll();
    removePidfile(pidfile);
    lock.release();
    await shared.backend.close();
  };
  try {
    for (const spec of listenerSpecs(config)) {
      if (spec.kind === 'unix') requireSocketDirectory(spec.path as string, runtimeDir);
      const fdName = controlFdName(spec) ?? '';
      const inheritedFd = controlFds.get(fdName);
      controlFds.delete(fdName);
      const bound = await server.listen(spec, { staged: o.reexec === true, ...(inheritedFd !== undefined ? { inheritedFd } : {}) });
      if (spec.kind === 'tcp') warnIfExposed(bound.url, logger);
    }
    // the old master's TCP listener for an address this config no longer has: not this master's to keep
    for (const fd of controlFds.values()) closeSync(fd);
  } catch (err) {
    await cleanup();
    guard?.close();
    const e = err as NodeJS.ErrnoException;
    const code = e instanceof ListenerConfigError ? 2 : 1;
    o.onStartFailed(`cannot open the control socket: ${e.message}`, code);
    return code;
  }

  // Node < 22.14 has a few milliseconds at its start, before bin/drover.js's listener, where SIGUSR1 opens
  // its inspector: none may stay open (docs/security.md)
  const inspector = closeStrayInspector();
  if (inspector !== null) logger.warn(`a SIGUSR1 came before drover's listener existed and Node opened its inspector (${inspector}); closed it`);
  // The top level (STYLE §5): an error nothing caught kills every process group, and drover then exits 1
  // through the normal cleanup (pidfile, sockets, lock) instead of dying with its files left behind.
  const onUnexpected = (err: unknown): void => supervisor.failUnexpectedly(err, hooks.threw(err) ? `the hooks module ${config.supervisord.hooks ?? ''}` : null);
  process.on('uncaughtException', onUnexpected);
  process.on('unhandledRejection', onUnexpected);
  for (const sock of sockets?.list() ?? []) {
    const how = sockets?.isSteered(sock.spec.name) ? 'in turn to the ready workers' : 'by the kernel\'s hash';
    logger.info(`socket ${sock.spec.name}: listening on ${sock.address}${sock.inherited ? ' (inherited)' : ''} (fd ${sock.fd}${sockets?.isBalanced(sock.spec.name) ? `, balanced: one SO_REUSEPORT socket per worker slot, new connections ${how}` : ''})`);
  }
  if (sockets) warnAboutBalancedSockets(sockets, logger);
  if (!o.reexec) {
    // systemd (or systemd-socket-activate) passed a socket that no [socket:x] takes, by name, fd:// or its
    // address: its connections would wait unanswered, so say so
    // (of several under a section's name, the section takes the first; another section may take the others
    // by their address)
    const used = new Set((sockets?.handOver() ?? []).map((h) => h.fd));
    for (const [name, fds] of inherited) {
      for (const fd of fds) {
        if (used.has(fd)) continue;
        const at = describePassed(fd);
        logger.warn(`a socket passed to drover (LISTEN_FDNAMES ${JSON.stringify(name)}, fd ${fd}) is named by no [socket:x] (name = its section name, bind = fd://${fd}, or bind = the address it listens on, ${at}): nothing serves it${config.sockets.some((s) => s.name === name) ? `; [socket:${name}] takes only the first fd passed under its name` : ''}`);
      }
    }
  }
  logger.info(
    `drover up: pid ${process.pid}, ${config.processes.length} process(es) from ${config.file}, control at ${server.urls.join(' ')}` +
      (guard ? `, orphan guard pid ${guard.pid ?? '?'}` : ''),
  );
  // the V8 flags it runs with (docs/decisions.md, "The daemon's V8 flags"; DROVER_V8_FLAGS changes them)
  logger.info(`node ${process.version}, ${process.execArgv.length > 0 ? `flags ${process.execArgv.join(' ')}` : 'no flags'}`);
  // `up -d` prints the config's warnings on a terminal that may be gone by the time anyone looks: the
  // daemon's log keeps them (in the foreground they are on stderr, beside the log)
  if (o.daemon) for (const w of config.warnings) logger.warn(`config: ${formatConfigWarning(w).replace(/\n/g, '\n    ')}`);
  events.start(supervisor);
  // a stop asked for while drover started (during a slow on_starting hook, say) comes first: nothing is
  // started only to be stopped again (a one-shot job, a migration, would be cut short)
  // (one turn of the event loop first: a signal whose handler has run reaches its JS listener only in the
  // loop's poll phase, and the start-up may have got here in microtasks since; one the kernel has not yet
  // handed to a thread, on a loaded machine, comes after and stops what started. Checked here, right before
  // the start: the start-up lines above run without a turn of the loop, so a signal caught while they ran
  // would reach its listener only after the programs had started, and stop them within milliseconds)
  await new Promise((resolve) => setImmediate(resolve));
  const stopFirst = o.signals.pending().find((sig) => STOP_SIGNALS.includes(sig)) ?? null;
  o.signals.attach((sig) => supervisor.push({ type: 'signalReceived', signal: sig }));
  if (o.reexec) {
    takeOver(supervisor, {
      logger,
      timeoutMs: config.supervisord.reexecTimeoutMs,
      // only a successor that takes over takes the control socket's path and the pidfile: one that fails
      // leaves the old master answering at both (it keeps running)
      publish: () => server.publish().then(() => null, (err: unknown) => (err as Error).message),
      writePidfile: (pid) => pidfileWriteProblem(pidfile, pid),
      onReady: (ok) => {
        if (ok) service?.tookOver();
      },
      stopFirst,
      predecessorGone: () => primitives.openGate(),
      steeringView: () => sockets?.steeringView() ?? {},
      takeSteering: () => {
        // the predecessor handed over or has gone: the socket files it made are this master's now
        sockets?.adoptFiles();
        if ((sockets?.takeSteering() ?? []).length > 0) workers.steerAll();
      },
    });
  } else if (stopFirst !== null) {
    if (!stopAnnounced) logger.info(`SIG${stopFirst} came while drover was starting: no program is started`);
    supervisor.start(() => false);
  } else {
    supervisor.start();
  }
  fileWatch.apply(config);
  service?.start();
  // answers count as changes: one about a thousand programs leaves its buffers in the C heap
  const activity = {
    onChange: (l: () => void): (() => void) => {
      const offChange = supervisor.onChange(l);
      const offAnswered = server.onAnswered(l);
      return () => {
        offChange();
        offAnswered();
      };
    },
  };
  const stopTrimming = trimWhenQuiet(activity, (r) => logger.debug(`returned the C heap's free memory to the kernel: anonymous memory ${r.beforeKiB ?? '?'} → ${r.afterKiB ?? '?'} KiB`));
  o.onReady({ pid: process.pid, urls: server.urls, processes: config.processes.length });
  // nothing was started when a stop came first: drover is not ready, it is on its way out
  if (stopFirst === null) void hooks.run('when_ready', 30_000, serverInfo);

  const { failed, exitCode } = await supervisor.whenStopped();
  // from now on another stop signal (TERM, INT, QUIT, PWR…) means "exit now": it ends the reading of the programs' last
  // output, whenever it comes (as PID 1, a signal without a listener would not even reach drover). Orphans
  // still end while that output is read (up to 5 s) and on_exit runs (up to 10 s): CHLD still reaps them,
  // or as PID 1 they would pile up as zombies until drover exits
  // and it ends the wait for on_exit (a second Ctrl-C is a fast shutdown, DESIGN §5)
  let stopAgain: (sig: MasterSignal) => void = () => undefined;
  const stoppedAgain = new Promise<MasterSignal>((resolve) => (stopAgain = resolve));
  o.signals.attach((sig) => {
    if (STOP_SIGNALS.includes(sig)) {
      sink.stopReading();
      stopAgain(sig);
    } else if (sig === 'CHLD') reaping.reap();
  });
  // After an internal error every process group was SIGKILLed at once: their exits get up to a second to
  // reach the log before it closes (bounded: the state that records them may be what failed).
  if (failed) await untilNoPids(supervisor, 1000);
  service?.shutdownBegun(); // sent already, unless there was nothing to stop
  stopTrimming();
  checks.close();
  process.off('uncaughtException', onUnexpected);
  process.off('unhandledRejection', onUnexpected);
  if ((await hooks.runUnless('on_exit', 10_000, stoppedAgain, serverInfo)) === 'interrupted') {
    logger.info(`SIG${await stoppedAgain} during on_exit: not waiting for the hook`);
  }
  // handed over: the programs' last output is read and written before the log streams end, so the offsets
  // their `end` events give are final; their clients go on from there with the new master (docs/api.md)
  if (reexec.handedOver) await sink.settle();
  await cleanup();
  // what is still queued for drover's stdout reaches it, unless its reader has stalled (then exit regardless)
  // at the end of a USR2 hand-over this master's AUTO logs go, as a restart clears them: its successor started
  // with nocleanup (this master was still writing) and never learns their names (docs/decisions.md)
  const removeOwnAutoLogs = reexec.handedOver && !config.supervisord.nocleanup;
  await sink.close(() => Promise.all([stdout.settle(STDOUT_STALL_MS), stderr.settle(STDOUT_STALL_MS)]), removeOwnAutoLogs);
  o.signals.remove();
  // an essential program that ended leaves its exit status (docs/orchestration.md)
  return failed ? 1 : (exitCode ?? 0);
}

/**
 * The spec of process `processNum` of `spec`'s program, from the config file with numprocs raised to
 * include it (how TTIN and worker replacement get a new process); null when the program is gone.
 */
function siblingSpec(readConfig: (overrides: Record<string, number>) => Config, spec: ProcessSpec, processNum: number): ProcessSpec | null {
  let config: Config;
  try {
    // numprocs counts from numprocs_start (≥ 0), so processNum + 1 always reaches processNum
    config = readConfig({ [spec.programName]: processNum + 1 });
  } catch {
    return null; // the file no longer loads: no new processes until it is fixed
  }
  return config.processes.find((p) => p.programName === spec.programName && p.group === spec.group && p.processNum === processNum) ?? null;
}

/** Warnings about what this machine lacks. */
function warnAboutPlatform(logger: Logger): void {
  if (!hasPdeathsig()) {
    logger.warn('setpriv (util-linux) not found: programs will not be signalled if drover is killed with SIGKILL');
  }
}

/**
 * Balanced sockets the master cannot steer: say why, and what TTOU may cost without the kernel's migration
 * of queued connections (a steered slot is drained before it closes).
 */
function warnAboutBalancedSockets(sockets: SocketSet, logger: Logger): void {
  for (const name of sockets.reusePortPassed()) {
    logger.warn(
      `socket ${name}: reuse_port ignored: the passed socket is systemd's one socket, and drover cannot bind per-slot SO_REUSEPORT sockets beside it (EADDRINUSE beside a socket without SO_REUSEPORT or bound by another user; systemd's ReusePort=yes does not make per-slot sockets either); every worker shares it`,
    );
  }
  for (const [name, why] of sockets.steeringFailed()) {
    logger.warn(`socket ${name}: cannot load the BPF program that steers new connections in turn (${why}); the kernel's hash spreads them instead`);
  }
  const hashed = sockets.list().filter((s) => sockets.isBalanced(s.spec.name) && !sockets.isSteered(s.spec.name)).map((s) => s.spec.name);
  if (hashed.length === 0 || tcpMigratesRequests() === true) return;
  logger.warn(
    `socket ${hashed.join(', ')}: net.ipv4.tcp_migrate_req is off, so a slot that closes (TTOU, fewer workers after a reload) resets the connections queued on it at that instant; set it to 1 (sysctl -w net.ipv4.tcp_migrate_req=1, Linux ≥ 5.14) to have the kernel move them to another slot`,
  );
}

/** A short name for the process title: the one program of `drover serve`, else the config's directory. */
function masterName(config: Config): string {
  const programs = new Set(config.processes.map((p) => p.programName));
  if (config.file.endsWith('/serve.ini') && programs.size === 1) return [...programs][0] as string;
  return basename(dirname(config.file)) || config.file;
}

/** Resolves when no process has a pid any more (after the state change that clears the last), or after `ms`. */
function untilNoPids(supervisor: Supervisor, ms: number): Promise<void> {
  const none = (): boolean => supervisor.snapshot().every((p) => p.record.pid === null);
  if (none()) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      off();
      resolve();
    };
    const timer = setTimeout(done, ms);
    const off = supervisor.onChange(() => {
      if (none()) done();
    });
  });
}
