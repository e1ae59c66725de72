// The image's HEALTHCHECK: GET /healthz over drover's control socket. The unix socket needs no credentials
// (its file mode guards it; [inet_http_server] always asks for them), and needs neither curl in the image nor
// a TCP port. Exit 0 when drover answers 200 within the time limit, else 1 with the reason on stderr.
//   node healthcheck.mjs [PATH]   PATH to ask: /healthz (default; drover's event loop answers) or /readyz
//                                 (every autostart program runs); also from DROVER_PROBE
//   DROVER_SOCKET                 the control socket (default /run/drover/drover.sock: runtime_dir = /run/drover)
import { request } from 'node:http';

const socketPath = process.env.DROVER_SOCKET || '/run/drover/drover.sock';
const path = process.argv[2] || process.env.DROVER_PROBE || '/healthz';
const TIMEOUT_MS = 2500;

const fail = (why) => {
  process.stderr.write(`drover healthcheck: ${path} over ${socketPath}: ${why}\n`);
  process.exit(1);
};

const req = request({ socketPath, path, method: 'GET', timeout: TIMEOUT_MS }, (res) => {
  let body = '';
  res.setEncoding('utf8');
  res.on('data', (chunk) => {
    if (body.length < 4096) body += chunk;
  });
  res.on('end', () => {
    if (res.statusCode === 200) process.exit(0);
    fail(`HTTP ${res.statusCode} ${body.trim()}`);
  });
});
req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
req.on('error', (err) => fail(err.message));
req.end();
