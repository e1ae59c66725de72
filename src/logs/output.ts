// Children's output in the foreground: each complete line, prefixed with the process name.
// Full log files, rotation and reopening are the logs issue; this keeps every byte and splits only at
// newlines, holding a partial line until its end arrives or the stream closes.
import type { Readable, Writable } from 'node:stream';

export type StreamName = 'stdout' | 'stderr';

export interface OutputSink {
  /** Attaches a child's stream; returns when the stream has ended and its last partial line is written. */
  attach(name: string, stream: StreamName, source: Readable): void;
}

/** Writes `name | line` for stdout and `name ! line` for stderr. */
export function createPrefixSink(out: Writable): OutputSink {
  return {
    attach(name, stream, source) {
      const prefix = stream === 'stdout' ? `${name} | ` : `${name} ! `;
      let partial = '';
      source.setEncoding('utf8');
      source.on('data', (chunk: string) => {
        const text = partial + chunk;
        const lines = text.split('\n');
        partial = lines.pop() ?? '';
        if (lines.length > 0) out.write(lines.map((l) => prefix + l + '\n').join(''));
      });
      source.on('end', () => {
        if (partial !== '') out.write(prefix + partial + '\n');
        partial = '';
      });
    },
  };
}
