// THE table of configuration keys: per section kind, each key's type, default (as supervisor writes
// it), documentation and parser. load.ts reads through it; scripts/gen-config-doc.mjs prints it into
// docs/config.md. Defaults are strings parsed by the same parser as a value from the file; null means
// "unset" (documented by defaultDoc).
import { isIP } from 'node:net';
import { createSecureContext } from 'node:tls';
import { unixPathProblem } from '../os/unix-path.js';
import {
  autoRestart,
  backoffKind,
  boolean,
  byteSize,
  duration,
  exitCodes,
  existingUser,
  fcgiSocketAddress,
  inetAddress,
  integer,
  keyValuePairs,
  listOfStrings,
  logfileName,
  loglevel,
  nonNegativeInteger,
  octal,
  signalName,
  socketBacklog,
  socketOwner,
  userAndGroup,
  ValueProblem,
  type LogfileValue,
} from './datatypes.js';
import { MAX_NUMPROCS } from './limits.js';
import { nearestKey } from './nearest.js';
import { watchGlobs } from './watch-globs.js';

/**
 * What a typed config (drover.config.ts) may give for a key besides a string, and how it becomes the INI
 * text the parser reads: 'list' an array joined with ", ", 'words' an array joined with spaces, 'pairs' an
 * object of KEY: value written as KEY="value" pairs, 'octal' a number written in octal (0o022 → "22").
 * Numbers and booleans are accepted for every key and written in decimal, true or false.
 */
export type TypedShape = 'list' | 'words' | 'pairs' | 'octal';
import { dependencyList, healthCheck, readyCheck } from './checks.js';
import { EVENT_TYPES, isEventTypeName, type EventTypeName } from './event-names.js';

export interface KeySpec<T> {
  /** short type label for docs and "expected" in errors */
  readonly type: string;
  /** supervisor's default as a string value, or null for unset */
  readonly default: string | null;
  /** how to document the default when it is not a plain value */
  readonly defaultDoc?: string;
  readonly doc: string;
  readonly parse: (raw: string) => T;
  /** true for keys drover adds to supervisor's set */
  readonly drover?: boolean;
  /** the typed config's non-string form of the value; a key whose default parses to an array is a 'list' without it */
  readonly typed?: TypedShape;
}

/** A row of the table. `const` keeps its literal type label and shape, from which config/define.ts derives the typed config's types. */
function key<const K extends KeySpec<unknown>>(spec: K): K {
  return spec;
}

/**
 * A key's default as a value: the one place defaults come from (load.ts falls back to it when a value in the
 * file is bad, so that it can go on collecting errors). Throws for a key whose default is "unset".
 */
export function defaultOf<T>(spec: KeySpec<T>): T {
  if (spec.default === null) throw new Error(`defaultOf: ${spec.type} key has no default`);
  return spec.parse(spec.default);
}

const text = (s: string): string => s;

function logFormat(raw: string): 'text' | 'json' {
  const v = raw.trim().toLowerCase();
  if (v === 'text' || v === 'json') return v;
  throw new ValueProblem('not a log format', 'text or json');
}

function rotatePeriod(raw: string): 'daily' | 'hourly' | null {
  const v = raw.trim().toLowerCase();
  if (v === 'daily' || v === 'hourly') return v;
  if (v === 'none' || v === '') return null;
  throw new ValueProblem('not a rotation period', 'daily, hourly or none');
}

/** `cert_reqs`: gunicorn's numbers (Python's ssl.CERT_NONE, CERT_OPTIONAL, CERT_REQUIRED) or their names. */
function certReqs(raw: string): 'none' | 'optional' | 'required' {
  const v = raw.trim().toLowerCase();
  const named = ({ '0': 'none', '1': 'optional', '2': 'required' } as const)[v as '0' | '1' | '2'] ?? v;
  if (named === 'none' || named === 'optional' || named === 'required') return named;
  throw new ValueProblem('not a client certificate requirement', 'none, optional or required (or 0, 1, 2)');
}

/** `ciphers`: an OpenSSL cipher list that names at least one cipher this Node's OpenSSL has. */
function cipherList(raw: string): string {
  const list = raw.trim();
  try {
    createSecureContext({ ciphers: list });
  } catch (err) {
    throw new ValueProblem(`not a cipher list OpenSSL takes (${(err as Error).message})`, 'an OpenSSL cipher list such as ECDHE+AESGCM:!aNULL (openssl ciphers -v LIST shows what it names)');
  }
  return list;
}

/** `forwarded_allow_ips`: IP addresses or CIDR networks separated by commas or spaces, or `*`. */
function addressList(raw: string): string[] {
  const items = raw.split(/[\s,]+/).filter((a) => a !== '');
  for (const a of items) {
    const [ip = '', bits, extra] = a.split('/');
    const family = isIP(ip);
    const ok = a === '*' || (family !== 0 && extra === undefined && (bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128))));
    if (!ok) throw new ValueProblem(`not an IP address or network: ${JSON.stringify(a)}`, 'addresses such as 127.0.0.1 or ::1, or networks such as 10.0.0.0/8, separated by commas; or *');
  }
  return items;
}

/** `secure_scheme_headers`: NAME=value pairs; names are HTTP header names, kept lower-cased (as Node has them). */
function schemeHeaders(raw: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(keyValuePairs(raw))) {
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) throw new ValueProblem(`not a header name: ${JSON.stringify(name)}`, 'HEADER=value pairs such as X-FORWARDED-PROTO=https, separated by commas');
    out[name.toLowerCase()] = value;
  }
  return out;
}

/** `allowed_hosts`: host names (or `*`) separated by commas or spaces, lower-cased, without a trailing dot. */
function hostNames(raw: string): string[] {
  const names = raw.split(/[\s,]+/).filter((n) => n !== '').map((n) => n.toLowerCase().replace(/\.$/, ''));
  for (const n of names) {
    if (n !== '*' && !/^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/.test(n)) throw new ValueProblem(`not a host name: ${JSON.stringify(n)}`, 'host names such as drover.example.com, separated by commas or spaces, or *');
  }
  return names;
}

/** `shared_backend`: 'memory', or the URL of a Redis server (validated here, connected at start). */
function sharedBackend(raw: string): string {
  const v = raw.trim();
  if (v === 'memory') return v;
  const expected = 'memory, redis://[user:password@]host[:port][/db], rediss://… or unix:/path/to/redis.sock[?db=N]';
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    throw new ValueProblem('not a backend', expected);
  }
  if (url.protocol === 'unix:') {
    if (!url.pathname.startsWith('/') || url.pathname.length < 2) throw new ValueProblem('a unix socket needs an absolute path', expected);
    const db = url.searchParams.get('db');
    if (db !== null && !/^\d+$/.test(db)) throw new ValueProblem('db is not a number', expected);
    return v;
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new ValueProblem(`${url.protocol.slice(0, -1)} is not a known backend`, expected);
  if (url.hostname === '') throw new ValueProblem('no host', expected);
  if (url.pathname !== '' && url.pathname !== '/' && !/^\/\d+$/.test(url.pathname)) throw new ValueProblem('the path must be a database number', expected);
  return v;
}

const LOG_DOC = 'AUTO (a file in childlogdir), NONE, syslog (deprecated) or a path';

type StreamKeys<S extends string> = Readonly<
  Record<`${S}_logfile`, KeySpec<LogfileValue>> &
    Record<`${S}_logfile_maxbytes` | `${S}_logfile_backups` | `${S}_capture_maxbytes`, KeySpec<number>> &
    Record<`${S}_events_enabled` | `${S}_syslog`, KeySpec<boolean>>
>;

function streamKeys<S extends 'stdout' | 'stderr'>(stream: S): StreamKeys<S> {
  const keys = {
    [`${stream}_logfile`]: key({
      type: 'logfile',
      default: null,
      defaultDoc: 'AUTO',
      doc: `Where the process's ${stream} goes: ${LOG_DOC}. Expanded twice, as supervisor does.`,
      parse: logfileName,
    }),
    [`${stream}_logfile_maxbytes`]: key({ type: 'bytes', default: '50MB', doc: `Rotate the ${stream} log at this size; 0 never rotates.`, parse: byteSize }),
    [`${stream}_logfile_backups`]: key({ type: 'integer', default: '10', doc: `Rotated ${stream} logs to keep; 0 keeps none.`, parse: integer }),
    [`${stream}_capture_maxbytes`]: key({ type: 'bytes', default: '0', doc: `Capture-mode buffer for ${stream} (event listeners); 0 disables.`, parse: byteSize }),
    [`${stream}_events_enabled`]: key({ type: 'boolean', default: 'false', doc: `Emit an event for each ${stream} write.`, parse: boolean }),
    [`${stream}_syslog`]: key({ type: 'boolean', default: 'false', doc: `Also send ${stream} to syslog.`, parse: boolean }),
  };
  return keys as StreamKeys<S>;
}

/** Keys common to [program:x], [eventlistener:x] and [fcgi-program:x]. */
export const PROGRAM_KEYS = {
  command: key({ type: 'command', default: null, defaultDoc: '(required)', doc: 'The command line, split like a POSIX shell splits words (quotes, backslashes) but run without a shell.', parse: text }),
  process_name: key({ type: 'template', default: '%(program_name)s', doc: 'Name of each process; must contain %(process_num) when numprocs > 1.', parse: text }),
  numprocs: key({ type: 'integer', default: '1', doc: `How many processes to start from this section; at most ${MAX_NUMPROCS}, the most \`drover scale\` asks for (a larger number is a config error).`, parse: numprocsCount }),
  numprocs_start: key({ type: 'integer', default: '0', doc: 'The first process_num.', parse: integer }),
  priority: key({ type: 'integer', default: '999', doc: 'Lower starts first and stops last.', parse: integer }),
  autostart: key({ type: 'boolean', default: 'true', doc: 'Start when drover starts.', parse: boolean }),
  startsecs: key({ type: 'integer', default: '1', doc: 'Seconds the process must stay up to count as started.', parse: nonNegativeInteger }),
  startretries: key({ type: 'integer', default: '3', doc: 'Failed starts before the process becomes FATAL.', parse: nonNegativeInteger }),
  autorestart: key({ type: 'true|false|unexpected', default: 'unexpected', doc: 'Restart after an exit: always, never, or when the exit code is not in exitcodes.', parse: autoRestart }),
  exitcodes: key({ type: 'exit codes', typed: 'list', default: '0', doc: 'Expected exit codes (comma-separated, 0-255).', parse: exitCodes }),
  stopsignal: key({ type: 'signal', default: 'TERM', doc: 'Signal that asks the process to stop: a name (TERM, SIGTERM) or a number.', parse: signalName }),
  stopwaitsecs: key({ type: 'integer', default: '10', doc: 'Seconds to wait after stopsignal before SIGKILL.', parse: nonNegativeInteger }),
  stopasgroup: key({ type: 'boolean', default: 'false', doc: 'Send stopsignal to the whole process group; implies killasgroup. What is left of the group when its leader exits first gets the rest of stopwaitsecs, then SIGKILL; a graceful shutdown waits for it. Always on for worker = programs (false warns).', parse: boolean }),
  killasgroup: key({ type: 'boolean', default: null, defaultDoc: 'same as stopasgroup', doc: 'Send SIGKILL to the whole process group. Always on for worker = programs (false warns).', parse: boolean }),
  user: key({ type: 'user', default: null, doc: 'Run as this user (name or uid; drover must run as root, unless it is drover\'s own user). Must exist. check and up warn when drover is not root and this is another user: every start would fail.', parse: existingUser }),
  redirect_stderr: key({ type: 'boolean', default: 'false', doc: "Send stderr into stdout's log, in the order written (one pipe, as 2>&1; two with log_format = json, which names each line's stream); stderr_logfile is then ignored.", parse: boolean }),
  ...streamKeys('stdout'),
  ...streamKeys('stderr'),
  environment: key({ type: 'KEY=value list', typed: 'pairs', default: '', doc: 'Variables added to the inherited environment: KEY=value pairs separated by commas; quote values with commas or spaces.', parse: text }),
  directory: key({ type: 'path', default: null, doc: 'Working directory of the process.', parse: text }),
  umask: key({ type: 'octal', typed: 'octal', default: null, defaultDoc: "inherit drover's", doc: 'umask of the process, in octal (022).', parse: octal }),
  serverurl: key({ type: 'URL', default: null, defaultDoc: 'AUTO', doc: 'SUPERVISOR_SERVER_URL passed to the process; AUTO: the [unix_http_server] socket, else the [inet_http_server] address, else drover\'s own socket (docs/events.md).', parse: text }),
  backoff: key({ type: 'linear|exponential', default: 'linear', doc: "Delay between failed starts: linear (supervisor's 1 s, 2 s, 3 s…) or exponential (doubling, with jitter, capped by backoff_max).", parse: backoffKind, drover: true }),
  backoff_max: key({ type: 'duration', default: '60s', doc: 'Cap for the exponential backoff delay.', parse: duration, drover: true }),
  fatal_cooldown: key({ type: 'duration', default: null, defaultDoc: 'unset (stay FATAL)', doc: 'After FATAL, wait this long and try again from scratch instead of staying FATAL.', parse: duration, drover: true }),
  pidfile: key({ type: 'path', default: null, doc: 'For a program that daemonizes itself: the pidfile it writes; drover follows that pid, if it descends from the launcher and, with user=, runs as that user (docs/security.md, section 6).', parse: text, drover: true }),
  pdeathsig: key({ type: 'boolean', default: 'true', doc: 'Run the command under `setpriv --pdeathsig TERM` so it dies with drover.', parse: boolean, drover: true }),
  timestamps: key({ type: 'boolean', default: 'false', doc: 'Prefix each line in the log files with its ISO-8601 time (UTC, milliseconds).', parse: boolean, drover: true }),
  log_format: key({ type: 'text|json', default: 'text', doc: 'text: lines as written; json: one object per line, {"time","process","stream","message"}.', parse: logFormat, drover: true }),
  logfile_rotate: key({ type: 'daily|hourly|none', default: 'none', doc: 'Also rotate the log files when the local day or hour changes (in addition to the size limit).', parse: rotatePeriod, drover: true }),
  logfile_gzip: key({ type: 'boolean', default: 'false', doc: 'Compress rotated log files to FILE.N.gz in the background.', parse: boolean, drover: true }),
  worker: key({ type: 'path', default: null, doc: "Instead of command: a JS/TS module run under drover's worker runtime (an HTTP handler, a fetch handler, an http.Server, or defineWorker({...})); relative to directory, else to the config file.", parse: text, drover: true }),
  sockets: key({ type: 'list', typed: 'list', default: '', doc: 'Names of [socket:x] sections this program inherits, as fds 3, 4, … with LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES (systemd\'s convention).', parse: listOfStrings, drover: true }),
  max_requests: key({ type: 'integer', default: '0', doc: 'Worker programs: recycle a worker after this many requests (an upgraded connection, a WebSocket, counts as one), or for a job worker this many settled tasks (its replacement is ready first); 0 = never.', parse: nonNegativeInteger, drover: true }),
  max_requests_jitter: key({ type: 'integer', default: '0', doc: 'Worker programs: add a random 0..N to max_requests per worker.', parse: nonNegativeInteger, drover: true }),
  timeout: key({ type: 'duration', default: '30s', doc: "Worker programs: kill a worker whose event loop has not sent a heartbeat for this long (a diagnostic report with the JS stack is logged first); 0 = off. It counts the start too: heartbeats begin once the module is loaded and a job worker's setup() has returned, so a worker that has not got that far within this is killed, a failed start (backoff, FATAL after startretries).", parse: duration, drover: true }),
  graceful_timeout: key({ type: 'duration', default: '30s', doc: 'Worker programs: time a stopping worker gets to finish in-flight requests or jobs before SIGKILL (replaces stopwaitsecs). A worker still busy near its end leaves by itself a quarter of it before (at most 0.5 s), with exit status 75, and drover logs that it was cut off with requests in flight (docs/exit-codes.md). A worker whose module is still loading leaves at once. An HTTP worker waits for the requests in progress (a body still coming included); a connection with none (nothing sent yet, headers incomplete, a TLS handshake, a keep-alive one between requests) is closed after a second of the drain, and does not count as a request cut off.', parse: duration, drover: true }),
  max_memory: key({ type: 'bytes', default: '0', doc: 'Worker programs: recycle a worker whose RSS exceeds this (e.g. 512MB); 0 = never.', parse: byteSize, drover: true }),
  spare_workers: key({ type: 'integer', default: '0', doc: 'Worker programs: extra workers that load the module and report ready but accept nothing; when a worker leaves (crash, max_requests, max_memory, a stuck-worker kill, a stop), a spare starts accepting at once (in its slot, with reuse_port) and a new spare loads in the background. A worker stopped or restarted by hand (`drover stop web:web_0`) hands its slot over as its stop begins, not once it has drained, and comes back, when started, as a spare. While it stays stopped a new spare takes its place; when it is started again, the newest spare leaves, so the pool keeps spare_workers spares either way; WINCH, a shutdown and a stop of the whole pool promote no spare. On HUP and reload, new-code spares load first; after WINCH, with nothing serving, they load beside the serving workers (the old spares are not started again). Spares are not counted in numprocs.', parse: nonNegativeInteger, drover: true }),
  access_log: key({ type: 'boolean', default: 'false', doc: "HTTP worker programs: write one line per request to the worker's stdout, so to stdout_logfile (rotated, reopened on USR1, `drover tail`), in access_log_format: gunicorn's access log. A request whose connection the app takes over (`'upgrade'`, a WebSocket; `'connect'`) is logged when that connection closes, with the status the app wrote (101), the bytes it wrote after its head, and the time the connection lasted.", parse: boolean, drover: true }),
  access_log_format: key({ type: 'string', default: '%%(h)s %%(l)s %%(u)s %%(t)s "%%(r)s" %%(s)s %%(b)s "%%(f)s" "%%(a)s"', defaultDoc: 'gunicorn\'s: `%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"`', doc: "With access_log: gunicorn's atoms — h remote address, l -, u Basic auth user, t time, r request line, m method, U path, q query, H protocol, s status (499 when the client went away before any answer, as nginx's), b and B body bytes, f referer, a user agent, T/M/D/L time taken in s/ms/µs/decimal s, p pid, {NAME}i request header, {NAME}o response header; any other atom prints -. In a supervisord.conf or typed config a percent sign is written %%, as in every value: `%%(h)s`.", parse: text, drover: true }),
  keep_alive: key({ type: 'duration', default: null, defaultDoc: "Node's (5s)", doc: 'HTTP worker programs: how long an idle keep-alive connection stays open for its next request (gunicorn\'s keepalive); 0: none, every response closes its connection. Applies to the servers drover makes; an exported http.Server keeps its own settings.', parse: duration, drover: true }),
  certfile: key({ type: 'path', default: null, doc: "HTTP worker programs: serve HTTPS with this PEM certificate (and its chain), with keyfile (gunicorn's certfile). Relative to directory, else to the config file. Each worker reads it as it starts, as the program's user, so a renewed certificate is served after a reload (HUP). Applies to the servers drover makes; an exported http.Server is refused with it.", parse: text, drover: true }),
  keyfile: key({ type: 'path', default: null, doc: "HTTP worker programs: the PEM private key of certfile (gunicorn's keyfile); both or neither. Read by each worker as certfile is: the program's user must be able to read it.", parse: text, drover: true }),
  ca_certs: key({ type: 'path', default: null, doc: "With certfile: a PEM file of the certificate authorities whose client certificates are accepted (gunicorn's ca_certs); cert_reqs says whether a client must present one. Relative to directory, else to the config file; read by each worker as certfile is.", parse: text, drover: true }),
  cert_reqs: key({ type: 'none|optional|required', default: 'none', doc: "With certfile: client certificates (gunicorn's cert_reqs; 0, 1 and 2 are read as none, optional and required). none asks for none; optional asks, and refuses a connection whose certificate ca_certs does not vouch for; required also refuses a connection without one. optional and required need ca_certs. A request listener sees the certificate as req.socket.getPeerCertificate().", parse: certReqs, drover: true }),
  ciphers: key({ type: 'string', default: null, defaultDoc: "Node's default list", doc: "With certfile: the cipher suites the workers offer, as an OpenSSL cipher list (gunicorn's ciphers), e.g. ECDHE+AESGCM:!aNULL; TLS 1.3 suites (TLS_AES_256_GCM_SHA384) may be named too. A list that names no cipher OpenSSL has is refused at check.", parse: cipherList, drover: true }),
  forwarded_allow_ips: key({ type: 'addresses', typed: 'list', default: '127.0.0.1,::1', doc: "HTTP worker programs: the front ends (IP addresses, or networks such as 10.0.0.0/8, separated by commas; * for any) whose secure_scheme_headers a fetch() app's request.url follows, as gunicorn's forwarded_allow_ips. A connection over a unix socket is trusted, as in gunicorn. Headers from any other address are ignored.", parse: addressList, drover: true }),
  secure_scheme_headers: key({ type: 'KEY=value list', typed: 'pairs', default: 'X-FORWARDED-PROTOCOL=ssl,X-FORWARDED-PROTO=https,X-FORWARDED-SSL=on', doc: "HTTP worker programs: headers a trusted front end (forwarded_allow_ips) sets to say the client came over HTTPS, each with the value that means HTTPS (gunicorn's secure_scheme_headers). A fetch() app's request.url then starts with https:// (with any other value, http://); two that disagree answer 400. Empty: the connection alone decides.", parse: schemeHeaders, drover: true }),
  concurrency: key({ type: 'integer', default: '1', doc: "Job workers: tasks in flight at once in one process (ctx.concurrency; the default of queue.process()). Not threads: a worker's tasks share its event loop.", parse: positiveInteger, drover: true }),
  watch: key({ type: 'globs', typed: 'list', default: '', doc: 'Development: restart the program when a file matching one of these comma-separated globs changes; a worker = program rolls its workers instead, each replacement ready before an old worker leaves. Relative to directory, else to the config file; * and ? match within a name, ** any number of directories, {a,b} either; names starting with "." and node_modules directories match only where a pattern spells them out. Stopped processes stay stopped.', parse: watchGlobs, drover: true }),
  watch_ignore: key({ type: 'globs', typed: 'list', default: '', doc: 'With watch: changes to paths matching one of these comma-separated globs (or under a directory matching one) never count, and such directories are not watched — data files, uploads or logs the program writes itself. Globs as watch\'s, relative to the same place.', parse: watchGlobs, drover: true }),
  watch_debounce: key({ type: 'duration', default: '200ms', doc: 'With watch: restart this long after the last change of a burst, so that one save, or a build writing many files, restarts once.', parse: duration, drover: true }),
  ready: key({ type: 'check', default: null, defaultDoc: 'unset (startsecs decides)', doc: 'When the program counts as started, instead of startsecs: tcp://HOST:PORT (accepts a connection), http://URL or https://URL (answers 2xx; `URL status=CODE` for another code), exec:COMMAND (exits 0; run as the program, in its directory, with its environment), log:TEXT (a line of its stdout or stderr contains TEXT) or notify (sends READY=1 to the NOTIFY_SOCKET drover gives it, the sd_notify protocol). It stays STARTING until the check passes (docs/orchestration.md).', parse: readyCheck, drover: true }),
  ready_timeout: key({ type: 'duration', default: '60s', doc: 'A ready check that has not passed this long after the spawn is a failed start: the process is stopped and backs off (startretries, then FATAL). In a shutdown it is not: the process is stopped in its turn.', parse: positiveDuration, drover: true }),
  ready_interval: key({ type: 'duration', default: '250ms', doc: 'Time between two attempts of a tcp, http or exec ready check, and between two reads of a notify socket (log lines are looked at as they come).', parse: positiveDuration, drover: true }),
  depends_on: key({ type: 'list', default: '', doc: 'Programs or groups that must reach a condition before this one starts: NAME[:started|ready|completed], …. started (the default): RUNNING; ready: its ready check passed; completed: it exited with one of its exitcodes (a one-shot job). Starting this program starts them first; stops go in reverse order.', parse: dependencyList, drover: true }),
  healthcheck: key({ type: 'check', default: null, doc: 'Checked every healthcheck_interval while RUNNING: tcp://HOST:PORT, http(s)://URL [status=CODE] or exec:COMMAND. After healthcheck_retries failures in a row the process is restarted. A shutdown ends the checks: nothing is restarted, and each process is stopped in its turn.', parse: healthCheck, drover: true }),
  healthcheck_interval: key({ type: 'duration', default: '10s', doc: 'Time between two health checks; the first one runs this long after the process became RUNNING.', parse: positiveDuration, drover: true }),
  healthcheck_timeout: key({ type: 'duration', default: '5s', doc: 'A check (health or ready) that has not answered within this long has failed.', parse: positiveDuration, drover: true }),
  healthcheck_retries: key({ type: 'integer', default: '3', doc: 'Consecutive failed health checks that make the process unhealthy and restart it.', parse: positiveInteger, drover: true }),
  essential: key({ type: 'boolean', default: 'false', doc: 'When this program stops for good (it exited and is not restarted, or it is FATAL), drover stops everything and exits with its exit status (1 for FATAL; 128+N for signal N).', parse: boolean, drover: true }),
} as const;

function numprocsCount(raw: string): number {
  const n = integer(raw);
  if (n > MAX_NUMPROCS) throw new ValueProblem(`at most ${MAX_NUMPROCS} processes per section, as drover scale allows`, `an integer up to ${MAX_NUMPROCS}`);
  return n;
}

function positiveDuration(raw: string): number {
  const secs = duration(raw);
  if (secs <= 0) throw new ValueProblem('must be longer than 0', 'a duration such as 250ms, 5s or 1m');
  return secs;
}

function positiveInteger(raw: string): number {
  const n = integer(raw);
  if (n < 1) throw new ValueProblem('must be at least 1', 'an integer ≥ 1');
  return n;
}

function socketBind(raw: string): SocketBind {
  const v = raw.trim();
  const fd = /^fd:\/\/(\d+)$/.exec(v);
  if (fd) return { kind: 'fd', fd: Number(fd[1]) };
  if (v.startsWith('unix:')) {
    const path = v.slice(5).replace(/^\/\//, '');
    if (!path.startsWith('/')) throw new ValueProblem('a unix socket needs an absolute path', 'unix:/path/to.sock');
    const tooLong = unixPathProblem(path);
    if (tooLong !== null) throw new ValueProblem(tooLong, 'a shorter path, e.g. unix:/run/app.sock');
    return { kind: 'unix', path };
  }
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(v);
  if (!m) throw new ValueProblem('not a socket address', 'HOST:PORT, [IPV6]:PORT, unix:/path.sock or fd://N');
  const port = Number(m[3]);
  if (port > 65535) throw new ValueProblem('port out of range', 'a port from 0 to 65535');
  const host = m[1] ?? (m[2] === '' || m[2] === '*' ? '0.0.0.0' : (m[2] as string));
  return { kind: 'tcp', host, port };
}

export type SocketBind = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string } | { kind: 'fd'; fd: number };

export const SOCKET_KEYS = {
  bind: key({ type: 'address', default: null, defaultDoc: '(required)', doc: 'HOST:PORT, [::]:PORT, unix:/path.sock, or fd://N (a listening socket drover inherited, e.g. from systemd). :PORT and *:PORT bind 0.0.0.0 (IPv4 only, as gunicorn binds -b :PORT); [::]:PORT binds IPv6 and IPv4. Bound by the master at start, or by the reload that adds it; kept open, unchanged, across reloads that leave the section as it is (see [socket:NAME] across a reload, below). Two sections on one address (an IPv6 address in any of its forms; host names are compared as written, not looked up), or a wildcard beside one of its addresses on the same port unless both have reuse_port, are a config error: only one could be bound. A port of 0 is a port of its own each time.', parse: socketBind, drover: true }),
  backlog: key({ type: 'integer', default: '511', doc: "listen() backlog: connections queued before a worker accepts them (each balanced slot's, with reuse_port; the kernel caps it at net.core.somaxconn). drover serve --backlog.", parse: nonNegativeInteger, drover: true }),
  mode: key({ type: 'octal', typed: 'octal', default: null, doc: 'unix sockets: permission bits of the socket file.', parse: octal, drover: true }),
  owner: key({ type: 'user[:group]', default: null, doc: 'unix sockets: owner of the socket file.', parse: userAndGroup, drover: true }),
  label: key({ type: 'string', default: null, doc: 'How an error binding this socket names it, instead of [socket:NAME]: `LABEL cannot bind 127.0.0.1:8000: …`. drover serve sets it to each -b as typed, with its number (`-b 127.0.0.1:8000 (#1)`), as its other messages about a -b name it. Changing only the label does not bind the socket anew.', parse: text, drover: true }),
  reuse_port: key({ type: 'boolean', default: 'false', doc: "TCP only: balanced mode. The master binds one SO_REUSEPORT socket per worker slot, all on this address, keeps each open, and hands slot k to the worker in slot k. New connections go to the slots of ready workers in turn (a BPF program the master loads as root; otherwise the kernel's hash spreads them, evenly on average); a dead worker's queued connections wait in its slot for its replacement or a spare. false: one socket shared by every worker (the kernel wakes the most recent waiter, so the spread is uneven, but an idle worker takes any connection). Named by one `worker =` program only. A reload that changes it on the same address waits for drover's next start (see [socket:NAME] across a reload, below). Ignored, with a warning, for a socket drover was passed (systemd's socket activation, fd://): drover cannot bind slots beside it, so every worker shares it. See docs/decisions.md, Prefork.", parse: boolean, drover: true }),
} as const;

/** supervisor's result handler, the only one that can exist outside Python: "OK" accepts, anything else rejects. */
export const DEFAULT_RESULT_HANDLER = 'supervisor.dispatchers:default_handler';

/** `events`: supervisor's event type names, comma-separated, any case; at least one. */
function eventTypeNames(raw: string): EventTypeName[] {
  const names = listOfStrings(raw).map((n) => n.toUpperCase());
  if (names.length === 0 || names.every((n) => n === '')) throw new ValueProblem('an event listener needs at least one event type', 'events = PROCESS_STATE, TICK_60, … (supervisor\'s event type names)');
  for (const n of names) {
    if (!isEventTypeName(n)) {
      const near = nearestKey(n, Object.keys(EVENT_TYPES));
      throw new ValueProblem(`unknown event type ${JSON.stringify(n)}${near ? ` (did you mean ${near}?)` : ''}`, `supervisor's event type names: ${Object.keys(EVENT_TYPES).join(', ')}`);
    }
  }
  return [...new Set(names as EventTypeName[])].sort();
}

function resultHandler(raw: string): string {
  // supervisor reads it as an entry point, where spaces around the colon do not count
  const v = raw.trim().replace(/\s*:\s*/, ':');
  if (v === DEFAULT_RESULT_HANDLER) return v;
  // supervisor_stdout's handler prints the events' text on supervisord's stdout: drover does that itself
  const hint = v.startsWith('supervisor_stdout:')
    ? `${DEFAULT_RESULT_HANDLER}; for what supervisor_stdout does, drop this listener and give the programs stdout_logfile = /dev/stdout (or read drover's foreground output)`
    : DEFAULT_RESULT_HANDLER;
  throw new ValueProblem('a result handler is a Python function run inside supervisord; drover runs only the default one', hint);
}

export const EVENTLISTENER_KEYS = {
  ...PROGRAM_KEYS,
  // supervisor gives the pool a high priority (-1) so that listeners start first and stop last
  priority: key({ type: 'integer', default: '-1', doc: 'Lower starts first and stops last; listeners start before programs (999) and stop after them.', parse: integer }),
  redirect_stderr: key({ type: 'boolean', default: 'false', doc: 'Must stay false: stdout is the event listener protocol, stderr mixed into it would break it (supervisor refuses it too).', parse: boolean }),
  events: key({ type: 'event types', typed: 'list', default: null, defaultDoc: '(required)', doc: "Event types the listener receives, comma-separated: supervisor's names (PROCESS_STATE_EXITED, TICK_60, …); an abstract name (PROCESS_STATE, EVENT) subscribes to every type below it. docs/events.md lists them.", parse: eventTypeNames }),
  buffer_size: key({ type: 'integer', default: '10', doc: "Events the pool's queue holds while no listener is ready; when full, the oldest is dropped (logged, and counted in /metrics).", parse: positiveInteger }),
  result_handler: key({ type: 'module:function', default: DEFAULT_RESULT_HANDLER, doc: "How a listener's answer is read: only supervisor's default (\"OK\" accepts the event, anything else rejects it and it is sent again) can run outside Python; any other value is a config error.", parse: resultHandler }),
} as const;

export const FCGI_PROGRAM_KEYS = {
  ...PROGRAM_KEYS,
  socket: key({
    type: 'socket',
    default: null,
    defaultDoc: '(required)',
    doc: 'tcp://HOST:PORT or unix:///absolute/path.sock: the socket drover creates and hands to every process of the program as its stdin (fd 0). Created when the first process starts, closed when the last one stops. %(program_name)s and %(here)s expand here.',
    parse: fcgiSocketAddress,
  }),
  socket_backlog: key({ type: 'integer', default: null, defaultDoc: 'SOMAXCONN (4096)', doc: 'listen() backlog of the socket, 1 to 65535 (the kernel caps it at net.core.somaxconn).', parse: socketBacklog }),
  socket_owner: key({
    type: 'user[:group]',
    default: null,
    defaultDoc: "the program's user= when it differs from drover's",
    doc: 'unix sockets: owner of the socket file; a user alone leaves the group unchanged.',
    parse: socketOwner,
  }),
  socket_mode: key({ type: 'octal', typed: 'octal', default: '0700', doc: 'unix sockets: permission bits of the socket file (set at creation, through the umask).', parse: octal }),
} as const;

export const GROUP_KEYS = {
  programs: key({ type: 'list', typed: 'list', default: '', doc: 'Comma-separated program names that form this group.', parse: listOfStrings }),
  priority: key({ type: 'integer', default: '999', doc: 'Lower starts first and stops last.', parse: integer }),
} as const;

export const SUPERVISORD_KEYS = {
  logfile: key({ type: 'path', default: null, defaultDoc: 'RUNTIME_DIR/drover.log', doc: "drover's own log (relative paths are relative to the config file's directory).", parse: logfileName }),
  logfile_maxbytes: key({ type: 'bytes', default: '50MB', doc: 'Rotate drover\'s log at this size.', parse: byteSize }),
  logfile_backups: key({ type: 'integer', default: '10', doc: 'Rotated logs to keep.', parse: integer }),
  loglevel: key({ type: 'level', default: 'info', doc: 'critical, error, warn, info, debug, trace or blather.', parse: loglevel }),
  pidfile: key({ type: 'path', default: null, defaultDoc: 'RUNTIME_DIR/drover.pid', doc: 'Where drover writes its pid.', parse: text }),
  umask: key({ type: 'octal', typed: 'octal', default: '022', doc: "drover's umask.", parse: octal }),
  nodaemon: key({ type: 'boolean', default: 'false', doc: 'Stay in the foreground (drover up is foreground unless -d).', parse: boolean }),
  silent: key({ type: 'boolean', default: 'false', doc: 'In the foreground, do not copy the log to stdout.', parse: boolean }),
  minfds: key({ type: 'integer', default: '1024', doc: 'Raise the open-file limit (RLIMIT_NOFILE) to at least this at start, after `user`; drover does not start (exit 2) when it cannot. Programs inherit the limit; their soft limit is drover\'s, which Node raises to the hard limit.', parse: integer }),
  minprocs: key({ type: 'integer', default: '200', doc: 'Raise the process limit (RLIMIT_NPROC) to at least this at start, after `user`; drover does not start (exit 2) when it cannot. Programs inherit it.', parse: integer }),
  nocleanup: key({ type: 'boolean', default: 'false', doc: 'Keep AUTO log files at start.', parse: boolean }),
  childlogdir: key({ type: 'directory', default: null, defaultDoc: 'RUNTIME_DIR/logs', doc: 'Directory for AUTO log files (must exist when set).', parse: text }),
  user: key({ type: 'user', default: null, doc: 'Switch to this user (its gid and groups) first thing at start, as supervisord does: the runtime directory, logs, pidfile and sockets are then made as that user, and programs without their own user= run as it (drover must run as root, or as that user already; only root can run a program as another user).', parse: existingUser }),
  directory: key({ type: 'directory', default: null, doc: 'chdir here when daemonizing (must exist).', parse: text }),
  strip_ansi: key({ type: 'boolean', default: 'false', doc: 'Strip ANSI escape sequences (ESC [ … up to its final letter: colours, cursor moves) from programs\' output before it reaches their logs, the foreground echo and PROCESS_LOG / PROCESS_COMMUNICATION events, as supervisord does.', parse: boolean }),
  environment: key({ type: 'KEY=value list', typed: 'pairs', default: '', doc: 'Variables added to every program\'s environment, and usable as %(ENV_X)s. Expanded twice, as supervisor does.', parse: text }),
  identifier: key({ type: 'string', default: 'supervisor', doc: 'Identifier reported over XML-RPC.', parse: text }),
  hooks: key({ type: 'path', default: null, doc: "A JS module of server hooks run in the master, as gunicorn's: on_starting, when_ready, pre_spawn, post_spawn, worker_exit, on_reload, on_exit (camelCase names work too). Node's whole API is there, `fetch()` included; in a master without `worker =` programs it runs as bytecode only (the daemon's V8 flags, decisions.md), so keep heavy computation out of hooks. A hook may return a promise: drover waits for on_starting, on_reload and on_exit (at most 30, 30 and 10 s, even when what the hook waits on would not keep Node running; `up -d` waits out on_starting's 30 s on top of its `--start-timeout`), and does not wait for the others (they get 30 s for when_ready and 10 s otherwise). A stop signal (Ctrl-C, TERM) while on_starting runs ends the wait at once: nothing is started, when_ready does not run, on_exit does. Once the programs have stopped, a further stop signal (a second Ctrl-C) ends the wait for on_exit. A hook that throws, rejects or runs out of time is logged (on_starting's failure aborts the start); an error it leaves uncaught (in a promise it did not return, or in a timer) stops drover and every program, as any error nothing catches does, and the log names the hooks module.", parse: text, drover: true }),
  journal: key({ type: 'path', default: null, doc: 'Keep the master\'s task queues and shared state in this append-only file (relative to the config file\'s directory), so a master restart, crash or USR2 re-exec loses no accepted task (docs/shared.md, "Durability"). Locks and leases are not kept: a task leased at the restart is ready again.', parse: text, drover: true }),
  journal_fsync: key({ type: 'boolean', default: 'false', doc: 'fsync the journal after each batch of records, before the batch is answered: the accepted tasks and keys then survive a power loss or kernel crash too, not only the master\'s death, at the cost of one fsync per event-loop turn that changed something (docs/shared.md, "Durability"). Needs journal.', parse: boolean, drover: true }),
  reexec_timeout: key({ type: 'duration', default: '60s', doc: 'After USR2: how long the new master may take to have its socket-serving processes running. Past it, the new master stops (with what it started) and the old one keeps serving, as when they cannot start. Worker programs have no ready_timeout of their own: raise this for an app that takes longer to load.', parse: positiveDuration, drover: true }),
  shared_backend: key({ type: 'memory|redis URL', default: 'memory', doc: 'Where the workers\' queues, shared state and locks live: memory (in the master, no server) or a Redis server — redis://[user:password@]host[:port][/db], rediss://… (TLS) or unix:/path/redis.sock[?db=N] — which masters on several machines can share (docs/shared.md, "Redis backend"; needs the ioredis package). Write a percent sign in a password as %%, or use %(ENV_REDIS_URL)s. Not with journal: Redis keeps its own data.', parse: sharedBackend, drover: true }),
  shared_prefix: key({ type: 'string', default: 'drover', doc: 'With a Redis shared_backend: the prefix of every key and channel. Masters that share queues use the same prefix; unrelated deployments on one server use different ones.', parse: text, drover: true }),
  shared_liveness: key({ type: 'duration', default: '10s', doc: 'With a Redis shared_backend: a master whose heartbeat (every third of this) has not reached Redis for this long counts as gone, and another master gives back the tasks its workers had leased and the locks they held. Shorter recovers sooner from a lost machine; too short mistakes a stalled master for a dead one.', parse: duration, drover: true }),
  shared_max_bytes: key({ type: 'bytes', default: '256MB', doc: 'With the memory shared_backend: the most the master holds for workers, counting every task not yet acked (ready, delayed, leased, dead letters) and every state value as its JSON plus its name and 100 bytes, and each lock, wait, watch (name + 100 bytes) and queue (name + 1024 bytes). A push, state set, compareAndSet, lock, take or watch past it is refused with E_QUOTA (HTTP 507), so no worker can grow the root master without bound (docs/shared.md, "Limits"). 0 sets no bound. Read at start (and by the new master of a USR2 re-exec), not by a reload. With Redis, bound Redis instead (maxmemory).', parse: byteSize, drover: true }),
  runtime_dir: key({ type: 'directory', default: null, defaultDoc: '.drover beside the config file', doc: 'Runtime directory for the control socket, pidfile and AUTO logs. Created 0700 when absent; an existing one must be a real directory (not a symlink) owned by drover\'s user and not writable by group or others, reached only through directories others cannot write (unless sticky, as /tmp) and links of root or drover\'s user; otherwise drover exits 2 (docs/security.md, section 5). Without [unix_http_server], the control socket is runtime_dir/drover.sock, and a path over 107 bytes is a config error here (section 17).', parse: text, drover: true }),
} as const;

export const UNIX_HTTP_SERVER_KEYS = {
  file: key({ type: 'path', default: null, defaultDoc: '(required)', doc: 'Path of the control socket. Its directory must exist (or be the runtime directory, which drover creates): drover, as supervisord, refuses to start (exit 2) rather than create it, and `drover check` reports it at the line. A socket file already there is removed only when connecting to it is refused (a dead daemon\'s); one something answers on, or one this user may not connect to (EACCES: another user\'s drover, say, in a shared directory), makes `up` exit 1 and is left in place.', parse: text }),
  chmod: key({ type: 'octal', typed: 'octal', default: '0600', doc: 'Mode of the socket file (supervisor: 0700; drover: 0600, as a socket needs no execute bit).', parse: octal }),
  chown: key({ type: 'user[:group]', default: null, doc: 'Owner of the socket file.', parse: userAndGroup }),
  username: key({ type: 'string', default: null, doc: 'Username for authentication (needs password too).', parse: text }),
  password: key({ type: 'string', default: null, doc: 'Password, plain or {SHA}hex (needs username too).', parse: text }),
  allowed_hosts: key({ type: 'host names', typed: 'list', default: '', doc: 'Names the control socket answers to in the Host header besides loopback names, IP addresses and names without a dot (as curl --unix-socket http://x/ sends); a request naming another host gets 421, so that a socket forwarded to TCP cannot be reached through DNS rebinding. * turns the check off (docs/security.md, section 7).', parse: hostNames, drover: true }),
} as const;

export const INET_HTTP_SERVER_KEYS = {
  port: key({ type: 'host:port', default: null, defaultDoc: '(required)', doc: 'TCP address to listen on, e.g. 127.0.0.1:9001. A port alone (or *:PORT, :PORT) listens on every IPv4 interface (0.0.0.0), as in supervisor; drover then warns that the password travels as plain HTTP. [::]:PORT (or another IPv6 address in brackets) listens on IPv6, [::] on IPv4 too (docs/security.md, section 23).', parse: inetAddress }),
  username: key({ type: 'string', default: null, doc: 'Username for authentication (needs password too).', parse: text }),
  password: key({ type: 'string', default: null, doc: 'Password, plain or {SHA}hex (needs username too). Required, and must not be empty: drover does not start with an empty TCP password.', parse: text }),
  allowed_hosts: key({ type: 'host names', typed: 'list', default: '', doc: 'Names the TCP port answers to in the Host header besides localhost, IP addresses, the host of port and this machine\'s host name (e.g. the name Prometheus or a browser uses); a request naming another host gets 421, against DNS rebinding. * turns the check off (docs/security.md, section 7).', parse: hostNames, drover: true }),
} as const;

export const SUPERVISORCTL_KEYS = {
  serverurl: key({ type: 'URL', default: null, defaultDoc: 'AUTO', doc: 'Where the CLI finds the control server: unix:///path or http://host:port (drover -s, and DROVER_URL without -c, win over it). AUTO or unset: this config\'s own control socket ([unix_http_server] file, else runtime_dir/drover.sock), where supervisorctl would try http://localhost:9001 (docs/cli.md).', parse: text }),
  username: key({ type: 'string', default: null, doc: 'Username for the control server.', parse: text }),
  password: key({ type: 'string', default: null, doc: 'Password for the control server.', parse: text }),
  prompt: key({ type: 'string', default: 'supervisor', doc: 'Interactive prompt (supervisorctl).', parse: text }),
  history_file: key({ type: 'path', default: null, doc: 'Interactive history file (supervisorctl).', parse: text }),
} as const;

export const INCLUDE_KEYS = {
  files: key({ type: 'globs', typed: 'words', default: null, defaultDoc: '(required)', doc: "Space-separated globs, relative to this file's directory; matches are read in sorted order.", parse: text }),
} as const;

export type SectionKind =
  | 'program'
  | 'eventlistener'
  | 'fcgi-program'
  | 'group'
  | 'supervisord'
  | 'unix_http_server'
  | 'inet_http_server'
  | 'supervisorctl'
  | 'include'
  | 'socket';

/** The whole table, by section kind (each table keeps its own type: config/define.ts derives the typed config's from it). */
export const SCHEMA = {
  program: PROGRAM_KEYS,
  eventlistener: EVENTLISTENER_KEYS,
  'fcgi-program': FCGI_PROGRAM_KEYS,
  group: GROUP_KEYS,
  supervisord: SUPERVISORD_KEYS,
  unix_http_server: UNIX_HTTP_SERVER_KEYS,
  inet_http_server: INET_HTTP_SERVER_KEYS,
  supervisorctl: SUPERVISORCTL_KEYS,
  include: INCLUDE_KEYS,
  socket: SOCKET_KEYS,
} as const satisfies Readonly<Record<SectionKind, Readonly<Record<string, KeySpec<unknown>>>>>;

/** How a section header names its kind; null for a header drover does not know. */
export function sectionKind(header: string): { kind: SectionKind; name: string } | { kind: 'ignored' } | null {
  const colon = header.indexOf(':');
  const prefix = colon < 0 ? header : header.slice(0, colon);
  const name = colon < 0 ? '' : header.slice(colon + 1);
  switch (prefix) {
    case 'program':
    case 'eventlistener':
    case 'fcgi-program':
    case 'group':
    case 'socket':
      return colon < 0 ? null : { kind: prefix, name };
    case 'supervisord':
    case 'drover':
      return colon < 0 ? { kind: 'supervisord', name: '' } : null;
    case 'unix_http_server':
    case 'inet_http_server':
    case 'supervisorctl':
    case 'include':
      return { kind: prefix, name };
    case 'rpcinterface':
    case 'ctlplugin':
      // supervisor plugin sections: accepted, drover provides its own control interface (config/load.ts warns
      // where a section asks for something drover does not do)
      return { kind: 'ignored' };
    default:
      return null;
  }
}

/** Every section prefix, for "did you mean" on unknown sections. */
export const SECTION_PREFIXES = [
  'program:',
  'group:',
  'eventlistener:',
  'fcgi-program:',
  'supervisord',
  'drover',
  'unix_http_server',
  'inet_http_server',
  'supervisorctl',
  'include',
  'socket:',
  'rpcinterface:',
  'ctlplugin:',
];

