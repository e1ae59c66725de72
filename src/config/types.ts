// The resolved configuration: what the engine consumes. Produced by config/load.ts from an INI file
// read with supervisor 4.x semantics. Field names are camelCase forms of supervisor's option names;
// `drover check --json` prints them back under supervisor's names.
import type { EventTypeName } from './event-names.js';

/** supervisor's autorestart values, kept as the strings supervisor's users write. */
export type AutoRestart = 'true' | 'false' | 'unexpected';

/** A log destination: supervisor's AUTO (a file in childlogdir), NONE (discard) or a path. */
export type LogTarget = 'AUTO' | 'NONE' | string;

/** A check drover runs against a program: `ready =` (all kinds) and `healthcheck =` (tcp, http, exec). */
export type CheckSpec =
  | { readonly type: 'tcp'; readonly host: string; readonly port: number }
  /** `status`: the one status code that passes; null: any 2xx */
  | { readonly type: 'http'; readonly url: string; readonly status: number | null }
  /** passes when the command exits 0; run like the program (its user, directory and environment) */
  | { readonly type: 'exec'; readonly command: string; readonly argv: readonly string[] }
  /** passes when a line of the program's stdout or stderr contains `text` */
  | { readonly type: 'log'; readonly text: string }
  /** passes when the program sends READY=1 to its own NOTIFY_SOCKET (sd_notify) */
  | { readonly type: 'notify' };

/** `depends_on` conditions: RUNNING, ready check passed, or exited with one of its exitcodes. */
export type DependencyCondition = 'started' | 'ready' | 'completed';

/** One `depends_on` entry: a program or group name and what must hold of every process of it. */
export interface Dependency {
  readonly name: string;
  readonly condition: DependencyCondition;
}

/** Where a config value came from, for error messages: file and 1-based line, or in a typed config the property path. */
export interface SourcePos {
  readonly file: string;
  /** 0 when the value has no line (a typed config) */
  readonly line: number;
  /** a typed config's property path, e.g. "programs.web.numprocs" */
  readonly path?: string;
}

/** One process: a program with numprocs = 3 resolves to three of these. */
export interface ProcessSpec {
  readonly group: string;
  readonly name: string;
  readonly programName: string;
  /** numprocs_start + index */
  readonly processNum: number;
  readonly numprocs: number;
  /** the expanded command line as written (after expansions, before splitting) */
  readonly command: string;
  /** the command split the way supervisor splits it (shlex, no shell) */
  readonly argv: readonly string[];
  readonly priority: number;
  readonly autostart: boolean;
  readonly autorestart: AutoRestart;
  readonly startSecs: number;
  readonly startRetries: number;
  /** sorted ascending */
  readonly exitCodes: readonly number[];
  /** signal name without the SIG prefix, e.g. "TERM" */
  readonly stopSignal: string;
  readonly stopWaitSecs: number;
  readonly stopAsGroup: boolean;
  readonly killAsGroup: boolean;
  readonly directory: string | null;
  readonly umask: number | null;
  readonly user: string | null;
  /** only the variables the config adds (not drover's SUPERVISOR_* ones, not the inherited ones) */
  readonly environment: Readonly<Record<string, string>>;
  readonly redirectStderr: boolean;
  readonly stdoutLogfile: LogTarget;
  readonly stdoutLogfileMaxBytes: number;
  readonly stdoutLogfileBackups: number;
  readonly stdoutCaptureMaxBytes: number;
  readonly stdoutEventsEnabled: boolean;
  readonly stdoutSyslog: boolean;
  /** NONE when redirect_stderr is true, as supervisor does */
  readonly stderrLogfile: LogTarget;
  readonly stderrLogfileMaxBytes: number;
  readonly stderrLogfileBackups: number;
  readonly stderrCaptureMaxBytes: number;
  readonly stderrEventsEnabled: boolean;
  readonly stderrSyslog: boolean;
  readonly serverUrl: string | null;

  // --- drover additions (defaults keep supervisor's behaviour) ---
  /** "linear": supervisor's 1 s, 2 s, 3 s…; "exponential": doubling from 1 s, capped, with jitter */
  readonly backoff: 'linear' | 'exponential';
  /** cap for exponential backoff, seconds (default 60) */
  readonly backoffMaxSecs: number;
  /** seconds after entering FATAL before drover retries from scratch; null = stay FATAL (supervisor) */
  readonly fatalCooldownSecs: number | null;
  /** a program that daemonizes itself writes its real pid here; drover follows that pid */
  readonly pidfile: string | null;
  /** run under setpriv --pdeathsig so the program dies with drover (default true) */
  readonly pdeathsig: boolean;
  /** prefix each logged line with an ISO-8601 time (default false) */
  readonly timestamps: boolean;
  /** "text": lines as written; "json": one {"time","process","stream","message"} object per line */
  readonly logFormat: 'text' | 'json';
  /** rotate the log files also when the local day or hour changes; null = by size only (supervisor) */
  readonly logfileRotate: 'daily' | 'hourly' | null;
  /** gzip rotated log files (default false) */
  readonly logfileGzip: boolean;
  /** where the [program:x] section was declared */
  readonly source: SourcePos;

  // --- orchestration (drover additions) ---
  /** `ready =`: the check that makes a starting process RUNNING instead of startsecs; null: none */
  readonly ready: CheckSpec | null;
  /** how a starting process becomes RUNNING: after startsecs, or when ready is reported (a ready check, a worker's message) */
  readonly readiness: 'startsecs' | 'reported';
  /** a ready check not passing within this long is a failed start; null: no limit (drover workers) */
  readonly readyTimeoutSecs: number | null;
  /** time between two ready checks */
  readonly readyIntervalSecs: number;
  /** programs or groups that must reach a condition before this program starts */
  readonly dependsOn: readonly Dependency[];
  /** `healthcheck =`: checked while RUNNING; null: none */
  readonly healthcheck: CheckSpec | null;
  readonly healthcheckIntervalSecs: number;
  /** one check (ready or health) failing to answer within this long counts as failed */
  readonly healthcheckTimeoutSecs: number;
  /** consecutive failed health checks that restart the process */
  readonly healthcheckRetries: number;
  /** when this program stops for good, drover stops everything and exits with its status */
  readonly essential: boolean;

  // --- prefork (drover additions) ---
  /** absolute path of the module run under drover's worker runtime (`worker =`); null for `command =` */
  readonly worker: string | null;
  /** names of [socket:x] sections whose fds the process inherits (LISTEN_FDS from fd 3, in this order) */
  readonly sockets: readonly string[];
  /** recycle a worker after this many requests; 0 = never */
  readonly maxRequests: number;
  /** add a random 0..N to max_requests per worker, so workers do not recycle together */
  readonly maxRequestsJitter: number;
  /** a worker whose heartbeat is older than this is killed (with a diagnostic report); 0 = off */
  readonly heartbeatTimeoutSecs: number;
  /** time a stopping worker gets to finish in-flight work before SIGKILL */
  readonly gracefulTimeoutSecs: number;
  /** recycle a worker whose RSS exceeds this many bytes; 0 = never */
  readonly maxMemoryBytes: number;
  /** job workers: tasks in flight at once in one process (`concurrency`) */
  readonly concurrency: number;
  /** HTTP workers: the access log's format (gunicorn's atoms), expanded; null: no access log (`access_log = false`) */
  readonly accessLogFormat: string | null;
  /** HTTP workers: idle keep-alive time of the servers drover makes, in ms (0: none); null: Node's default */
  readonly keepAliveMs: number | null;
  /**
   * HTTP workers: HTTPS with this certificate and key (absolute paths, both or neither); null: plain HTTP.
   * `caFile` (ca_certs) vouches for client certificates; `clientCerts` (cert_reqs) says whether one is asked for;
   * `ciphers`: an OpenSSL cipher list, null for Node's.
   */
  readonly tls: { readonly certFile: string; readonly keyFile: string; readonly caFile: string | null; readonly clientCerts: ClientCerts; readonly ciphers: string | null } | null;
  /**
   * HTTP workers: whose X-Forwarded-Proto and the like a fetch() app's request.url follows (`forwarded_allow_ips`:
   * addresses, CIDR networks or `*`) and which headers say HTTPS (`secure_scheme_headers`, lower-cased name →
   * the value that means HTTPS); null for a command program
   */
  readonly forwarded: { readonly allowIps: readonly string[]; readonly schemeHeaders: Readonly<Record<string, string>> } | null;
  /** `watch`: absolute glob patterns; a change to a matching file restarts the program (a pool rolls); empty = no watching */
  readonly watch: readonly string[];
  /** `watch_ignore`: absolute glob patterns of paths (and directories) whose changes never count */
  readonly watchIgnore: readonly string[];
  /** `watch_debounce`: quiet time after the last change before the restart */
  readonly watchDebounceMs: number;

  /** worker programs: workers kept loaded but not accepting, to take over from one that leaves; 0 = none */
  readonly spareWorkers: number;
  // --- [fcgi-program:x] ---
  /** the socket every process of an fcgi-program gets as its stdin (fd 0); null for other programs */
  readonly fcgiSocket: FcgiSocketSpec | null;

  // --- event listeners ([eventlistener:x]) ---
  /** what makes the process an event listener of the pool named by `group`; null for every other process */
  readonly eventListener: EventListenerSpec | null;
}

/** The socket of an [fcgi-program:x], as supervisor resolves it (options.py parse_fcgi_socket). */
export interface FcgiSocketSpec {
  /** supervisor's form of the address: tcp://host:port or unix:///path; also the socket's identity */
  readonly url: string;
  readonly bind: { readonly kind: 'tcp'; readonly host: string; readonly port: number } | { readonly kind: 'unix'; readonly path: string };
  /** listen() backlog; null = SOMAXCONN, as supervisor */
  readonly backlog: number | null;
  /** unix sockets: permission bits of the file (default 0700); null for tcp */
  readonly mode: number | null;
  /** unix sockets: owner of the file (gid -1: unchanged); null = as created (drover's user) */
  readonly owner: { readonly uid: number; readonly gid: number } | null;
}

/** The pool settings of an [eventlistener:x] section, carried by each of its processes. */
export interface EventListenerSpec {
  /** the event type names subscribed to, upper-case, sorted, each once */
  readonly events: readonly EventTypeName[];
  /** events the pool holds while no listener is ready; the oldest is dropped beyond it */
  readonly bufferSize: number;
  /**
   * supervisor's process-level priority: the section's `priority`, else 999. The process's own `priority`
   * above is the pool's (default -1), which orders starts and stops, as supervisor orders them by group.
   */
  readonly processPriority: number;
}

/** A listening socket the master binds once and hands to programs ([socket:NAME]). */
export interface SocketSpec {
  readonly name: string;
  readonly bind:
    | { readonly kind: 'tcp'; readonly host: string; readonly port: number }
    | { readonly kind: 'unix'; readonly path: string }
    | { readonly kind: 'fd'; readonly fd: number };
  readonly backlog: number;
  /** TCP: one SO_REUSEPORT socket per worker slot (balanced mode) instead of one shared socket */
  readonly reusePort: boolean;
  /** unix sockets: permission bits; null = leave as created (umask) */
  readonly mode: number | null;
  /** unix sockets: "user" or "user:group"; null = drover's */
  readonly owner: string | null;
  /** where its bind = is written (a bind error names the file, line and key) */
  readonly source: SourcePos;
  /** how a bind error names it instead of [socket:NAME] (`label =`; drover serve's -b as typed); absent: unset */
  readonly label?: string;
}

export interface GroupSpec {
  readonly name: string;
  readonly priority: number;
  /** program names; a homogeneous group (from one [program:x]) lists just that program */
  readonly programs: readonly string[];
  /** true for an explicit [group:x] section */
  readonly explicit: boolean;
}

export interface SupervisordSpec {
  readonly logfile: LogTarget;
  readonly logfileMaxBytes: number;
  readonly logfileBackups: number;
  readonly loglevel: 'critical' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'blather';
  readonly pidfile: string | null;
  readonly umask: number;
  readonly nodaemon: boolean;
  readonly silent: boolean;
  readonly minfds: number;
  readonly minprocs: number;
  readonly nocleanup: boolean;
  readonly childlogdir: string;
  readonly user: string | null;
  readonly directory: string | null;
  readonly strip_ansi: boolean;
  readonly environment: Readonly<Record<string, string>>;
  readonly identifier: string;
  /** drover: runtime directory for socket, pidfile, state (default `.drover/` beside the config) */
  readonly runtimeDir: string;
  /** drover: absolute path of a server-hooks module run in the master; null when none */
  readonly hooks: string | null;
  /** drover: absolute path of the shared primitives' journal (docs/shared.md); null keeps them in memory only */
  readonly journal: string | null;
  /** drover: fsync the journal after every batch of records (`journal_fsync`); false: at compaction and close only */
  readonly journalFsync: boolean;
  /** drover: 'memory', or the URL of the Redis server holding the shared primitives (`shared_backend`) */
  readonly sharedBackend: string;
  /** drover: key and channel prefix in Redis (`shared_prefix`) */
  readonly sharedPrefix: string;
  /** drover: a master silent in Redis this long counts as gone (`shared_liveness`) */
  readonly sharedLivenessMs: number;
  /** drover: how long a new master started by USR2 may take to have its serving processes running (`reexec_timeout`) */
  readonly reexecTimeoutMs: number;
  /** drover: the most bytes of tasks and state values the memory backend holds (`shared_max_bytes`); 0: no bound */
  readonly sharedMaxBytes: number;
}

export interface UnixHttpServerSpec {
  readonly file: string;
  readonly chmod: number;
  readonly chown: string | null;
  readonly username: string | null;
  readonly password: string | null;
  /** Host header names accepted besides the built-in ones (docs/security.md, section 7); ['*']: any */
  readonly allowedHosts: readonly string[];
}

export interface InetHttpServerSpec {
  readonly host: string;
  readonly port: number;
  readonly username: string | null;
  readonly password: string | null;
  /** Host header names accepted besides the built-in ones (docs/security.md, section 7); ['*']: any */
  readonly allowedHosts: readonly string[];
}

export interface SupervisorctlSpec {
  readonly serverurl: string | null;
  readonly username: string | null;
  readonly password: string | null;
  readonly prompt: string;
  readonly history_file: string | null;
}

export interface ConfigWarning {
  readonly file: string;
  readonly line: number;
  /** a typed config's property path (see SourcePos) */
  readonly path?: string;
  readonly section: string;
  readonly key: string | null;
  readonly message: string;
  /** the whole section is ignored: drover will not act on it */
  readonly sectionIgnored?: true;
}

/** The whole resolved configuration. */
export interface Config {
  /** absolute path of the main config file */
  readonly file: string;
  /** every file read, main first, then includes in the order supervisor reads them */
  readonly files: readonly string[];
  readonly supervisord: SupervisordSpec;
  readonly unixHttpServer: UnixHttpServerSpec | null;
  readonly inetHttpServer: InetHttpServerSpec | null;
  readonly supervisorctl: SupervisorctlSpec | null;
  /** sorted by (priority, name) as supervisor sorts process groups */
  readonly groups: readonly GroupSpec[];
  /** in group order, then process order within the group */
  readonly processes: readonly ProcessSpec[];
  /** [socket:x] sections, in file order */
  readonly sockets: readonly SocketSpec[];
  readonly warnings: readonly ConfigWarning[];
}

/** `cert_reqs`: none asks no client for a certificate; optional asks and checks one given; required refuses a client without one. */
export type ClientCerts = 'none' | 'optional' | 'required';
