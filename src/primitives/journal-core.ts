// The journal's records, pure: encoding one operation as a JSON line, parsing a journal's text back (a torn
// last line is reported, anything else malformed is an error naming the line), and replaying the records
// into an image of the queues and state. No I/O here (journal.ts owns the file).
//
// A journal is a snapshot (a `snap` line, then `push`/`dead`/`set` lines for the live tasks, dead letters
// and keys) followed by operations appended since. A fresh journal has no `snap` line. Leases and locks are
// never recorded: a task leased when the master stopped is ready again after the restart (at least once).
import { DroverError } from '../errors.js';
import type { DeadReason, DeadTask, TaskRecord } from './queue-core.js';

export const JOURNAL_VERSION = 1;

export type JournalRecord =
  /** first line of a compacted journal: the id counter (ids of acked tasks are not reused) */
  | { readonly t: 'snap'; readonly v: number; readonly lastId: number }
  /**
   * a task accepted; in a snapshot, `att` carries the attempts it had used. `due` (here and in `nack`) is a
   * wall-clock time in ms since the epoch, 0 when ready: the next master reads it on its own clock
   */
  | {
      readonly t: 'push';
      readonly q: string;
      readonly id: number;
      readonly data: unknown;
      readonly pri: number;
      readonly max: number;
      readonly due: number;
      readonly att?: number;
      readonly err?: string | null;
    }
  | { readonly t: 'ack'; readonly q: string; readonly id: number }
  /** nacked and requeued: one more attempt used, not before `due` */
  | { readonly t: 'nack'; readonly q: string; readonly id: number; readonly due: number; readonly err: string | null }
  /** moved to the dead letters (by a nack, a lost lease or its holder's exit), with everything kept of it */
  | { readonly t: 'dead'; readonly q: string; readonly task: DeadTask }
  | { readonly t: 'retryDead'; readonly q: string }
  | { readonly t: 'set'; readonly k: string; readonly v: unknown }
  | { readonly t: 'del'; readonly k: string }
  /** fencing tokens up to `upTo` may have been granted: a later master's start above it (its clock may be behind) */
  | { readonly t: 'tokens'; readonly upTo: number };

/** The queues and state a journal describes. */
export interface JournalImage {
  lastId: number;
  /** the highest fencing token reserved; 0 when none */
  tokensUpTo: number;
  /** per queue: tasks not acked by id, and the dead-letter list oldest first */
  readonly queues: Map<string, { readonly tasks: Map<number, TaskRecord>; readonly dead: DeadTask[] }>;
  readonly state: Map<string, unknown>;
}

/** A journal that cannot be replayed without losing or inventing data. */
export class JournalCorruptError extends DroverError {
  constructor(
    readonly file: string,
    readonly line: number,
    reason: string,
  ) {
    super('E_JOURNAL_CORRUPT', `journal ${file}, line ${line}: ${reason}; drover will not start on a journal it cannot read in full (move the file away to start empty)`);
  }
}

/** One record as one line, newline included. */
export function encodeRecord(r: JournalRecord): string {
  return `${JSON.stringify(r)}\n`;
}

export interface ParsedJournal {
  readonly records: JournalRecord[];
  /** 1-based number of a last line cut short by a crash mid-write (no newline), or null */
  readonly tornLine: number | null;
}

/**
 * Parses a journal's text. A last line without its newline was never completely written, so never answered:
 * it is dropped and reported. Any other line that is not a valid record throws JournalCorruptError.
 */
export function parseJournal(text: string, file: string): ParsedJournal {
  const lines = text.split('\n');
  // text ending in '\n' leaves one empty string after the last complete line
  const last = lines.pop() ?? '';
  const tornLine = last.length > 0 ? lines.length + 1 : null;
  const records: JournalRecord[] = [];
  lines.forEach((line, i) => {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      throw new JournalCorruptError(file, i + 1, `not JSON (${(err as Error).message})`);
    }
    const problem = checkRecord(value);
    if (problem !== null) throw new JournalCorruptError(file, i + 1, problem);
    if ((value as JournalRecord).t === 'snap' && i !== 0) throw new JournalCorruptError(file, i + 1, 'a snapshot header after the first line');
    records.push(value as JournalRecord);
  });
  return { records, tornLine };
}

/** An empty image. */
export function emptyImage(): JournalImage {
  return { lastId: 0, tokensUpTo: 0, queues: new Map(), state: new Map() };
}

/**
 * Applies records to an image in order. Operations on tasks the image does not hold (an ack of a task whose
 * push was compacted away cannot happen, but a retried operation could) change nothing.
 */
export function replay(records: readonly JournalRecord[], image: JournalImage = emptyImage()): JournalImage {
  for (const r of records) applyRecord(image, r);
  return image;
}

/** The records of a snapshot of `image`: a compacted journal's whole content. */
export function snapshotRecords(image: JournalImage): JournalRecord[] {
  const out: JournalRecord[] = [{ t: 'snap', v: JOURNAL_VERSION, lastId: image.lastId }];
  for (const [q, { tasks, dead }] of image.queues) {
    for (const task of [...tasks.values()].sort((a, b) => a.id - b.id)) out.push(taskRecord(q, task));
    for (const d of dead) out.push({ t: 'dead', q, task: d });
  }
  for (const [k, v] of image.state) out.push({ t: 'set', k, v });
  if (image.tokensUpTo > 0) out.push({ t: 'tokens', upTo: image.tokensUpTo });
  return out;
}

/** A snapshot line for a live task (its attempts and last error kept). */
export function taskRecord(q: string, task: TaskRecord): JournalRecord {
  return { t: 'push', q, id: task.id, data: task.data, pri: task.priority, max: task.maxAttempts, due: task.dueAtMs, att: task.attempts, err: task.error };
}

// --- internal ---

function applyRecord(image: JournalImage, r: JournalRecord): void {
  switch (r.t) {
    case 'snap':
      image.lastId = Math.max(image.lastId, r.lastId);
      return;
    case 'push':
      image.lastId = Math.max(image.lastId, r.id);
      queueOf(image, r.q).tasks.set(r.id, {
        id: r.id,
        data: r.data,
        priority: r.pri,
        maxAttempts: r.max,
        attempts: r.att ?? 0,
        dueAtMs: r.due,
        error: r.err ?? null,
      });
      return;
    case 'ack':
      image.queues.get(r.q)?.tasks.delete(r.id);
      return;
    case 'nack': {
      const task = image.queues.get(r.q)?.tasks.get(r.id);
      if (!task) return;
      // deliveries are not journaled; a nack proves one
      task.attempts += 1;
      task.dueAtMs = r.due;
      task.error = r.err;
      return;
    }
    case 'dead': {
      const q = queueOf(image, r.q);
      q.tasks.delete(r.task.id);
      q.dead.push(r.task);
      image.lastId = Math.max(image.lastId, r.task.id);
      return;
    }
    case 'retryDead': {
      const q = image.queues.get(r.q);
      if (!q) return;
      // as TaskQueue.retryDead: fresh attempts, as many as the task had used
      for (const d of q.dead.splice(0)) {
        q.tasks.set(d.id, { id: d.id, data: d.data, priority: d.priority, maxAttempts: Math.max(1, d.attempts), attempts: 0, dueAtMs: 0, error: null });
      }
      return;
    }
    case 'set':
      image.state.set(r.k, r.v);
      return;
    case 'del':
      image.state.delete(r.k);
      return;
    case 'tokens':
      image.tokensUpTo = Math.max(image.tokensUpTo, r.upTo);
      return;
    default: {
      const never: never = r;
      throw new Error(`unknown journal record ${JSON.stringify(never)}`);
    }
  }
}

function queueOf(image: JournalImage, name: string): { tasks: Map<number, TaskRecord>; dead: DeadTask[] } {
  let q = image.queues.get(name);
  if (!q) image.queues.set(name, (q = { tasks: new Map(), dead: [] }));
  return q;
}

const DEAD_REASONS: readonly DeadReason[] = ['nacked', 'lease expired', 'worker exited', 'undeliverable'];

/** Why `v` is not a journal record, or null when it is one. */
function checkRecord(v: unknown): string | null {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'not a JSON object';
  const r = v as Record<string, unknown>;
  const str = (k: string): boolean => typeof r[k] === 'string';
  const int = (k: string): boolean => Number.isSafeInteger(r[k]);
  const has = (k: string): boolean => Object.hasOwn(r, k);
  const errOk = (k: string): boolean => !has(k) || r[k] === null || typeof r[k] === 'string';
  switch (r['t']) {
    case 'snap':
      return int('v') && r['v'] === JOURNAL_VERSION && int('lastId') ? null : `a snapshot header of an unknown version or shape (this drover reads version ${JOURNAL_VERSION})`;
    case 'push':
      return str('q') && int('id') && has('data') && int('pri') && int('max') && typeof r['due'] === 'number' && (!has('att') || int('att')) && errOk('err') ? null : 'a malformed push record';
    case 'ack':
      return str('q') && int('id') ? null : 'a malformed ack record';
    case 'nack':
      return str('q') && int('id') && typeof r['due'] === 'number' && errOk('err') ? null : 'a malformed nack record';
    case 'dead': {
      const d = r['task'] as Record<string, unknown> | null | undefined;
      const ok =
        str('q') &&
        typeof d === 'object' &&
        d !== null &&
        Number.isSafeInteger(d['id']) &&
        Object.hasOwn(d, 'data') &&
        Number.isSafeInteger(d['priority']) &&
        Number.isSafeInteger(d['attempts']) &&
        DEAD_REASONS.includes(d['reason'] as DeadReason) &&
        (d['error'] === null || typeof d['error'] === 'string') &&
        typeof d['deadAtMs'] === 'number';
      return ok ? null : 'a malformed dead record';
    }
    case 'retryDead':
      return str('q') ? null : 'a malformed retryDead record';
    case 'set':
      return str('k') && has('v') ? null : 'a malformed set record';
    case 'del':
      return str('k') ? null : 'a malformed del record';
    case 'tokens':
      return int('upTo') && (r['upTo'] as number) > 0 ? null : 'a malformed tokens record';
    default:
      return `an unknown record type ${JSON.stringify(r['t'])}`;
  }
}
