// A minimal FastCGI client (the FastCGI 1.0 specification: one RESPONDER request per connection), so
// tests can talk to a FastCGI server the way a web server does, with no client package or binary.
import { connect, type Socket } from 'node:net';
import { DEFAULT_TIMEOUT_MS, TIMEOUT_SCALE } from './drover.js';

const VERSION = 1;
const BEGIN_REQUEST = 1;
const END_REQUEST = 3;
const PARAMS = 4;
const STDIN = 5;
const STDOUT = 6;
const STDERR = 7;
const RESPONDER = 1;
const REQUEST_ID = 1;

export type FastCgiTarget = { readonly host: string; readonly port: number } | { readonly path: string };

export interface FastCgiResponse {
  /** the STDOUT stream: CGI headers, a blank line, the body */
  readonly stdout: string;
  readonly stderr: string;
  /** the application's exit status from END_REQUEST */
  readonly appStatus: number;
}

/** Sends one request with `params` (CGI variables) and no body; resolves with what the server answered. */
export function fastcgiRequest(target: FastCgiTarget, params: Readonly<Record<string, string>>, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<FastCgiResponse> {
  return new Promise((resolve, reject) => {
    const sock: Socket = 'path' in target ? connect(target.path) : connect(target.port, target.host);
    const limit = timeoutMs * TIMEOUT_SCALE;
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`FastCGI request to ${describe(target)}: no complete answer within ${limit} ms`));
    }, limit);
    const fail = (err: Error): void => {
      clearTimeout(timer);
      sock.destroy();
      reject(err);
    };
    sock.on('error', fail);
    let buf = Buffer.alloc(0);
    let stdout = '';
    let stderr = '';
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 8) {
        const type = buf[1] as number;
        const length = buf.readUInt16BE(4);
        const padding = buf[6] as number;
        if (buf.length < 8 + length + padding) break;
        const content = buf.subarray(8, 8 + length);
        buf = buf.subarray(8 + length + padding);
        if (type === STDOUT) stdout += content.toString('utf8');
        else if (type === STDERR) stderr += content.toString('utf8');
        else if (type === END_REQUEST) {
          clearTimeout(timer);
          sock.end();
          resolve({ stdout, stderr, appStatus: content.readUInt32BE(0) });
          return;
        }
      }
    });
    sock.on('end', () => fail(new Error(`FastCGI request to ${describe(target)}: the server closed the connection before END_REQUEST\n${stdout}${stderr}`)));
    sock.on('connect', () => {
      const begin = Buffer.alloc(8);
      begin.writeUInt16BE(RESPONDER, 0); // flags 0: the server closes the connection when done
      sock.write(Buffer.concat([record(BEGIN_REQUEST, begin), record(PARAMS, encodeParams(params)), record(PARAMS, Buffer.alloc(0)), record(STDIN, Buffer.alloc(0))]));
    });
  });
}

function describe(target: FastCgiTarget): string {
  return 'path' in target ? target.path : `${target.host}:${target.port}`;
}

function record(type: number, content: Buffer): Buffer {
  if (content.length > 0xffff) throw new Error('FastCGI record content over 64 KiB');
  const padding = (8 - (content.length % 8)) % 8;
  const header = Buffer.alloc(8);
  header[0] = VERSION;
  header[1] = type;
  header.writeUInt16BE(REQUEST_ID, 2);
  header.writeUInt16BE(content.length, 4);
  header[6] = padding;
  return Buffer.concat([header, content, Buffer.alloc(padding)]);
}

/** Name-value pairs: each length in 1 byte below 128, else in 4 bytes with the top bit set. */
function encodeParams(params: Readonly<Record<string, string>>): Buffer {
  const parts: Buffer[] = [];
  const length = (n: number): Buffer => {
    if (n < 128) return Buffer.from([n]);
    const b = Buffer.alloc(4);
    b.writeUInt32BE((n | 0x80000000) >>> 0);
    return b;
  };
  for (const [k, v] of Object.entries(params)) {
    const name = Buffer.from(k);
    const value = Buffer.from(v);
    parts.push(length(name.length), length(value.length), name, value);
  }
  return Buffer.concat(parts);
}
