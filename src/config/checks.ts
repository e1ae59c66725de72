// The values of drover's orchestration keys: `ready =` and `healthcheck =` checks and `depends_on =` lists.
// Parsers take the expanded string and return the typed value, or throw ValueProblem with what was expected
// (the schema table in schema.ts names them); `describeCheck` and `describeDependency` print them back.
import { ValueProblem, processOrGroupName } from './datatypes.js';
import { nearestKey } from './nearest.js';
import { ShlexError, splitCommand } from './shlex.js';
import type { CheckSpec, Dependency, DependencyCondition } from './types.js';

const READY_EXPECTED = 'tcp://HOST:PORT, http(s)://URL [status=CODE], exec:COMMAND, log:TEXT or notify';
const HEALTH_EXPECTED = 'tcp://HOST:PORT, http(s)://URL [status=CODE] or exec:COMMAND';
const CONDITIONS: readonly DependencyCondition[] = ['started', 'ready', 'completed'];

/** `ready = CHECK`: every kind of check. */
export function readyCheck(raw: string): CheckSpec {
  return parseCheck(raw, READY_EXPECTED);
}

/** `healthcheck = CHECK`: tcp, http(s) or exec (a log line or READY=1 says nothing about health later on). */
export function healthCheck(raw: string): CheckSpec {
  const check = parseCheck(raw, HEALTH_EXPECTED);
  if (check.type === 'log' || check.type === 'notify') {
    throw new ValueProblem(`a ${check.type} check says when a program is ready, not whether it is still healthy`, HEALTH_EXPECTED);
  }
  return check;
}

/** `depends_on = NAME[:CONDITION], …`: separated by commas (or spaces); the condition defaults to started. */
export function dependencyList(raw: string): Dependency[] {
  const out: Dependency[] = [];
  for (const item of raw.split(/[\s,]+/).filter((s) => s !== '')) {
    const colon = item.indexOf(':');
    const rawName = colon < 0 ? item : item.slice(0, colon);
    const rawCondition = colon < 0 ? 'started' : item.slice(colon + 1).toLowerCase();
    let name: string;
    try {
      name = processOrGroupName(rawName);
    } catch (e) {
      if (!(e instanceof ValueProblem)) throw e;
      throw new ValueProblem(`${JSON.stringify(item)}: ${e.message}`, 'NAME[:started|ready|completed], … (NAME a program or a group)');
    }
    if (name === '') throw new ValueProblem(`${JSON.stringify(item)} names nothing`, 'NAME[:started|ready|completed], …');
    if (!(CONDITIONS as readonly string[]).includes(rawCondition)) {
      throw new ValueProblem(`${JSON.stringify(item)}: "${rawCondition}" is not a condition ${notACondition(name, rawCondition)}`, 'NAME, NAME:started, NAME:ready or NAME:completed');
    }
    if (out.some((d) => d.name === name)) throw new ValueProblem(`${name} is named twice`, 'each program or group once');
    out.push({ name, condition: rawCondition as DependencyCondition });
  }
  // `depends_on = ,` is a list with an empty item, not "no dependencies" (leave the value empty for that)
  if (out.length === 0 && raw.trim() !== '') throw new ValueProblem(`${JSON.stringify(raw.trim())} names nothing`, 'NAME[:started|ready|completed], …, or nothing at all');
  return out;
}

/**
 * The rest of the message for `NAME:WORD` where WORD is no condition: a near miss of one, or supervisor's
 * `group:name` / `group:*` (which names a process elsewhere, not here): then how a group and a program are named.
 */
function notACondition(name: string, word: string): string {
  const near = nearestKey(word, CONDITIONS);
  if (near !== null) return `(started, ready or completed; did you mean ${near}?)`;
  // a word that reads as a program name is given as the example (`backend:db` → db); `*` is not one
  const program = /^[\w.-]+$/.test(word) ? ` (${word})` : '';
  return `(started, ready or completed); a group is named by its name alone (${name}) and a program by its program name${program}, each with an optional :CONDITION`;
}

/** A check as the config writes it, for logs, status and the web page. */
export function describeCheck(check: CheckSpec): string {
  switch (check.type) {
    case 'tcp':
      return `tcp://${check.host.includes(':') ? `[${check.host}]` : check.host}:${check.port}`;
    case 'http':
      return check.status === null ? check.url : `${check.url} status=${check.status}`;
    case 'exec':
      return `exec:${check.command}`;
    case 'log':
      return `log:${check.text}`;
    case 'notify':
      return 'notify';
    default:
      return assertNever(check);
  }
}

/** "db:ready" */
export function describeDependency(d: Dependency): string {
  return `${d.name}:${d.condition}`;
}

// --- internal ---

function parseCheck(raw: string, expected: string): CheckSpec {
  const v = raw.trim();
  if (v === 'notify') return { type: 'notify' };
  if (v.startsWith('log:')) {
    const text = v.slice(4);
    if (text.trim() === '') throw new ValueProblem('log: needs the text to look for', 'log:TEXT, e.g. log:listening on');
    if (/[\r\n]/.test(text)) throw new ValueProblem('the text of a log check is matched within one line', 'log:TEXT on one line');
    return { type: 'log', text };
  }
  if (v.startsWith('exec:')) {
    const command = v.slice(5).trim();
    let argv: string[];
    try {
      argv = splitCommand(command);
    } catch (e) {
      if (!(e instanceof ShlexError)) throw e;
      throw new ValueProblem(`cannot split the command: ${e.message}`, 'exec:COMMAND with balanced quotes');
    }
    if (argv.length === 0) throw new ValueProblem('exec: needs a command', 'exec:COMMAND, e.g. exec:pg_isready -h 127.0.0.1');
    return { type: 'exec', command, argv };
  }
  if (v.startsWith('tcp://')) return tcpCheck(v);
  if (v.startsWith('http://') || v.startsWith('https://')) return httpCheck(v);
  throw new ValueProblem('not a check', expected);
}

function tcpCheck(v: string): CheckSpec {
  const expected = 'tcp://HOST:PORT, e.g. tcp://127.0.0.1:5432 or tcp://[::1]:6379';
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    throw new ValueProblem('not a tcp address', expected);
  }
  if (url.hostname === '' || url.port === '' || (url.pathname !== '' && url.pathname !== '/') || url.search !== '' || url.username !== '') {
    throw new ValueProblem('a tcp check needs a host and a port, and nothing else', expected);
  }
  const port = Number(url.port);
  if (port < 1 || port > 65535) throw new ValueProblem('port out of range', 'a port from 1 to 65535');
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return { type: 'tcp', host, port };
}

function httpCheck(v: string): CheckSpec {
  const expected = 'http://HOST[:PORT]/PATH or https://…, optionally followed by status=CODE';
  const [target, ...opts] = v.split(/\s+/);
  let status: number | null = null;
  for (const opt of opts) {
    const m = /^status=(\d{3})$/.exec(opt);
    if (!m) throw new ValueProblem(`unknown option ${JSON.stringify(opt)}`, expected);
    if (status !== null) throw new ValueProblem('status= is given twice', 'one status=CODE');
    status = Number(m[1]);
    if (status < 100 || status > 599) throw new ValueProblem(`status ${status} is not an HTTP status`, 'status=CODE with CODE from 100 to 599');
  }
  // the WHATWG parser reads http:///x and http:x as http://x/: a host must follow the two slashes as written
  if (!/^https?:\/\/[^/?#\\]/i.test(target as string)) throw new ValueProblem('the URL has no host', expected);
  let url: URL;
  try {
    url = new URL(target as string);
  } catch {
    throw new ValueProblem('not a URL', expected);
  }
  if (url.hostname === '') throw new ValueProblem('the URL has no host', expected);
  return { type: 'http', url: url.href, status };
}

function assertNever(x: never): never {
  throw new Error(`unhandled check ${JSON.stringify(x)}`);
}
