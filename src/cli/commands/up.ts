// `drover up [-c FILE] [-d] [--fresh]`: run the supervisor in the foreground, or as a daemon.
import { steadyNowMs } from '../../os/clock.js';
import { closeSync, existsSync, openSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { CONFIG_FILE_NAMES, findConfigFile, loadConfig } from '../../config/load.js';
import { adoptEvaluation, evaluateTypedConfigAsync, isTypedConfigFile, type TypedEvaluation } from '../../config/typed.js';
import { handOverEvaluation, takeEvaluation } from '../typed-handover.js';
import { formatWarning } from './check.js';
import type { Config } from '../../config/types.js';
import { reportToLauncher, spawnDaemon, tellLauncherWaiting } from '../../daemon/daemonize.js';
import type { ChildEnd } from '../../os/handoff.js';
import { configuredUserProblem, runMaster } from '../../daemon/master.js';
import { asUserForFiles } from '../../os/users.js';
import { ensureRuntimeDir, RuntimeDirError } from '../../daemon/runtime-dir.js';
import { reportToPredecessor } from '../../daemon/reexec.js';
import { masterSignalNumber, PENDING_SIGNALS_ENV, SignalRelay, STOP_SIGNALS } from '../../daemon/signals.js';
import { ConfigError } from '../../errors.js';
import { ConfigProblems } from '../../config/sources.js';
import type { Command } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { negativeNumbersAsValues } from '../argv.js';
import { outputIsTheAnswer } from '../run.js';
import { droverVersion } from '../version.js';
import { parseServerUrl, requestJson, type Endpoint } from '../../control/client.js';
import { formatElapsed, printJson, shownKey } from '../format.js';
import { Progress } from '../progress.js';
import { ownStream } from '../../logs/sink.js';
import { nativeAvailable, nativeUnavailableReason } from '../../os/libc.js';
import { execve, unblockUsr1 } from '../../os/native.js';
import { closeStrayInspector, daemonV8Flags, noInspectorFlags } from '../../os/node-features.js';

/** Why no master can run here (the native layer did not load), or null: `up` and `serve` refuse at once. */
export function withoutNative(): string | null {
  const reason = nativeUnavailableReason();
  return reason === null ? null : `${reason}; a master needs it (sockets, the instance lock, output pipes, reaping orphans): reinstall drover's npm dependencies on this machine (docs/dependencies.md)`;
}

/** Set in the environment of a master that replaced itself to take the daemon's V8 flags (against a loop). */
const EXECED_MARK = 'DROVER_V8_FLAGS_APPLIED';

/** How long `up -d --wait` follows the autostart programs. */
const WAIT_MS = 30_000;
/**
 * How long `up -d` waits for a silent daemon to report (reading its config, a journal replay, …); a step
 * with a limit of its own (on_starting) adds that limit. As long as USR2 gives a new master (reexec.ts).
 */
const START_MS = 60_000;
/** After drover began to stop during `--wait`: how long to wait for it to exit, to say with what status. */
const END_MS = 10_000;

const HELP = `usage: drover up [-c FILE] [-d [--wait|--no-wait|--json] [--wait-timeout SECS] [--start-timeout SECS]] [--fresh]

Start the supervisor with FILE (default: drover.config.ts/.mts/.mjs/.js, drover.ini, drover.conf or
supervisord.conf in the current directory). In the foreground, SIGTERM or Ctrl-C stops every program gracefully in reverse priority
order and a second Ctrl-C or SIGQUIT kills every process group at once.

options:
  -c, --configuration FILE   the config file
  -d, --daemon               detach: run in the background; report here whether start-up succeeded
      --wait                 with -d: then follow the autostart programs until each is running or has
                             failed (up to ${WAIT_MS / 1000} s); exit 1 if one failed, exited with a
                             status not in its exitcodes, was not up in time, or drover stopped
                             meanwhile. Default on a terminal
      --wait-timeout SECS    how long --wait follows them (default ${WAIT_MS / 1000})
      --no-wait              with -d: return as soon as drover is up
      --start-timeout SECS   with -d: how long the daemon may take to start, beyond the time its
                             on_starting hook may take (default ${START_MS / 1000}); past it, it is stopped
      --json                 with -d: print the start's result as one JSON object ({"ok": true, "pid",
                             "processes", "urls"} or {"ok": false, "code", "message"}); does not wait.
                             Refused without -d: the foreground streams logs, not one answer
      --fresh                forget programs started or stopped by hand before (desired state)
  -h, --help                 this help
`;

export const up: Command = async (ctx) => {
  // First thing (after bin/drover.js's SIGUSR1 listener, which this takes over): every master signal
  const signals = new SignalRelay().install();
  // A master drover started has --disable-sigusr1 where Node has it: SIGUSR1 was blocked, not lost, from
  // Node's start on; now that the relay listens it may come (docs/security.md, "No inspector in the master")
  if (process.execArgv.includes('--disable-sigusr1')) {
    try {
      unblockUsr1();
    } catch (err) {
      ctx.stderr.write(`drover up: SIGUSR1 stays blocked (${(err as Error).message}); \`drover reload --logs\` reopens the logs instead\n`);
    }
  }
  // Node opens its inspector on a SIGUSR1 that came before bin/drover.js's listener: close it at once
  const inspector = closeStrayInspector();
  if (inspector !== null) ctx.stderr.write(`drover up: a SIGUSR1 came before drover's listener existed and Node opened its inspector (${inspector}); closed it\n`);
  // a new master started by USR2 that fails reports why to the old one: the report must be out before it exits
  const reports: Promise<void>[] = [];
  try {
    return await upWithSignals(ctx, signals, reports);
  } finally {
    await Promise.all(reports);
    signals.remove();
  }
};

async function upWithSignals(ctx: Parameters<Command>[0], signals: SignalRelay, reports: Promise<void>[]): Promise<number> {
  let values;
  try {
    const options = {
      configuration: { type: 'string', short: 'c' },
      daemon: { type: 'boolean', short: 'd' },
      fresh: { type: 'boolean' },
      wait: { type: 'boolean' },
      'no-wait': { type: 'boolean' },
      'wait-timeout': { type: 'string' },
      'start-timeout': { type: 'string' },
      'daemon-child': { type: 'boolean' },
      reexec: { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    } as const;
    ({ values } = parseArgs({
      args: negativeNumbersAsValues(ctx.argv, options),
      options,
      allowPositionals: false,
    }));
  } catch (err) {
    const message = (err as Error).message;
    ctx.stderr.write(`drover up: ${message}\n\n${HELP}`);
    // --json asks for errors on stdout too, even when the rest of the line could not be read
    if (ctx.argv.includes('--json')) printJson(ctx, { ok: false, code: 'E_USAGE', message });
    return EXIT.USAGE;
  }
  const reexec = values.reexec === true;
  // a daemon child reports to the CLI that launched it; a re-exec'd master reports to the old master instead
  const child = values['daemon-child'] === true && !reexec;
  const detached = values['daemon-child'] === true;
  // the launcher's own flag: a daemon child and a re-exec'd master are never given it
  const json = values.json === true && !detached;
  // Messages reach the terminal once, prefixed there: by this process in the foreground, by the
  // launching CLI for a daemon child. Config errors keep their FILE:LINE: form unprefixed. With --json
  // (`up -d` only) the failure is on stdout too, as `{ ok: false, code, message }`. A new master started
  // by USR2 tells the old one, which logs it (a daemon's new master has no terminal: its stderr is a file)
  const tellPredecessor = (message: string): void => {
    reports.push(new Promise((resolve) => reportToPredecessor({ t: 'reexec-failed', message: `the new master cannot start: ${message}` }, resolve)));
  };
  const fail = (message: string, exitCode: number, prefix = true, code = jsonCode(exitCode)): number => {
    if (child) reportToLauncher({ type: 'failed', message: prefix ? `drover up: ${message}` : message, exitCode });
    else ctx.stderr.write(`${prefix ? 'drover up: ' : ''}${message}\n`);
    if (reexec) tellPredecessor(message);
    if (json) printJson(ctx, { ok: false, code, message });
    return exitCode;
  };
  /** A bad command line: the message and the help on stderr (and the JSON error with --json). */
  const usage = (message: string): number => {
    ctx.stderr.write(`drover up: ${message}\n\n${HELP}`);
    if (json) printJson(ctx, { ok: false, code: 'E_USAGE', message });
    return EXIT.USAGE;
  };
  if (values.help) {
    outputIsTheAnswer('drover up');
    ctx.stdout.write(HELP);
    return EXIT.OK;
  }
  // the foreground streams drover's log and its programs' output until it stops: there is no one answer to print
  if (json && !values.daemon) return usage('--json needs -d: in the foreground drover streams its log and its programs\' output until it stops, with no single result to print as JSON (drover status --json asks a running drover)');
  if (json && values.wait === true) return usage('--json and --wait do not go together: --json prints the start\'s result at once; follow the programs with `drover status --json` or `drover start --json`');
  // one says wait, the other not: whichever came last winning would hide the mistake
  if (values.wait === true && values['no-wait'] === true) return usage('--wait and --no-wait do not go together: give one of them');
  // As PID 1 (a container's entrypoint) the launcher's exit would end the PID namespace: the kernel
  // SIGKILLs the daemon it just started, and every program, and drover.sock and drover.pid stay behind
  if (values.daemon && !detached && process.pid === 1) {
    return fail('drover is PID 1 here (a container\'s entrypoint, say), and the container ends when PID 1 exits: -d would end it as soon as drover detached; run `drover up` in the foreground (without -d)', EXIT.USAGE);
  }
  const waitSecs = values['wait-timeout'] === undefined ? WAIT_MS / 1000 : Number(values['wait-timeout']);
  if (!Number.isFinite(waitSecs) || waitSecs <= 0) {
    return usage(`--wait-timeout ${JSON.stringify(values['wait-timeout'])}: expected a number of seconds above 0`);
  }
  const startSecs = values['start-timeout'] === undefined ? START_MS / 1000 : Number(values['start-timeout']);
  if (!Number.isFinite(startSecs) || startSecs <= 0) {
    return usage(`--start-timeout ${JSON.stringify(values['start-timeout'])}: expected a number of seconds above 0`);
  }
  const file = values.configuration ? resolve(ctx.cwd, values.configuration) : findConfigFile(ctx.cwd);
  if (file === null) {
    return fail(
      `no config file given and none found in ${ctx.cwd} (looked for ${CONFIG_FILE_NAMES.join(', ')})`,
      EXIT.USAGE,
    );
  }
  const loadOptions = { env: ctx.env };
  let config: Config;
  // a typed config's module: evaluated once per `up` (typed-handover.ts), and without blocking, so that a
  // stop signal sent while it runs (a `docker stop` during a slow start) reaches the relay before the exec
  let evaluation: TypedEvaluation | undefined;
  try {
    if (isTypedConfigFile(file) && existsSync(file)) {
      evaluation = takeEvaluation(ctx.env, file);
      if (evaluation !== undefined) adoptEvaluation(file, ctx.env, evaluation);
      else evaluation = await evaluateTypedConfigAsync(file, ctx.env);
    }
    config = loadConfig(file, { ...loadOptions, ...(evaluation !== undefined ? { evaluation } : {}) });
  } catch (err) {
    // the warnings met before the error first, as `drover check` prints them: a misspelt key's "did you
    // mean" is often what explains the error
    if (err instanceof ConfigError) return fail([...(err instanceof ConfigProblems ? err.warnings.map(formatWarning) : []), err.message].join('\n'), EXIT.USAGE, false, 'E_CONFIG');
    throw err;
  }
  // the native layer (src/os/) binds the sockets, holds the instance lock, makes the programs' pipes and
  // reaps orphans: a master cannot run without it (docs/dependencies.md); `check` and the control CLI can
  const noNative = withoutNative();
  if (noNative !== null) return fail(noNative, EXIT.FAILURE);
  // the master runs with the daemon's V8 flags, and with SIGUSR1 kept from Node's inspector where Node
  // can (docs/security.md): a daemon child is spawned with them, a foreground master replaces itself with a
  // Node that has them (same pid: a service manager or a container sees no change)
  let masterFlags: string[];
  try {
    const v8Flags = daemonV8Flags(ctx.env, { workers: config.processes.some((p) => p.worker !== null) });
    masterFlags = [...(nativeAvailable() ? noInspectorFlags() : []), ...v8Flags].filter((f) => !process.execArgv.includes(f));
  } catch (err) {
    return fail((err as Error).message, EXIT.USAGE);
  }
  const execedAlready = ctx.env[EXECED_MARK] !== undefined;
  delete process.env[EXECED_MARK]; // not for the programs' environment (ctx.env is process.env)
  const execForFlags = !values.daemon && !child && !reexec && masterFlags.length > 0 && !execedAlready;
  // A signal that came while the config loaded (synchronously) waits in libuv, its listener not yet run: the
  // relay delivers it before the exec or the release reads the queue, and a stop after that ends this process
  const restoreStops = values.daemon || execForFlags ? await signals.settleStops() : null;
  if (execForFlags) {
    try {
      // sockets systemd passed (LISTEN_FDS from fd 3) and `bind = fd://N` ones go on to the new program, as
      // they came to this one
      const passed = ctx.env['LISTEN_PID'] === String(process.pid) ? Number(ctx.env['LISTEN_FDS'] ?? '0') : 0;
      const keep = [...(Number.isSafeInteger(passed) && passed > 0 ? Array.from({ length: passed }, (_, i) => 3 + i) : []), ...fdBinds(config)];
      // signals that came while this one started are not lost with it: the next one queues them first
      const pending = signals.pending();
      const handed = evaluation !== undefined ? handOverEvaluation(file, evaluation) : null;
      const env = { ...ctx.env, [EXECED_MARK]: '1', ...(pending.length > 0 ? { [PENDING_SIGNALS_ENV]: pending.join(',') } : {}), ...handed?.env };
      execve(process.execPath, [process.execPath, ...process.execArgv, ...masterFlags, ...process.argv.slice(1)], env, [...keep, ...(handed ? [handed.fd] : [])]);
    } catch (err) {
      restoreStops?.();
      // the Node binary gone or replaced since: run without the flags
      ctx.stderr.write(`drover up: cannot restart with ${masterFlags.join(' ')} (${(err as Error).message}); running without them\n`);
    }
  }
  if (!child) {
    for (const w of config.warnings) ctx.stderr.write(`${formatWarning(w)}\n`);
  }

  if (values.daemon && !child) {
    // This process only launches the daemon and follows its start: Ctrl-C or TERM end it (the daemon, in its
    // own session, runs on), and one that came while the config loaded ends it now, before any daemon exists
    const stop = signals.releaseExceptUsr1().find((s) => STOP_SIGNALS.includes(s));
    if (stop !== undefined) {
      process.kill(process.pid, masterSignalNumber(stop)); // its default action: the shell sees how it ended
      return 128 + masterSignalNumber(stop);
    }
    // the daemon reads the config as root, as supervisord does, then becomes [supervisord] user first
    // thing: the runtime directory and daemon.stderr this launcher makes must then be that user's. So they
    // are made as that user (effective ids only, given back after): nothing of root's is given away, and a
    // link the user planted in their own directory leads nowhere root could write
    const userProblem = configuredUserProblem(config);
    if (userProblem !== null) return fail(userProblem, EXIT.USAGE, true, 'E_CONFIG');
    const runtimeDir = config.supervisord.runtimeDir;
    let errFd: number;
    try {
      errFd = asUserForFiles(config.supervisord.user, () => {
        // before daemon.stderr is opened in it (the daemon checks again for itself)
        ensureRuntimeDir(runtimeDir);
        return openSync(join(runtimeDir, 'daemon.stderr'), 'a', 0o600);
      });
    } catch (err) {
      if (err instanceof RuntimeDirError) return fail(err.message, EXIT.USAGE, true, 'E_CONFIG');
      throw err;
    }
    const handed = evaluation !== undefined ? handOverEvaluation(file, evaluation) : null;
    const report = await spawnDaemon({
      nodeFlags: masterFlags,
      cliArgs: ['-c', file, ...(values.fresh ? ['--fresh'] : [])],
      cwd: config.supervisord.directory ?? ctx.cwd,
      env: { ...ctx.env, ...handed?.env },
      stderrFd: errFd,
      ownLog: ownStream(config.supervisord.logfile),
      // `bind = fd://N`: the daemon gets fd N as this process got it (LISTEN_FDS are not passed on: they are
      // meant for this pid, LISTEN_PID)
      keepFds: [...fdBinds(config), ...(handed ? [handed.fd] : [])],
      timeoutMs: startSecs * 1000,
    });
    if (handed) closeSync(handed.fd);
    if (report.type === 'failed') {
      ctx.stderr.write(`${report.message}\n`);
      // exit 2 from the daemon is about what the config asks for (its user, runtime_dir, a control listener)
      if (json) printJson(ctx, { ok: false, code: report.exitCode === EXIT.USAGE ? 'E_CONFIG' : jsonCode(report.exitCode), message: report.message.replace(/^drover up: /, '') });
      return report.exitCode;
    }
    if (json) {
      printJson(ctx, { ok: true, pid: report.pid, processes: report.processes, urls: report.urls });
      return EXIT.OK;
    }
    ctx.stdout.write(
      `drover started: pid ${report.pid}, ${report.processes} process(es), control at ${report.urls.join(' ')}\n`,
    );
    const wait = values.wait === true || (ctx.isTTY && values['no-wait'] !== true);
    if (!wait || report.urls[0] === undefined) return EXIT.OK;
    const unix = config.unixHttpServer;
    const creds = unix?.username ? { username: unix.username, password: unix.password ?? '' } : null;
    return followStartup(ctx, parseServerUrl(report.urls[0], creds), report.pid, waitSecs * 1000, report.ended);
  }

  if (detached) process.umask(config.supervisord.umask);
  const code = await runMaster({
    config,
    loadOptions,
    version: droverVersion(),
    stdout: ctx.stdout,
    signals,
    fresh: values.fresh === true,
    daemon: detached,
    reexec,
    onReady: (info) => {
      if (child) reportToLauncher({ type: 'ready', pid: info.pid, urls: info.urls, processes: info.processes });
    },
    onLongStep: (ms) => {
      if (child) tellLauncherWaiting(ms);
    },
    onStartFailed: (message, exitCode) => {
      if (reexec) tellPredecessor(message);
      else fail(message, exitCode);
    },
  });
  // Something still queued for stdout or stderr means the master gave up on a reader that took nothing
  // (src/logs/std-out.ts): the usual wait for them to flush before exiting (run.ts) would never end.
  if (ctx.stdout.writableLength > 0 || ctx.stderr.writableLength > 0) process.exit(code);
  return code;
}

/** The code of a `{ ok: false }` answer for an exit code (docs/exit-codes.md): 2 is the command line, else a failure. */
function jsonCode(exitCode: number): string {
  return exitCode === EXIT.USAGE ? 'E_USAGE' : 'E_FAILED';
}

/** The inherited fds the config's sockets name (`bind = fd://N`). */
function fdBinds(config: Config): number[] {
  return config.sockets.flatMap((s) => (s.bind.kind === 'fd' ? [s.bind.fd] : []));
}

interface WaitingProcess {
  readonly name: string;
  readonly waiting: string;
  /** a dependency failed: it will not start by itself */
  readonly blocked: boolean;
}

/** The processes waiting for a dependency, and whether any is starting (or retrying), from one snapshot. */
async function waitingProcesses(endpoint: Endpoint): Promise<{ waiting: WaitingProcess[]; starting: boolean }> {
  const { body } = await requestJson(endpoint, 'GET', '/api/processes', undefined, { timeoutMs: 10_000 });
  const procs = (body['processes'] ?? []) as { name: string; state?: string; waiting?: string | null; blocked?: boolean }[];
  return {
    waiting: procs.filter((p) => typeof p.waiting === 'string').map((p) => ({ name: p.name, waiting: p.waiting as string, blocked: p.blocked === true })),
    starting: procs.some((p) => p.state === 'starting' || p.state === 'backoff'),
  };
}

/** Whether drover has begun to stop (or no longer answers): `--wait` then reports how it ended. */
async function isStopping(endpoint: Endpoint): Promise<boolean> {
  try {
    const { body } = await requestJson(endpoint, 'GET', '/api/info', undefined, { timeoutMs: 10_000 });
    return body['state'] === 'shuttingDown';
  } catch {
    // refused or cut: it has gone, or is going (its listener closes before it exits)
    return true;
  }
}

/** "exited with status 3", "was ended by SIGKILL", or "is stopping" while it has not yet exited. */
async function describeEnd(ended: Promise<ChildEnd>): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const end = await Promise.race([ended, new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), END_MS)))]);
  clearTimeout(timer);
  if (end === null) return `is stopping (not exited within ${END_MS / 1000} s)`;
  return end.signal !== null ? `was ended by ${end.signal}` : `exited with status ${end.code ?? '?'}`;
}

/**
 * Follows the autostart programs until none is starting, in backoff, or waiting for a dependency that may
 * still come; exit 1 if one ended fatal, exited with a status it does not expect, cannot start because a
 * dependency failed, or drover itself stopped first (docs/decisions.md, "What `up -d --wait` counts as up").
 * A program that stays `exited` with one of its exitcodes is done: an exit that is restarted moves on to
 * `starting` at once, so this is hasCompleted's rule (core/policy.ts), the one systemd's READY=1 applies.
 */
async function followStartup(ctx: Parameters<Command>[0], endpoint: Endpoint, pid: number, waitMs: number, ended: Promise<ChildEnd>): Promise<number> {
  let progress: Progress;
  try {
    progress = await Progress.open({ ctx, endpoint, json: false }, 'starting', { type: 'all' });
  } catch (err) {
    ctx.stderr.write(`drover up: started, but cannot follow the programs: ${(err as Error).message}\n`);
    return EXIT.FAILURE;
  }
  const deadline = steadyNowMs() + waitMs;
  let settled = false;
  /** drover ended its event stream or stopped answering: it is stopping or has exited */
  let gone = false;
  /** processes that wait for their dependencies (depends_on): stopped, but not settled while one may start */
  let waiting: readonly WaitingProcess[] = [];
  for (;;) {
    settled = await progress.waitUntil(() => progress.busy().length === 0 || progress.hasEnded, Math.max(0, deadline - steadyNowMs()));
    if (!settled || progress.hasEnded) break;
    let now;
    try {
      now = await waitingProcesses(endpoint);
    } catch {
      // it stopped answering between two events: told apart below
      gone = true;
      break;
    }
    waiting = now.waiting;
    // a dependent that stopped waiting a moment ago is starting now: the events may not have told yet
    if (!now.starting && waiting.every((p) => p.blocked)) break;
    if (steadyNowMs() >= deadline) {
      settled = false;
      break;
    }
    // their dependencies are running jobs or ready checks: look again at the next change, or in 250 ms
    await progress.waitUntil(() => false, 250);
  }
  // an essential program's end stops drover: its programs then settle as `stopped` before the stream ends
  gone = gone || progress.hasEnded || (await isStopping(endpoint));
  const failed = [...progress.states].filter(([k, s]) => s === 'fatal' || s === 'backoff' || progress.exitedUnexpectedly.has(k)).map(([k]) => k);
  const still = [...progress.busy().filter((k) => progress.states.get(k) !== 'backoff'), ...waiting.filter((p) => !p.blocked).map((p) => p.name)];
  progress.finish(`drover up (pid ${pid}): ${progress.describeCounts()} in ${formatElapsed(progress.elapsedMs())}`);
  if (!settled && !gone) ctx.stdout.write(`still starting after ${waitMs / 1000} s: ${still.map(shownKey).join(', ')}\n`);
  for (const p of waiting.filter((w) => w.blocked)) {
    ctx.stderr.write(`drover up: ${shownKey(p.name)} did not start: ${p.waiting}\n`);
    failed.push(p.name);
  }
  for (const k of failed) {
    const state = progress.states.get(k);
    const why = progress.reasons.get(k);
    if (state === 'fatal' || state === 'backoff') ctx.stderr.write(`drover up: ${shownKey(k)} failed to start: ${state}${why ? ` (${why})` : ''}\n`);
    else if (state === 'exited') ctx.stderr.write(`drover up: ${shownKey(k)} exited with a status not in its exitcodes${why ? ` (${why})` : ''}\n`);
  }
  // the daemon is this process's child: its exit status is known here (as `docker compose up --wait` names
  // the container that exited and its code)
  if (gone) {
    ctx.stderr.write(`drover up: drover (pid ${pid}) ${await describeEnd(ended)} before every program was up; see its log\n`);
    return EXIT.FAILURE;
  }
  if (failed.length > 0) {
    const exited = failed.some((k) => progress.states.get(k) === 'exited');
    ctx.stderr.write(`drover up: drover is running, but ${failed.length} process(es) failed to start${exited ? ' or exited unexpectedly' : ''}; see \`drover status\`\n`);
    return EXIT.FAILURE;
  }
  // waited for and not there: `up -d --wait && run-tests` must not go on (as `docker compose up --wait`)
  if (!settled) {
    ctx.stderr.write(`drover up: drover is running, but not every program was up within ${waitMs / 1000} s; see \`drover status\`\n`);
    return EXIT.FAILURE;
  }
  return EXIT.OK;
}
