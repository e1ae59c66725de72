// The lean reading of a config that the CLI uses to reach a running drover: only the keys that can move the
// control socket or give its credentials, read from the same files with the same INI reader and expansions
// as the full loader (load.ts), but without resolving a single program — with 1000 programs, resolving them
// was most of a `drover status`.
//
// The keys: [supervisord]/[drover] runtime_dir, and environment (its ENV_X names reach the later sections);
// [unix_http_server] file, username, password; [supervisorctl] serverurl, username, password; each also from [DEFAULT]
// where the loader takes it from there; [include] for the files that may hold them. The answer is the
// loader's for every config the loader accepts (test/unit/config/control-socket.test.ts compares them).
// Problems in these keys are reported as the loader reports them; problems elsewhere (a program's bad
// command, a missing log directory) are left to `drover check` and the daemon, as supervisorctl, which
// reads [supervisorctl] only, leaves them (docs/decisions.md, "The CLI reads only the sections that find drover").
// A typed config is evaluated (config/typed.ts) and the same sections kept from the result, with only the
// problems in the keys above.
import { hostname as osHostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { ConfigErrorDetail } from '../errors.js';
import { unixPathProblem } from '../os/unix-path.js';
import { expandUser, keyValuePairs, ValueProblem } from './datatypes.js';
import { ExpandError, expand, type ExpansionValue } from './expand.js';
import { clientServerUrl } from './client-url.js';
import { createIniDocument, getEntry, type IniDocument, type IniEntry } from './ini.js';
import type { LoadOptions } from './load.js';
import { ConfigProblems, dedupeWarnings, expansionProblem, pathOf, readConfigSources, type SourceSink } from './sources.js';
import type { SourcePos } from './types.js';

/** The parts of a Config that say where its control socket is and how to log in (a Config is one). */
export interface ControlSections {
  readonly supervisord: { readonly runtimeDir: string };
  readonly unixHttpServer: { readonly file: string; readonly username: string | null; readonly password: string | null } | null;
  /** serverurl: null when unset or AUTO (the config's own socket); a unix:// path is made absolute, as the loader does */
  readonly supervisorctl: { readonly serverurl: string | null; readonly username: string | null; readonly password: string | null } | null;
}

/**
 * Reads a typed config's sections into `doc` (config/typed.ts readTypedSections, passed in so that reading
 * an INI file does not load the typed reader and the schema behind it).
 */
export type TypedSectionsReader = (doc: IniDocument, file: string) => void;

/**
 * Reads the control sections of a config file; `main`: the file's content when the caller has read it, or
 * for a typed config the reader of its module. Throws ConfigProblems (a ConfigError) for a problem in them.
 */
export function readControlSections(file: string, opts: Pick<LoadOptions, 'env' | 'hostname'> = {}, main?: Buffer | TypedSectionsReader): ControlSections {
  const path = resolve(file);
  const here = dirname(path);
  const hostname = opts.hostname ?? osHostname();
  const envNames = new Map<string, ExpansionValue>();
  for (const [k, v] of Object.entries(opts.env ?? process.env)) if (v !== undefined) envNames.set(`ENV_${k}`, v);
  const sink: SourceSink = { doc: createIniDocument(), files: [], problems: [], warnings: [], keep: isControlSection };
  // a typed module yields every section at once: the others, and the problems in them (a program's
  // `numprocs: 'two'`), are dropped here as the INI reader drops them while reading
  const source = typeof main === 'function' ? (p: string): void => keepControlSections(sink.doc, main, p) : main;
  readConfigSources(path, sink, new Map<string, ExpansionValue>([['here', here], ['host_node_name', hostname], ...envNames]), source);
  const r = new SectionReader(sink.doc, path, sink.problems);

  // [supervisord] (also [drover], which wins): runtime_dir with the environment alone, then environment,
  // whose names the later sections may expand (supervisor's environ_expansions)
  const doc = sink.doc;
  const present = doc.sections.has('drover') || doc.sections.has('supervisord');
  const supervisordName = doc.sections.has('drover') ? 'drover' : 'supervisord';
  const lookup = (key: string): IniEntry | undefined =>
    present ? (doc.sections.get('drover')?.entries.get(key) ?? doc.sections.get('supervisord')?.entries.get(key) ?? doc.defaults.get(key)) : undefined;
  const runtimeRaw = r.value(lookup('runtime_dir'), new Map([...envNames, ['here', here]]), supervisordName, 'runtime_dir');
  const runtimeDir = runtimeRaw ? resolve(here, expandUser(runtimeRaw)) : join(here, '.drover');
  const envEntry = lookup('environment');
  if (envEntry) {
    // expanded twice, as supervisor does: once like every key, then with host_node_name too
    const once = r.value(envEntry, new Map([...envNames, ['here', here]]), supervisordName, 'environment');
    const twice = once === null ? null : r.expanded(once, new Map([['here', here], ['host_node_name', hostname], ...envNames]), envEntry.pos, supervisordName, 'environment');
    if (twice !== null) {
      try {
        for (const [k, v] of Object.entries(keyValuePairs(twice))) envNames.set(`ENV_${k}`, v);
      } catch (e) {
        if (!(e instanceof ValueProblem)) throw e;
        r.record(envEntry.pos, supervisordName, 'environment', e.message, twice, e.expected);
      }
    }
  }
  const names = new Map<string, ExpansionValue>([...envNames, ['here', here]]);

  let unixHttpServer: ControlSections['unixHttpServer'] = null;
  const unixName = [...doc.sections.keys()].find((s) => s.startsWith('unix_http_server'));
  if (unixName !== undefined) {
    const socketFile = r.value(getEntry(doc, unixName, 'file'), names, unixName, 'file');
    const missing = getEntry(doc, unixName, 'file') === undefined;
    if (missing) r.record(r.sectionPos(unixName), unixName, 'file', 'the control socket needs a path', undefined, 'file = /path/to/drover.sock');
    else if (socketFile !== null) {
      const usernameEntry = getEntry(doc, unixName, 'username');
      const passwordEntry = getEntry(doc, unixName, 'password');
      const username = r.value(usernameEntry, names, unixName, 'username');
      const password = r.value(passwordEntry, names, unixName, 'password');
      // a value that did not expand is reported as such: it is not missing, and the loader stops there too
      const unexpanded = (usernameEntry !== undefined && username === null) || (passwordEntry !== undefined && password === null);
      if (!unexpanded && (username === null) !== (password === null)) {
        r.record(r.sectionPos(unixName), unixName, username === null ? 'username' : 'password', 'username and password must be given together', undefined, 'both username and password, or neither');
      }
      const file = resolve(here, expandUser(socketFile.trim()));
      const tooLong = unixPathProblem(file);
      if (tooLong !== null) r.record(getEntry(doc, unixName, 'file')?.pos ?? r.sectionPos(unixName), unixName, 'file', tooLong, file, 'a shorter path, e.g. /run/drover.sock');
      unixHttpServer = { file, username, password };
    }
  }

  let supervisorctl: ControlSections['supervisorctl'] = null;
  if (doc.sections.has('supervisorctl')) {
    supervisorctl = {
      serverurl: clientServerUrl(r.value(getEntry(doc, 'supervisorctl', 'serverurl'), names, 'supervisorctl', 'serverurl'), here),
      username: r.value(getEntry(doc, 'supervisorctl', 'username'), names, 'supervisorctl', 'username'),
      password: r.value(getEntry(doc, 'supervisorctl', 'password'), names, 'supervisorctl', 'password'),
    };
  }

  if (sink.problems.length > 0) throw new ConfigProblems(sink.problems, dedupeWarnings(sink.warnings));
  return { supervisord: { runtimeDir }, unixHttpServer, supervisorctl };
}

// --- internal ---

/** The keys this reading uses, in any of its sections. */
const CONTROL_KEYS: ReadonlySet<string> = new Set(['runtime_dir', 'environment', 'file', 'serverurl', 'username', 'password', 'files']);

/** The sections whose keys this reading uses ([DEFAULT] is always kept): the others are not stored. */
function isControlSection(name: string): boolean {
  return name === 'supervisord' || name === 'drover' || name === 'supervisorctl' || name === 'include' || name.startsWith('unix_http_server');
}

/** Reads a typed config into `doc`, then keeps only the control sections and the problems and warnings in them. */
function keepControlSections(doc: IniDocument, read: TypedSectionsReader, file: string): void {
  read(doc, file);
  for (const name of [...doc.sections.keys()]) if (!isControlSection(name)) doc.sections.delete(name);
  // a value the typed reader could not take is left out of the section; one of a key this reading does not
  // use (a bad `chmod`) is `drover check`'s to report, as in the INI
  const kept = doc.errors.filter((e) => isControlSection(e.section) && (e.key === null || CONTROL_KEYS.has(e.key)));
  doc.errors.splice(0, doc.errors.length, ...kept);
  const warned = doc.warnings.filter((w) => isControlSection(w.section));
  doc.warnings.splice(0, doc.warnings.length, ...warned);
}

/** Expands values and records problems as the loader words them. */
class SectionReader {
  constructor(
    private readonly doc: IniDocument,
    private readonly file: string,
    private readonly problems: ConfigErrorDetail[],
  ) {}

  /** The entry's value expanded, or null when there is no entry or its expansion failed (recorded). */
  value(entry: IniEntry | undefined, names: ReadonlyMap<string, ExpansionValue>, section: string, key: string): string | null {
    return entry === undefined ? null : this.expanded(entry.value, names, entry.pos, section, key);
  }

  expanded(value: string, names: ReadonlyMap<string, ExpansionValue>, pos: SourcePos, section: string, key: string): string | null {
    try {
      return expand(value, names);
    } catch (e) {
      if (!(e instanceof ExpandError)) throw e;
      this.problems.push(expansionProblem(e, value, names, pos, section, key));
      return null;
    }
  }

  record(pos: SourcePos, section: string, key: string, message: string, got: string | undefined, expected: string | undefined): void {
    this.problems.push({ file: pos.file, line: pos.line, ...pathOf(pos), section, key, message, ...(got !== undefined ? { got } : {}), ...(expected !== undefined ? { expected } : {}) });
  }

  sectionPos(section: string): SourcePos {
    return this.doc.sections.get(section)?.pos ?? { file: this.file, line: 0 };
  }
}
