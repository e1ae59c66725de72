// The sink interface the supervisor attaches children's streams to (implemented by sink.ts).
import type { ProcessSpec } from '../config/types.js';
import type { OutputStream } from '../os/pipe-reader.js';
import type { StreamName } from './lines.js';

export type { StreamName } from './lines.js';

export interface OutputSink {
  /**
   * Attaches a child's stream ("group:name") and reads it to its end; a last partial line gets a newline.
   * Its chunks are valid only during the 'data' call (see OutputStream). `echo: false` keeps it off
   * drover's foreground output (a protocol channel, such as a listener's stdout).
   */
  attach(name: string, stream: StreamName, source: OutputStream, opts?: { readonly echo?: boolean }): void;
  /**
   * Why the log files of process `name` ("group:name") cannot be written (one that cannot be opened, tried
   * again now), or null when they can: the spawn fails then, as under supervisord.
   */
  unwritable(name: string): string | null;
  /** Closes and reopens every log file (SIGUSR1). */
  reopen(): void;
  /** Makes a process known to the sink (or updates its log settings) before its streams are attached. */
  register(spec: ProcessSpec): void;
  /** Forgets a process ("group:name") gone from the table: its files close once its pipes have ended. */
  forget(id: string): void;
}
