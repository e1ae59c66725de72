// The globs of `watch =`: parsing the key, and matching absolute paths against a pattern. `*` and `?`
// match within a name, `[...]` a set, `{a,b}` either, `**` any number of directories. As in a shell with
// globstar, a wildcard never matches a name starting with "." (.git, .drover, an editor's swap file), and
// drover adds node_modules: both match only where the pattern spells the name out.
import { ValueProblem } from './datatypes.js';

type Segment = { readonly kind: 'globstar' } | { readonly kind: 'name'; readonly literal: string | null; readonly re: RegExp; readonly dot: boolean };

/** One compiled pattern over absolute paths. */
export interface WatchGlob {
  readonly pattern: string;
  /** the leading directories without wildcards: where watching starts */
  readonly base: string;
  readonly segments: readonly Segment[];
}

const EXPECTED = 'comma-separated globs such as src/**/*.ts, *.json, {lib,bin}/*.js';

/** `watch =`: globs separated by commas (not those inside {…}), each trimmed; empty gives []. */
export function watchGlobs(raw: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let current = '';
  let escaped = false;
  for (const c of raw) {
    if (escaped) {
      escaped = false;
      current += c;
      continue;
    }
    if (c === '\\') escaped = true;
    else if (c === '{') depth++;
    else if (c === '}') depth--;
    if (depth < 0) throw new ValueProblem('a "}" closes no "{"', EXPECTED);
    if (c === ',' && depth === 0) {
      out.push(current.trim());
      current = '';
    } else current += c;
  }
  if (depth !== 0) throw new ValueProblem('a "{" is not closed', EXPECTED);
  out.push(current.trim());
  const globs = out.filter((g) => g !== '');
  for (const g of globs) {
    if (/[\0-\x1f\x7f]/.test(g)) throw new ValueProblem('a glob holds a control character', EXPECTED);
    // compile once to report a bad pattern with the key (relative patterns compile under any root)
    compileWatchGlob(g.startsWith('/') ? g : `/${g}`);
  }
  return globs;
}

/** Compiles an absolute pattern; throws ValueProblem for a malformed one. */
export function compileWatchGlob(pattern: string): WatchGlob {
  if (!pattern.startsWith('/')) throw new ValueProblem('not an absolute pattern', EXPECTED);
  const parts = pattern.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.length === 0) throw new ValueProblem('the pattern names no file', EXPECTED);
  // a trailing ** means every file below
  if (parts.at(-1) === '**') parts.push('*');
  const segments = parts.map(compileSegment);
  let literal = 0;
  while (literal < segments.length - 1 && (segments[literal] as Segment).kind === 'name' && (segments[literal] as { literal: string | null }).literal !== null) literal++;
  return { pattern, base: `/${parts.slice(0, literal).join('/')}`, segments };
}

/** Whether the absolute path of a file matches. */
export function globMatches(g: WatchGlob, path: string): boolean {
  return matchFrom(g.segments, split(path), 0, 0);
}

/** Whether files below this absolute directory could match (the watcher descends only into those). */
export function globMayContain(g: WatchGlob, dir: string): boolean {
  return prefixFrom(g.segments, split(dir), 0, 0);
}

// --- internal ---

function split(path: string): string[] {
  return path.split('/').filter((p) => p !== '');
}

/** A directory a wildcard may pass through: not hidden, not node_modules. */
function traversable(name: string): boolean {
  return !name.startsWith('.') && name !== 'node_modules';
}

function nameMatches(seg: Segment & { kind: 'name' }, name: string, isDirectory: boolean): boolean {
  if (seg.literal !== null) return name === seg.literal;
  if (name.startsWith('.') && !seg.dot) return false;
  if (isDirectory && name === 'node_modules') return false;
  return seg.re.test(name);
}

function matchFrom(segs: readonly Segment[], path: readonly string[], i: number, j: number): boolean {
  if (j === segs.length) return i === path.length;
  const seg = segs[j] as Segment;
  if (seg.kind === 'globstar') {
    return matchFrom(segs, path, i, j + 1) || (i < path.length - 1 && traversable(path[i] as string) && matchFrom(segs, path, i + 1, j));
  }
  return i < path.length && nameMatches(seg, path[i] as string, i < path.length - 1) && matchFrom(segs, path, i + 1, j + 1);
}

function prefixFrom(segs: readonly Segment[], dir: readonly string[], i: number, j: number): boolean {
  if (i === dir.length) return j < segs.length;
  if (j === segs.length) return false;
  const seg = segs[j] as Segment;
  if (seg.kind === 'globstar') return prefixFrom(segs, dir, i, j + 1) || (traversable(dir[i] as string) && prefixFrom(segs, dir, i + 1, j));
  return nameMatches(seg, dir[i] as string, true) && prefixFrom(segs, dir, i + 1, j + 1);
}

const MAGIC = /[*?[{\\]/;

function compileSegment(part: string): Segment {
  if (part === '**') return { kind: 'globstar' };
  if (part.includes('**')) throw new ValueProblem(`"**" must be a whole path component, got ${JSON.stringify(part)}`, EXPECTED);
  if (!MAGIC.test(part)) return { kind: 'name', literal: part, re: /^$/, dot: part.startsWith('.') };
  let re = '';
  let braces = 0;
  for (let i = 0; i < part.length; i++) {
    const c = part[i] as string;
    if (c === '\\') {
      const next = part[++i];
      if (next === undefined) throw new ValueProblem('a pattern ends with a backslash', EXPECTED);
      re += escapeRegExp(next);
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = part.indexOf(']', i + 2);
      if (end < 0) throw new ValueProblem(`a "[" is not closed in ${JSON.stringify(part)}`, EXPECTED);
      let set = part.slice(i + 1, end);
      if (set.startsWith('!')) set = `^${set.slice(1)}`;
      re += `[${set.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else if (c === '{') {
      braces++;
      re += '(?:';
    } else if (c === '}' && braces > 0) {
      braces--;
      re += ')';
    } else if (c === ',' && braces > 0) re += '|';
    else re += escapeRegExp(c);
  }
  if (braces !== 0) throw new ValueProblem(`a "{" is not closed in ${JSON.stringify(part)}`, EXPECTED);
  let compiled: RegExp;
  try {
    compiled = new RegExp(`^${re}$`);
  } catch {
    throw new ValueProblem(`not a valid pattern: ${JSON.stringify(part)}`, EXPECTED);
  }
  // a name starting with "." is matched only by a pattern (or one of its alternatives) that starts with "."
  return { kind: 'name', literal: null, re: compiled, dot: /(^|[{,])\./.test(part) };
}

function escapeRegExp(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
