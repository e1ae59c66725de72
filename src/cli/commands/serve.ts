// `drover serve APP [options]`: gunicorn's command line for one Node app or job worker, no config file.
// It writes the equivalent config into the runtime directory (so `drover reload`, HUP and the control
// CLI work exactly as for a config) and runs `up` on it.
import { existsSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { isAbsolute, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Command } from '../command.js';
import { ValueProblem } from '../../config/datatypes.js';
import { loadConfig } from '../../config/load.js';
import { ConfigProblems } from '../../config/sources.js';
import { MAX_NUMPROCS } from '../../config/limits.js';
import { PROGRAM_KEYS, SOCKET_KEYS } from '../../config/schema.js';
import { instanceRunning } from '../../daemon/lock.js';
import { ensureRuntimeDir, RuntimeDirError } from '../../daemon/runtime-dir.js';
import { formatConfigProblem } from '../../errors.js';
import { printJson } from '../format.js';
import { EXIT } from '../exit-codes.js';
import { negativeNumbersAsValues } from '../argv.js';
import { outputIsTheAnswer } from '../run.js';
import { bindClash, bindPathProblem, type GivenBind } from './_serve-binds.js';
import { gunicornOnly } from './_serve-flags.js';
import { iniValue, lineBreakIn } from './_serve-ini.js';
import { up, withoutNative } from './up.js';
import { resolveHostOrKeep } from '../../config/address-clash.js';
import { lookupUser } from '../../os/users.js';

const HELP = `usage: drover serve APP [options]

Run APP (a module whose default export is a request listener, an object with fetch(), an unstarted
http.Server, or defineWorker({...})) in N worker processes that all accept on sockets bound once by the
master. Signals as gunicorn: HUP rolls the workers onto new code, TTIN/TTOU add/remove one, USR2 re-execs
the master, WINCH stops the workers, TERM stops gracefully, QUIT stops at once. Unlike gunicorn, the first
INT stops gracefully too (gunicorn's INT is quick); a second INT stops at once.

options:
  -w, --workers N            worker processes, 1 to ${MAX_NUMPROCS} (default: $WEB_CONCURRENCY, else 1)
  -b, --bind ADDR            [tcp://]HOST[:PORT] (port 8000 for an address alone), [::]:PORT, unix:PATH or fd://N; repeatable;
                             :PORT and *:PORT are 0.0.0.0 (IPv4 only, as gunicorn), [::]:PORT IPv6 and IPv4
                             (default: 0.0.0.0:$PORT when PORT is set, else 127.0.0.1:8000;
                             sockets passed by systemd socket activation are used when given)
      --backlog N            connections each socket queues before they are accepted (listen backlog;
                             default 511; the kernel caps it at net.core.somaxconn)
  -t, --timeout SECS         kill a worker whose event loop is stuck this long (default 30; 0 = off)
      --graceful-timeout SECS  time for in-flight requests on stop (default 30)
      --max-requests N       recycle a worker after N requests (default 0 = never)
      --max-requests-jitter N  add 0..N to max-requests per worker
      --max-memory BYTES     recycle a worker whose RSS exceeds this (e.g. 512MB)
      --spare-workers N      keep N extra workers loaded but not accepting; one takes over at once when a
                             worker leaves (crash, recycling, reload) (default 0)
      --reuse-port           balanced mode: one SO_REUSEPORT socket per worker slot, so the kernel spreads
                             new connections evenly (TCP binds only; docs/decisions.md, Prefork)
      --access-logfile FILE  log each request, as gunicorn's access log: - for drover's stdout, else FILE
                             (the workers' stdout goes there with it: stdout_logfile, rotated by drover)
      --access-logformat FMT the line, in gunicorn's atoms (default '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s
                             %(b)s "%(f)s" "%(a)s"'; docs/config.md, access_log_format)
      --error-logfile FILE   (or --log-file) drover's own log (spawns, exits, signals) also goes to FILE (default: .drover/drover.log;
                             - leaves it there; the foreground prints it either way)
      --log-level LEVEL      debug, info, warning, error or critical (default info)
      --keep-alive SECS      idle time of a keep-alive connection before it closes (default: Node's, 5;
                             0 = a new connection per request)
      --certfile FILE        serve HTTPS with this PEM certificate (with --keyfile; each worker reads it)
      --keyfile FILE         the PEM private key of --certfile
      --ca-certs FILE        with --certfile: the PEM CA certificates that vouch for client certificates
      --cert-reqs REQ        client certificates: none (0, the default), optional (1) or required (2)
      --ciphers LIST         with --certfile: the cipher suites offered, an OpenSSL cipher list
      --forwarded-allow-ips IPS  front ends (addresses, networks or *) whose X-Forwarded-Proto a fetch()
                             app's request.url follows (default: $FORWARDED_ALLOW_IPS, else 127.0.0.1,::1)
      --socket-mode MODE     permission bits of each unix:PATH socket (octal, e.g. 0660; default: 0777
                             less --umask when given, else less drover's umask), for a web server that
                             runs as another user
      --socket-owner USER[:GROUP]  owner of each unix:PATH socket
  -n, --name NAME            program name (default: the app's file name)
  -D, --daemon               detach and run in the background
  -p, --pid FILE             write the master's pid here (also --pidfile)
  -u, --user USER            run workers as USER (drover must run as root: refused, exit 2, if not)
  -m, --umask MODE           umask of the workers (octal); also sets each unix:PATH socket's mode to 0777
                             less it, as gunicorn's (-m 007: srwxrwx---), unless --socket-mode is given
      --chdir DIR            working directory of the workers (APP is found from it, as gunicorn's)
  -e, --env K=V              environment variable for the workers; repeatable
      --reload               roll the workers when a file under the app's directory changes (development)
      --reload-ignore GLOB   with --reload: changes to paths matching GLOB (or under a directory matching it)
                             do not count, e.g. 'data/**' for files the app writes itself; repeatable
      --shared-backend URL   keep queues, state and locks in Redis (redis://…, rediss://…, unix:/path.sock)
                             instead of the master, to share them with other masters (docs/shared.md)
      --shared-prefix NAME   key prefix in Redis (default: drover)
      --reexec-timeout SECS  after USR2, how long the new master's workers may take to be ready before
                             it gives up and the old master keeps serving (default 60)
      --runtime-dir DIR      control socket, pidfile and logs (default: ./.drover)
      --check-config         write RUNTIME_DIR/serve.ini and check it as up would, then exit (0: good; 2: a bad option)
  -h, --help                 this help

Relative paths (-b unix:PATH, -p, --access-logfile, --error-logfile, --certfile, --keyfile, --ca-certs,
--reload-ignore) are read from --chdir when it is given, as gunicorn changes to it before it binds, writes
the pidfile or opens a log; --runtime-dir and --chdir itself from the current directory.
gunicorn options drover does not take (-k, --threads, --preload, -c, ...) are refused with the reason (exit 2).
`;

export const serve: Command = async (ctx) => {
  let parsed;
  try {
    const options = {
      workers: { type: 'string', short: 'w' },
      bind: { type: 'string', short: 'b', multiple: true },
      timeout: { type: 'string', short: 't' },
      'graceful-timeout': { type: 'string' },
      'max-requests': { type: 'string' },
      'max-requests-jitter': { type: 'string' },
      'max-memory': { type: 'string' },
      'spare-workers': { type: 'string' },
      'reuse-port': { type: 'boolean' },
      backlog: { type: 'string' },
      'access-logfile': { type: 'string' },
      'access-logformat': { type: 'string' },
      'keep-alive': { type: 'string' },
      certfile: { type: 'string' },
      keyfile: { type: 'string' },
      'ca-certs': { type: 'string' },
      'cert-reqs': { type: 'string' },
      ciphers: { type: 'string' },
      'forwarded-allow-ips': { type: 'string' },
      'error-logfile': { type: 'string' },
      'log-file': { type: 'string' },
      'log-level': { type: 'string' },
      'socket-mode': { type: 'string' },
      'socket-owner': { type: 'string' },
      name: { type: 'string', short: 'n' },
      daemon: { type: 'boolean', short: 'D' },
      pidfile: { type: 'string', short: 'p' },
      pid: { type: 'string' },
      user: { type: 'string', short: 'u' },
      group: { type: 'string', short: 'g' },
      umask: { type: 'string', short: 'm' },
      chdir: { type: 'string' },
      env: { type: 'string', short: 'e', multiple: true },
      reload: { type: 'boolean' },
      'reload-ignore': { type: 'string', multiple: true },
      'runtime-dir': { type: 'string' },
      'shared-backend': { type: 'string' },
      'shared-prefix': { type: 'string' },
      'reexec-timeout': { type: 'string' },
      'check-config': { type: 'boolean' },
      // taken only to be refused with the reason (below), rather than as an unknown option
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    } as const;
    parsed = parseArgs({
      args: negativeNumbersAsValues(ctx.argv, options),
      allowPositionals: true,
      tokens: true,
      options,
    });
  } catch (err) {
    const notTaken = gunicornOnly(ctx.argv);
    ctx.stderr.write(`drover serve: ${notTaken ?? (err as Error).message}\n\n${HELP}`);
    return EXIT.USAGE;
  }
  const { values: v, positionals } = parsed;
  // gunicorn's other names for two options: the last one given wins, as for an option given twice
  const lastOf = (...names: string[]): string | undefined => {
    const t = parsed.tokens.findLast((t) => t.kind === 'option' && names.includes(t.name));
    return t?.kind === 'option' ? t.value : undefined;
  };
  const pidfile = lastOf('pidfile', 'pid');
  const errorLogfile = lastOf('error-logfile', 'log-file');
  if (v.help) {
    outputIsTheAnswer('drover serve');
    ctx.stdout.write(HELP);
    return EXIT.OK;
  }
  const usage = (message: string): number => {
    ctx.stderr.write(`drover serve: ${message}\n`);
    return EXIT.USAGE;
  };
  if (v.json === true) {
    const message = '--json is not taken by drover serve: it streams its log and its workers\' output until it stops (as `up` in the foreground), with no single result to print as JSON; `drover status --json -c RUNTIME_DIR/serve.ini` asks a running one';
    printJson(ctx, { ok: false, code: 'E_USAGE', message });
    return usage(message);
  }
  const lineBreak = lineBreakIn(v, positionals);
  if (lineBreak !== null) return usage(lineBreak);
  if (positionals.length !== 1) return usage(`give exactly one APP module (got ${positionals.length}); see --help`);
  // as gunicorn's --chdir, at once, rather than a pool that cannot start
  if (v.chdir !== undefined && !isDirectory(resolve(ctx.cwd, v.chdir))) return usage(`--chdir ${v.chdir}: no such directory`);
  // APP is found from --chdir, as gunicorn loads the app after changing to it
  // and so are the other relative paths: gunicorn changes to it before it binds, writes the pidfile or opens a log
  const appBase = v.chdir !== undefined ? resolve(ctx.cwd, v.chdir) : ctx.cwd;
  let app = resolve(appBase, positionals[0] as string);
  if (!existsSync(app) && v.chdir !== undefined && existsSync(resolve(ctx.cwd, positionals[0] as string))) {
    // found from the current directory, as drover serve did before it followed gunicorn here
    app = resolve(ctx.cwd, positionals[0] as string);
    ctx.stderr.write(`drover serve: APP ${positionals[0] as string} is not under --chdir ${v.chdir}; using ${app} (give it relative to --chdir, as gunicorn reads it)\n`);
  }
  if (!existsSync(app)) return usage(`${app} does not exist${v.chdir !== undefined ? ` (APP is found from --chdir ${v.chdir})` : ''}`);
  if (v.group !== undefined) return usage('-g/--group is not supported yet: workers run with the primary group of --user');
  // a program's user= that drover cannot take is a warning for `up` (the config may be meant for root); an
  // option given on this command line is refused at once, not after the workers' start retries
  if (v.user !== undefined && process.getuid?.() !== 0 && v.user !== String(process.getuid?.())) {
    const as = lookupUser(v.user);
    if (as === null) return usage(`-u ${v.user}: no such user`);
    if (as.uid !== process.getuid?.()) return usage(`-u ${v.user}: drover runs as uid ${process.getuid?.() ?? '?'}, not as root, so it cannot run the workers as ${v.user} (run drover serve as root, or leave out -u)`);
  }
  if (v.reload && v.daemon) return usage('--reload is for development in the foreground; drop --daemon');
  if (v['reload-ignore'] !== undefined && !v.reload) return usage('--reload-ignore goes with --reload');
  // as `drover up -d` (up.ts): PID 1 detaching would end the container, the new daemon with it
  if (v.daemon && process.pid === 1) return usage('drover is PID 1 here (a container\'s entrypoint, say), and the container ends when PID 1 exits: -D would end it as soon as drover detached; run `drover serve` in the foreground (without -D)');

  const int = (name: string, raw: string | undefined, dflt: number): number | null => {
    if (raw === undefined) return dflt;
    if (!/^\d+$/.test(raw)) {
      usage(`--${name} must be a whole number, got "${raw}"`);
      return null;
    }
    return Number(raw);
  };
  const envWorkers = ctx.env['WEB_CONCURRENCY'];
  const workers = int('workers', v.workers ?? (envWorkers && /^\d+$/.test(envWorkers) ? envWorkers : undefined), 1);
  const timeout = int('timeout', v.timeout, 30);
  const graceful = int('graceful-timeout', v['graceful-timeout'], 30);
  const maxRequests = int('max-requests', v['max-requests'], 0);
  const jitter = int('max-requests-jitter', v['max-requests-jitter'], 0);
  const spares = int('spare-workers', v['spare-workers'], 0);
  const keepAlive = v['keep-alive'] === undefined ? undefined : int('keep-alive', v['keep-alive'], 0);
  const backlog = v.backlog === undefined ? undefined : int('backlog', v.backlog, 0);
  if (backlog === null) return EXIT.USAGE;
  if (backlog !== undefined && backlog < 1) return usage('--backlog must be at least 1');
  const reexecTimeout = v['reexec-timeout'] === undefined ? undefined : int('reexec-timeout', v['reexec-timeout'], 60);
  if (reexecTimeout === null) return EXIT.USAGE;
  if (reexecTimeout !== undefined && reexecTimeout < 1) return usage('--reexec-timeout must be at least 1');
  if (workers === null || timeout === null || graceful === null || maxRequests === null || jitter === null || spares === null || keepAlive === null) return EXIT.USAGE;
  if (v['access-logformat'] !== undefined && v['access-logfile'] === undefined) return usage('--access-logformat goes with --access-logfile');
  if (v['access-logformat'] !== undefined && /[\r\n]/.test(v['access-logformat'])) return usage(`--access-logformat cannot hold a line break, got ${JSON.stringify(v['access-logformat'])}`);
  if ((v.certfile === undefined) !== (v.keyfile === undefined)) return usage(v.certfile === undefined ? '--keyfile goes with --certfile' : '--certfile needs --keyfile: HTTPS takes a certificate and its private key');
  const clientTls = serveClientCerts(v['ca-certs'], v['cert-reqs'], v.certfile !== undefined, { cwd: appBase, stderr: ctx.stderr });
  if (typeof clientTls === 'string') return usage(clientTls);
  if (v.ciphers !== undefined && v.certfile === undefined) return usage('--ciphers needs --certfile and --keyfile: cipher suites are offered on HTTPS connections');
  if (v.ciphers !== undefined && /[\r\n]/.test(v.ciphers)) return usage(`--ciphers cannot hold a line break, got ${JSON.stringify(v.ciphers)}`);
  if (workers < 1) return usage('--workers must be at least 1');
  if (workers > MAX_NUMPROCS) {
    // as many as one section's numprocs may say (serve.ini's would be refused with a line of a file the user never wrote)
    const from = v.workers !== undefined ? ['--workers', v.workers] : ['$WEB_CONCURRENCY', envWorkers];
    return usage(`${from[0]} must be at most ${MAX_NUMPROCS} (drover scale's limit too), got "${from[1]}"`);
  }
  // gunicorn's default comes from its environment too
  const forwardedAllowIps = v['forwarded-allow-ips'] ?? ctx.env['FORWARDED_ALLOW_IPS'];
  if (forwardedAllowIps !== undefined && /[\r\n]/.test(forwardedAllowIps)) return usage(`--forwarded-allow-ips cannot hold a line break, got ${JSON.stringify(forwardedAllowIps)}`);
  if (v.umask !== undefined && !/^[0-7]{1,4}$/.test(v.umask)) return usage(`--umask must be octal, got "${v.umask}"`);
  for (const e of v.env ?? []) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(e)) return usage(`--env wants KEY=VALUE, got "${e}"`);
    // supervisor's environment= reader has no escapes: a value is quoted with the quote it does not contain
    if (e.includes('"') && e.slice(e.indexOf('=') + 1).includes("'")) return usage(`--env value cannot hold both ' and ", got ${e}`);
    if (/[\r\n]/.test(e)) return usage(`--env value cannot hold a line break, got ${JSON.stringify(e)}`);
    // supervisor strips every quote character from both ends of a value
    if (/^['"]|['"]$/.test(e.slice(e.indexOf('=') + 1))) return usage(`--env value cannot begin or end with a quote, got ${e}`);
  }

  // Binds: explicit (a socket systemd passed serves the -b of its address: src/prefork/passed-sockets.ts),
  // else every socket systemd passed, else $PORT, else gunicorn's default.
  let binds = v.bind ?? [];
  if (binds.length === 0 && ctx.env['LISTEN_PID'] === String(process.pid) && Number(ctx.env['LISTEN_FDS'] ?? '0') > 0) {
    binds = Array.from({ length: Number(ctx.env['LISTEN_FDS']) }, (_, i) => `fd://${3 + i}`);
  }
  if (binds.length === 0) binds = [ctx.env['PORT'] ? `0.0.0.0:${ctx.env['PORT']}` : '127.0.0.1:8000'];
  const notTcp = binds.find((b) => b.startsWith('fd://') || b.startsWith('unix:'));
  if (v['reuse-port'] && notTcp !== undefined) return usage(`--reuse-port needs TCP binds (HOST:PORT); ${notTcp} is always one socket shared by the workers`);
  const unixBinds = binds.some((b) => b.startsWith('unix:'));
  for (const [opt, key] of [['socket-mode', 'mode'], ['socket-owner', 'owner']] as const) {
    const given = v[opt];
    if (given === undefined) continue;
    if (!unixBinds) return usage(`--${opt} applies to unix:PATH binds, and there is none`);
    try {
      SOCKET_KEYS[key].parse(given);
    } catch (err) {
      if (!(err instanceof ValueProblem)) throw err;
      return usage(`--${opt} ${given}: ${err.message} (expected ${err.expected})`);
    }
  }
  const bindAddr = (b: string): string => {
    if (b.startsWith('unix:')) return `unix:${resolve(appBase, b.slice(5).replace(/^\/\//, ''))}`;
    if (b.startsWith('fd://')) return b;
    // as gunicorn reads -b: an optional tcp:// and, for an address or localhost without a port, its default
    // port 8000 (a name alone stays a usage error: `-b web` is more often a mistake than a host)
    const tcp = b.replace(/^tcp:\/\//i, '');
    return /^\[[0-9A-Fa-f:.]+\]$/.test(tcp) || isIP(tcp) === 4 || tcp === 'localhost' ? `${tcp}:8000` : tcp;
  };
  // checked here with the config's own parser, so that a bad -b is reported as given, not as a line of serve.ini
  const given: GivenBind[] = [];
  for (const b of binds) {
    try {
      given.push({ typed: b, bind: SOCKET_KEYS.bind.parse(bindAddr(b)) });
    } catch (err) {
      if (!(err instanceof ValueProblem)) throw err;
      return usage(`-b ${b}: ${err.message} (expected ${err.expected})`);
    }
  }
  // and against each other and what is at a unix: path, for the same reason (docs/decisions.md, "`drover serve -b`")
  const clash = bindClash(given, resolveHostOrKeep, v['reuse-port'] === true);
  if (clash !== null) return usage(clash);
  const notSocket = bindPathProblem(given);
  if (notSocket !== null) {
    // exit 1 as for any -b that cannot be bound: the command line is right, the path is taken
    ctx.stderr.write(`drover serve: ${notSocket}\n`);
    return EXIT.FAILURE;
  }

  // a name given is the program's name, as written; one made from the app's file name is made to fit
  if (v.name !== undefined && !/^[A-Za-z0-9_-]+$/.test(v.name)) return usage(`--name may hold letters, digits, _ and - only, got ${JSON.stringify(v.name)}`);
  const name = v.name ?? ((app.split('/').at(-1)?.replace(/\.[cm]?[jt]s$/, '') ?? 'app').replace(/[^A-Za-z0-9_-]/g, '_') || 'app');
  const runtimeDir = resolve(ctx.cwd, v['runtime-dir'] ?? '.drover');
  try {
    ensureRuntimeDir(runtimeDir);
  } catch (err) {
    if (!(err instanceof RuntimeDirError)) throw err;
    ctx.stderr.write(`drover serve: ${err.message}\n`);
    return EXIT.USAGE;
  }
  const quote = (s: string): string => (s.includes('"') ? `'${s}'` : `"${s}"`);
  // every value as typed: iniValue writes it so that the loader reads back exactly that (_serve-ini.ts)
  const val = (s: string | number): string => iniValue(String(s));
  const path = (p: string): string => val(resolve(appBase, p));
  const lines = [
    '; written by `drover serve`; edit the command line instead',
    '[supervisord]',
    `runtime_dir = ${val(runtimeDir)}`,
    ...(pidfile ? [`pidfile = ${path(pidfile)}`] : []),
    ...(v['shared-backend'] ? [`shared_backend = ${val(v['shared-backend'])}`] : []),
    ...(v['shared-prefix'] ? [`shared_prefix = ${val(v['shared-prefix'])}`] : []),
    ...(reexecTimeout !== undefined ? [`reexec_timeout = ${reexecTimeout}`] : []),
    ...(errorLogfile !== undefined && errorLogfile !== '-' ? [`logfile = ${path(errorLogfile)}`] : []),
    // gunicorn's "warning" is supervisor's "warn"
    ...(v['log-level'] !== undefined ? [`loglevel = ${v['log-level'].toLowerCase() === 'warning' ? 'warn' : val(v['log-level'])}`] : []),
    '',
    ...binds.flatMap((b, i) => [
      `[socket:bind${i}]`,
      `bind = ${val(bindAddr(b))}`,
      // a bind that fails at start names the -b as given, not this section (docs/decisions.md, "`drover serve -b`")
      `label = ${val(`-b ${b} (#${i + 1})`)}`,
      ...(v['reuse-port'] ? ['reuse_port = true'] : []),
      ...(backlog !== undefined ? [`backlog = ${backlog}`] : []),
      ...(b.startsWith('unix:') && v['socket-mode'] ? [`mode = ${val(v['socket-mode'])}`] : []),
      // gunicorn's -m applies to the socket files it binds too (-m 007: srwxrwx---)
      ...(b.startsWith('unix:') && !v['socket-mode'] && v.umask ? [`mode = 0${(0o777 & ~parseInt(v.umask, 8)).toString(8).padStart(3, '0')}`] : []),
      ...(b.startsWith('unix:') && v['socket-owner'] ? [`owner = ${val(v['socket-owner'])}`] : []),
      '',
    ]),
    `[program:${name}]`,
    `worker = ${val(app)}`,
    `sockets = ${binds.map((_, i) => `bind${i}`).join(', ')}`,
    `numprocs = ${workers}`,
    `timeout = ${timeout}`,
    // as gunicorn's master exits when its workers cannot boot: a pool that cannot start at all ends drover
    // (exit 1) instead of holding the socket with nobody to accept (docs/orchestration.md, essential)
    'essential = true',
    `graceful_timeout = ${graceful}`,
    `max_requests = ${maxRequests}`,
    `max_requests_jitter = ${jitter}`,
    ...(v['max-memory'] ? [`max_memory = ${val(v['max-memory'])}`] : []),
    ...(spares > 0 ? [`spare_workers = ${spares}`] : []),
    ...(keepAlive !== undefined ? [`keep_alive = ${keepAlive}`] : []),
    // gunicorn's access log: the workers write it to their stdout, which goes where --access-logfile says
    ...(v['access-logfile'] !== undefined
      // a log file's value is expanded twice (as supervisor does)
      ? ['access_log = true', `stdout_logfile = ${iniValue(v['access-logfile'] === '-' ? '/dev/stdout' : resolve(appBase, v['access-logfile']), 2)}`]
      : []),
    ...(v['access-logformat'] !== undefined ? [`access_log_format = ${val(v['access-logformat'])}`] : []),
    ...(v.certfile !== undefined && v.keyfile !== undefined ? [`certfile = ${path(v.certfile)}`, `keyfile = ${path(v.keyfile)}`] : []),
    ...clientTls,
    ...(v.ciphers !== undefined ? [`ciphers = ${val(v.ciphers)}`] : []),
    ...(forwardedAllowIps !== undefined ? [`forwarded_allow_ips = ${val(forwardedAllowIps)}`] : []),
    ...(v.user ? [`user = ${val(v.user)}`] : []),
    ...(v.umask ? [`umask = ${v.umask}`] : []),
    ...(v.chdir ? [`directory = ${val(appBase)}`] : []),
    ...(v.env?.length ? [`environment = ${val(v.env.map((e) => `${e.slice(0, e.indexOf('='))}=${quote(e.slice(e.indexOf('=') + 1))}`).join(','))}`] : []),
    // development: a change under the app's directory rolls the workers (the master's watch =, as for any program)
    ...(v.reload ? [`watch = ${val(`${resolve(app, '..').replace(/[*?[\]{}\\,]/g, '\\$&')}/**`)}`, 'watch_debounce = 200ms'] : []),
    ...(v.reload && v['reload-ignore']?.length ? [`watch_ignore = ${val(v['reload-ignore'].map((g) => (isAbsolute(g) ? g : join(appBase, g))).join(', '))}`] : []),
    '',
  ];
  const file = join(runtimeDir, 'serve.ini');
  const noNative = withoutNative();
  if (noNative !== null) {
    ctx.stderr.write(`drover serve: ${noNative}\n`);
    return EXIT.FAILURE;
  }
  // A running master re-reads serve.ini at HUP: a second serve here must fail before it rewrites that file,
  // or the next HUP would put this command's app, address and settings into the running master
  if (instanceRunning(runtimeDir)) {
    ctx.stderr.write(`drover serve: drover is already running for ${runtimeDir}; its config is left as it is (give this one another --runtime-dir)\n`);
    return EXIT.FAILURE;
  }
  // A new file each time, never one found there (the directory is drover's own; this is belt and braces)
  try {
    unlinkSync(file);
  } catch (err) {
    // ENOENT: the first serve in this directory
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  writeFileSync(file, lines.join('\n'), { mode: 0o600, flag: 'wx' });
  // read as `up` will read it, so that a bad value is reported as the option given, not as a line of a
  // file the user never wrote
  try {
    loadConfig(file, { env: ctx.env });
  } catch (err) {
    if (!(err instanceof ConfigProblems)) throw err;
    // not left for `drover status` and the rest to find here
    unlinkSync(file);
    for (const p of err.problems) {
      const option = p.key === null ? undefined : OPTION_OF_KEY[p.key];
      const expected = p.expected === undefined ? '' : ` (expected ${p.expected})`;
      ctx.stderr.write(`drover serve: ${option !== undefined ? `${option} ${p.got ?? ''}: ${p.message}${expected}` : formatConfigProblem(p)}\n`);
    }
    return EXIT.USAGE;
  }
  // gunicorn's --check-config: the options are good and serve.ini is written; nothing is started
  if (v['check-config']) return EXIT.OK;

  return up({ ...ctx, argv: ['-c', file, ...(v.daemon ? ['-d'] : [])] });
};

/** The option of `drover serve` behind each key it writes, for messages about a bad value. */
const OPTION_OF_KEY: Readonly<Record<string, string>> = {
  pidfile: '--pidfile',
  shared_backend: '--shared-backend',
  shared_prefix: '--shared-prefix',
  logfile: '--error-logfile',
  loglevel: '--log-level',
  bind: '-b',
  mode: '--socket-mode',
  owner: '--socket-owner',
  max_memory: '--max-memory',
  stdout_logfile: '--access-logfile',
  access_log_format: '--access-logformat',
  certfile: '--certfile',
  keyfile: '--keyfile',
  ca_certs: '--ca-certs',
  cert_reqs: '--cert-reqs',
  ciphers: '--ciphers',
  forwarded_allow_ips: '--forwarded-allow-ips',
  user: '--user',
  umask: '--umask',
  directory: '--chdir',
  environment: '--env',
};

/**
 * --ca-certs and --cert-reqs as config lines, or what is wrong with them. Both need --certfile; optional or
 * required needs --ca-certs. --ca-certs alone is gunicorn's no-op: said, and left out.
 */
function serveClientCerts(caCerts: string | undefined, certReqs: string | undefined, https: boolean, ctx: { cwd: string; stderr: NodeJS.WritableStream }): string[] | string {
  if (!https && (caCerts !== undefined || certReqs !== undefined)) return `${caCerts !== undefined ? '--ca-certs' : '--cert-reqs'} needs --certfile and --keyfile: client certificates are asked for on HTTPS connections`;
  let reqs: string | undefined;
  try {
    // the config's own reading (gunicorn's 0, 1, 2 and the names), normalised, so no line break gets through
    reqs = certReqs === undefined ? undefined : PROGRAM_KEYS.cert_reqs.parse(certReqs);
  } catch (err) {
    if (!(err instanceof ValueProblem)) throw err;
    return `--cert-reqs wants ${err.expected}, got ${JSON.stringify(certReqs)}`;
  }
  const asks = reqs !== undefined && reqs !== 'none';
  if (asks && caCerts === undefined) return `--cert-reqs ${certReqs} needs --ca-certs: the certificate authorities that sign the clients' certificates`;
  if (caCerts !== undefined && !asks) {
    ctx.stderr.write('drover serve: warning: --ca-certs has no effect without --cert-reqs optional or required: no client is asked for a certificate\n');
    return [];
  }
  return [...(caCerts !== undefined ? [`ca_certs = ${iniValue(resolve(ctx.cwd, caCerts))}`] : []), ...(reqs !== undefined ? [`cert_reqs = ${reqs}`] : [])];
}


function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    // ENOENT, EACCES, ENOTDIR: not a directory this command can use
    return false;
  }
}
