// `drover tail [-f] [-n LINES] NAME [stdout|stderr]`: one process's log; `drover logs [-f] [PATTERN...]`:
// every matched process's log, interleaved, each line prefixed with the process name (`name | line` for
// stdout, `name ! line` for stderr, as `drover up` prints them in the foreground). Only configured log
// files are read, through the control API. On a terminal, control characters in program output are shown
// as text unless --raw (docs/cli.md).
import { steadyNowMs } from '../../os/clock.js';
import { NotRunning, openEventStream, StreamRefused } from '../../control/client.js';
import {
  FollowLostJson,
  LogEventJson,
  LogReadJson,
  LogStartJson,
  LogTailJson,
  ProcessesJson,
  StreamEndJson,
  StreamLostJson,
  type NamedLogPositionJson,
} from '../../control/wire.js';
import { UsageError } from '../../errors.js';
import { lastLinesStart } from '../../logs/lines.js';
import { EXIT } from '../exit-codes.js';
import { paint, useColor } from '../format.js';
import { watchReader } from '../reader-watch.js';
import { ApiError, remoteCommand, type Remote } from '../remote.js';

const RAW_HELP = `      --raw                  print program output byte for byte; by default, when stdout is a terminal,
                             control characters are shown as text (^[ ^M ^G, as cat -v does)
`;

export const tail = remoteCommand({
  name: 'tail',
  help: `usage: drover tail [-f] [-n LINES] [--raw] NAME [stdout|stderr] [--json]

Print the last lines of one process's log (stdout by default). -f keeps following new output, across
rotations, until interrupted or drover exits.

options:
  -f, --follow               keep printing new output
  -n, --lines LINES          how many lines (default 10)
${RAW_HELP}`,
  options: { follow: { type: 'boolean', short: 'f' }, lines: { type: 'string', short: 'n' }, raw: { type: 'boolean' } },
  run: async (r) => {
    const [name, streamArg, ...extra] = r.positionals;
    if (name === undefined || extra.length > 0) throw new UsageError('tail needs one NAME (and optionally stdout or stderr)');
    const stream = streamArg ?? 'stdout';
    if (stream !== 'stdout' && stream !== 'stderr') throw new UsageError(`expected stdout or stderr, got ${JSON.stringify(stream)}`);
    const lines = parseLines(r);
    const output = outputOf(r);
    const q = `process=${encodeURIComponent(name)}&stream=${stream}`;
    const tailOnce = (n: number): Promise<{ key: string; data: Buffer }> => tailOf(r, q, n, output);
    if (r.values['follow'] !== true) {
      const { key, data } = await tailOnce(lines);
      if (output === 'bytes') r.out(data.subarray(lastLinesStart(data, lines, true)));
      else if (r.json) r.out(`${escapeJsonControls(JSON.stringify({ ok: true, process: key, stream, lines: lastLines(data.toString('utf8'), lines) }, null, 2))}\n`);
      else for (const l of lastLines(data.toString('utf8'), lines)) r.out(`${neutralizeControls(l)}\n`);
      return EXIT.OK;
    }
    // --json names the process as drover does ("group:name"): asked first, as the follow does not say
    const key = r.json ? (await tailOnce(0)).key : name;
    const splitter = new LineSplitter();
    const onText = (text: string): void => {
      for (const line of splitter.push(text)) r.out(r.json ? `${escapeJsonControls(JSON.stringify({ name: key, stream, line }))}\n` : `${neutralizeControls(line)}\n`);
    };
    return followWithTail(r, output, `/api/logs/follow?${q}`, lines, async (n) => {
      // an older drover: its tail first, then its follow (what it writes in between is not shown)
      const { data } = await tailOnce(n);
      if (output === 'bytes') r.out(data.subarray(lastLinesStart(data, n, true)));
      else for (const l of lastLines(data.toString('utf8'), n)) onText(`${l}\n`);
    }, (event, data, decode) => {
      if (event === 'message' && typeof data === 'string') {
        if (output === 'bytes') r.out(decode(data));
        else onText(data);
      } else if (event === 'lost') reportLost(r, key, stream, FollowLostJson.is(data) ? data.bytes : null);
    }, (_name, _stream, data) => ['message', data]);
  },
});

export const logs = remoteCommand({
  name: 'logs',
  help: `usage: drover logs [-f] [-n LINES] [--raw] [PATTERN...] [--json]

Print the last lines of every matched process's logs (default: all), each line prefixed with its
process name (\`name | …\` stdout, \`name ! …\` stderr); -f then follows every one of them, interleaved as
they are written. --json prints one {"name","stream","line"} object per line.

options:
  -f, --follow               keep printing new output
  -n, --lines LINES          how many lines per log (default 10)
${RAW_HELP}`,
  options: { follow: { type: 'boolean', short: 'f' }, lines: { type: 'string', short: 'n' }, raw: { type: 'boolean' } },
  run: async (r) => {
    const lines = parseLines(r);
    const output = outputOf(r);
    const pats = r.positionals.length > 0 ? [...r.positionals] : ['all'];
    const { processes: procs } = await r.call('GET', `/api/processes?patterns=${encodeURIComponent(pats.join(','))}`, ProcessesJson);
    const color = useColor(r.ctx);
    const width = Math.max(0, ...procs.map((p) => p.name.length));
    const colours = new Map(procs.map((p, i) => [p.name, PALETTE[i % PALETTE.length] as string]));
    const emit = (name: string, stream: string, line: string | Buffer): void => {
      if (r.json) {
        r.out(`${escapeJsonControls(JSON.stringify({ name, stream, line: line.toString() }))}\n`);
        return;
      }
      const prefix = paint(`${name.padEnd(width)} ${stream === 'stderr' ? '!' : '|'}`, colours.get(name) ?? '0', color);
      if (typeof line === 'string') r.out(`${prefix} ${neutralizeControls(line)}\n`);
      else r.out(Buffer.concat([Buffer.from(`${prefix} `), line, NEWLINE]));
    };
    // a drover without log access answers E_NO_LOGS here, which is the clearest thing to say
    const first = procs[0];
    if (first && procs.every((p) => p.stdout_logfile === null && p.stderr_logfile === null)) {
      try {
        await r.call('GET', `/api/logs/tail?process=${encodeURIComponent(first.name)}&length=1`, LogTailJson);
      } catch (err) {
        // kept in no file (NONE): there are logs, just none to print; -f still shows what it writes
        if (!(err instanceof ApiError && err.code === 'E_NO_FILE')) throw err;
      }
    }
    const printTails = async (n: number): Promise<void> => {
      if (n === 0) return;
      for (const p of procs) {
        for (const stream of ['stdout', 'stderr'] as const) {
          if ((stream === 'stdout' ? p.stdout_logfile : p.stderr_logfile) === null) continue;
          const { data } = await tailOf(r, `process=${encodeURIComponent(p.name)}&stream=${stream}`, n, output);
          if (output === 'bytes') for (const l of splitBytes(data.subarray(lastLinesStart(data, n, true)))) emit(p.name, stream, l);
          else for (const l of lastLines(data.toString('utf8'), n)) emit(p.name, stream, l);
        }
      }
    };
    if (r.values['follow'] !== true) {
      await printTails(lines);
      return EXIT.OK;
    }
    const splitters = new Map<string, LineSplitter | ByteLineSplitter>();
    return followWithTail(r, output, `/api/logs/stream?patterns=${encodeURIComponent(pats.join(','))}`, lines, printTails, (event, d, decode) => {
      if (event === 'lost' && StreamLostJson.is(d)) reportLost(r, d.name, d.stream, d.bytes);
      if (event !== 'log' || !LogEventJson.is(d)) return;
      const id = `${d.name}\0${d.stream}`;
      let s = splitters.get(id);
      if (!s) splitters.set(id, (s = output === 'bytes' ? new ByteLineSplitter() : new LineSplitter()));
      const lines = s instanceof ByteLineSplitter ? s.push(decode(d.data)) : s.push(d.data);
      for (const l of lines) emit(d.name, d.stream, l);
    }, (name, stream, data) => ['log', { name, stream, data } satisfies LogEventJson]);
  },
});

/**
 * A line of program output made safe for a terminal: every control character but tab becomes visible text
 * in `cat -v`'s notation (ESC ^[, BEL ^G, CR ^M, DEL ^?, C1 U+009B M-^[), so output cannot move the
 * cursor, erase the name prefix, set the window title or ring the bell. A CR that ends the line (CRLF
 * output) is dropped: it cannot hide anything.
 */
export function neutralizeControls(line: string): string {
  const s = line.endsWith('\r') ? line.slice(0, -1) : line;
  return s.replace(/[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/g, (c) => {
    const n = c.charCodeAt(0);
    if (n === 0x7f) return '^?';
    if (n >= 0x80) return `M-^${String.fromCharCode(n - 0x40)}`;
    return `^${String.fromCharCode(n + 0x40)}`;
  });
}

/**
 * JSON text with DEL and C1 characters written as \u escapes too (JSON.stringify escapes only C0): the
 * same data, and nothing a terminal acts on.
 */
export function escapeJsonControls(json: string): string {
  return json.replace(/[\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

// --- internal ---

/**
 * How program output is printed: `json` (text, in JSON), `terminal` (text, control characters made
 * visible), or `bytes`, as they are (--raw, or stdout is not a terminal).
 */
type Output = 'json' | 'terminal' | 'bytes';

function outputOf(r: Remote): Output {
  if (r.json) return 'json';
  return r.ctx.isTTY && r.values['raw'] !== true ? 'terminal' : 'bytes';
}

const NEWLINE = Buffer.from('\n');

const PALETTE = ['36', '33', '35', '32', '34', '96', '93', '95', '92', '94'];

function parseLines(r: Remote): number {
  const v = r.values['lines'];
  if (v === undefined) return 10;
  if (typeof v !== 'string' || !/^\d+$/.test(v)) throw new UsageError(`-n needs a number of lines, got ${JSON.stringify(v)}`);
  return Number(v);
}

/**
 * The last `lines` whole lines of one log, as bytes (their text's UTF-8 when output is not bytes). `length`
 * is for an older drover, which ignores `lines` and `encoding` and sends that many bytes of text.
 */
async function tailOf(r: Remote, query: string, lines: number, output: Output): Promise<{ key: string; data: Buffer }> {
  const enc = output === 'bytes' ? '&encoding=base64' : '';
  const body = await r.call('GET', `/api/logs/tail?${query}&lines=${lines}&length=${legacyTailBytes(lines)}${enc}`, LogTailJson);
  return { key: body.process, data: Buffer.from(body.data, body.encoding === 'base64' ? 'base64' : 'utf8') };
}

/** What a drover without `lines` is asked for: a budget of bytes (lines are rarely longer than 512). */
function legacyTailBytes(lines: number): number {
  return Math.min(1024 * 1024, Math.max(1600, lines * 512));
}

/** `buf`'s lines, without their newlines; a final line without one is a line. */
function splitBytes(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < buf.length; ) {
    const nl = buf.indexOf(0x0a, at);
    const end = nl < 0 ? buf.length : nl;
    out.push(buf.subarray(at, end));
    at = end + 1;
  }
  return out;
}

/** The last `n` complete-or-final lines of `text`. */
function lastLines(text: string, n: number): string[] {
  if (n === 0 || text === '') return [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines.slice(-n);
}

/** Cuts a stream of chunks into lines, keeping a partial last line until its end arrives. */
class LineSplitter {
  private partial = '';

  push(chunk: string): string[] {
    const parts = (this.partial + chunk).split('\n');
    this.partial = parts.pop() ?? '';
    return parts;
  }
}

/** LineSplitter for bytes. */
class ByteLineSplitter {
  private partial = Buffer.alloc(0);

  push(chunk: Buffer): Buffer[] {
    const all = this.partial.length > 0 ? Buffer.concat([this.partial, chunk]) : chunk;
    const last = all.lastIndexOf(0x0a);
    this.partial = Buffer.from(all.subarray(last + 1));
    return last < 0 ? [] : splitBytes(all.subarray(0, last + 1));
  }
}

/**
 * Follows a log route that starts with the last `lines` lines of each log (`lines=`), in one request, so
 * nothing written between the tail and the follow is missed or shown twice. A drover older than `lines`
 * refuses the parameter: then `legacyTail` prints its tail and the plain route follows, as before.
 * `onEvent` gets `decode`, which turns an event's data into the bytes it stands for. When drover ends the
 * stream because it re-execs (USR2), the follow goes on with the new master (followOn); `gapEvent` makes
 * the event that carries a log's output read from its file in between.
 */
async function followWithTail(
  r: Remote,
  output: Output,
  path: string,
  lines: number,
  legacyTail: (lines: number) => Promise<void>,
  onEvent: (event: string, data: unknown, decode: (data: string) => Buffer) => void,
  gapEvent: (name: string, stream: NamedLogPositionJson['stream'], data: string) => [string, unknown],
): Promise<number> {
  const enc = output === 'bytes' ? '&encoding=base64' : '';
  const base64 = (data: string): Buffer => Buffer.from(data, 'base64');
  let ended: number | Handover;
  try {
    ended = await follow(r, `${path}&lines=${lines}${enc}`, (event, data) => onEvent(event, data, base64));
  } catch (err) {
    if (!(err instanceof StreamRefused && err.status === 400 && err.body?.['code'] === 'E_BAD_REQUEST' && String(err.body['message']).startsWith('unknown parameter'))) throw err;
    await legacyTail(lines);
    // an older drover: its streams do not say why they end
    ended = await follow(r, path, (event, data) => onEvent(event, data, (text) => Buffer.from(text, 'utf8')));
  }
  while (typeof ended !== 'number') ended = await followOn(r, `${path}${enc}`, ended, output, (event, data) => onEvent(event, data, base64), gapEvent);
  return ended;
}

/** How a stream ended by a re-exec left off: where each log stood (its `end` event). */
interface Handover {
  readonly logs: readonly NamedLogPositionJson[];
}

/** How long `-f` tries to reach the new master after a re-exec ended the stream. */
const REEXEC_RECONNECT_MS = 20_000;
/** The most of one log that is read from its file between two masters; more is skipped, and said. */
const GAP_MAX_BYTES = 4 * 1024 * 1024;

/**
 * After a re-exec (USR2) ended the stream: follows `path` (no tail) at the new master, trying again while
 * nothing answers yet (up to REEXEC_RECONNECT_MS). Its `start` event says where its output begins in each
 * log; what the files got between where the old master's stream ended and there is read from them first
 * (GET /api/logs/read), with the stream paused, so no line is shown twice or missed.
 */
async function followOn(
  r: Remote,
  path: string,
  from: Handover,
  output: Output,
  onEvent: (event: string, data: unknown) => void,
  gapEvent: (name: string, stream: NamedLogPositionJson['stream'], data: string) => [string, unknown],
): Promise<number | Handover> {
  const deadline = steadyNowMs() + REEXEC_RECONNECT_MS;
  let waitMs = 50;
  for (;;) {
    let started = false;
    try {
      return await follow(r, path, (event, data) => {
        if (event !== 'start' || started) return onEvent(event, data);
        started = true;
        if (!LogStartJson.is(data)) return undefined;
        return readGaps(r, from, data.logs, output, (name, stream, text) => {
          const [e, d] = gapEvent(name, stream, text);
          onEvent(e, d);
        });
      });
    } catch (err) {
      // the new master's control socket may not answer yet (a TCP listener it has not taken over), or a
      // connection made while the old master exits is closed unanswered (EPIPE, ECONNRESET)
      const code = (err as NodeJS.ErrnoException).code ?? '';
      if (!(err instanceof NotRunning || code === 'EPIPE' || code === 'ECONNRESET') || steadyNowMs() + waitMs > deadline) throw err;
    }
    await new Promise((resolve) => setTimeout(resolve, waitMs));
    waitMs = Math.min(waitMs * 2, 1000);
  }
}

/**
 * Reads, for each log the old master's stream ended on, what its file holds from there to where the new
 * master's stream starts: the same file from the old end, or a file the new master began (an AUTO log, a
 * rotation) from its start. A log the old stream did not follow, or one that is no regular file, has no
 * offsets: its output starts with the new stream.
 */
async function readGaps(
  r: Remote,
  from: Handover,
  starts: readonly NamedLogPositionJson[],
  output: Output,
  emit: (name: string, stream: NamedLogPositionJson['stream'], data: string) => void,
): Promise<void> {
  const ends = new Map(from.logs.map((l) => [`${l.name}\0${l.stream}`, l.position]));
  for (const { name, stream, position: now } of starts) {
    const then = ends.get(`${name}\0${stream}`) ?? null;
    if (then === null || now === null) continue;
    const start = then.file === now.file && then.offset <= now.offset ? then.offset : 0;
    const skipped = Math.max(0, now.offset - start - GAP_MAX_BYTES);
    if (skipped > 0) r.err(`${skipped} bytes of ${name} ${stream} skipped while the new master took over (the log file has them)`);
    const length = now.offset - start - skipped;
    if (length <= 0) continue;
    const enc = output === 'bytes' ? '&encoding=base64' : '';
    let body;
    try {
      body = await r.call('GET', `/api/logs/read?process=${encodeURIComponent(name)}&stream=${stream}&offset=${start + skipped}&length=${length}${enc}`, LogReadJson);
    } catch (err) {
      // the new master stopped meanwhile, or refused the read: the follow goes on (or ends) with the stream
      r.err(`${length} bytes of ${name} ${stream} written while the new master took over could not be read: ${(err as Error).message} (the log file has them)`);
      continue;
    }
    // asked in base64 for bytes; text otherwise (the stream's own encoding)
    const data = output === 'bytes' && body.encoding !== 'base64' ? Buffer.from(body.data, 'utf8').toString('base64') : body.data;
    if (data !== '') emit(name, stream, data);
  }
}

/** drover skipped output because this reader fell behind (docs/api.md): say so on stderr. */
function reportLost(r: Remote, name: string, stream: string, bytes: number | null): void {
  r.err(`${bytes ?? 'some'} bytes of ${name} ${stream} skipped: this reader fell behind (the log file has them)`);
}

/**
 * Follows an event stream until drover ends it (exit 0: it ends every stream when it stops), the
 * connection fails (exit 1: drover was killed, or the connection cut) or stdout's reader goes away (0).
 * A stream drover ends because it re-execs (USR2; its `end` event says so) resolves with where each log
 * stood, for the follow to go on with the new master. While stdout is backed up (a pager or pipe not
 * reading) the stream is not read: drover then skips output for this reader and says how much (`lost`),
 * instead of this process buffering all of it. `onEvent` may return a promise: the stream waits for it too.
 */
function follow(r: Remote, path: string, onEvent: (event: string, data: unknown) => Promise<void> | void): Promise<number | Handover> {
  const stdout = r.ctx.stdout;
  let drained: Promise<void> | null = null;
  const whenDrained = (): Promise<void> | undefined => {
    if (!stdout.writableNeedDrain) return undefined;
    drained ??= new Promise<void>((resolve) => {
      // 'close' and 'error' (EPIPE: the reader went away) end the wait too; remoteCommand decides the exit
      const done = (): void => {
        stdout.off('drain', done).off('close', done).off('error', done);
        drained = null;
        resolve();
      };
      stdout.on('drain', done).on('close', done).on('error', done);
    });
    return drained;
  };
  return new Promise((resolve, reject) => {
    let close: (() => void) | null = null;
    let readerGone = false;
    // the stream's last event: why drover ended it
    let end: StreamEndJson | null = null;
    // the reader went away while nothing was written (no EPIPE to tell): the follow ends quietly, as on EPIPE
    const stopWatch = watchReader(r.ctx.stdoutFd, () => {
      readerGone = true;
      close?.();
      resolve(EXIT.OK);
    });
    openEventStream(
      r.endpoint,
      path,
      (e) => {
        if (e.event === 'end') {
          if (StreamEndJson.is(e.data)) end = e.data;
          return undefined;
        }
        const waiting = onEvent(e.event, e.data);
        return waiting ? waiting.then(whenDrained) : whenDrained();
      },
      (err) => {
        stopWatch();
        if (readerGone) return; // closed here, above
        if (err) {
          r.err(`the log stream broke: ${err.message}`);
          resolve(EXIT.FAILURE);
        } else if (end?.reason === 'reexec') {
          r.err('drover re-executed (USR2): following on with the new master');
          resolve({ logs: end.logs ?? [] });
        } else {
          r.err('drover stopped: the log stream has ended');
          resolve(EXIT.OK);
        }
      },
    ).then(
      (c) => (close = c),
      (err: unknown) => {
        stopWatch();
        reject(err);
      },
    );
  });
}
