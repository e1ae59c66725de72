// drover's JSON API under /api/ (documented in docs/api.md). Every answer is JSON: `{ ok: true, ... }` or
// `{ ok: false, code, message }` with a stable code. Bodies are validated here; nothing in a request names
// a file: logs are addressed by process, and only configured log files are read.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ConfigDiff } from '../config/diff.js';
import { describeCheck, describeDependency } from '../config/checks.js';
import { ConfigProblems, formatConfigWarning } from '../config/sources.js';
import type { Config } from '../config/types.js';
import { NO_PROCESS_STATES, SIGNALLABLE_STATES } from '../core/states.js';
import type { ChangeEvent, CommandOutcome, Mood } from '../core/types.js';
import { ConfigError, DroverError } from '../errors.js';
import { LogReadError } from '../logs/read.js';
import { encodeLog, LogEncoder, type LogEncoding } from './log-encoding.js';
import { pidNamespace } from '../os/proc.js';
import { BadSignal, ScaleError, uptimeMsOf, type ControlApi, type ProcessView, type ResolvedNames, type StreamName } from './api.js';
import { EventStreamWriter, sendError, sendJson, sendMethodNotAllowed, sendJsonText, type RouteHandler } from './server.js';
import { shownMs } from './shown-time.js';
import { statusCells, statusTable } from './status-text.js';
import {
  MAX_SCALE,
  NOT_RUNNING_HEADER,
  type ApiErrorCode,
  type AvailJson,
  type DiffJson,
  type FollowLostJson,
  type InfoJson,
  type NamedLogPositionJson,
  type LogEventJson,
  type LogReadJson,
  type LogStartJson,
  type LogTailJson,
  type OkJson,
  type ProcessJson,
  type ReloadJson,
  type RereadJson,
  type ResultsJson,
  type StateEventJson,
  type StatusJson,
  type StreamEndJson,
  type StreamLostJson,
} from './wire.js';

/** The JSON shape of one process at `nowMs` (stable field names; docs/api.md). */
export function processJson(p: ProcessView, nowMs: number): ProcessJson {
  return {
    name: p.key,
    group: p.group,
    process: p.name,
    program: p.spec.programName,
    state: p.state,
    pid: p.pid === 0 ? null : p.pid,
    uptime_ms: uptimeMsOf(p, nowMs),
    started_at: p.startedAtMs === null ? null : new Date(p.startedAtMs).toISOString(),
    stopped_at: p.stoppedAtMs === null ? null : new Date(p.stoppedAtMs).toISOString(),
    restarts: p.restarts,
    exit_status: p.exitStatus,
    exit_signal: p.exitSignal,
    spawn_error: p.spawnError,
    cpu_percent: p.cpuPercent,
    rss_bytes: p.rssBytes,
    stdout_logfile: p.stdoutLogfile,
    stderr_logfile: p.stderrLogfile,
    ready: p.spec.ready === null ? null : describeCheck(p.spec.ready),
    depends_on: p.spec.dependsOn.map(describeDependency),
    waiting: p.waiting,
    blocked: p.blocked,
    healthcheck: p.spec.healthcheck === null ? null : describeCheck(p.spec.healthcheck),
    health: p.health,
    essential: p.spec.essential,
    role: p.role,
  };
}

/**
 * `views.map((p) => processJson(p, nowMs))` as JSON text, written from the bytes kept per view: everything
 * but uptime_ms (which moves with the clock) is serialised once per change of a process, not once per request.
 */
export function processesJsonText(views: readonly ProcessView[], nowMs: number): string {
  return joinRecords(views, nowMs, 0, '[', ',', ']').toString('utf8');
}

/**
 * The answer to /api/processes, `{ ok: true, processes }`, as the UTF-8 bytes of what
 * `JSON.stringify(answer, null, indent)` writes (indent 0: compact), from the same kept bytes. `drover status
 * --json` prints an indented answer as it comes, without parsing and re-serialising a document that is
 * 0.7 MB with 1000 programs; and the daemon copies bytes instead of joining and encoding 1000 strings per
 * request (a third of the time of such a request on a 2-core VM).
 */
export function processesAnswerBytes(views: readonly ProcessView[], nowMs: number, indent: number, state: Mood): Buffer {
  if (indent === 0) return joinRecords(views, nowMs, 0, `{"ok":true,"state":"${state}","processes":[`, ',', ']}');
  const sp = ' '.repeat(indent);
  const head = `{\n${sp}"ok": true,\n${sp}"state": "${state}",\n${sp}"processes": [`;
  if (views.length === 0) return Buffer.from(`${head}]\n}`);
  const pad = sp + sp; // a record sits two levels deep: the answer, then its list
  return joinRecords(views, nowMs, indent, `${head}\n${pad}`, `,\n${pad}`, `\n${sp}]\n}`);
}

/** How many of `views` are in a state with no process (the exit code of `drover status` depends on it). */
export function countNotRunning(views: readonly ProcessView[]): number {
  let n = 0;
  for (const p of views) if (NO_PROCESS_STATES.has(p.state)) n++;
  return n;
}

/** The largest indent JSON.stringify honours. */
export const MAX_INDENT = 10;

/** `open`, the views' records at `indent` separated by `sep`, then `close`, as UTF-8 in one buffer. */
function joinRecords(views: readonly ProcessView[], nowMs: number, indent: number, open: string, sep: string, close: string): Buffer {
  const pad = ' '.repeat(indent * 2);
  const parts = views.map((p) => recordParts(p, nowMs, indent, pad));
  const uptimes = views.map((p) => String(uptimeMsOf(p, nowMs) ?? 'null'));
  const sepBytes = Buffer.from(sep);
  let size = Buffer.byteLength(open) + Buffer.byteLength(close) + Math.max(0, views.length - 1) * sepBytes.length;
  for (let i = 0; i < parts.length; i++) size += (parts[i] as RecordText).bytes + (uptimes[i] as string).length;
  // zero-filled, and cut at what was written: a miscount must not send a client stale memory
  const out = Buffer.alloc(size);
  let at = out.write(open, 0);
  for (let i = 0; i < parts.length; i++) {
    if (i > 0) at += sepBytes.copy(out, at);
    const { head, tail } = parts[i] as RecordText;
    at += out.write(head, at);
    at += out.write(uptimes[i] as string, at, 'latin1'); // digits or null
    at += out.write(tail, at);
  }
  at += out.write(close, at);
  return at === size ? out : out.subarray(0, at);
}

/** One view's JSON text around its uptime_ms value, indented by `indent` and placed at `pad`, kept per view. */
function recordParts(p: ProcessView, nowMs: number, indent: number, pad: string): RecordText {
  let kept = jsonParts.get(p);
  if (!kept) {
    kept = [];
    jsonParts.set(p, kept);
  }
  let parts = kept[indent];
  if (!parts) {
    // processJson's fields in its order, split around uptime_ms
    const { name, group, process, program, state, pid, uptime_ms: _uptime, ...after } = processJson(p, nowMs);
    const head = JSON.stringify({ name, group, process, program, state, pid }, null, indent);
    const tail = JSON.stringify(after, null, indent);
    // a JSON string never holds a raw newline, so every newline here is the layout's
    const text =
      indent === 0
        ? { head: `${head.slice(0, -1)},"uptime_ms":`, tail: `,${tail.slice(1)}` }
        : {
            head: `${head.slice(0, -2)},\n${' '.repeat(indent)}"uptime_ms": `.replaceAll('\n', `\n${pad}`),
            tail: `,${tail.slice(1)}`.replaceAll('\n', `\n${pad}`),
          };
    parts = { head: text.head, tail: text.tail, bytes: Buffer.byteLength(text.head) + Buffer.byteLength(text.tail) };
    kept[indent] = parts;
  }
  return parts;
}

/**
 * A record's JSON before and after its uptime_ms value, as text: V8 keeps an ASCII string at a byte a
 * character, where two small Buffers per record each held on to a share of Node's 8 KiB pool slabs (~0.9 KiB
 * a process in a daemon of 1000, bench/RESULTS.md, fifteenth session). `bytes`: both as UTF-8.
 */
interface RecordText {
  readonly head: string;
  readonly tail: string;
  readonly bytes: number;
}

/** Each view's JSON around uptime_ms, per indent (views are kept per record by ControlApi.list). */
const jsonParts = new WeakMap<ProcessView, RecordText[]>();

/** Each view's status cells (control/status-text.ts), plain and coloured, kept as its JSON bytes are. */
const statusCellsKept = new WeakMap<ProcessView, (readonly string[] | undefined)[]>();

function keptStatusCells(p: ProcessView, nowMs: number, color: boolean): readonly string[] {
  let kept = statusCellsKept.get(p);
  if (!kept) statusCellsKept.set(p, (kept = []));
  return (kept[color ? 1 : 0] ??= statusCells(processJson(p, nowMs), color));
}

/** An answer serialised already (sent as it is), with headers of its own. */
class JsonText {
  constructor(
    readonly text: string | Buffer,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {}
}

/** A request refused with an HTTP error status and `{ ok: false, code, message }`. */
class BadRequest extends DroverError {
  declare readonly code: ApiErrorCode;
  constructor(
    code: ApiErrorCode,
    message: string,
    readonly status = 400,
  ) {
    super(code, message);
  }
}

type Handler = (api: ControlApi, input: Input, req: IncomingMessage, res: ServerResponse) => Promise<unknown> | unknown;

/** Request input: the JSON body (POST) or the query string (GET), read through typed getters. */
class Input {
  /**
   * `fromQuery`: a GET's query string, where every value is a string, so `"3"` and `"true"` stand for a
   * number and a boolean; in a JSON body they must be a JSON number and a JSON boolean (false).
   */
  constructor(
    readonly data: Record<string, unknown>,
    readonly fromQuery: boolean,
  ) {}

  /** Refuses keys other than `allowed` (for the streaming endpoints, where a typo would go unnoticed). */
  only(...allowed: string[]): void {
    const extra = Object.keys(this.data).filter((k) => !allowed.includes(k));
    if (extra.length > 0) {
      throw new BadRequest('E_BAD_REQUEST', `unknown parameter${extra.length > 1 ? 's' : ''} ${extra.map((k) => JSON.stringify(k)).join(', ')}; expected ${allowed.join(', ')}`);
    }
  }

  patterns(): string[] {
    const v = this.data['patterns'] ?? this.data['names'];
    if (v === undefined) throw new BadRequest('E_BAD_REQUEST', 'missing "patterns": a list of process names or patterns');
    const list = typeof v === 'string' ? v.split(',').filter(Boolean) : v;
    // a pattern too long to name anything is an unknown name (404), as supervisorctl says "no such process"
    if (!Array.isArray(list) || list.length === 0 || !list.every((x) => typeof x === 'string' && x.length > 0)) {
      throw new BadRequest('E_BAD_REQUEST', '"patterns" must be a non-empty list of non-empty strings');
    }
    return list as string[];
  }

  optionalStrings(key: string): string[] | null {
    const v = this.data[key];
    if (v === undefined || v === null) return null;
    const list = typeof v === 'string' ? v.split(',').filter(Boolean) : v;
    if (!Array.isArray(list) || !list.every((x) => typeof x === 'string' && x.length > 0)) {
      throw new BadRequest('E_BAD_REQUEST', `"${key}" must be a list of strings`);
    }
    // `status ''` would otherwise match nothing and succeed: an empty name names no process
    if (typeof v === 'string' && list.length === 0) throw new BadRequest('E_BAD_REQUEST', `"${key}" is empty: name something, or leave it out`);
    return list as string[];
  }

  bool(key: string, dflt: boolean): boolean {
    const v = this.data[key];
    if (v === undefined) return dflt;
    if (typeof v === 'boolean') return v;
    if (this.fromQuery && (v === 'true' || v === '1')) return true;
    if (this.fromQuery && (v === 'false' || v === '0')) return false;
    throw new BadRequest('E_BAD_REQUEST', `"${key}" must be true or false${this.fromQuery ? '' : ' (a JSON boolean)'}, got ${shownValue(v)}`);
  }

  int(key: string, dflt: number): number {
    const v = this.data[key];
    if (v === undefined) return dflt;
    const n = typeof v === 'number' ? v : this.fromQuery && typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : NaN;
    if (!Number.isSafeInteger(n)) throw new BadRequest('E_BAD_REQUEST', `"${key}" must be an integer${this.fromQuery ? '' : ' (a JSON number)'}, got ${shownValue(v)}`);
    return n;
  }

  string(key: string): string {
    const v = this.data[key];
    if (typeof v !== 'string' || v.length === 0 || v.length > 256) {
      throw new BadRequest('E_BAD_REQUEST', `"${key}" must be a non-empty string`);
    }
    return v;
  }

  /** `lines`: how many whole lines of a log's end to send first; null when not asked. */
  lines(): number | null {
    if (this.data['lines'] === undefined) return null;
    const n = this.int('lines', 0);
    if (n < 0) throw new BadRequest('E_BAD_REQUEST', `"lines" must not be negative, got ${n}`);
    return n;
  }

  /** How log bytes are sent: `text` (UTF-8, the default) or `base64` (the bytes as they are). */
  encoding(): LogEncoding {
    const v = this.data['encoding'] ?? 'text';
    if (v !== 'text' && v !== 'base64') throw new BadRequest('E_BAD_REQUEST', `"encoding" must be "text" or "base64", got ${JSON.stringify(v)}`);
    return v;
  }

  stream(): StreamName {
    const v = this.data['stream'] ?? 'stdout';
    if (v !== 'stdout' && v !== 'stderr') throw new BadRequest('E_BAD_REQUEST', '"stream" must be "stdout" or "stderr"');
    return v;
  }
}

/** A request's value for a message: as JSON, cut at 100 characters (a body may hold a megabyte). */
function shownValue(v: unknown): string {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 100 ? `${text.slice(0, 100)}… (${text.length} characters)` : text;
}

function resolveOrThrow(api: ControlApi, patterns: readonly string[]): string[] {
  return resolveAllOrThrow(api, patterns).keys;
}

function resolveAllOrThrow(api: ControlApi, patterns: readonly string[]): ResolvedNames {
  const resolved = api.resolve(patterns);
  if (resolved.unknown.length > 0) {
    const shown = resolved.unknown.map((u) => (u.length > 100 ? `${u.slice(0, 100)}… (${u.length} characters)` : u));
    throw new BadRequest('E_BAD_NAME', `no such process or group: ${shown.join(', ')}`, 404);
  }
  return resolved;
}

function results(outcomes: readonly CommandOutcome[]): ResultsJson {
  // settledAtMs only orders XML-RPC's answers (supervisord's); the JSON API answers in request order
  const plain = outcomes.map(({ key, ok, code, message }) => ({ key, ok, ...(code !== undefined ? { code } : {}), ...(message !== undefined ? { message } : {}) }));
  return { ok: outcomes.every((o) => o.ok), results: plain };
}

function logKey(api: ControlApi, input: Input): string {
  const name = input.string('process');
  const keys = resolveOrThrow(api, [name]);
  if (keys.length !== 1) throw new BadRequest('E_BAD_NAME', `"${name}" names ${keys.length} processes; name one`);
  return keys[0] as string;
}

/** The sink's coded errors (E_NO_FILE, E_BAD_NAME, …) as API errors; anything else as it is. */
function logError(err: unknown): unknown {
  return err instanceof LogReadError ? new BadRequest(err.code, err.message, err.code === 'E_NO_FILE' ? 404 : 400) : err;
}

/** `encoding: "base64"` in an answer that carries base64: an older drover ignores the parameter and sends text. */
function encodingField(encoding: LogEncoding): { encoding?: 'base64' } {
  return encoding === 'base64' ? { encoding } : {};
}

/** Runs a synchronous log call, turning the sink's coded errors into API errors. */
function logTry<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw logError(err);
  }
}

/** Runs a log read, turning the sink's coded errors into API errors. */
async function logRead<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw logError(err);
  }
}

function requireLogs(api: ControlApi): NonNullable<ControlApi['logs']> {
  if (!api.logs) throw new BadRequest('E_NO_LOGS', 'log files are not kept by this drover', 409);
  return api.logs;
}

const GET: Record<string, Handler> = {
  '/api/info': (api) =>
    ({
      ok: true,
      pid: process.pid,
      version: api.version,
      identification: api.identification,
      state: api.supervisor.state,
      config_file: api.configFile,
      pid_namespace: pidNamespace(),
    }) satisfies InfoJson,
  '/api/processes': (api, input) => {
    const pats = input.optionalStrings('patterns');
    if (pats) resolveOrThrow(api, pats);
    const indent = input.int('indent', 0);
    if (indent < 0 || indent > MAX_INDENT) throw new BadRequest('E_BAD_REQUEST', `"indent" must be 0 to ${MAX_INDENT}`);
    const views = api.list(pats ?? undefined);
    // a ProcessesJson (a test compares it with one serialised whole); the header spares a client that
    // prints the text as it comes from parsing it for its exit code
    return new JsonText(processesAnswerBytes(views, api.nowMs(), indent, api.supervisor.state), { [NOT_RUNNING_HEADER]: String(countNotRunning(views)) });
  },
  '/api/status': (api, input) => {
    const pats = input.optionalStrings('patterns');
    if (pats) resolveOrThrow(api, pats);
    const color = input.bool('color', false);
    const views = api.list(pats ?? undefined);
    const nowMs = api.nowMs();
    // the table, not the records: a client prints it as it is, where 1000 records are 0.4 MB of JSON to
    // parse (docs/decisions.md, "`drover status`: drover writes the table")
    const rows = views.map((p) => ({ cells: keptStatusCells(p, nowMs, color), uptimeMs: uptimeMsOf(p, nowMs) }));
    return { ok: true, text: statusTable(rows), not_running: countNotRunning(views), state: api.supervisor.state } satisfies StatusJson;
  },
  '/api/avail': async (api) => {
    const { active, available, config } = await api.avail();
    return {
      ok: true,
      groups: config.groups.map((g) => ({ name: g.name, active: active.includes(g.name), priority: g.priority })),
      available,
    } satisfies AvailJson;
  },
  '/api/logs/read': async (api, input) => {
    const key = logKey(api, input);
    const logs = requireLogs(api);
    const encoding = input.encoding();
    const data = await logRead(() => logs.readLog(key, input.stream(), input.int('offset', 0), input.int('length', 0)));
    return { ok: true, process: key, data: encodeLog(data, encoding), ...encodingField(encoding) } satisfies LogReadJson;
  },
  '/api/logs/tail': async (api, input) => {
    const key = logKey(api, input);
    const logs = requireLogs(api);
    const encoding = input.encoding();
    const lines = input.lines();
    const stream = input.stream();
    // `lines` wins over `length`, so a client may send both and an older drover, which knows only `length`, still answers
    const t =
      lines !== null
        ? { ...logTry(() => logs.tailLogLines(key, stream, lines)), overflow: false }
        : await logRead(() => logs.tailLog(key, stream, input.int('offset', 0), input.int('length', 1600)));
    return { ok: true, process: key, data: encodeLog(t.bytes, encoding), offset: t.offset, overflow: t.overflow, ...encodingField(encoding) } satisfies LogTailJson;
  },
  '/api/logs/follow': (api, input, req, res) => {
    input.only('process', 'stream', 'lines', 'encoding');
    const key = logKey(api, input);
    const logs = requireLogs(api);
    // validated before the 200 goes out: after it, no error can be answered
    const stream = input.stream();
    const lines = input.lines();
    const enc = new LogEncoder(input.encoding());
    // a stream kept in no file: what `tail` says too (supervisorctl: "no log file"), not a follow that never ends
    logTry(() => logs.requireLog(key, stream));
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    let lost = 0;
    const out = new EventStreamWriter(res, 'skip', () => {
      out.write(`event: lost\ndata: ${JSON.stringify({ bytes: lost } satisfies FollowLostJson)}\n\n`);
      lost = 0;
    });
    out.write(': following\n\n');
    // where what follows the tail starts, taken in the same turn as the subscription: a client that goes
    // on after a re-exec reads the new master's file from the old one's end up to here (docs/api.md)
    const positionNow = (): NamedLogPositionJson[] => [{ name: key, stream, position: logs.followPosition(key, stream) }];
    out.write(`event: start\ndata: ${JSON.stringify({ logs: positionNow() } satisfies LogStartJson)}\n\n`);
    out.endsWithEvent((reason) => `${lostEvent()}event: end\ndata: ${JSON.stringify({ reason, logs: positionNow() } satisfies StreamEndJson)}\n\n`);
    const lostEvent = (): string => (lost > 0 ? `event: lost\ndata: ${JSON.stringify({ bytes: lost } satisfies FollowLostJson)}\n\n` : '');
    // the tail comes first, from the same call that subscribes: nothing written meanwhile is missed or sent twice
    const stop = logs.follow(
      key,
      stream,
      (chunk) => {
        if (out.write(`data: ${JSON.stringify(enc.encode(chunk))}\n\n`)) return;
        enc.dropped();
        lost += chunk.length;
      },
      lines !== null ? { tailLines: lines } : {},
    );
    api.holdUntilClosed(res, stop);
    return STREAMING;
  },
  '/api/logs/stream': (api, input, req, res) => {
    input.only('patterns', 'process', 'stream', 'lines', 'encoding');
    if (input.data['process'] !== undefined && input.data['patterns'] !== undefined) {
      throw new BadRequest('E_BAD_REQUEST', 'give "process" (one name, taken whole) or "patterns", not both');
    }
    // `process`: one name, taken whole (a name may hold a comma, which `patterns` splits on)
    const keys = input.data['process'] !== undefined ? [logKey(api, input)] : resolveOrThrow(api, input.optionalStrings('patterns') ?? ['all']);
    const logs = requireLogs(api);
    const streams: StreamName[] = input.data['stream'] === undefined ? ['stdout', 'stderr'] : [input.stream()];
    const lines = input.lines();
    const encoding = input.encoding();
    // the tails of one request share STREAM_TAILS_BYTES (each log still at most MAX_TAIL_LINES_BYTES): they
    // are read on the master's loop and held until sent
    const tailMaxBytes = Math.max(TAIL_SHARE_MIN_BYTES, Math.floor(STREAM_TAILS_BYTES / (keys.length * streams.length)));
    // bytes skipped while the client was behind, per process and stream, told once it has caught up
    const lost = new Map<string, { name: string; stream: StreamName; bytes: number }>();
    // null while the follows are set up: their tails are kept, then sent in one go, allowed past the
    // backlog limit (up to their share of STREAM_TAILS_BYTES) as a first snapshot is
    let out: EventStreamWriter | null = null;
    const tails: string[] = [': following\n\n', ''];
    const stops: (() => void)[] = [];
    // where each log's output after its tail starts (see /api/logs/follow), and where it ended
    const positionsNow = (): NamedLogPositionJson[] => keys.flatMap((name) => streams.map((stream) => ({ name, stream, position: logs.followPosition(name, stream) })));
    const starts: NamedLogPositionJson[] = [];
    try {
      for (const key of keys) {
        for (const stream of streams) {
          starts.push({ name: key, stream, position: logs.followPosition(key, stream) });
          const enc = new LogEncoder(encoding);
          const onChunk = (chunk: Uint8Array): void => {
            const event = `event: log\ndata: ${JSON.stringify({ name: key, stream, data: enc.encode(chunk) } satisfies LogEventJson)}\n\n`;
            if (out === null) tails.push(event);
            else if (!out.write(event)) {
              enc.dropped();
              const id = `${key}\0${stream}`;
              const l = lost.get(id) ?? { name: key, stream, bytes: 0 };
              l.bytes += chunk.length;
              lost.set(id, l);
            }
          };
          stops.push(logs.follow(key, stream, onChunk, lines !== null ? { tailLines: lines, tailMaxBytes } : {}));
        }
      }
    } catch (err) {
      // answered as an error (nothing is sent before this point); the follows already set up must not stay
      for (const stop of stops) stop();
      throw err;
    }
    tails[1] = `event: start\ndata: ${JSON.stringify({ logs: starts } satisfies LogStartJson)}\n\n`;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const first = tails.join('');
    const writer = new EventStreamWriter(
      res,
      'skip',
      () => {
        for (const l of lost.values()) writer.write(`event: lost\ndata: ${JSON.stringify(l satisfies StreamLostJson)}\n\n`);
        lost.clear();
      },
      Buffer.byteLength(first),
    );
    out = writer;
    writer.endsWithEvent((reason) => {
      const told = [...lost.values()].map((l) => `event: lost\ndata: ${JSON.stringify(l satisfies StreamLostJson)}\n\n`).join('');
      return `${told}event: end\ndata: ${JSON.stringify({ reason, logs: positionsNow() } satisfies StreamEndJson)}\n\n`;
    });
    writer.write(first);
    api.holdUntilClosed(res, () => {
      for (const stop of stops) stop();
    });
    return STREAMING;
  },
  '/api/events': (api, _input, req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    // the current state first, so a client never misses what happened before it subscribed
    // a SnapshotJson
    const snapshot = `event: snapshot\ndata: ${processesJsonText(api.list(), api.nowMs())}\n\n`;
    // A skipped state change would leave the client with a wrong picture: one that falls behind is
    // disconnected instead, and a new connection starts with a fresh snapshot (EventSource reconnects).
    const out = new EventStreamWriter(res, 'close', undefined, Buffer.byteLength(snapshot));
    out.endsWithEvent();
    out.write(snapshot);
    const off = api.supervisor.onChange((e: ChangeEvent) => {
      const data: StateEventJson = {
        name: e.key,
        group: e.group,
        process: e.name,
        from: e.step.from,
        to: e.step.to,
        reason: e.step.reason,
        pid: e.record.pid,
        time: new Date(shownMs(e.record.changedAtMs)).toISOString(),
        spawn_error: e.record.spawnError,
      };
      out.write(`event: state\ndata: ${JSON.stringify(data)}\n\n`);
    });
    const ping = setInterval(() => out.write(': ping\n\n'), 15_000);
    api.holdUntilClosed(res, () => {
      off();
      clearInterval(ping);
    });
    return STREAMING;
  },
};

const POST: Record<string, Handler> = {
  '/api/start': async (api, input) => results(await api.start(resolveOrThrow(api, input.patterns()), input.bool('wait', true))),
  '/api/stop': async (api, input) => results(await api.stop(resolveOrThrow(api, input.patterns()), input.bool('wait', true))),
  '/api/restart': async (api, input) =>
    results(await api.restart(resolveOrThrow(api, input.patterns()), input.bool('wait', true))),
  '/api/signal': async (api, input) => {
    const { keys: matched, named } = resolveAllOrThrow(api, input.patterns());
    // as supervisord: all, a group and group:* signal the processes that run; one named process that
    // does not is an error (E_NOT_RUNNING)
    const states = new Map(api.supervisor.snapshot().map((p) => [p.key, p.record.state]));
    const keys = matched.filter((k) => named.has(k) || SIGNALLABLE_STATES.has(states.get(k) ?? 'stopped'));
    // a name ("HUP", "SIGHUP") or a number, as a JSON integer or its digits
    const raw = input.data['signal'];
    const sig = typeof raw === 'number' && Number.isSafeInteger(raw) ? String(raw) : input.string('signal');
    try {
      return results(await api.signal(keys, sig));
    } catch (err) {
      if (err instanceof BadSignal) throw new BadRequest('E_BAD_SIGNAL', err.message);
      throw err;
    }
  },
  '/api/scale': async (api, input) => {
    const program = input.string('program');
    const count = input.int('count', -1);
    if (count < 1 || count > MAX_SCALE) {
      throw new BadRequest('E_BAD_REQUEST', `"count" must be an integer from 1 to ${MAX_SCALE}, got ${count}`);
    }
    try {
      return results(await api.scale(program, count, input.bool('wait', true)));
    } catch (err) {
      if (err instanceof ScaleError) throw new BadRequest(err.code, err.message, 404);
      throw err;
    }
  },
  '/api/shutdown': async (api, input) => results(await api.shutdown(input.bool('fast', false))),
  '/api/reread': async (api) => {
    const { config, diff, changedPools, settings } = await api.reread();
    return { ok: true, ...diffJson(diff, config, settings), changed_pools: changedPools } satisfies RereadJson;
  },
  '/api/update': async (api, input) => {
    const groups = input.optionalStrings('groups');
    if (groups) {
      // as supervisorctl's "ERROR: no such group", but before anything is applied (a group the file now
      // has counts: update adds it)
      const known = new Set([...api.supervisor.activeGroups().map((g) => g.name), ...(await api.reread()).config.groups.map((g) => g.name)]);
      const unknown = groups.filter((g) => !known.has(g));
      if (unknown.length > 0) throw new BadRequest('E_BAD_NAME', `no such group: ${unknown.join(', ')}`, 404);
    }
    const { config, diff, outcomes, rolled, kept, changedPools, settings } = await api.update(groups, 'POST /api/update');
    return { ok: outcomes.every((o) => o.ok), ...diffJson(diff, config, settings), changed_pools: changedPools, rolled, kept, results: outcomes } satisfies ReloadJson;
  },
  '/api/add': async (api, input) => {
    const groups = input.optionalStrings('groups') ?? [];
    if (groups.length === 0) throw new BadRequest('E_BAD_REQUEST', '"groups" must name at least one group');
    const out: CommandOutcome[] = [];
    for (const g of groups) out.push(...(await api.addGroup(g)));
    return results(out);
  },
  '/api/remove': async (api, input) => {
    const groups = input.optionalStrings('groups') ?? [];
    if (groups.length === 0) throw new BadRequest('E_BAD_REQUEST', '"groups" must name at least one group');
    const out: CommandOutcome[] = [];
    for (const g of groups) out.push(...(await api.removeGroup(g)));
    return results(out);
  },
  '/api/logs/clear': async (api, input) => {
    const keys = resolveOrThrow(api, input.patterns());
    const logs = requireLogs(api);
    for (const k of keys) await logRead(() => logs.clearLog(k));
    return { ok: true, results: keys.map((key) => ({ key, ok: true })) } satisfies ResultsJson;
  },
  '/api/logs/reopen': (api) => {
    requireLogs(api).reopen();
    return { ok: true } satisfies OkJson;
  },
};

/** What the tails of one /api/logs/stream request may read back in all (each log gets its share of it). */
const STREAM_TAILS_BYTES = 16 * 1024 * 1024;
/** The least share of it a log gets, however many logs a request names. */
const TAIL_SHARE_MIN_BYTES = 64 * 1024;

/** Marker: the handler answered by streaming and will end the response itself. */
const STREAMING = Symbol('streaming');

/** The diff of a reread or update, with the warnings of the config it read (check prints them; here the CLI does). */
function diffJson(diff: ConfigDiff, config: Config | null, settings: readonly string[] = []): DiffJson {
  return {
    ...(config !== null && config.warnings.length > 0 ? { warnings: config.warnings.map(formatConfigWarning) } : {}),
    ...(settings.length > 0 ? { settings } : {}),
    added: diff.addedGroups,
    changed: diff.changedGroups,
    removed: diff.removedGroups,
    processes: {
      added: diff.addedProcesses.map((p) => `${p.group}:${p.name}`),
      changed: diff.changedProcesses.map((c) => `${c.after.group}:${c.after.name}`),
      removed: diff.removedProcesses.map((p) => `${p.group}:${p.name}`),
    },
  };
}

/** The /api/ route. */
export function jsonApiRoute(api: ControlApi): RouteHandler {
  return {
    prefix: '/api/',
    async handle(req, res, body) {
      const url = new URL(req.url ?? '/', 'http://drover');
      const table = req.method === 'GET' ? GET : req.method === 'POST' ? POST : null;
      const handler = table && Object.hasOwn(table, url.pathname) ? table[url.pathname] : undefined;
      if (!handler) {
        if (Object.hasOwn(GET, url.pathname) || Object.hasOwn(POST, url.pathname)) {
          sendMethodNotAllowed(res, req.method, url.pathname, [Object.hasOwn(GET, url.pathname) ? 'GET' : null, Object.hasOwn(POST, url.pathname) ? 'POST' : null].filter((m) => m !== null));
        } else {
          sendError(res, 404, 'E_NOT_FOUND', `no such endpoint: ${url.pathname}`);
        }
        return;
      }
      let data: Record<string, unknown>;
      if (req.method === 'GET') {
        data = Object.fromEntries(url.searchParams.entries());
      } else {
        const text = body.toString('utf8');
        let parsed: unknown = {};
        if (text.trim() !== '') {
          try {
            parsed = JSON.parse(text);
          } catch {
            sendError(res, 400, 'E_BAD_JSON', 'the body is not valid JSON');
            return;
          }
        }
        if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
          sendError(res, 400, 'E_BAD_REQUEST', 'the body must be a JSON object');
          return;
        }
        data = parsed as Record<string, unknown>;
      }
      try {
        const out = await handler(api, new Input(data, req.method === 'GET'), req, res);
        if (out instanceof JsonText) sendJsonText(res, 200, out.text, out.headers);
        else if (out !== STREAMING) sendJson(res, 200, out);
      } catch (err) {
        if (err instanceof BadRequest) sendError(res, err.status, err.code, err.message);
        // the warnings met before the error come first, as `drover check` prints them: a misspelt key's
        // "did you mean" is often what explains the error after it
        else if (err instanceof ConfigError) sendError(res, 422, 'E_CONFIG', [...(err instanceof ConfigProblems ? err.warnings.map(formatConfigWarning) : []), err.message].join('\n'));
        else throw err;
      }
    },
  };
}
