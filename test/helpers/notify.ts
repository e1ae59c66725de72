// systemd's end of the notify protocol for tests: a Python receiver on a unix datagram socket (Node cannot
// receive unix datagrams), reporting each datagram's bytes, its sender's pid and the CLOCK_MONOTONIC time
// of reception. Use it as NOTIFY_SOCKET for a drover under test.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { DEFAULT_TIMEOUT_MS, TIMEOUT_SCALE } from './drover.js';
import { fixturesDir } from './paths.js';

/** Debian's interpreter (not a pyenv shim): the receiver needs only the standard library. */
const PYTHON = '/usr/bin/python3';

export interface NotifyMessage {
  /** the datagram exactly as received */
  readonly bytes: Buffer;
  /** the datagram as text */
  readonly text: string;
  /** KEY=VALUE assignments, in order */
  readonly fields: readonly [string, string][];
  /** the sender's pid (SCM_CREDENTIALS), as systemd sees it */
  readonly pid: number | null;
  /** CLOCK_MONOTONIC at reception, nanoseconds */
  readonly monoNs: bigint;
  /** CLOCK_REALTIME at reception, milliseconds since the epoch (with a fraction): comparable with Date.now() */
  readonly realMs: number;
  /** the value of field `key` (the last one), or undefined */
  field(key: string): string | undefined;
}

export class NotifyReceiver {
  readonly messages: NotifyMessage[] = [];
  /** true once the receiver has bound its socket */
  private ready = false;
  private readonly child: ChildProcess;
  private stderr = '';
  private buffered = '';
  private readonly waiters = new Set<() => void>();

  private constructor(readonly address: string) {
    this.child = spawn(PYTHON, [join(fixturesDir, 'programs', 'notify-receiver.py'), address], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      this.stderr += d;
    });
    this.child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      this.buffered += d;
      let nl: number;
      while ((nl = this.buffered.indexOf('\n')) >= 0) {
        this.line(this.buffered.slice(0, nl));
        this.buffered = this.buffered.slice(nl + 1);
      }
    });
    this.child.on('exit', () => this.wake());
  }

  /** Starts a receiver at `address` (a path, or "@name"; default: a fresh abstract name) and waits until it is bound. */
  static async start(address = `@drover-test-notify-${randomUUID()}`): Promise<NotifyReceiver> {
    const r = new NotifyReceiver(address);
    await r.waitUntil(() => (r.ready ? true : null), 'the notify receiver to bind');
    return r;
  }

  /** Resolves with the first message (from index `from` on) that `match` accepts. */
  waitForMessage(match: (m: NotifyMessage) => boolean, what: string, opts: { from?: number; timeoutMs?: number } = {}): Promise<NotifyMessage> {
    return this.waitUntil(() => this.messages.slice(opts.from ?? 0).find(match) ?? null, what, opts.timeoutMs);
  }

  /** Resolves once `n` messages (from index `from` on) match. */
  waitForCount(match: (m: NotifyMessage) => boolean, n: number, what: string, opts: { from?: number; timeoutMs?: number } = {}): Promise<NotifyMessage[]> {
    return this.waitUntil(
      () => {
        const found = this.messages.slice(opts.from ?? 0).filter(match);
        return found.length >= n ? found : null;
      },
      `${n} × ${what}`,
      opts.timeoutMs,
    );
  }

  /** What was received so far, for failure messages. */
  describe(): string {
    return `--- notify receiver at ${this.address}: ${this.messages.length} message(s)\n${this.messages.map((m) => `${JSON.stringify(m.text)} from pid ${m.pid}`).join('\n')}\n${this.stderr ? `stderr: ${this.stderr}\n` : ''}--- end`;
  }

  /** Stops the receiver (it removes its socket file). */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin?.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000 * TIMEOUT_SCALE);
    await exited;
    clearTimeout(timer);
  }

  // --- internal ---

  private line(text: string): void {
    if (text === 'ready') this.ready = true;
    else {
      const raw = JSON.parse(text) as { b64: string; pid: number | null; mono_ns: string; real_ns: string };
      const bytes = Buffer.from(raw.b64, 'base64');
      const body = bytes.toString('utf8');
      const fields = body
        .split('\n')
        .filter((l) => l !== '')
        .map((l): [string, string] => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]);
      this.messages.push({
        bytes,
        text: body,
        fields,
        pid: raw.pid,
        monoNs: BigInt(raw.mono_ns),
        realMs: Number(BigInt(raw.real_ns) / 1000n) / 1000,
        field: (key) => fields.filter(([k]) => k === key).at(-1)?.[1],
      });
    }
    this.wake();
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  private waitUntil<T>(probe: () => T | null, what: string, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<T> {
    const limit = timeoutMs * TIMEOUT_SCALE;
    return new Promise<T>((resolve, reject) => {
      const check = (): void => {
        const v = probe();
        if (v !== null) {
          done();
          resolve(v);
        } else if (this.child.exitCode !== null || this.child.signalCode !== null) {
          done();
          reject(new Error(`the notify receiver exited while waiting for ${what}\n${this.describe()}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${limit} ms waiting for ${what}\n${this.describe()}`));
      }, limit);
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }
}
