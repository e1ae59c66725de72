// `[supervisord] strip_ansi = true`: ANSI escape sequences are taken out of programs' output before it is
// logged or raised as an event (PROCESS_LOG, PROCESS_COMMUNICATION), as supervisord does. A sequence is
// what supervisord removes: ESC [ and everything up to and including the first of the final letters below
// (colours, cursor moves, erasures). A lone ESC not followed by [ stays. Unlike supervisord, which strips
// each read on its own, a sequence split across two reads is removed too.
import { EventEmitter } from 'node:events';
import type { OutputStream } from '../os/pipe-reader.js';

const ESC = 0x1b;
const BRACKET = 0x5b;
/** the bytes that end a sequence */
const FINAL = new Set([...'HfABCDRsuJKhlpm'].map((c) => c.charCodeAt(0)));
const ESC_ONLY = Buffer.from([ESC]);

/** Strips sequences from successive chunks of one stream, across chunk boundaries. */
export class AnsiStripper {
  /** 'text'; 'esc': the last chunk ended with an ESC (held back); 'seq': inside a sequence */
  private state: 'text' | 'esc' | 'seq' = 'text';

  /** `chunk` without its sequences: the chunk itself when it holds none, else a new buffer. */
  strip(chunk: Buffer): Buffer {
    if (this.state === 'text' && chunk.indexOf(ESC) < 0) return chunk;
    const out = Buffer.allocUnsafe(chunk.length + 1);
    let n = 0;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i] as number;
      if (this.state === 'seq') {
        if (FINAL.has(b)) this.state = 'text';
        continue;
      }
      if (this.state === 'esc') {
        if (b === BRACKET) {
          this.state = 'seq';
          continue;
        }
        out[n++] = ESC; // a lone ESC stays
        this.state = 'text';
      }
      if (b === ESC) {
        if (chunk[i + 1] === BRACKET) {
          this.state = 'seq';
          i++;
        } else if (i === chunk.length - 1) this.state = 'esc';
        else out[n++] = b;
        continue;
      }
      out[n++] = b;
    }
    return out.subarray(0, n);
  }

  /** What is still held at the end of the stream: an ESC that no [ followed. */
  flush(): Buffer {
    const held = this.state === 'esc';
    this.state = 'text';
    return held ? ESC_ONLY : Buffer.alloc(0);
  }
}

/** `source` with its sequences stripped; pause, resume and destroy act on `source`. */
export function stripAnsiStream(source: OutputStream): OutputStream {
  const stripper = new AnsiStripper();
  const out = new (class extends EventEmitter implements OutputStream {
    pause(): this {
      source.pause();
      return this;
    }
    resume(): this {
      source.resume();
      return this;
    }
    destroy(): this {
      source.destroy();
      return this;
    }
  })();
  source.on('data', (chunk) => {
    const data = stripper.strip(chunk);
    if (data.length > 0) out.emit('data', data);
  });
  let ended = false;
  source.on('end', () => {
    ended = true;
    const rest = stripper.flush();
    if (rest.length > 0) out.emit('data', rest);
    out.emit('end');
  });
  source.on('close', () => {
    if (!ended) {
      const rest = stripper.flush();
      if (rest.length > 0) out.emit('data', rest);
    }
    out.emit('close');
  });
  source.on('error', (err) => out.emit('error', err));
  return out;
}
