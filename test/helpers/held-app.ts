// A worker app whose load can be held: while the `hold` file exists, loading it blocks reading a FIFO until
// the test releases it. A reload (or re-exec) whose new workers load it then lasts exactly as long as the
// test needs, without a timed load.
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface HeldApp {
  /** the app module, for `worker =` */
  readonly app: string;
  /** while this file exists, a load blocks */
  readonly hold: string;
  /** the FIFO a held load reads */
  readonly fifo: string;
}

/** Writes the app into `dir`; nothing is held until `holdLoads`. */
export function heldApp(dir: string): HeldApp {
  const app = join(dir, 'held-app.mjs');
  const hold = join(dir, 'hold');
  const fifo = join(dir, 'fifo');
  writeFileSync(
    app,
    `import { existsSync, readFileSync } from 'node:fs';\nif (existsSync(${JSON.stringify(hold)})) readFileSync(${JSON.stringify(fifo)});\nexport default (req, res) => res.end('ok');\n`,
  );
  return { app, hold, fifo };
}

/** From now on, each load of the app blocks until `releaseLoads`. */
export function holdLoads(h: HeldApp): void {
  if (!existsSync(h.fifo) && spawnSync('mkfifo', [h.fifo]).status !== 0) throw new Error(`mkfifo ${h.fifo} failed`);
  writeFileSync(h.hold, '');
}

/**
 * Loads no longer block, and those blocked now go on. The FIFO is opened read-write by a shell, so the
 * write never waits for a reader (none may be left: a held worker stopped meanwhile).
 */
export function releaseLoads(h: HeldApp): void {
  rmSync(h.hold, { force: true });
  if (existsSync(h.fifo)) spawnSync('sh', ['-c', 'exec 3<>"$1"; echo go >&3', 'sh', h.fifo]);
}
