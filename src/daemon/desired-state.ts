// What an operator started or stopped by hand, kept in the runtime directory so that it survives
// `drover down` + `drover up` (supervisor forgets it). `drover up --fresh` ignores the file.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DesiredStateStore } from '../core/types.js';
import { replaceFile } from '../os/replace-file.js';

type Want = 'started' | 'stopped';

/**
 * Errors of a write to the runtime directory that say the disk or the directory is at fault (full, read-only,
 * removed, not writable), not drover: the wants stay in memory and the next change writes them all again.
 */
const IO_FAULTS = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EIO', 'ENOENT', 'ENOTDIR', 'EISDIR', 'EACCES', 'EPERM']);

export class FileDesiredState implements DesiredStateStore {
  /** key → what the operator asked for last; absent = follow autostart */
  private readonly wants = new Map<string, Want>();
  private readonly file: string;
  /** reports a save that failed (drover's log); a no-op when not given */
  private readonly onError: (message: string) => void;

  constructor(runtimeDir: string, opts: { fresh: boolean; onError?: (message: string) => void }) {
    this.file = join(runtimeDir, 'desired-state.json');
    this.onError = opts.onError ?? ((): void => undefined);
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
    try {
      // temp + rename: a crash mid-write leaves the old file, never a torn one
      replaceFile(this.file, JSON.stringify(Object.fromEntries(this.wants), null, 1) + '\n', 0o600);
    } catch (err) {
      // a full or read-only disk must not fail the stop or start that changed the wants (it used to be an
      // internal error that stopped every program); only remembering them across down and up is lost
      const code = (err as NodeJS.ErrnoException).code ?? '';
      if (!IO_FAULTS.has(code)) throw err;
      this.onError(`cannot save ${this.file} (${(err as Error).message}): what was started or stopped by hand is not remembered across down and up until a later start or stop saves it`);
    }
  }
}
