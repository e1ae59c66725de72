// The real supervisord (Debian's supervisor 4.2) in the foreground, for tests that compare drover with it:
// its own process group, the test mark in its environment (so livePids finds its children), its output
// captured, and a teardown that leaves nothing running.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { livePids, TIMEOUT_SCALE } from './drover.js';

export const SUPERVISORD = '/usr/bin/supervisord';

export class Supervisord {
  readonly child: ChildProcess;
  readonly mark = randomUUID();
  private text = '';

  constructor(configFile: string, env: Record<string, string | undefined> = {}) {
    this.child = spawn(SUPERVISORD, ['-n', '-c', configFile], {
      env: { ...process.env, ...env, DROVER_TEST_MARK: this.mark },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    for (const s of [this.child.stdout, this.child.stderr]) s?.setEncoding('utf8').on('data', (d: string) => (this.text += d));
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get output(): string {
    return this.text;
  }

  /** Resolves with the exit once supervisord has ended, within `timeoutMs`. */
  waitForExit(timeoutMs = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return new Promise((resolve, reject) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        resolve({ code: this.child.exitCode, signal: this.child.signalCode });
        return;
      }
      const timer = setTimeout(() => reject(new Error(`supervisord did not exit within ${timeoutMs * TIMEOUT_SCALE} ms\n${this.text}`)), timeoutMs * TIMEOUT_SCALE);
      this.child.once('exit', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal });
      });
    });
  }

  /** SIGTERM, then SIGKILL to its group; kills its children still alive; returns those that had to be killed. */
  async teardown(): Promise<number[]> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      try {
        process.kill(this.pid, 'SIGTERM');
        await this.waitForExit(20_000);
      } catch {
        try {
          process.kill(-this.pid, 'SIGKILL');
        } catch {
          // ESRCH: already gone
        }
      }
    }
    const survivors = livePids(scanAll(), this.mark);
    for (const pid of survivors) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // ESRCH: ended meanwhile
      }
    }
    return survivors;
  }
}

/** Every pid on the machine (livePids keeps those carrying a test's mark). */
function scanAll(): number[] {
  return readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number);
}
