// Event bodies byte for byte as supervisor 4.2 writes them (supervisor/events.py payload()), and the header
// line a listener reads before each (EventListenerPool._eventEnvelope). Pure: no I/O.
import { isUtf8 } from 'node:buffer';
import type { ConcreteEventType } from '../config/event-names.js';

/** An event body: its UTF-8 bytes and its length as supervisor counts it (Unicode code points). */
export interface Payload {
  readonly bytes: Buffer;
  readonly len: number;
}

/** The upper-case state name supervisor writes (from_state:RUNNING). */
export type StateName = 'STOPPED' | 'STARTING' | 'RUNNING' | 'BACKOFF' | 'STOPPING' | 'EXITED' | 'FATAL' | 'UNKNOWN';

/** A body built from text. */
export function textPayload(text: string): Payload {
  const bytes = Buffer.from(text, 'utf8');
  return { bytes, len: codePoints(bytes) };
}

/** PROCESS_STATE_*: `processname:web groupname:web from_state:STARTING pid:42` (extras depend on the type). */
export function processStatePayload(
  process: string,
  group: string,
  from: StateName,
  extras: readonly (readonly [string, number])[],
): Payload {
  const pairs: (readonly [string, string | number])[] = [['processname', process], ['groupname', group], ['from_state', from], ...extras];
  return textPayload(pairs.map(([k, v]) => `${k}:${v}`).join(' '));
}

/** PROCESS_LOG_*: a header line, then the bytes the process wrote. */
export function processLogPayload(process: string, group: string, pid: number, channel: 'stdout' | 'stderr', data: Buffer): Payload {
  return withData(`processname:${process} groupname:${group} pid:${pid} channel:${channel}\n`, data);
}

/** PROCESS_COMMUNICATION_*: a header line, then what the process wrote between the capture tokens. */
export function processCommunicationPayload(process: string, group: string, pid: number, data: Buffer): Payload {
  return withData(`processname:${process} groupname:${group} pid:${pid}\n`, data);
}

/** REMOTE_COMMUNICATION (XML-RPC sendRemoteCommEvent). */
export function remoteCommunicationPayload(type: string, data: string): Payload {
  return textPayload(`type:${type}\n${data}`);
}

/** PROCESS_GROUP_ADDED / _REMOVED. */
export function processGroupPayload(group: string): Payload {
  return textPayload(`groupname:${group}\n`);
}

/** TICK_*: the start of the period that has begun, in whole seconds since the epoch. */
export function tickPayload(when: number): Payload {
  return textPayload(`when:${when}`);
}

/** SUPERVISOR_STATE_CHANGE_*: no body. */
export const EMPTY_PAYLOAD: Payload = { bytes: Buffer.alloc(0), len: 0 };

/** The header line and body a listener is sent. */
export function envelope(e: {
  readonly server: string;
  readonly serial: number;
  readonly pool: string;
  readonly poolSerial: number;
  readonly type: ConcreteEventType;
  readonly payload: Payload;
}): Buffer {
  const header = `ver:3.0 server:${e.server} serial:${e.serial} pool:${e.pool} poolserial:${e.poolSerial} eventname:${e.type} len:${e.payload.len}\n`;
  return Buffer.concat([Buffer.from(header, 'utf8'), e.payload.bytes]);
}

/** Code points in valid UTF-8: every byte that does not continue a sequence starts one. */
export function codePoints(utf8: Buffer): number {
  let n = 0;
  for (let i = 0; i < utf8.length; i++) if (((utf8[i] as number) & 0xc0) !== 0x80) n += 1;
  return n;
}

/** Python's repr() of bytes: b'…', quotes chosen as Python chooses them, \xNN for the rest. */
export function pythonBytesRepr(data: Buffer): string {
  const hasSingle = data.includes(0x27);
  const quote = hasSingle && !data.includes(0x22) ? '"' : "'";
  let out = `b${quote}`;
  for (const b of data) {
    if (b === 0x5c) out += '\\\\';
    else if (b === 0x09) out += '\\t';
    else if (b === 0x0a) out += '\\n';
    else if (b === 0x0d) out += '\\r';
    else if (b === quote.charCodeAt(0)) out += `\\${quote}`;
    else if (b >= 0x20 && b < 0x7f) out += String.fromCharCode(b);
    else out += `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return `${out}${quote}`;
}

// --- internal ---

/** `head` then `data`: as written when it is UTF-8, else supervisor's `Undecodable: b'…'`. */
function withData(head: string, data: Buffer): Payload {
  const h = Buffer.from(head, 'utf8');
  // isUtf8 refuses what Python's strict decoder refuses (overlongs, surrogates, truncated sequences)
  const body = isUtf8(data) ? data : Buffer.from(`Undecodable: ${pythonBytesRepr(data)}`, 'latin1');
  return { bytes: Buffer.concat([h, body]), len: codePoints(h) + codePoints(body) };
}
