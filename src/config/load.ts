// Reads a supervisor-compatible INI file into a frozen Config, resolving every program into its
// processes the way supervisord 4.2 does (options.py read_config / processes_from_section), or throws a
// ConfigProblems listing every problem found. Warnings (surprising but valid readings) go to
// config.warnings.
import { existsSync, statSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DroverError, formatConfigProblem, type ConfigErrorDetail } from '../errors.js';
import { directoryRefusal } from '../os/safe-dir.js';
import { socketDirectoryProblem, unixPathProblem } from '../os/unix-path.js';
import { lookupUser } from '../os/users.js';
import { ExpandError, expand, type ExpansionValue } from './expand.js';
import { addressClashes, everyAddress, hostPort } from './address-clash.js';
import { DEFAULT_SECTION, createIniDocument, getEntry, type IniDocument, type IniSection } from './ini.js';
import {
  FCGI_PROGRAM_KEYS,
  EVENTLISTENER_KEYS,
  GROUP_KEYS,
  INET_HTTP_SERVER_KEYS,
  PROGRAM_KEYS,
  SCHEMA,
  SECTION_PREFIXES,
  SUPERVISORCTL_KEYS,
  SOCKET_KEYS,
  SUPERVISORD_KEYS,
  UNIX_HTTP_SERVER_KEYS,
  defaultOf,
  sectionKind,
  type KeySpec,
} from './schema.js';
import { dependencyProblems } from './dependencies.js';
import { nearestKey } from './nearest.js';
import { ShlexError, splitCommand } from './shlex.js';
import { clientServerUrl } from './client-url.js';
import { ConfigProblems, dedupeWarnings, expansionProblem, pathOf, readConfigSources } from './sources.js';
import { evaluateTypedConfig, evaluateTypedConfigAsync, isTypedConfigFile, memberPath, quotedPair, readTypedConfig, type TypedEvaluation } from './typed.js';
import { ValueProblem, expandUser, keyValuePairs, processOrGroupName, refuseControlCharacters, type LogfileValue } from './datatypes.js';
import type {
  Config,
  ConfigWarning,
  FcgiSocketSpec,
  EventListenerSpec,
  GroupSpec,
  InetHttpServerSpec,
  LogTarget,
  ProcessSpec,
  SocketSpec,
  SourcePos,
  SupervisorctlSpec,
  SupervisordSpec,
  UnixHttpServerSpec,
} from './types.js';

export interface LoadOptions {
  /** environment for %(ENV_X)s; default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** %(host_node_name)s; default os.hostname() */
  readonly hostname?: string;
  /** numprocs to use instead of the file's, by program name (`drover scale` builds processes this way) */
  readonly numprocsOverride?: Readonly<Record<string, number>>;
  /**
   * typed configs: use the module's last evaluation (under the same `env` object) instead of evaluating it
   * again; for reads that only re-resolve what was loaded (a worker's sibling, `drover scale`), never a reload
   */
  readonly reuseEvaluation?: boolean;
  /** typed configs: the module's evaluation, made beforehand without blocking (loadConfigAsync) */
  readonly evaluation?: TypedEvaluation;
}

export { ConfigProblems } from './sources.js';

/**
 * One shared empty list and one empty environment for every process that has none: a config of 1000
 * programs otherwise holds four empty objects per program for the daemon's life (bench/RESULTS.md,
 * fifteenth session). Frozen, as a spec is never changed.
 */
const NONE: readonly never[] = Object.freeze([]);
const NO_ENV: Readonly<Record<string, string>> = Object.freeze({});
function lean<T>(list: readonly T[]): readonly T[] {
  return list.length === 0 ? NONE : list;
}
function leanObject(env: Record<string, string>): Readonly<Record<string, string>> {
  for (const _ in env) return env;
  return NO_ENV;
}

/** The worker runtime's entry point (dist/src/worker/main.js beside this file's dist/src/config/). */
/** The key of an [rpcinterface:x] section that names its Python factory. */
const RPC_FACTORY_KEY = 'supervisor.rpcinterface_factory';
/** supervisor's own interface (supervisor.*, system.*), which drover implements: its section needs no word. */
const STANDARD_RPC_FACTORY = 'supervisor.rpcinterface:make_main_rpcinterface';
const WORKER_MAIN = fileURLToPath(new URL('../worker/main.js', import.meta.url));

export { CONFIG_FILE_NAMES, findConfigFile } from './find.js';

/** Loads and resolves a config file. Throws ConfigProblems (a ConfigError) when anything is wrong. */
export function loadConfig(file: string, opts: LoadOptions = {}): Config {
  return new Loader(resolve(file), opts).load();
}

/**
 * loadConfig for the daemon, whose event loop must go on while a typed config's module runs (up to
 * TYPED_EVAL_TIMEOUT_MS): the module is evaluated first, asynchronously; the rest of the read is synchronous.
 */
export async function loadConfigAsync(file: string, opts: LoadOptions = {}): Promise<Config> {
  const path = resolve(file);
  if (!isTypedConfigFile(path) || !existsSync(path)) return loadConfig(path, opts);
  return loadConfig(path, { ...opts, evaluation: await evaluateTypedConfigAsync(path, opts.env ?? process.env) });
}

// --- internal ---

type Names = Map<string, ExpansionValue>;

/** Thrown inside the loader to abandon one key or section after recording a problem. */
class Recorded extends DroverError {
  constructor() {
    super('E_RECORDED', '');
  }
}

class Loader {
  readonly file: string;
  readonly here: string;
  readonly hostname: string;
  readonly doc: IniDocument = createIniDocument();
  readonly files: string[] = [];
  readonly problems: ConfigErrorDetail[] = [];
  /** a typed config's values that have no INI text (config/typed.ts), reported with the loader's problems */
  readonly typedProblems: ConfigErrorDetail[] = [];
  readonly warnings: ConfigWarning[] = [];
  /** ENV_X names: the environment, then [supervisord] environment (supervisor's environ_expansions) */
  readonly envNames: Names = new Map();
  readonly numprocsOverride: Readonly<Record<string, number>>;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly reuseEvaluation: boolean;
  readonly evaluation: TypedEvaluation | null;

  constructor(file: string, opts: LoadOptions) {
    this.file = file;
    this.reuseEvaluation = opts.reuseEvaluation ?? false;
    this.evaluation = opts.evaluation ?? null;
    this.numprocsOverride = opts.numprocsOverride ?? {};
    this.here = dirname(file);
    this.hostname = opts.hostname ?? osHostname();
    const env = opts.env ?? process.env;
    this.env = env;
    for (const [k, v] of Object.entries(env)) if (v !== undefined) this.envNames.set(`ENV_${k}`, v);
  }

  load(): Config {
    const names = new Map<string, ExpansionValue>([['here', this.here], ['host_node_name', this.hostname], ...this.envNames]);
    readConfigSources(this.file, this, names, isTypedConfigFile(this.file) ? (path) => this.readTypedFile(path) : undefined);
    this.checkSections();
    const supervisord = this.section(() => this.readSupervisord(), null);
    const { groups, processes } = this.readGroups();
    const unixHttpServer = this.section(() => this.readUnixHttpServer(supervisord?.runtimeDir ?? null), null);
    const inetHttpServer = this.section(() => this.readInetHttpServer(), null);
    const supervisorctl = this.section(() => this.readSupervisorctl(), null);
    const sockets = this.readSockets();
    this.checkSocketAddresses(sockets);
    this.checkSocketReferences(processes, sockets);
    this.problems.unshift(...this.typedProblems);
    this.checkFcgiSockets(processes, sockets);
    this.checkDependencies(processes, groups);
    if (this.problems.length > 0 || supervisord === null) throw new ConfigProblems(dedupeProblems(this.inFileOrder(this.problems)), dedupeWarnings(this.warnings));
    return deepFreeze({
      file: this.file,
      files: this.files,
      supervisord,
      unixHttpServer,
      inetHttpServer,
      supervisorctl,
      groups,
      processes,
      sockets,
      warnings: dedupeWarnings(this.warnings),
    });
  }

  // --- [socket:x] (drover) ---

  private readSockets(): SocketSpec[] {
    const out: SocketSpec[] = [];
    const names = (): Names => new Map<string, ExpansionValue>([...this.envNames, ['here', this.here]]);
    for (const section of this.doc.sections.keys()) {
      if (!section.startsWith('socket:')) continue;
      this.section(() => {
        const name = this.nameOf(section);
        const bind = this.getValue(section, 'bind', SOCKET_KEYS.bind, names());
        if (bind === null) this.fail(this.sectionPos(section), section, 'bind', 'a socket needs an address', undefined, 'bind = 127.0.0.1:8000 or bind = unix:/path.sock');
        const mode = this.getValue(section, 'mode', SOCKET_KEYS.mode, names());
        const owner = this.getValue(section, 'owner', SOCKET_KEYS.owner, names());
        const reusePort = this.getValue(section, 'reuse_port', SOCKET_KEYS.reuse_port, names()) ?? defaultOf(SOCKET_KEYS.reuse_port);
        const label = this.getValue(section, 'label', SOCKET_KEYS.label, names());
        if (reusePort && bind.kind !== 'tcp') {
          // several unix sockets cannot share one path, and an inherited fd is one socket: nothing to balance over
          this.fail(getEntry(this.doc, section, 'reuse_port')?.pos ?? this.sectionPos(section), section, 'reuse_port', `balanced mode needs a TCP address; ${bind.kind === 'unix' ? 'a unix socket' : 'an inherited fd://'} is always shared by the workers`, 'true', 'reuse_port = false, or bind = HOST:PORT');
        }
        if (bind.kind === 'tcp' && (mode !== null || owner !== null)) {
          this.warn(this.sectionPos(section), section, mode !== null ? 'mode' : 'owner', 'mode and owner apply to unix sockets only; ignored for a TCP address');
        }
        out.push({
          name,
          bind,
          backlog: this.getValue(section, 'backlog', SOCKET_KEYS.backlog, names()) ?? defaultOf(SOCKET_KEYS.backlog),
          reusePort,
          mode,
          owner,
          // where bind = is written: a bind error names it
          source: getEntry(this.doc, section, 'bind')?.pos ?? this.sectionPos(section),
          ...(label !== null && label.trim() !== '' ? { label: label.trim() } : {}),
        });
        return null;
      }, null);
    }
    return out;
  }

  /**
   * Two [socket:x] sections on one address: the second's bind(2) would fail with EADDRINUSE when drover
   * starts, so each is named here with its line instead. With reuse_port on both the kernel lets them bind,
   * and then spreads the address's connections over both sections' sockets (their programs get each
   * other's): still a mistake. A wildcard beside one of its addresses binds only with reuse_port on both.
   * Host names are compared as written, never looked up: a config is loaded inside the running master too
   * (a reload, a new worker's spec), where a lookup would block its event loop for as long as a nameserver
   * takes to answer; a name and the address it stands for on one port still fail at bind, as before.
   */
  private checkSocketAddresses(sockets: readonly SocketSpec[]): void {
    const binds = sockets.map((s) => s.bind);
    for (const clash of addressClashes(binds, (host) => host, (j, i) => sockets[j]?.reusePort === true && sockets[i]?.reusePort === true)) {
      const [earlier, later] = [sockets[clash.earlier], sockets[clash.later]];
      if (earlier === undefined || later === undefined) continue;
      const section = `socket:${later.name}`;
      const written = getEntry(this.doc, section, 'bind')?.value.trim() ?? '';
      const at = `${earlier.source.file}:${earlier.source.line}`;
      const shown = (s: SocketSpec): string => (s.bind.kind === 'unix' ? `unix:${s.bind.path}` : s.bind.kind === 'tcp' ? hostPort(s.bind.host, s.bind.port) : '');
      // a host name, or an IPv6 address written another way, is said with the address it is
      const resolved = clash.hosts !== null && later.bind.kind === 'tcp' && clash.hosts.later !== later.bind.host ? ` (${hostPort(clash.hosts.later, later.bind.port)})` : '';
      const expected = 'an address of its own, or one [socket:x] that every program using it names';
      if (clash.how === 'same') {
        const balanced = earlier.reusePort && later.reusePort ? "; with reuse_port on both the kernel would let them, and spread one address's connections over both sections' sockets" : '';
        this.record(later.source, section, 'bind', `${shown(later)}${resolved} is the address of [socket:${earlier.name}] too (${at}): two sections cannot listen on one address${balanced}`, written, expected);
      } else if (clash.how === 'inside') {
        this.record(later.source, section, 'bind', `${shown(later)}${resolved} is already bound by [socket:${earlier.name}] (${shown(earlier)}, ${everyAddress(clash.hosts?.earlier ?? '')}; ${at}): the second could not be bound at start (the address is in use) unless both sections have reuse_port = true`, written, expected);
      } else {
        this.record(later.source, section, 'bind', `${shown(later)} is ${everyAddress(clash.hosts?.later ?? '')}, which takes in the address of [socket:${earlier.name}] (${shown(earlier)}, ${at}): the second could not be bound at start (the address is in use) unless both sections have reuse_port = true`, written, expected);
      }
    }
  }

  private checkSocketReferences(processes: readonly ProcessSpec[], sockets: readonly SocketSpec[]): void {
    const known = new Set(sockets.map((s) => s.name));
    const reported = new Set<string>();
    for (const p of processes) {
      for (const name of p.sockets) {
        if (known.has(name) || reported.has(`${p.programName}/${name}`)) continue;
        reported.add(`${p.programName}/${name}`);
        const section = `program:${p.programName}`;
        this.record(getEntry(this.doc, section, 'sockets')?.pos ?? p.source, section, 'sockets', 'names a socket that has no [socket:x] section', name, known.size > 0 ? `one of: ${[...known].join(', ')}` : 'a [socket:NAME] section with bind = HOST:PORT');
      }
    }
    // A balanced socket is a set of slots, one per worker of one pool: the arbiter hands them out, so only
    // one `worker =` program can own it (a command program or a second pool would have no slot to take).
    for (const s of sockets.filter((x) => x.reusePort)) {
      const users = new Map<string, ProcessSpec>();
      for (const p of processes) if (p.sockets.includes(s.name)) users.set(p.programName, p);
      const section = `socket:${s.name}`;
      const pos = getEntry(this.doc, section, 'reuse_port')?.pos ?? s.source;
      const commands = [...users.values()].filter((p) => p.worker === null).map((p) => p.programName);
      if (commands.length > 0) {
        this.record(pos, section, 'reuse_port', `is named by command program(s) ${commands.join(', ')}; balanced slots are handed to the workers of one \`worker =\` program`, 'true', 'reuse_port = false (one shared socket) for command programs');
      } else if (users.size > 1) {
        this.record(pos, section, 'reuse_port', `is named by ${users.size} worker programs (${[...users.keys()].join(', ')}); a balanced socket belongs to one program`, 'true', 'one [socket:x] per program, or reuse_port = false');
      }
    }
  }

  /** depends_on across programs: unknown names, `:ready` without a check, jobs that never complete, cycles. */
  private checkDependencies(processes: readonly ProcessSpec[], groups: readonly GroupSpec[]): void {
    const declared = new Set([...this.doc.sections.keys()].filter((s) => s.startsWith('program:') || s.startsWith('group:')).map((s) => s.slice(s.indexOf(':') + 1)));
    for (const p of dependencyProblems(processes, groups, declared)) {
      const section = `program:${p.at?.program ?? p.program}`;
      const key = p.at?.key ?? 'depends_on';
      const pos = getEntry(this.doc, section, key)?.pos ?? this.sectionPos(section);
      if (p.severity === 'warning') this.warn(pos, section, key, p.message);
      else this.record(pos, section, 'depends_on', p.message, p.got, p.expected);
    }
  }

  // --- reading files ---

  /** A typed config: its module evaluated (config/typed.ts), its default export read into the document. */
  private readTypedFile(path: string): void {
    if (!existsSync(path)) {
      this.problems.push({ file: path, line: 0, section: '', key: null, message: 'config file not found' });
      throw new ConfigProblems(this.problems, dedupeWarnings(this.warnings));
    }
    const evaluation = (path === this.file ? this.evaluation : null) ?? evaluateTypedConfig(path, this.env, this.reuseEvaluation);
    this.files.push(path);
    if (evaluation.output !== '') {
      const text = evaluation.output.length > 2000 ? `${evaluation.output.slice(0, 2000)}…` : evaluation.output;
      this.warnings.push({ file: path, line: 0, section: '', key: null, message: `the module printed while it was evaluated:\n${text}` });
    }
    if (!evaluation.ok) {
      this.problems.push({ file: path, line: evaluation.line, section: '', key: null, message: evaluation.message });
      throw new ConfigProblems(this.problems, dedupeWarnings(this.warnings));
    }
    readTypedConfig(this.doc, evaluation.value, path);
    // a value the document could not take is left out (its default applies), so reading goes on and finds
    // the other problems; these are reported with them, first
    for (const e of this.doc.errors.splice(0)) this.typedProblems.push({ file: e.pos.file, line: e.pos.line, ...pathOf(e.pos), section: e.section, key: e.key, message: e.message, ...(e.got !== undefined ? { got: e.got } : {}), ...(e.expected !== undefined ? { expected: e.expected } : {}) });
  }

  /** Unknown sections and keys are warnings naming the nearest known one; [DEFAULT] reach is a warning. */
  private checkSections(): void {
    const allKeys = new Set<string>();
    for (const table of Object.values(SCHEMA)) for (const k of Object.keys(table)) allKeys.add(k);
    const sectionNames = [...this.doc.sections.keys()];
    for (const [name, section] of this.doc.sections) {
      const kind = sectionKind(name);
      if (kind === null) {
        const near = nearestKey(name.includes(':') ? name.slice(0, name.indexOf(':') + 1) : name, SECTION_PREFIXES);
        this.warn(section.pos, name, null, `unknown section, ignored${near ? ` (did you mean [${near}${near.endsWith(':') ? name.slice(name.indexOf(':') + 1) : ''}]?)` : ''}`, true);
        continue;
      }
      if (kind.kind === 'ignored') {
        if (name.startsWith('rpcinterface:')) this.checkRpcInterface(name, section);
        // supervisorctl's plugins (supervisor.ctl_factory): supervisord never reads them (options.py reads
        // them in ClientOptions only), and drover's CLI takes none, so the section does nothing in drover
        else if (name.startsWith('ctlplugin:')) this.warn(section.pos, name, null, "a supervisorctl plugin: drover does nothing with it (drover's CLI has no plugins; supervisorctl, reading this file, still loads it); the section is ignored", true);
        continue;
      }
      const table = SCHEMA[kind.kind];
      for (const [key, entry] of section.entries) {
        if (key in table) continue;
        const near = nearestKey(key, Object.keys(table));
        this.warn(entry.pos, name, key, `unknown key, ignored${near ? ` (did you mean "${near}"?)` : ''}`);
      }
    }
    for (const [key, entry] of this.doc.defaults) {
      if (!allKeys.has(key)) {
        const near = nearestKey(key, allKeys);
        this.warn(entry.pos, DEFAULT_SECTION, key, `unknown key, ignored${near ? ` (did you mean "${near}"?)` : ''}`);
      }
      const reach = sectionNames.filter((n) => !this.doc.sections.get(n)?.entries.has(key));
      if (reach.length > 0) {
        this.warn(entry.pos, DEFAULT_SECTION, key, `a [DEFAULT] value applies to every section that does not set "${key}" (supervisor reads it this way): ${reach.map((n) => `[${n}]`).join(', ')}`);
      }
    }
    if (this.doc.sections.has('supervisord') && this.doc.sections.has('drover')) {
      const d = this.doc.sections.get('drover');
      if (d) this.warn(d.pos, 'drover', null, '[drover] and [supervisord] are the same section; both are read and [drover] wins where both set a key');
    }
  }

  /**
   * `[rpcinterface:x]`: supervisord imports the Python factory it names and serves its methods over XML-RPC.
   * drover serves supervisor's standard interface itself (make_main_rpcinterface, silent here); any other
   * cannot be loaded, and a client calling its methods would get "unknown method" with nothing said at load.
   */
  private checkRpcInterface(name: string, section: IniSection): void {
    const factory = section.entries.get(RPC_FACTORY_KEY);
    const value = factory?.value.trim();
    if (value === STANDARD_RPC_FACTORY) return;
    const only = `the section is ignored (drover's XML-RPC serves supervisor's standard interface, ${STANDARD_RPC_FACTORY}, only)`;
    if (factory === undefined || value === '') this.warn(factory?.pos ?? section.pos, name, null, `sets no ${RPC_FACTORY_KEY}: ${only}`, true);
    else this.warn(factory.pos, name, RPC_FACTORY_KEY, `${JSON.stringify(value)} is a Python RPC interface, which drover cannot load: ${only}`, true);
  }

  // --- [supervisord] ---

  private readSupervisord(): SupervisordSpec {
    const names = (): Names => new Map<string, ExpansionValue>([...this.envNames, ['here', this.here]]);
    const sectionName = this.doc.sections.has('drover') ? 'drover' : 'supervisord';
    const present = this.doc.sections.has('drover') || this.doc.sections.has('supervisord');
    const lookup = (key: string) => {
      if (!present) return undefined;
      return this.doc.sections.get('drover')?.entries.get(key) ?? this.doc.sections.get('supervisord')?.entries.get(key) ?? this.doc.defaults.get(key);
    };
    const get = <T>(key: keyof typeof SUPERVISORD_KEYS, spec: KeySpec<T>): T | null => {
      const entry = lookup(key);
      const pos = entry?.pos ?? this.sectionPos(sectionName);
      const raw = entry?.value ?? spec.default;
      if (raw === null) return null;
      return this.parseValue(spec, this.expandValue(raw, names(), pos, sectionName, key), pos, sectionName, key);
    };
    const posOf = (key: string): SourcePos => lookup(key)?.pos ?? this.sectionPos(sectionName);
    const K = SUPERVISORD_KEYS;
    const errors: Recorded[] = [];
    const attempt = <T>(f: () => T, fallback: T): T => {
      try {
        return f();
      } catch (e) {
        if (e instanceof Recorded) {
          errors.push(e);
          return fallback;
        }
        throw e;
      }
    };
    /** a key's value, or its schema default when the file's value is bad (the error is recorded) */
    const setting = <T>(key: keyof typeof SUPERVISORD_KEYS, spec: KeySpec<T>): T => attempt(() => get(key, spec), null) ?? defaultOf(spec);
    // the user drover will run as ([supervisord] user): a directory of theirs is drover's own for its files
    const masterUser = attempt(() => get('user', K.user), null);
    this.masterUid = masterUser === null ? null : (lookupUser(masterUser)?.uid ?? null);
    const runtimeRaw = attempt(() => get('runtime_dir', K.runtime_dir), null);
    const runtimeDir = runtimeRaw ? resolve(this.here, expandUser(runtimeRaw)) : join(this.here, '.drover');
    // With no [unix_http_server], the control socket is runtime_dir/drover.sock. A path longer than the
    // kernel holds is refused here, where `drover check` reports it, rather than only when `up` listens.
    if (this.unixHttpServerSection() === undefined) {
      const socket = join(runtimeDir, 'drover.sock');
      const tooLong = unixPathProblem(socket);
      if (tooLong !== null) {
        const what = runtimeRaw === null ? `the control socket would be ${socket}, in the .drover directory beside the config file` : `the control socket would be ${socket}`;
        attempt(() => this.fail(posOf('runtime_dir'), sectionName, 'runtime_dir', `${what}: ${tooLong}`, runtimeRaw ?? undefined, 'a shorter runtime_dir, or [unix_http_server] file = a shorter path'), undefined);
      }
    }
    const existingDir = (key: 'childlogdir' | 'directory', raw: string | null): string | null => {
      if (raw === null) return null;
      const p = resolve(this.here, expandUser(raw));
      if (!isDirectory(p)) this.fail(posOf(key), sectionName, key, 'not an existing directory', raw, 'the path of an existing directory');
      return p;
    };
    const existingDirpath = (key: 'logfile' | 'pidfile', raw: string): string => {
      const p = resolve(this.here, expandUser(raw));
      if (!isDirectory(dirname(p))) this.fail(posOf(key), sectionName, key, 'the directory of this path does not exist', raw, 'a path in an existing directory');
      return p;
    };
    /** drover's own log, in a directory no other user controls (docs/security.md, finding 3) */
    const safeLogPath = (raw: string): string => {
      const p = existingDirpath('logfile', raw);
      const refusal = directoryRefusal(dirname(p), this.masterUid === null ? [] : [this.masterUid]);
      if (refusal !== null) this.fail(posOf('logfile'), sectionName, 'logfile', refusal, raw);
      return p;
    };
    const logRaw = attempt(() => get('logfile', K.logfile), null);
    const logfile: LogTarget = attempt(() => (logRaw === null ? join(runtimeDir, 'drover.log') : logRaw.type === 'none' ? 'NONE' : logRaw.type === 'path' ? safeLogPath(logRaw.path) : logRaw.type === 'auto' ? 'AUTO' : 'syslog'), 'NONE');
    const pidRaw = attempt(() => get('pidfile', K.pidfile), null);
    const pidfile = attempt(() => (pidRaw === null ? join(runtimeDir, 'drover.pid') : existingDirpath('pidfile', pidRaw)), null);
    const childlogdirRaw = attempt(() => get('childlogdir', K.childlogdir), null);
    const childlogdir = attempt(() => existingDir('childlogdir', childlogdirRaw), null) ?? join(runtimeDir, 'logs');
    this.explicitChildlogdir = childlogdirRaw === null ? null : childlogdir;
    const directory = attempt(() => existingDir('directory', attempt(() => get('directory', K.directory), null)), null);
    // supervisor expands [supervisord] environment twice: once like every key, then again with host_node_name
    const environment = attempt(() => {
      const entry = lookup('environment');
      if (!entry) return {};
      const once = this.expandValue(entry.value, names(), entry.pos, sectionName, 'environment');
      const twice = this.expandValue(once, new Map<string, ExpansionValue>([['here', this.here], ['host_node_name', this.hostname], ...this.envNames]), entry.pos, sectionName, 'environment');
      return this.parseEnvironment(twice, entry.pos, sectionName);
    }, {});
    for (const [k, v] of Object.entries(environment)) this.envNames.set(`ENV_${k}`, v);
    this.supervisordEnvironmentCache = environment;
    const spec: SupervisordSpec = {
      logfile,
      logfileMaxBytes: setting('logfile_maxbytes', K.logfile_maxbytes),
      logfileBackups: setting('logfile_backups', K.logfile_backups),
      loglevel: setting('loglevel', K.loglevel),
      pidfile,
      umask: setting('umask', K.umask),
      nodaemon: setting('nodaemon', K.nodaemon),
      silent: setting('silent', K.silent),
      minfds: setting('minfds', K.minfds),
      minprocs: setting('minprocs', K.minprocs),
      nocleanup: setting('nocleanup', K.nocleanup),
      childlogdir,
      user: masterUser,
      directory,
      strip_ansi: setting('strip_ansi', K.strip_ansi),
      environment,
      identifier: setting('identifier', K.identifier),
      runtimeDir,
      hooks: attempt(() => {
        const raw = get('hooks', K.hooks);
        if (raw === null || raw.trim() === '') return null;
        const path = resolve(this.here, expandUser(raw.trim()));
        if (!existsSync(path)) this.fail(posOf('hooks'), sectionName, 'hooks', 'the hooks module does not exist', path, 'a .js or .mjs module exporting server hooks');
        return path;
      }, null),
      journal: attempt(() => {
        const raw = get('journal', K.journal);
        if (raw === null || raw.trim() === '') return null;
        const path = resolve(this.here, expandUser(raw.trim()));
        if (!isDirectory(dirname(path))) this.fail(posOf('journal'), sectionName, 'journal', 'the directory of this path does not exist', raw, 'a path in an existing directory');
        return path;
      }, null),
      journalFsync: setting('journal_fsync', K.journal_fsync),
      sharedBackend: setting('shared_backend', K.shared_backend),
      sharedPrefix: attempt(() => {
        const v = (get('shared_prefix', K.shared_prefix) ?? defaultOf(K.shared_prefix)).trim();
        if (v === '') this.fail(posOf('shared_prefix'), sectionName, 'shared_prefix', 'is empty', v, 'a non-empty prefix such as drover or myapp');
        return v;
      }, null) ?? defaultOf(K.shared_prefix),
      sharedLivenessMs: attempt(() => {
        const secs = get('shared_liveness', K.shared_liveness) ?? defaultOf(K.shared_liveness);
        if (secs < 0.3) this.fail(posOf('shared_liveness'), sectionName, 'shared_liveness', 'is too short', String(secs), 'at least 300ms');
        return Math.round(secs * 1000);
      }, null) ?? Math.round(defaultOf(K.shared_liveness) * 1000),
      reexecTimeoutMs: Math.round(setting('reexec_timeout', K.reexec_timeout) * 1000),
      sharedMaxBytes: setting('shared_max_bytes', K.shared_max_bytes),
    };
    if (spec.sharedBackend !== 'memory' && spec.journal !== null && errors.length === 0) {
      this.fail(posOf('journal'), sectionName, 'journal', 'cannot be used with a Redis shared_backend (Redis keeps the data; use its own persistence)', spec.journal, 'no journal, or shared_backend = memory');
    }
    if (spec.journalFsync && spec.journal === null && errors.length === 0) {
      this.warn(posOf('journal_fsync'), sectionName, 'journal_fsync', 'has no effect without journal = PATH (nothing is journaled)');
    }
    if (errors.length > 0) throw new Recorded();
    return spec;
  }

  // --- groups and programs ---

  private readGroups(): { groups: GroupSpec[]; processes: ProcessSpec[] } {
    const sections = [...this.doc.sections.keys()];
    const baseNames = (): Names => new Map<string, ExpansionValue>([...this.envNames, ['here', this.here]]);
    const resolved: { spec: GroupSpec; processes: ProcessSpec[] }[] = [];
    const excluded = new Set<string>();
    // the section each group name came from: supervisord keeps the first group of a name and silently
    // drops the others ([group:a] beside [program:a], or [program:a] beside [program:a ])
    const groupSections = new Map<string, string>();
    const claimGroupName = (name: string, section: string): void => {
      const first = groupSections.get(name);
      if (first === undefined) {
        groupSections.set(name, section);
        return;
      }
      const pos = this.sectionPos(first);
      const spaces = first.slice(0, first.indexOf(':')) === section.slice(0, section.indexOf(':')) ? ' (supervisor strips the spaces around a name)' : '';
      this.fail(this.sectionPos(section), section, null, `makes a group named ${JSON.stringify(name)}, as [${first}] at ${pos.file}:${pos.line} does${spaces}: supervisor would run only one of the two`, name, 'a name no other [program:x] or [group:x] uses');
    };

    for (const section of sections) {
      if (!section.startsWith('group:')) continue;
      this.section(() => {
        const groupName = this.nameOf(section);
        claimGroupName(groupName, section);
        const programs = this.getValue(section, 'programs', GROUP_KEYS.programs, baseNames()) ?? [];
        const priority = this.getValue(section, 'priority', GROUP_KEYS.priority, baseNames()) ?? defaultOf(GROUP_KEYS.priority);
        const processes: ProcessSpec[] = [];
        const seen = new Set<string>();
        for (const program of programs) {
          const programSection = `program:${program}`;
          const fcgiSection = `fcgi-program:${program}`;
          const hasProgram = this.doc.sections.has(programSection);
          const hasFcgi = this.doc.sections.has(fcgiSection);
          const pos = getEntry(this.doc, section, 'programs')?.pos ?? this.sectionPos(section);
          if (!hasProgram && !hasFcgi) {
            const known = sections.filter((s) => s.startsWith('program:') || s.startsWith('fcgi-program:')).map((s) => s.slice(s.indexOf(':') + 1));
            this.fail(pos, section, 'programs', `names a program that has no [program:${program}] or [fcgi-program:${program}] section`, program, `one of: ${known.join(', ') || '(no programs defined)'}`);
          }
          if (hasProgram && hasFcgi) {
            this.fail(pos, section, 'programs', `"${program}" is ambiguous: both [program:${program}] and [fcgi-program:${program}] exist`, program, 'a name that only one section uses');
          }
          if (hasFcgi) {
            // supervisor 4.2 builds a group member from an fcgi-program as from a program: no socket
            this.warn(pos, section, 'programs', `supervisor runs [${fcgiSection}] named in a [group:x] as a plain program, without its socket (stdin is a pipe); drover does the same. Leave it out of the group to give it its socket`);
          }
          if (seen.has(program)) this.warn(pos, section, 'programs', `"${program}" is listed twice; supervisor creates its processes twice`);
          seen.add(program);
          const memberSection = hasProgram ? programSection : fcgiSection;
          excluded.add(memberSection);
          processes.push(...this.processesFromSection(memberSection, groupName));
        }
        resolved.push({ spec: { name: groupName, priority, programs: [...programs], explicit: true }, processes });
        return null;
      }, null);
    }

    for (const section of sections) {
      if (!section.startsWith('program:') || excluded.has(section)) continue;
      this.section(() => {
        const programName = this.nameOf(section);
        claimGroupName(programName, section);
        // a bad priority is reported again by processesFromSection; keep going to find the other problems
        const priority = this.section(() => this.getValue(section, 'priority', PROGRAM_KEYS.priority, baseNames()), null) ?? defaultOf(PROGRAM_KEYS.priority);
        const processes = this.processesFromSection(section, programName);
        resolved.push({ spec: { name: programName, priority, programs: [programName], explicit: false }, processes });
        return null;
      }, null);
    }

    // [eventlistener:x]: one pool (a group of its own) per section
    const groupNames = new Set(resolved.map((r) => r.spec.name));
    for (const section of sections) {
      if (!section.startsWith('eventlistener:')) continue;
      this.section(() => {
        const poolName = this.nameOf(section);
        if (groupNames.has(poolName)) {
          this.fail(this.sectionPos(section), section, null, `a program or group is also named ${JSON.stringify(poolName)}: supervisor would run only one of the two`, poolName, 'a name no [program:x] or [group:x] uses');
        }
        const priority = this.section(() => this.getValue(section, 'priority', EVENTLISTENER_KEYS.priority, baseNames()), null) ?? defaultOf(EVENTLISTENER_KEYS.priority);
        const processes = this.processesFromSection(section, poolName, 'eventlistener');
        resolved.push({ spec: { name: poolName, priority, programs: [poolName], explicit: false }, processes });
        return null;
      }, null);
    }
    resolved.push(...this.readFcgiPrograms(excluded, new Set(resolved.map((r) => r.spec.name))));

    // supervisor sorts groups by (priority, name); the sort is stable
    resolved.sort((a, b) => a.spec.priority - b.spec.priority || compareStrings(a.spec.name, b.spec.name));
    return { groups: resolved.map((r) => r.spec), processes: resolved.flatMap((r) => r.processes) };
  }

  /** supervisor's processes_from_section, including the order in which names become expandable. */
  private processesFromSection(section: string, groupName: string, kind: 'program' | 'eventlistener' = 'program', fcgiSocket: FcgiSocketSpec | null = null): ProcessSpec[] {
    const programName = this.nameOf(section);
    const sectionPos = this.sectionPos(section);
    // supervisor mutates this one dict as it goes: process_num, numprocs and each process's ENV_X
    // stay in it for later keys and later processes
    const common: Names = new Map<string, ExpansionValue>([
      ['here', this.here],
      ['program_name', programName],
      ['host_node_name', this.hostname],
      ['group_name', groupName],
    ]);
    const combined = (): Names => new Map<string, ExpansionValue>([...this.envNames, ...common]);
    const K = PROGRAM_KEYS;
    const failures: unknown[] = [];
    const read = <T>(key: string, spec: KeySpec<T>): T | null => {
      try {
        return this.getValue(section, key, spec, combined());
      } catch (e) {
        if (!(e instanceof Recorded)) throw e;
        failures.push(e);
        return null;
      }
    };
    /** a key's value, or its schema default when unset or bad (the error is recorded) */
    const setting = <T>(key: string, spec: KeySpec<T>): T => read(key, spec) ?? defaultOf(spec);
    const workerRaw = read('worker', K.worker);
    const isWorker = workerRaw !== null && workerRaw.trim() !== '';
    const priority = setting('priority', K.priority);
    const autostart = setting('autostart', K.autostart);
    // a prefork worker that exits is always replaced, as gunicorn keeps its worker count
    const autorestart = isWorker && !getEntry(this.doc, section, 'autorestart') ? 'true' : (setting('autorestart', K.autorestart));
    const startSecs = setting('startsecs', K.startsecs);
    const startRetries = setting('startretries', K.startretries);
    const stopSignal = setting('stopsignal', K.stopsignal);
    const stopWaitSecs = setting('stopwaitsecs', K.stopwaitsecs);
    // drover workers are always stopped and killed as a group (DESIGN §8)
    for (const k of isWorker ? (['stopasgroup', 'killasgroup'] as const) : []) {
      const entry = getEntry(this.doc, section, k);
      if (entry && read(k, K[k]) === false) {
        this.warn(entry.pos, section, k, `${k} = false has no effect on a worker = program: drover always stops and kills a pool's workers as a process group, so that nothing a worker started outlives it (holding its socket, say); ignored`);
      }
    }
    const stopAsGroup = isWorker || (setting('stopasgroup', K.stopasgroup));
    const killAsGroup = isWorker || (getEntry(this.doc, section, 'killasgroup') ? (read('killasgroup', K.killasgroup) ?? stopAsGroup) : stopAsGroup);
    const sockets = lean(read('sockets', K.sockets) ?? NONE);
    const maxRequests = setting('max_requests', K.max_requests);
    const maxRequestsJitter = setting('max_requests_jitter', K.max_requests_jitter);
    const heartbeatTimeoutSecs = setting('timeout', K.timeout);
    const gracefulTimeoutSecs = setting('graceful_timeout', K.graceful_timeout);
    const maxMemoryBytes = setting('max_memory', K.max_memory);
    const concurrency = setting('concurrency', K.concurrency);
    const accessLogFormat = setting('access_log', K.access_log) ? setting('access_log_format', K.access_log_format) : null;
    const keepAliveSecs = read('keep_alive', K.keep_alive);
    const keepAliveMs = keepAliveSecs === null ? null : Math.round(keepAliveSecs * 1000);
    const tlsRaw = this.tlsKeys(section, isWorker, read, failures);
    const forwardedAllowIps = read('forwarded_allow_ips', K.forwarded_allow_ips);
    const secureSchemeHeaders = read('secure_scheme_headers', K.secure_scheme_headers);
    for (const k of ['forwarded_allow_ips', 'secure_scheme_headers'] as const) {
      const entry = getEntry(this.doc, section, k);
      if (!isWorker && entry) this.warn(entry.pos, section, k, "applies to the fetch() apps of worker = programs (their request.url); ignored for a command program");
    }
    const forwarded = isWorker ? { allowIps: lean(forwardedAllowIps ?? defaultOf(K.forwarded_allow_ips)), schemeHeaders: secureSchemeHeaders ?? defaultOf(K.secure_scheme_headers) } : null;
    const watchRaw = read('watch', K.watch) ?? [];
    const watchIgnoreRaw = read('watch_ignore', K.watch_ignore) ?? [];
    const watchDebounceMs = Math.round(setting('watch_debounce', K.watch_debounce) * 1000);
    // ready and healthcheck are read per process (below): with numprocs, each may probe its own port
    const hasReady = getEntry(this.doc, section, 'ready') !== undefined;
    const orchestration = {
      readyTimeoutSecs: setting('ready_timeout', K.ready_timeout),
      readyIntervalSecs: setting('ready_interval', K.ready_interval),
      dependsOn: lean(read('depends_on', K.depends_on) ?? NONE),
      healthcheckIntervalSecs: setting('healthcheck_interval', K.healthcheck_interval),
      healthcheckTimeoutSecs: setting('healthcheck_timeout', K.healthcheck_timeout),
      healthcheckRetries: setting('healthcheck_retries', K.healthcheck_retries),
      essential: setting('essential', K.essential),
    };
    const spareWorkers = setting('spare_workers', K.spare_workers);
    const exitCodes = read('exitcodes', K.exitcodes) ?? [0];
    const redirectStderr = setting('redirect_stderr', K.redirect_stderr);
    const override = Object.hasOwn(this.numprocsOverride, programName) ? this.numprocsOverride[programName] : undefined;
    const numprocs = override ?? setting('numprocs', K.numprocs);
    const numprocsStart = setting('numprocs_start', K.numprocs_start);
    const environmentEntry = getEntry(this.doc, section, 'environment');
    const stdoutCaptureMaxBytes = setting('stdout_capture_maxbytes', K.stdout_capture_maxbytes);
    const stdoutEventsEnabled = setting('stdout_events_enabled', K.stdout_events_enabled);
    const stderrCaptureMaxBytes = setting('stderr_capture_maxbytes', K.stderr_capture_maxbytes);
    const stderrEventsEnabled = setting('stderr_events_enabled', K.stderr_events_enabled);
    let serverUrl = read('serverurl', K.serverurl);
    if (serverUrl !== null && serverUrl.trim().toUpperCase() === 'AUTO') serverUrl = null;
    const user = read('user', K.user);
    // a directory of the program's own user is accepted for its logs
    const userUid = user === null ? null : (lookupUser(user)?.uid ?? null);
    const ownUid = this.masterUid ?? process.getuid?.() ?? 0;
    if (userUid !== null && ownUid !== 0 && userUid !== ownUid) {
      // the spawn would fail each time (supervisord: "Can't drop privilege as nonroot user")
      this.warn(getEntry(this.doc, section, 'user')?.pos ?? sectionPos, section, 'user', `drover runs as uid ${ownUid}, not as root, so it cannot run this program as ${user}: its starts will fail (run drover as root, or remove user=)`);
    }
    const umask = read('umask', K.umask);
    const backoff = setting('backoff', K.backoff);
    const backoffMaxSecs = setting('backoff_max', K.backoff_max);
    const fatalCooldownSecs = read('fatal_cooldown', K.fatal_cooldown);
    const pdeathsig = setting('pdeathsig', K.pdeathsig);
    const timestamps = setting('timestamps', K.timestamps);
    const logFormat = setting('log_format', K.log_format);
    const logfileRotate = read('logfile_rotate', K.logfile_rotate) ?? null;
    const logfileGzip = setting('logfile_gzip', K.logfile_gzip);
    const processNameEntry = getEntry(this.doc, section, 'process_name');
    // workers are numbered (web_0, web_1, …) even when there is one, so TTIN and recycling can add more
    const processNameRaw = processNameEntry?.value ?? (isWorker ? '%(program_name)s_%(process_num)d' : '%(program_name)s');
    const processNamePos = processNameEntry?.pos ?? sectionPos;
    let processName = processNameRaw;
    try {
      processName = processOrGroupName(processNameRaw);
      if (processName === '') throw new ValueProblem('a process name must not be empty', 'a name such as %(program_name)s');
    } catch (e) {
      if (!(e instanceof ValueProblem)) throw e;
      this.record(processNamePos, section, 'process_name', e.message, processNameRaw, e.expected);
      failures.push(e);
    }
    if (numprocs > 1 && !processName.includes('%(process_num)')) {
      const pos = processNameEntry?.pos ?? getEntry(this.doc, section, 'numprocs')?.pos ?? sectionPos;
      this.record(pos, section, processNameEntry ? 'process_name' : 'numprocs', `numprocs is ${numprocs}, so process_name must contain %(process_num) to give each process its own name`, processNameRaw, 'a process_name such as %(program_name)s_%(process_num)02d');
      failures.push(null);
    }
    if (stopAsGroup && !killAsGroup) {
      this.record(getEntry(this.doc, section, 'killasgroup')?.pos ?? sectionPos, section, 'killasgroup', 'stopasgroup=true needs killasgroup=true (a group that is stopped together must also be killed together)', 'false', 'true, or leave killasgroup unset');
      failures.push(null);
    }
    const hasCommand = getEntry(this.doc, section, 'command') !== undefined;
    if (!hasCommand && !isWorker) {
      this.record(sectionPos, section, 'command', 'every program needs a command (or a worker module)', undefined, 'command = /path/to/program [args...], or worker = ./app.mjs');
      failures.push(null);
    }
    if (hasCommand && isWorker) {
      this.record(getEntry(this.doc, section, 'worker')?.pos ?? sectionPos, section, 'worker', 'give either command or worker, not both', undefined, 'command = ... for any program, or worker = ./module.mjs for a Node module');
      failures.push(null);
    }
    if (isWorker && hasReady) {
      this.record(getEntry(this.doc, section, 'ready')?.pos ?? sectionPos, section, 'ready', 'a worker program reports ready itself (once it listens, or its setup is done)', undefined, 'no ready key on a worker = program');
      failures.push(null);
    }
    const eventListener = kind === 'eventlistener' ? this.readListener(section, combined(), priority, redirectStderr, isWorker, failures) : null;
    // with problems above, the keys read per process are still checked (each problem is reported, not only
    // the first), but no process is built
    const attempt = <T>(f: () => T, fallback: T): T => orFallback(failures, f, fallback);
    const noLog = { target: 'NONE' as LogTarget, maxBytes: 0, backups: 0, syslog: false };
    // a worker says when it is ready; a ready check replaces startsecs and has a time limit
    const readiness = isWorker || hasReady ? 'reported' : 'startsecs';
    const readyTimeoutSecs = hasReady ? orchestration.readyTimeoutSecs : null;

    const out: ProcessSpec[] = [];
    for (let processNum = numprocsStart; processNum < numprocsStart + numprocs; processNum++) {
      common.set('process_num', processNum);
      common.set('numprocs', numprocs);
      for (const [k, v] of this.envNames) common.set(k, v);
      const environment = environmentEntry
        ? attempt(() => this.parseEnvironment(this.expandValue(environmentEntry.value, common, environmentEntry.pos, section, 'environment'), environmentEntry.pos, section), {})
        : {};
      for (const [k, v] of Object.entries(environment)) common.set(`ENV_${k}`, v);
      const directory = attempt(() => this.getValue(section, 'directory', K.directory, combined()), null);
      const logs = {
        stdout: attempt(() => this.readLog(section, 'stdout', common, combined(), userUid, false), noLog),
        stderr: attempt(() => this.readLog(section, 'stderr', common, combined(), userUid, redirectStderr), { ...noLog }),
      };
      if (redirectStderr) {
        if (logs.stderr.target !== 'AUTO' && logs.stderr.target !== 'NONE') {
          this.warn(getEntry(this.doc, section, 'stderr_logfile')?.pos ?? sectionPos, section, 'stderr_logfile', 'redirect_stderr=true sends stderr to the stdout log, so this file is ignored');
        }
        logs.stderr.target = 'NONE';
      }
      const noCommand = { command: '', argv: [] as string[], worker: null as string | null };
      // a program without a command was reported above
      const { command, argv, worker } = isWorker || hasCommand ? attempt(() => this.commandOf(section, isWorker, directory, combined()), noCommand) : noCommand;
      const name = attempt(() => {
        const expanded = this.expandValue(processName, common, processNamePos, section, 'process_name');
        try {
          // the template was checked above, but an expansion (%(ENV_X)s) can bring a newline in
          refuseControlCharacters(expanded);
          if (expanded.trim() === '' && processName !== '') throw new ValueProblem(`process_name ${JSON.stringify(processName)} expands to an empty name`, 'a process_name that gives a name (%(program_name)s, say)');
        } catch (e) {
          if (!(e instanceof ValueProblem)) throw e;
          this.fail(processNamePos, section, 'process_name', e.message, expanded, e.expected);
        }
        return expanded;
      }, '');
      const pidfile = attempt(() => this.getValue(section, 'pidfile', K.pidfile, combined()), null);
      const ready = isWorker ? null : attempt(() => this.getValue(section, 'ready', K.ready, combined()), null);
      const healthcheck = attempt(() => this.getValue(section, 'healthcheck', K.healthcheck, combined()), null);
      const { certfile, keyfile, ca_certs: caCerts, cert_reqs: clientCerts, ciphers } = tlsRaw;
      const tls =
        certfile !== null && keyfile !== null
          ? attempt(() => ({ certFile: this.tlsFile(section, 'certfile', certfile, directory), keyFile: this.tlsFile(section, 'keyfile', keyfile, directory), caFile: caCerts === null ? null : this.tlsFile(section, 'ca_certs', caCerts, directory), clientCerts, ciphers }), null)
          : null;
      // the first process with a problem has shown each one; the others would repeat them
      if (failures.length > 0) throw new Recorded();
      // relative to the program's directory, else to the config file, as worker = is
      const watch = lean(watchRaw.map((g) => resolve(directory ?? this.here, expandUser(g))));
      const watchIgnore = lean(watchIgnoreRaw.map((g) => resolve(directory ?? this.here, expandUser(g))));
      out.push({
        group: groupName,
        name,
        programName,
        processNum,
        numprocs,
        command,
        argv,
        // a listener starts and stops with its pool's priority (supervisor orders by group)
        priority: eventListener === null || getEntry(this.doc, section, 'priority') ? priority : defaultOf(EVENTLISTENER_KEYS.priority),
        autostart,
        autorestart,
        startSecs,
        startRetries,
        exitCodes,
        stopSignal,
        stopWaitSecs: isWorker ? gracefulTimeoutSecs : stopWaitSecs,
        stopAsGroup,
        killAsGroup,
        directory,
        umask,
        user,
        environment: leanObject({ ...this.supervisordEnvironment(), ...environment }),
        redirectStderr,
        stdoutLogfile: logs.stdout.target,
        stdoutLogfileMaxBytes: logs.stdout.maxBytes,
        stdoutLogfileBackups: logs.stdout.backups,
        stdoutCaptureMaxBytes,
        stdoutEventsEnabled,
        stdoutSyslog: logs.stdout.syslog,
        stderrLogfile: logs.stderr.target,
        stderrLogfileMaxBytes: logs.stderr.maxBytes,
        stderrLogfileBackups: logs.stderr.backups,
        stderrCaptureMaxBytes,
        stderrEventsEnabled,
        stderrSyslog: logs.stderr.syslog,
        serverUrl,
        backoff,
        backoffMaxSecs,
        fatalCooldownSecs,
        pidfile,
        pdeathsig,
        timestamps,
        logFormat,
        logfileRotate,
        logfileGzip,
        source: sectionPos,
        worker,
        sockets,
        maxRequests,
        maxRequestsJitter,
        heartbeatTimeoutSecs,
        gracefulTimeoutSecs,
        maxMemoryBytes,
        concurrency,
        accessLogFormat,
        keepAliveMs,
        tls,
        forwarded,
        watch,
        watchIgnore,
        watchDebounceMs,
        fcgiSocket,
        ...orchestration,
        ready,
        healthcheck,
        readiness,
        readyTimeoutSecs,
        eventListener,
        spareWorkers,
      });
    }
    // supervisor sorts the processes of one section by (priority, name)
    return out.sort((a, b) => a.priority - b.priority || compareStrings(a.name, b.name));
  }

  /**
   * The HTTPS keys of a program, checked together: certfile and keyfile both or neither, on worker programs
   * only; ca_certs and cert_reqs only with them, and cert_reqs optional or required only with ca_certs.
   * A problem is recorded (and pushed to `failures`); the value read stays, so the others are checked too.
   */
  private tlsKeys(section: string, isWorker: boolean, read: <T>(key: string, spec: KeySpec<T>) => T | null, failures: unknown[]) {
    const K = PROGRAM_KEYS;
    const raw = { certfile: read('certfile', K.certfile), keyfile: read('keyfile', K.keyfile), ca_certs: read('ca_certs', K.ca_certs), cert_reqs: read('cert_reqs', K.cert_reqs) ?? defaultOf(K.cert_reqs), ciphers: read('ciphers', K.ciphers) };
    const posOf = (key: string): SourcePos => getEntry(this.doc, section, key)?.pos ?? this.sectionPos(section);
    const problem = (key: string, message: string, expected: string): void => {
      this.record(posOf(key), section, key, message, getEntry(this.doc, section, key)?.value, expected);
      failures.push(null);
    };
    const given = (['certfile', 'keyfile', 'ca_certs', 'cert_reqs', 'ciphers'] as const).filter((k) => getEntry(this.doc, section, k) !== undefined && (k === 'cert_reqs' || raw[k] !== null));
    for (const key of given) {
      if (!isWorker) problem(key, 'HTTPS is served by drover worker programs (worker = ./app.mjs); a command program serves its own', `no ${key} here, or worker = instead of command =`);
      else if (key === 'certfile' && raw.keyfile === null) problem(key, 'certfile needs keyfile: HTTPS takes a certificate and its private key', 'keyfile = /path/to/key.pem beside it');
      else if (key === 'keyfile' && raw.certfile === null) problem(key, 'keyfile needs certfile: HTTPS takes a certificate and its private key', 'certfile = /path/to/cert.pem beside it');
      else if ((key === 'ca_certs' || key === 'cert_reqs') && raw.certfile === null) problem(key, `${key} needs certfile and keyfile: client certificates are asked for on HTTPS connections`, 'certfile and keyfile beside it');
      else if (key === 'ciphers' && raw.certfile === null) problem(key, 'ciphers needs certfile and keyfile: cipher suites are offered on HTTPS connections', 'certfile and keyfile beside it');
    }
    if (isWorker && raw.certfile !== null) {
      if (raw.cert_reqs !== 'none' && raw.ca_certs === null) problem('cert_reqs', `cert_reqs = ${raw.cert_reqs} needs ca_certs: the certificate authorities that sign the clients' certificates`, 'ca_certs = /path/to/ca.pem beside it');
      if (raw.cert_reqs === 'none' && raw.ca_certs !== null) this.warn(posOf('ca_certs'), section, 'ca_certs', 'has no effect with cert_reqs = none (the default): no client is asked for a certificate; set cert_reqs = optional or required');
    }
    return raw;
  }

  /** certfile, keyfile or ca_certs, resolved as worker = is; it must exist (the worker reads it, as the program's user). */
  private tlsFile(section: string, key: 'certfile' | 'keyfile' | 'ca_certs', value: string, directory: string | null): string {
    const pos = getEntry(this.doc, section, key)?.pos ?? this.sectionPos(section);
    const path = resolve(directory ?? this.here, expandUser(value.trim()));
    const what = { certfile: 'certificate', keyfile: 'key', ca_certs: 'CA certificates' }[key];
    if (!existsSync(path)) this.fail(pos, section, key, `the ${what} file does not exist`, path, 'a PEM file');
    return path;
  }

  /** A program's command line, or a worker's module and the command that runs it. Problems are recorded (Recorded). */
  private commandOf(section: string, isWorker: boolean, directory: string | null, names: Names): { command: string; argv: string[]; worker: string | null } {
    const sectionPos = this.sectionPos(section);
    if (isWorker) {
      const workerEntry = getEntry(this.doc, section, 'worker');
      const workerPos = workerEntry?.pos ?? sectionPos;
      const raw = this.expandValue((workerEntry?.value ?? '').trim(), names, workerPos, section, 'worker');
      const worker = resolve(directory ?? this.here, expandUser(raw));
      if (!existsSync(worker)) this.fail(workerPos, section, 'worker', 'the worker module does not exist', worker, 'a path to a .js, .mjs, .cjs or .ts module');
      return { command: `${process.execPath} ${WORKER_MAIN} ${worker}`, argv: [process.execPath, WORKER_MAIN, worker], worker };
    }
    const commandEntry = getEntry(this.doc, section, 'command');
    const commandPos = commandEntry?.pos ?? sectionPos;
    const command = this.expandValue(commandEntry?.value ?? '', names, commandPos, section, 'command');
    let argv: string[];
    try {
      argv = splitCommand(command);
    } catch (e) {
      if (!(e instanceof ShlexError)) throw e;
      this.fail(commandPos, section, 'command', `cannot split the command: ${e.message}`, command, 'a command line with balanced quotes');
    }
    if (argv.length === 0) this.fail(commandPos, section, 'command', 'the command is empty', command, 'command = /path/to/program [args...]');
    return { command, argv, worker: null };
  }

  /**
   * The keys of an [eventlistener:x] beyond a program's: events (required), buffer_size, result_handler (the
   * default only), and no redirect_stderr or worker. Problems are recorded and pushed on `failures`.
   */
  private readListener(section: string, names: Names, processPriority: number, redirectStderr: boolean, isWorker: boolean, failures: unknown[]): EventListenerSpec {
    const K = EVENTLISTENER_KEYS;
    const sectionPos = this.sectionPos(section);
    const attempt = <T>(f: () => T, fallback: T): T => orFallback(failures, f, fallback);
    const events = attempt(() => this.getValue(section, 'events', K.events, names), null) ?? [];
    if (!getEntry(this.doc, section, 'events')) {
      this.record(sectionPos, section, 'events', 'an event listener needs the event types it receives', undefined, 'events = PROCESS_STATE_EXITED (or PROCESS_STATE, TICK_60, … comma-separated)');
      failures.push(null);
    }
    const bufferSize = attempt(() => this.getValue(section, 'buffer_size', K.buffer_size, names), null) ?? defaultOf(K.buffer_size);
    attempt(() => this.getValue(section, 'result_handler', K.result_handler, names), null);
    if (redirectStderr) {
      this.record(getEntry(this.doc, section, 'redirect_stderr')?.pos ?? sectionPos, section, 'redirect_stderr', "an event listener's stdout is the listener protocol: stderr mixed into it would break it (supervisor refuses it too)", 'true', 'false, or leave it out');
      failures.push(null);
    }
    if (isWorker) {
      this.record(getEntry(this.doc, section, 'worker')?.pos ?? sectionPos, section, 'worker', 'an event listener runs a command that speaks the listener protocol on stdin and stdout', undefined, 'command = /path/to/listener [args...]');
      failures.push(null);
    }
    return { events, bufferSize, processPriority };
  }

  /** One stream's log settings; `redirected`: stderr goes into the stdout log (redirect_stderr), so no file of its own is made. */
  private readLog(section: string, stream: 'stdout' | 'stderr', common: Names, names: Names, userUid: number | null, redirected: boolean): { target: LogTarget; maxBytes: number; backups: number; syslog: boolean } {
    const K = PROGRAM_KEYS;
    const key = `${stream}_logfile`;
    const entry = getEntry(this.doc, section, key);
    const pos = entry?.pos ?? this.sectionPos(section);
    let value: LogfileValue = { type: 'auto' };
    /** the value as expanded for this process, for messages (supervisord names the expanded path too) */
    let shown = 'AUTO';
    if (entry) {
      // supervisor expands a logfile value twice, so "%%" has to be written "%%%%"
      const once = this.expandValue(entry.value, names, pos, section, key);
      shown = this.expandValue(once, common, pos, section, key);
      value = this.parseValue(K.stdout_logfile, shown, pos, section, key);
    }
    const backups = this.getValue(section, `${key}_backups`, K.stdout_logfile_backups, names) ?? defaultOf(K.stdout_logfile_backups);
    const maxBytes = this.getValue(section, `${key}_maxbytes`, K.stdout_logfile_maxbytes, names) ?? defaultOf(K.stdout_logfile_maxbytes);
    let syslog = this.getValue(section, `${stream}_syslog`, K.stdout_syslog, names) ?? defaultOf(K.stdout_syslog);
    let target: LogTarget;
    switch (value.type) {
      case 'auto': {
        target = 'AUTO';
        // supervisor warns here even for a redirected stderr, whose file is never made
        if (redirected) break;
        if (!maxBytes) this.warn(pos, section, key, `AUTO log without rotation (${key}_maxbytes = 0) can fill the disk`);
        // the default childlogdir is in the runtime directory, which drover creates and checks itself
        const refusal = this.explicitChildlogdir === null ? null : this.logDirRefusal(this.explicitChildlogdir, userUid);
        if (refusal !== null) this.fail(pos, section, key, `AUTO logs go to childlogdir, and ${refusal}`, shown);
        break;
      }
      case 'none':
        target = 'NONE';
        break;
      case 'syslog':
        this.warn(pos, section, key, `"${key} = syslog" is deprecated in supervisor; drover reads it as ${key} = NONE and ${stream}_syslog = true`);
        target = 'NONE';
        syslog = true;
        break;
      case 'path': {
        target = value.path;
        if (target === '') {
          target = 'NONE';
          break;
        }
        const dir = dirname(resolve(this.here, target));
        if (target.includes('/') && !isDirectory(dir)) {
          this.fail(pos, section, key, `the directory ${dir} does not exist`, shown, 'a path in an existing directory, AUTO or NONE');
        }
        const refusal = this.logDirRefusal(dir, userUid);
        if (refusal !== null) this.fail(pos, section, key, refusal, shown);
        break;
      }
      default: {
        const never: never = value;
        throw new Error(`unhandled logfile value ${JSON.stringify(never)}`);
      }
    }
    return { target, maxBytes, backups, syslog };
  }

  /** the uid of `[supervisord] user` (drover switches to it at start), else null */
  private masterUid: number | null = null;
  /** [supervisord] childlogdir when the config sets it (AUTO logs are checked against it), else null */
  private explicitChildlogdir: string | null = null;
  /** directoryRefusal answers by "dir\0uid": a thousand programs usually share a few log directories */
  private readonly logDirRefusals = new Map<string, string | null>();

  /** Why drover would not open a log of a program running as `userUid` in `dir`, or null (os/safe-dir.ts). */
  private logDirRefusal(dir: string, userUid: number | null): string | null {
    const k = `${dir}\0${userUid ?? ''}`;
    let refusal = this.logDirRefusals.get(k);
    if (refusal === undefined) {
      refusal = directoryRefusal(dir, [userUid, this.masterUid].filter((u): u is number => u !== null));
      this.logDirRefusals.set(k, refusal);
    }
    return refusal;
  }

  private supervisordEnvironmentCache: Record<string, string> | null = null;
  private supervisordEnvironment(): Record<string, string> {
    return this.supervisordEnvironmentCache ?? {};
  }

  // --- [fcgi-program:x] ---

  /**
   * supervisor's FastCGI groups: each [fcgi-program:x] that no [group:x] names is a group of its own,
   * whose processes all get one socket as their stdin (options.py process_groups_from_parser and
   * parse_fcgi_socket, with their defaults: mode 0700, owner the program's user when it differs).
   */
  private readFcgiPrograms(excluded: ReadonlySet<string>, groupNames: ReadonlySet<string>): { spec: GroupSpec; processes: ProcessSpec[] }[] {
    const out: { spec: GroupSpec; processes: ProcessSpec[] }[] = [];
    const K = FCGI_PROGRAM_KEYS;
    for (const section of this.doc.sections.keys()) {
      if (!section.startsWith('fcgi-program:') || excluded.has(section)) continue;
      this.section(() => {
        const programName = this.nameOf(section);
        const sectionPos = this.sectionPos(section);
        const names = (): Names => new Map<string, ExpansionValue>([...this.envNames, ['here', this.here]]);
        const posOf = (key: string): SourcePos => getEntry(this.doc, section, key)?.pos ?? sectionPos;
        let failed = false;
        const read = <T>(key: string, spec: KeySpec<T>, expansions: Names = names()): T | null => {
          try {
            return this.getValue(section, key, spec, expansions);
          } catch (e) {
            if (!(e instanceof Recorded)) throw e;
            failed = true;
            return null;
          }
        };
        const problem = (key: string | null, message: string, got?: string, expected?: string): void => {
          this.record(key === null ? sectionPos : posOf(key), section, key, message, got, expected);
          failed = true;
        };
        if (groupNames.has(programName)) problem(null, `a group named ${programName} already exists; supervisor would keep only one of them`, programName, 'a name no [program:x] or [group:x] uses');
        if (getEntry(this.doc, section, 'worker')) problem('worker', 'an fcgi-program runs a command, not a drover worker module', undefined, 'command = ...');
        if (getEntry(this.doc, section, 'pidfile')) problem('pidfile', 'an fcgi-program must stay in the foreground: its socket is released when the process drover started exits', undefined, 'no pidfile');
        const priority = read('priority', K.priority) ?? defaultOf(K.priority);
        const user = read('user', K.user);
        const backlog = read('socket_backlog', K.socket_backlog);
        const owner = read('socket_owner', K.socket_owner);
        const mode = read('socket_mode', K.socket_mode) ?? defaultOf(K.socket_mode);
        // supervisor expands the socket with %(program_name)s besides %(here)s and %(ENV_X)s
        const bind = read('socket', K.socket, new Map<string, ExpansionValue>([...names(), ['program_name', programName]]));
        if (bind === null && !getEntry(this.doc, section, 'socket')) {
          problem('socket', 'an fcgi-program needs a socket', undefined, `socket = tcp://127.0.0.1:9000 or socket = unix:///run/${programName}.sock`);
        }
        if (bind?.kind === 'tcp') {
          for (const key of ['socket_owner', 'socket_mode']) {
            const entry = getEntry(this.doc, section, key);
            if (entry) problem(key, 'applies to unix sockets only', entry.value, `no ${key} with a tcp:// socket`);
          }
        }
        if (failed || bind === null) throw new Recorded();
        let fcgiSocket: FcgiSocketSpec;
        if (bind.kind === 'unix') {
          let socketOwner = owner;
          const programUser = user === null ? null : lookupUser(user);
          // a program running as another user gets a socket it can accept on (supervisor's default)
          if (socketOwner === null && programUser && programUser.uid !== process.getuid?.()) socketOwner = { uid: programUser.uid, gid: programUser.gid };
          fcgiSocket = { url: `unix://${bind.path}`, bind, backlog, mode, owner: socketOwner };
        } else {
          fcgiSocket = { url: `tcp://${bind.host}:${bind.port}`, bind, backlog, mode: null, owner: null };
        }
        const processes = this.processesFromSection(section, programName, 'program', fcgiSocket);
        out.push({ spec: { name: programName, priority, programs: [programName], explicit: false }, processes });
        return null;
      }, null);
    }
    return out;
  }

  /** Two fcgi-programs, or one and a [socket:x], on one address would fight over it (supervisor: EADDRINUSE, or a unix socket silently taken over). */
  private checkFcgiSockets(processes: readonly ProcessSpec[], sockets: readonly SocketSpec[]): void {
    const owners = new Map<string, { program: string; bind: FcgiSocketSpec['bind'] }>();
    for (const p of processes) {
      if (p.fcgiSocket === null || owners.get(p.fcgiSocket.url)?.program === p.programName) continue;
      const section = `fcgi-program:${p.programName}`;
      const pos = getEntry(this.doc, section, 'socket')?.pos ?? p.source;
      const clash = [...owners.values()].find((o) => sameAddress(o.bind, p.fcgiSocket?.bind));
      if (clash) {
        this.record(pos, section, 'socket', `[fcgi-program:${clash.program}] uses the same address`, p.fcgiSocket.url, 'an address of its own for each fcgi-program');
        continue;
      }
      const taken = sockets.find((s) => s.bind.kind !== 'fd' && sameAddress(s.bind, p.fcgiSocket?.bind));
      if (taken) this.record(pos, section, 'socket', `[socket:${taken.name}] binds the same address`, p.fcgiSocket.url, 'an address no [socket:x] binds');
      owners.set(p.fcgiSocket.url, { program: p.programName, bind: p.fcgiSocket.bind });
    }
  }

  // --- servers and supervisorctl ---

  /** The [unix_http_server] section's name as written, if the file has one. */
  private unixHttpServerSection(): string | undefined {
    return [...this.doc.sections.keys()].find((s) => s.startsWith('unix_http_server'));
  }

  /** `runtimeDir`: null when [supervisord] did not load (its problem is reported) */
  private readUnixHttpServer(runtimeDir: string | null): UnixHttpServerSpec | null {
    const section = this.unixHttpServerSection();
    if (section === undefined) return null;
    const names = new Map<string, ExpansionValue>([...this.envNames, ['here', this.here]]);
    const K = UNIX_HTTP_SERVER_KEYS;
    const file = this.getValue(section, 'file', K.file, names);
    if (file === null) this.fail(this.sectionPos(section), section, 'file', 'the control socket needs a path', undefined, 'file = /path/to/drover.sock');
    const auth = this.readAuth(section, names);
    const path = resolve(this.here, expandUser(file.trim()));
    const tooLong = unixPathProblem(path);
    if (tooLong !== null) this.fail(getEntry(this.doc, section, 'file')?.pos ?? this.sectionPos(section), section, 'file', tooLong, path, 'a shorter path, e.g. /run/drover.sock');
    // what `up` refuses when it listens (exit 2), reported here so that `drover check` says it first
    const noDir = runtimeDir === null ? null : socketDirectoryProblem(path, runtimeDir);
    if (noDir !== null) this.fail(getEntry(this.doc, section, 'file')?.pos ?? this.sectionPos(section), section, 'file', noDir, path, 'a path in an existing directory (drover creates only its runtime directory)');
    return {
      file: path,
      chmod: this.getValue(section, 'chmod', K.chmod, names) ?? defaultOf(K.chmod),
      chown: this.getValue(section, 'chown', K.chown, names),
      allowedHosts: this.getValue(section, 'allowed_hosts', K.allowed_hosts, names) ?? defaultOf(K.allowed_hosts),
      ...auth,
    };
  }

  private readInetHttpServer(): InetHttpServerSpec | null {
    const section = [...this.doc.sections.keys()].find((s) => s.startsWith('inet_http_server'));
    if (section === undefined) return null;
    const names = new Map<string, ExpansionValue>([...this.envNames, ['here', this.here]]);
    const auth = this.readAuth(section, names);
    const port = this.getValue(section, 'port', INET_HTTP_SERVER_KEYS.port, names);
    if (port === null) this.fail(this.sectionPos(section), section, 'port', 'the HTTP server needs a port', undefined, 'port = 127.0.0.1:9001');
    const allowedHosts = this.getValue(section, 'allowed_hosts', INET_HTTP_SERVER_KEYS.allowed_hosts, names) ?? defaultOf(INET_HTTP_SERVER_KEYS.allowed_hosts);
    return { host: port.host, port: port.port, allowedHosts, ...auth };
  }

  private readAuth(section: string, names: Names): { username: string | null; password: string | null } {
    const username = this.getValue(section, 'username', UNIX_HTTP_SERVER_KEYS.username, names);
    const password = this.getValue(section, 'password', UNIX_HTTP_SERVER_KEYS.password, names);
    if ((username === null) !== (password === null)) {
      const missing = username === null ? 'username' : 'password';
      this.fail(this.sectionPos(section), section, missing, 'username and password must be given together', undefined, 'both username and password, or neither');
    }
    return { username, password };
  }

  private readSupervisorctl(): SupervisorctlSpec | null {
    const section = 'supervisorctl';
    if (!this.doc.sections.has(section)) return null;
    const names = new Map<string, ExpansionValue>([...this.envNames, ['here', this.here]]);
    const K = SUPERVISORCTL_KEYS;
    const serverurl = clientServerUrl(this.getValue(section, 'serverurl', K.serverurl, names), this.here);
    const history = this.getValue(section, 'history_file', K.history_file, names);
    return {
      serverurl,
      username: this.getValue(section, 'username', K.username, names),
      password: this.getValue(section, 'password', K.password, names),
      prompt: this.getValue(section, 'prompt', K.prompt, names) ?? defaultOf(K.prompt),
      history_file: history ? resolve(this.here, expandUser(history)) : null,
    };
  }

  // --- helpers ---

  /** Problems as the files read them: by file (in the order they were read), then line; stable otherwise. */
  private inFileOrder(ps: readonly ConfigErrorDetail[]): ConfigErrorDetail[] {
    const fileRank = new Map(this.files.map((f, i) => [f, i]));
    const rank = (p: ConfigErrorDetail): number => fileRank.get(p.file) ?? -1;
    // a typed config has no lines: its sections and keys in the order the module wrote them stand for them
    const written = new Map<string, number>();
    for (const section of this.doc.sections.values()) {
      if (section.pos.path !== undefined) written.set(section.pos.path, written.size);
      for (const entry of section.entries.values()) if (entry.pos.path !== undefined) written.set(entry.pos.path, written.size);
    }
    const place = (p: ConfigErrorDetail): number => {
      if (p.path === undefined) return -1;
      // programs.web.environment.A is placed where programs.web.environment was written
      for (let path = p.path; path !== ''; path = path.replace(/(\.[^.[]*|\[[^[]*\])$/, '')) {
        const at = written.get(path);
        if (at !== undefined) return at;
        if (!/[.[]/.test(path)) break;
      }
      return -1;
    };
    return [...ps].sort((a, b) => rank(a) - rank(b) || a.line - b.line || place(a) - place(b));
  }

  /** Runs one section's reader; a recorded problem yields the fallback so other sections still get checked. */
  private section<T>(f: () => T, fallback: T): T {
    try {
      const v = f();
      return v;
    } catch (e) {
      if (e instanceof Recorded) return fallback;
      throw e;
    }
  }

  private nameOf(section: string): string {
    const raw = section.slice(section.indexOf(':') + 1);
    let name: string;
    try {
      name = processOrGroupName(raw);
    } catch (e) {
      if (!(e instanceof ValueProblem)) throw e;
      this.fail(this.sectionPos(section), section, null, `bad name in section header: ${e.message}`, raw, e.expected);
    }
    // supervisord takes [program:] and runs a process named "", which no name or pattern can reach
    if (name === '') this.fail(this.sectionPos(section), section, null, 'bad name in section header: the name is empty', raw, `a name after the colon, such as [${section}web]`);
    return name;
  }

  private sectionPos(section: string): SourcePos {
    return this.doc.sections.get(section)?.pos ?? { file: this.file, line: 0 };
  }

  /** A key's value from the section or [DEFAULT] (else the schema default), expanded and parsed; null if unset. */
  private getValue<T>(section: string, key: string, spec: KeySpec<T>, names: Names): T | null {
    const entry = getEntry(this.doc, section, key);
    const raw = entry?.value ?? spec.default;
    if (raw === null) return null;
    const pos = entry?.pos ?? this.sectionPos(section);
    return this.parseValue(spec, this.expandValue(raw, names, pos, section, key), pos, section, key);
  }

  private parseValue<T>(spec: KeySpec<T>, value: string, pos: SourcePos, section: string, key: string): T {
    try {
      return spec.parse(value);
    } catch (e) {
      if (!(e instanceof ValueProblem)) throw e;
      this.fail(pos, section, key, e.message, value, e.expected);
    }
  }

  private expandValue(value: string, names: Names, pos: SourcePos, section: string, key: string): string {
    try {
      return expand(value, names);
    } catch (e) {
      if (!(e instanceof ExpandError)) throw e;
      const each = key === 'environment' && pos.path !== undefined ? this.pairExpansionProblems(value, names, pos, section) : [];
      this.problems.push(...(each.length > 0 ? each : [expansionProblem(e, value, names, pos, section, key)]));
      throw new Recorded();
    }
  }

  /**
   * A typed config's environment object whose expansion failed: the problem of each of its entries, under
   * the entry's own path (programs.web.environment.A), rather than the first one met in the whole text.
   * Empty for a text that is not exactly what an object gives (an environment written as a string, whose
   * unquoted values cannot be taken apart before expansion): the whole value's problem then stands.
   */
  private pairExpansionProblems(value: string, names: Names, pos: SourcePos, section: string): ConfigErrorDetail[] {
    let pairs: Record<string, string>;
    try {
      pairs = keyValuePairs(value);
    } catch (e) {
      if (!(e instanceof ValueProblem)) throw e;
      return [];
    }
    if (Object.entries(pairs).map(([k, v]) => quotedPair(k, v)).join(',') !== value) return [];
    const out: ConfigErrorDetail[] = [];
    for (const [k, v] of Object.entries(pairs)) {
      try {
        expand(v, names);
      } catch (e) {
        if (!(e instanceof ExpandError)) throw e;
        out.push(expansionProblem(e, v, names, { ...pos, path: `${pos.path ?? ''}${memberPath(k)}` }, section, 'environment'));
      }
    }
    return out;
  }

  private parseEnvironment(value: string, pos: SourcePos, section: string): Record<string, string> {
    try {
      // Warned only once the whole value reads: where a later pair fails, supervisor raises too (it drops
      // silently only when nothing follows), and a warning saying it drops would contradict the error.
      const drops: string[] = [];
      const pairs = keyValuePairs(value, (k, v, skipped) => {
        drops.push(`supervisor reads ${k}=${JSON.stringify(v)} and silently drops ${JSON.stringify(skipped)} after it (quote values containing spaces, $, * or other punctuation)`);
      });
      for (const message of drops) this.warn(pos, section, 'environment', message);
      return pairs;
    } catch (e) {
      if (!(e instanceof ValueProblem)) throw e;
      this.fail(pos, section, 'environment', e.message, value, e.expected);
    }
  }

  private record(pos: SourcePos, section: string, key: string | null, message: string, got: string | undefined, expected: string | undefined): void {
    this.problems.push({ file: pos.file, line: pos.line, ...pathOf(pos), section, key, message, ...(got !== undefined ? { got } : {}), ...(expected !== undefined ? { expected } : {}) });
  }

  private fail(pos: SourcePos, section: string, key: string | null, message: string, got?: string, expected?: string): never {
    this.record(pos, section, key, message, got, expected);
    throw new Recorded();
  }

  /** Records a warning; `ignored`: the whole section will not be acted on (drover check then does not say "config OK"). */
  private warn(pos: SourcePos, section: string, key: string | null, message: string, ignored = false): void {
    this.warnings.push({ file: pos.file, line: pos.line, ...pathOf(pos), section, key, message, ...(ignored ? { sectionIgnored: true as const } : {}) });
  }
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch (e) {
    // ENOENT/ENOTDIR: the path does not exist, which is the answer
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EACCES') return false;
    throw e;
  }
}


/** Whether two listening addresses would collide on bind (same path; same port with equal or wildcard hosts). */
function sameAddress(a: FcgiSocketSpec['bind'] | SocketSpec['bind'], b: FcgiSocketSpec['bind'] | undefined): boolean {
  if (b === undefined) return false;
  if (a.kind === 'unix' || b.kind === 'unix') return a.kind === 'unix' && b.kind === 'unix' && a.path === b.path;
  if (a.kind === 'fd') return false;
  const wildcard = (h: string): boolean => h === '0.0.0.0' || h === '::' || h === '';
  return a.port === b.port && (a.host === b.host || wildcard(a.host) || wildcard(b.host));
}

/** Python compares str by code point; for names this equals UTF-16 order outside surrogates. */
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Runs one reading; a problem it recorded is pushed on `failures` and gives `fallback`, so the next keys get checked too. */
function orFallback<T>(failures: unknown[], f: () => T, fallback: T): T {
  try {
    return f();
  } catch (e) {
    if (!(e instanceof Recorded)) throw e;
    failures.push(e);
    return fallback;
  }
}

function dedupeProblems(ps: readonly ConfigErrorDetail[]): ConfigErrorDetail[] {
  const seen = new Set<string>();
  return ps.filter((p) => {
    const k = formatConfigProblem(p);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}
