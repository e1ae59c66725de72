// Python's `format % mapping` (printf-style with named keys), which is how supervisor expands
// %(here)s, %(ENV_X)s, %(process_num)02d and friends. Only what a mapping argument allows is supported:
// every conversion must name its key, `*` widths are an error, `%%` is a literal percent.

import { DroverError } from '../errors.js';

export type ExpansionValue = string | number;
export type Expansions = ReadonlyMap<string, ExpansionValue>;

/** Why an expansion failed: an unknown name, or a format Python would reject. */
export class ExpandError extends DroverError {
  /** the unknown name, when that is the problem */
  readonly unknownName: string | null;
  constructor(message: string, unknownName: string | null = null) {
    super('E_EXPAND', message);
    this.unknownName = unknownName;
  }
}

const FLAGS = '#0- +';
const CONVERSIONS = 'diouxXeEfFgGcrsa';

/** Expands `s` against the names, as Python's `s % dict` would. */
export function expand(s: string, names: Expansions): string {
  let out = '';
  let i = 0;
  while (i < s.length) {
    const pct = s.indexOf('%', i);
    if (pct < 0) {
      out += s.slice(i);
      break;
    }
    out += s.slice(i, pct);
    i = pct + 1;
    if (i >= s.length) throw new ExpandError('incomplete format: a lone "%" at the end (write "%%" for a percent sign)');
    let key: string | null = null;
    if (s[i] === '(') {
      // Python allows nested parentheses inside the key
      let depth = 1;
      const start = i + 1;
      i++;
      while (i < s.length && depth > 0) {
        if (s[i] === '(') depth++;
        else if (s[i] === ')') depth--;
        i++;
      }
      if (depth > 0) throw new ExpandError('incomplete format key: "%(" without a closing ")"');
      key = s.slice(start, i - 1);
    }
    let flags = '';
    while (i < s.length && FLAGS.includes(s[i] as string)) flags += s[i++];
    let widthText = '';
    if (s[i] === '*') throw new ExpandError('"*" width needs positional arguments, which supervisor does not pass');
    while (i < s.length && /[0-9]/.test(s[i] as string)) widthText += s[i++];
    let precisionText: string | null = null;
    if (s[i] === '.') {
      i++;
      if (s[i] === '*') throw new ExpandError('"*" precision needs positional arguments, which supervisor does not pass');
      precisionText = '';
      while (i < s.length && /[0-9]/.test(s[i] as string)) precisionText += s[i++];
    }
    while (i < s.length && 'hlL'.includes(s[i] as string)) i++;
    if (i >= s.length) throw new ExpandError('incomplete format: a "%" conversion is not finished');
    const conv = s[i] as string;
    i++;
    if (conv === '%') {
      out += '%';
      continue;
    }
    if (!CONVERSIONS.includes(conv)) {
      throw new ExpandError(`unsupported format character "${conv}" at index ${i - 1}`);
    }
    if (key === null) throw new ExpandError(`"%${conv}" has no name; write "%(name)${conv}" (or "%%" for a percent sign)`);
    const value = names.get(key);
    if (value === undefined) throw new ExpandError(`unknown name "${key}"`, key);
    const width = widthText ? Number(widthText) : 0;
    const precision = precisionText === null ? null : Number(precisionText || '0');
    out += formatOne(value, conv, flags, width, precision, key);
  }
  return out;
}

/** Names that can be expanded, for error messages: ENV_ names summarised. */
export function describeNames(names: Expansions): string {
  const plain = [...names.keys()].filter((k) => !k.startsWith('ENV_')).sort();
  return [...plain, 'ENV_<name> for any environment variable'].join(', ');
}

// --- internal ---

function formatOne(
  value: ExpansionValue,
  conv: string,
  flags: string,
  width: number,
  precision: number | null,
  key: string,
): string {
  let body: string;
  let numeric = false;
  switch (conv) {
    case 's':
      body = String(value);
      if (precision !== null) body = body.slice(0, precision);
      break;
    case 'r':
    case 'a':
      body = typeof value === 'number' ? String(value) : pyRepr(value);
      if (precision !== null) body = body.slice(0, precision);
      break;
    case 'c':
      if (typeof value === 'number') body = String.fromCodePoint(value);
      else if ([...value].length === 1) body = value;
      else throw new ExpandError(`%(${key})c requires a number or a single character`);
      break;
    default: {
      if (typeof value !== 'number') {
        throw new ExpandError(`%(${key})${conv} needs a number, but "${key}" is a string`);
      }
      numeric = true;
      body = formatNumber(value, conv, flags, precision);
    }
  }
  if (body.length >= width) return body;
  if (flags.includes('-')) return body.padEnd(width, ' ');
  if (numeric && flags.includes('0')) {
    const sign = /^[+\- ]/.test(body) ? body.charAt(0) : '';
    let rest = sign ? body.slice(1) : body;
    let prefix = '';
    if (/^0[xXo]/.test(rest) && flags.includes('#')) {
      prefix = rest.slice(0, 2);
      rest = rest.slice(2);
    }
    return sign + prefix + rest.padStart(width - sign.length - prefix.length, '0');
  }
  return body.padStart(width, ' ');
}

function formatNumber(n: number, conv: string, flags: string, precision: number | null): string {
  const neg = n < 0 || Object.is(n, -0);
  const abs = Math.abs(n);
  let digits: string;
  switch (conv) {
    case 'd':
    case 'i':
    case 'u':
      digits = String(Math.trunc(abs));
      if (precision !== null) digits = digits.padStart(precision, '0');
      break;
    case 'o':
      digits = Math.trunc(abs).toString(8);
      if (flags.includes('#')) digits = '0o' + digits;
      break;
    case 'x':
      digits = Math.trunc(abs).toString(16);
      if (flags.includes('#')) digits = '0x' + digits;
      break;
    case 'X':
      digits = Math.trunc(abs).toString(16).toUpperCase();
      if (flags.includes('#')) digits = '0X' + digits;
      break;
    case 'e':
    case 'E': {
      const t = abs.toExponential(precision ?? 6).replace(/e([+-])(\d)$/, 'e$10$2');
      digits = conv === 'E' ? t.toUpperCase() : t;
      break;
    }
    case 'f':
    case 'F':
      digits = abs.toFixed(precision ?? 6);
      break;
    default:
      // g / G: good enough for the integers supervisor passes
      digits = String(abs);
      if (conv === 'G') digits = digits.toUpperCase();
  }
  const sign = neg ? '-' : flags.includes('+') ? '+' : flags.includes(' ') ? ' ' : '';
  return sign + digits;
}

/** Python's repr() of a str, for %r. */
function pyRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    if (ch === '\\') out += '\\\\';
    else if (ch === quote) out += '\\' + ch;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if ((ch.codePointAt(0) ?? 0) < 0x20 || ch === '\x7f') {
      out += '\\x' + (ch.codePointAt(0) ?? 0).toString(16).padStart(2, '0');
    } else out += ch;
  }
  return out + quote;
}
