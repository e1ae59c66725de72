// How the master opens its shared backend with a journal, and holds shared requests back while the journal
// belongs to another master (USR2: the old master appends until it exits; docs/shared.md "Durability").
import { JournalFile, type JournalOptions } from './journal.js';
import type { MemoryBackend } from './memory-backend.js';

/**
 * Replays the journal `file` into `backend` (which has served no request yet), compacts the file and
 * records every later change in it (`opts.fsyncEachBatch`: `journal_fsync`). Throws JournalCorruptError.
 */
export function attachJournal(backend: MemoryBackend, file: string, warn: (m: string) => void, opts: JournalOptions = {}): void {
  const { journal, image } = JournalFile.load(file, warn, opts);
  backend.restore(image);
  backend.attachJournal(journal);
  // compacts at once: a torn tail goes, and the file starts from the live state
  try {
    journal.start(() => backend.snapshotRecords());
  } catch (err) {
    // the file is as it was: nothing is lost by not starting
    throw new Error(`journal ${file}: cannot be opened for writing (${(err as Error).message}); the journal is unchanged`, { cause: err });
  }
}

/**
 * Holds shared requests until `open`, then runs them in arrival order. Worker requests and exits go through
 * `run`; the JSON API's routes wait on `whenOpen` (src/control/primitives-routes.ts).
 */
export class SharedGate {
  /** held work, in arrival order; null once open */
  private held: (() => void)[] | null = [];
  private opened: Promise<void>;
  private resolveOpened: () => void = () => {};

  constructor() {
    this.opened = new Promise((resolve) => (this.resolveOpened = resolve));
  }

  get isOpen(): boolean {
    return this.held === null;
  }

  /** Runs `fn` now when open, else when opened. */
  run(fn: () => void): void {
    if (this.held === null) fn();
    else this.held.push(fn);
  }

  open(): void {
    const held = this.held ?? [];
    this.held = null;
    for (const fn of held) fn();
    this.resolveOpened();
  }

  /** Resolves once open. */
  whenOpen(): Promise<void> {
    return this.opened;
  }
}
