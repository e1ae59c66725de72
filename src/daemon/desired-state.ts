// What an operator started or stopped by hand, kept in the runtime directory so that it survives
// `drover down` + `drover up` (supervisor forgets it). `drover up --fresh` ignores the file.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DesiredStateStore } from '../core/types.js';
import { replaceFile } from '../os/replace-file.js';

type Want = 'started' | 'stopped';

export class FileDesiredState implements DesiredStateStore {
  /** key → what the operator asked for last; absent = follow autostart */
  private readonly wants = new Map<string, Want>();
  private readonly file: string;

  constructor(runtimeDir: string, opts: { fresh: boolean }) {
    this.file = join(runtimeDir, 'desired-state.json');
    if (opts.fresh) {
      this.save();
      return;
    }
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      // ENOENT: first run in this runtime directory
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      // a torn or hand-edited file: starting from the config's autostart is the safe reading
      return;
    }
    if (data && typeof data === 'object') {
      for (const [k, v] of Object.entries(data as Record<string, unknown>)) {
        if (v === 'started' || v === 'stopped') this.wants.set(k, v);
      }
    }
  }

  get(key: string): Want | null {
    return this.wants.get(key) ?? null;
  }

  set(key: string, want: Want | null): void {
    if ((this.wants.get(key) ?? null) === want) return;
    if (want === null) this.wants.delete(key);
    else this.wants.set(key, want);
    this.save();
  }

  // --- internal ---

  private save(): void {
    // temp + rename: a crash mid-write leaves the old file, never a torn one
    replaceFile(this.file, JSON.stringify(Object.fromEntries(this.wants), null, 1) + '\n', 0o600);
  }
}
