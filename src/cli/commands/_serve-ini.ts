// How `drover serve` writes a command-line value into serve.ini so that the config loader reads back
// exactly what was typed. supervisor's INI has no escapes: " ;" and " #" start an inline comment, the
// ends of a value are trimmed, and "%" starts an expansion. What it does have is the expansion itself,
// and "%(here).0s" (the config's directory, cut to no characters) expands to nothing: put between a
// space and a ";", or before a space at an end, it keeps them from being read as a comment or trimmed,
// and vanishes when the value is expanded. supervisord itself would read the same file the same way.

/** A value that expands to the empty string wherever serve.ini's values are expanded. */
const NOTHING = '%(here).0s';

/**
 * `value` as it must be written after `key = ` in serve.ini for the loader to read back `value`.
 * `expansions`: how many times the loader expands this key (a logfile's value twice, as supervisor does).
 * A line break cannot be written in a value; the caller refuses it first (lineBreakIn).
 */
export function iniValue(value: string, expansions: 1 | 2 = 1): string {
  let out = value.replace(/%/g, expansions === 2 ? '%%%%' : '%%');
  // a ";" or "#" at the start or after a space would start a comment (configparser's inline_comment_prefixes)
  out = out.replace(/(^|\s)(?=[;#])/g, `$1${NOTHING}`);
  // the reader trims each value: an empty expansion at each end keeps the spaces inside it
  if (/^\s/.test(out)) out = NOTHING + out;
  if (/\s$/.test(out)) out += NOTHING;
  return out;
}

/** What to say of the first option (or APP) whose value holds a line break, which no INI line can carry; else null. */
export function lineBreakIn(values: Readonly<Record<string, unknown>>, positionals: readonly string[]): string | null {
  for (const [name, value] of Object.entries(values)) {
    const bad = (Array.isArray(value) ? value : [value]).find((s) => typeof s === 'string' && /[\r\n]/.test(s));
    if (typeof bad === 'string') return `--${name} cannot hold a line break, got ${JSON.stringify(bad)}`;
  }
  const app = positionals.find((p) => /[\r\n]/.test(p));
  return app === undefined ? null : `APP cannot hold a line break, got ${JSON.stringify(app)}`;
}
