// One of two workers SIGKILLed under 64 client loops, each opening a new connection per request, on a
// balanced socket whose app takes 1.5 s to load: every latency is kept (wrk's percentiles do not show
// what waits), and the requests over 500 ms are counted. Steered (as root) or hashed.
// usage: node kill-steering.mjs steered|hashed   (prints one line)
import { spawn } from 'node:child_process';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
const ROOT = new URL('..', import.meta.url).pathname;
import { request } from 'node:http';
const mode = process.argv[2]; // steered | hashed
const dir = mkdtempSync(join(tmpdir(), 'drover-kill-steering-'));
const port = 18700 + (mode === 'hashed' ? 1 : 0);
writeFileSync(`${dir}/c.conf`, `[unix_http_server]\nfile=${dir}/s.sock\n[supervisord]\nlogfile=${dir}/d.log\npidfile=${dir}/d.pid\n[socket:web]\nbind = 127.0.0.1:${port}\nreuse_port = true\n[program:web]\nworker = ${ROOT}test/fixtures/programs/worker-slow-load.mjs\nsockets = web\nnumprocs = 2\nenvironment = LOAD_MS="1500"\n`);
const env = { ...process.env, ...(mode === 'hashed' ? { DROVER_REUSEPORT_STEERING: 'hash' } : {}) };
const d = spawn(process.execPath, [join(ROOT, 'bin', 'drover.js'), 'up', '-c', `${dir}/c.conf`], { env, stdio: ['ignore', 'pipe', 'pipe'] });
let out = '';
d.stdout.on('data', (x) => (out += x)); d.stderr.on('data', (x) => (out += x));
const deadline = Date.now() + 20000;
while ((out.match(/starting → running/g) ?? []).length < 2) {
  if (Date.now() > deadline) throw new Error(`workers never ran:\n${out}`);
  await new Promise((r) => setTimeout(r, 50));
}
const lat = []; let failed = 0; let running = true;
const one = () => new Promise((res) => { const t0 = performance.now(); const q = request({ host: '127.0.0.1', port, path: '/', agent: false }, (r) => { r.resume(); r.on('end', () => { lat.push(performance.now() - t0); res(); }); }); q.on('error', () => { failed++; res(); }); q.end(); });
const loops = Array.from({ length: 64 }, async () => { while (running) await one(); });
await new Promise((r) => setTimeout(r, 1500));
const pid = Number(/spawned: web_0 with pid (\d+)/.exec(out)[1]);
process.kill(pid, 'SIGKILL');
await new Promise((r) => setTimeout(r, 3500));
running = false; await Promise.all(loops);
lat.sort((a, b) => a - b);
const slow = lat.filter((x) => x > 500).length;
console.log(mode, { requests: lat.length, failed, over500ms: slow, p99: lat[Math.floor(lat.length * 0.99)].toFixed(1), max: lat.at(-1).toFixed(0) });
d.kill('SIGTERM'); await new Promise((r) => d.on('exit', r));
rmSync(dir, { recursive: true, force: true });
