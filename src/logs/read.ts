// Reading log files with supervisor's XML-RPC semantics (supervisor/options.py readFile and tailFile),
// for readLog / readProcessStdoutLog / tailProcessStdoutLog. Only paths from the configuration reach here.
import { open } from 'node:fs/promises';
import { DroverError } from '../errors.js';

/** Why a log read failed: supervisor's fault name with E_ in front (never renumbered or reused). */
export type LogReadCode = 'E_BAD_NAME' | 'E_NO_FILE' | 'E_BAD_ARGUMENTS' | 'E_FAILED';

/** A log read that supervisor would answer with a fault. */
export class LogReadError extends DroverError {
  declare readonly code: LogReadCode;
  constructor(code: LogReadCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/**
 * Most bytes of log one answer may carry (JSON API, XML-RPC, and one system.multicall in total). supervisor
 * has no limit; without one, a request for a few GiB costs that much memory, or more once it is text.
 */
export const MAX_LOG_ANSWER_BYTES = 16 * 1024 * 1024;

/**
 * Most bytes read back from a log's end for a tail of whole lines (`drover tail -n`): a tail of long lines
 * gets all its lines up to this; a line longer than this is shown by its end.
 */
export const MAX_TAIL_LINES_BYTES = 4 * 1024 * 1024;

/**
 * Most bytes asked of one read(2). FileHandle.read takes a 32-bit length and asserts in native code (the
 * process aborts, no exception to catch) on 2^31 or more, so no length may reach it unchecked.
 */
const READ_CHUNK_BYTES = 1024 * 1024;

export interface TailResult {
  /** the bytes read */
  readonly bytes: Buffer;
  /** the size of the log: the offset to ask from next time */
  readonly offset: number;
  /** true when more than `length` bytes were there after the requested offset, so the start was skipped */
  readonly overflow: boolean;
}

/**
 * supervisor's readFile: `length` bytes from `offset`; `length` 0 reads to the end. A negative `offset`
 * reads that many bytes from the end, and then `length` must be 0. A negative `length` is BAD_ARGUMENTS.
 */
export async function readFileRange(path: string, offset: number, length: number): Promise<Buffer> {
  if (!Number.isInteger(offset) || !Number.isInteger(length)) {
    throw new LogReadError('E_BAD_ARGUMENTS', `offset and length must be integers, got ${offset}, ${length}`);
  }
  if (offset < 0 && length !== 0) {
    throw new LogReadError('E_BAD_ARGUMENTS', 'a negative offset reads from the end of the log and needs length 0');
  }
  if (length < 0) throw new LogReadError('E_BAD_ARGUMENTS', `length must not be negative, got ${length}`);
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new LogReadError('E_NO_FILE', `no log file ${path}`);
    throw new LogReadError('E_FAILED', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const size = (await fh.stat()).size;
    let pos: number;
    let want: number;
    if (offset < 0) {
      pos = Math.max(0, size + offset);
      want = size - pos;
    } else {
      pos = offset;
      want = length === 0 ? Math.max(0, size - offset) : Math.max(0, Math.min(length, size - offset));
    }
    refuseOverCap(path, want);
    return await readAt(fh, pos, want);
  } finally {
    await fh.close();
  }
}

/**
 * supervisor's tailFile: up to `length` bytes from `offset`; when the log has grown past `offset + length`,
 * the last `length` bytes instead and `overflow` true. The returned offset is always the log's size. A
 * missing file gives empty bytes and offset 0 (supervisor's `['', 0, False]`). More than
 * MAX_LOG_ANSWER_BYTES to answer is E_BAD_ARGUMENTS.
 */
export async function tailFileRange(path: string, offset: number, length: number): Promise<TailResult> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    // supervisor answers a missing or unreadable file with no data, not a fault
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { bytes: Buffer.alloc(0), offset: 0, overflow: false };
    return { bytes: Buffer.alloc(0), offset, overflow: false };
  }
  try {
    const size = (await fh.stat()).size;
    const plan = tailPlan(size, offset, length);
    refuseOverCap(path, plan.length);
    const bytes = plan.length > 0 ? await readAt(fh, plan.position, plan.length) : Buffer.alloc(0);
    return { bytes, offset: size, overflow: plan.overflow };
  } finally {
    await fh.close();
  }
}

/** The arithmetic of supervisor's tailFile, kept line for line so corner cases match. */
export function tailPlan(size: number, offset: number, length: number): { position: number; length: number; overflow: boolean } {
  let overflow = false;
  if (size > offset + length) {
    overflow = true;
    offset = size - 1;
  }
  if (offset + length > size) {
    if (offset > size - 1) length = 0;
    offset = size - length;
  }
  if (offset < 0) offset = 0;
  if (length < 0) length = 0;
  // Python's read(length) stops at the end of the file; the length must too, or a length of 2^31 and more
  // on a small log reaches readAt as it is
  length = Math.min(length, Math.max(0, size - offset));
  return { position: offset, length, overflow };
}

// --- internal ---

/** Refuses an answer of `bytes` bytes of log over MAX_LOG_ANSWER_BYTES, before anything is allocated. */
function refuseOverCap(path: string, bytes: number): void {
  if (bytes <= MAX_LOG_ANSWER_BYTES) return;
  throw new LogReadError(
    'E_BAD_ARGUMENTS',
    `reading ${bytes} bytes of ${path} is more than one answer may carry (${MAX_LOG_ANSWER_BYTES / (1024 * 1024)} MiB); read it in parts with offset and length`,
  );
}

async function readAt(fh: import('node:fs/promises').FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, Math.min(READ_CHUNK_BYTES, length - got), position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return buf.subarray(0, got);
}
