// Python's glob.glob (non-recursive) and fnmatch for [include] files=: `*`, `?` and `[...]` within one
// path component; names starting with "." only match a pattern component that starts with ".".
import { lstatSync, readdirSync, statSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';

const MAGIC = /[*?[]/;

/** All paths matching an absolute pattern, unsorted (the caller sorts, as supervisor does). */
export function glob(pattern: string): string[] {
  if (!MAGIC.test(pattern)) return lexists(pattern) ? [pattern] : [];
  const dir = dirname(pattern);
  const base = basename(pattern);
  const dirs = dir !== pattern && MAGIC.test(dir) ? glob(dir) : [dir];
  const out: string[] = [];
  for (const d of dirs) {
    if (!MAGIC.test(base)) {
      const p = join(d, base);
      if (lexists(p)) out.push(p);
      continue;
    }
    let names: string[];
    try {
      if (!statSync(d).isDirectory()) continue;
      names = readdirSync(d);
    } catch (e) {
      // a directory that vanished or cannot be read matches nothing, as in Python's glob
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EACCES' || code === 'ENOTDIR') continue;
      throw e;
    }
    const re = fnmatchToRegExp(base);
    for (const name of names) {
      if (name.startsWith('.') && !base.startsWith('.')) continue;
      if (re.test(name)) out.push(join(d, name));
    }
  }
  return out;
}

/**
 * Python's os.path.lexists, which glob uses for a name without wildcards: a dangling symlink exists (the
 * reader then skips it with a warning, as supervisor skips a file it cannot open).
 */
function lexists(p: string): boolean {
  try {
    return lstatSync(p, { throwIfNoEntry: false }) !== undefined;
  } catch (e) {
    // ENOTDIR, EACCES on a parent, ELOOP, ENAMETOOLONG: lexists answers False for any OSError
    if (typeof (e as NodeJS.ErrnoException).code === 'string') return false;
    throw e;
  }
}

/** Python's fnmatch.translate, case-sensitive as on Linux. */
export function fnmatchToRegExp(pat: string): RegExp {
  let re = '';
  let i = 0;
  while (i < pat.length) {
    const c = pat[i++] as string;
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      let j = i;
      if (pat[j] === '!') j++;
      if (pat[j] === ']') j++;
      while (j < pat.length && pat[j] !== ']') j++;
      if (j >= pat.length) {
        re += '\\[';
      } else {
        let stuff = pat.slice(i, j).replace(/\\/g, '\\\\');
        i = j + 1;
        if (stuff.startsWith('!')) stuff = '^' + stuff.slice(1);
        else if (stuff.startsWith('^')) stuff = '\\' + stuff;
        re += `[${stuff}]`;
      }
    } else re += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 's');
}
