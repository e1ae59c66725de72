// A wall clock a test can step, for one process tree: libfaketime preloaded into drover, its offset read
// from a file on every call (FAKETIME_NO_CACHE), the monotonic clock left alone (DONT_FAKE_MONOTONIC) — what an
// NTP step or `date -s` does to a machine, without touching this machine's clock.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const LIBS = ['/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1', '/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1'];

export class SteppableClock {
  private readonly file: string;
  private readonly lib: string;

  constructor(dir: string) {
    const lib = LIBS.find((p) => existsSync(p));
    // installed by scripts/install-test-deps.sh (Debian's libfaketime); a missing one is a broken set-up, not a skip
    if (lib === undefined) throw new Error(`libfaketime is not installed (looked for ${LIBS.join(', ')}): apt-get install faketime`);
    this.lib = lib;
    this.file = join(dir, 'faketime.rc');
    writeFileSync(this.file, '+0\n');
  }

  /** The environment that puts a process (and what it spawns) on this clock. */
  env(): Record<string, string> {
    return { LD_PRELOAD: this.lib, FAKETIME_TIMESTAMP_FILE: this.file, FAKETIME_NO_CACHE: '1', DONT_FAKE_MONOTONIC: '1' };
  }

  /** Sets the wall clock `seconds` away from the real time (negative: back); 0 puts it right again. */
  set(seconds: number): void {
    writeFileSync(this.file, `${seconds >= 0 ? '+' : ''}${seconds}\n`);
  }
}
