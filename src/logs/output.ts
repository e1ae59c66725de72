// The sink interface the supervisor attaches children's streams to, and the plain foreground sink (each
// complete line prefixed with the process name). The file-writing sink is sink.ts.
import type { Readable, Writable } from 'node:stream';
import { LineSplitter, prefixLines, type StreamName } from './lines.js';

export type { StreamName } from './lines.js';

export interface OutputSink {
  /** Attaches a child's stream and reads it to its end; the last partial line is written with a newline. */
  attach(name: string, stream: StreamName, source: Readable): void;
  /** Closes and reopens every log file (SIGUSR1); a no-op for a sink without files. */
  reopen(): void;
  /** Makes a process created after start-up known to the sink before its streams are attached. */
  register?(spec: import('../config/types.js').ProcessSpec): void;
}

/** Writes `name | line` for stdout and `name ! line` for stderr. */
export function createPrefixSink(out: Writable): OutputSink {
  return {
    attach(name, stream, source) {
      const prefix = stream === 'stdout' ? `${name} | ` : `${name} ! `;
      const splitter = new LineSplitter();
      source.on('data', (chunk: Buffer | string) => {
        const lines = splitter.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
        if (lines) out.write(prefixLines(lines, prefix));
      });
      source.on('end', () => {
        const rest = splitter.flush();
        if (rest) out.write(prefixLines(rest, prefix));
      });
    },
    reopen() {
      // no files
    },
  };
}
