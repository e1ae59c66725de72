// supervisor's XML-RPC interface (supervisor 4.2's rpcinterface.py and xmlrpc.py) on drover's ControlApi:
// the same method names, arguments, return shapes, field names and fault codes, so supervisorctl and the
// tools built on supervisor's API work unchanged. Differences are listed in docs/api.md.
import type { ProcessSpec } from '../../config/types.js';
import type { CommandOutcome } from '../../core/types.js';
import { RUNNING_STATES, SIGNALLABLE_STATES, STATE_CODES, STARTABLE_STATES, type State } from '../../core/states.js';
import { EXITED_TOO_QUICKLY, type ProcessRecord } from '../../core/program.js';
import { ConfigError } from '../../errors.js';
import { LogReadError, MAX_LOG_ANSWER_BYTES } from '../../logs/read.js';
import { steadyNowMs } from '../../os/clock.js';
import { deliverableSignal, signalNumber } from '../../os/signals.js';
import { lookupUser } from '../../os/users.js';
import type { ControlApi, StreamName } from '../api.js';
import { shownOffsetMs } from '../shown-time.js';
import { encodedStruct, encodeMembers, struct, isStruct, type EncodedXml, type XmlRpcStruct, type XmlRpcValue } from './codec.js';
import { FAULT_OF_COMMAND_CODE, Faults, RpcFault, faultOfErrorCode } from './faults.js';

/** supervisor's API_VERSION; supervisorctl refuses to talk to anything else. */
export const API_VERSION = '3.0';

/** What a method may use: the facade, and a way to act once its response has been sent. */
export interface MethodContext {
  readonly api: ControlApi;
  /** runs `fn` after the response is on its way (shutdown must not close the socket under its own answer) */
  readonly afterResponse: (fn: () => void) => void;
}

type ParamType = 'string' | 'int' | 'boolean' | 'array' | 'struct';

interface ParamSpec {
  readonly name: string;
  readonly type: ParamType;
  /** default when the caller leaves it out; absent means required */
  readonly dflt?: XmlRpcValue;
  /** a string parameter that also takes an int (signal numbers), turned into its decimal text */
  readonly intOk?: boolean;
  /**
   * a string parameter that also takes a number or a boolean, in Python's str() form (supervisord passes
   * sendRemoteCommEvent's arguments through str())
   */
  readonly scalarOk?: boolean;
}

interface MethodDef {
  readonly returns: string;
  readonly params: readonly ParamSpec[];
  readonly help: string;
  /** supervisor.* methods fault with SHUTDOWN_STATE while drover shuts down, as supervisor's _update does */
  readonly refusedWhenShuttingDown: boolean;
  readonly call: (ctx: MethodContext, args: readonly XmlRpcValue[]) => Promise<XmlRpcValue> | XmlRpcValue;
}

/** Calls one method by name: unknown names, wrong arity and wrong types become faults. */
export async function callMethod(ctx: MethodContext, methodName: string, params: readonly XmlRpcValue[]): Promise<XmlRpcValue> {
  const def = METHODS.get(methodName);
  if (!def) throw new RpcFault('UNKNOWN_METHOD', methodName);
  if (def.refusedWhenShuttingDown && ctx.api.supervisor.state !== 'running') throw new RpcFault('SHUTDOWN_STATE');
  return def.call(ctx, checkParams(methodName, def, params));
}

/** Every method name, sorted (system.listMethods). */
export function methodNames(): string[] {
  return [...METHODS.keys()].sort();
}

// --- parameters ---

function checkParams(method: string, def: MethodDef, params: readonly XmlRpcValue[]): XmlRpcValue[] {
  const required = def.params.filter((p) => p.dflt === undefined).length;
  if (params.length < required || params.length > def.params.length) {
    const want = required === def.params.length ? `${required}` : `${required} to ${def.params.length}`;
    throw new RpcFault('INCORRECT_PARAMETERS', `${method} takes ${want} parameter(s), got ${params.length}`);
  }
  return def.params.map((spec, i) => {
    const v = i < params.length ? (params[i] as XmlRpcValue) : (spec.dflt as XmlRpcValue);
    const ok = (spec.intOk || spec.scalarOk) && typeof v === 'number' && Number.isSafeInteger(v) ? String(v) : spec.scalarOk ? pythonStr(v) : coerce(spec.type, v);
    if (ok === undefined) {
      throw new RpcFault('INCORRECT_PARAMETERS', `${method}: parameter ${spec.name} must be ${article(spec.type)}, got ${describe(v)}`);
    }
    return ok;
  });
}

/** Python's str() of a scalar XML-RPC value (a string, a number, a boolean); undefined for anything else. */
function pythonStr(v: XmlRpcValue): string | undefined {
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : undefined;
  return coerce('string', v) as string | undefined;
}

/** Lenient where Python is (an int for a boolean, digits for an int, base64 for a string), else undefined. */
function coerce(type: ParamType, v: XmlRpcValue): XmlRpcValue | undefined {
  switch (type) {
    case 'string':
      if (typeof v === 'string') return v;
      if (v instanceof Uint8Array) return Buffer.from(v).toString('utf8');
      return undefined;
    case 'int':
      if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
      if (typeof v === 'string' && /^\s*[+-]?\d{1,15}\s*$/.test(v)) return Number(v);
      return undefined;
    case 'boolean':
      if (typeof v === 'boolean') return v;
      if (v === 0 || v === 1) return v === 1;
      return undefined;
    case 'array':
      return Array.isArray(v) ? v : undefined;
    case 'struct':
      return isStruct(v) ? v : undefined;
    default:
      return assertNever(type);
  }
}

function article(type: ParamType): string {
  return type === 'int' || type === 'array' ? `an ${type}` : `a ${type}`;
}

function describe(v: XmlRpcValue): string {
  if (v === null) return 'nil';
  if (Array.isArray(v)) return 'an array';
  if (v instanceof Date) return 'a dateTime';
  if (v instanceof Uint8Array) return 'base64';
  if (typeof v === 'object') return 'a struct';
  if (typeof v === 'number') return Number.isInteger(v) ? 'an int' : 'a double';
  return `a ${typeof v}`;
}

const str = (args: readonly XmlRpcValue[], i: number): string => args[i] as string;
const int = (args: readonly XmlRpcValue[], i: number): number => args[i] as number;
const bool = (args: readonly XmlRpcValue[], i: number): boolean => args[i] as boolean;

// --- processes and names ---

interface Proc {
  readonly key: string;
  readonly spec: ProcessSpec;
  readonly record: ProcessRecord;
}

/** supervisor's split_namespec: "g:n", "g:" and "g:*" (group only), or "n" meaning "n:n". */
function splitNamespec(namespec: string): { group: string; name: string | null } {
  const i = namespec.indexOf(':');
  if (i < 0) return { group: namespec, name: namespec };
  const name = namespec.slice(i + 1);
  return { group: namespec.slice(0, i), name: name === '' || name === '*' ? null : name };
}

/** supervisor's _getGroupAndProcess: the group must be active, the process (when named) in it. */
function lookup(api: ControlApi, namespec: string): { group: string; proc: Proc | null } {
  const { group, name } = splitNamespec(namespec);
  if (!api.supervisor.activeGroups().some((g) => g.name === group)) throw new RpcFault('BAD_NAME', namespec);
  if (name === null) return { group, proc: null };
  const proc = api.supervisor.snapshot().find((p) => p.spec.group === group && p.spec.name === name);
  if (!proc) throw new RpcFault('BAD_NAME', namespec);
  return { group, proc };
}

/** The process `namespec` names, as supervisor finds it; RpcFault BAD_NAME when there is none. */
export function lookupProcess(api: ControlApi, namespec: string): Proc {
  const { proc } = lookup(api, namespec);
  if (!proc) throw new RpcFault('BAD_NAME', namespec);
  return proc;
}

/** Processes in supervisor's action order: groups by priority, then each group's processes by priority. */
function inActionOrder(api: ControlApi, group?: string): Proc[] {
  const procs = api.supervisor.snapshot();
  const out: Proc[] = [];
  for (const g of api.supervisor.activeGroups()) {
    if (group !== undefined && g.name !== group) continue;
    const members = procs.filter((p) => p.spec.group === g.name);
    // Array.prototype.sort is stable: equal priorities keep config order, as Python's sort does
    out.push(...members.sort((a, b) => a.spec.priority - b.spec.priority));
  }
  return out;
}

/** Processes in lexical order of group, then name (getAllProcessInfo). */
function inLexicalOrder(api: ControlApi): Proc[] {
  return api.supervisor.snapshot().sort((a, b) => cmp(a.spec.group, b.spec.group) || cmp(a.spec.name, b.spec.name));
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The fault for a failed control-command outcome; the detail is the name asked for, as supervisor's is. */
function faultOf(outcome: CommandOutcome, namespec: string): RpcFault {
  const fault = outcome.code ? FAULT_OF_COMMAND_CODE[outcome.code] : 'FAILED';
  // for these supervisor's detail is the reason, not the name (and for a process the previous master of a
  // USR2 still runs: ALREADY_STARTED alone would not say which master, nor until when)
  const why = fault === 'NO_FILE' || fault === 'NOT_EXECUTABLE' || fault === 'FAILED' || outcome.code === 'E_PREVIOUS_MASTER';
  const detail = why ? (outcome.message ?? namespec) : namespec;
  return new RpcFault(fault, detail);
}

/** supervisor's per-process result struct in group and "all" answers. */
function result(p: Proc, fault: RpcFault | null): XmlRpcStruct {
  return struct([
    ['name', p.spec.name],
    ['group', p.spec.group],
    ['status', fault ? fault.faultCode : Faults.SUCCESS],
    ['description', fault ? fault.faultString : 'OK'],
  ]);
}

function namespecOf(p: Proc): string {
  return p.spec.group === p.spec.name ? p.spec.name : `${p.spec.group}:${p.spec.name}`;
}

async function startMany(api: ControlApi, procs: readonly Proc[], wait: boolean): Promise<XmlRpcValue[]> {
  const todo = procs.filter((p) => !RUNNING_STATES.has(p.record.state));
  const sentAtMs = steadyNowMs();
  const outcomes = await api.start(
    todo.map((p) => p.key),
    wait,
  );
  return inSupervisordOrder(todo, outcomes, sentAtMs, wait ? deferredStart : undefined).map(([p, o]) => result(p, o && !o.ok ? faultOf(o, namespecOf(p)) : null));
}

/**
 * Whether supervisord would answer this start only from a later poll: it fails a missing or
 * non-executable command (and a process started meanwhile) before it spawns anything, and a startsecs = 0
 * process is running as soon as it is spawned; anything else it waits for.
 */
function deferredStart(p: Proc, o: CommandOutcome | undefined): boolean {
  if (o && !o.ok) return o.code !== 'E_NO_FILE' && o.code !== 'E_NOT_EXECUTABLE' && o.code !== 'E_ALREADY_STARTED' && o.code !== 'E_PREVIOUS_MASTER' && o.code !== 'E_BAD_NAME';
  return p.spec.startSecs > 0;
}

async function stopMany(api: ControlApi, procs: readonly Proc[], wait: boolean): Promise<XmlRpcValue[]> {
  const todo = procs.filter((p) => RUNNING_STATES.has(p.record.state));
  const sentAtMs = steadyNowMs();
  const outcomes = await api.stop(
    todo.map((p) => p.key),
    wait,
  );
  return inSupervisordOrder(todo, outcomes, sentAtMs).map(([p, o]) => result(p, o && !o.ok ? faultOf(o, namespecOf(p)) : null));
}

/** How often supervisord's deferred "all"/group answer looks for processes that are done (rpcinterface's delay). */
const SUPERVISORD_POLL_MS = 50;

/**
 * The results of a start or stop of many processes in the order supervisord gives them: it appends each
 * process when a poll finds it done, and goes in action order within a poll. So processes that settle
 * together keep action order (priority, group activation, process), and one that takes longer — a startsecs
 * to wait out, a slow stop — comes after them. Polls are counted from the first answer that settled: from
 * the send, a loaded machine's delay before the first exit is seen (signal, exit, SIGCHLD, event loop) can
 * reach past one poll and split stops that settled within milliseconds of each other (a CI run saw the last
 * of five stops 51 ms after the send, 20 ms after the first). Given `deferred` (a start), what it names
 * settles no earlier than the second poll and everything else is of the first, however long drover's own
 * spawns of the others took (supervisord answers those before it waits for anything).
 */
export function inSupervisordOrder<P>(
  procs: readonly P[],
  outcomes: readonly CommandOutcome[],
  sentAtMs: number,
  deferred?: (p: P, o: CommandOutcome | undefined) => boolean,
): [P, CommandOutcome | undefined][] {
  const rows = procs.map((p, i): [P, CommandOutcome | undefined] => [p, outcomes[i]]);
  const firstMs = rows.reduce((min, [, o]) => Math.min(min, o?.settledAtMs ?? sentAtMs), Infinity);
  const poll = ([p, o]: [P, CommandOutcome | undefined]): number => {
    const settled = Math.max(0, Math.floor(((o?.settledAtMs ?? sentAtMs) - firstMs) / SUPERVISORD_POLL_MS));
    // what supervisord waits for is answered from its second look at the earliest, after every immediate answer
    if (deferred === undefined) return settled;
    return deferred(p, o) ? Math.max(1, settled) : 0;
  };
  // Array.prototype.sort is stable: within one poll, action order stays
  return rows.sort((a, b) => poll(a) - poll(b));
}

async function signalMany(api: ControlApi, procs: readonly Proc[], signal: string): Promise<XmlRpcValue[]> {
  const todo = procs.filter((p) => SIGNALLABLE_STATES.has(p.record.state));
  if (deliverableSignal(signal) === null) return todo.map((p) => result(p, new RpcFault('BAD_SIGNAL', signal)));
  const outcomes = await api.signal(
    todo.map((p) => p.key),
    signal,
  );
  return todo.map((p, i) => {
    const o = outcomes[i];
    return result(p, o && !o.ok ? faultOf(o, namespecOf(p)) : null);
  });
}

// --- process info ---

/** Seconds since the epoch as supervisor's capped_int reports them (0 for "never"). */
function epochSecs(ms: number | null): number {
  if (ms === null) return 0;
  return Math.min(Math.floor(ms / 1000), 2 ** 31 - 1);
}

/** supervisor's getProcessInfo struct. */
function processInfo(api: ControlApi, p: Proc): XmlRpcStruct {
  const clock = infoClock();
  const info = infoOf(api, p, clock);
  return struct([...Object.entries(info), ['description', descriptionOf(api, p, info)]]);
}

/**
 * getProcessInfo's struct encoded, for getAllProcessInfo: the members that only a new record (a state
 * change, a new pid) can change are encoded once per record and kept with it; `now` and `description`,
 * which move with the clock, are encoded per call (and everything again after a clock step). The same text
 * as encoding processInfo's struct.
 */
function processInfoEncoded(api: ControlApi, p: Proc, clock: InfoClock): EncodedXml {
  const now = clock.nowSecs;
  let parts = encodedInfo.get(p.record);
  if (parts?.spec !== p.spec || parts.offsetMs !== clock.offsetMs) {
    const info = infoOf(api, p, clock);
    const { name, group, start, stop, now: _now, ...after } = info;
    parts = { spec: p.spec, offsetMs: clock.offsetMs, info, before: encodeMembers(Object.entries({ name, group, start, stop })), after: encodeMembers(Object.entries(after)) };
    encodedInfo.set(p.record, parts);
  }
  const i = parts.info;
  const description = descriptionOf(api, p, { start: i.start, stop: i.stop, now, pid: i.pid, spawnerr: i.spawnerr, name: i.name });
  return encodedStruct(`${parts.before}${encodeMembers([['now', now]])}${parts.after}${encodeMembers([['description', description]])}`);
}

type Info = ReturnType<typeof infoOf>;

/** supervisorctl's description column; a process that waits for its dependencies says what for, where supervisor would say "Not started". */
function descriptionOf(api: ControlApi, p: Proc, info: Parameters<typeof describeProcess>[1]): string {
  return api.supervisor.waitingFor(p.key).waiting ?? describeProcess(p.record.state, info);
}

/** Encoded parts of getProcessInfo per process record (records are replaced, never changed: a WeakMap drops them). */
const encodedInfo = new WeakMap<ProcessRecord, { spec: ProcessSpec; offsetMs: number; info: Info; before: string; after: string }>();

/**
 * `now`, `start` and `stop` of getProcessInfo on one clock, so that now - start is the uptime: the records'
 * steady times moved onto the wall clock by one offset (shown-time.ts), and now on the same clock.
 */
interface InfoClock {
  readonly offsetMs: number;
  readonly nowSecs: number;
}

function infoClock(): InfoClock {
  const offsetMs = shownOffsetMs();
  return { offsetMs, nowSecs: epochSecs(steadyNowMs() + offsetMs) };
}

/**
 * A spawn error in supervisor's words: drover says how a process that exited too quickly ended (its own
 * status shows it), supervisord points to the log instead; supervisorctl shows supervisord's text.
 */
function supervisorSpawnError(spawnError: string | null): string {
  if (spawnError?.startsWith(`${EXITED_TOO_QUICKLY} (`)) return `${EXITED_TOO_QUICKLY} (process log may have details)`;
  return spawnError ?? '';
}

/** getProcessInfo's fields but the description, in supervisor's order. */
function infoOf(api: ControlApi, p: Proc, clock: InfoClock) {
  const rec = p.record;
  const now = clock.nowSecs;
  // supervisord's start never after now ("system time set back"): it cannot be, on one clock
  const start = epochSecs(rec.startedAtMs === null ? null : rec.startedAtMs + clock.offsetMs);
  const stop = epochSecs(rec.stoppedAtMs === null ? null : rec.stoppedAtMs + clock.offsetMs);
  const stdoutLog = logfileOf(api, p, 'stdout');
  const stderrLog = logfileOf(api, p, 'stderr');
  return {
    name: p.spec.name,
    group: p.spec.group,
    start,
    stop,
    now,
    state: STATE_CODES[rec.state],
    statename: rec.state.toUpperCase(),
    spawnerr: supervisorSpawnError(rec.spawnError),
    exitstatus: rec.exitStatus ?? 0,
    logfile: stdoutLog,
    stdout_logfile: stdoutLog,
    stderr_logfile: stderrLog,
    pid: rec.pid ?? 0,
  };
}

/** The log file a process writes: the sink's resolved path, else the configured one ('' when none). */
function logfileOf(api: ControlApi, p: Proc, stream: StreamName): string {
  const fromSink = api.logs?.logPath(p.key, stream);
  if (fromSink) return fromSink;
  const configured = stream === 'stdout' ? p.spec.stdoutLogfile : p.spec.stderrLogfile;
  return configured === 'AUTO' || configured === 'NONE' ? '' : configured;
}

/** supervisor's _interpretProcessInfo: the description column of `supervisorctl status`. */
export function describeProcess(
  state: State,
  info: { readonly start: number; readonly stop: number; readonly now: number; readonly pid: number; readonly spawnerr: string; readonly name: string },
): string {
  switch (state) {
    case 'running':
      return `pid ${info.pid}, uptime ${formatUptime(Math.max(0, info.now - info.start))}`;
    case 'fatal':
    case 'backoff':
      return info.spawnerr !== '' ? info.spawnerr : `unknown error (try "tail ${info.name}")`;
    case 'stopped':
    case 'exited':
      return info.start !== 0 ? formatStopTime(info.stop) : 'Not started';
    case 'starting':
    case 'stopping':
    case 'unknown':
      return '';
    default:
      return assertNever(state);
  }
}

/** Python's str(timedelta) for whole seconds: "0:00:05", "1 day, 2:03:04", "3 days, 0:00:00". */
export function formatUptime(totalSecs: number): string {
  const days = Math.floor(totalSecs / 86400);
  const rest = totalSecs % 86400;
  const hms = `${Math.floor(rest / 3600)}:${pad2(Math.floor((rest % 3600) / 60))}:${pad2(rest % 60)}`;
  return days > 0 ? `${days} day${days === 1 ? '' : 's'}, ${hms}` : hms;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** strftime('%b %d %I:%M %p') in local time and the C locale, e.g. "Nov 22 11:46 AM". */
export function formatStopTime(epochSeconds: number): string {
  const d = new Date(epochSeconds * 1000);
  const h12 = d.getHours() % 12 === 0 ? 12 : d.getHours() % 12;
  return `${MONTHS[d.getMonth()] ?? '?'} ${pad2(d.getDate())} ${pad2(h12)}:${pad2(d.getMinutes())} ${d.getHours() < 12 ? 'AM' : 'PM'}`;
}

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

/** The log path the sink writes for a process stream; null for none, and for a process it does not know yet. */
function sinkLogPath(api: ControlApi, key: string, stream: StreamName): string | null {
  try {
    return api.logs?.logPath(key, stream) ?? null;
  } catch (err) {
    if (err instanceof LogReadError && err.code === 'E_BAD_NAME') return null;
    throw err;
  }
}

/** supervisor's getAllConfigInfo: one struct per configured process, active or not, sorted by name. */
async function allConfigInfo(api: ControlApi): Promise<XmlRpcValue[]> {
  let config;
  try {
    config = (await api.avail()).config;
  } catch (err) {
    if (err instanceof ConfigError) throw new RpcFault('CANT_REREAD', err.message);
    throw err;
  }
  const active = new Set(api.supervisor.activeGroups().map((g) => g.name));
  const uids = new Map<string, number | null>();
  const uidOf = (user: string | null): XmlRpcValue => {
    if (user === null) return 'none';
    if (!uids.has(user)) uids.set(user, lookupUser(user)?.uid ?? null);
    return uids.get(user) ?? 'none';
  };
  const logfile = (spec: ProcessSpec, stream: StreamName, inuse: boolean): string => {
    // a process a reread added to a group in use has no channel before the update: its configured name
    const fromSink = inuse ? sinkLogPath(api, `${spec.group}:${spec.name}`, stream) : null;
    if (fromSink) return fromSink;
    const configured = stream === 'stdout' ? spec.stdoutLogfile : spec.stderrLogfile;
    return configured === 'AUTO' ? 'auto' : configured === 'NONE' ? 'none' : configured;
  };
  const out: XmlRpcStruct[] = [];
  for (const g of config.groups) {
    const inuse = active.has(g.name);
    for (const spec of config.processes.filter((p) => p.group === g.name)) {
      out.push(
        struct([
          ['autostart', spec.autostart],
          ['directory', spec.directory ?? 'none'],
          ['uid', uidOf(spec.user)],
          ['command', spec.command],
          ['exitcodes', [...spec.exitCodes]],
          ['group', g.name],
          ['group_prio', g.priority],
          ['inuse', inuse],
          ['killasgroup', spec.killAsGroup],
          ['name', spec.name],
          ['process_prio', spec.eventListener?.processPriority ?? spec.priority],
          ['redirect_stderr', spec.redirectStderr],
          ['startretries', spec.startRetries],
          ['startsecs', spec.startSecs],
          ['stdout_capture_maxbytes', spec.stdoutCaptureMaxBytes],
          ['stdout_events_enabled', spec.stdoutEventsEnabled],
          ['stdout_logfile', logfile(spec, 'stdout', inuse)],
          ['stdout_logfile_backups', spec.stdoutLogfileBackups],
          ['stdout_logfile_maxbytes', spec.stdoutLogfileMaxBytes],
          ['stdout_syslog', spec.stdoutSyslog],
          ['stopsignal', signalNumber(spec.stopSignal) ?? 15],
          ['stopwaitsecs', spec.stopWaitSecs],
          ['stderr_capture_maxbytes', spec.stderrCaptureMaxBytes],
          ['stderr_events_enabled', spec.stderrEventsEnabled],
          ['stderr_logfile', logfile(spec, 'stderr', inuse)],
          ['stderr_logfile_backups', spec.stderrLogfileBackups],
          ['stderr_logfile_maxbytes', spec.stderrLogfileMaxBytes],
          ['stderr_syslog', spec.stderrSyslog],
          // supervisord reports an unset serverurl as 'none' (the URL it passes is its own)
          ['serverurl', spec.serverUrl ?? 'none'],
        ]),
      );
    }
  }
  return out.sort((a, b) => cmp(a['name'] as string, b['name'] as string));
}

// --- logs ---

const NO_LOGS = 'log files are not kept by this drover';

function requireLogs(api: ControlApi): NonNullable<ControlApi['logs']> {
  if (!api.logs) throw new RpcFault('NO_FILE', NO_LOGS);
  return api.logs;
}

/** Log readers may be synchronous or asynchronous and give text or bytes; the wire carries text. */
function toText(data: string | Uint8Array): string {
  return typeof data === 'string' ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8');
}

/** Turns a log reader's coded error (E_NO_FILE, E_BAD_ARGUMENTS, E_FAILED) into supervisor's fault. */
async function logCall<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const fault = typeof code === 'string' ? faultOfErrorCode(code) : null;
    if (fault) throw new RpcFault(fault, (err as Error).message);
    throw err;
  }
}

async function readProcessLog(api: ControlApi, namespec: string, offset: number, length: number, stream: StreamName): Promise<string> {
  const p = lookupProcess(api, namespec);
  const logs = requireLogs(api);
  // NONE is NO_FILE (E_NO_FILE from the reader); drover's own stdout or stderr reads as empty, as supervisord
  // reading the device there finds nothing
  return toText(await logCall(() => logs.readLog(p.key, stream, offset, length)));
}

async function tailProcessLog(api: ControlApi, namespec: string, offset: number, length: number, stream: StreamName): Promise<XmlRpcValue> {
  const p = lookupProcess(api, namespec);
  const logs = requireLogs(api);
  // no file: supervisor answers an empty tail, not a fault
  if (logs.logPath(p.key, stream) === null) return ['', 0, false];
  const t = await logCall(() => logs.tailLog(p.key, stream, offset, length));
  return [toText(t.bytes), t.offset, t.overflow];
}

async function clearProcessLogs(api: ControlApi, namespec: string): Promise<boolean> {
  const p = lookupProcess(api, namespec);
  const logs = requireLogs(api);
  await logCall(() => logs.clearLog(p.key));
  return true;
}

// --- supervisor's restart ---

/**
 * supervisord's restart re-execs itself with a fresh config; drover does not re-exec yet, so it does what a
 * user sees from that: every process stops, the config file is applied, and autostart processes start.
 * drover's pid stays the same. A config that does not load is refused before anything stops.
 */
async function restartEverything(ctx: MethodContext): Promise<boolean> {
  const { api } = ctx;
  try {
    await api.reread();
  } catch (err) {
    if (err instanceof ConfigError) throw new RpcFault('CANT_REREAD', err.message);
    throw err;
  }
  ctx.afterResponse(() => {
    void (async () => {
      const running = api.supervisor.snapshot().filter((p) => !STARTABLE_STATES.has(p.record.state));
      await api.stop(
        running.map((p) => p.key),
        true,
      );
      // supervisord starts over with no past (it re-execs): no FATAL, exit status or stop time survives
      await api.clearHistory(api.supervisor.snapshot().map((p) => p.key));
      await api.update(null, 'XML-RPC restart');
      const autostart = api.supervisor.snapshot().filter((p) => p.spec.autostart && STARTABLE_STATES.has(p.record.state));
      await api.start(
        autostart.map((p) => p.key),
        false,
      );
    })().catch((err: unknown) => process.emitWarning(`supervisor.restart failed: ${(err as Error).message}`));
  });
  return true;
}

// --- the table ---

function def(
  returns: string,
  params: readonly ParamSpec[],
  help: string,
  call: MethodDef['call'],
  refusedWhenShuttingDown = true,
): MethodDef {
  return { returns, params, help, call, refusedWhenShuttingDown };
}

const P = {
  name: { name: 'name', type: 'string' },
  wait: { name: 'wait', type: 'boolean', dflt: true },
  signal: { name: 'signal', type: 'string', intOk: true },
  offset: { name: 'offset', type: 'int' },
  length: { name: 'length', type: 'int' },
} as const satisfies Record<string, ParamSpec>;


const SUPERVISOR: Record<string, MethodDef> = {
  getAPIVersion: def('string', [], 'The version of the XML-RPC API ("3.0", as supervisor 4).', () => API_VERSION),
  getSupervisorVersion: def('string', [], "drover's version (not supervisor's).", (c) => c.api.version),
  getIdentification: def('string', [], 'The identifier from [supervisord] identifier=.', (c) => c.api.identification),
  getState: def('struct', [], 'The daemon state as {statecode, statename}: 1 RUNNING while it runs.', () =>
    struct([
      ['statecode', 1],
      ['statename', 'RUNNING'],
    ]),
  ),
  getPID: def('int', [], "drover's pid.", () => process.pid),
  readLog: def('string', [P.offset, P.length], "Reads drover's own log: length bytes from offset (negative: from the end).", async (c, a) =>
    toText(await logCall(() => requireLogs(c.api).readMainLog(int(a, 0), int(a, 1)))),
  ),
  clearLog: def('boolean', [], "Empties drover's own log file.", async (c) => {
    await logCall(() => requireLogs(c.api).clearMainLog());
    return true;
  }),
  shutdown: def('boolean', [], 'Stops every process and ends drover.', (c) => {
    c.afterResponse(() => void c.api.shutdown(false));
    return true;
  }),
  restart: def('boolean', [], 'Stops every process, applies the config file, and starts the autostart processes (drover does not re-exec).', (c) =>
    restartEverything(c),
  ),
  reloadConfig: def('array', [], 'Re-reads the config file and returns [[added, changed, removed]] group names; add/update use it.', async (c) => {
    try {
      const { diff } = await c.api.reloadConfig();
      return [[[...diff.addedGroups], [...diff.changedGroups], [...diff.removedGroups]]];
    } catch (err) {
      if (err instanceof ConfigError) throw new RpcFault('CANT_REREAD', err.message);
      throw err;
    }
  }),
  addProcessGroup: def('boolean', [P.name], 'Activates a group from the config last read.', async (c, a) => {
    const name = str(a, 0);
    let outcomes;
    try {
      outcomes = await c.api.addGroup(name);
    } catch (err) {
      if (err instanceof ConfigError) throw new RpcFault('CANT_REREAD', err.message);
      throw err;
    }
    const failed = outcomes.find((o) => !o.ok);
    if (failed) throw faultOf(failed, name);
    return true;
  }),
  removeProcessGroup: def('boolean', [P.name], 'Removes an active group whose processes are all stopped.', async (c, a) => {
    const name = str(a, 0);
    const failed = (await c.api.removeGroup(name)).find((o) => !o.ok);
    if (failed) throw faultOf(failed, name);
    return true;
  }),
  getAllConfigInfo: def('array', [], 'One struct per configured process (active or not), sorted by name.', (c) => allConfigInfo(c.api)),
  startProcess: def('boolean', [P.name, P.wait], 'Starts a process (name, group:name, or group:* for a whole group); with wait, until it is RUNNING.', async (c, a) => {
    const namespec = str(a, 0);
    const { group, proc } = lookup(c.api, namespec);
    if (!proc) return startMany(c.api, inActionOrder(c.api, group), bool(a, 1));
    const [outcome] = await c.api.start([proc.key], bool(a, 1));
    if (outcome && !outcome.ok) throw faultOf(outcome, namespec);
    return true;
  }),
  startProcessGroup: def('array', [P.name, P.wait], 'Starts every process of a group; one result struct per process.', (c, a) => {
    const name = str(a, 0);
    if (!c.api.supervisor.activeGroups().some((g) => g.name === name)) throw new RpcFault('BAD_NAME', name);
    return startMany(c.api, inActionOrder(c.api, name), bool(a, 1));
  }),
  startAllProcesses: def('array', [P.wait], 'Starts every process; one result struct per process.', (c, a) =>
    startMany(c.api, inActionOrder(c.api), bool(a, 0)),
  ),
  stopProcess: def('boolean', [P.name, P.wait], 'Stops a process (or group:*); with wait, until it has stopped.', async (c, a) => {
    const namespec = str(a, 0);
    const { group, proc } = lookup(c.api, namespec);
    if (!proc) return stopMany(c.api, inActionOrder(c.api, group), bool(a, 1));
    if (!RUNNING_STATES.has(proc.record.state)) throw new RpcFault('NOT_RUNNING', namespec);
    const [outcome] = await c.api.stop([proc.key], bool(a, 1));
    if (outcome && !outcome.ok) throw faultOf(outcome, namespec);
    return true;
  }),
  stopProcessGroup: def('array', [P.name, P.wait], 'Stops every process of a group; one result struct per process.', (c, a) => {
    const name = str(a, 0);
    if (!c.api.supervisor.activeGroups().some((g) => g.name === name)) throw new RpcFault('BAD_NAME', name);
    return stopMany(c.api, inActionOrder(c.api, name), bool(a, 1));
  }),
  stopAllProcesses: def('array', [P.wait], 'Stops every process; one result struct per process.', (c, a) =>
    stopMany(c.api, inActionOrder(c.api), bool(a, 0)),
  ),
  signalProcess: def('boolean', [P.name, P.signal], 'Sends a signal (name like HUP or number) to a process (or group:*), without a state change.', async (c, a) => {
    const namespec = str(a, 0);
    const signal = str(a, 1);
    const { group, proc } = lookup(c.api, namespec);
    if (!proc) return signalMany(c.api, inActionOrder(c.api, group), signal);
    if (deliverableSignal(signal) === null) throw new RpcFault('BAD_SIGNAL', signal);
    if (!SIGNALLABLE_STATES.has(proc.record.state)) throw new RpcFault('NOT_RUNNING', namespec);
    // the signal was checked above (supervisor answers BAD_SIGNAL before NOT_RUNNING)
    const outcomes = await c.api.signal([proc.key], signal);
    const failed = outcomes.find((o) => !o.ok);
    if (failed) throw faultOf(failed, namespec);
    return true;
  }),
  signalProcessGroup: def('array', [P.name, P.signal], 'Signals every running process of a group; one result struct per process.', (c, a) => {
    const name = str(a, 0);
    if (!c.api.supervisor.activeGroups().some((g) => g.name === name)) throw new RpcFault('BAD_NAME', name);
    return signalMany(c.api, inActionOrder(c.api, name), str(a, 1));
  }),
  signalAllProcesses: def('array', [P.signal], 'Signals every running process; one result struct per process.', (c, a) =>
    signalMany(c.api, inActionOrder(c.api), str(a, 0)),
  ),
  getProcessInfo: def('struct', [P.name], 'State, pid, times, exit status and log files of one process.', (c, a) =>
    processInfo(c.api, lookupProcess(c.api, str(a, 0))),
  ),
  getAllProcessInfo: def('array', [], 'getProcessInfo for every process, sorted by group and name.', (c) => {
    const clock = infoClock();
    return inLexicalOrder(c.api).map((p) => processInfoEncoded(c.api, p, clock));
  }),
  readProcessStdoutLog: def('string', [P.name, P.offset, P.length], "Reads a process's stdout log: length bytes from offset (negative: from the end).", (c, a) =>
    readProcessLog(c.api, str(a, 0), int(a, 1), int(a, 2), 'stdout'),
  ),
  readProcessStderrLog: def('string', [P.name, P.offset, P.length], "Reads a process's stderr log.", (c, a) =>
    readProcessLog(c.api, str(a, 0), int(a, 1), int(a, 2), 'stderr'),
  ),
  tailProcessStdoutLog: def('array', [P.name, P.offset, P.length], 'Tails the stdout log: [bytes, next offset, overflow].', (c, a) =>
    tailProcessLog(c.api, str(a, 0), int(a, 1), int(a, 2), 'stdout'),
  ),
  tailProcessStderrLog: def('array', [P.name, P.offset, P.length], 'Tails the stderr log: [bytes, next offset, overflow].', (c, a) =>
    tailProcessLog(c.api, str(a, 0), int(a, 1), int(a, 2), 'stderr'),
  ),
  clearProcessLogs: def('boolean', [P.name], "Empties a process's log files.", (c, a) => clearProcessLogs(c.api, str(a, 0))),
  clearAllProcessLogs: def('array', [], "Empties every process's log files; one result struct per process.", async (c) => {
    const out: XmlRpcValue[] = [];
    for (const p of inActionOrder(c.api)) {
      try {
        await clearProcessLogs(c.api, `${p.spec.group}:${p.spec.name}`);
        out.push(result(p, null));
      } catch (err) {
        if (!(err instanceof RpcFault)) throw err;
        out.push(result(p, err));
      }
    }
    return out;
  }),
  sendProcessStdin: def('boolean', [P.name, { name: 'chars', type: 'string' }], "Writes characters to a process's stdin.", (c, a) => {
    const namespec = str(a, 0);
    const p = lookupProcess(c.api, namespec);
    if (p.record.pid === null || p.record.state === 'stopping') throw new RpcFault('NOT_RUNNING', namespec);
    const stdin = c.api.supervisor.stdinOf(p.key);
    if (!stdin || !stdin.writable) throw new RpcFault('NO_FILE', namespec);
    stdin.write(str(a, 1));
    return true;
  }),
  sendRemoteCommEvent: def('boolean', [{ name: 'type', type: 'string', scalarOk: true }, { name: 'data', type: 'string', scalarOk: true }], 'Sends a REMOTE_COMMUNICATION event (type:TYPE, then DATA) to the event listeners subscribed to it.', (c, a) => {
    c.api.sendRemoteCommEvent(str(a, 0), str(a, 1));
    return true;
  }),
};

// supervisor's aliases for releases before 3.0, still published by supervisor 4 (supervisorctl calls getVersion)
const ALIASES: Record<string, string> = {
  getVersion: 'getAPIVersion',
  readMainLog: 'readLog',
  readProcessLog: 'readProcessStdoutLog',
  tailProcessLog: 'tailProcessStdoutLog',
  clearProcessLog: 'clearProcessLogs',
};

const SYSTEM: Record<string, MethodDef> = {
  listMethods: def('array', [], 'Every method name.', () => methodNames(), false),
  methodHelp: def(
    'string',
    [P.name],
    "A method's documentation.",
    (_c, a) => {
      const m = METHODS.get(str(a, 0));
      if (!m) throw new RpcFault('SIGNATURE_UNSUPPORTED');
      return m.help;
    },
    false,
  ),
  methodSignature: def(
    'array',
    [P.name],
    "A method's signature: [return type, parameter types...].",
    (_c, a) => {
      const m = METHODS.get(str(a, 0));
      if (!m) throw new RpcFault('SIGNATURE_UNSUPPORTED');
      return [m.returns, ...m.params.map((p) => p.type)];
    },
    false,
  ),
  multicall: def(
    'array',
    [{ name: 'calls', type: 'array' }],
    'Runs calls [{methodName, params}] in order; each result is the value itself (as supervisor answers) or {faultCode, faultString}.',
    async (c, a) => {
      const out: XmlRpcValue[] = [];
      // Each call's result is bounded (log reads by MAX_LOG_ANSWER_BYTES), but a 1 MiB body holds thousands
      // of calls: the results together are capped too. A result that would pass the cap is replaced by a
      // fault after its call has run (a call may have changed something, so the rest still run).
      let total = 0;
      for (const [i, call] of (a[0] as XmlRpcValue[]).entries()) {
        const value = await oneOfMulticall(c, call);
        const size = approximateSize(value);
        if (total + size > MAX_LOG_ANSWER_BYTES) {
          const name = isStruct(call) && typeof call['methodName'] === 'string' ? call['methodName'] : '?';
          const detail = `system.multicall answers at most ${MAX_LOG_ANSWER_BYTES / (1024 * 1024)} MiB in all: call ${i + 1} (${name.slice(0, 80)}) ran, but its result of about ${size} bytes is left out; make fewer or smaller calls`;
          out.push(faultStruct(new RpcFault('BAD_ARGUMENTS', detail)));
          continue;
        }
        total += size;
        out.push(value);
      }
      return out;
    },
    false,
  ),
};

async function oneOfMulticall(ctx: MethodContext, call: XmlRpcValue): Promise<XmlRpcValue> {
  try {
    if (!isStruct(call)) throw new RpcFault('INCORRECT_PARAMETERS', 'each call must be a struct {methodName, params}');
    const name = call['methodName'];
    const params = Object.hasOwn(call, 'params') ? call['params'] : [];
    if (typeof name !== 'string') throw new RpcFault('INCORRECT_PARAMETERS', 'No methodName');
    if (name === 'system.multicall') throw new RpcFault('INCORRECT_PARAMETERS', 'Recursive system.multicall forbidden');
    if (!Array.isArray(params)) throw new RpcFault('INCORRECT_PARAMETERS', 'params must be an array');
    return await callMethod(ctx, name, params);
  } catch (err) {
    return faultStruct(err instanceof RpcFault ? err : new RpcFault('FAILED', (err as Error).message));
  }
}

/** A fault as one entry of a multicall answer. */
function faultStruct(fault: RpcFault): XmlRpcStruct {
  return struct([
    ['faultCode', fault.faultCode],
    ['faultString', fault.faultString],
  ]);
}

/** About how many bytes a value takes in an answer: text counts its length, everything else a little. */
function approximateSize(v: XmlRpcValue): number {
  if (typeof v === 'string') return v.length;
  if (v instanceof Uint8Array) return Math.ceil((v.byteLength * 4) / 3);
  if (Array.isArray(v)) return v.reduce<number>((n, x) => n + approximateSize(x), 16);
  if (v !== null && typeof v === 'object' && !(v instanceof Date)) {
    return Object.entries(v).reduce<number>((n, [k, x]) => n + k.length + approximateSize(x), 16);
  }
  return 16;
}

const METHODS = new Map<string, MethodDef>([
  ...Object.entries(SUPERVISOR).map(([n, d]) => [`supervisor.${n}`, d] as const),
  ...Object.entries(ALIASES).map(([alias, target]) => [`supervisor.${alias}`, SUPERVISOR[target] as MethodDef] as const),
  ...Object.entries(SYSTEM).map(([n, d]) => [`system.${n}`, d] as const),
]);

function assertNever(x: never): never {
  throw new Error(`unhandled case ${JSON.stringify(x)}`);
}
