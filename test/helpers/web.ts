// Talking to a drover's TCP listener from tests of the web page, metrics and health endpoints: a free
// port, authenticated requests, and polling an HTTP answer until it says what the test waits for.
import { createServer } from 'node:net';
import { DEFAULT_TIMEOUT_MS, TIMEOUT_SCALE } from './drover.js';

export const WEB_USER = 'admin';
export const WEB_PASSWORD = 'w3b-secret';

/**
 * A TCP port nobody listens on right now, for a config that must name its port. It is taken at random below
 * the kernel's ephemeral range (net.ipv4.ip_local_port_range, 32768 and up), and checked by binding it:
 * a port released from a bind to port 0 is handed out again by the next bind to port 0 — any program or
 * test running meanwhile — which made a test's drover fail with EADDRINUSE once in CI.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (await bindable(port)) return port;
  }
  throw new Error('no free TCP port between 20000 and 32000 in 50 tries');
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** The [inet_http_server] section for `port`, with the test credentials. */
export function inetSection(port: number): string {
  return `[inet_http_server]\nport = 127.0.0.1:${port}\nusername = ${WEB_USER}\npassword = ${WEB_PASSWORD}\n`;
}

export interface HttpAnswer {
  readonly status: number;
  readonly type: string;
  readonly text: string;
}

/** One request to drover's TCP listener, with the test credentials unless `auth` is false. */
export async function request(
  port: number,
  path: string,
  opts: { method?: string; body?: unknown; auth?: boolean; headers?: Record<string, string> } = {},
): Promise<HttpAnswer> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.auth !== false) headers['authorization'] = `Basic ${Buffer.from(`${WEB_USER}:${WEB_PASSWORD}`).toString('base64')}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: opts.method ?? 'GET',
    headers,
    ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
  });
  return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
}

/** GET a JSON endpoint; returns the parsed body. */
export async function getJson(port: number, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await request(port, path);
  return { status: r.status, body: JSON.parse(r.text) as Record<string, unknown> };
}

/** Polls `probe` (async) until it returns non-null, within a bounded time; fails with the last value seen. */
export async function waitForValue<T>(probe: () => Promise<T | null>, what: string, timeoutMs = DEFAULT_TIMEOUT_MS, last?: () => string): Promise<T> {
  const limit = timeoutMs * TIMEOUT_SCALE;
  const deadline = Date.now() + limit;
  for (;;) {
    const v = await probe();
    if (v !== null) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${limit} ms waiting for ${what}${last ? `; last seen: ${last()}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
