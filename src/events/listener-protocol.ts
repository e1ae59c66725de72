// The pure reducer of the event listener protocol: (record, what the listener wrote) → (record, effects,
// steps), reading stdout exactly as supervisor's PEventListenerDispatcher.handle_listener_state_change does —
// READY\n, then for each event `RESULT <len>\n` and <len> bytes, "OK" accepting the event and anything else
// rejecting it. It never touches the OS; src/events/listener-kind.ts runs the effects.
import { InvariantError } from '../errors.js';
import { listenerTransition, type ListenerInput, type ListenerState } from './listener-states.js';

export const READY_TOKEN = Buffer.from('READY\n');
/** supervisor takes the result length from the bytes after these seven, without checking them */
const RESULT_TOKEN_LEN = 'RESULT '.length;
/**
 * Most bytes a result (or a result line still without its newline) may take. supervisor has no bound; a
 * result is "OK" or "FAIL", so a listener past this one is treated as having broken the protocol.
 */
export const MAX_RESULT_BYTES = 1024 * 1024;

/** What the protocol knows of one listener process. */
export interface ListenerRecord {
  readonly state: ListenerState;
  /** stdout bytes not understood yet (supervisor's state_buffer); empty at first */
  readonly buffer: Buffer;
  /** the length announced by the RESULT line being read; null before that line */
  readonly resultLen: number | null;
  /** result bytes gathered so far; empty at first */
  readonly result: Buffer;
}

export type ListenerEffect =
  /** it is ready for an event: the pool may send it one */
  | { readonly type: 'ready' }
  /** the event it had is done */
  | { readonly type: 'processed' }
  /** the event it had goes back to the head of the queue (`result` is what it answered instead of OK) */
  | { readonly type: 'rejected'; readonly result: Buffer }
  /** it wrote a RESULT line that says no length: logged, and its event goes back to the queue */
  | { readonly type: 'badResultLine'; readonly line: Buffer }
  /** it broke the protocol: no event is sent to it until its next process */
  | { readonly type: 'enteredUnknown' };

export interface ListenerStep {
  readonly from: ListenerState;
  readonly to: ListenerState;
  readonly on: ListenerInput;
}

export interface ListenerReduction {
  readonly record: ListenerRecord;
  readonly effects: readonly ListenerEffect[];
  /** the changes of state, in order */
  readonly steps: readonly ListenerStep[];
  /** every table row taken, same-state rows included */
  readonly taken: readonly ListenerStep[];
}

const EMPTY = Buffer.alloc(0);

/** A listener before its first process: as after a spawn, it owes READY. */
export function initialListener(): ListenerRecord {
  return { state: 'acknowledged', buffer: EMPTY, resultLen: null, result: EMPTY };
}

/** A new process of the listener was spawned: whatever the last one left is forgotten. */
export function listenerSpawned(rec: ListenerRecord): ListenerReduction {
  const r = new Reducer(rec);
  r.move('spawned', { buffer: EMPTY, resultLen: null, result: EMPTY });
  return r.done();
}

/** Records that an event was written to a ready listener. */
export function eventSent(rec: ListenerRecord): ListenerReduction {
  const r = new Reducer(rec);
  r.move('eventSent');
  return r.done();
}

/** Records that writing the event failed: the listener is ready again, as supervisor leaves it on EPIPE. */
export function eventNotSent(rec: ListenerRecord): ListenerReduction {
  const r = new Reducer(rec);
  r.move('sendFailed');
  return r.done();
}

/** Reads what a listener wrote on stdout. */
export function outputReceived(rec: ListenerRecord, chunk: Buffer): ListenerReduction {
  const r = new Reducer({ ...rec, buffer: rec.buffer.length === 0 ? chunk : Buffer.concat([rec.buffer, chunk]) });
  r.read();
  return r.done();
}

// --- internal ---

/** Python's int() on bytes: ASCII whitespace around an optional sign and digits (single underscores between). */
const PY_INT = /^[ \t\n\r\v\f]*[+-]?\d+(?:_\d+)*[ \t\n\r\v\f]*$/;

class Reducer {
  private readonly effects: ListenerEffect[] = [];
  private readonly steps: ListenerStep[] = [];
  private readonly taken: ListenerStep[] = [];

  constructor(private rec: ListenerRecord) {}

  done(): ListenerReduction {
    return { record: this.rec, effects: this.effects, steps: this.steps, taken: this.taken };
  }

  move(on: ListenerInput, patch: Partial<ListenerRecord> = {}): void {
    const t = listenerTransition(this.rec.state, on);
    if (!t) throw new InvariantError(`event listener: ${on} is not allowed in state ${this.rec.state}`);
    this.taken.push({ from: this.rec.state, to: t.to, on });
    if (t.to !== this.rec.state) this.steps.push({ from: this.rec.state, to: t.to, on });
    this.rec = { ...this.rec, ...patch, state: t.to };
  }

  /** supervisor's handle_listener_state_change, its recursion turned into a loop. */
  read(): void {
    while (this.rec.buffer.length > 0) {
      const buf = this.rec.buffer;
      switch (this.rec.state) {
        case 'unknown':
          this.move('outputIgnored', { buffer: EMPTY });
          return;
        case 'acknowledged':
          if (buf.length < READY_TOKEN.length) return; // not enough to decide
          if (buf.subarray(0, READY_TOKEN.length).equals(READY_TOKEN)) {
            this.move('readyToken', { buffer: buf.subarray(READY_TOKEN.length) });
            this.effects.push({ type: 'ready' });
          } else {
            this.move('garbage', { buffer: EMPTY });
            this.effects.push({ type: 'enteredUnknown' });
          }
          break;
        case 'ready':
          // nothing is expected before an event: be strict, as supervisor is
          this.move('spuriousOutput', { buffer: EMPTY });
          this.effects.push({ type: 'enteredUnknown' });
          return;
        case 'busy':
          if (!this.readResult(buf)) return;
          break;
        default:
          assertNever(this.rec.state);
      }
    }
  }

  /** One step of reading a result; false when more output is needed (or the listener broke the protocol). */
  private readResult(buf: Buffer): boolean {
    if (this.rec.resultLen === null) {
      const nl = buf.indexOf(0x0a);
      if (nl < 0) {
        if (buf.length > MAX_RESULT_BYTES) this.badResultLine(buf.subarray(0, 64));
        return false;
      }
      const line = buf.subarray(0, nl);
      const lenText = line.subarray(RESULT_TOKEN_LEN).toString('latin1');
      const len = PY_INT.test(lenText) ? Number(lenText.trim().replace(/_/g, '')) : NaN;
      // supervisor loops for ever on a negative length; drover bounds the length too (MAX_RESULT_BYTES)
      if (!Number.isSafeInteger(len) || len < 0 || len > MAX_RESULT_BYTES) {
        this.badResultLine(line);
        return false;
      }
      this.rec = { ...this.rec, buffer: buf.subarray(nl + 1), resultLen: len };
      return true; // supervisor reads the result itself on its next pass, if bytes are left
    }
    const resultLen = this.rec.resultLen;
    const needed = resultLen - this.rec.result.length;
    const take = buf.subarray(0, needed);
    const result = this.rec.result.length === 0 ? take : Buffer.concat([this.rec.result, take]);
    this.rec = { ...this.rec, buffer: buf.subarray(take.length), result };
    if (result.length < resultLen) return false;
    // supervisor's default_handler: exactly "OK" accepts, anything else rejects
    const ok = result.equals(OK);
    this.move(ok ? 'resultAccepted' : 'resultRejected', { resultLen: null, result: EMPTY });
    this.effects.push(ok ? { type: 'processed' } : { type: 'rejected', result });
    return true;
  }

  private badResultLine(line: Buffer): void {
    this.move('badResultLine', { buffer: EMPTY, resultLen: null, result: EMPTY });
    this.effects.push({ type: 'badResultLine', line: Buffer.from(line) }, { type: 'enteredUnknown' });
  }
}

const OK = Buffer.from('OK');

function assertNever(x: never): never {
  throw new InvariantError(`unhandled listener state ${JSON.stringify(x)}`);
}
