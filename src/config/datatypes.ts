// Value parsers with supervisor's semantics (supervisor/datatypes.py), each throwing ValueProblem with
// what was expected. They take the raw (already expanded) string and return the typed value.
import { signalName as osSignalName, signalNumber } from '../os/signals.js';
import { lookupGroup as osLookupGroup, lookupGroupId as osLookupGroupId, lookupUser as osLookupUser } from '../os/users.js';
import { unixPathProblem } from '../os/unix-path.js';
import { homedir } from 'node:os';
import { DroverError } from '../errors.js';
import { lexWords } from './shlex.js';

/** A value that does not parse: `expected` says what would have. */
export class ValueProblem extends DroverError {
  readonly expected: string;
  constructor(message: string, expected: string) {
    super('E_BAD_VALUE', message);
    this.expected = expected;
  }
}

/** Python int(): optional sign, digits with single underscores between them, surrounding whitespace. */
const PY_INT = /^\s*[+-]?\d+(?:_\d+)*\s*$/;

export function integer(raw: string): number {
  if (!PY_INT.test(raw)) throw new ValueProblem('not an integer', 'an integer');
  return Number(raw.trim().replace(/_/g, ''));
}

export function nonNegativeInteger(raw: string): number {
  const n = integer(raw);
  if (n < 0) throw new ValueProblem('must not be negative', 'an integer ≥ 0');
  return n;
}

const TRUTHY = ['yes', 'true', 'on', '1'];
const FALSY = ['no', 'false', 'off', '0'];
const BOOLEAN_EXPECTED = 'true/false, yes/no, on/off or 1/0';

export function boolean(raw: string): boolean {
  const s = raw.toLowerCase();
  if (TRUTHY.includes(s)) return true;
  if (FALSY.includes(s)) return false;
  throw new ValueProblem('not a boolean', BOOLEAN_EXPECTED);
}

/** supervisor's byte_size: an integer with an optional KB/MB/GB suffix (case-insensitive, powers of 1024). */
export function byteSize(raw: string): number {
  const v = raw.toLowerCase();
  const units: Record<string, number> = { kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };
  const suffix = v.slice(-2);
  const mult = units[suffix];
  const digits = mult !== undefined ? v.slice(0, -2) : v;
  if (!PY_INT.test(digits)) throw new ValueProblem('not a byte size', 'a number of bytes, optionally with KB, MB or GB (e.g. 50MB)');
  return Number(digits.trim().replace(/_/g, '')) * (mult ?? 1);
}

/** supervisor's octal_type: Python int(s, 8), so "022", "0o22" and "22" are all 18. */
export function octal(raw: string): number {
  const m = /^\s*([+-]?)(?:0[oO]_?)?([0-7]+(?:_[0-7]+)*)\s*$/.exec(raw);
  if (!m) throw new ValueProblem('not an octal number', 'an octal number such as 022');
  const n = parseInt((m[2] as string).replace(/_/g, ''), 8);
  return m[1] === '-' ? -n : n;
}

// Python's signal module also knows these spellings; Node's table (os/signals.ts) does not.
const SIGNAL_ALIASES: Readonly<Record<string, string>> = { CLD: 'CHLD' };

/** A stop signal by name (TERM, SIGTERM, term) or number (15); returns the canonical name without SIG. */
export function signalName(raw: string): string {
  const expected = 'a signal name such as TERM, INT, QUIT, HUP, KILL, USR1, USR2, or its number';
  if (PY_INT.test(raw)) {
    const name = osSignalName(integer(raw));
    if (name === null) throw new ValueProblem('not a signal number', expected);
    return name;
  }
  let name = raw.trim().toUpperCase();
  if (name.startsWith('SIG')) name = name.slice(3);
  name = SIGNAL_ALIASES[name] ?? name;
  const num = signalNumber(name);
  if (num === null || /^\d+$/.test(name)) throw new ValueProblem('not a signal name', expected);
  // the canonical spelling (IOT → ABRT, POLL → IO), as supervisor prints it
  return osSignalName(num) as string;
}

/** supervisor's list_of_exitcodes: comma-separated integers 0–255; returned sorted. */
export function exitCodes(raw: string): number[] {
  if (!raw) return [];
  // map, not push: an array kept per process holds exactly its codes (push leaves room for 17)
  const out = raw.split(',').map((part) => {
    if (!PY_INT.test(part)) throw new ValueProblem('not a list of exit codes', 'comma-separated integers 0-255, e.g. 0,2');
    const n = integer(part);
    if (n < 0 || n > 255) throw new ValueProblem(`exit code ${n} is out of range`, 'comma-separated integers 0-255, e.g. 0,2');
    return n;
  });
  return out.sort((a, b) => a - b);
}

export type AutoRestartValue = 'true' | 'false' | 'unexpected';

export function autoRestart(raw: string): AutoRestartValue {
  const v = raw.toLowerCase();
  if (TRUTHY.includes(v)) return 'true';
  if (FALSY.includes(v)) return 'false';
  if (v === 'unexpected') return 'unexpected';
  throw new ValueProblem('not an autorestart value', 'true, false or unexpected');
}

/** supervisor's list_of_strings: comma-separated, each stripped; empty gives []. */
export function listOfStrings(raw: string): string[] {
  if (!raw) return [];
  return raw.split(',').map((s) => s.trim());
}

/** What a process or group name may not contain, besides what supervisor refuses. */
const NAME_EXPECTED = 'a name without spaces, ":", "/" or control characters';

/**
 * supervisor's process_or_group_name: stripped, and no space, colon or slash. drover also refuses control
 * characters (C0 with tab and newline, DEL, C1), which supervisor allows: a name is written into drover.log
 * lines and printed on terminals, where a newline forges a log line and an escape sequence rewrites the screen.
 */
export function processOrGroupName(raw: string): string {
  const s = raw.trim();
  for (const c of [' ', ':', '/']) {
    if (s.includes(c)) throw new ValueProblem(`a name must not contain ${JSON.stringify(c)}`, NAME_EXPECTED);
  }
  refuseControlCharacters(s);
  return s;
}

/** Refuses a name (also one from an expansion) that holds a control character. */
export function refuseControlCharacters(name: string): void {
  const i = name.search(CONTROL_CHARACTER);
  if (i < 0) return;
  const code = `U+${name.charCodeAt(i).toString(16).toUpperCase().padStart(4, '0')}`;
  throw new ValueProblem(`a name must not contain control character ${code} (at character ${i + 1}); drover refuses them, unlike supervisor`, NAME_EXPECTED);
}

// C0 (tab and newline included), DEL and C1
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;

/** Python's os.path.expanduser for `~` and `~/…` (and `~user` from /etc/passwd). */
export function expandUser(path: string): string {
  if (!path.startsWith('~')) return path;
  const slash = path.indexOf('/');
  const userPart = slash < 0 ? path.slice(1) : path.slice(1, slash);
  const rest = slash < 0 ? '' : path.slice(slash);
  if (userPart === '') return (process.env['HOME'] ?? homedir()) + rest;
  const entry = lookupUser(userPart);
  return entry ? entry.home.replace(/\/$/, '') + rest : path;
}

export type LogfileValue = { readonly type: 'auto' } | { readonly type: 'none' } | { readonly type: 'syslog' } | { readonly type: 'path'; readonly path: string };

/** supervisor's logfile_name: NONE/OFF, AUTO, SYSLOG (any case) or a path (with `~` expanded). */
export function logfileName(raw: string): LogfileValue {
  const v = raw.toLowerCase();
  if (v === 'none' || v === 'off') return { type: 'none' };
  if (v === 'auto') return { type: 'auto' };
  if (v === 'syslog') return { type: 'syslog' };
  return { type: 'path', path: expandUser(raw) };
}

/** A duration: plain seconds ("10", "1.5") or with a unit: 500ms, 10s, 5m, 1h. Returns seconds. */
export function duration(raw: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(raw);
  if (!m) throw new ValueProblem('not a duration', 'seconds, or a number with ms, s, m or h (e.g. 500ms, 10s, 5m)');
  const n = Number(m[1]);
  switch (m[2]) {
    case 'ms':
      return n / 1000;
    case 'm':
      return n * 60;
    case 'h':
      return n * 3600;
    default:
      return n;
  }
}

export function backoffKind(raw: string): 'linear' | 'exponential' {
  const v = raw.trim().toLowerCase();
  if (v === 'linear' || v === 'exponential') return v;
  throw new ValueProblem('not a backoff kind', 'linear or exponential');
}

export function loglevel(raw: string): 'critical' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'blather' {
  const v = raw.toLowerCase();
  switch (v) {
    case 'critical':
    case 'error':
    case 'warn':
    case 'info':
    case 'debug':
    case 'trace':
    case 'blather':
      return v;
    default:
      throw new ValueProblem('not a log level', 'critical, error, warn, info, debug, trace or blather');
  }
}

/**
 * A TCP port 1–65535, optionally `host:port` (supervisor's inet_address); `*` or empty host means all
 * (host ''), which the control server binds as 0.0.0.0; `[IPV6]:port` gives the address without brackets.
 */
export function inetAddress(raw: string): { host: string; port: number } {
  const expected = 'a port, or host:port (e.g. 127.0.0.1:9001, [::1]:9001)';
  let host = '';
  let portText = raw;
  const colon = raw.lastIndexOf(':');
  if (colon >= 0) {
    host = raw.slice(0, colon).toLowerCase();
    portText = raw.slice(colon + 1);
    if (!portText) throw new ValueProblem('no port number', expected);
  }
  if (!PY_INT.test(portText)) throw new ValueProblem('not a port number', expected);
  const port = integer(portText);
  if (port < 1 || port > 65535) throw new ValueProblem('port out of range', expected);
  if (host === '*') host = '';
  // supervisor takes no IPv6 address here; drover binds one written in brackets (a bare `::1` has been split
  // at its last colon above and fails to resolve, as in supervisord)
  const v6 = /^\[([0-9a-f:.]+)\]$/.exec(host);
  if (v6) host = v6[1] as string;
  return { host, port };
}

/** An [fcgi-program:x] socket, as supervisor's parse_fcgi_socket reads it. */
export type FcgiSocketAddress = { readonly kind: 'tcp'; readonly host: string; readonly port: number } | { readonly kind: 'unix'; readonly path: string };

/**
 * supervisor's parse_fcgi_socket: `unix:///absolute/path` (normalised as os.path.normpath does) or
 * `tcp://HOST:PORT` (IPv4 address or host name, lower-cased; no IPv6, as in supervisor).
 */
export function fcgiSocketAddress(raw: string): FcgiSocketAddress {
  const expected = 'tcp://HOST:PORT (e.g. tcp://127.0.0.1:9000) or unix:///absolute/path.sock';
  if (raw.startsWith('unix://')) {
    const path = raw.slice(7);
    if (!path.startsWith('/')) throw new ValueProblem('a unix socket needs an absolute path', expected);
    const normal = normPath(path);
    const tooLong = unixPathProblem(normal);
    if (tooLong !== null) throw new ValueProblem(tooLong, 'a shorter path, e.g. unix:///run/app.sock');
    return { kind: 'unix', path: normal };
  }
  const m = /^tcp:\/\/([^\s:]+):(\d+)\n?$/.exec(raw);
  if (!m) throw new ValueProblem('not a FastCGI socket address', expected);
  const port = Number(m[2]);
  if (port < 1 || port > 65535) throw new ValueProblem('port out of range', 'a port from 1 to 65535');
  return { kind: 'tcp', host: (m[1] as string).toLowerCase(), port };
}

/** supervisor's socket_backlog: an integer from 1 to 65535. */
export function socketBacklog(raw: string): number {
  const n = integer(raw);
  if (n < 1 || n > 65535) throw new ValueProblem('out of range', 'an integer from 1 to 65535');
  return n;
}

/**
 * supervisor's colon_separated_user_group as the fcgi socket_owner uses it: `user` → (uid, -1: group
 * unchanged), `user:group` → (uid, gid); names or numbers, each must exist.
 */
export function socketOwner(raw: string): { readonly uid: number; readonly gid: number } {
  const expected = 'user or user:group that exist on this system';
  const [user, group] = raw.split(/:(.*)/s, 2);
  const u = user ? osLookupUser(user) : null;
  if (!u) throw new ValueProblem('no such user', expected);
  if (group === undefined) return { uid: u.uid, gid: -1 };
  const gid = osLookupGroupId(group);
  if (gid === null) throw new ValueProblem('no such group', expected);
  return { uid: u.uid, gid };
}

/** Python's os.path.normpath for an absolute POSIX path (keeps a leading "//", as Python does). */
function normPath(path: string): string {
  const initial = path.startsWith('//') && !path.startsWith('///') ? '//' : '/';
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return initial + parts.join('/');
}

/** One /etc/passwd entry. */
export interface PasswdEntry {
  readonly name: string;
  readonly uid: number;
  readonly home: string;
}

/** A user name or uid, as supervisor's name_to_uid checks it: it must exist (here: in /etc/passwd). */
export function existingUser(raw: string): string {
  const entry = PY_INT.test(raw) ? lookupUid(integer(raw)) : lookupUser(raw);
  if (!entry) throw new ValueProblem('no such user', 'a user name or uid known to the system (getent passwd)');
  return raw;
}

/** `user` or `user:group` where each exists (supervisor's colon_separated_user_group). */
export function userAndGroup(raw: string): string {
  const [user, group] = raw.split(/:(.*)/s, 2);
  existingUser(user ?? '');
  if (group !== undefined) {
    const ok = PY_INT.test(group) ? lookupGroup(null, integer(group)) : lookupGroup(group, null);
    if (!ok) throw new ValueProblem('no such group', 'user or user:group that exist on this system');
  }
  return raw;
}

/**
 * supervisor's dict_of_key_value_pairs: KEY=value pairs separated by commas, read with a non-POSIX
 * shlex, quotes stripped from both ends of each value. `onSkipped` hears of each token supervisor
 * silently drops where it expects a comma (e.g. after `A=$HOME` it keeps "$" and drops "HOME").
 */
export function keyValuePairs(raw: string, onSkipped?: (key: string, value: string, skipped: string) => void): Record<string, string> {
  const tokens = lexWordsChecked(raw);
  const out: Record<string, string> = {};
  for (let i = 0; i < tokens.length; i += 4) {
    const k = tokens[i] as string;
    if (i + 2 >= tokens.length || tokens[i + 1] !== '=') {
      throw new ValueProblem(
        `unexpected end of KEY=value pairs near ${JSON.stringify(tokens.slice(i).join(' '))}`,
        'KEY=value pairs separated by commas; quote values that contain spaces or commas',
      );
    }
    const v = stripQuotes(tokens[i + 2] as string);
    out[k] = v;
    const sep = tokens[i + 3];
    if (sep !== undefined && sep !== ',' && onSkipped) onSkipped(k, v, sep);
  }
  return out;
}

// --- internal ---

function lexWordsChecked(raw: string): string[] {
  try {
    return lexWords(raw);
  } catch (e) {
    throw new ValueProblem(e instanceof Error ? e.message : String(e), 'KEY=value pairs with balanced quotes');
  }
}

/** Python's str.strip('\'"'). */
function stripQuotes(s: string): string {
  return s.replace(/^['"]+/, '').replace(/['"]+$/, '');
}

// Users and groups are looked up through getent (os/users.ts), so NSS sources (LDAP, sssd) count as
// they do for supervisor's pwd.getpwnam.
function lookupUser(name: string): PasswdEntry | undefined {
  const u = osLookupUser(name);
  return u ? { name: u.name, uid: u.uid, home: u.home } : undefined;
}

function lookupUid(uid: number): PasswdEntry | undefined {
  return lookupUser(String(uid));
}

function lookupGroup(name: string | null, gid: number | null): boolean {
  return osLookupGroup(name ?? String(gid));
}
