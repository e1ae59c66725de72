// The JavaScript stack of a stuck worker. A worker whose event loop never returns cannot run any JS, so it
// cannot report on itself; but SIGUSR1 makes Node open its inspector from a separate thread, and the
// inspector's Debugger.pause interrupts even a `while (true) {}`. The master connects to it as a minimal
// WebSocket client (Node 20 has no WebSocket without a flag), asks for a pause, and reads the call frames.
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import type { Socket } from 'node:net';

/** Matches the line Node prints when its inspector starts; the URL is what the master connects to. */
export const INSPECTOR_LINE = /Debugger listening on (ws:\/\/[^\s]+)/;

interface CallFrame {
  functionName: string;
  url: string;
  location: { lineNumber: number; columnNumber: number };
}

/** Pauses the inspected process and returns its JS stack, one frame per line; null on any failure. */
export function pauseAndReadStack(wsUrl: string, timeoutMs: number): Promise<string | null> {
  return new Promise((resolve) => {
    const url = new URL(wsUrl);
    let done = false;
    let sock: Socket | null = null;
    const finish = (v: string | null): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock?.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => finish(null), timeoutMs);
    const req = request({
      host: url.hostname,
      port: Number(url.port),
      path: url.pathname,
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': randomBytes(16).toString('base64'),
      },
    });
    req.on('error', () => finish(null));
    req.on('response', () => finish(null)); // no upgrade: not an inspector
    req.on('upgrade', (_res, socket, head) => {
      sock = socket;
      let buf = Buffer.from(head);
      socket.on('data', (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        for (let frame = readFrame(buf); frame; frame = readFrame(buf)) {
          buf = buf.subarray(frame.size);
          if (frame.opcode !== 1) continue;
          let msg: { method?: string; params?: { callFrames?: CallFrame[] } };
          try {
            msg = JSON.parse(frame.payload.toString('utf8')) as typeof msg;
          } catch {
            continue; // not JSON: not for us
          }
          if (msg.method === 'Debugger.paused') {
            const frames = msg.params?.callFrames ?? [];
            finish(frames.map((f) => `at ${f.functionName || '(anonymous)'} (${f.url || '?'}:${f.location.lineNumber + 1}:${f.location.columnNumber + 1})`).join('\n'));
          }
        }
      });
      socket.on('error', () => finish(null));
      socket.on('close', () => finish(null));
      socket.write(textFrame(JSON.stringify({ id: 1, method: 'Debugger.enable' })));
      socket.write(textFrame(JSON.stringify({ id: 2, method: 'Debugger.pause' })));
    });
    req.end();
  });
}

// --- internal ---

/** A masked text frame (clients must mask, RFC 6455 §5.3). */
function textFrame(text: string): Buffer {
  const payload = Buffer.from(text, 'utf8');
  const mask = randomBytes(4);
  const len = payload.length;
  const header = len < 126 ? Buffer.from([0x81, 0x80 | len]) : len < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
  if (len >= 126 && len < 65536) {
    header[0] = 0x81;
    header[1] = 0x80 | 126;
    header.writeUInt16BE(len, 2);
  } else if (len >= 65536) {
    header[0] = 0x81;
    header[1] = 0x80 | 127;
    header.writeBigUInt64BE(BigInt(len), 2);
  }
  const masked = Buffer.alloc(len);
  for (let i = 0; i < len; i++) masked[i] = (payload[i] as number) ^ (mask[i % 4] as number);
  return Buffer.concat([header, mask, masked]);
}

/** One complete unmasked server frame at the start of `buf`, or null when more bytes are needed. */
function readFrame(buf: Buffer): { opcode: number; payload: Buffer; size: number } | null {
  if (buf.length < 2) return null;
  const opcode = (buf[0] as number) & 0x0f;
  let len = (buf[1] as number) & 0x7f;
  let offset = 2;
  if (len === 126) {
    if (buf.length < 4) return null;
    len = buf.readUInt16BE(2);
    offset = 4;
  } else if (len === 127) {
    if (buf.length < 10) return null;
    len = Number(buf.readBigUInt64BE(2));
    offset = 10;
  }
  if (buf.length < offset + len) return null;
  return { opcode, payload: buf.subarray(offset, offset + len), size: offset + len };
}
