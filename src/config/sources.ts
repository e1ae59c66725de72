// Reading a config's files: the main file and the files its [include] names, into one INI document, the way
// supervisor reads them (includes of the main file only, one level deep, %(here)s per file). Shared by the
// full loader (load.ts) and the CLI's lean lookup of the control socket (control-socket.ts), so that both
// see the same sections and report the same problems.
import { lstatSync, readFileSync, readlinkSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { ConfigError, formatConfigProblem, propertyPath, type ConfigErrorDetail } from '../errors.js';
import { glob } from './_glob.js';
import { ExpandError, describeNames, expand, type Expansions } from './expand.js';
import { expandHere, getEntry, readIni, type IniDocument } from './ini.js';
import { nearestKey } from './nearest.js';
import type { ConfigWarning, SourcePos } from './types.js';
import { decodeUtf8 } from './utf8.js';

/** Every problem in a config file; `detail` is the first, `problems` all of them. */
export class ConfigProblems extends ConfigError {
  readonly problems: readonly ConfigErrorDetail[];
  /** warnings found before reading stopped; they often explain the error */
  readonly warnings: readonly ConfigWarning[];
  constructor(problems: readonly ConfigErrorDetail[], warnings: readonly ConfigWarning[] = []) {
    super(problems[0] as ConfigErrorDetail);
    this.problems = problems;
    this.warnings = warnings;
    this.message = problems.map(formatConfigProblem).join('\n');
  }
}

/** Where the files' contents go, and the problems and warnings met on the way (the loader is one). */
export interface SourceSink {
  readonly doc: IniDocument;
  /** every file read, main file first */
  readonly files: string[];
  readonly problems: ConfigErrorDetail[];
  readonly warnings: ConfigWarning[];
  /** the sections to store (readIni's `keep`); all when absent */
  readonly keep?: (section: string) => boolean;
}

/**
 * Reads `file` (absolute) and the files its [include] names into `into`. `names` are what [include] files=
 * may expand (%(here)s, %(host_node_name)s, %(ENV_X)s). `main`: how to read the main file (a typed config),
 * or its bytes when the caller has read them already. Throws ConfigProblems for a file that cannot be read,
 * an INI syntax error, or a bad [include]: nothing after them could be trusted.
 */
export function readConfigSources(file: string, into: SourceSink, names: Expansions, main?: ((path: string) => void) | Buffer): void {
  // a typed config's main file is code the loader evaluates (config/typed.ts); its includes are INI
  if (typeof main === 'function') main(file);
  else readFile(into, file, true, main);
  finishIniProblems(into);
  readIncludes(into, file, names);
  finishIniProblems(into);
}

/** The problem for a value whose expansion failed (load.ts words every expansion problem this way). */
export function expansionProblem(e: ExpandError, value: string, names: Expansions, pos: SourcePos, section: string, key: string): ConfigErrorDetail {
  // a typed config's value has no line: its property path says which program and key
  const where = { file: pos.file, line: pos.line, ...pathOf(pos), section, key };
  if (e.unknownName !== null) return { ...where, message: `cannot expand %(${e.unknownName}): no such name here`, got: value, expected: describeNames(names) };
  return { ...where, message: `bad expansion: ${e.message}`, got: value, expected: '%(name)s, %(name)d or %% for a literal percent sign' };
}

/** `FILE:LINE: warning: [section] key: message`, or in a typed config `FILE: warning: programs.web.key: message` */
export function formatConfigWarning(w: ConfigWarning): string {
  const where = w.line > 0 ? `${w.file}:${w.line}:` : `${w.file}:`;
  if (w.path !== undefined) return `${where} warning: ${propertyPath(w.path, w.key)}: ${w.message}`;
  return `${where} warning: [${w.section}]${w.key ? ` ${w.key}:` : ''} ${w.message}`;
}

/** Warnings without repeats (a key read once per process warns once). */
export function dedupeWarnings(ws: readonly ConfigWarning[]): ConfigWarning[] {
  const seen = new Set<string>();
  return ws.filter((w) => {
    const k = `${w.file}:${w.line}:${w.path ?? ''}:${w.section}:${w.key ?? ''}:${w.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

// --- internal ---

function readFile(into: SourceSink, path: string, main: boolean, bytes?: Buffer): void {
  let text: string;
  try {
    const decoded = decodeUtf8(bytes ?? readFileSync(path));
    if (typeof decoded !== 'string') {
      const byte = decoded.byte.toString(16).toUpperCase().padStart(2, '0');
      into.problems.push({
        file: path,
        line: decoded.line,
        section: '',
        key: null,
        message: `the file is not UTF-8: byte 0x${byte} at column ${decoded.column} (supervisor reads config files as UTF-8)`,
        expected: 'UTF-8 text; convert the file, e.g. iconv -f latin1 -t utf-8',
      });
      throw stop(into);
    }
    text = decoded;
  } catch (e) {
    if (e instanceof ConfigProblems) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    const message = code === 'ENOENT' ? 'config file not found' : code === 'EISDIR' ? 'is a directory, not a config file' : `cannot read config file (${code ?? String(e)})`;
    into.problems.push({ file: path, line: 0, section: main ? '' : 'include', key: null, message });
    throw stop(into);
  }
  into.files.push(path);
  readIni(into.doc, text, path, into.keep);
}

/** A typed config's property path, for a problem or warning (absent for an INI line). */
export function pathOf(pos: SourcePos): { path?: string } {
  return pos.path === undefined ? {} : { path: pos.path };
}

function finishIniProblems(into: SourceSink): void {
  for (const w of into.doc.warnings.splice(0)) into.warnings.push({ file: w.pos.file, line: w.pos.line, ...pathOf(w.pos), section: w.section, key: w.key, message: w.message });
  for (const e of into.doc.errors.splice(0)) into.problems.push({ file: e.pos.file, line: e.pos.line, ...pathOf(e.pos), section: e.section, key: e.key, message: e.message, ...(e.got !== undefined ? { got: e.got } : {}), ...(e.expected !== undefined ? { expected: e.expected } : {}) });
  if (into.problems.length > 0) throw stop(into);
}

/** supervisor reads [include] of the main file only, one level deep, expanding %(here)s per file. */
function readIncludes(into: SourceSink, file: string, names: Expansions): void {
  const include = into.doc.sections.get('include');
  if (!include) return;
  const here = dirname(file);
  expandHere(into.doc, here);
  const entry = getEntry(into.doc, 'include', 'files');
  if (!entry) {
    // a misspelt key is the usual cause: point at it
    const near = [...include.entries].find(([k]) => nearestKey(k, ['files']) !== null);
    const hint = near ? `; line ${near[1].pos.line} sets "${near[0]}" — did you mean "files"?` : '';
    into.problems.push({ file: include.pos.file, line: include.pos.line, section: 'include', key: 'files', message: `missing: the section names no files to read${hint}`, expected: 'files = GLOB [GLOB...]' });
    throw stop(into);
  }
  let files: string;
  try {
    files = expand(entry.value, names);
  } catch (e) {
    if (!(e instanceof ExpandError)) throw e;
    into.problems.push(expansionProblem(e, entry.value, names, entry.pos, 'include', 'files'));
    throw stop(into);
  }
  for (const pattern of files.split(/\s+/).filter(Boolean)) {
    const abs = isAbsolute(pattern) ? pattern : join(here, pattern);
    const matches = glob(abs).sort();
    if (matches.length === 0) {
      into.warnings.push({ file: entry.pos.file, line: entry.pos.line, ...pathOf(entry.pos), section: 'include', key: 'files', message: `no file matches ${JSON.stringify(abs)}` });
      continue;
    }
    for (const path of matches) {
      const bytes = readIncluded(path);
      if (typeof bytes === 'string') {
        into.warnings.push({ file: entry.pos.file, line: entry.pos.line, ...pathOf(entry.pos), section: 'include', key: 'files', message: `skipped ${JSON.stringify(path)}, matched by ${JSON.stringify(pattern)}: ${bytes} (supervisor skips a file it cannot open)` });
        continue;
      }
      readFile(into, path, false, bytes);
      finishIniProblems(into);
      const nested = into.doc.sections.get('include');
      for (const [k, e] of nested?.entries ?? []) {
        if (e.pos.file === path) into.warnings.push({ file: e.pos.file, line: e.pos.line, ...pathOf(e.pos), section: 'include', key: k, message: 'an [include] inside an included file is ignored (supervisor reads includes one level deep)', sectionIgnored: true });
      }
      expandHere(into.doc, dirname(path));
    }
  }
}

/**
 * An included file's bytes, or why it cannot be opened. supervisor's parser.read (RawConfigParser.read)
 * skips a file whose open raises OSError, so a glob match that is a dangling symlink, a directory or an
 * unreadable file is left out, not an error.
 */
function readIncluded(path: string): Buffer | string {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code !== 'string') throw e;
    return cannotOpen(path, code);
  }
}

function cannotOpen(path: string, code: string): string {
  switch (code) {
    case 'ENOENT': {
      // the glob saw the name: a symlink whose target is gone, or a file removed since (the link too, maybe)
      try {
        if (lstatSync(path, { throwIfNoEntry: false })?.isSymbolicLink() === true) return `a dangling symlink to ${JSON.stringify(readlinkSync(path))}`;
      } catch {
        // removed between the two calls
      }
      return 'removed while the config was read';
    }
    case 'EISDIR':
      return 'a directory, not a config file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ELOOP':
      return 'a symlink loop';
    default:
      return `cannot be opened (${code})`;
  }
}

function stop(into: SourceSink): ConfigProblems {
  return new ConfigProblems(into.problems, dedupeWarnings(into.warnings));
}
