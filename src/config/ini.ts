// An INI reader with the semantics of Python 3's RawConfigParser as supervisor 4.x configures it:
// inline_comment_prefixes (';', '#') that need whitespace before them, strict=False (a repeated section
// merges into the first, a repeated key overrides), [DEFAULT] values visible in every section,
// continuation lines, empty lines kept inside values, `key = value` and `key: value`, keys lowercased
// (optionxform), section names case-sensitive. Every key remembers its file and line.
// The reader records, as warnings, each place where this reading is likely to surprise.
import type { SourcePos } from './types.js';

/** One `key = value` as read: the value after joining continuation lines. */
export interface IniEntry {
  readonly value: string;
  readonly pos: SourcePos;
}

/** A section: its keys in first-seen order, and where it was first declared. */
export interface IniSection {
  readonly name: string;
  readonly pos: SourcePos;
  /** the file whose reading created the section (supervisor's section_to_file) */
  readonly file: string;
  readonly entries: Map<string, IniEntry>;
}

export interface IniProblem {
  readonly pos: SourcePos;
  readonly section: string;
  readonly key: string | null;
  readonly message: string;
  readonly got?: string;
  readonly expected?: string;
}

/** Everything read so far from one or more files (supervisor reads includes into the same parser). */
export interface IniDocument {
  readonly sections: Map<string, IniSection>;
  readonly defaults: Map<string, IniEntry>;
  /** where [DEFAULT] was first declared, if it was */
  defaultsPos: SourcePos | null;
  readonly warnings: IniProblem[];
  readonly errors: IniProblem[];
}

export const DEFAULT_SECTION = 'DEFAULT';

export function createIniDocument(): IniDocument {
  return { sections: new Map(), defaults: new Map(), defaultsPos: null, warnings: [], errors: [] };
}

/**
 * Reads `text` (the contents of `file`) into `doc`, as RawConfigParser.read_file does. With `keep`, only the
 * sections it accepts (and [DEFAULT]) are stored: the others are followed line by line, so that their
 * continuation lines and syntax errors are seen as in a full reading, but none of their keys or warnings is
 * kept. The CLI reads a config of 1000 programs this way to find the control socket.
 */
export function readIni(doc: IniDocument, text: string, file: string, keep?: (section: string) => boolean): void {
  // Python's text mode turns \r\n and \r into \n. Lines are taken from the text by position, not split
  // into an array first: a line of a refused section is read without becoming a string (skimRefused).
  const all = text.includes('\r') ? text.replace(/\r\n?/g, '\n') : text;

  // an option's value is built from lines, joined when the file ends
  interface Pending {
    parts: string[];
    pos: SourcePos;
  }
  let cursect: Map<string, Pending> | null = null;
  // the current section's name; '' before the first header (a header's name is never empty)
  let sectname = '';
  let optname: string | null = null;
  let indentLevel = 0;
  // sections first seen in this file, for the duplicate-section warning
  const seenHere = new Map<string, SourcePos>();
  // this file's sections, merged into the document when the file ends
  const scratch = new Map<string, Map<string, Pending>>();

  const sectionStore = (name: string): Map<string, Pending> => {
    let m = scratch.get(name);
    if (!m) {
      m = new Map();
      scratch.set(name, m);
    }
    return m;
  };

  // a final newline ends the last line, it does not start another
  for (let start = 0, lineno = 1; start < all.length; lineno++) {
    const newline = all.indexOf('\n', start);
    const end = newline === -1 ? all.length : newline;
    const from = start;
    start = end + 1;
    if (cursect === null && sectname !== '') {
      // a line of a refused section: most are read here without making a string
      const skim = skimRefused(all, from, end, optname !== null, indentLevel);
      if (skim === SKIM_SKIPPED) continue;
      if (skim >= 0 && all.charCodeAt(from + skim) !== 0x5b /* [ */) {
        // a key line at indent `skim`: what follows more indented continues its value
        indentLevel = skim;
        optname = '';
        continue;
      }
      if (skim >= 0 && keep !== undefined) {
        // a header: the name runs to the last "]" on the line (as the pattern below reads it); another
        // refused section is followed on here, anything else is read in full
        const close = all.lastIndexOf(']', end - 1);
        const name = close > from + skim + 1 ? all.slice(from + skim + 1, close) : null;
        if (name !== null && name !== DEFAULT_SECTION && !keep(name)) {
          sectname = name;
          optname = null;
          indentLevel = skim;
          continue;
        }
      }
    }
    const line = all.slice(from, end);
    const commentStart = findCommentStart(line);
    const value = (commentStart === null ? line : line.slice(0, commentStart)).trim();
    if (!value) {
      // empty_lines_in_values=True: an empty line (without a comment) becomes part of the value
      if (commentStart === null && cursect !== null && optname !== null) {
        cursect.get(optname)?.parts.push('');
      }
      continue;
    }
    // value is not empty, so the line has a non-space character
    const curIndent = line.search(/\S/);
    if (optname !== null && curIndent > indentLevel) {
      if (cursect === null) continue; // a skipped section's continuation line
      cursect.get(optname)?.parts.push(value);
      if (commentStart !== null) warnCutQuote(doc, line, commentStart, { file, line: lineno }, sectname, optname);
      continue;
    }
    indentLevel = curIndent;
    const pos: SourcePos = { file, line: lineno };
    // dotAll: Python's . takes U+2028 and U+2029, which JS's . does not (a line never holds \n or \r)
    const header = value.charCodeAt(0) === 0x5b /* [ */ ? /^\[(.+)\]/s.exec(value) : null;
    if (header) {
      // Python's regex is greedy up to the last "]" on the line
      sectname = header[1] as string;
      optname = null;
      if (keep !== undefined && sectname !== DEFAULT_SECTION && !keep(sectname)) {
        // a section `keep` refuses: cursect stays null while its lines are followed
        cursect = null;
        continue;
      }
      if (sectname === DEFAULT_SECTION) {
        doc.defaultsPos ??= pos;
        cursect = sectionStore(DEFAULT_SECTION);
        continue;
      }
      const existing = doc.sections.get(sectname);
      const firstHere = seenHere.get(sectname);
      if (existing || firstHere) {
        const first = existing?.pos ?? (firstHere as SourcePos);
        doc.warnings.push({
          pos,
          section: sectname,
          key: null,
          message:
            `section [${sectname}] is declared again (first at ${first.file}:${first.line}); ` +
            'supervisor merges both into one section and a key given in both takes the later value',
        });
      } else {
        seenHere.set(sectname, pos);
      }
      cursect = sectionStore(sectname);
      continue;
    }
    if (sectname === '') {
      doc.errors.push({
        pos,
        section: '',
        key: null,
        message: 'a key before any [section] header',
        got: line.trim(),
        expected: 'a [section] header first',
      });
      // supervisor stops at the first such line
      return;
    }
    // RawConfigParser's option pattern: the key runs to the first "=" or ":", spaces around it dropped
    const delim = firstDelimiter(value);
    if (delim <= 0) {
      doc.errors.push({
        pos,
        section: sectname,
        key: null,
        message: delim === 0 ? 'a line with a value but no key' : 'a line that is neither a [section], a key = value, nor a comment',
        got: line.trim(),
        expected: '"key = value", "key: value", a comment or an indented continuation line',
      });
      optname = null;
      continue;
    }
    if (cursect === null) {
      // a key of a skipped section: only that the next indented lines continue it matters
      optname = value;
      continue;
    }
    const key = value.slice(0, delim).trimEnd().toLowerCase();
    const priorPos =
      cursect.get(key)?.pos ??
      (sectname === DEFAULT_SECTION ? doc.defaults : doc.sections.get(sectname)?.entries)?.get(key)?.pos;
    if (priorPos) {
      doc.warnings.push({
        pos,
        section: sectname,
        key,
        message: `given again (first at ${priorPos.file}:${priorPos.line}); the later value wins`,
      });
    }
    optname = key;
    cursect.set(key, { parts: [value.slice(delim + 1).trim()], pos });
    if (commentStart !== null) warnCutQuote(doc, line, commentStart, pos, sectname, key);
  }

  // join multi-line values and merge this file into the document
  for (const [name, store] of scratch) {
    const target =
      name === DEFAULT_SECTION
        ? doc.defaults
        : (doc.sections.get(name) ??
          (() => {
            const s: IniSection = { name, pos: seenHere.get(name) as SourcePos, file, entries: new Map() };
            doc.sections.set(name, s);
            return s;
          })()).entries;
    for (const [key, v] of store) target.set(key, { value: v.parts.join('\n').trimEnd(), pos: v.pos });
  }
}

/** The keys of a section merged over [DEFAULT], as RawConfigParser.items(section) sees them. */
export function sectionItems(doc: IniDocument, name: string): Map<string, IniEntry> {
  const out = new Map(doc.defaults);
  const s = doc.sections.get(name);
  if (s) for (const [k, v] of s.entries) out.set(k, v);
  return out;
}

/** Looks a key up in a section, then in [DEFAULT] (RawConfigParser.get). */
export function getEntry(doc: IniDocument, section: string, key: string): IniEntry | undefined {
  return doc.sections.get(section)?.entries.get(key) ?? doc.defaults.get(key);
}

/**
 * supervisor's expand_here: replace the text `%(here)s` in every value of every section (defaults
 * included, which copies them into the section) with `here`. Used when the config has an [include].
 */
export function expandHere(doc: IniDocument, here: string): void {
  for (const [name, section] of doc.sections) {
    for (const [key, entry] of sectionItems(doc, name)) {
      if (entry.value.includes('%(here)s')) {
        section.entries.set(key, { value: entry.value.split('%(here)s').join(here), pos: entry.pos });
      }
    }
  }
}

/**
 * Where an inline comment starts, or null. Mirrors configparser: a prefix counts only at the start of
 * the line or after whitespace, and the search advances all prefixes in rounds, stopping at the first
 * round that finds a valid one (which is not always the leftmost valid one).
 */
export function findCommentStart(line: string): number | null {
  // most lines hold neither prefix (and this runs once per line of every config read)
  if (!line.includes(';') && !line.includes('#')) return null;
  let commentStart = Infinity;
  let prefixes = new Map<string, number>([
    [';', -1],
    ['#', -1],
  ]);
  while (commentStart === Infinity && prefixes.size > 0) {
    const next = new Map<string, number>();
    for (const [prefix, from] of prefixes) {
      const index = line.indexOf(prefix, from + 1);
      if (index === -1) continue;
      next.set(prefix, index);
      if (index === 0 || (index > 0 && /\s/.test(line[index - 1] as string))) {
        commentStart = Math.min(commentStart, index);
      }
    }
    prefixes = next;
  }
  const stripped = line.trim();
  if (stripped.startsWith('#') || stripped.startsWith(';')) return 0;
  return commentStart === Infinity ? null : commentStart;
}

// --- internal ---

/** skimRefused: the line needs nothing more (blank, a whole-line comment, a continuation). */
const SKIM_SKIPPED = -1;
/** skimRefused: the line needs the full reading (a header, a possible error, an inline comment, non-ASCII). */
const SKIM_READ = -2;

/**
 * Reads the line text[from, end) of a section `keep` refused, where only this matters: whether the line
 * continues the last key's value (`inValue`, more indented than `indentLevel`: SKIM_SKIPPED, as a blank
 * line or a whole-line comment), whether it is a key line or a header (its indent is returned; a header
 * starts with "["), and anything else, which the full reading handles (SKIM_READ): a line without a key,
 * an inline comment, a character outside ASCII (trim's and \s's idea of a space is wider there). No string
 * is made: a 1000-program config is mostly such lines, read once per `drover status`.
 */
function skimRefused(text: string, from: number, end: number, inValue: boolean, indentLevel: number): number {
  let i = from;
  for (; i < end; i++) {
    const c = text.charCodeAt(i);
    // the ASCII spaces of trim() and \s (a line holds no \n or \r)
    if (c !== 0x20 && c !== 0x09 && c !== 0x0b && c !== 0x0c) break;
  }
  if (i === end) return SKIM_SKIPPED;
  const indent = i - from;
  const first = text.charCodeAt(i);
  if (first === 0x3b /* ; */ || first === 0x23 /* # */) return SKIM_SKIPPED;
  if (inValue && indent > indentLevel) return SKIM_SKIPPED;
  let delim = -1;
  for (let j = i; j < end; j++) {
    const c = text.charCodeAt(j);
    if (c > 0x7e || c === 0x3b || c === 0x23) return SKIM_READ;
    if (delim === -1 && (c === 0x3d /* = */ || c === 0x3a) /* : */) delim = j;
  }
  return first === 0x5b /* [ */ || delim > i ? indent : SKIM_READ;
}

/** The index of the first "=" or ":" in `value`, or -1. */
function firstDelimiter(value: string): number {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x3d /* = */ || c === 0x3a /* : */) return i;
  }
  return -1;
}

/** Warns when an inline comment cut a value inside an open quote: supervisor does not honour quotes there. */
function warnCutQuote(
  doc: IniDocument,
  line: string,
  commentStart: number,
  pos: SourcePos,
  section: string,
  key: string,
): void {
  const before = line.slice(0, commentStart);
  let quote: string | null = null;
  for (let i = 0; i < before.length; i++) {
    const c = before[i] as string;
    if (quote === null) {
      if (c === '\\') i++;
      else if (c === '"' || c === "'") quote = c;
    } else if (c === quote) quote = null;
    else if (c === '\\' && quote === '"') i++;
  }
  if (quote === null) return;
  doc.warnings.push({
    pos,
    section,
    key,
    message:
      `"${line.slice(commentStart - 1, commentStart + 1)}" inside quotes starts a comment: supervisor ignores ` +
      `quotes here and cuts the line to ${JSON.stringify(before.trim())} ` +
      `(remove the space before "${line[commentStart] as string}" to keep it)`,
  });
}
