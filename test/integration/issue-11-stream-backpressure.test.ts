// Issue 11, finding 8 of the security review: event-stream clients that stop reading made drover buffer
// everything written for them (three paused /api/logs/stream clients and 64 MiB of output: +218 MiB RSS).
// Now no stream holds more than 1 MiB for one client: log streams skip what does not fit and tell the client
// with a `lost` event once it reads again; the state-event stream closes a client that far behind.
import assert from 'node:assert/strict';
import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Daemon, show } from '../helpers/daemon.js';
import { fixture, waitForCondition } from '../helpers/drover.js';

const MiB = 1024 * 1024;
const node = process.execPath;

interface SseEvent {
  readonly event: string;
  readonly data: string;
}

/** An event-stream client whose reading can be paused; it keeps everything it has read. */
class StreamClient {
  text = '';
  closed = false;
  private constructor(
    readonly req: ClientRequest,
    readonly res: IncomingMessage,
  ) {}

  /** Connects and waits until `ready` appears in what the stream sent. */
  static open(socketPath: string, path: string, ready: string): Promise<StreamClient> {
    return new Promise((resolve, reject) => {
      const req = request({ socketPath, path, headers: { accept: 'text/event-stream' }, agent: false }, (res) => {
        const c = new StreamClient(req, res);
        res.setEncoding('utf8');
        res.on('data', (s: string) => {
          const before = c.text.length;
          c.text += s;
          if (before < ready.length && c.text.includes(ready)) resolve(c);
        });
        req.socket?.on('close', () => (c.closed = true));
      });
      req.on('error', (err) => reject(err));
      req.end();
    });
  }

  /** Stops reading: Node's HTTP client then stops reading the socket, and the kernel's buffers fill. */
  pause(): void {
    this.res.pause();
  }

  resume(): void {
    this.res.resume();
  }

  events(): SseEvent[] {
    const out: SseEvent[] = [];
    for (const block of this.text.split('\n\n')) {
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('data: ')) data.push(line.slice(6));
      }
      if (data.length > 0) out.push({ event, data: data.join('\n') });
    }
    return out;
  }

  close(): void {
    this.req.destroy();
  }
}

/** drover's resident memory in KiB, from /proc. */
function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]);
}

test('three log-stream clients stop reading while a program writes 64 MiB: drover stays small, and each is told what it lost', async (t) => {
  const BURST = 64 * MiB;
  const d = new Daemon(`[program:chatty]
command = ${node} ${fixture('burst-on-usr1.mjs')} 64
startsecs = 0
stdout_logfile = %(here)s/chatty.log
stdout_logfile_maxbytes = 0
`);
  t.after(async () => assert.deepEqual(await d.teardown(), [], 'nothing survives teardown'));
  await d.up();
  const log = join(d.dir, 'chatty.log');
  const socket = join(d.dir, '.drover', 'drover.sock');
  await waitForCondition(() => existsSync(log) && readFileSync(log, 'utf8').startsWith('ready'), 'chatty to be ready', { describe: () => d.daemonStderr() });
  const clients = await Promise.all([1, 2, 3].map(() => StreamClient.open(socket, '/api/logs/stream?patterns=chatty', ': following')));
  t.after(() => clients.forEach((c) => c.close()));
  for (const c of clients) c.pause();
  const sizeBefore = statSync(log).size;
  const rssBefore = rssKiB(d.pid);

  const sig = await d.cli(['signal', 'USR1', 'chatty']);
  assert.equal(sig.code, 0, show(['signal', 'USR1', 'chatty'], sig));
  const state = (): string => `log ${statSync(log).size - sizeBefore} of ${BURST} bytes; drover RSS ${rssKiB(d.pid)} KiB (${rssBefore} before)\n${d.daemonStderr()}`;
  // a log file's followers get each chunk before it is written, so once the file holds the whole burst,
  // every chunk has been either queued for the clients or skipped
  await waitForCondition(() => statSync(log).size >= sizeBefore + BURST, 'the whole burst in the log', { timeoutMs: 60_000, describe: state });
  const grownMiB = (rssKiB(d.pid) - rssBefore) / 1024;
  // before the fix: about +200 MiB (each paused client held the whole burst); now about +10 to +40
  t.diagnostic(`RSS grew by ${grownMiB.toFixed(1)} MiB`);
  assert.ok(grownMiB < 100, `drover's RSS grew by ${grownMiB.toFixed(1)} MiB for 3 paused clients × 64 MiB; expected under 100\n${state()}`);

  for (const [i, c] of clients.entries()) {
    c.resume();
    await waitForCondition(() => c.events().some((e) => e.event === 'lost'), `client ${i + 1} to get a lost event`, {
      timeoutMs: 20_000,
      describe: () => `events: ${c.events().length}, last: ${JSON.stringify(c.events().at(-1)).slice(0, 300)}`,
    });
    let delivered = 0;
    let lost = 0;
    for (const e of c.events()) {
      // where each log stood when the stream began (the USR2 follow reads from there): no line of output
      if (e.event === 'start') continue;
      const data = JSON.parse(e.data) as { name: string; stream: string; data?: string; bytes?: number };
      assert.equal(data.name, 'chatty:chatty');
      assert.equal(data.stream, 'stdout');
      if (e.event === 'log') delivered += (data.data ?? '').length;
      else if (e.event === 'lost') lost += data.bytes ?? 0;
      else assert.fail(`unexpected event ${e.event}`);
    }
    assert.ok(lost > 0 && delivered > 0, `client ${i + 1}: delivered ${delivered}, lost ${lost}`);
    assert.equal(delivered + lost, BURST, `client ${i + 1}: every byte of the burst is delivered or counted as lost`);
  }
});

test('a state-event client that stops reading is disconnected once it is more than 1 MiB behind', async (t) => {
  // 30 processes with 1000-character names: each restart of all of them sends about 280 KB of state events
  const d = new Daemon(`[program:p]
command = /bin/sleep 1000000
process_name = %(program_name)s_%(process_num)02d_${'n'.repeat(1000)}
numprocs = 30
startsecs = 0
stdout_logfile = NONE
stderr_logfile = NONE
`);
  t.after(async () => assert.deepEqual(await d.teardown(), [], 'nothing survives teardown'));
  await d.up();
  const socket = join(d.dir, '.drover', 'drover.sock');
  const reader = await StreamClient.open(socket, '/api/events', 'event: snapshot');
  const paused = await StreamClient.open(socket, '/api/events', 'event: snapshot');
  t.after(() => [reader, paused].forEach((c) => c.close()));
  paused.pause();
  // well past 1 MiB and what the kernel's socket buffers take (a few hundred KiB)
  for (let round = 0; reader.text.length < 3 * MiB; round++) {
    assert.ok(round < 40, `only ${reader.text.length} bytes of events after 40 restarts`);
    const r = await d.cli(['restart', 'all']);
    assert.equal(r.code, 0, show(['restart', 'all'], r));
  }
  paused.resume();
  await waitForCondition(() => paused.closed, 'drover to have closed the stream of the client that stopped reading', {
    timeoutMs: 10_000,
    describe: () => `the paused client read ${paused.text.length} bytes, the reading one ${reader.text.length}\n${d.daemonStderr()}`,
  });
  assert.ok(paused.text.length < reader.text.length, `closed after ${paused.text.length} of ${reader.text.length} bytes`);
  assert.equal(reader.closed, false, 'the client that keeps reading keeps its stream');
});
