// Talking to drover's /RPC2 from tests: raw HTTP requests over the control socket, and a small XML-RPC
// client built on drover's own codec (supervisorctl itself is exercised in supervisorctl.test.ts).
import { request } from 'node:http';
import { decodeMethodResponse, encodeMethodCall, type MethodResponse, type XmlRpcValue } from '../../src/control/xmlrpc/codec.js';

export interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** One HTTP request on a unix socket; rejects only on a transport error or after `timeoutMs`. */
export function rawRequest(
  socketPath: string,
  opts: { method?: string; path?: string; body?: string | Buffer; headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const body = opts.body ?? '';
    const req = request(
      {
        socketPath,
        method: opts.method ?? 'POST',
        path: opts.path ?? '/RPC2',
        headers: { 'content-type': 'text/xml', 'content-length': String(Buffer.byteLength(body)), ...opts.headers },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.setTimeout(opts.timeoutMs ?? 10_000, () => req.destroy(new Error(`no answer within ${opts.timeoutMs ?? 10_000} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Calls one XML-RPC method and decodes the answer (a result or a fault). */
export async function rpc(socketPath: string, method: string, params: readonly XmlRpcValue[] = []): Promise<MethodResponse> {
  const res = await rawRequest(socketPath, { body: encodeMethodCall(method, params) });
  if (res.status !== 200) throw new Error(`${method}: HTTP ${res.status}: ${res.body}`);
  return decodeMethodResponse(res.body);
}

/** Calls a method that must succeed and returns its value. */
export async function rpcValue(socketPath: string, method: string, params: readonly XmlRpcValue[] = []): Promise<XmlRpcValue> {
  const r = await rpc(socketPath, method, params);
  if (r.type === 'fault') throw new Error(`${method} faulted: ${r.faultCode} ${r.faultString}`);
  return r.value;
}
