// Pure parts of log capture: splitting a byte stream into lines, formatting lines (timestamps, JSON, name
// prefixes), deciding where a rotation falls, time periods, and file names. No I/O here.

export type StreamName = 'stdout' | 'stderr';
export type LogFormat = 'text' | 'json';
export type RotatePeriod = 'daily' | 'hourly';

const NL = 0x0a;

/** Lines longer than this are cut into pieces of this size (each ended with a newline) so memory stays bounded. */
export const MAX_LINE_BYTES = 1024 * 1024;

/**
 * Splits a byte stream into complete lines. `push` returns the complete lines of the stream so far as one
 * buffer (each ending in "\n"), or null; a trailing partial line is held until its end arrives.
 */
export class LineSplitter {
  /** bytes of an unfinished line; empty when the stream is at a line boundary */
  private partial: Buffer = Buffer.alloc(0);
  private readonly maxLine: number;

  constructor(maxLine = MAX_LINE_BYTES) {
    this.maxLine = maxLine;
  }

  push(chunk: Buffer): Buffer | null {
    const last = chunk.lastIndexOf(NL);
    if (last < 0) {
      this.partial = this.partial.length === 0 ? chunk : Buffer.concat([this.partial, chunk]);
      return this.partial.length >= this.maxLine ? this.cutLongLine() : null;
    }
    let out: Buffer;
    if (this.partial.length === 0) {
      // the common case at full speed: no copy when the chunk ends at a line boundary
      out = last === chunk.length - 1 ? chunk : chunk.subarray(0, last + 1);
    } else {
      out = Buffer.concat([this.partial, chunk.subarray(0, last + 1)]);
    }
    this.partial = last === chunk.length - 1 ? Buffer.alloc(0) : chunk.subarray(last + 1);
    if (this.partial.length >= this.maxLine) {
      const cut = this.cutLongLine();
      return Buffer.concat([out, cut]);
    }
    return out;
  }

  /** The held partial line ended with a newline (for the end of a stream), or null when there is none. */
  flush(): Buffer | null {
    if (this.partial.length === 0) return null;
    const out = Buffer.concat([this.partial, Buffer.from('\n')]);
    this.partial = Buffer.alloc(0);
    return out;
  }

  /** bytes held in a partial line */
  get pending(): number {
    return this.partial.length;
  }

  private cutLongLine(): Buffer {
    const pieces: Buffer[] = [];
    while (this.partial.length >= this.maxLine) {
      pieces.push(this.partial.subarray(0, this.maxLine), Buffer.from('\n'));
      this.partial = this.partial.subarray(this.maxLine);
    }
    return Buffer.concat(pieces);
  }
}

/** Each line of `lines` (complete lines) with `prefix` in front: the foreground echo `name | line`, timestamps. */
export function prefixLines(lines: Buffer, prefix: string): Buffer {
  if (lines.length === 0) return lines;
  // latin1 maps each byte to one character and back, so this is byte-exact whatever the encoding, and
  // V8's replaceAll is about twice as fast as copying line by line (measured: 138 vs 296 ns a line)
  const text = lines.toString('latin1');
  const endsWithNewline = text.charCodeAt(text.length - 1) === NL;
  const body = endsWithNewline ? text.slice(0, -1) : text;
  const p = Buffer.from(prefix).toString('latin1');
  return Buffer.from(`${p}${body.replaceAll('\n', `\n${p}`)}${endsWithNewline ? '\n' : ''}`, 'latin1');
}

export interface FormatOptions {
  readonly format: LogFormat;
  readonly timestamps: boolean;
  readonly process: string;
  readonly stream: StreamName;
}

/** Formats complete lines as they go into a log file: raw, with an ISO-8601 time prefix, or as JSON objects. */
export function formatLines(lines: Buffer, opts: FormatOptions, timeMs: number): Buffer {
  if (opts.format === 'json') {
    const time = new Date(timeMs).toISOString();
    const head = `{"time":"${time}","process":${JSON.stringify(opts.process)},"stream":"${opts.stream}","message":`;
    let out = '';
    let src = 0;
    while (src < lines.length) {
      const eol = lines.indexOf(NL, src);
      const end = eol < 0 ? lines.length : eol;
      out += `${head}${JSON.stringify(lines.toString('utf8', src, end))}}\n`;
      src = end + 1;
    }
    return Buffer.from(out);
  }
  if (opts.timestamps) return prefixLines(lines, `${new Date(timeMs).toISOString()} `);
  return lines;
}

/** What to do next with `buf` (complete lines) given the live file's size: write some bytes, or rotate first. */
export type WriteStep = { readonly type: 'write'; readonly bytes: number } | { readonly type: 'rotate' };

/**
 * The size-rotation decision. A file never exceeds `maxBytes` unless a single line is longer than
 * that; such a line goes whole into a file of its own. Rotation falls only between lines, and only when
 * more data comes (no empty files). `maxBytes` 0 never rotates.
 */
export function nextWriteStep(size: number, maxBytes: number, buf: Buffer): WriteStep {
  if (maxBytes <= 0) return { type: 'write', bytes: buf.length };
  const room = maxBytes - size;
  if (buf.length <= room) return { type: 'write', bytes: buf.length };
  const fits = completeLinesWithin(buf, room);
  if (fits > 0) return { type: 'write', bytes: fits };
  if (size > 0) return { type: 'rotate' };
  const eol = buf.indexOf(NL);
  return { type: 'write', bytes: eol < 0 ? buf.length : eol + 1 };
}

/** Length of the longest prefix of `buf` made of whole lines and no longer than `room` bytes (0 if none). */
export function completeLinesWithin(buf: Buffer, room: number): number {
  if (room <= 0) return 0;
  if (buf.length <= room) return buf.length;
  const i = buf.lastIndexOf(NL, room - 1);
  return i < 0 ? 0 : i + 1;
}

/** Start (ms since the epoch) of the local-time day or hour that contains `ms`. */
export function periodStart(ms: number, period: RotatePeriod): number {
  const d = new Date(ms);
  if (period === 'daily') d.setHours(0, 0, 0, 0);
  else d.setMinutes(0, 0, 0);
  return d.getTime();
}

/** Backup `i` (1-based) of a log file: `file.1`, or `file.1.gz` once compressed. */
export function backupName(base: string, i: number, gz: boolean): string {
  return gz ? `${base}.${i}.gz` : `${base}.${i}`;
}

const AUTO_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789_';

/** supervisor's AUTO log name: `NAME-stdout---IDENTIFIER-XXXXXXXX.log` (tempfile.mktemp's 8 random characters). */
export function autoLogName(name: string, stream: StreamName, identifier: string, random: () => number = Math.random): string {
  let suffix = '';
  for (let i = 0; i < 8; i++) suffix += AUTO_ALPHABET[Math.floor(random() * AUTO_ALPHABET.length)] ?? '_';
  return `${name}-${stream}---${identifier}-${suffix}.log`;
}

/** True for a file name supervisor (and drover) would delete from childlogdir at start: an AUTO log or its backups. */
export function isAutoLogName(file: string, identifier: string): boolean {
  // supervisor's clear_autochildlogdir: re.match(r'.+?---%s-\S+\.log\.{0,1}\d{0,4}' % identifier)
  const id = identifier.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^.+?---${id}-\\S+\\.log\\.?\\d{0,4}`).test(file);
}
