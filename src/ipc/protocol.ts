// Messages between the master and a drover worker over Node's IPC channel. Each is a plain object with a
// `t` (type) field; unknown types are ignored on both sides so that either can be newer than the other.

/** Worker → master. */
export type WorkerMessage =
  /** listening (HTTP) or set up (job worker): the worker counts as running from now */
  | { readonly t: 'ready' }
  /** the event loop is alive; sent every heartbeat interval */
  | { readonly t: 'hb'; readonly requests: number; readonly rss: number }
  /** the worker wants to be replaced (max_requests reached); the master starts a replacement first */
  | { readonly t: 'retire'; readonly reason: string }
  /** a spare told to accept now listens on every socket it was handed (or runs, for a job worker) */
  | { readonly t: 'serving' };

/**
 * Master → worker, besides the answers of the shared primitives. The master stops workers with signals; it
 * sends messages only to a spare (a worker started with WORKER_ENV.spareSockets), to make it serve.
 */
export type MasterMessage =
  /**
   * start serving: accept on each of the `sockets` listening sockets that follow (a job worker, with none:
   * start run()). It comes first, so the spare listens on each socket the moment it arrives: Node sends the
   * next message only once the child acknowledged a handle, and the master may be busy (spawning the next
   * spare) when the acknowledgement comes
   */
  | { readonly t: 'accept'; readonly sockets: number }
  /** carries listening socket number `index` (0-based, in the program's `sockets` order) as its handle */
  | { readonly t: 'socket'; readonly index: number };

/** Narrows an unknown IPC message to a MasterMessage, or null. */
export function parseMasterMessage(m: unknown): MasterMessage | null {
  if (typeof m !== 'object' || m === null) return null;
  const { t, index, sockets } = m as { t?: unknown; index?: unknown; sockets?: unknown };
  const count = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0;
  if (t === 'accept' && count(sockets)) return { t, sockets };
  if (t === 'socket' && count(index)) return { t, index };
  return null;
}

/**
 * Exit status of a worker that could not load or start its module (gunicorn's WORKER_BOOT_ERROR); the master
 * names it in its log.
 */
export const WORKER_BOOT_ERROR = 3;

/**
 * Exit status of a worker that left on its graceful_timeout deadline with work cut short: HTTP requests in
 * flight, or a job worker's tasks or stop() unfinished (sysexits' EX_TEMPFAIL: what was cut is retried). The
 * master names it in its log; a clean graceful exit is 0.
 */
export const WORKER_CUT_SHORT = 75;

/** Narrows an unknown IPC message to a WorkerMessage, or null. */
export function parseWorkerMessage(m: unknown): WorkerMessage | null {
  if (typeof m !== 'object' || m === null) return null;
  const t = (m as { t?: unknown }).t;
  switch (t) {
    case 'ready':
      return { t };
    case 'hb': {
      const { requests, rss } = m as { requests?: unknown; rss?: unknown };
      return { t, requests: typeof requests === 'number' ? requests : 0, rss: typeof rss === 'number' ? rss : 0 };
    }
    case 'serving':
      return { t };
    case 'retire': {
      const reason = (m as { reason?: unknown }).reason;
      return { t, reason: typeof reason === 'string' ? printableReason(reason) : 'retire requested' };
    }
    default:
      return null;
  }
}

/** The longest `retire` reason the master keeps (and logs), in characters; the rest is cut, marked with '…'. */
export const MAX_REASON_CHARS = 200;

/**
 * A worker's own text on its way to drover's log: control characters (C0, DEL, C1: a newline would forge a
 * log line) become '?', and it is cut to MAX_REASON_CHARS.
 */
function printableReason(s: string): string {
  const cut = s.length > MAX_REASON_CHARS ? `${s.slice(0, MAX_REASON_CHARS)}…` : s;
  // eslint-disable-next-line no-control-regex -- control characters are exactly what must not reach the log
  return cut.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
}

/**
 * At most this many shared calls go in one `sh` message: each carries at most a task's 1 MiB of JSON, so a
 * message stays well under the master's bound on a line (os/ipc-guard.ts MAX_IPC_LINE_CHARS, 64 Mi).
 */
export const MAX_CALLS_PER_MESSAGE = 32;

// --- shared primitives (queue, state, lock): a message family of its own ---
// A worker batches the requests it makes in one turn of its event loop into one `sh` message; the master
// answers each by its `seq` in `shr` messages, in any order (a `queue.take` or `lock.acquire` may be
// answered much later). Messages of this family never reach parseWorkerMessage's switch.

/** One request: sequence number (unique per worker process), operation ("queue.push", …), arguments. */
export type SharedCall = readonly [seq: number, op: string, args: Readonly<Record<string, unknown>>];

/** One answer: `[seq, 1, value]` or `[seq, 0, code, message]`. */
export type SharedResult = readonly [seq: number, ok: 1, value: unknown] | readonly [seq: number, ok: 0, code: string, message: string];

/** A change of a watched state key: `[watchId, key, value]`, value absent (null) when deleted. */
export type SharedEvent = readonly [watchId: number, key: string, found: boolean, value: unknown];

/** Worker → master. */
export interface SharedRequestMessage {
  readonly t: 'sh';
  readonly calls: readonly SharedCall[];
}

/** Master → worker. */
export interface SharedReplyMessage {
  readonly t: 'shr';
  readonly results: readonly SharedResult[];
  readonly events?: readonly SharedEvent[];
}

/** The calls of a `sh` message, or null when `m` is not one; malformed calls (no usable seq) are dropped. */
export function parseSharedRequest(m: unknown): SharedCall[] | null {
  if (typeof m !== 'object' || m === null || (m as { t?: unknown }).t !== 'sh') return null;
  const calls = (m as { calls?: unknown }).calls;
  if (!Array.isArray(calls)) return [];
  const out: SharedCall[] = [];
  for (const c of calls as unknown[]) {
    if (!Array.isArray(c)) continue;
    const [seq, op, args] = c as unknown[];
    if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || typeof op !== 'string') continue;
    const a = typeof args === 'object' && args !== null && !Array.isArray(args) ? (args as Record<string, unknown>) : {};
    out.push([seq, op, a]);
  }
  return out;
}

/** Environment variables the master sets for a worker. */
export const WORKER_ENV = {
  /** worker number (process_num) */
  id: 'DROVER_WORKER_ID',
  /** process name, for the title and logs */
  name: 'DROVER_WORKER_NAME',
  /** heartbeat interval in ms (0: none) */
  heartbeatMs: 'DROVER_HEARTBEAT_MS',
  /** the heartbeat timeout in ms: the watchdog thread reports the stack once the event loop is stuck this long (0: none) */
  stuckMs: 'DROVER_STUCK_MS',
  /** requests after which the worker asks to be replaced (jitter already applied; 0: never) */
  maxRequests: 'DROVER_MAX_REQUESTS',
  /** graceful stop budget in ms, so the worker can give up on stragglers itself just before the SIGKILL */
  gracefulMs: 'DROVER_GRACEFUL_MS',
  /** job workers: tasks in flight at once in this process (`concurrency`) */
  concurrency: 'DROVER_CONCURRENCY',
  /** HTTP workers: the access log's format; unset: no access log */
  accessLogFormat: 'DROVER_ACCESS_LOG_FORMAT',
  /** HTTP workers: keep-alive time in ms of the servers the runtime makes; unset: Node's */
  keepAliveMs: 'DROVER_KEEP_ALIVE_MS',
  /** HTTP workers: HTTPS with this PEM certificate file and key file (both set, or neither) */
  certFile: 'DROVER_CERTFILE',
  keyFile: 'DROVER_KEYFILE',
  /** HTTP workers over HTTPS: the CA file that vouches for client certificates (ca_certs), and cert_reqs (none, optional, required) */
  caFile: 'DROVER_CA_CERTS',
  clientCerts: 'DROVER_CERT_REQS',
  /** HTTP workers over HTTPS: an OpenSSL cipher list (ciphers); unset: Node's */
  ciphers: 'DROVER_CIPHERS',
  /**
   * HTTP workers: the listen backlog of each socket, comma-separated in the order of its sockets. The
   * worker's listen() on a passed socket sets it again (Node's default is 511), so it must know it.
   */
  backlogs: 'DROVER_BACKLOGS',
  /** HTTP workers: forwarded_allow_ips, comma-separated; secure_scheme_headers as JSON (lower-cased name → value) */
  forwardedAllowIps: 'DROVER_FORWARDED_ALLOW_IPS',
  secureSchemeHeaders: 'DROVER_SECURE_SCHEME_HEADERS',
  /**
   * set for a spare only: how many listening sockets the master will hand it (MasterMessage `socket`) before
   * it tells it to accept; a spare loads its module, reports ready and accepts nothing until then
   */
  spareSockets: 'DROVER_SPARE_SOCKETS',
} as const;

/**
 * A stuck worker's report, written by its watchdog thread as one line on the worker's stderr (the worker's
 * event loop is stuck, so the IPC channel is out of reach): how long the loop has been stuck, then its
 * JavaScript stack as a JSON array of frames, or why there is none. The master reads it from the pipe;
 * it also stays in the worker's stderr log.
 */
export type StuckReport = { readonly stuckMs: number; readonly frames: readonly string[] } | { readonly stuckMs: number; readonly error: string };

// not anchored at the line's start: with redirect_stderr the report shares a pipe with stdout, whose last
// line may be unfinished (progress dots) when the watchdog writes
const STUCK_REPORT_LINE = /drover watchdog: event loop stuck for (\d+) ms; (?:JavaScript stack (\[.*\])|no JavaScript stack: (.*))$/;

/** The stderr line (with its newline) that carries `report`. */
export function stuckReportLine(report: StuckReport): string {
  const rest = 'frames' in report ? `JavaScript stack ${JSON.stringify(report.frames)}` : `no JavaScript stack: ${report.error.replace(/[\r\n]+/g, ' ')}`;
  return `drover watchdog: event loop stuck for ${Math.round(report.stuckMs)} ms; ${rest}\n`;
}

/** The report a stderr line carries (without its newline), or null when it is not one. */
export function parseStuckReport(line: string): StuckReport | null {
  const m = STUCK_REPORT_LINE.exec(line);
  if (!m) return null;
  const stuckMs = Number(m[1]);
  if (m[3] !== undefined) return { stuckMs, error: m[3] };
  let frames: unknown;
  try {
    frames = JSON.parse(m[2] ?? '');
  } catch {
    return null; // a line that only looks like a report (program output may say anything)
  }
  if (!Array.isArray(frames) || !frames.every((f) => typeof f === 'string')) return null;
  return { stuckMs, frames: frames as string[] };
}
