// Issue 11, finding 7: DNS rebinding. A page loaded from an attacker's name that is then re-pointed at
// 127.0.0.1 (or at a socket forwarded to TCP) is same-origin to the browser; only the Host header still
// carries the attacker's name. drover now answers 421 to such a Host, on the unix socket and on TCP.
import assert from 'node:assert/strict';
import { request as httpRequest, type OutgoingHttpHeaders } from 'node:http';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Daemon, show } from '../helpers/daemon.js';
import { fixture } from '../helpers/drover.js';
import { freePort } from '../helpers/web.js';

const node = process.execPath;
const CREDS = `Basic ${Buffer.from('admin:s3cret').toString('base64')}`;

interface Answer {
  readonly status: number;
  readonly text: string;
}

/** One request with exactly the given headers (Host included or, with `host: null`, left out). */
function send(
  target: { socketPath: string } | { host: string; port: number },
  method: string,
  path: string,
  host: string | null,
  extra: OutgoingHttpHeaders = {},
  body: string | null = null,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: OutgoingHttpHeaders = { ...extra };
    if (host !== null) headers['host'] = host;
    if (body !== null) headers['content-type'] = 'application/json';
    const req = httpRequest({ ...target, method, path, headers, setHost: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body ?? undefined);
  });
}

function config(port: number): string {
  return `[unix_http_server]
file = %(here)s/.drover/drover.sock
allowed_hosts = drover.example.com

[inet_http_server]
port = 127.0.0.1:${port}
username = admin
password = s3cret
allowed_hosts = metrics.example.net, other.example.net

[program:shell]
command = ${node} ${fixture('forever.mjs')}
startsecs = 0
`;
}

test('the unix socket answers 421 to a Host that DNS rebinding could have sent, and serves loopback, IPs, dotless names and allowed_hosts', async () => {
  const d = new Daemon(config(await freePort()));
  try {
    await d.up();
    const sock = { socketPath: join(d.dir, '.drover', 'drover.sock') };
    for (const host of ['evil.example', 'evil.example:9001', 'rebind.test:1234', 'drover.example.com.evil.net', 'localhost.evil.net', 'bad host']) {
      const a = await send(sock, 'GET', '/api/info', host);
      assert.equal(a.status, 421, `Host ${JSON.stringify(host)} → ${a.status} ${a.text}`);
      assert.match(a.text, /"code":"E_BAD_HOST"/);
    }
    // what curl --unix-socket, supervisorctl (an empty Host from its tail -f client), drover's CLI and an
    // ssh -L forward to localhost send
    for (const host of ['', 'localhost', 'localhost:9001', 'x', '127.0.0.1:9001', '127.5.6.7', '[::1]:9001', '10.1.2.3:80', 'app.localhost:9001', 'drover.example.com', 'DROVER.Example.com.:80', hostname()]) {
      const a = await send(sock, 'GET', '/api/info', host);
      assert.equal(a.status, 200, `Host ${JSON.stringify(host)} → ${a.status} ${a.text}`);
    }
    // the review's replay: a rebound page's same-origin POST
    const stop = await send(sock, 'POST', '/api/stop', 'evil.example:9001', { origin: 'http://evil.example:9001', 'sec-fetch-site': 'same-origin' }, '{"patterns":["all"]}');
    assert.equal(stop.status, 421, stop.text);
    const rpc = await send(sock, 'POST', '/RPC2', 'evil.example:9001', { 'content-type': 'text/xml' }, '<?xml version="1.0"?><methodCall><methodName>supervisor.stopAllProcesses</methodName><params/></methodCall>');
    assert.equal(rpc.status, 421, rpc.text);
    const procs = await d.processes();
    assert.equal(procs.get('shell:shell')?.state, 'running', 'nothing was stopped');
    for (const p of procs.values()) if (p.pid) d.seen.add(p.pid);
    const r = await d.cli(['status']);
    assert.equal(r.code, 0, `drover's own CLI still works over the socket\n${show(['status'], r)}`);
  } finally {
    assert.deepEqual(await d.teardown(), []);
  }
});

test('the TCP port answers 421 to a foreign Host even with the right credentials, and serves its own names', async () => {
  const port = await freePort();
  const d = new Daemon(config(port));
  try {
    await d.up();
    const tcp = { host: '127.0.0.1', port };
    for (const host of [`evil.example:${port}`, `x:${port}`, `drover.example.com:${port}`]) {
      const a = await send(tcp, 'GET', '/api/info', host, { authorization: CREDS });
      assert.equal(a.status, 421, `Host ${host} → ${a.status} ${a.text}`);
      const page = await send(tcp, 'GET', '/', host, { authorization: CREDS });
      assert.equal(page.status, 421, `the web page under Host ${host} → ${page.status}`);
    }
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, `192.0.2.7:${port}`, `metrics.example.net:${port}`, `OTHER.example.net`, `${hostname()}:${port}`]) {
      const a = await send(tcp, 'GET', '/api/info', host, { authorization: CREDS });
      assert.equal(a.status, 200, `Host ${host} → ${a.status} ${a.text}`);
    }
    const r = await d.cli(['status', '-s', `http://127.0.0.1:${port}`, '-u', 'admin', '-p', 's3cret'], { noConfig: true });
    assert.equal(r.code, 0, `the CLI over TCP still works\n${show(['status', '-s', '…'], r)}`);
  } finally {
    assert.deepEqual(await d.teardown(), []);
  }
});

test('allowed_hosts = * turns the check off', async () => {
  const port = await freePort();
  const d = new Daemon(config(port).replace('allowed_hosts = drover.example.com', 'allowed_hosts = *'));
  try {
    await d.up();
    const a = await send({ socketPath: join(d.dir, '.drover', 'drover.sock') }, 'GET', '/api/info', 'anything.example.org');
    assert.equal(a.status, 200, a.text);
  } finally {
    assert.deepEqual(await d.teardown(), []);
  }
});
